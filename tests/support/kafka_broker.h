#pragma once

// Real Apache Kafka brokers on loopback for end-to-end tests: Kafka 4.4.0 in
// KRaft mode, run with the machine's Java from the jars that
// scripts/setup-kafka resolves through Maven (found through .tools/kafka).
// Every node is a combined broker and controller (one JVM per node; node ids
// 0..brokers-1, a static voter set of every node), so a cluster of three
// keeps its quorum with one node down.
//
// Each broker listens on free loopback ports, one per listener:
//   PLAINTEXT       no authentication; also the inter-broker listener, and
//                   the one the fixture's own probes and RunTool() use;
//   SASL_PLAINTEXT  PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512, one user each
//                   (sasl_users()); SCRAM users are written at format time;
//   SSL             TLS with a server certificate for 127.0.0.1 and
//                   localhost from the fixture's own CA (ca_path());
//   MTLS            TLS that requires a client certificate (client_cert_path)
//   SASL_SSL        the SASL mechanisms over TLS;
//   OTHERHOST       TLS as SSL, but on 127.0.0.2, which the certificate
//                   does not name: hostname verification must refuse it;
//   OAUTH           SASL_PLAINTEXT with OAUTHBEARER only: Kafka's
//                   OAuthBearerValidatorCallbackHandler verifies each JWT
//                   against the JWKS of Options::oauth (signature, exp,
//                   issuer, audience); opt-in, as it needs that endpoint
//                   running before Start() (e.g. support/oauth_server.h).
// Clients connect to 127.0.0.1, which the certificate names, so hostname
// verification stays on (ClientConfig() turns it on explicitly). librdkafka
// before 2.6.1 (Debian 12 has 2.0.2) fails SCRAM against Kafka 4.x (its
// client-final-message repeats the nonce, which 4.x refuses): the SCRAM users
// serve Kafka's Java client and a fixed librdkafka only.
//
// Contract:
// * Start() writes everything under `dir` (each node's server.properties,
//   storage and log in dir/broker-ID), formats the storage, starts every
//   node and returns once each broker answers a metadata request on its
//   PLAINTEXT listener listing all brokers. A failed start's Status carries
//   the failing node's first error and the tail of its log. The destructor
//   kills every process.
// * Stop(id) kills one broker with SIGKILL; the controller fences it after
//   3 s (broker.session.timeout.ms; its leaders move then). Restart(id)
//   starts it again on the same ports and storage and returns once it
//   answers as above (at least those 3 s after the kill: the controller
//   refuses a new incarnation while the old session runs).
// * Every JVM dies with the thread that started it (a parent-death signal),
//   so a test binary killed at its timeout leaves no broker running.
// * Not thread-safe: one test thread drives it.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"
#include "support/subprocess.h"

namespace groupscaler::testing {

enum class KafkaListener {
  kPlaintext,
  kSaslPlaintext,
  kSsl,
  kMutualTls,
  kSaslSsl,
  kSslOtherHost,
  kOauthbearer
};

// "PLAINTEXT", "SASL_PLAINTEXT", "SSL", "MTLS", "SASL_SSL", "OTHERHOST",
// "OAUTH": the listener's name in the brokers' configuration.
std::string ListenerName(KafkaListener listener);

// A SASL user every broker accepts, for one mechanism.
struct SaslUser {
  std::string mechanism;  // "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"
  std::string username;
  std::string password;
};

// librdkafka properties; the names are string literals.
using KafkaClientConfig = std::vector<std::pair<const char*, std::string>>;

// Main classes of Kafka's command-line tools in the 4.4 jars.
inline constexpr char kConsumerGroupCommand[] =
    "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand";  // kafka-consumer-groups
inline constexpr char kTopicCommand[] = "org.apache.kafka.tools.TopicCommand";  // kafka-topics
inline constexpr char kDeleteRecordsCommand[] =
    "org.apache.kafka.tools.DeleteRecordsCommand";  // kafka-delete-records

class KafkaCluster {
 public:
  struct Options {
    // 1, or 3 where leadership and failover matter.
    int brokers = 1;
    // The listeners besides PLAINTEXT, which every broker has.
    std::set<KafkaListener> listeners = {KafkaListener::kSaslPlaintext, KafkaListener::kSsl,
                                         KafkaListener::kMutualTls, KafkaListener::kSaslSsl,
                                         KafkaListener::kSslOtherHost};
    // Further broker settings (e.g. "log.retention.check.interval.ms",
    // "auto.create.topics.enable"), appended to every node's
    // server.properties: they override the fixture's own.
    std::map<std::string, std::string> server_properties;
    // Each broker's -Xmx: enough for a test's few hundred partitions; the
    // benchmark's 16,000 need more.
    std::string heap = "256m";
    // With KafkaListener::kOauthbearer (required then): where the brokers
    // fetch the keys that verify tokens (also the one URL their JVMs allow,
    // org.apache.kafka.sasl.oauthbearer.allowed.urls), and the issuer and
    // audience a token must carry.
    struct OAuth {
      std::string jwks_url;
      std::string issuer;
      std::string audience;
    } oauth;
  };

  static StatusOr<std::unique_ptr<KafkaCluster>> Start(const std::filesystem::path& dir,
                                                       Options options);
  static StatusOr<std::unique_ptr<KafkaCluster>> Start(const std::filesystem::path& dir) {
    return Start(dir, Options{});
  }
  ~KafkaCluster();
  KafkaCluster(const KafkaCluster&) = delete;
  KafkaCluster& operator=(const KafkaCluster&) = delete;

