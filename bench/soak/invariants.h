#pragma once

// The soak's invariants, each a counter that must end at zero, and the pure
// checks that feed them (no I/O: the soak passes in what it saw). Times are
// seconds since the soak started.

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace groupscaler::soak {

// Named counters with the first occurrence of each, for the report.
class Counters {
 public:
  // Declares `name` at 0, so that the report lists it even if it never moves.
  void Declare(const std::string& name);
  void Add(const std::string& name, const std::string& detail, int64_t n = 1);
  int64_t Total() const;
  // "name  count  first: detail" lines, in name order.
  std::string Report() const;

 private:
  struct Entry {
    int64_t count = 0;
    std::string first;
  };
  std::map<std::string, Entry> entries_;
};

// A write by a controller while another held the Lease.
struct ForeignWrite {
  std::string user;     // who wrote
  std::string holder;   // who held the Lease then
  std::string request;  // "patch deployments/scale soak/app-1 at 2026-..."
  double received = 0;  // when the server received it, seconds since the epoch
};

// A controller the soak stopped (SIGSTOP) while it held the Lease, and when
// it let it continue (SIGCONT), seconds since the epoch.
struct Pause {
  std::string user;
  double continued = 0;
};

// Whether `write` is one the writer had sent before it was stopped, which
// reached the server only once it continued (within `window` seconds): no
// lease-based election can stop those, as the server has no fencing token
// to check (client-go's leaderelection/doc.go says the same). A write the
// controller makes after it continued is refused by its own LeaderFence.
bool DeliveredAfterPause(const ForeignWrite& write, const std::vector<Pause>& pauses,
                         double window);

// From the API server's audit records (stage ResponseComplete): every
// mutating request of one of `writers` on anything but the Lease `lease`,
// received while the Lease's last successful create or update (its term)
// was another's. A request received before a takeover belongs to the old
// term, even if answered after it.
std::vector<ForeignWrite> WritesOutsideTheirTerm(const std::vector<nlohmann::json>& records,
                                                 const std::set<std::string>& writers,
                                                 const std::string& lease);

// Each autoscaler's groupscaler_last_observation_timestamp_seconds in a
// scrape of /metrics, by its name label.
std::map<std::string, double> LastObservations(const std::string& metrics);

// Occurrences of any of `secrets` in `text`.
int64_t CountSecrets(std::string_view text, const std::vector<std::string>& secrets);

// What the soak knew about one target when it sampled its replicas.
struct TargetContext {
  int bound = 0;  // min(maxReplicas, partitions) of its autoscaler
  // Since when the autoscaler's lag cannot be read whole (its Kafka down,
  // or a broker holding partitions of an unreplicated topic), was paused,
  // was deleted; nullopt when it is not.
  std::optional<double> blind_since;
  std::optional<double> paused_since;
  std::optional<double> deleted_since;
};

// Follows each target's replicas sample by sample and counts what no
// controller may do: raise them above the bound, lower them while the lag
// was unknown or partial, change them while paused or after the autoscaler
// was deleted. `grace` covers a decision taken just before the state
// changed and written just after (a reconcile is milliseconds; the soak
// samples every second).
class ReplicaWatch {
 public:
  ReplicaWatch(Counters* counters, double grace_seconds);
  void Observe(const std::string& target, double t, int replicas, const TargetContext& context);
  // The soak itself changed the target (deleted, created): the next sample
  // starts afresh.
  void Forget(const std::string& target);

 private:
  struct Sample {
    double t = 0;
    int replicas = 0;
  };
  bool Since(const std::optional<double>& since, double before) const;

  Counters* const counters_;
  const double grace_;
  std::map<std::string, Sample> last_;
};

}  // namespace groupscaler::soak
