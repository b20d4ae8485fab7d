#include "support/kafka_broker.h"

#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <utility>

#include "kafka/admin.h"
#include "kafka/mock_cluster.h"
#include "support/kube_api_server.h"

#ifndef GROUPSCALER_SOURCE_DIR
#error "GROUPSCALER_SOURCE_DIR must name the source tree (for .tools/kafka)"
#endif

namespace groupscaler::testing {
namespace {

using kafka::NewClient;
using kafka::RdKafkaPtr;

constexpr KafkaListener kAllListeners[] = {
    KafkaListener::kPlaintext,  KafkaListener::kSaslPlaintext, KafkaListener::kSsl,
    KafkaListener::kMutualTls,  KafkaListener::kSaslSsl,       KafkaListener::kSslOtherHost,
    KafkaListener::kOauthbearer};

// Kafka 4.x contacts no OAuth URL that this JVM system property does not
// list (its default allows none).
constexpr char kOAuthAllowedUrls[] = "org.apache.kafka.sasl.oauthbearer.allowed.urls";

// One JVM per node on two cores: a small heap, the serial collector, and
// only the C1 compiler (the brokers of a test start more than they run), and
// the class archive of scripts/setup-kafka when there is one.
constexpr char kToolHeap[] = "128m";

constexpr char kSetpriv[] = "/usr/bin/setpriv";

// The broker logs at WARN to stderr (the node's log file); the start line
// too, so that a log shows when each start completed.
constexpr char kLog4j2[] = R"(status = warn
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = STDERR
logger.started.name = kafka.server.KafkaRaftServer
logger.started.level = INFO
)";

Status WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  return out ? Status::Ok() : InternalError("cannot write " + path.string());
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string Tail(const std::string& text, size_t n) {
  return text.size() > n ? "..." + text.substr(text.size() - n) : text;
}

// A value of a Java properties file: PEM text with its newlines escaped.
std::string PropertyValue(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else {
      if (c == '\\') out += '\\';
      out += c;
    }
  }
  return out;
}

// A random Kafka cluster id: 16 bytes, base64url without padding.
std::string NewClusterId() {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::random_device device;
  std::string id;
  // 22 characters carry 132 bits; the last one's low 4 bits must be zero.
  // No leading '-', which a command line would take for an option (Kafka's
  // own Uuid.randomUuid() avoids it too).
  id += kAlphabet[device() % 62];
  for (int i = 1; i < 21; ++i) id += kAlphabet[device() % 64];
  id += kAlphabet[(device() % 4) * 16];
  return id;
}

// The kernel's range of ephemeral ports (for bind(0) and outgoing
// connections).
std::pair<int, int> EphemeralPorts() {
  std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768, high = 60999;
  in >> low >> high;
  return {low, high};
}

bool CanListen(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return free;
}

// A loopback port for a broker to listen on, not in `taken`, and below the
// ephemeral range when there is room: a port from FreePort() is ephemeral,
// and in the seconds until a JVM binds it an outgoing connection (the other
// brokers', a client's) took it now and then ("Address already in use").
int ListenPort(std::set<int>& taken) {
  static std::mt19937 random(std::random_device{}());
  const int high = EphemeralPorts().first - 1;
  constexpr int kLow = 10000;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int port =
        high - kLow >= 1000 ? std::uniform_int_distribution<int>(kLow, high)(random) : FreePort();
    if (taken.count(port) == 0 && CanListen(port)) {
      taken.insert(port);
      return port;
    }
  }
  return FreePort();
}

// Whether a broker's log has an ERROR line that calls itself fatal.
// What a broker logs once every listener is bound and serving.
constexpr char kStartedLine[] = "Kafka Server started";

bool HasFatalError(const std::string& log) {
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);) {
    if (line.find("] ERROR ") != std::string::npos &&
        (line.find("fatal") != std::string::npos || line.find("Fatal") != std::string::npos)) {
      return true;
    }
  }
  return false;
}

