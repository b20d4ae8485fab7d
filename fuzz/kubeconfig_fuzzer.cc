// ParseKubeconfig on any text: a RestConfig that names an http(s) server, or
// an error naming the kubeconfig. Relative file paths resolve in a scratch
// directory holding a CA, a client certificate and key, and a token, so that
// the seeds' file references work.
//
// The parser reads the files a kubeconfig names. An input naming anything
// but a regular file outside /proc, /sys and /dev (a pipe, a terminal, our
// own stdin) is skipped: reading those could block, which would be a hang of
// the harness, not of the parser.

#include <stdlib.h>
#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "kube/config.h"

namespace groupscaler::fuzz {
namespace {

std::string& ScratchDir() {
  static std::string dir;
  return dir;
}

void RemoveScratch() {
  std::error_code ec;
  std::filesystem::remove_all(ScratchDir(), ec);
}

bool SafeToRead(const std::string& scalar) {
  if (scalar.empty() || scalar.size() > 4096 || scalar.find('\0') != std::string::npos) return true;
  std::filesystem::path p(scalar);
  if (p.is_relative()) p = std::filesystem::path(ScratchDir()) / p;
  std::error_code ec;
  const std::filesystem::file_status status = std::filesystem::status(p, ec);
  if (ec || !std::filesystem::exists(status)) return true;  // nothing there to block on
  if (std::filesystem::is_directory(status)) return true;   // refused before any read
  if (!std::filesystem::is_regular_file(status)) return false;
  const std::string canonical = std::filesystem::weakly_canonical(p, ec).string();
  for (const char* root : {"/proc/", "/sys/", "/dev/"}) {
    if (ec || canonical.starts_with(root)) return false;
  }
  return true;
}

// False when some scalar of the document names a file that is unsafe to read
// (or the document is too large to walk): the input is then skipped.
bool OnlySafeFiles(const std::string& text) {
  std::vector<YAML::Node> stack;
  try {
    stack.push_back(YAML::Load(text));
    for (int visited = 0; !stack.empty(); ++visited) {
      if (visited > 10000) return false;  // an alias bomb
      YAML::Node node = stack.back();
      stack.pop_back();
      if (node.IsScalar() && !SafeToRead(node.Scalar())) return false;
      if (node.IsSequence()) {
        for (const YAML::Node& item : node) stack.push_back(item);
      } else if (node.IsMap()) {
        for (auto it = node.begin(); it != node.end(); ++it) {
          stack.push_back(it->first);
          stack.push_back(it->second);
        }
      }
    }
  } catch (const YAML::Exception&) {
    return true;  // ParseKubeconfig will reject it without reading files
  }
  return true;
}

}  // namespace
}  // namespace groupscaler::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  using groupscaler::fuzz::ScratchDir;
  std::string tmpl = (std::filesystem::temp_directory_path() / "kubeconfig_fuzz_XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  ScratchDir() = tmpl;
  std::atexit(groupscaler::fuzz::RemoveScratch);
  for (const char* name : {"ca.crt", "client.crt", "client.key", "token"}) {
    std::ofstream(tmpl + "/" + name) << "-----BEGIN X-----\nQUJD\n-----END X-----\n";
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace groupscaler;
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (!fuzz::OnlySafeFiles(text)) return -1;  // not added to the corpus
  StatusOr<kube::RestConfig> config =
      kube::ParseKubeconfig(text, "kubeconfig.yaml", fuzz::ScratchDir(), "");
  if (!config.ok()) {
    fuzz::CheckRejection(config.status());
    FUZZ_CHECK_MSG(config.status().message().starts_with("kubeconfig kubeconfig.yaml: "),
                   config.status().message());
    return 0;
  }
  FUZZ_CHECK(config->server.starts_with("https://") || config->server.starts_with("http://"));
  FUZZ_CHECK(!config->server.ends_with("/"));
  FUZZ_CHECK(config->client_cert_pem.empty() == config->client_key_pem.empty());
  FUZZ_CHECK(!config->source.empty());
  if (config->token != nullptr) FUZZ_CHECK(config->token->Token().ok());
  return 0;
}
