// Consumer groups and their members on one real Kafka broker, where
// librdkafka's mock cluster describes and lists no group: `groupscaler lag`
// (the real binary) shows who owns which partition exactly as Kafka's own
// kafka-consumer-groups --describe --members --verbose does, members
// without partitions included; groups named per instance are found through
// ListGroups and confirmed by their commits; a group on the consumer
// protocol (KIP-848, Kafka's Java client) has its lag read exactly and its
// members reported unknown with the reason; and a member killed with SIGKILL
// leaves the group after its session timeout, its partitions moving to the
// others, with no observation failing or reading low meanwhile.

#include <unistd.h>

#include <chrono>
#include <csignal>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/clock.h"
#include "controller/anti_pattern.h"
#include "kafka/rdkafka_lag_reader.h"
#include "kafka_real/clients.h"
#include "kafka_real/lag_cli.h"
#include "policy/policy.h"
#include "support/kafka_broker.h"
#include "support/mock_cluster.h"
#include "support/subprocess.h"

namespace groupscaler::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// One broker for the whole binary, PLAINTEXT only.
KafkaCluster* kafka = nullptr;

const auto* const kEnvironment = ::testing::AddGlobalTestEnvironment(
    new KafkaClusterEnvironment("kafka_groups", {.brokers = 1, .listeners = {}}, &kafka));

std::string Plaintext() { return kafka->bootstrap(KafkaListener::kPlaintext); }