// $JAVA_HOME/bin/java, else the first java on PATH.
std::string JavaBinary() {
  if (const char* home = std::getenv("JAVA_HOME"); home != nullptr && *home != '\0') {
    const std::filesystem::path java = std::filesystem::path(home) / "bin" / "java";
    if (std::filesystem::exists(java)) return java.string();
  }
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "/usr/bin");
  for (std::string d; std::getline(dirs, d, ':');) {
    const std::filesystem::path java = std::filesystem::path(d) / "java";
    if (!d.empty() && access(java.c_str(), X_OK) == 0) return java.string();
  }
  return "";
}

bool IsSasl(KafkaListener listener) {
  return listener == KafkaListener::kSaslPlaintext || listener == KafkaListener::kSaslSsl;
}

bool IsTls(KafkaListener listener) {
  return listener == KafkaListener::kSsl || listener == KafkaListener::kMutualTls ||
         listener == KafkaListener::kSaslSsl || listener == KafkaListener::kSslOtherHost;
}

std::string SecurityProtocol(KafkaListener listener) {
  if (listener == KafkaListener::kOauthbearer) return "SASL_PLAINTEXT";
  return listener == KafkaListener::kMutualTls || listener == KafkaListener::kSslOtherHost
             ? "SSL"
             : ListenerName(listener);
}

// Loopback, where the certificate names it; 127.0.0.2 (loopback too, but
// not in the certificate) for the listener that exists to be refused.
std::string ListenerHost(KafkaListener listener) {
  return listener == KafkaListener::kSslOtherHost ? "127.0.0.2" : "127.0.0.1";
}

// Lower case, as Kafka's listener-prefixed settings spell a listener.
std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* md) const { rd_kafka_metadata_destroy(md); }
};
using MetadataPtr = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

// Metadata of every topic from the broker at `address` itself: a fresh
// client knows no other broker to ask.
StatusOr<MetadataPtr> MetadataFrom(const std::string& address, std::chrono::milliseconds timeout) {
  auto rk = NewClient(RD_KAFKA_PRODUCER, {{"bootstrap.servers", address}, {"log_level", "0"}});
  if (!rk.ok()) return rk.status();
  const rd_kafka_metadata_t* md = nullptr;
  const rd_kafka_resp_err_t err =
      rd_kafka_metadata(rk->get(), 1, nullptr, &md, static_cast<int>(timeout.count()));
  if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return UnavailableError("metadata from " + address + ": " + rd_kafka_err2str(err));
  }
  return MetadataPtr(md);
}

// "line\n" for each line.
std::string Lines(const std::vector<std::string>& lines) {
  std::string text;
  for (const std::string& line : lines) text += line + "\n";
  return text;
}

// What a test bed of `brokers` nodes needs unlike a production cluster.
std::string TestBedProperties(int brokers) {
  const std::string replicas = std::to_string(brokers);
  const std::string min_isr = brokers > 1 ? "2" : "1";
  return Lines({
      // Internal topics on every broker; few partitions, since creating the
      // default 50 of __consumer_offsets slows a test's first group.
      "offsets.topic.replication.factor=" + replicas,
      "offsets.topic.num.partitions=4",
      "transaction.state.log.replication.factor=" + replicas,
      "transaction.state.log.min.isr=" + min_isr,
      "transaction.state.log.num.partitions=4",
      "share.coordinator.state.topic.replication.factor=" + replicas,
      "share.coordinator.state.topic.min.isr=" + min_isr,
      "default.replication.factor=" + replicas,
      "min.insync.replicas=1",
      // Groups form at once.
      "group.initial.rebalance.delay.ms=0",
      // A killed broker is fenced (its leaders move) after 3 s rather than
      // 9, and a restarted one registered as soon: the controller refuses a
      // new incarnation of a broker whose session still runs.
      "broker.heartbeat.interval.ms=500",
      "broker.session.timeout.ms=3000",
      "num.network.threads=2",
      "num.io.threads=2",
      "background.threads=2",
      "num.recovery.threads.per.data.dir=1",
      // The log cleaner's default 128 MiB buffer, on a heap of 256, made
      // brokers die at start with OutOfMemoryError now and then.
      "log.cleaner.dedupe.buffer.size=8388608",
  });
}

