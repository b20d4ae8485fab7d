#pragma once

// The Kubernetes side of the soak: the real control plane (the default), or
// the project's own test API server (--api test-server), which can answer
// 429s and 500s and stall on demand, as no real server can be made to.
// Everything the soak asks of Kubernetes goes through here, as the admin;
// the controllers get a kubeconfig of their own identity.

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "soak/invariants.h"

namespace groupscaler::soak {

// Where the soak's objects live, and the controllers' Lease.
inline constexpr char kNamespace[] = "soak";
inline constexpr char kSystemNamespace[] = "groupscaler";  // the chart's
inline constexpr char kLease[] = "groupscaler-controller";

class KubeSide {
 public:
  virtual ~KubeSide() = default;

  // Starts the server and makes the namespaces, the CRD and the
  // controllers' rights; a Status naming what failed.
  virtual Status Start(const std::filesystem::path& dir) = 0;
  // Creates `object` in its namespace, or replaces its spec (data, ...)
  // when it exists, as `kubectl apply` would.
  virtual Status Apply(const nlohmann::json& object) = 0;
  // Deletes `resource` ("deployments", "consumergroupautoscalers") `name`
  // in kNamespace.
  virtual Status Delete(const std::string& resource, const std::string& name) = 0;
  // A GET of `path` ("/apis/apps/v1/namespaces/soak/deployments").
  virtual StatusOr<std::string> Get(const std::string& path) = 0;
  // The kubeconfig controller `slot` (0 or 1) runs with.
  virtual StatusOr<std::filesystem::path> Kubeconfig(size_t slot) = 0;
  // The user the server records controller `slot`'s requests as.
  virtual std::string UserOf(size_t slot) const = 0;
  // The controllers' writes made while the other held the Lease.
  virtual std::vector<ForeignWrite> WritesOutsideTheirTerm() = 0;
  // The API fault of the schedule in this variant; what it did, for the log.
  virtual StatusOr<std::string> ApiFault(std::chrono::seconds outage) = 0;
  // The history fault: etcd compacted, or the test server's history
  // forgotten and its watches cut.
  virtual StatusOr<std::string> HistoryFault() = 0;
};

std::unique_ptr<KubeSide> RealControlPlane();
std::unique_ptr<KubeSide> TestApiServer();

}  // namespace groupscaler::soak
