#include "support/kube_control_plane.h"

#include <fstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "support/http_get.h"
#include "support/kube_api_server.h"

#ifndef GROUPSCALER_SOURCE_DIR
#error "GROUPSCALER_SOURCE_DIR must name the source tree (for .tools/kubernetes)"
#endif

namespace groupscaler::testing {
namespace {

constexpr char kAdminToken[] = "groupscaler-test-admin-token";
constexpr char kIssuer[] = "https://kubernetes.default.svc.cluster.local";

Status WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  out.close();
  return out ? Status::Ok() : InternalError("cannot write " + path.string());
}

std::string Flag(const std::string& name, const std::string& value) {
  return "--" + name + "=" + value;
}

std::string Loopback(int port) { return "http://127.0.0.1:" + std::to_string(port); }

}  // namespace

std::filesystem::path KubeControlPlane::BinDir() {
  return std::filesystem::path(GROUPSCALER_SOURCE_DIR) / ".tools" / "kubernetes" / "bin";
}

KubeControlPlane::KubeControlPlane(std::filesystem::path dir, Options options)
    : dir_(std::move(dir)), options_(options) {}

KubeControlPlane::~KubeControlPlane() {
  controller_manager_.reset();
  api_server_.reset();
  etcd_.reset();
}

StatusOr<std::unique_ptr<KubeControlPlane>> KubeControlPlane::Start(
    const std::filesystem::path& dir, Options options) {
  for (const char* binary : {"kube-apiserver", "kube-controller-manager", "kubectl", "etcd"}) {
    if (!std::filesystem::exists(BinDir() / binary)) {
      return FailedPreconditionError((BinDir() / binary).string() +
                                     " is missing: run scripts/setup");
    }
  }
  std::filesystem::create_directories(dir);
  std::unique_ptr<KubeControlPlane> plane(new KubeControlPlane(dir, options));
  plane->api_port_ = FreePort();
  for (Status s : {plane->WritePki(), plane->StartEtcd(), plane->StartApiServer()}) {
    if (!s.ok()) return s;
  }
  if (options.controller_manager) {
    if (Status s = plane->StartControllerManager(); !s.ok()) return s;
  }
  return plane;
}

std::string KubeControlPlane::url() const {
  return "https://127.0.0.1:" + std::to_string(api_port_);
}

kube::RestConfig KubeControlPlane::Admin() const {
  return {.server = url(),
          .ca_pem = ca_pem_,
          .token = std::make_shared<kube::StaticTokenSource>(kAdminToken),
          .namespace_name = "default",
          .source = "test control plane admin"};
}

// The API server's serving certificate (for 127.0.0.1), the key that signs
// service-account tokens, and the static token file of the admin.
Status KubeControlPlane::WritePki() {
  StatusOr<TestPki> pki = MakeTestPki("service-account-signer");
  if (!pki.ok()) return pki.status();
  ca_pem_ = pki->ca_pem;
  admin_kubeconfig_ = dir_ / "admin.kubeconfig";
  WriteKubeconfig(admin_kubeconfig_, "admin", kAdminToken, "default");
  for (Status s : {WriteFile(dir_ / "ca.crt", pki->ca_pem),
                   WriteFile(dir_ / "apiserver.crt", pki->server_cert_pem),
                   WriteFile(dir_ / "apiserver.key", pki->server_key_pem),
                   // The client key of the throw-away PKI serves nobody else:
                   // it signs service-account tokens, and its certificate
                   // carries the public key that verifies them.
                   WriteFile(dir_ / "sa.key", pki->client_key_pem),
                   WriteFile(dir_ / "sa.crt", pki->client_cert_pem),
                   WriteFile(dir_ / "audit-policy.yaml",
                             "apiVersion: audit.k8s.io/v1\nkind: Policy\n"
                             "omitStages: [RequestReceived, ResponseStarted]\n"
                             "rules:\n- level: Metadata\n"),
                   WriteFile(dir_ / "tokens.csv",
                             std::string(kAdminToken) + ",admin,admin,\"system:masters\"\n")}) {
    if (!s.ok()) return s;
  }
  return Status::Ok();
}

