#include "kube/config.h"

#include "common/base64.h"
#include "common/files.h"
#include "common/host_port.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>

namespace groupscaler::kube {
namespace {

std::string Trim(std::string s) {
  const char* ws = " \t\r\n";
  s.erase(0, s.find_first_not_of(ws));
  auto end = s.find_last_not_of(ws);
  s.erase(end == std::string::npos ? 0 : end + 1);
  return s;
}

// The named entry of a kubeconfig list (clusters, users, contexts): each item
// is {name: N, <kind>: {...}}.
YAML::Node FindNamed(const YAML::Node& list, const std::string& name, const char* field) {
  if (!list || !list.IsSequence()) return YAML::Node();
  for (const auto& item : list) {
    if (item.IsMap() && item["name"] && item["name"].as<std::string>() == name) {
      return item[field];
    }
  }
  return YAML::Node();
}

std::string Str(const YAML::Node& node, const char* key) {
  if (!node || !node.IsMap() || !node[key] || node[key].IsNull()) return "";
  return node[key].as<std::string>();
}

// Reads a PEM given inline as base64 (`key-data`) or as a file (`key`).
Status LoadPem(const YAML::Node& node, const std::string& key, const std::string& base_dir,
               const std::string& where, std::string* out) {
  std::string data = Str(node, (key + "-data").c_str());
  if (!data.empty()) {
    auto decoded = Base64Decode(data);
    if (!decoded.ok()) {
      return InvalidArgumentError(where + ": " + key + "-data is not valid base64");
    }
    *out = *decoded;
    return Status::Ok();
  }
  std::string file = Str(node, key.c_str());
  if (file.empty()) return Status::Ok();
  std::filesystem::path p(file);
  if (p.is_relative() && !base_dir.empty()) p = std::filesystem::path(base_dir) / p;
  auto content = ReadFile(p.string());
  if (!content.ok())
    return InvalidArgumentError(where + ": " + key + ": " + content.status().message());
  *out = *content;
  return Status::Ok();
}

std::string ResolvePath(const std::string& file, const std::string& base_dir) {
  std::filesystem::path p(file);
  if (p.is_relative() && !base_dir.empty()) p = std::filesystem::path(base_dir) / p;
  return p.string();
}

// The steps of ParseKubeconfig, in its order. `where` names the kubeconfig in
// errors; a YAML::Exception they throw becomes ParseKubeconfig's error.

// A context of the kubeconfig: its name, its map, and the names it gives.
struct Context {
  std::string name;
  YAML::Node node;
  std::string cluster;
  std::string user;
};

// The context `context` names, or current-context when it is empty.
StatusOr<Context> FindContext(const YAML::Node& root, const std::string& context,
                              const std::string& where) {
  std::string name = context.empty() ? Str(root, "current-context") : context;
  if (name.empty()) {
    return InvalidArgumentError(where + ": no current-context and no context given");
  }
  YAML::Node node = FindNamed(root["contexts"], name, "context");
  if (!node || !node.IsMap()) {
    return InvalidArgumentError(where + ": context \"" + name + "\" not found");
  }
  std::string cluster = Str(node, "cluster");
  std::string user = Str(node, "user");
  return Context{std::move(name), node, std::move(cluster), std::move(user)};
}

// The map of the cluster `ctx` names.
StatusOr<YAML::Node> FindCluster(const YAML::Node& root, const Context& ctx,
                                 const std::string& where) {
  YAML::Node cluster = FindNamed(root["clusters"], ctx.cluster, "cluster");
  if (!cluster || !cluster.IsMap()) {
    return InvalidArgumentError(where + ": cluster \"" + ctx.cluster + "\" of context \"" +
                                ctx.name + "\" not found");
  }
  return cluster;
}

// The cluster `name`'s http(s) server and CA into `config`; no insecure-skip-tls-verify.
Status ReadCluster(const YAML::Node& cluster, const std::string& name, const std::string& base_dir,
                   const std::string& where, RestConfig* config) {
  config->server = Str(cluster, "server");
  if (config->server.empty()) {
    return InvalidArgumentError(where + ": cluster \"" + name + "\" has no server");
  }
  while (!config->server.empty() && config->server.back() == '/') config->server.pop_back();
  if (config->server.rfind("https://", 0) != 0 && config->server.rfind("http://", 0) != 0) {
    return InvalidArgumentError(where + ": server \"" + config->server +
                                "\" must start with https:// or http://");
  }
  if (cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>()) {
    return InvalidArgumentError(where + ": cluster \"" + name +
                                "\": insecure-skip-tls-verify is not supported (TLS is always "
                                "verified)");
  }
  const std::string cluster_where = where + ": cluster \"" + name + "\"";
  return LoadPem(cluster, "certificate-authority", base_dir, cluster_where, &config->ca_pem);
}

// Whether `list` has an entry named `name` (with a body or not); reads every entry's name.
bool HasNamed(const YAML::Node& list, const std::string& name) {
  bool found = false;
  if (list && list.IsSequence()) {
    for (const auto& item : list) {
      if (item.IsMap() && item["name"] && item["name"].as<std::string>() == name) found = true;
    }
  }
  return found;
}

// Refuses the user's ways of authenticating that this client does not support.
Status RefuseUnsupportedAuth(const YAML::Node& user, const std::string& user_where) {
  if (user["exec"]) {
    return UnimplementedError(user_where +
                              ": exec credential plugins are not supported; use a token "
                              "or client certificate");
  }
  if (user["auth-provider"]) {
    return UnimplementedError(user_where +
                              ": auth-provider is not supported; use a token or client "
                              "certificate");
  }
  if (user["username"] || user["password"]) {
    return UnimplementedError(user_where + ": basic authentication is not supported");
  }
  return Status::Ok();
}

// The client certificate and key into `config`: both or neither.
Status ReadClientCertificate(const YAML::Node& user, const std::string& base_dir,
                             const std::string& user_where, RestConfig* config) {
  if (Status s =
          LoadPem(user, "client-certificate", base_dir, user_where, &config->client_cert_pem);
      !s.ok()) {
    return s;
  }
  if (Status s = LoadPem(user, "client-key", base_dir, user_where, &config->client_key_pem);
      !s.ok()) {
    return s;
  }
  if (config->client_cert_pem.empty() != config->client_key_pem.empty()) {
    return InvalidArgumentError(user_where +
                                ": client-certificate and client-key must be given together");
  }
  return Status::Ok();
}

// config->token from `token`, else from `tokenFile` (read once here to check it).
Status ReadToken(const YAML::Node& user, const std::string& base_dir, const std::string& user_where,
                 RestConfig* config) {
  std::string token = Str(user, "token");
  std::string token_file = Str(user, "tokenFile");
  if (!token.empty()) {
    config->token = std::make_shared<StaticTokenSource>(token);
  } else if (!token_file.empty()) {
    auto source = std::make_shared<FileTokenSource>(ResolvePath(token_file, base_dir));
    if (auto t = source->Token(); !t.ok()) {
      return InvalidArgumentError(user_where + ": tokenFile: " + t.status().message());
    }
    config->token = source;
  }
  return Status::Ok();
}

// The credentials of the user `ctx` names (if any) into `config`, refusing unsupported ones.
Status ReadUser(const YAML::Node& root, const Context& ctx, const std::string& base_dir,
                const std::string& where, RestConfig* config) {
  if (ctx.user.empty()) return Status::Ok();
  if (!HasNamed(root["users"], ctx.user)) {
    return InvalidArgumentError(where + ": user \"" + ctx.user + "\" of context \"" + ctx.name +
                                "\" not found");
  }
  YAML::Node user = FindNamed(root["users"], ctx.user, "user");
  if (!user || !user.IsMap()) return Status::Ok();
  const std::string user_where = where + ": user \"" + ctx.user + "\"";
  if (Status s = RefuseUnsupportedAuth(user, user_where); !s.ok()) return s;
  if (Status s = ReadClientCertificate(user, base_dir, user_where, config); !s.ok()) return s;
  return ReadToken(user, base_dir, user_where, config);
}

}  // namespace

StatusOr<std::string> ReadFile(const std::string& path) {
  // Kubeconfigs with embedded certificates, CA bundles and tokens are all far
  // below this; anything larger is not one of them.
  constexpr size_t kMaxBytes = 4 << 20;
  return ReadFileBounded(path, kMaxBytes);
}

StatusOr<std::string> FileTokenSource::Token() {
  std::lock_guard<std::mutex> lock(mu_);
  std::error_code ec;
  auto mtime = std::filesystem::last_write_time(path_, ec);
  auto size = ec ? 0 : std::filesystem::file_size(path_, ec);
  if (ec) {
    return PermissionDeniedError("service account token " + path_ + ": " + ec.message());
  }
  if (valid_ && mtime == mtime_ && size == size_) return token_;
  auto content = ReadFile(path_);
  if (!content.ok())
    return PermissionDeniedError("service account token: " + content.status().message());
  token_ = Trim(*content);
  mtime_ = mtime;
  size_ = size;
  valid_ = true;
  return token_;
}

void FileTokenSource::Invalidate() {
  std::lock_guard<std::mutex> lock(mu_);
  valid_ = false;
}

StatusOr<RestConfig> LoadKubeconfigFile(const std::string& path, const std::string& context) {
  auto content = ReadFile(path);
  if (!content.ok()) return InvalidArgumentError("kubeconfig: " + content.status().message());
  return ParseKubeconfig(*content, path, std::filesystem::path(path).parent_path().string(),
                         context);
}

StatusOr<RestConfig> ParseKubeconfig(const std::string& yaml, const std::string& source,
                                     const std::string& base_dir, const std::string& context) {
  const std::string where = "kubeconfig " + source;
  try {
    YAML::Node root = YAML::Load(yaml);
    if (!root.IsMap()) return InvalidArgumentError(where + ": not a kubeconfig (not a YAML map)");
    auto ctx = FindContext(root, context, where);
    if (!ctx.ok()) return ctx.status();
    auto cluster = FindCluster(root, *ctx, where);
    if (!cluster.ok()) return cluster.status();
    RestConfig config;
    config.source = where + " (context " + ctx->name + ")";
    config.namespace_name = Str(ctx->node, "namespace");
    if (Status s = ReadCluster(*cluster, ctx->cluster, base_dir, where, &config); !s.ok()) return s;
    if (Status s = ReadUser(root, *ctx, base_dir, where, &config); !s.ok()) return s;
    return config;
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(where + ": " + e.what());
  }
}

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

StatusOr<RestConfig> LoadInClusterConfig(const EnvLookup& env, const InClusterPaths& paths) {
  auto host = env("KUBERNETES_SERVICE_HOST");
  auto port = env("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return FailedPreconditionError(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set "
        "(not running in a pod?)");
  }
  for (char c : *port) {
    if (c < '0' || c > '9') {
      return InvalidArgumentError("in-cluster config: KUBERNETES_SERVICE_PORT \"" + *port +
                                  "\" is not a port number");
    }
  }
  RestConfig config;
  config.source = "in-cluster service account";
  config.server = "https://" + FormatHostPort(*host, *port);
  auto token = std::make_shared<FileTokenSource>(paths.token_file);
  if (auto t = token->Token(); !t.ok()) {
    return InvalidArgumentError("in-cluster config: " + t.status().message());
  }
  config.token = token;
  auto ca = ReadFile(paths.ca_file);
  if (!ca.ok()) return InvalidArgumentError("in-cluster config: CA: " + ca.status().message());
  config.ca_pem = *ca;
  if (auto ns = ReadFile(paths.namespace_file); ns.ok()) config.namespace_name = Trim(*ns);
  return config;
}

