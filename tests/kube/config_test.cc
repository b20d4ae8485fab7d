#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "common/base64.h"
#include "kube/config.h"
#include "kube_test_util.h"

namespace groupscaler::kube {
namespace {

using ::testing::HasSubstr;

constexpr char kCa[] = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";
constexpr char kCert[] = "-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n";
constexpr char kKey[] = "-----BEGIN PRIVATE KEY-----\nKEY\n-----END PRIVATE KEY-----\n";

std::string Kubeconfig(const std::string& cluster, const std::string& user,
                       const std::string& current = "dev") {
  return "apiVersion: v1\nkind: Config\ncurrent-context: " + current +
         "\n"
         "contexts:\n"
         "- name: dev\n  context: {cluster: c1, user: u1, namespace: payments}\n"
         "- name: other\n  context: {cluster: c2, user: u2}\n"
         "- name: no-cluster\n  context: {cluster: missing, user: u1}\n"
         "- name: no-user\n  context: {cluster: c1, user: missing}\n"
         "clusters:\n"
         "- name: c1\n  cluster:\n" +
         cluster +
         "- name: c2\n  cluster: {server: 'https://other.example:6443/'}\n"
         "users:\n"
         "- name: u1\n  user:\n" +
         user + "- name: u2\n  user: {token: other-token}\n";
}

struct KubeconfigCase {
  std::string name;
  std::string cluster = "    server: https://api.example:6443\n";
  std::string user = "    token: abc\n";
  std::string context;
  std::string current = "dev";
  // Expectations when ok.
  std::string server = "https://api.example:6443";
  std::string token = "abc";
  std::string ns = "payments";
  std::string ca;
  std::string cert;
  std::string key;
  // Expectations when not ok.
  StatusCode code = StatusCode::kOk;
  std::string error;
};

class KubeconfigTest : public ::testing::TestWithParam<KubeconfigCase> {};

TEST_P(KubeconfigTest, Parses) {
  const KubeconfigCase& c = GetParam();
  TempDir dir;
  dir.Write("ca.pem", kCa);
  dir.Write("client.crt", kCert);
  dir.Write("client.key", kKey);
  dir.Write("token", "  file-token\n");
  std::string path = dir.Write("config", Kubeconfig(c.cluster, c.user, c.current));

  auto config = LoadKubeconfigFile(path, c.context);
  if (c.code != StatusCode::kOk) {
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), c.code) << config.status().ToString();
    EXPECT_THAT(config.status().message(), HasSubstr(c.error));
    EXPECT_THAT(config.status().message(), HasSubstr(path)) << "errors name the file";
    return;
  }
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->server, c.server);
  EXPECT_EQ(config->namespace_name, c.ns);
  EXPECT_EQ(config->ca_pem, c.ca);
  EXPECT_EQ(config->client_cert_pem, c.cert);
  EXPECT_EQ(config->client_key_pem, c.key);
  if (c.token.empty()) {
    EXPECT_EQ(config->token, nullptr);
  } else {
    ASSERT_NE(config->token, nullptr);
    auto token = config->token->Token();
    ASSERT_TRUE(token.ok());
    EXPECT_EQ(*token, c.token);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Cases, KubeconfigTest,
    ::testing::Values(KubeconfigCase{.name = "current_context_with_token"},
                      KubeconfigCase{.name = "named_context",
                                     .context = "other",
                                     .server = "https://other.example:6443",
                                     .token = "other-token",
                                     .ns = ""},
                      KubeconfigCase{.name = "ca_file_relative_to_kubeconfig",
                                     .cluster = "    server: https://api.example:6443\n"
                                                "    certificate-authority: ca.pem\n",
                                     .ca = kCa},
                      KubeconfigCase{.name = "ca_data_base64",
                                     .cluster = "    server: https://api.example:6443\n"
                                                "    certificate-authority-data: " +
                                                Base64Encode(kCa) + "\n",
                                     .ca = kCa},
                      KubeconfigCase{.name = "client_cert_files",
                                     .user = "    client-certificate: client.crt\n"
                                             "    client-key: client.key\n",
                                     .token = "",
                                     .cert = kCert,
                                     .key = kKey},
                      KubeconfigCase{.name = "client_cert_data",
                                     .user = "    client-certificate-data: " + Base64Encode(kCert) +
                                             "\n    client-key-data: " + Base64Encode(kKey) + "\n",
                                     .token = "",
                                     .cert = kCert,
                                     .key = kKey},
                      KubeconfigCase{.name = "token_file",
                                     .user = "    tokenFile: token\n",
                                     .token = "file-token"},
                      KubeconfigCase{.name = "exec_user_not_supported",
                                     .user = "    exec: {command: aws, apiVersion: "
                                             "client.authentication.k8s.io/v1beta1}\n",
                                     .code = StatusCode::kUnimplemented,
                                     .error = "exec"},
                      KubeconfigCase{.name = "auth_provider_not_supported",
                                     .user = "    auth-provider: {name: gcp}\n",
                                     .code = StatusCode::kUnimplemented,
                                     .error = "auth-provider"},
                      KubeconfigCase{.name = "basic_auth_not_supported",
                                     .user = "    username: admin\n    password: secret\n",
                                     .code = StatusCode::kUnimplemented,
                                     .error = "basic"},
                      KubeconfigCase{.name = "unknown_context",
                                     .context = "nope",
                                     .code = StatusCode::kInvalidArgument,
                                     .error = "context \"nope\" not found"},
                      KubeconfigCase{.name = "no_current_context",
                                     .current = "\"\"",
                                     .code = StatusCode::kInvalidArgument,
                                     .error = "no current-context"},
                      KubeconfigCase{.name = "missing_cluster",
                                     .context = "no-cluster",
                                     .code = StatusCode::kInvalidArgument,
                                     .error = "cluster \"missing\""},
                      KubeconfigCase{.name = "missing_user",
                                     .context = "no-user",
                                     .code = StatusCode::kInvalidArgument,
                                     .error = "user \"missing\""},
                      KubeconfigCase{.name = "no_server",
                                     .cluster = "    certificate-authority: ca.pem\n",
                                     .code = StatusCode::kInvalidArgument,
                                     .error = "has no server"},
                      KubeconfigCase{.name = "insecure_refused",
                                     .cluster = "    server: https://api.example:6443\n"
                                                "    insecure-skip-tls-verify: true\n",
                                     .code = StatusCode::kInvalidArgument,
                                     .error = "insecure-skip-tls-verify"},
                      KubeconfigCase{.name = "missing_ca_file",
                                     .cluster = "    server: https://api.example:6443\n"
                                                "    certificate-authority: nope.pem\n",
                                     .code = StatusCode::kInvalidArgument,
                                     .error = "nope.pem"},
                      KubeconfigCase{.name = "bad_ca_data",
                                     .cluster = "    server: https://api.example:6443\n"
                                                "    certificate-authority-data: '!!!'\n",
                                     .code = StatusCode::kInvalidArgument,
                                     .error = "not valid base64"},
                      KubeconfigCase{.name = "cert_without_key",
                                     .user = "    client-certificate: client.crt\n",
                                     .code = StatusCode::kInvalidArgument,
                                     .error = "together"}),
    [](const auto& info) { return info.param.name; });