std::string ExtraProperties(const std::map<std::string, std::string>& properties) {
  std::string p;
  for (const auto& [name, value] : properties) p += name + "=" + value + "\n";
  return p;
}

// Whether `md` has `topic` with `partitions` partitions, each with a leader.
bool HasLeaders(const rd_kafka_metadata_t& md, const std::string& topic, int partitions) {
  for (int i = 0; i < md.topic_cnt; ++i) {
    const rd_kafka_metadata_topic_t& t = md.topics[i];
    if (t.topic != topic || t.err != RD_KAFKA_RESP_ERR_NO_ERROR) continue;
    if (t.partition_cnt != partitions) return false;
    for (int p = 0; p < t.partition_cnt; ++p) {
      if (t.partitions[p].leader < 0) return false;
    }
    return true;
  }
  return false;
}

}  // namespace

std::string ListenerName(KafkaListener listener) {
  switch (listener) {
    case KafkaListener::kPlaintext:
      return "PLAINTEXT";
    case KafkaListener::kSaslPlaintext:
      return "SASL_PLAINTEXT";
    case KafkaListener::kSsl:
      return "SSL";
    case KafkaListener::kMutualTls:
      return "MTLS";
    case KafkaListener::kSaslSsl:
      return "SASL_SSL";
    case KafkaListener::kSslOtherHost:
      return "OTHERHOST";
    case KafkaListener::kOauthbearer:
      return "OAUTH";
  }
  return "";
}

std::filesystem::path KafkaCluster::ToolsDir() {
  return std::filesystem::path(GROUPSCALER_SOURCE_DIR) / ".tools" / "kafka";
}

KafkaCluster::KafkaCluster(std::filesystem::path dir, Options options)
    : dir_(std::move(dir)), options_(std::move(options)) {
  // Test-only credentials: one user per mechanism, so that a client that
  // connects proves the mechanism it named.
  sasl_users_ = {{"PLAIN", "plainuser", "plainuser-secret"},
                 {"SCRAM-SHA-256", "scram256user", "scram256user-secret"},
                 {"SCRAM-SHA-512", "scram512user", "scram512user-secret"}};
}

KafkaCluster::~KafkaCluster() {
  for (Node& node : nodes_) node.process.reset();
}

StatusOr<std::unique_ptr<KafkaCluster>> KafkaCluster::Start(const std::filesystem::path& dir,
                                                            Options options) {
  if (options.brokers < 1) return InvalidArgumentError("a Kafka cluster needs a broker");
  // The ports are picked free, but another test binary's cluster may take
  // one in the seconds before a JVM binds it: then start again on new ones.
  Status started;
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::unique_ptr<KafkaCluster> cluster(new KafkaCluster(dir, options));
    started = cluster->StartNodes();
    if (started.ok()) return cluster;
    if (started.message().find("Address already in use") == std::string::npos) break;
  }
  return started;
}

Status KafkaCluster::StartNodes() {
  if (Status s = Prepare(); !s.ok()) return s;
  if (Status s = FormatAll(); !s.ok()) return s;
  for (Node& node : nodes_) {
    if (Status s = Spawn(node); !s.ok()) return s;
  }
  std::vector<int> all;
  for (const Node& node : nodes_) all.push_back(node.id);
  for (const Node& node : nodes_) {
    if (Status s = WaitAnswers(node.id, std::chrono::seconds(120), all); !s.ok()) return s;
  }
  return Status::Ok();
}