StatusOr<RestConfig> LoadRestConfig(const std::string& kubeconfig_flag, const std::string& context,
                                    const EnvLookup& env, const InClusterPaths& paths) {
  if (!kubeconfig_flag.empty()) return LoadKubeconfigFile(kubeconfig_flag, context);
  if (auto kubeconfig = env("KUBECONFIG"); kubeconfig && !kubeconfig->empty()) {
    if (kubeconfig->find(':') != std::string::npos) {
      return InvalidArgumentError("KUBECONFIG \"" + *kubeconfig +
                                  "\" lists several files; merging them is not supported: pass "
                                  "one with --kubeconfig");
    }
    return LoadKubeconfigFile(*kubeconfig, context);
  }
  if (auto host = env("KUBERNETES_SERVICE_HOST"); host && !host->empty()) {
    if (!context.empty()) {
      return InvalidArgumentError("--context \"" + context +
                                  "\" needs a kubeconfig, but the config is in-cluster");
    }
    return LoadInClusterConfig(env, paths);
  }
  auto home = env("HOME");
  if (!home || home->empty()) {
    return FailedPreconditionError(
        "no Kubernetes config: no --kubeconfig, no KUBECONFIG, not in a pod, and no HOME");
  }
  return LoadKubeconfigFile(*home + "/.kube/config", context);
}

}  // namespace groupscaler::kube
