// HTTPS end to end: a kubeconfig with a CA and a client certificate, loaded
// by LoadKubeconfigFile, used by KubeClient against the test API server
// over TLS. TLS is always verified, so the wrong CA must fail.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdlib>
#include <mutex>

#include "common/base64.h"
#include "kube_test_util.h"

namespace groupscaler::kube {
namespace {

using ::testing::HasSubstr;

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pki = testing::MakeTestPki("groupscaler-controller");
    ASSERT_TRUE(pki.ok()) << pki.status().ToString();
    pki_ = *pki;
  }

  std::unique_ptr<testing::KubeApiServer> StartTls(bool require_client_cert) {
    testing::KubeApiServer::Options o;
    o.tls_cert_pem = pki_.server_cert_pem;
    o.tls_key_pem = pki_.server_key_pem;
    if (require_client_cert) o.client_ca_pem = pki_.ca_pem;
    return StartServer(o);
  }

  // A kubeconfig for `server` with the CA as a file and the user as given.
  std::string WriteKubeconfig(const testing::KubeApiServer& server, const std::string& ca_pem,
                              const std::string& user) {
    dir_.Write("ca.crt", ca_pem);
    return dir_.Write("config",
                      "apiVersion: v1\nkind: Config\ncurrent-context: test\n"
                      "clusters:\n- name: c\n  cluster:\n    server: " +
                          server.url() +
                          "\n    certificate-authority: ca.crt\n"
                          "contexts:\n- name: test\n  context: {cluster: c, user: u}\n"
                          "users:\n- name: u\n  user:\n" +
                          user);
  }

  // ListHpas on `server` through a kubeconfig trusting `ca_pem`, no retries.
  StatusOr<std::vector<HpaInfo>> ListHpasTrusting(const testing::KubeApiServer& server,
                                                  const std::string& ca_pem) {
    auto config = LoadKubeconfigFile(WriteKubeconfig(server, ca_pem, "    token: t\n"));
    if (!config.ok()) return config.status();
    ClientOptions options = FastOptions();
    options.max_retries = 0;
    auto client = KubeClient::Create(*config, options);
    if (!client.ok()) return client.status();
    return (*client)->ListHpas("ns");
  }

  testing::TestPki pki_;
  TempDir dir_;
};

TEST_F(TlsTest, TokenOverVerifiedTls) {
  auto server = StartTls(false);
  ASSERT_NE(server, nullptr);
  EXPECT_THAT(server->url(), ::testing::StartsWith("https://127.0.0.1:"));
  ASSERT_TRUE(server->Upsert("deployments", DeploymentJson("ns", "d", 3, 3)).ok());
  auto config = LoadKubeconfigFile(WriteKubeconfig(*server, pki_.ca_pem, "    token: tls-token\n"));
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto client = KubeClient::Create(*config, FastOptions());
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  auto scale = (*client)->GetScale({WorkloadKind::kDeployment, "ns", "d"});
  ASSERT_TRUE(scale.ok()) << scale.status().ToString();
  EXPECT_EQ(scale->spec_replicas, 3);
  EXPECT_EQ(server->Requests().back().authorization, "Bearer tls-token");
}

TEST_F(TlsTest, ClientCertificateIsPresented) {
  auto server = StartTls(true);
  ASSERT_NE(server, nullptr);
  auto config = LoadKubeconfigFile(
      WriteKubeconfig(*server, pki_.ca_pem,
                      "    client-certificate-data: " + Base64Encode(pki_.client_cert_pem) +
                          "\n    client-key-data: " + Base64Encode(pki_.client_key_pem) + "\n"));
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  auto client = KubeClient::Create(*config, FastOptions());
  ASSERT_TRUE(client.ok());
  auto hpas = (*client)->ListHpas("ns");
  ASSERT_TRUE(hpas.ok()) << hpas.status().ToString();
  ASSERT_FALSE(server->Requests().empty());
  EXPECT_EQ(server->Requests().back().client_common_name, "groupscaler-controller");
}

