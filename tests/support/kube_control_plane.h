#pragma once

// A real Kubernetes control plane on loopback for end-to-end tests: etcd,
// kube-apiserver and kube-controller-manager v1.20.2, the binaries that
// scripts/setup-kube builds from Debian's own source (found through
// .tools/kubernetes). The API server runs with TLS (a throw-away CA from
// MakeTestPki), RBAC, static tokens for an admin, and service-account token
// signing, so that a test can run the controller with exactly the rights of
// a ServiceAccount (TokenRequest). There is no kubelet: Pods stay Pending.
//
// Contract:
// * Start() picks free loopback ports, writes everything under `dir`, and
//   returns once /readyz answers ok and the default namespace exists; the
//   destructor kills every process it started.
// * kubectl() runs the real kubectl (1.20, Debian's kubernetes-client) as
//   the admin; Admin() is a KubeClient-ready config for the same identity.
// * ServiceAccountKubeconfig() returns a kubeconfig with a token of
//   system:serviceaccount:NS:NAME (the ServiceAccount must exist).
// * Every request is audited (AuditRecords()), so a test can count what an
//   identity was refused.
// * StopApiServer() / StartApiServer() restart the API server on the same
//   port and etcd; CompactEtcd() compacts etcd's history up to now.
// Not thread-safe: one test thread drives it.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "kube/config.h"
#include "support/subprocess.h"

namespace groupscaler::testing {

class KubeControlPlane {
 public:
  struct Options {
    // Also start kube-controller-manager (ReplicaSets follow Deployments).
    bool controller_manager = true;
  };

  static StatusOr<std::unique_ptr<KubeControlPlane>> Start(const std::filesystem::path& dir,
                                                           Options options);
  static StatusOr<std::unique_ptr<KubeControlPlane>> Start(const std::filesystem::path& dir) {
    return Start(dir, Options{});
  }
  ~KubeControlPlane();
  KubeControlPlane(const KubeControlPlane&) = delete;
  KubeControlPlane& operator=(const KubeControlPlane&) = delete;

  // "https://127.0.0.1:PORT"
  std::string url() const;
  // The admin's kubeconfig (user "admin", group system:masters).
  const std::filesystem::path& admin_kubeconfig() const { return admin_kubeconfig_; }
  // The admin's identity for kube::KubeClient::Create.
  kube::RestConfig Admin() const;

  // Runs kubectl with the admin kubeconfig and `args`.
  RunResult kubectl(const std::vector<std::string>& args,
                    std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;
  // kubectl apply -f - of `yaml_or_json`; the result of kubectl.
  RunResult Apply(const std::string& yaml_or_json) const;

  // Creates namespace `name` (and fails the caller's Status otherwise).
  Status CreateNamespace(const std::string& name) const;
  // A kubeconfig file whose user is ServiceAccount `ns`/`name`, with a token
  // from the TokenRequest API valid for an hour, and `ns` as its namespace.
  StatusOr<std::filesystem::path> ServiceAccountKubeconfig(const std::string& ns,
                                                           const std::string& name) const;

  // Kills the API server (SIGKILL) / starts it again on the same port.
  void StopApiServer();
  Status StartApiServer();
  // Compacts etcd's history up to its current revision, so that watches
  // from any older resourceVersion get 410 Gone.
  Status CompactEtcd() const;

  // The API server's audit records so far (level Metadata, stage
  // ResponseComplete): who asked what, and the answer's code.
  std::vector<nlohmann::json> AuditRecords() const;

  const std::filesystem::path& dir() const { return dir_; }
  // The directory with kubectl, kube-apiserver, ... (.tools/kubernetes/bin).
  static std::filesystem::path BinDir();

 private:
  KubeControlPlane(std::filesystem::path dir, Options options);
  Status WritePki();
  Status StartEtcd();
  Status StartControllerManager();
  Status WaitReady(std::chrono::milliseconds timeout) const;
  void WriteKubeconfig(const std::filesystem::path& path, const std::string& user,
                       const std::string& token, const std::string& ns) const;
  std::unique_ptr<Subprocess> Spawn(const std::string& binary, const std::vector<std::string>& args,
                                    const std::string& log_name) const;

  const std::filesystem::path dir_;
  const Options options_;
  int etcd_port_ = 0;
  int etcd_peer_port_ = 0;
  int api_port_ = 0;
  std::string ca_pem_;
  std::filesystem::path admin_kubeconfig_;
  std::unique_ptr<Subprocess> etcd_;
  std::unique_ptr<Subprocess> api_server_;
  std::unique_ptr<Subprocess> controller_manager_;
};

}  // namespace groupscaler::testing