TEST(KubeconfigFileTest, MissingFileNamesThePath) {
  auto config = LoadKubeconfigFile("/nonexistent/dir/kubeconfig");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("/nonexistent/dir/kubeconfig"));
}

TEST(KubeconfigFileTest, MalformedYamlNamesThePath) {
  TempDir dir;
  std::string path = dir.Write("config", "clusters: [unclosed\n  - {");
  auto config = LoadKubeconfigFile(path);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr(path));
}

TEST(KubeconfigFileTest, DirectoryIsAnError) {
  TempDir dir;
  auto config = LoadKubeconfigFile(dir.path());
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr(dir.path()));
  EXPECT_THAT(config.status().message(), HasSubstr("is a directory"));
}

TEST(KubeconfigFileTest, NotAMap) {
  TempDir dir;
  std::string path = dir.Write("config", "- just\n- a list\n");
  auto config = LoadKubeconfigFile(path);
  ASSERT_FALSE(config.ok());
  EXPECT_THAT(config.status().message(), HasSubstr("not a kubeconfig"));
}

struct LoadRestConfigCase {
  std::string name;
  std::string flag;                        // "FLAG" is replaced by the flag kubeconfig's path
  std::map<std::string, std::string> env;  // "DIR" in values is the scratch dir
  std::string context;
  std::string want_server;
  std::string want_source;  // substring
  std::string error;        // substring, when an error is expected
};

