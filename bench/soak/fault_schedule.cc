#include "soak/fault_schedule.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <random>

namespace groupscaler::soak {
namespace {

std::vector<FaultKind> ShuffledDeck(std::mt19937_64& random) {
  std::vector<FaultKind> deck;
  for (int k = 0; k < kFaultKinds; ++k) deck.push_back(static_cast<FaultKind>(k));
  std::shuffle(deck.begin(), deck.end(), random);
  return deck;
}

}  // namespace

std::vector<Fault> MakeSchedule(uint64_t seed, const ScheduleShape& shape) {
  std::mt19937_64 random(seed);
  std::uniform_real_distribution<double> gap(shape.min_gap_seconds, shape.max_gap_seconds);
  std::vector<Fault> faults;
  std::vector<FaultKind> deck;
  const double end = shape.duration_seconds - shape.calm_seconds;
  for (double t = shape.warm_up_seconds;
       t < end && (shape.max_faults == 0 || std::ssize(faults) < shape.max_faults);
       t += gap(random)) {
    if (deck.empty()) deck = ShuffledDeck(random);
    faults.push_back(
        {.at_seconds = t, .kind = deck.back(), .subject = static_cast<uint32_t>(random())});
    deck.pop_back();
  }
  return faults;
}

std::string FaultName(FaultKind kind) {
  static constexpr std::array<const char*, kFaultKinds> kNames = {
      "broker-restart",  "cluster-down", "leader-move",  "partitions-added", "apiserver-restart",
      "etcd-compaction", "leader-kill",  "leader-pause", "cr-create",        "cr-edit",
      "cr-invalid-edit", "cr-pause",     "cr-delete",    "target-recreate",  "consumer-kill"};
  return kNames.at(static_cast<size_t>(kind));
}

std::string Describe(const Fault& fault) {
  return fmt::format("t={:.1f}s {} subject={}", fault.at_seconds, FaultName(fault.kind),
                     fault.subject);
}

}  // namespace groupscaler::soak