// The classpath, the PKI, ports and every node's configuration.
Status KafkaCluster::Prepare() {
  classpath_ = ReadFile(ToolsDir() / "classpath");
  while (!classpath_.empty() && std::isspace(static_cast<unsigned char>(classpath_.back()))) {
    classpath_.pop_back();
  }
  if (classpath_.empty()) {
    return FailedPreconditionError((ToolsDir() / "classpath").string() +
                                   " is missing: run scripts/setup (scripts/setup-kafka)");
  }
  if (JavaBinary().empty()) return FailedPreconditionError("java is missing: run scripts/setup");
  if (options_.listeners.count(KafkaListener::kOauthbearer) > 0 &&
      options_.oauth.jwks_url.empty()) {
    return InvalidArgumentError("the OAUTH listener needs Options::oauth.jwks_url");
  }
  std::filesystem::create_directories(dir_);
  cluster_id_ = NewClusterId();
  if (Status s = WriteFile(dir_ / "log4j2.properties", kLog4j2); !s.ok()) return s;
  if (Status s = WritePki(); !s.ok()) return s;
  nodes_.resize(static_cast<size_t>(options_.brokers));
  std::set<int> taken;
  for (int id = 0; id < options_.brokers; ++id) {
    Node& node = nodes_[static_cast<size_t>(id)];
    node.id = id;
    node.dir = dir_ / ("broker-" + std::to_string(id));
    node.controller_port = ListenPort(taken);
    for (KafkaListener listener : kAllListeners) {
      if (listener == KafkaListener::kPlaintext || options_.listeners.count(listener) > 0) {
        node.ports[listener] = ListenPort(taken);
      }
    }
    std::filesystem::remove_all(node.dir);
    std::filesystem::create_directories(node.dir);
  }
  for (const Node& node : nodes_) {
    if (Status s = WriteFile(node.dir / "server.properties", ServerProperties(node)); !s.ok()) {
      return s;
    }
  }
  return Status::Ok();
}

