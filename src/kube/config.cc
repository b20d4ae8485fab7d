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
    std::string context_name = context.empty() ? Str(root, "current-context") : context;
    if (context_name.empty()) {
      return InvalidArgumentError(where + ": no current-context and no context given");
    }
    YAML::Node ctx = FindNamed(root["contexts"], context_name, "context");
    if (!ctx || !ctx.IsMap()) {
      return InvalidArgumentError(where + ": context \"" + context_name + "\" not found");
    }
    std::string cluster_name = Str(ctx, "cluster");
    std::string user_name = Str(ctx, "user");
    YAML::Node cluster = FindNamed(root["clusters"], cluster_name, "cluster");
    if (!cluster || !cluster.IsMap()) {
      return InvalidArgumentError(where + ": cluster \"" + cluster_name + "\" of context \"" +
                                  context_name + "\" not found");
    }
    RestConfig config;
    config.source = "kubeconfig " + source + " (context " + context_name + ")";
    config.namespace_name = Str(ctx, "namespace");
    config.server = Str(cluster, "server");
    if (config.server.empty()) {
      return InvalidArgumentError(where + ": cluster \"" + cluster_name + "\" has no server");
    }
    while (!config.server.empty() && config.server.back() == '/') config.server.pop_back();
    if (config.server.rfind("https://", 0) != 0 && config.server.rfind("http://", 0) != 0) {
      return InvalidArgumentError(where + ": server \"" + config.server +
                                  "\" must start with https:// or http://");
    }
    if (cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>()) {
      return InvalidArgumentError(where + ": cluster \"" + cluster_name +
                                  "\": insecure-skip-tls-verify is not supported (TLS is always "
                                  "verified)");
    }
    const std::string cluster_where = where + ": cluster \"" + cluster_name + "\"";
    if (Status s =
            LoadPem(cluster, "certificate-authority", base_dir, cluster_where, &config.ca_pem);
        !s.ok()) {
      return s;
    }

    if (!user_name.empty()) {
      YAML::Node users = root["users"];
      bool found = false;
      if (users && users.IsSequence()) {
        for (const auto& u : users) {
          if (u.IsMap() && u["name"] && u["name"].as<std::string>() == user_name) found = true;
        }
      }
      if (!found) {
        return InvalidArgumentError(where + ": user \"" + user_name + "\" of context \"" +
                                    context_name + "\" not found");
      }
      YAML::Node user = FindNamed(users, user_name, "user");
      const std::string user_where = where + ": user \"" + user_name + "\"";
      if (user && user.IsMap()) {
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
        if (Status s =
                LoadPem(user, "client-certificate", base_dir, user_where, &config.client_cert_pem);
            !s.ok()) {
          return s;
        }
        if (Status s = LoadPem(user, "client-key", base_dir, user_where, &config.client_key_pem);
            !s.ok()) {
          return s;
        }
        if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
          return InvalidArgumentError(user_where +
                                      ": client-certificate and client-key must be given together");
        }
        std::string token = Str(user, "token");
        std::string token_file = Str(user, "tokenFile");
        if (!token.empty()) {
          config.token = std::make_shared<StaticTokenSource>(token);
        } else if (!token_file.empty()) {
          auto source = std::make_shared<FileTokenSource>(ResolvePath(token_file, base_dir));
          if (auto t = source->Token(); !t.ok()) {
            return InvalidArgumentError(user_where + ": tokenFile: " + t.status().message());
          }
          config.token = source;
        }
      }
    }
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
