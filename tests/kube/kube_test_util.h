#pragma once

// Shared by the kube tests: a scratch directory and a client wired to a
// fresh test API server.

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "common/clock.h"
#include "kube/kube_client.h"
#include "support/kube_api_server.h"

namespace groupscaler::kube {

// A directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kube_test_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string Write(const std::string& name, const std::string& content) const {
    std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
    return p;
  }

 private:
  std::string path_;
};

inline ClientOptions FastOptions() {
  ClientOptions o;
  o.qps = 0;  // unlimited unless a test is about the limit
  o.timeout = std::chrono::milliseconds(5000);
  o.backoff_base = std::chrono::milliseconds(5);
  o.backoff_max = std::chrono::milliseconds(40);
  return o;
}

inline std::unique_ptr<testing::KubeApiServer> StartServer(
    testing::KubeApiServer::Options options = {}) {
  auto server = testing::KubeApiServer::Start(options);
  EXPECT_TRUE(server.ok()) << server.status().ToString();
  return server.ok() ? std::move(*server) : nullptr;
}

inline std::unique_ptr<KubeClient> ClientFor(const testing::KubeApiServer& server,
                                             ClientOptions options = FastOptions(),
                                             const Clock* clock = nullptr,
                                             std::shared_ptr<TokenSource> token = nullptr) {
  RestConfig config;
  config.server = server.url();
  config.token = std::move(token);
  auto client = KubeClient::Create(config, options, clock);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(*client) : nullptr;
}

// Objects for seeding the server.
inline std::string DeploymentJson(const std::string& ns, const std::string& name, int spec,
                                  int status) {
  return R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":")" + name +
         R"(","namespace":")" + ns + R"("},"spec":{"replicas":)" + std::to_string(spec) +
         R"(,"selector":{"matchLabels":{"app":")" + name + R"("}}},"status":{"replicas":)" +
         std::to_string(status) + "}}";
}

inline std::string AutoscalerJson(const std::string& ns, const std::string& name,
                                  int max_replicas = 10) {
  return R"({"apiVersion":"groupscaler.io/v1alpha1","kind":"ConsumerGroupAutoscaler","metadata":{"name":")" +
         name + R"(","namespace":")" + ns +
         R"("},"spec":{"scaleTargetRef":{"kind":"Deployment","name":")" + name +
         R"("},"kafka":{"bootstrapServers":["b-1:9092"],"groupId":")" + name +
         R"(","topics":["orders"]},"maxReplicas":)" + std::to_string(max_replicas) + "}}";
}

}  // namespace groupscaler::kube