Status KafkaCluster::WritePki() {
  StatusOr<TestPki> pki = MakeTestPki("groupscaler-test");
  if (!pki.ok()) return pki.status();
  ca_pem_ = pki->ca_pem;
  server_cert_pem_ = pki->server_cert_pem;
  server_key_pem_ = pki->server_key_pem;
  for (Status s :
       {WriteFile(ca_path(), pki->ca_pem), WriteFile(client_cert_path(), pki->client_cert_pem),
        WriteFile(client_key_path(), pki->client_key_pem)}) {
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

// One node's server.properties: its place in the quorum and its listeners,
// the test bed's settings, SASL and TLS, then Options::server_properties
// (the last of a repeated key wins).
std::string KafkaCluster::ServerProperties(const Node& node) const {
  return NodeProperties(node) + TestBedProperties(brokers()) + SaslProperties() +
         OAuthProperties() + TlsProperties() + ExtraProperties(options_.server_properties);
}

std::string KafkaCluster::NodeProperties(const Node& node) const {
  std::string voters, listeners, advertised, protocols = "CONTROLLER:PLAINTEXT";
  for (const Node& other : nodes_) {
    voters += (voters.empty() ? "" : ",") + std::to_string(other.id) +
              "@127.0.0.1:" + std::to_string(other.controller_port);
  }
  for (const auto& [listener, port] : node.ports) {
    const std::string entry =
        ListenerName(listener) + "://" + ListenerHost(listener) + ":" + std::to_string(port);
    listeners += entry + ",";
    advertised += (advertised.empty() ? "" : ",") + entry;
    protocols += "," + ListenerName(listener) + ":" + SecurityProtocol(listener);
  }
  listeners += "CONTROLLER://127.0.0.1:" + std::to_string(node.controller_port);
  return Lines({"node.id=" + std::to_string(node.id), "process.roles=broker,controller",
                "controller.quorum.voters=" + voters, "controller.listener.names=CONTROLLER",
                "listeners=" + listeners, "advertised.listeners=" + advertised,
                "listener.security.protocol.map=" + protocols,
                "inter.broker.listener.name=PLAINTEXT",
                "log.dirs=" + (node.dir / "data").string()});
}

std::string KafkaCluster::SaslProperties() const {
  std::string p;
  for (KafkaListener listener : {KafkaListener::kSaslPlaintext, KafkaListener::kSaslSsl}) {
    if (options_.listeners.count(listener) == 0) continue;
    const std::string prefix = "listener.name." + Lower(ListenerName(listener)) + ".";
    const SaslUser& plain = SaslUserFor("PLAIN");
    p += prefix + "sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512\n";
    p += prefix + "plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule" +
         " required user_" + plain.username + "=\"" + plain.password + "\";\n";
    for (const char* scram : {"scram-sha-256", "scram-sha-512"}) {
      p += prefix + scram +
           ".sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n";
    }
  }
  return p;
}

// OAUTHBEARER alone, tokens verified by Kafka's own validator against the
// JWKS. The login module's unsecured token is never used: no client
// connection leaves from this listener (inter-broker is PLAINTEXT), but the
// broker logs in on every SASL listener it opens.
std::string KafkaCluster::OAuthProperties() const {
  if (options_.listeners.count(KafkaListener::kOauthbearer) == 0) return "";
  const std::string prefix = "listener.name.oauth.";
  const std::string mechanism = prefix + "oauthbearer.";
  return Lines({prefix + "sasl.enabled.mechanisms=OAUTHBEARER",
                mechanism +
                    "sasl.jaas.config=org.apache.kafka.common.security.oauthbearer."
                    "OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"broker\";",
                mechanism + "sasl.server.callback.handler.class=org.apache.kafka.common.security."
                            "oauthbearer.OAuthBearerValidatorCallbackHandler",
                mechanism + "sasl.oauthbearer.jwks.endpoint.url=" + options_.oauth.jwks_url,
                mechanism + "sasl.oauthbearer.expected.issuer=" + options_.oauth.issuer,
                mechanism + "sasl.oauthbearer.expected.audience=" + options_.oauth.audience});
}

// PEM key and certificates inline, so that no keytool or JKS is needed (a
// PEM key store in a file would need an encrypted key).
std::string KafkaCluster::TlsProperties() const {
  return Lines({"ssl.keystore.type=PEM",
                "ssl.keystore.certificate.chain=" + PropertyValue(server_cert_pem_),
                "ssl.keystore.key=" + PropertyValue(server_key_pem_), "ssl.truststore.type=PEM",
                "ssl.truststore.certificates=" + PropertyValue(ca_pem_), "ssl.client.auth=none",
                "listener.name.mtls.ssl.client.auth=required"});
}

std::vector<std::string> KafkaCluster::Java(const std::string& heap) const {
  std::vector<std::string> argv;
  // setpriv (util-linux) execs the JVM with a parent-death signal: a test
  // binary that crashes or is killed at its timeout leaves no broker behind.
  if (access(kSetpriv, X_OK) == 0) argv = {kSetpriv, "--pdeathsig", "KILL"};
  const std::vector<std::string> flags = {
      JavaBinary(),
      "-Xmx" + heap,
      "-Xms64m",
      "-XX:+UseSerialGC",
      "-XX:TieredStopAtLevel=1",
      "-XX:-UsePerfData",
      "-Djava.awt.headless=true",
      "-Dlog4j2.configurationFile=" + (dir_ / "log4j2.properties").string()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  if (!options_.oauth.jwks_url.empty()) {
    argv.push_back(std::string("-D") + kOAuthAllowedUrls + "=" + options_.oauth.jwks_url);
  }
  const std::filesystem::path archive = ToolsDir() / "classes.jsa";
  if (std::filesystem::exists(archive)) {
    // A stale archive (another JDK, a changed jar) is ignored silently.
    argv.push_back("-XX:SharedArchiveFile=" + archive.string());
  }
  argv.push_back("-cp");
  argv.push_back(classpath_);
  return argv;
}

// kafka-storage format of every node at once (a JVM each), with the SCRAM
// users in the bootstrap metadata, so no Admin call has to create them.
Status KafkaCluster::FormatAll() {
  std::vector<std::unique_ptr<Subprocess>> formats;
  for (const Node& node : nodes_) {
    std::vector<std::string> argv = Java(kToolHeap);
    for (const char* arg : {"kafka.tools.StorageTool", "format", "--config"}) argv.push_back(arg);
    argv.push_back((node.dir / "server.properties").string());
    argv.push_back("--cluster-id=" + cluster_id_);
    for (const SaslUser& user : sasl_users_) {
      if (user.mechanism == "PLAIN") continue;
      argv.push_back("--add-scram");
      argv.push_back(user.mechanism + "=[name=" + user.username + ",password=" + user.password +
                     "]");
    }
    auto process = Subprocess::SpawnLogged(argv, (node.dir / "format.log").string());
    if (!process.ok()) return process.status();
    formats.push_back(std::move(process).value());
  }
  for (size_t i = 0; i < formats.size(); ++i) {
    const std::optional<int> code = formats[i]->Wait(std::chrono::seconds(60));
    if (code != 0) {
      return InternalError("kafka-storage format of broker " + std::to_string(i) + " failed (" +
                           (code ? "exit " + std::to_string(*code) : "timeout") +
                           "): " + Tail(formats[i]->log(), 3000));
    }
  }
  return Status::Ok();
}

Status KafkaCluster::Spawn(Node& node) {
  const std::filesystem::path log = node.dir / "broker.log";
  if (node.starts > 0 && std::filesystem::exists(log)) {
    // Keep the earlier run's log beside the new one.
    std::filesystem::rename(log, node.dir / ("broker.log." + std::to_string(node.starts)));
  }
  std::vector<std::string> argv = Java(options_.heap);
  argv.push_back("kafka.Kafka");
  argv.push_back((node.dir / "server.properties").string());
  auto process = Subprocess::SpawnLogged(argv, log.string());
  if (!process.ok()) return process.status();
  node.process = std::move(process).value();
  ++node.starts;
  return Status::Ok();
}

Status KafkaCluster::WaitAnswers(int id, std::chrono::milliseconds timeout,
                                 const std::vector<int>& watched) const {
  const std::string address = this->address(id, KafkaListener::kPlaintext);
  std::string last = "no answer";
  std::optional<std::pair<int, std::string>> failed;
  const bool ready = WaitFor(
      [&] {
        for (int other : watched) {
          if (std::optional<std::string> why = Failure(other)) failed.emplace(other, *why);
        }
        if (failed) return true;
        auto md = MetadataFrom(address, std::chrono::milliseconds(500));
        if (!md.ok()) {
          last = md.status().message();
          return false;
        }
        last = "it answered with " + std::to_string((*md)->broker_cnt) + " of " +
               std::to_string(brokers()) + " brokers";
        if ((*md)->orig_broker_id != id || (*md)->broker_cnt != brokers()) return false;
        // PLAINTEXT answers before the other listeners are bound: one whose
        // port was taken meanwhile still stops the broker after this.
        last = "it answered but has not logged \"" + std::string(kStartedLine) + "\"";
        return log(id).find(kStartedLine) != std::string::npos;
      },
      timeout);
  if (failed) {
    const auto& [node, why] = *failed;
    return UnavailableError("Kafka broker " + std::to_string(node) + " at " +
                            this->address(node, KafkaListener::kPlaintext) + " not ready: " + why +
                            "\n" + LogTail(node));
  }
  if (ready) return Status::Ok();
  return UnavailableError("Kafka broker " + std::to_string(id) + " at " + address +
                          " not ready: " + last + "\n" + LogTail(id));
}

std::optional<std::string> KafkaCluster::Failure(int id) const {
  const Node& node = nodes_.at(static_cast<size_t>(id));
  if (std::optional<int> code = node.process->Wait(std::chrono::milliseconds(0))) {
    return "exited with " + std::to_string(*code);
  }
  // A broker can hang after a fatal error at start (one that failed to
  // bind a port did) rather than exit.
  if (HasFatalError(log(id))) return "fatal error";
  return std::nullopt;
}

// The first error with the line after it (usually the cause: the
// exception), and the log's end.
std::string KafkaCluster::LogTail(int id) const {
  const std::string text = log(id);
  std::string first_error;
  if (const size_t at = text.find("] ERROR "); at != std::string::npos) {
    const size_t begin = text.rfind('\n', at);
    const size_t from = begin == std::string::npos ? 0 : begin + 1;
    size_t end = text.find('\n', at);
    if (end != std::string::npos) end = text.find('\n', end + 1);
    first_error = "first error: " + text.substr(from, std::min<size_t>(end, text.size()) - from) +
                  "\nlog's end:\n";
  }
  return first_error + Tail(text, 2500);
}

std::string KafkaCluster::log(int id) const {
  return ReadFile(nodes_.at(static_cast<size_t>(id)).dir / "broker.log");
}

pid_t KafkaCluster::pid(int id) const {
  const Node& node = nodes_.at(static_cast<size_t>(id));
  return node.process ? node.process->pid() : -1;
}

void KafkaCluster::Stop(int id) { nodes_.at(static_cast<size_t>(id)).process.reset(); }

Status KafkaCluster::Restart(const std::vector<int>& ids) {
  for (int id : ids) {
    Node& node = nodes_.at(static_cast<size_t>(id));
    if (node.process) return FailedPreconditionError("broker " + std::to_string(id) + " runs");
    if (Status s = Spawn(node); !s.ok()) return s;
  }
  for (int id : ids) {
    if (Status s = WaitAnswers(id, std::chrono::seconds(90), {id}); !s.ok()) return s;
  }
  return Status::Ok();
}

std::string KafkaCluster::address(int id, KafkaListener listener) const {
  const Node& node = nodes_.at(static_cast<size_t>(id));
  const auto port = node.ports.find(listener);
  return port == node.ports.end() ? ""
                                  : ListenerHost(listener) + ":" + std::to_string(port->second);
}

std::string KafkaCluster::bootstrap(KafkaListener listener) const {
  std::string servers;
  for (const Node& node : nodes_) {
    const std::string a = address(node.id, listener);
    if (!a.empty()) servers += (servers.empty() ? "" : ",") + a;
  }
  return servers;
}

const SaslUser& KafkaCluster::SaslUserFor(const std::string& mechanism) const {
  for (const SaslUser& user : sasl_users_) {
    if (user.mechanism == mechanism) return user;
  }
  return sasl_users_.front();
}

KafkaClientConfig KafkaCluster::ClientConfig(KafkaListener listener,
                                             const std::string& sasl_mechanism) const {
  KafkaClientConfig config = {{"bootstrap.servers", bootstrap(listener)},
                              {"security.protocol", SecurityProtocol(listener)}};
  if (IsSasl(listener)) {
    const SaslUser& user = SaslUserFor(sasl_mechanism);
    config.push_back({"sasl.mechanism", sasl_mechanism});
    config.push_back({"sasl.username", user.username});
    config.push_back({"sasl.password", user.password});
  }
  if (listener == KafkaListener::kOauthbearer) config.push_back({"sasl.mechanism", "OAUTHBEARER"});
  if (IsTls(listener)) {
    config.push_back({"ssl.ca.location", ca_path().string()});
    config.push_back({"ssl.endpoint.identification.algorithm", "https"});
  }
  if (listener == KafkaListener::kMutualTls) {
    config.push_back({"ssl.certificate.location", client_cert_path().string()});
    config.push_back({"ssl.key.location", client_key_path().string()});
  }
  return config;
}

Status KafkaCluster::CreateTopic(const std::string& topic, int partitions,
                                 int replication_factor) const {
  return CreateTopics({topic}, partitions, replication_factor);
}

Status KafkaCluster::CreateTopics(const std::vector<std::string>& topics, int partitions,
                                  int replication_factor) const {
  auto admin = kafka::KafkaAdmin::Connect(
      {.bootstrap_servers = {bootstrap(KafkaListener::kPlaintext)}, .auth = {}});
  if (!admin.ok()) return admin.status();
  constexpr size_t kPerRequest = 100;
  for (size_t first = 0; first < topics.size(); first += kPerRequest) {
    const std::vector<std::string> batch(
        topics.begin() + static_cast<std::ptrdiff_t>(first),
        topics.begin() + static_cast<std::ptrdiff_t>(std::min(topics.size(), first + kPerRequest)));
    Status created =
        (*admin)->CreateTopics(batch, partitions, replication_factor, std::chrono::seconds(60));
    if (!created.ok()) return created;
  }
  // Every running broker learns of the topics from the metadata log on its
  // own time, and makes each partition's log (about 5 ms each on a loaded
  // machine).
  const auto timeout = std::chrono::seconds(30) + std::chrono::milliseconds(5) *
                                                      static_cast<int64_t>(topics.size()) *
                                                      partitions;
  for (const Node& node : nodes_) {
    if (!node.process) continue;
    const bool known = WaitFor(
        [&] {
          auto md = MetadataFrom(address(node.id, KafkaListener::kPlaintext),
                                 std::chrono::milliseconds(2000));
          return md.ok() && std::all_of(topics.begin(), topics.end(), [&](const std::string& t) {
                   return HasLeaders(**md, t, partitions);
                 });
        },
        std::chrono::duration_cast<std::chrono::milliseconds>(timeout));
    if (!known) {
      return DeadlineExceededError("topics " + topics.front() + "... have no leaders on broker " +
                                   std::to_string(node.id));
    }
  }
  return Status::Ok();
}

RunResult KafkaCluster::RunTool(const std::string& main_class, const std::vector<std::string>& args,
                                std::chrono::milliseconds timeout) const {
  std::vector<std::string> with_bootstrap = {"--bootstrap-server",
                                             bootstrap(KafkaListener::kPlaintext)};
  with_bootstrap.insert(with_bootstrap.end(), args.begin(), args.end());
  return RunJava(main_class, with_bootstrap, timeout);
}

RunResult KafkaCluster::RunJava(const std::string& main_class, const std::vector<std::string>& args,
                                std::chrono::milliseconds timeout) const {
  std::vector<std::string> argv = Java(kToolHeap);
  argv.push_back(main_class);
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, timeout);
}

StatusOr<std::unique_ptr<Subprocess>> KafkaCluster::SpawnJava(
    const std::string& main_class, const std::vector<std::string>& args) const {
  std::vector<std::string> argv = Java(kToolHeap);
  argv.push_back(main_class);
  argv.insert(argv.end(), args.begin(), args.end());
  return Subprocess::Spawn(argv);
}

StatusOr<std::filesystem::path> KafkaCluster::WriteJavaClientConfig(
    KafkaListener listener, const std::string& sasl_mechanism) const {
  std::ostringstream p;
  p << "security.protocol=" << SecurityProtocol(listener) << "\n";
  if (IsSasl(listener)) {
    const SaslUser& user = SaslUserFor(sasl_mechanism);
    const char* module = sasl_mechanism == "PLAIN"
                             ? "org.apache.kafka.common.security.plain.PlainLoginModule"
                             : "org.apache.kafka.common.security.scram.ScramLoginModule";
    p << "sasl.mechanism=" << sasl_mechanism << "\nsasl.jaas.config=" << module
      << " required username=\"" << user.username << "\" password=\"" << user.password << "\";\n";
  }
  if (IsTls(listener)) {
    // The Java client verifies the host name by default.
    p << "ssl.truststore.type=PEM\nssl.truststore.certificates=" << PropertyValue(ca_pem_) << "\n";
  }
  if (listener == KafkaListener::kMutualTls) {
    p << "ssl.keystore.type=PEM\nssl.keystore.certificate.chain="
      << PropertyValue(ReadFile(client_cert_path()))
      << "\nssl.keystore.key=" << PropertyValue(ReadFile(client_key_path())) << "\n";
  }
  const std::filesystem::path path =
      dir_ / ("client-" + Lower(ListenerName(listener)) +
              (IsSasl(listener) ? "-" + Lower(sasl_mechanism) : "") + ".properties");
  if (Status s = WriteFile(path, p.str()); !s.ok()) return s;
  return path;
}

}  // namespace groupscaler::testing