void KubeControlPlane::WriteKubeconfig(const std::filesystem::path& path, const std::string& user,
                                       const std::string& token, const std::string& ns) const {
  std::ofstream(path) << "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n"
                      << "    server: " << url()
                      << "\n    certificate-authority: " << (dir_ / "ca.crt").string()
                      << "\nusers:\n- name: " << user << "\n  user:\n    token: " << token
                      << "\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: "
                      << user << "\n    namespace: " << ns << "\ncurrent-context: test\n";
}

std::unique_ptr<Subprocess> KubeControlPlane::Spawn(const std::string& binary,
                                                    const std::vector<std::string>& args,
                                                    const std::string& log_name) const {
  std::vector<std::string> argv = {(BinDir() / binary).string()};
  argv.insert(argv.end(), args.begin(), args.end());
  auto process = Subprocess::SpawnLogged(argv, (dir_ / log_name).string());
  return process.ok() ? std::move(process).value() : nullptr;
}

Status KubeControlPlane::StartEtcd() {
  etcd_port_ = FreePort();
  etcd_peer_port_ = FreePort();
  etcd_ = Spawn(
      "etcd",
      {Flag("name", "test"), Flag("data-dir", (dir_ / "etcd").string()),
       Flag("listen-client-urls", Loopback(etcd_port_)),
       Flag("advertise-client-urls", Loopback(etcd_port_)),
       Flag("listen-peer-urls", Loopback(etcd_peer_port_)),
       Flag("initial-advertise-peer-urls", Loopback(etcd_peer_port_)),
       Flag("initial-cluster", "test=" + Loopback(etcd_peer_port_)), Flag("log-level", "warn")},
      "etcd.log");
  return etcd_ ? Status::Ok() : InternalError("cannot start etcd");
}

Status KubeControlPlane::StartApiServer() {
  const std::string d = dir_.string();
  api_server_ = Spawn("kube-apiserver",
                      {Flag("etcd-servers", Loopback(etcd_port_)),
                       Flag("bind-address", "127.0.0.1"),
                       Flag("advertise-address", "127.0.0.1"),
                       Flag("secure-port", std::to_string(api_port_)),
                       Flag("insecure-port", "0"),
                       Flag("tls-cert-file", d + "/apiserver.crt"),
                       Flag("tls-private-key-file", d + "/apiserver.key"),
                       Flag("client-ca-file", d + "/ca.crt"),
                       Flag("token-auth-file", d + "/tokens.csv"),
                       Flag("authorization-mode", "RBAC"),
                       Flag("service-account-key-file", d + "/sa.crt"),
                       Flag("service-account-signing-key-file", d + "/sa.key"),
                       Flag("service-account-issuer", kIssuer),
                       Flag("api-audiences", kIssuer),
                       Flag("service-cluster-ip-range", "10.96.0.0/24"),
                       Flag("cert-dir", d + "/certs"),
                       Flag("anonymous-auth", "false"),
                       Flag("audit-policy-file", d + "/audit-policy.yaml"),
                       Flag("audit-log-path", d + "/audit.log"),
                       Flag("audit-log-format", "json"),
                       Flag("audit-log-mode", "blocking"),
                       Flag("v", "1")},
                      "kube-apiserver.log");
  if (!api_server_) return InternalError("cannot start kube-apiserver");
  if (Status s = WaitReady(std::chrono::seconds(90)); !s.ok()) return s;
  // The default namespace and the bootstrap RBAC appear just after /readyz.
  const bool settled = WaitFor(
      [&] {
        return kubectl({"get", "namespace", "default", "-o", "name"}).exit_code == 0;
      },
      std::chrono::seconds(30));
  return settled ? Status::Ok() : UnavailableError("kube-apiserver: no default namespace");
}

void KubeControlPlane::StopApiServer() { api_server_.reset(); }

Status KubeControlPlane::WaitReady(std::chrono::milliseconds timeout) const {
  RunResult last;
  const bool ready = WaitFor(
      [&] {
        if (api_server_->Wait(std::chrono::milliseconds(0))) return true;  // died
        last = kubectl({"get", "--raw", "/readyz"}, std::chrono::seconds(5));
        return last.exit_code == 0 && last.out == "ok";
      },
      timeout);
  if (ready && last.out == "ok") return Status::Ok();
  std::string log = api_server_->log();
  if (log.size() > 2000) log = log.substr(log.size() - 2000);
  return UnavailableError("kube-apiserver not ready: " + last.err + "\n" + log);
}

