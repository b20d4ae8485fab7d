// soak: groupscaler under chaos on a real control plane and a real Kafka,
// with invariant counters that must all end at zero (bench/run-soak).
//
//   soak [--minutes M] [--seed N] [--live-groups N] [--static-groups N]
//        [--rss-growth-bound-mib B] [--short] [--keep] [--api real|test-server]
//
// Prints the seed and the fault schedule first (the same seed replays the
// same schedule), each fault as it runs, then the counters and figures.
// Exit status: 0 when every counter is zero, 1 otherwise, 2 on bad flags,
// 3 when the test bed cannot start.

#include <signal.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <regex>
#include <thread>

#include <fmt/format.h>

#include "soak/fault_schedule.h"
#include "soak/invariants.h"
#include "soak/world.h"
#include "support/subprocess.h"

namespace groupscaler::soak {
namespace {

using nlohmann::json;
using std::chrono::seconds;

struct Options {
  double minutes = 30;
  uint64_t seed = 0;
  int live_groups = 4;
  int static_groups = 20;
  double rss_growth_bound_mib = 48;
  bool short_run = false;
  bool keep = false;
  std::string api = "real";  // or "test-server"
};

// How long each fault lasts; shorter in the short run (CI).
struct Durations {
  seconds broker_down{20};
  seconds cluster_down{30};
  seconds api_down{10};
  seconds leader_paused{25};  // past the Lease's 15 s
  seconds cr_paused{30};
  seconds target_gone{10};
};

// A reconcile the controller's histogram puts above its top bucket (10 s);
// an autoscaler not observed within this before the end.
constexpr double kStuckBoundSeconds = 60;

void Sleep(seconds s) { std::this_thread::sleep_for(s); }

class Executor {
 public:
  Executor(World& world, Counters& counters, Durations durations, uint64_t seed)
      : world_(world), counters_(counters), durations_(durations), random_(seed) {}

  void Run(const Fault& fault) {
    std::cout << fmt::format("[{:7.1f}s] {}", Elapsed(), Describe(fault)) << std::endl;
    Status s = Inject(fault);
    if (!s.ok()) {
      counters_.Add("fault could not be injected", Describe(fault) + ": " + s.ToString());
    }
    std::cout << fmt::format("[{:7.1f}s]   done{}", Elapsed(), s.ok() ? "" : ": " + s.ToString())
              << std::endl;
  }

 private:
  Status Inject(const Fault& f) {
    switch (f.kind) {
      case FaultKind::kBrokerRestart:
        return BrokerRestart(static_cast<int>(f.subject % 3));
      case FaultKind::kClusterDown:
        return ClusterDown();
      case FaultKind::kLeaderMove:
        return LeaderMove(f.subject);
      case FaultKind::kPartitionsAdded:
        return PartitionsAdded(f.subject);
      case FaultKind::kApiServerRestart:
        return Said(world_.kube().ApiFault(durations_.api_down));
      case FaultKind::kEtcdCompaction:
        return Said(world_.kube().HistoryFault());
      case FaultKind::kLeaderKill:
        return LeaderKill();
      case FaultKind::kLeaderPause:
        return LeaderPause();
      case FaultKind::kCrCreate:
        return CrCreate();
      case FaultKind::kCrEdit:
        return CrEdit(f.subject);
      case FaultKind::kCrInvalidEdit:
        return CrInvalidEdit(f.subject);
      case FaultKind::kCrPause:
        return CrPause(f.subject);
      case FaultKind::kCrDelete:
        return CrDelete(f.subject);
      case FaultKind::kTargetRecreate:
        return TargetRecreate(f.subject);
      case FaultKind::kConsumerKill:
        world_.KillConsumer(f.subject);
        return Status::Ok();
    }
    return InternalError("unknown fault");
  }