  int brokers() const { return static_cast<int>(nodes_.size()); }
  // "127.0.0.1:PORT,..." of `listener` on every broker, running or not; ""
  // when the cluster was started without that listener.
  std::string bootstrap(KafkaListener listener) const;
  // One broker's "127.0.0.1:PORT" for `listener` (127.0.0.2 for OTHERHOST).
  std::string address(int id, KafkaListener listener) const;

  // librdkafka settings of a client of `listener`: bootstrap.servers,
  // security.protocol, and for SASL the user of `sasl_mechanism`, for TLS
  // the CA, hostname verification, and for MTLS the client certificate;
  // for OAUTH the mechanism only (the token endpoint is the caller's).
  KafkaClientConfig ClientConfig(KafkaListener listener,
                                 const std::string& sasl_mechanism = "PLAIN") const;

  const std::vector<SaslUser>& sasl_users() const { return sasl_users_; }
  // The user for `mechanism` (one of sasl_users()).
  const SaslUser& SaslUserFor(const std::string& mechanism) const;
  // PEM files: the CA that signed the brokers' and the client's
  // certificates; the client certificate (CN groupscaler-test) and its
  // unencrypted PKCS#8 key, for MTLS.
  std::filesystem::path ca_path() const { return dir_ / "ca.crt"; }
  std::filesystem::path client_cert_path() const { return dir_ / "client.crt"; }
  std::filesystem::path client_key_path() const { return dir_ / "client.key"; }

  // Kills broker `id` with SIGKILL (nothing if it is stopped).
  void Stop(int id);
  // Starts a stopped broker again on its ports and storage.
  Status Restart(int id) { return Restart(std::vector<int>{id}); }
  // Starts the stopped brokers `ids` at once, then waits for each: brokers
  // that are a quorum together only answer once enough of them run.
  Status Restart(const std::vector<int>& ids);
  bool running(int id) const { return nodes_.at(id).process != nullptr; }
  // The JVM's pid, or -1 when stopped.
  pid_t pid(int id) const;
  // The broker's stderr since its last (re)start: its log at WARN.
  std::string log(int id) const;

  // Creates `topic` through the Admin API, and waits until every running
  // broker's metadata shows each of its partitions with a leader.
  Status CreateTopic(const std::string& topic, int partitions, int replication_factor) const;
  // The same for many topics: one CreateTopics request per 100.
  Status CreateTopics(const std::vector<std::string>& topics, int partitions,
                      int replication_factor) const;

  // Runs a Kafka tool's main class (kConsumerGroupCommand, ...) in a JVM
  // with `--bootstrap-server` of the PLAINTEXT listener and then `args`.
  RunResult RunTool(const std::string& main_class, const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  // Runs any main class of the Kafka jars with exactly `args`.
  RunResult RunJava(const std::string& main_class, const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  // Starts `main_class` (or, through Java 17's single-file source launcher,
  // a .java file) with the Kafka jars' classpath and `args` in the
  // background, as Subprocess::Spawn does: a Java client that stays
  // running beside the test.
  StatusOr<std::unique_ptr<Subprocess>> SpawnJava(const std::string& main_class,
                                                  const std::vector<std::string>& args) const;
  // Writes the Java client's settings for `listener` (as ClientConfig, for
  // a tool's --command-config or a Java consumer) under dir(); its path.
  StatusOr<std::filesystem::path> WriteJavaClientConfig(
      KafkaListener listener, const std::string& sasl_mechanism = "PLAIN") const;

  const std::filesystem::path& dir() const { return dir_; }
  // .tools/kafka in the source tree: the classpath and class archive of
  // scripts/setup-kafka.
  static std::filesystem::path ToolsDir();

 private:
  struct Node {
    int id = 0;
    int controller_port = 0;
    std::map<KafkaListener, int> ports;
    std::filesystem::path dir;
    std::unique_ptr<Subprocess> process;
    int starts = 0;
  };

  KafkaCluster(std::filesystem::path dir, Options options);
  // Prepare, format, spawn every node and wait until each answers.
  Status StartNodes();
  Status Prepare();
  Status WritePki();
  std::string ServerProperties(const Node& node) const;
  std::string NodeProperties(const Node& node) const;
  std::string SaslProperties() const;
  std::string OAuthProperties() const;
  std::string TlsProperties() const;
  Status FormatAll();
  Status Spawn(Node& node);
  // Until broker `id` itself answers a metadata request listing every
  // broker; a node of `watched` that exited or logged a fatal error ends
  // the wait early, naming that node.
  Status WaitAnswers(int id, std::chrono::milliseconds timeout,
                     const std::vector<int>& watched) const;
  // Why node `id` will not answer: "exited with N" or "fatal error".
  std::optional<std::string> Failure(int id) const;
  std::vector<std::string> Java(const std::string& heap) const;
  std::string LogTail(int id) const;

  const std::filesystem::path dir_;
  const Options options_;
  std::string classpath_;
  std::string cluster_id_;
  std::vector<SaslUser> sasl_users_;
  std::string ca_pem_, server_cert_pem_, server_key_pem_;
  std::vector<Node> nodes_;
};

}  // namespace groupscaler::testing
