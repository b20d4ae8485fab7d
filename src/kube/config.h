#pragma once

// Where the API server is and how to authenticate to it: from a kubeconfig
// file or from the pod's service account (in-cluster). Both loaders return a
// RestConfig or a one-line error naming the file or variable at fault; no
// exception leaves them.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace groupscaler::kube {

// A bearer token that may change while the controller runs (service account
// tokens are rotated on disk). Thread-safe.
class TokenSource {
 public:
  virtual ~TokenSource() = default;
  // The current token.
  virtual StatusOr<std::string> Token() = 0;
  // Called after the server answered 401: the next Token() must not return a
  // cached value.
  virtual void Invalidate() = 0;
};

class StaticTokenSource final : public TokenSource {
 public:
  explicit StaticTokenSource(std::string token) : token_(std::move(token)) {}
  StatusOr<std::string> Token() override { return token_; }
  void Invalidate() override {}

 private:
  const std::string token_;
};

// Reads the token from `path`, again whenever the file's modification time or
// size changed since the last read, and after Invalidate(). Surrounding
// whitespace is trimmed.
class FileTokenSource final : public TokenSource {
 public:
  explicit FileTokenSource(std::string path) : path_(std::move(path)) {}
  StatusOr<std::string> Token() override;
  void Invalidate() override;

 private:
  const std::string path_;
  std::mutex mu_;
  bool valid_ = false;
  std::string token_;
  std::chrono::file_clock::time_point mtime_{};
  uintmax_t size_ = 0;
};

struct RestConfig {
  // "https://host:port" (or http:// for tests); no trailing slash.
  std::string server;
  // PEM. Empty ca_pem: the system's roots. TLS is always verified.
  std::string ca_pem;
  std::string client_cert_pem;
  std::string client_key_pem;
  // Null: no Authorization header.
  std::shared_ptr<TokenSource> token;
  // The kubeconfig context's namespace, or the pod's namespace in-cluster;
  // empty when neither says.
  std::string namespace_name;
  // Where this came from, for the start-up log line: "kubeconfig PATH
  // (context NAME)" or "in-cluster service account".
  std::string source;
};

// Reads a kubeconfig file and resolves `context` (empty: current-context).
// Relative file paths in it are relative to the file's directory, as kubectl
// has them. Users with `exec` or `auth-provider`, basic auth, and
// insecure-skip-tls-verify are refused with a "not supported" error.
StatusOr<RestConfig> LoadKubeconfigFile(const std::string& path, const std::string& context = "");

// The same from text; `source` names it in errors, `base_dir` resolves
// relative paths.
StatusOr<RestConfig> ParseKubeconfig(const std::string& yaml, const std::string& source,
                                     const std::string& base_dir, const std::string& context);

// The service account's files; the defaults are where the kubelet mounts them.
struct InClusterPaths {
  std::string token_file = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  std::string ca_file = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt";
  std::string namespace_file = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
};

// Looks up an environment variable; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

// From KUBERNETES_SERVICE_HOST / KUBERNETES_SERVICE_PORT (an IPv6 host gets
// brackets) and the service account files. The token is re-read from its
// file as it rotates (FileTokenSource); the namespace file is optional.
StatusOr<RestConfig> LoadInClusterConfig(const EnvLookup& env, const InClusterPaths& paths = {});

// The config the controller starts with, in controller-runtime's order:
// `kubeconfig_flag` (--kubeconfig) when non-empty; else $KUBECONFIG (one
// path: merging several files is refused with a clear error); else
// in-cluster when KUBERNETES_SERVICE_HOST is set; else $HOME/.kube/config.
// `context` (--context) selects a kubeconfig context and is an error when
// the config comes from in-cluster.
StatusOr<RestConfig> LoadRestConfig(const std::string& kubeconfig_flag, const std::string& context,
                                    const EnvLookup& env, const InClusterPaths& paths = {});

// The whole file (at most 4 MiB), or an error naming `path`.
StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace groupscaler::kube