  Status BrokerRestart(int id) {
    world_.SetBrokerDown(id, true);
    world_.kafka().Stop(id);
    Sleep(durations_.broker_down);
    Status s = world_.kafka().Restart(id);
    world_.SetBrokerDown(id, false);
    return s;
  }

  Status ClusterDown() {
    world_.SetClusterDown(true);
    for (int id = 0; id < 3; ++id) world_.kafka().Stop(id);
    Sleep(durations_.cluster_down);
    Status s = world_.kafka().Restart({0, 1, 2});
    world_.SetClusterDown(false);
    return s;
  }

  // One partition of a live topic gets its replicas rotated, then a
  // preferred election makes the new first replica its leader.
  Status LeaderMove(uint32_t subject) {
    const std::string topic = fmt::format("live-{}", subject % world_.live_groups());
    const int partition = static_cast<int>(subject / 7 % 6);
    testing::RunResult d =
        world_.kafka().RunTool(testing::kTopicCommand, {"--describe", "--topic", topic});
    static const std::regex kRow(R"(Partition: (\d+)\s+Leader: (-?\d+)\s+Replicas: ([\d,]+))");
    std::string replicas;
    for (std::sregex_iterator it(d.out.begin(), d.out.end(), kRow), end; it != end; ++it) {
      if (std::stoi((*it)[1]) == partition) replicas = (*it)[3];
    }
    if (replicas.empty()) return InternalError("no replicas of " + topic + " in: " + d.out + d.err);
    const std::string rotated =
        replicas.substr(replicas.find(',') + 1) + "," + replicas.substr(0, replicas.find(','));
    const auto file = world_.kafka().dir() / "reassign.json";
    std::ofstream(file) << fmt::format(
        R"({{"version":1,"partitions":[{{"topic":"{}","partition":{},"replicas":[{}]}}]}})", topic,
        partition, rotated);
    testing::RunResult r =
        world_.kafka().RunTool("org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
                               {"--reassignment-json-file", file.string(), "--execute"});
    if (r.exit_code != 0) return InternalError("reassign: " + r.out + r.err);
    Sleep(seconds(2));
    r = world_.kafka().RunTool("org.apache.kafka.tools.LeaderElectionCommand",
                               {"--election-type", "PREFERRED", "--topic", topic, "--partition",
                                std::to_string(partition)});
    if (r.exit_code != 0) return InternalError("leader election: " + r.out + r.err);
    std::cout << fmt::format("            {}-{} replicas {} → {}", topic, partition, replicas,
                             rotated)
              << std::endl;
    return Status::Ok();
  }

  Status PartitionsAdded(uint32_t subject) {
    const std::vector<std::string>& topics = world_.static_topics();
    const std::string topic = topics.at(subject % topics.size());
    int now = 0;
    {
      std::lock_guard lock(world_.mu());
      for (const AutoscalerState& a : world_.autoscalers()) {
        if (a.topic == topic) now = std::max(now, a.partitions);
      }
    }
    testing::RunResult r = world_.kafka().RunTool(
        testing::kTopicCommand,
        {"--alter", "--topic", topic, "--partitions", std::to_string(now + 2)});
    if (r.exit_code != 0) return InternalError("kafka-topics --alter: " + r.out + r.err);
    std::lock_guard lock(world_.mu());
    for (AutoscalerState& a : world_.autoscalers()) {
      if (a.topic == topic) a.partitions = now + 2;
    }
    return Status::Ok();
  }

  // Prints what a fault did; its Status.
  static Status Said(const StatusOr<std::string>& what) {
    if (what.ok()) std::cout << "            " << *what << std::endl;
    return what.status();
  }

  // The Lease's holder, waiting up to a minute for one (after a takeover).
  StatusOr<size_t> Leader() {
    for (int i = 0; i < 60; ++i) {
      if (std::optional<size_t> slot = world_.LeaderSlot()) return *slot;
      Sleep(seconds(1));
    }
    return UnavailableError("no controller holds the Lease");
  }

