#include "sim/oracle.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <tuple>
#include <utility>

#include "policy/policy.h"

namespace groupscaler::sim {
namespace {

// One state of the plan: at a poll, `count` replicas running and settled,
// `backlog` messages (fluid) waiting, reached at `above` seconds above the
// target and `cost` replica-seconds.
struct Node {
  double backlog = 0;
  int64_t above = 0;
  int64_t cost = 0;
  int32_t count_index = 0;
  int32_t parent = -1;  // index into the arena; -1 for the start
};

bool Cheaper(const Node& a, const Node& b) {
  return std::tie(a.above, a.cost) < std::tie(b.above, b.cost);
}

class Planner {
 public:
  Planner(const Trace& trace, const ModelConfig& config, const policy::Spec& spec)
      : config_(config),
        duration_(RunLength(trace, config)),
        poll_(config.poll_interval_seconds),
        polls_((duration_ + poll_ - 1) / poll_) {
    const int32_t partitions = config.partitions;
    const int32_t ceiling = std::min(spec.max_replicas, partitions);
    const int32_t floor = std::min(spec.min_replicas, ceiling);
    const int32_t initial = config.initial_replicas.value_or(spec.min_replicas);
    for (int32_t n = floor; n <= ceiling; ++n) {
      if (n == floor || n == 1 ||
          policy::CeilDiv(partitions, n) < policy::CeilDiv(partitions, n - 1)) {
        counts_.push_back(n);
      }
    }
    if (std::find(counts_.begin(), counts_.end(), initial) == counts_.end()) {
      counts_.push_back(initial);
    }
    initial_index_ =
        static_cast<int32_t>(std::find(counts_.begin(), counts_.end(), initial) - counts_.begin());

    // Per second: what can be consumed of the production, and the window of
    // the last lag_seconds_target seconds of it.
    consumable_.assign(duration_, 0);
    open_partitions_.assign(duration_, partitions);
    size_t row = 0;
    int64_t rate = 0;
    bool poisoned = false;
    for (int64_t t = 0; t < duration_; ++t) {
      while (row < trace.rows.size() && trace.rows[row].time_seconds <= t) {
        rate = trace.rows[row].produce_rate;
        poisoned = trace.rows[row].poisoned_partition.has_value();
        ++row;
      }
      open_partitions_[t] = partitions - (poisoned ? 1 : 0);
      consumable_[t] = static_cast<double>(rate) * open_partitions_[t] / partitions;
    }
    // One second short of the target: the real model's integer shares and
    // rotating remainders age some messages a second more than the fluid.
    const int64_t target = std::max<int64_t>(1, config.lag_seconds_target - 1);
    window_.assign(duration_, 0);
    double sum = 0;
    for (int64_t t = 0; t < duration_; ++t) {
      sum += consumable_[t];
      if (t >= target) sum -= consumable_[t - target];
      window_[t] = sum;
    }
  }

  std::vector<int32_t> Plan() {
    // Per poll and count, the states reached there; only the pruned ones
    // are kept in the arena (they are the parents of what follows).
    std::vector<std::vector<std::vector<Node>>> fronts(
        polls_ + 1, std::vector<std::vector<Node>>(counts_.size()));
    fronts[0][initial_index_].push_back(Node{.count_index = initial_index_});
    for (int64_t k = 0; k < polls_; ++k) {
      for (size_t c = 0; c < counts_.size(); ++c) {
        for (const Node& node : Prune(std::move(fronts[k][c]))) {
          arena_.push_back(node);
          const int32_t parent = static_cast<int32_t>(arena_.size() - 1);
          for (size_t m = 0; m < counts_.size(); ++m) {
            const int64_t length = Length(counts_[c], counts_[m]);
            const int64_t landing = std::min(polls_, k + length / poll_);
            Node next = Step(node, counts_[c], counts_[m], k * poll_,
                             std::min(duration_, k * poll_ + length));
            next.count_index = static_cast<int32_t>(m);
            next.parent = parent;
            fronts[landing][m].push_back(next);
          }
        }
      }
    }
    const Node* best = nullptr;
    for (const auto& front : fronts[polls_]) {
      for (const Node& node : front) {
        if (best == nullptr || Cheaper(node, *best)) best = &node;
      }
    }
    // Walk back: each node's transition started at its parent's poll.
    std::vector<int32_t> path = {best->count_index};
    for (int32_t index = best->parent; index >= 0; index = arena_[index].parent) {
      path.push_back(arena_[index].count_index);
    }
    std::reverse(path.begin(), path.end());
    std::vector<int32_t> desired(polls_, counts_[initial_index_]);
    int64_t k = 0;
    for (size_t i = 1; i < path.size(); ++i) {
      const int32_t from = counts_[path[i - 1]];
      const int32_t to = counts_[path[i]];
      const int64_t end = std::min(polls_, k + Length(from, to) / poll_);
      for (int64_t j = k; j < end; ++j) desired[j] = to;
      k = end;
    }
    return desired;
  }

