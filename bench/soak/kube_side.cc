#include "soak/kube_side.h"

#include <fmt/format.h>

#include <fstream>
#include <thread>

#include "kube/kube_client.h"
#include "support/kube_api_server.h"
#include "support/kube_control_plane.h"
#include "support/subprocess.h"

namespace groupscaler::soak {
namespace {

using nlohmann::json;
using testing::RunResult;

// The two controllers' ServiceAccounts (the chart's, and one bound to the
// chart's roles) on the real server; their bearer tokens on the test one.
const char* const kIdentities[] = {"groupscaler", "groupscaler-standby"};

std::string SourcePath(const std::string& relative) {
  return std::string(GROUPSCALER_SOURCE_DIR) + "/" + relative;
}

Status FromRun(const RunResult& r, const std::string& what) {
  if (r.exit_code == 0) return Status::Ok();
  return InternalError(what + ": exit " + std::to_string(r.exit_code) + ": " + r.err + r.out);
}

class RealControlPlaneSide final : public KubeSide {
 public:
  Status Start(const std::filesystem::path& dir) override {
    // No kube-controller-manager: the soak itself runs each Deployment's
    // consumer replicas, as the kubelet would run its pods.
    auto plane = testing::KubeControlPlane::Start(dir, {.controller_manager = false});
    if (!plane.ok()) return plane.status();
    plane_ = std::move(plane).value();
    auto admin = kube::KubeClient::Create(plane_->Admin());
    if (!admin.ok()) return admin.status();
    admin_ = std::move(admin).value();
    if (Status s = plane_->CreateNamespace(kNamespace); !s.ok()) return s;
    return InstallChart();
  }

  Status Apply(const json& object) override {
    return FromRun(plane_->Apply(object.dump()), "kubectl apply " + object.value("kind", ""));
  }

  Status Delete(const std::string& resource, const std::string& name) override {
    return FromRun(plane_->kubectl({"delete", resource, name, "-n", kNamespace}),
                   "kubectl delete " + resource + " " + name);
  }

  StatusOr<std::string> Get(const std::string& path) override {
    return admin_->rest().Call("GET", path);
  }

  StatusOr<std::filesystem::path> Kubeconfig(size_t slot) override {
    return plane_->ServiceAccountKubeconfig(kSystemNamespace, kIdentities[slot]);
  }

  std::string UserOf(size_t slot) const override {
    return std::string("system:serviceaccount:") + kSystemNamespace + ":" + kIdentities[slot];
  }

  // From the audit log.
  std::vector<ForeignWrite> WritesOutsideTheirTerm() override {
    return soak::WritesOutsideTheirTerm(plane_->AuditRecords(), {UserOf(0), UserOf(1)}, kLease);
  }

  StatusOr<std::string> ApiFault(std::chrono::seconds outage) override {
    plane_->StopApiServer();
    std::this_thread::sleep_for(outage);
    if (Status s = plane_->StartApiServer(); !s.ok()) return s;
    return std::string("kube-apiserver SIGKILLed, started again after the outage");
  }

  StatusOr<std::string> HistoryFault() override {
    if (Status s = plane_->CompactEtcd(); !s.ok()) return s;
    return std::string("etcd compacted");
  }

 private:
  // The chart with the real helm, as a user installs it, and a second
  // ServiceAccount with the same rights for the standby controller.
  Status InstallChart() {
    const RunResult helm = testing::RunProcess(
        {SourcePath(".tools/bin/helm"), "--kubeconfig=" + plane_->admin_kubeconfig().string(),
         "upgrade", "--install", "groupscaler", SourcePath("charts/groupscaler"), "--namespace",
         kSystemNamespace, "--create-namespace", "--wait=false"},
        std::chrono::seconds(120));
    if (Status s = FromRun(helm, "helm upgrade --install"); !s.ok()) return s;
    const std::string sa = std::string(kSystemNamespace) + ":" + kIdentities[1];
    for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
             {"create", "serviceaccount", kIdentities[1], "-n", kSystemNamespace},
             {"create", "clusterrolebinding", kIdentities[1], "--clusterrole=groupscaler",
              "--serviceaccount=" + sa},
             {"create", "rolebinding", kIdentities[1], "-n", kSystemNamespace,
              "--role=groupscaler-leader-election", "--serviceaccount=" + sa},
             {"wait", "--for=condition=established", "--timeout=60s",
              "customresourcedefinition/consumergroupautoscalers.groupscaler.io"}}) {
      if (Status s = FromRun(plane_->kubectl(args), "kubectl " + args[0] + " " + args[1]);
          !s.ok()) {
        return s;
      }
    }
    return Status::Ok();
  }

  std::unique_ptr<testing::KubeControlPlane> plane_;
  std::unique_ptr<kube::KubeClient> admin_;
};

