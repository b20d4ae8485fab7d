// metrics_bench: metrics::Metrics fed N autoscalers (each on its own group,
// one topic, every figure known) as the reconciler reports them. Prints the
// heap they hold (malloc's bytes in use over those before, as
// target_cache_bench measures) and the peak of the heap allocated through
// operator new, over what was in use before, during one Scrape() and during
// one GET /metrics, plain and gzipped (read on a plain socket into a fixed
// buffer, so the client side allocates nothing).
//
//   bench/run-metrics-bench [N]     # default 10,000

#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include "common/fd.h"
#include "metrics/metrics.h"

namespace gs = groupscaler;
using Steady = std::chrono::steady_clock;

namespace {

// Bytes allocated through operator new and not yet freed, and their peak.
std::atomic<size_t> allocated{0};
std::atomic<size_t> peak{0};

void* Allocate(size_t size) {
  void* p = std::malloc(size == 0 ? 1 : size);
  if (p == nullptr) throw std::bad_alloc();
  const size_t now = allocated += malloc_usable_size(p);
  size_t seen = peak.load();
  while (now > seen && !peak.compare_exchange_weak(seen, now)) {
  }
  return p;
}

void Free(void* p) {
  if (p == nullptr) return;
  allocated -= malloc_usable_size(p);
  std::free(p);
}

}  // namespace

void* operator new(size_t size) { return Allocate(size); }
void* operator new[](size_t size) { return Allocate(size); }
void operator delete(void* p) noexcept { Free(p); }
void operator delete[](void* p) noexcept { Free(p); }
void operator delete(void* p, size_t) noexcept { Free(p); }
void operator delete[](void* p, size_t) noexcept { Free(p); }

namespace {

gs::controller::AutoscalerSample Sample(int i) {
  const std::string name = "consumer-" + std::to_string(i);
  return {
      .namespace_name = "ns-" + std::to_string(i % 100),
      .name = name,
      .spec_valid = true,
      .group = name,
      .kafka_reachable = true,
      .observed_at = gs::Timestamp{std::chrono::seconds(1'800'000'000 + i)},
      .figures = {.partitions = 12,
                  .ceiling = 12,
                  .current_replicas = 3,
                  .desired_replicas = 4,
                  .members = 3,
                  .total_lag = 1000 + i,
                  .max_time_lag_seconds = 2.5,
                  .rebalances_caused = 2},
      .topics = {{.topic = "orders", .lag = 1000 + i, .produce_rate = 40.5, .consume_rate = 38.25}},
      .at_ceiling = false,
      .idle_members = false,
      .stalled_partitions = 0,
      .scaled = 1};
}

size_t HeapInUse() {
  malloc_trim(0);
  return mallinfo2().uordblks;
}

// Starts a peak measurement: the peak from here on, over what is in use now.
size_t ResetPeak() {
  const size_t now = allocated.load();
  peak = now;
  return now;
}

// GET /metrics from 127.0.0.1:`port`, gzipped or not, read into a fixed
// buffer; the bytes read, headers included (0: no answer).
size_t GetMetrics(int port, bool gzip) {
  const gs::Fd fd(::socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return 0;
  const std::string request = std::string("GET /metrics HTTP/1.1\r\nHost: x\r\n") +
                              (gzip ? "Accept-Encoding: gzip\r\n" : "") +
                              "Connection: close\r\n\r\n";
  if (::send(fd.get(), request.data(), request.size(), 0) < 0) return 0;
  static char buffer[1 << 16];
  size_t total = 0;
  for (ssize_t n; (n = ::recv(fd.get(), buffer, sizeof buffer, 0)) > 0;) total += n;
  return total;
}

double MiB(size_t bytes) { return bytes / 1048576.0; }

}  // namespace

int main(int argc, char** argv) {
  const int n = argc > 1 ? std::atoi(argv[1]) : 10000;
  if (n < 1) {
    std::fprintf(stderr, "usage: metrics_bench [N]\n");
    return 2;
  }
  const size_t before = HeapInUse();
  auto metrics = std::make_unique<gs::metrics::Metrics>();
  for (int i = 0; i < n; ++i) metrics->RecordAutoscaler(Sample(i));
  const size_t held = HeapInUse() - before;
  std::printf("autoscalers: %d, 1 topic each, every figure known\n", n);
  std::printf("heap held by Metrics: %.1f MiB (%.0f bytes per autoscaler)\n", MiB(held),
              static_cast<double>(held) / n);

  size_t base = ResetPeak();
  auto start = Steady::now();
  const size_t text_bytes = metrics->Scrape().size();
  double ms = std::chrono::duration<double, std::milli>(Steady::now() - start).count();
  std::printf("Scrape(): %.1f MB of text in %.0f ms; peak heap over before: %.1f MiB\n",
              text_bytes / 1e6, ms, MiB(peak - base));

  if (gs::Status s = metrics->Serve("127.0.0.1:0"); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  size_t http_bytes = 0;
  for (const bool gzip : {false, true}) {
    base = ResetPeak();
    start = Steady::now();
    const size_t bytes = GetMetrics(metrics->port(), gzip);
    ms = std::chrono::duration<double, std::milli>(Steady::now() - start).count();
    std::printf("GET /metrics%s: %.1f MB in %.0f ms; peak heap over before: %.1f MiB\n",
                gzip ? " (gzip)" : "", bytes / 1e6, ms, MiB(peak - base));
    if (!gzip) http_bytes = bytes;
  }
  return http_bytes >= text_bytes ? 0 : 1;
}