  // The planning work, in fluid-model transitions.
  double Work() const {
    const double counts = static_cast<double>(counts_.size());
    return static_cast<double>(polls_) * counts * counts * kOracleFrontSize;
  }

 private:
  // How long a change from `from` to `to` takes to settle, in whole polls.
  int64_t Length(int32_t from, int32_t to) const {
    int64_t busy = 0;
    if (to > from) busy = config_.startup_seconds + config_.rebalance_pause_seconds;
    if (to < from) busy = config_.rebalance_pause_seconds;
    return std::max<int64_t>(1, (busy + poll_ - 1) / poll_) * poll_;
  }

  double Capacity(int32_t replicas, int64_t t) const {
    if (replicas <= 0) return 0;
    return static_cast<double>(config_.replica_rate) * open_partitions_[t] /
           static_cast<double>(policy::CeilDiv(config_.partitions, replicas));
  }

  // The fluid model from `begin` to `end` while `from` becomes `to`.
  Node Step(Node node, int32_t from, int32_t to, int64_t begin, int64_t end) const {
    const int64_t pause = config_.rebalance_pause_seconds;
    const int64_t joined = begin + config_.startup_seconds;
    for (int64_t t = begin; t < end; ++t) {
      double capacity = Capacity(to, t);
      if (to > from) {
        if (t < joined) {
          capacity = Capacity(from, t);
        } else if (t < joined + pause) {
          capacity = 0;
        }
      } else if (to < from && t < begin + pause) {
        capacity = 0;
      }
      node.backlog += consumable_[t];
      node.backlog -= std::min(node.backlog, capacity);
      node.cost += to;
      // A relative margin: what the fluid model calls equal is not above.
      if (node.backlog > window_[t] * (1 + 1e-9) + 1e-6) ++node.above;
    }
    return node;
  }

  // The Pareto front of (backlog, above, cost), thinned evenly over backlog.
  static std::vector<Node> Prune(std::vector<Node> nodes) {
    std::sort(nodes.begin(), nodes.end(), [](const Node& x, const Node& y) {
      if (x.backlog != y.backlog) return x.backlog < y.backlog;
      return Cheaper(x, y);
    });
    std::vector<Node> front;
    for (const Node& node : nodes) {
      if (front.empty() || Cheaper(node, front.back())) front.push_back(node);
    }
    if (front.size() <= kOracleFrontSize) return front;
    std::vector<Node> thinned;
    for (size_t i = 0; i < kOracleFrontSize; ++i) {
      thinned.push_back(front[i * (front.size() - 1) / (kOracleFrontSize - 1)]);
    }
    return thinned;
  }

  const ModelConfig& config_;
  const int64_t duration_;
  const int64_t poll_;
  const int64_t polls_;
  std::vector<int32_t> counts_;
  int32_t initial_index_ = 0;
  std::vector<double> consumable_;
  std::vector<int32_t> open_partitions_;
  std::vector<double> window_;
  std::vector<Node> arena_;
};

}  // namespace

StatusOr<std::vector<int32_t>> PlanOracle(const Trace& trace, const ModelConfig& config,
                                          const policy::Spec& spec) {
  if (Status s = CheckModelInputs(trace, config, spec); !s.ok()) return s;
  Planner planner(trace, config, spec);
  if (planner.Work() > kOracleMaxWork) {
    return InvalidArgumentError(
        "the oracle cannot plan this run in reasonable time: fewer polls (a longer poll "
        "interval or a shorter run) or fewer partitions");
  }
  return planner.Plan();
}

StatusOr<Result> SimulateOracle(const Trace& trace, const ModelConfig& config,
                                const policy::Spec& spec) {
  StatusOr<std::vector<int32_t>> plan = PlanOracle(trace, config, spec);
  if (!plan.ok()) return plan.status();
  const int32_t ceiling = std::min(spec.max_replicas, config.partitions);
  const int64_t poll = config.poll_interval_seconds;
  DecideFunction decide = [&](const policy::Observation& observation, policy::History history,
                              const policy::Spec&, Timestamp now) {
    const int64_t t = std::chrono::duration_cast<std::chrono::seconds>(now - Timestamp{}).count();
    policy::Decision decision;
    decision.current = observation.current_replicas;
    decision.desired = (*plan)[std::min<size_t>(t / poll, plan->size() - 1)];
    decision.ceiling = ceiling;
    decision.reason = decision.desired > decision.current   ? policy::Reason::kScaleUp
                      : decision.desired < decision.current ? policy::Reason::kScaleDown
                                                            : policy::Reason::kSteady;
    decision.message = "oracle: the plan has " + std::to_string(decision.desired) + " here";
    decision.history = std::move(history);
    return decision;
  };
  return Simulate(trace, config, spec, decide);
}

}  // namespace groupscaler::sim