  Status LeaderKill() {
    StatusOr<size_t> leader = Leader();
    if (!leader.ok()) return leader.status();
    Signal(*leader, SIGKILL);
    // The other takes over once the Lease expires; the killed one is
    // restarted by the monitor, as its pod would be.
    Sleep(seconds(5));
    return Leader().status();
  }

  // Stopped past its Lease: the other takes over; once continued, the old
  // leader must not write again (it exits, and is restarted).
  Status LeaderPause() {
    StatusOr<size_t> leader = Leader();
    if (!leader.ok()) return leader.status();
    Signal(*leader, SIGSTOP);
    Sleep(durations_.leader_paused);
    Signal(*leader, SIGCONT);
    world_.NoteContinued(*leader);
    return Leader().status();
  }

  void Signal(size_t slot, int signo) {
    std::lock_guard lock(world_.mu());
    ControllerSlot& s = world_.slot(slot);
    if (signo != SIGCONT) s.exit_expected = true;
    if (s.process != nullptr) s.process->Signal(signo);
  }

  Status CrCreate() {
    std::optional<size_t> deleted;
    {
      std::lock_guard lock(world_.mu());
      for (size_t i = 0; i < world_.autoscalers().size(); ++i) {
        if (!world_.autoscalers()[i].exists) deleted = i;
      }
    }
    if (deleted) return world_.ApplyAutoscaler(*deleted);
    StatusOr<size_t> added = world_.AddStaticAutoscaler();
    if (!added.ok()) return added.status();
    if (Status s = world_.ApplyDeployment(*added); !s.ok()) return s;
    return world_.ApplyAutoscaler(*added);
  }

  // An autoscaler that exists, not live when `static_only`.
  std::optional<size_t> Pick(uint32_t subject, bool static_only = false) {
    std::lock_guard lock(world_.mu());
    std::vector<size_t> candidates;
    for (size_t i = 0; i < world_.autoscalers().size(); ++i) {
      const AutoscalerState& a = world_.autoscalers()[i];
      if (a.exists && !(static_only && a.live)) candidates.push_back(i);
    }
    if (candidates.empty()) return std::nullopt;
    return candidates[subject % candidates.size()];
  }

  json SpecOf(size_t i) {
    std::lock_guard lock(world_.mu());
    return world_.autoscalers().at(i).spec;
  }

  Status CrEdit(uint32_t subject) {
    std::optional<size_t> i = Pick(subject);
    if (!i) return Status::Ok();
    json spec = SpecOf(*i);
    std::uniform_int_distribution<int> max(2, 12);
    spec["maxReplicas"] = max(random_);
    spec["lagThreshold"] = spec.value("lagThreshold", 600) == 600 ? 500 : 600;
    {
      std::lock_guard lock(world_.mu());
      world_.autoscalers().at(*i).spec = spec;
    }
    return world_.ApplyAutoscaler(*i);
  }

  // minReplicas above maxReplicas: a CEL rule from 1.25, accepted by this
  // 1.20 server, so the controller must refuse it: SpecValid False and an
  // InvalidSpec Event within a minute. Then mended.
  Status CrInvalidEdit(uint32_t subject) {
    std::optional<size_t> i = Pick(subject);
    if (!i) return Status::Ok();
    json spec = SpecOf(*i);
    spec["minReplicas"] = spec.value("maxReplicas", 2) + 1;
    const double since = Elapsed();
    if (Status s = world_.ApplyAutoscaler(*i, spec); !s.ok()) return s;
    std::string name;
    {
      std::lock_guard lock(world_.mu());
      name = world_.autoscalers().at(*i).name;
    }
    bool reported = testing::WaitFor([&] { return Reported(name); }, seconds(60));
    if (!reported) {
      counters_.Add("invalid spec not reported",
                    fmt::format("{} edited at t={:.1f}s", name, since));
    }
    return world_.ApplyAutoscaler(*i);
  }