// Joining and rebalancing take seconds of real time, more on a loaded
// machine (WaitFor stretches it further by TestTimeFactor()).
constexpr milliseconds kGroupForms{60'000};

// A member as the tool and `groupscaler lag` both describe it; the
// assignment as the tool writes it for one topic ("topic:0,3", "-" for
// none): each test here has one.
struct MemberRow {
  std::string client_id;
  std::string host;
  std::string assignment;
  friend bool operator==(const MemberRow&, const MemberRow&) = default;
};

void PrintTo(const MemberRow& m, std::ostream* os) {
  *os << "{" << m.client_id << " " << m.host << " " << m.assignment << "}";
}

// kafka-consumer-groups --describe --members --verbose of `group`: member
// id -> row.
std::map<std::string, MemberRow> ToolMembers(const std::string& group) {
  const RunResult r = kafka->RunTool(kConsumerGroupCommand,
                                     {"--describe", "--group", group, "--members", "--verbose"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::map<std::string, MemberRow> members;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string g, member_id, partitions, epoch;
    MemberRow row;
    if (!(fields >> g >> member_id >> row.host >> row.client_id >> partitions >> epoch >>
          row.assignment) ||
        g != group) {
      continue;  // the header, blank lines
    }
    members[member_id] = row;
  }
  return members;
}

// The members of a `groupscaler lag --output json` document: member id ->
// row, the assignment written as the tool writes it.
std::map<std::string, MemberRow> OurMembers(const json& lag) {
  std::map<std::string, MemberRow> members;
  if (!lag.contains("members") || !lag["members"].is_array()) return members;
  for (const json& m : lag["members"]) {
    std::set<int> partitions;
    std::string assignment;
    for (const json& tp : m["assignment"]) {
      assignment = tp["topic"].get<std::string>() + ":";
      partitions.insert(tp["partition"].get<int>());
    }
    for (int p : partitions) assignment += std::to_string(p) + ",";
    if (!assignment.empty()) assignment.pop_back();
    members[m["memberId"]] = {m["clientId"], m["host"], assignment.empty() ? "-" : assignment};
  }
  return members;
}

// The partitions the members of a `groupscaler lag --output json` document
// own, once per owner.
std::multiset<int> Owned(const json& lag) {
  std::multiset<int> owned;
  if (!lag.contains("members") || !lag["members"].is_array()) return owned;
  for (const json& m : lag["members"]) {
    for (const json& tp : m["assignment"]) owned.insert(tp["partition"].get<int>());
  }
  return owned;
}

std::multiset<int> Range(int n) {
  std::multiset<int> all;
  for (int p = 0; p < n; ++p) all.insert(p);
  return all;
}

// `groupscaler lag --output json` of `group` until the broker reports it
// Stable with `members` members that own each of `partitions` partitions
// exactly once; the last document.
json AwaitStableGroup(const std::string& group, const std::string& topic, size_t members,
                      int partitions) {
  json lag;
  const bool formed = WaitFor(
      [&] {
        lag = LagJsonOf(Plaintext(), group, {topic});
        return lag.value("groupState", json()) == "Stable" && lag["members"].is_array() &&
               lag["members"].size() == members && Owned(lag) == Range(partitions);
      },
      kGroupForms);
  EXPECT_TRUE(formed) << lag.dump(1);
  return lag;
}

std::vector<std::unique_ptr<Subprocess>> StartExampleConsumers(int n, const std::string& group,
                                                               const std::string& topic) {
  std::vector<std::unique_ptr<Subprocess>> consumers;
  for (int i = 0; i < n; ++i) {
    auto c = Subprocess::Spawn({EXAMPLE_CONSUMER_PATH, "--bootstrap-servers", Plaintext(),
                                "--group", group, "--topic", topic});
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    if (c.ok()) consumers.push_back(std::move(c).value());
  }
  return consumers;
}

// SIGTERM: each commits and leaves the group.
void Stop(std::vector<std::unique_ptr<Subprocess>>& consumers) {
  for (auto& c : consumers) c->Signal(SIGTERM);
  for (auto& c : consumers) EXPECT_EQ(c->Wait(milliseconds(20'000)), 0);
}

TEST(RealKafkaGroups, MembersAndTheirPartitionsEqualKafkasOwnTool) {
  const std::string topic = Unique("orders"), group = Unique("group");
  ASSERT_TRUE(kafka->CreateTopic(topic, 6, 1).ok());
  ASSERT_TRUE(ProduceCounts(Plaintext(), topic, {3, 3, 3, 3, 3, 3}).ok());
  auto consumers = StartExampleConsumers(3, group, topic);
  ASSERT_EQ(consumers.size(), 3u);

  const json lag = AwaitStableGroup(group, topic, 3, 6);
  const std::map<std::string, MemberRow> ours = OurMembers(lag);
  EXPECT_EQ(ours, ToolMembers(group));
  std::set<std::string> clients;
  for (const auto& [id, m] : ours) {
    clients.insert(m.client_id);
    EXPECT_THAT(m.client_id, HasSubstr("example-consumer-"));
    EXPECT_EQ(m.host, "/127.0.0.1");
    EXPECT_NE(m.assignment, "-");
  }
  EXPECT_EQ(clients.size(), 3u) << "one member per process";

  // The table lists each member with its partitions; mermaid draws an edge
  // from each partition to its owner.
  const RunResult table =
      Lag({"--bootstrap-servers", Plaintext(), "--group", group, "--topic", topic});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("Stable, 3 members"));
  const RunResult mermaid = Lag({"--bootstrap-servers", Plaintext(), "--group", group, "--topic",
                                 topic, "--output", "mermaid"});
  ASSERT_EQ(mermaid.exit_code, 0) << mermaid.err;
  for (const json& m : lag["members"]) {
    const std::string id = m["memberId"];
    const std::string partitions = ours.at(id).assignment.substr(topic.size() + 1);
    EXPECT_THAT(table.out, HasSubstr(id)) << table.out;
    EXPECT_THAT(table.out, HasSubstr(topic + ":" + partitions)) << table.out;
    const size_t node = mermaid.out.find(id);
    ASSERT_NE(node, std::string::npos) << mermaid.out;
    // "  mK[\"ID HOST\"]": the node's name is the line's first word.
    const size_t line = mermaid.out.rfind('\n', node) + 1;
    const std::string name = mermaid.out.substr(line + 2, mermaid.out.find('[', line) - line - 2);
    for (const json& tp : m["assignment"]) {
      EXPECT_THAT(mermaid.out,
                  HasSubstr("t0p" + std::to_string(tp["partition"].get<int>()) + " --> " + name))
          << mermaid.out;
    }
  }
  Stop(consumers);
}

TEST(RealKafkaGroups, MembersBeyondThePartitionsAreShownWithoutPartitions) {
  const std::string topic = Unique("narrow"), group = Unique("group");
  ASSERT_TRUE(kafka->CreateTopic(topic, 2, 1).ok());
  auto consumers = StartExampleConsumers(3, group, topic);
  ASSERT_EQ(consumers.size(), 3u);

  const json lag = AwaitStableGroup(group, topic, 3, 2);
  const std::map<std::string, MemberRow> ours = OurMembers(lag);
  EXPECT_EQ(ours, ToolMembers(group));
  int idle = 0;
  for (const auto& [id, m] : ours) idle += m.assignment == "-";
  EXPECT_EQ(idle, 1) << lag.dump(1);

  const RunResult table =
      Lag({"--bootstrap-servers", Plaintext(), "--group", group, "--topic", topic});
  EXPECT_THAT(table.out, HasSubstr("none")) << table.out;
  // The rules' decision for the 3 members, not a starting controller's hold.
  EXPECT_THAT(table.out, HasSubstr("at 3 replica(s): desired 1 (ScaleDown:")) << table.out;
  const RunResult mermaid = Lag({"--bootstrap-servers", Plaintext(), "--group", group, "--topic",
                                 topic, "--output", "mermaid"});
  EXPECT_THAT(mermaid.out, HasSubstr(": no partition")) << mermaid.out;

  // What the controller's IdleMembers warning is computed from: the
  // reader's member count, above the partitions even at one replica.
  auto reader = kafka::NewRdKafkaLagReader({.bootstrap_servers = {Plaintext()}});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  auto observed =
      (*reader)->Observe({{.group_id = group, .topics = {topic}}}, milliseconds(10'000));
  ASSERT_TRUE(observed.ok()) << observed.status().ToString();
  policy::Observation observation = observed->front().observation;
  EXPECT_EQ(observation.members, 3);
  observation.current_replicas = 1;
  const policy::Decision decision =
      policy::Decide(observation, {}, policy::Spec{.max_replicas = 10}, Timestamp{});
  EXPECT_TRUE(decision.flags.idle_members) << decision.message;
  Stop(consumers);
}

// The groups Kafka's own tool lists.
std::set<std::string> ToolGroups() {
  const RunResult r = kafka->RunTool(kConsumerGroupCommand, {"--list"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::set<std::string> groups;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) groups.insert(line);
  }
  return groups;
}

std::shared_ptr<kafka::LagReader> NewReader() {
  auto reader = kafka::NewRdKafkaLagReader({.bootstrap_servers = {Plaintext()}});
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  return reader.ok() ? std::shared_ptr<kafka::LagReader>(std::move(reader).value()) : nullptr;
}

// The controller's path (GroupListCache, then CheckGroupsPerInstance) with
// the real reader: the mock answers ListGroups "unsupported", so this is the
// first broker it meets.
TEST(RealKafkaGroups, GroupsNamedPerInstanceAreFoundThroughListGroups) {
  const std::string topic = Unique("payments"), other = Unique("other"), svc = Unique("svc");
  ASSERT_TRUE(kafka->CreateTopic(topic, 3, 1).ok());
  ASSERT_TRUE(kafka->CreateTopic(other, 1, 1).ok());
  ASSERT_TRUE(ProduceCounts(Plaintext(), {{topic, {4, 4, 4}}, {other, {2}}}).ok());
  // The shared group, two groups named per instance and another service's
  // group, each with a commit on the topic; a group named per instance that
  // commits on another topic only.
  for (const std::string& g : {svc, svc + "-0", svc + "-1", svc + "-audit"}) {
    ASSERT_TRUE(CommitOffsets(Plaintext(), g, {{topic, 0, 2}}).ok());
  }
  ASSERT_TRUE(CommitOffsets(Plaintext(), svc + "-3", {{other, 0, 1}}).ok());
  // And one with a live member, in its own process, that commits on
  // assignment.
  auto member = Subprocess::Spawn({KAFKA_GROUP_MEMBER_PATH, Plaintext(), svc + "-2", topic, "1=3"});
  ASSERT_TRUE(member.ok()) << member.status().ToString();
  const std::optional<std::string> assigned = (*member)->ReadLine(kGroupForms);
  ASSERT_EQ(assigned, "assigned 0,1,2");

  std::shared_ptr<kafka::LagReader> reader = NewReader();
  ASSERT_NE(reader, nullptr);
  RealClock clock;
  controller::GroupListCache lists(&clock, milliseconds(60'000));
  auto listing = lists.Get(reader, milliseconds(10'000));
  ASSERT_TRUE(listing.ok()) << listing.status().ToString();
  const std::vector<std::string>& listed = (*listing)->groups;
  std::set<std::string> ours, tools;
  for (const std::string& g : listed) {
    if (g.starts_with(svc)) ours.insert(g);
  }
  for (const std::string& g : ToolGroups()) {
    if (g.starts_with(svc)) tools.insert(g);
  }
  EXPECT_EQ(ours, (std::set<std::string>{svc, svc + "-0", svc + "-1", svc + "-2", svc + "-3",
                                         svc + "-audit"}));
  EXPECT_EQ(ours, tools);
  EXPECT_THAT(controller::GroupsNamedPerInstance(svc, listed),
              ElementsAre(svc + "-0", svc + "-1", svc + "-2", svc + "-3"));

  auto check = controller::CheckGroupsPerInstance(**listing, {.group_id = svc, .topics = {topic}},
                                                  *reader, milliseconds(10'000));
  ASSERT_TRUE(check.ok()) << check.status().ToString();
  EXPECT_THAT(check->groups, ElementsAre(svc + "-0", svc + "-1", svc + "-2"));
  EXPECT_THAT(controller::DescribeGroupsPerInstance(*check),
              HasSubstr("3 consumer groups named like " + svc));

  // Within the interval the cache answers without asking the broker.
  auto again = lists.Get(reader, milliseconds(10'000));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->get(), listing->get());
  (*member)->CloseStdin();
  EXPECT_EQ((*member)->Wait(milliseconds(20'000)), 0);
}

// KIP-848's consumer protocol, Kafka's Java client: librdkafka 2.0.2 knows
// only the classic DescribeGroups, whose answer for such a group is "Dead",
// no members. The lag is read exactly all the same.
TEST(RealKafkaGroups, AConsumerProtocolGroupsLagIsExactAndItsMembersUnknownWithTheReason) {
  const std::string topic = Unique("kip848"), group = Unique("group"), client = Unique("java");
  ASSERT_TRUE(kafka->CreateTopic(topic, 3, 1).ok());
  ASSERT_TRUE(ProduceCounts(Plaintext(), topic, {10, 6, 4}).ok());
  auto java = kafka->SpawnJava(GROUP_PROTOCOL_CONSUMER_JAVA,
                               {Plaintext(), group, topic, client, "20", "0=7", "1=6", "2=1"});
  ASSERT_TRUE(java.ok()) << java.status().ToString();
  ASSERT_EQ((*java)->ReadLine(kGroupForms), "committed");

  // Kafka knows the member and its partitions.
  const std::map<std::string, MemberRow> tool_members = ToolMembers(group);
  ASSERT_EQ(tool_members.size(), 1u);
  EXPECT_EQ(tool_members.begin()->second.client_id, client);
  EXPECT_EQ(tool_members.begin()->second.assignment, topic + ":0,1,2");

  const json lag = LagJsonOf(Plaintext(), group, {topic});
  EXPECT_EQ(lag["totalLag"], 3 + 0 + 3) << lag.dump(1);
  const auto partitions = ByPartition(lag);
  for (const auto& [key, row] : DescribeOffsets(*kafka, group)) {
    SCOPED_TRACE(key.first + "/" + std::to_string(key.second));
    ASSERT_TRUE(partitions.contains(key));
    EXPECT_EQ(row.committed, std::to_string(partitions.at(key)["committedOffset"].get<int64_t>()));
    EXPECT_EQ(row.log_end, std::to_string(partitions.at(key)["logEndOffset"].get<int64_t>()));
    EXPECT_EQ(row.lag, std::to_string(partitions.at(key)["lag"].get<int64_t>()));
  }
  EXPECT_EQ(lag["members"], nullptr);
  EXPECT_EQ(lag["groupState"], nullptr);
  EXPECT_THAT(lag.value("membersUnknown", ""), HasSubstr("group.protocol=consumer"));
  const RunResult table =
      Lag({"--bootstrap-servers", Plaintext(), "--group", group, "--topic", topic});
  EXPECT_THAT(table.out, HasSubstr("members unknown (no classic group")) << table.out;
  const RunResult mermaid = Lag({"--bootstrap-servers", Plaintext(), "--group", group, "--topic",
                                 topic, "--output", "mermaid"});
  EXPECT_THAT(mermaid.out, HasSubstr("members unknown: no classic group")) << mermaid.out;

  // The controller's reader: cycle after cycle, exact, never failed, the
  // members unknown rather than zero; and the group is listed.
  std::shared_ptr<kafka::LagReader> reader = NewReader();
  ASSERT_NE(reader, nullptr);
  for (int cycle = 0; cycle < 3; ++cycle) {
    auto observed = reader->Observe({{.group_id = group, .topics = {topic}}}, milliseconds(10'000));
    ASSERT_TRUE(observed.ok()) << observed.status().ToString();
    const kafka::GroupObservation& g = observed->front();
    EXPECT_FALSE(g.observation.failed) << g.observation.error;
    ASSERT_EQ(g.observation.partitions.size(), 3u);
    EXPECT_EQ(g.observation.partitions[0].committed_offset, 7);
    EXPECT_EQ(g.observation.partitions[2].committed_offset, 1);
    EXPECT_FALSE(g.member_list.has_value());
    EXPECT_FALSE(g.observation.members.has_value());
    EXPECT_THAT(g.members_unknown, HasSubstr("consumer protocol"));
  }
  auto listed = reader->ListGroups(milliseconds(10'000));
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  EXPECT_THAT(*listed, ::testing::Contains(group));

  (*java)->CloseStdin();
  EXPECT_EQ((*java)->Wait(milliseconds(30'000)), 0);
}

// The partitions `member` was last assigned, from its "assigned P,P" lines
// so far.
std::set<int> LastAssigned(Subprocess& member) {
  std::set<int> assigned;
  while (std::optional<std::string> line = member.ReadLine(milliseconds(200))) {
    if (!line->starts_with("assigned ")) continue;
    assigned.clear();
    std::stringstream in(line->substr(9));
    for (std::string p; std::getline(in, p, ',');) assigned.insert(std::stoi(p));
  }
  return assigned;
}

// kafka_group_member processes (eager range assignment, 6 s session
// timeout) commit fixed offsets, so the lag must read the same throughout
// the rebalance.
TEST(RealKafkaGroups, AKilledMembersPartitionsMoveAfterItsSessionTimeout) {
  const std::string topic = Unique("rebalance"), group = Unique("group");
  ASSERT_TRUE(kafka->CreateTopic(topic, 6, 1).ok());
  ASSERT_TRUE(ProduceCounts(Plaintext(), topic, {8, 8, 8, 8, 8, 8}).ok());
  const int64_t lag_truth = 7 + 6 + 5 + 4 + 3 + 2;
  std::vector<std::unique_ptr<Subprocess>> members;
  for (int i = 0; i < 3; ++i) {
    auto m = Subprocess::Spawn({KAFKA_GROUP_MEMBER_PATH, Plaintext(), group, topic, "0=1", "1=2",
                                "2=3", "3=4", "4=5", "5=6"});
    ASSERT_TRUE(m.ok()) << m.status().ToString();
    members.push_back(std::move(m).value());
  }
  AwaitStableGroup(group, topic, 3, 6);
  json lag;
  ASSERT_TRUE(WaitFor(
      [&] {
        lag = LagJsonOf(Plaintext(), group, {topic});
        return lag.value("totalLag", -1) == lag_truth && Owned(lag) == Range(6);
      },
      kGroupForms))
      << lag.dump(1);

  const std::set<int> victim_partitions = LastAssigned(*members[0]);
  std::string victim;
  for (const json& m : lag["members"]) {
    std::set<int> assignment;
    for (const json& tp : m["assignment"]) assignment.insert(tp["partition"].get<int>());
    if (assignment == victim_partitions) victim = m["memberId"];
  }
  ASSERT_FALSE(victim.empty()) << "no member owns what process 0 was assigned: " << lag.dump(1);

  members[0]->Signal(SIGKILL);
  const auto killed = SteadyClock::now();
  std::vector<std::string> states;
  int polls = 0;
  const bool moved = WaitFor(
      [&] {
        const RunResult r = Lag({"--bootstrap-servers", Plaintext(), "--group", group, "--topic",
                                 topic, "--output", "json"});
        ++polls;
        // Whatever the group is doing: an answer, never a failure, and never
        // a lower lag.
        EXPECT_EQ(r.exit_code, 0) << r.err;
        if (r.exit_code != 0) return false;
        lag = json::parse(r.out);
        EXPECT_EQ(lag["totalLag"], lag_truth) << lag.dump(1);
        const std::string state = lag.value("groupState", json("unknown")).get<std::string>() +
                                  "/" + std::to_string(lag["members"].size()) + " members";
        if (states.empty() || states.back() != state) states.push_back(state);
        return lag["groupState"] == "Stable" && lag["members"].size() == 2 &&
               !OurMembers(lag).contains(victim) && Owned(lag) == Range(6);
      },
      kGroupForms);
  const double seconds = SecondsSince(killed);
  std::cout << "partitions moved " << seconds << " s after the SIGKILL (" << polls
            << " polls); seen: " << ::testing::PrintToString(states) << std::endl;
  ASSERT_TRUE(moved) << lag.dump(1);
  // The broker waits out the session (6 s, less the time since the last
  // heartbeat): a leave would have moved them at once.
  EXPECT_GT(seconds, 5.0);
  EXPECT_EQ(OurMembers(lag), ToolMembers(group));
  for (size_t i = 1; i < members.size(); ++i) {
    EXPECT_FALSE(LastAssigned(*members[i]).empty());
    members[i]->CloseStdin();
    EXPECT_EQ(members[i]->Wait(milliseconds(20'000)), 0);
  }
}

}  // namespace
}  // namespace groupscaler::testing
