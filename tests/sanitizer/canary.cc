// Defects on purpose, one per argument, so that the sanitized suite proves its
// own settings still catch ours: the suppressions (scripts/lsan.supp,
// scripts/tsan.supp) and ignore_noninstrumented_modules must hide only
// third-party reports. Built and run only in sanitized builds.

#include <librdkafka/rdkafka.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

namespace {

// A librdkafka object we were handed and never destroyed: allocated inside
// librdkafka, like the one leak we suppress, but not in rd_kafka_new. On a
// thread that has ended, so no stale copy of the pointer on a live stack
// hides it from LeakSanitizer.
int LeakLibrdkafkaObject() {
  std::thread([] {
    rd_kafka_topic_partition_list_t* list = rd_kafka_topic_partition_list_new(4);
    rd_kafka_topic_partition_list_add(list, "orders", 0);
  }).join();
  return 0;
}

int HeapOverflow(int n) {
  char* buffer = new char[8];
  std::memset(buffer, 0, 8 + n);
  const int first = buffer[0];
  delete[] buffer;
  return first;
}

int SignedOverflow(int n) { return INT_MAX - 1 + n; }

int DataRace() {
  long counter = 0;
  std::thread other([&] { ++counter; });
  ++counter;
  other.join();
  return static_cast<int>(counter);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string what = argc > 1 ? argv[1] : "";
  if (what == "leak") return LeakLibrdkafkaObject();
  if (what == "heap-overflow") return HeapOverflow(argc);
  if (what == "signed-overflow") return SignedOverflow(argc) == 0;
  if (what == "race") return DataRace() == 0;
  std::fprintf(stderr, "usage: sanitizer_canary leak|heap-overflow|signed-overflow|race\n");
  return 2;
}