  bool Reported(const std::string& name) {
    StatusOr<std::string> cga = world_.kube().Get(
        std::string("/apis/groupscaler.io/v1alpha1/namespaces/soak/consumergroupautoscalers/") +
        name);
    StatusOr<std::string> events = world_.kube().Get("/api/v1/namespaces/soak/events");
    if (!cga.ok() || !events.ok()) return false;
    bool invalid = false;
    const json object = json::parse(*cga, nullptr, false);
    for (const json& c : object.value("/status/conditions"_json_pointer, json::array())) {
      invalid |= c.value("type", "") == "SpecValid" && c.value("status", "") == "False";
    }
    bool event = false;
    for (const json& e : json::parse(*events, nullptr, false).value("items", json::array())) {
      event |= e.value("reason", "") == "InvalidSpec" &&
               e.value("/involvedObject/name"_json_pointer, std::string()) == name;
    }
    return invalid && event;
  }

  Status CrPause(uint32_t subject) {
    std::optional<size_t> i = Pick(subject);
    if (!i) return Status::Ok();
    json spec = SpecOf(*i);
    spec["paused"] = true;
    if (Status s = world_.ApplyAutoscaler(*i, spec); !s.ok()) return s;
    Sleep(durations_.cr_paused);
    return world_.ApplyAutoscaler(*i);
  }

  Status CrDelete(uint32_t subject) {
    std::optional<size_t> i = Pick(subject, /*static_only=*/true);
    return i ? world_.DeleteAutoscaler(*i) : Status::Ok();
  }

  Status TargetRecreate(uint32_t subject) {
    std::optional<size_t> i = Pick(subject);
    if (!i) return Status::Ok();
    if (Status s = world_.DeleteDeployment(*i); !s.ok()) return s;
    Sleep(durations_.target_gone);
    return world_.ApplyDeployment(*i);
  }