class LoadRestConfigTest : public ::testing::TestWithParam<LoadRestConfigCase> {};

TEST_P(LoadRestConfigTest, ChoosesTheSource) {
  const auto& c = GetParam();
  TempDir dir;
  auto kubeconfig = [](const std::string& server) {
    return "current-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
           "- name: y\n  context: {cluster: c, user: u}\n"
           "clusters:\n- name: c\n  cluster: {server: '" +
           server + "'}\nusers:\n- name: u\n  user: {token: t}\n";
  };
  std::string flag_path = dir.Write("flag-config", kubeconfig("https://flag:6443"));
  dir.Write("env-config", kubeconfig("https://env:6443"));
  std::filesystem::create_directories(dir.path() + "/home/.kube");
  dir.Write("home/.kube/config", kubeconfig("https://home:6443"));
  dir.Write("token", "sa");
  dir.Write("ca.crt", kCa);
  InClusterPaths paths{.token_file = dir.path() + "/token",
                       .ca_file = dir.path() + "/ca.crt",
                       .namespace_file = dir.path() + "/none"};
  auto subst = [&](std::string v) {
    for (size_t p; (p = v.find("DIR")) != std::string::npos;) v.replace(p, 3, dir.path());
    return v;
  };
  EnvLookup env = [&](const std::string& k) -> std::optional<std::string> {
    auto it = c.env.find(k);
    if (it == c.env.end()) return std::nullopt;
    return subst(it->second);
  };
  auto config = LoadRestConfig(c.flag == "FLAG" ? flag_path : c.flag, c.context, env, paths);
  if (!c.error.empty()) {
    ASSERT_FALSE(config.ok());
    EXPECT_THAT(config.status().message(), HasSubstr(c.error));
    return;
  }
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->server, c.want_server);
  EXPECT_THAT(config->source, HasSubstr(c.want_source));
}