// The collection path of `kind` in `namespace_name`.
std::string CollectionPath(const std::string& kind, const std::string& namespace_name) {
  if (kind == "Deployment") return "/apis/apps/v1/namespaces/" + namespace_name + "/deployments";
  if (kind == "Secret") return "/api/v1/namespaces/" + namespace_name + "/secrets";
  return "/apis/groupscaler.io/v1alpha1/namespaces/" + namespace_name + "/consumergroupautoscalers";
}

class TestApiServerSide final : public KubeSide {
 public:
  Status Start(const std::filesystem::path& dir) override {
    dir_ = dir;
    std::filesystem::create_directories(dir);
    auto server = testing::KubeApiServer::Start();
    if (!server.ok()) return server.status();
    server_ = std::move(server).value();
    auto admin = kube::KubeClient::Create(
        {.server = server_->url(), .token = std::make_shared<kube::StaticTokenSource>("admin")});
    if (!admin.ok()) return admin.status();
    admin_ = std::move(admin).value();
    return Status::Ok();
  }

  // POST, and PUT over what exists (the test server keeps the status).
  Status Apply(const json& object) override {
    const std::string path =
        CollectionPath(object.value("kind", ""), object["metadata"].value("namespace", ""));
    StatusOr<std::string> created =
        admin_->rest().Call("POST", path, "application/json", object.dump());
    if (created.ok() || created.status().code() != StatusCode::kAlreadyExists) {
      return created.status();
    }
    const std::string name = object["metadata"].value("name", "");
    return admin_->rest()
        .Call("PUT", path + "/" + name, "application/json", object.dump())
        .status();
  }

  Status Delete(const std::string& resource, const std::string& name) override {
    const std::string path = resource == "deployments"
                                 ? CollectionPath("Deployment", kNamespace)
                                 : CollectionPath("ConsumerGroupAutoscaler", kNamespace);
    return admin_->rest().Call("DELETE", path + "/" + name).status();
  }

  StatusOr<std::string> Get(const std::string& path) override {
    return admin_->rest().Call("GET", path);
  }

  StatusOr<std::filesystem::path> Kubeconfig(size_t slot) override {
    const std::filesystem::path path = dir_ / fmt::format("{}.kubeconfig", kIdentities[slot]);
    std::ofstream(path) << "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n"
                        << "    server: " << server_->url() << "\nusers:\n- name: test\n  user:\n"
                        << "    token: " << kIdentities[slot] << "\ncontexts:\n- name: test\n"
                        << "  context:\n    cluster: test\n    user: test\n    namespace: "
                        << kSystemNamespace << "\ncurrent-context: test\n";
    return path;
  }

  std::string UserOf(size_t slot) const override { return kIdentities[slot]; }

  // From the server's request log, in the order received: a Lease write that
  // succeeded starts its sender's term.
  std::vector<ForeignWrite> WritesOutsideTheirTerm() override {
    std::vector<ForeignWrite> found;
    std::string holder;
    for (const testing::RecordedRequest& r : server_->Requests()) {
      const std::string user = r.authorization.substr(r.authorization.find(' ') + 1);
      if (user != kIdentities[0] && user != kIdentities[1]) continue;
      if (r.method == "GET") continue;
      if (r.path.find("/leases/") != std::string::npos || r.path.ends_with("/leases")) {
        if (r.response_code >= 200 && r.response_code < 300) holder = user;
      } else if (user != holder) {
        found.push_back({user, holder.empty() ? "nobody" : holder, r.method + " " + r.path,
                         std::chrono::duration<double>(r.received.time_since_epoch()).count()});
      }
    }
    return found;
  }

  // 429s (Retry-After 1), then 1.5 s of latency on every request, then
  // 500s, each phase as long as the real server's outage.
  StatusOr<std::string> ApiFault(std::chrono::seconds outage) override {
    server_->InjectFault({.count = 40, .status_code = 429, .retry_after_seconds = 1});
    std::this_thread::sleep_for(outage);
    server_->ClearFaults();
    server_->InjectFault({.kind = testing::Fault::Kind::kLatency,
                          .count = 200,
                          .latency = std::chrono::milliseconds(1500)});
    std::this_thread::sleep_for(outage);
    server_->ClearFaults();
    server_->InjectFault({.count = 40, .status_code = 500});
    std::this_thread::sleep_for(outage);
    server_->ClearFaults();
    return std::string("40 × 429 (Retry-After 1), 1.5 s latency, 40 × 500");
  }

  StatusOr<std::string> HistoryFault() override {
    server_->CompactHistory();
    server_->BreakWatches();
    return std::string("the test server's history forgotten, every watch cut");
  }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<testing::KubeApiServer> server_;
  std::unique_ptr<kube::KubeClient> admin_;
};

}  // namespace

std::unique_ptr<KubeSide> RealControlPlane() { return std::make_unique<RealControlPlaneSide>(); }
std::unique_ptr<KubeSide> TestApiServer() { return std::make_unique<TestApiServerSide>(); }

}  // namespace groupscaler::soak