  World& world_;
  Counters& counters_;
  const Durations durations_;
  std::mt19937_64 random_;
};

int ParseFlags(int argc, char** argv, Options& o) {
  CLI::App app{"groupscaler's chaos soak on a real control plane and a real Kafka"};
  app.add_option("--minutes", o.minutes, "how long (default 30)")->check(CLI::Range(1.0, 1440.0));
  app.add_option("--seed", o.seed, "the fault schedule's seed (default: from the clock)");
  app.add_option("--live-groups", o.live_groups, "groups with consumers (default 4)")
      ->check(CLI::Range(1, 16));
  app.add_option("--static-groups", o.static_groups, "groups with a fixed backlog (default 20)")
      ->check(CLI::Range(1, 200));
  app.add_option("--rss-growth-bound-mib", o.rss_growth_bound_mib,
                 "largest growth of a controller's RSS from its first sample to its peak "
                 "(default 48)");
  app.add_flag("--short", o.short_run, "CI's run: 2 live and 6 static groups, short faults");
  app.add_flag("--keep", o.keep, "keep the run's directory (kept anyway when a counter moved)");
  app.add_option("--api", o.api,
                 "real: the real control plane (default); test-server: the project's test API "
                 "server, whose API faults are 429 and 500 bursts and latency")
      ->check(CLI::IsMember({"real", "test-server"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "soak: " << e.what() << "\n";
    return 2;
  }
  if (o.seed == 0) o.seed = std::random_device{}();
  if (o.short_run) {
    o.live_groups = 2;
    o.static_groups = 6;
  }
  return -1;
}

ScheduleShape ShapeFor(const Options& o) {
  if (o.short_run) {
    return {.duration_seconds = o.minutes * 60,
            .warm_up_seconds = 30,
            .calm_seconds = 45,
            .min_gap_seconds = 1,
            .max_gap_seconds = 2,
            .max_faults = kFaultKinds};
  }
  return {.duration_seconds = o.minutes * 60};
}

Durations DurationsFor(const Options& o) {
  if (!o.short_run) return {};
  return {.broker_down = seconds(8),
          .cluster_down = seconds(12),
          .api_down = seconds(5),
          .leader_paused = seconds(20),
          .cr_paused = seconds(10),
          .target_gone = seconds(3)};
}

// Runs `schedule` while a monitor thread checks the invariants every second.
void RunSchedule(World& world, Counters& counters, const Options& o,
                 const std::vector<Fault>& schedule) {
  ReplicaWatch watch(&counters, /*grace_seconds=*/2);
  std::jthread monitor([&](std::stop_token stop) {
    for (int tick = 0; !stop.stop_requested(); ++tick) {
      world.Tick(watch);
      if (tick % 10 == 0) world.Sample();
      std::this_thread::sleep_for(seconds(1));
    }
  });
  Executor executor(world, counters, DurationsFor(o), o.seed);
  const double end = o.minutes * 60;
  const double calm = end - ShapeFor(o).calm_seconds;
  // The schedule's times count from when the test bed was up.
  const double started = Elapsed();
  size_t done = 0;
  for (; done < schedule.size() && Elapsed() < started + calm; ++done) {
    while (Elapsed() < started + schedule[done].at_seconds) Sleep(seconds(1));
    executor.Run(schedule[done]);
  }
  std::cout << fmt::format(
      "faults injected: {} of {} planned (faults run one after another; "
      "the rest did not fit before the calm end)\n",
      done, schedule.size());
  // At least the calm's length after the last fault, which may overrun.
  const double until = std::max(started + end, Elapsed() + ShapeFor(o).calm_seconds);
  std::cout << fmt::format("[{:7.1f}s] calm until t={:.0f}s", Elapsed(), until) << std::endl;
  while (Elapsed() < until) Sleep(seconds(1));
  world.Sample();
}

int Soak(const Options& o) {
  const auto dir =
      std::filesystem::temp_directory_path() / fmt::format("groupscaler-soak-{}", ::getpid());
  std::filesystem::create_directories(dir);
  const std::vector<Fault> schedule = MakeSchedule(o.seed, ShapeFor(o));
  std::cout << fmt::format(
      "soak: seed {}, {:.1f} minutes, {} live and {} static groups, API {}, {}\n", o.seed,
      o.minutes, o.live_groups, o.static_groups, o.api, dir.string());
  for (const Fault& f : schedule) std::cout << "  planned " << Describe(f) << "\n";
  Counters counters;
  World world(
      {.dir = dir, .live_groups = o.live_groups, .static_groups = o.static_groups, .seed = o.seed},
      o.api == "real" ? RealControlPlane() : TestApiServer(), &counters);
  if (Status s = world.Start(); !s.ok()) {
    std::cerr << "soak: the test bed did not start: " << s.ToString() << "\n";
    return 3;
  }
  std::cout << fmt::format("[{:7.1f}s] started", Elapsed()) << std::endl;
  RunSchedule(world, counters, o, schedule);
  world.Finish(seconds(o.short_run ? 20 : 60));
  world.FinalChecks(o.rss_growth_bound_mib, kStuckBoundSeconds);
  if (counters.Total() != 0) {
    std::cout << "the controllers' scalings and changes of leader:\n" << world.DecisionLog();
  }
  std::cout << "counters (each must be 0):\n"
            << counters.Report() << "figures:\n"
            << world.Figures()
            << fmt::format("soak: seed {}: {}\n", o.seed,
                           counters.Total() == 0 ? "passed" : "FAILED");
  if (counters.Total() == 0 && !o.keep) std::filesystem::remove_all(dir);
  return counters.Total() == 0 ? 0 : 1;
}

}  // namespace
}  // namespace groupscaler::soak

int main(int argc, char** argv) {
  groupscaler::soak::Options options;
  if (const int code = groupscaler::soak::ParseFlags(argc, argv, options); code >= 0) return code;
  return groupscaler::soak::Soak(options);
}