const std::map<std::string, std::string> kInPod = {{"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                                                   {"KUBERNETES_SERVICE_PORT", "443"},
                                                   {"HOME", "DIR/home"}};

INSTANTIATE_TEST_SUITE_P(
    Cases, LoadRestConfigTest,
    ::testing::Values(LoadRestConfigCase{.name = "flag_wins",
                                         .flag = "FLAG",
                                         .env = {{"KUBECONFIG", "DIR/env-config"},
                                                 {"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                                                 {"KUBERNETES_SERVICE_PORT", "443"}},
                                         .want_server = "https://flag:6443",
                                         .want_source = "flag-config (context x)"},
                      LoadRestConfigCase{.name = "kubeconfig_env_before_in_cluster",
                                         .env = {{"KUBECONFIG", "DIR/env-config"},
                                                 {"KUBERNETES_SERVICE_HOST", "10.0.0.1"},
                                                 {"KUBERNETES_SERVICE_PORT", "443"}},
                                         .context = "y",
                                         .want_server = "https://env:6443",
                                         .want_source = "(context y)"},
                      LoadRestConfigCase{.name = "in_cluster",
                                         .env = kInPod,
                                         .want_server = "https://10.0.0.1:443",
                                         .want_source = "in-cluster"},
                      LoadRestConfigCase{.name = "home_last",
                                         .env = {{"HOME", "DIR/home"}},
                                         .want_server = "https://home:6443",
                                         .want_source = "/home/.kube/config"},
                      LoadRestConfigCase{.name = "several_kubeconfigs_refused",
                                         .env = {{"KUBECONFIG", "DIR/a:DIR/b"}},
                                         .error = "merging them is not supported"},
                      LoadRestConfigCase{.name = "context_in_cluster_refused",
                                         .env = kInPod,
                                         .context = "x",
                                         .error = "needs a kubeconfig"},
                      LoadRestConfigCase{
                          .name = "nothing_at_all", .env = {}, .error = "no Kubernetes config"},
                      LoadRestConfigCase{.name = "missing_flag_file",
                                         .flag = "/nonexistent/kubeconfig",
                                         .error = "/nonexistent/kubeconfig"}),
    [](const auto& info) { return info.param.name; });

struct InClusterCase {
  std::string name;
  std::map<std::string, std::string> env;
  bool write_token = true;
  bool write_ca = true;
  std::string server;  // expected when ok
  StatusCode code = StatusCode::kOk;
  std::string error;
};

class InClusterTest : public ::testing::TestWithParam<InClusterCase> {};

TEST_P(InClusterTest, Loads) {
  const InClusterCase& c = GetParam();
  TempDir dir;
  InClusterPaths paths{.token_file = dir.path() + "/token",
                       .ca_file = dir.path() + "/ca.crt",
                       .namespace_file = dir.path() + "/namespace"};
  if (c.write_token) dir.Write("token", "sa-token\n");
  if (c.write_ca) dir.Write("ca.crt", kCa);
  dir.Write("namespace", "groupscaler-system\n");
  EnvLookup env = [&](const std::string& k) -> std::optional<std::string> {
    auto it = c.env.find(k);
    if (it == c.env.end()) return std::nullopt;
    return it->second;
  };
  auto config = LoadInClusterConfig(env, paths);
  if (c.code != StatusCode::kOk) {
    ASSERT_FALSE(config.ok());
    EXPECT_EQ(config.status().code(), c.code) << config.status().ToString();
    EXPECT_THAT(config.status().message(), HasSubstr(c.error));
    return;
  }
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->server, c.server);
  EXPECT_EQ(config->ca_pem, kCa);
  EXPECT_EQ(config->namespace_name, "groupscaler-system");
  ASSERT_NE(config->token, nullptr);
  EXPECT_EQ(*config->token->Token(), "sa-token");
}

INSTANTIATE_TEST_SUITE_P(
    Cases, InClusterTest,
    ::testing::Values(InClusterCase{.name = "ipv4",
                                    .env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"}},
                                    .server = "https://10.96.0.1:443"},
                      InClusterCase{.name = "ipv6_gets_brackets",
                                    .env = {{"KUBERNETES_SERVICE_HOST", "fd00:10:96::1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"}},
                                    .server = "https://[fd00:10:96::1]:443"},
                      InClusterCase{.name = "no_env",
                                    .env = {},
                                    .code = StatusCode::kFailedPrecondition,
                                    .error = "KUBERNETES_SERVICE_HOST"},
                      InClusterCase{.name = "no_port",
                                    .env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}},
                                    .code = StatusCode::kFailedPrecondition,
                                    .error = "KUBERNETES_SERVICE_PORT"},
                      InClusterCase{.name = "bad_port",
                                    .env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", "https"}},
                                    .code = StatusCode::kInvalidArgument,
                                    .error = "not a port number"},
                      InClusterCase{.name = "missing_token_names_file",
                                    .env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"}},
                                    .write_token = false,
                                    .code = StatusCode::kInvalidArgument,
                                    .error = "/token"},
                      InClusterCase{.name = "missing_ca_names_file",
                                    .env = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                            {"KUBERNETES_SERVICE_PORT", "443"}},
                                    .write_ca = false,
                                    .code = StatusCode::kInvalidArgument,
                                    .error = "ca.crt"}),
    [](const auto& info) { return info.param.name; });

TEST(FileTokenSourceTest, RereadsWhenTheFileChanges) {
  TempDir dir;
  std::string path = dir.Write("token", "first\n");
  FileTokenSource source(path);
  EXPECT_EQ(*source.Token(), "first");
  // A different size is noticed even within the file system's mtime
  // granularity.
  dir.Write("token", "second-token\n");
  EXPECT_EQ(*source.Token(), "second-token");
}

TEST(FileTokenSourceTest, RereadsAfterInvalidate) {
  TempDir dir;
  std::string path = dir.Write("token", "aaaa");
  FileTokenSource source(path);
  EXPECT_EQ(*source.Token(), "aaaa");
  // Same size, and the mtime put back: only Invalidate can tell.
  auto mtime = std::filesystem::last_write_time(path);
  dir.Write("token", "bbbb");
  std::filesystem::last_write_time(path, mtime);
  EXPECT_EQ(*source.Token(), "aaaa");
  source.Invalidate();
  EXPECT_EQ(*source.Token(), "bbbb");
}

TEST(FileTokenSourceTest, MissingFileIsAnError) {
  FileTokenSource source("/nonexistent/token");
  auto token = source.Token();
  ASSERT_FALSE(token.ok());
  EXPECT_THAT(token.status().message(), HasSubstr("/nonexistent/token"));
}

}  // namespace
}  // namespace groupscaler::kube
