#pragma once

// Real librdkafka clients for the tests on real Kafka brokers
// (support/kafka_broker.h): a client that records what librdkafka reports,
// produce and group-consume helpers, and the measurements the tests print.

#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kafka/mock_cluster.h"
#include "support/kafka_broker.h"
#include "support/oauth_server.h"

namespace groupscaler::testing {

using SteadyClock = std::chrono::steady_clock;

double SecondsSince(SteadyClock::time_point start);
// A process's resident set in MiB, from /proc; -1 when unknown.
long RssMib(pid_t pid);
// Prints "WHAT: started in S s; RSS A B C MiB" (one RSS per broker).
void ReportStart(const std::string& what, double seconds, const KafkaCluster& cluster);

// The Kafka cluster of a test binary, as a gtest Environment: started with
// `options` (in temp/NAME_PID) before the first test, its start time and RSS
// reported, published in `*cluster` until the last test ended, then killed;
// its files are kept when a test failed.
class KafkaClusterEnvironment : public ::testing::Environment {
 public:
  KafkaClusterEnvironment(std::string name, KafkaCluster::Options options, KafkaCluster** cluster)
      : name_(std::move(name)), options_(std::move(options)), published_(cluster) {}
  void SetUp() override;
  void TearDown() override;

 private:
  const std::string name_;
  const KafkaCluster::Options options_;
  KafkaCluster** const published_;
  std::filesystem::path dir_;
  std::unique_ptr<KafkaCluster> cluster_;
};

// The OAuth token endpoint of a test binary (support/oauth_server.h), as a
// gtest Environment: started with `options` before the first test and
// published in `*server` until the last test ended. Register it before the
// KafkaClusterEnvironment whose OAUTH listener verifies its tokens: the
// brokers fetch its JWKS at start.
class OAuthServerEnvironment : public ::testing::Environment {
 public:
  OAuthServerEnvironment(OAuthServer::Options options, OAuthServer** server)
      : options_(std::move(options)), published_(server) {}
  void SetUp() override;
  void TearDown() override;

 private:
  const OAuthServer::Options options_;
  OAuthServer** const published_;
  std::unique_ptr<OAuthServer> server_;
};

// What the brokers' OAUTH listener needs to verify the tokens of the
// endpoint started with `options`: its JWKS (on plain HTTP, which their JVMs
// fetch), issuer and audience.
KafkaCluster::Options::OAuth BrokerOAuthFor(const OAuthServer::Options& options);

// WHAT-SUITE-TEST-PID: a topic or group name unique to the running test.
std::string Unique(const std::string& what);

// A librdkafka client that keeps what its error callback reports and counts
// its delivery reports.
struct RecordingClient {
  bool HasError(rd_kafka_resp_err_t err);
  std::string Reasons();

  kafka::RdKafkaPtr rk;
  std::mutex mu;
  std::vector<rd_kafka_resp_err_t> errors;
  std::string reasons;  // one line per error
  int delivered = 0;
  int failed = 0;
};

// A client of `type` with `config`; null (and a test failure) when a
// setting is refused.
std::unique_ptr<RecordingClient> NewRecordingClient(rd_kafka_type_t type,
                                                    const KafkaClientConfig& config);

struct Produced {
  int delivered = 0;
  int failed = 0;
  std::string errors;  // what the error callback reported
};

// Produces `values` to `topic` with acks=all and waits for every delivery
// report (up to 45 s).
Produced Produce(const KafkaClientConfig& config, const std::string& topic,
                 const std::vector<std::string>& values);

struct Consumed {
  std::multiset<std::string> values;
  std::string errors;  // what the error callback reported
};

// Subscribes to `topic` in `group` from the earliest offset, reads until
// `count` messages came or 30 s passed, commits and leaves the group.
Consumed Consume(const KafkaClientConfig& config, const std::string& topic,
                 const std::string& group, size_t count);

// "PREFIX-0" .. "PREFIX-(n-1)".
std::vector<std::string> Values(const std::string& prefix, int n);
// Values(prefix, n) of every prefix.
std::multiset<std::string> AllValues(const std::vector<std::string>& prefixes, int n);

// A metadata request through `client` (then its callbacks served); the
// error it ended with.
rd_kafka_resp_err_t Metadata(RecordingClient& client, int timeout_ms);

// The leader of `topic`'s partition 0 as broker `asked` itself reports it,
// and its in-sync replicas into `isr`; -1 when unknown.
int32_t LeaderOf(const KafkaCluster& cluster, int asked, const std::string& topic,
                 std::vector<int32_t>* isr = nullptr);

}  // namespace groupscaler::testing
