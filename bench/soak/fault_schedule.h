#pragma once

// The soak's fault schedule: which fault comes when, drawn from a seed, so
// that a run can be replayed (bench/run-soak --seed N). Pure: no I/O.
//
// Faults come one at a time (each runs to its end before the next starts,
// so that the invariants can tell what was going on), after a warm-up and
// before a calm end in which everything must settle. The kinds are dealt
// from shuffled decks: every kind comes once before any comes twice.

#include <cstdint>
#include <string>
#include <vector>

namespace groupscaler::soak {

enum class FaultKind {
  kBrokerRestart,     // one broker SIGKILLed, restarted after a while
  kClusterDown,       // every broker down for a while
  kLeaderMove,        // one partition's leader moved to another broker
  kPartitionsAdded,   // a topic gets more partitions
  kApiServerRestart,  // kube-apiserver killed and started again
  kEtcdCompaction,    // etcd's history compacted: old watches get 410
  kLeaderKill,        // the leading controller SIGKILLed (restarted as a pod would be)
  kLeaderPause,       // the leading controller SIGSTOPped past its lease, then SIGCONTed
  kCrCreate,          // an autoscaler created (or a deleted one created again)
  kCrEdit,            // a valid edit (maxReplicas, lagThreshold)
  kCrInvalidEdit,     // an edit the controller must refuse, then mended
  kCrPause,           // paused for a while, then resumed
  kCrDelete,          // an autoscaler deleted
  kTargetRecreate,    // a Deployment deleted and created again
  kConsumerKill,      // one consumer replica SIGKILLed
};

inline constexpr int kFaultKinds = 15;

struct Fault {
  double at_seconds = 0;  // since the start of the soak; a lower bound
  FaultKind kind = FaultKind::kBrokerRestart;
  // What it is applied to, drawn with it: a broker, an autoscaler, a
  // topic, as the kind needs (the executor takes it modulo its count).
  uint32_t subject = 0;
};

struct ScheduleShape {
  double duration_seconds = 0;
  double warm_up_seconds = 60;  // no fault before
  double calm_seconds = 60;     // no fault in the last ...
  double min_gap_seconds = 5;   // between two faults' planned starts
  double max_gap_seconds = 30;
  int max_faults = 0;  // 0: as many as fit
};

std::vector<Fault> MakeSchedule(uint64_t seed, const ScheduleShape& shape);

// "broker-restart", "cluster-down", ...
std::string FaultName(FaultKind kind);
// "t=73.2s cluster-down subject=5"
std::string Describe(const Fault& fault);

}  // namespace groupscaler::soak