TEST_F(TlsTest, MissingClientCertificateIsRefused) {
  auto server = StartTls(true);
  ASSERT_NE(server, nullptr);
  auto config = LoadKubeconfigFile(WriteKubeconfig(*server, pki_.ca_pem, "    token: t\n"));
  ASSERT_TRUE(config.ok());
  ClientOptions options = FastOptions();
  options.max_retries = 0;
  auto client = KubeClient::Create(*config, options);
  ASSERT_TRUE(client.ok());
  auto hpas = (*client)->ListHpas("ns");
  ASSERT_FALSE(hpas.ok());
  EXPECT_EQ(hpas.status().code(), StatusCode::kUnavailable) << hpas.status().ToString();
  EXPECT_TRUE(server->Requests().empty());
}

TEST_F(TlsTest, ServerSignedByAnotherCaIsRefused) {
  auto server = StartTls(false);
  ASSERT_NE(server, nullptr);
  auto other = testing::MakeTestPki();
  ASSERT_TRUE(other.ok());
  auto hpas = ListHpasTrusting(*server, other->ca_pem);
  ASSERT_FALSE(hpas.ok());
  EXPECT_EQ(hpas.status().code(), StatusCode::kUnavailable) << hpas.status().ToString();
  EXPECT_TRUE(server->Requests().empty()) << "no request may cross an unverified connection";
}

// The kubeconfig's CA is the only one trusted, as with client-go: a server
// whose certificate chains to a system root (here the test CA, made one
// through SSL_CERT_FILE, which OpenSSL's default paths read) but not to the
// kubeconfig's CA is refused.
TEST_F(TlsTest, OnlyTheKubeconfigCaIsTrustedNotTheSystemRoots) {
  auto server = StartTls(false);
  ASSERT_NE(server, nullptr);
  auto other = testing::MakeTestPki();
  ASSERT_TRUE(other.ok());
  const std::string roots = dir_.Write("system-roots.pem", pki_.ca_pem);
  const char* saved = std::getenv("SSL_CERT_FILE");
  const std::string previous = saved != nullptr ? saved : "";
  ::setenv("SSL_CERT_FILE", roots.c_str(), 1);
  auto hpas = ListHpasTrusting(*server, other->ca_pem);
  if (saved != nullptr) {
    ::setenv("SSL_CERT_FILE", previous.c_str(), 1);
  } else {
    ::unsetenv("SSL_CERT_FILE");
  }
  ASSERT_FALSE(hpas.ok()) << "a system root was trusted beside the kubeconfig's CA";
  EXPECT_EQ(hpas.status().code(), StatusCode::kUnavailable) << hpas.status().ToString();
  EXPECT_TRUE(server->Requests().empty());
}

TEST_F(TlsTest, WatchOverTls) {
  auto server = StartTls(false);
  ASSERT_NE(server, nullptr);
  auto config = LoadKubeconfigFile(WriteKubeconfig(*server, pki_.ca_pem, "    token: t\n"));
  ASSERT_TRUE(config.ok());
  auto client = KubeClient::Create(*config, FastOptions());
  ASSERT_TRUE(client.ok());
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> names;
  auto watch = (*client)->WatchAutoscalers("ns", {.on_event = [&](const AutoscalerEvent& e) {
                                             std::lock_guard<std::mutex> lock(mu);
                                             names.push_back(e.object.metadata.name);
                                             cv.notify_all();
                                           }});
  ASSERT_TRUE(server->WaitForWatches(1, std::chrono::milliseconds(10000)));
  ASSERT_TRUE(server->Upsert("consumergroupautoscalers", AutoscalerJson("ns", "x")).ok());
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return !names.empty(); }));
  EXPECT_EQ(names[0], "x");
}

}  // namespace
}  // namespace groupscaler::kube