Status KubeControlPlane::StartControllerManager() {
  controller_manager_ =
      Spawn("kube-controller-manager",
            {Flag("kubeconfig", admin_kubeconfig_.string()), Flag("bind-address", "127.0.0.1"),
             Flag("secure-port", "0"), Flag("port", "0"), Flag("leader-elect", "false"),
             Flag("service-account-private-key-file", (dir_ / "sa.key").string()),
             Flag("root-ca-file", (dir_ / "ca.crt").string()), Flag("controllers", "*"),
             Flag("concurrent-deployment-syncs", "2"), Flag("v", "1")},
            "kube-controller-manager.log");
  return controller_manager_ ? Status::Ok() : InternalError("cannot start controller manager");
}

RunResult KubeControlPlane::kubectl(const std::vector<std::string>& args,
                                    std::chrono::milliseconds timeout) const {
  std::vector<std::string> argv = {(BinDir() / "kubectl").string(),
                                   "--kubeconfig=" + admin_kubeconfig_.string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunProcess(argv, timeout);
}

RunResult KubeControlPlane::Apply(const std::string& yaml_or_json) const {
  static int applied = 0;
  const std::filesystem::path file = dir_ / ("apply-" + std::to_string(++applied) + ".yaml");
  std::ofstream(file) << yaml_or_json;
  return kubectl({"apply", "-f", file.string()});
}

Status KubeControlPlane::CreateNamespace(const std::string& name) const {
  RunResult r = kubectl({"create", "namespace", name});
  return r.exit_code == 0 ? Status::Ok() : InternalError("create namespace " + name + ": " + r.err);
}

StatusOr<std::filesystem::path> KubeControlPlane::ServiceAccountKubeconfig(
    const std::string& ns, const std::string& name) const {
  const std::filesystem::path request = dir_ / "token-request.json";
  std::ofstream(request) << R"({"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest",)"
                         << R"("spec":{"expirationSeconds":3600}})";
  RunResult r = kubectl({"create", "--raw",
                         "/api/v1/namespaces/" + ns + "/serviceaccounts/" + name + "/token", "-f",
                         request.string()});
  if (r.exit_code != 0) return InternalError("TokenRequest for " + ns + "/" + name + ": " + r.err);
  const nlohmann::json answer = nlohmann::json::parse(r.out, nullptr, false);
  if (!answer.is_object() || !answer["status"]["token"].is_string()) {
    return InternalError("TokenRequest answered without a token: " + r.out);
  }
  const std::filesystem::path path = dir_ / (ns + "-" + name + ".kubeconfig");
  WriteKubeconfig(path, "system:serviceaccount:" + ns + ":" + name,
                  answer["status"]["token"].get<std::string>(), ns);
  return path;
}

std::vector<nlohmann::json> KubeControlPlane::AuditRecords() const {
  std::vector<nlohmann::json> records;
  std::ifstream in(dir_ / "audit.log");
  for (std::string line; std::getline(in, line);) {
    nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
    if (record.is_object()) records.push_back(std::move(record));
  }
  return records;
}

Status KubeControlPlane::CompactEtcd() const {
  // etcd's v3 JSON gateway: read the current revision, compact to it.
  const HttpAnswer range = HttpPost(etcd_port_, "/v3/kv/range", R"({"key":"AA=="})");
  const nlohmann::json parsed = nlohmann::json::parse(range.body, nullptr, false);
  if (range.code != 200 || !parsed.is_object() || !parsed["header"].is_object()) {
    return InternalError("etcd: cannot read the revision: " + range.body);
  }
  const std::string revision = parsed["header"].value("revision", "0");
  const HttpAnswer compact =
      HttpPost(etcd_port_, "/v3/kv/compaction",
               R"({"revision":")" + revision + R"(","physical":true})", std::chrono::seconds(10));
  return compact.code == 200 ? Status::Ok()
                             : InternalError("etcd: compaction failed: " + compact.body);
}

}  // namespace groupscaler::testing
