// The Dockerfile, without a Docker engine: its stages are parsed, and every
// shared library the built binaries load (`ldd`) must come from a Debian
// package (`dpkg -S`) that the binary's runtime image holds: one its
// *-rootfs stage unpacks with scripts/image-rootfs. tests/image builds the
// images and runs them.
//
//   dockerfile_test [gtest flags] BINARY...
//
// CMake passes the binaries as generator expressions; each gets a test
// RuntimeStage.InstallsEveryLibrary/<binary name>.

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "support/subprocess.h"

namespace groupscaler {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Key;
using ::testing::Pair;

const std::string kDockerfile = std::string(GROUPSCALER_SOURCE_DIR) + "/Dockerfile";

struct Instruction {
  std::string keyword;  // upper case, e.g. RUN
  std::string args;
};

struct Stage {
  std::string image;
  std::string name;
  std::vector<Instruction> instructions;
};

// The Dockerfile's stages: comments dropped, continuation lines joined.
std::vector<Stage> ParseDockerfile() {
  std::ifstream in(kDockerfile);
  std::vector<std::string> lines;
  std::string line, pending;
  while (std::getline(in, line)) {
    if (pending.empty() && (line.empty() || line.starts_with("#"))) continue;
    if (line.ends_with("\\")) {
      pending += line.substr(0, line.size() - 1) + " ";
      continue;
    }
    lines.push_back(pending + line);
    pending.clear();
  }
  std::vector<Stage> stages;
  for (const std::string& l : lines) {
    std::istringstream words(l);
    Instruction instruction;
    words >> instruction.keyword;
    std::getline(words >> std::ws, instruction.args);
    for (char& c : instruction.keyword) c = static_cast<char>(std::toupper(c));
    if (instruction.keyword == "FROM") {
      std::istringstream from(instruction.args);
      Stage stage;
      std::string as;
      from >> stage.image >> as >> stage.name;
      stages.push_back(stage);
    } else if (!stages.empty()) {
      stages.back().instructions.push_back(instruction);
    }
  }
  return stages;
}

std::vector<std::string> Words(const std::string& s) {
  std::istringstream in(s);
  std::vector<std::string> out;
  for (std::string w; in >> w;) out.push_back(w);
  return out;
}

// The package a word of `apt-get install` names: itself, or for a .deb file
// (DIR/NAME_VERSION_ARCH.deb) its NAME.
std::string PackageNamed(const std::string& word) {
  if (!word.ends_with(".deb")) return word;
  const std::string file = std::filesystem::path(word).filename();
  return file.substr(0, file.find('_'));
}

// The packages every `image-rootfs /rootfs PACKAGE...` of the stage unpacks.
std::set<std::string> RootfsPackages(const Stage& stage) {
  std::set<std::string> out;
  for (const Instruction& i : stage.instructions) {
    const std::vector<std::string> words = Words(i.args);
    if (i.keyword != "RUN" || words.size() < 2 || words[0] != "image-rootfs" ||
        words[1] != "/rootfs") {
      continue;
    }
    for (size_t p = 2; p < words.size(); ++p) out.insert(PackageNamed(words[p]));
  }
  return out;
}

const Stage* StageNamed(const std::vector<Stage>& stages, const std::string& name) {
  for (const Stage& stage : stages) {
    if (stage.name == name) return &stage;
  }
  return nullptr;
}

// The stage whose /rootfs `runtime` copies to its /, or null.
const Stage* RootfsStageOf(const std::vector<Stage>& stages, const Stage& runtime) {
  for (const Instruction& i : runtime.instructions) {
    const std::vector<std::string> words = Words(i.args);
    if (i.keyword == "COPY" && words.size() == 3 && words[0].starts_with("--from=") &&
        words[1] == "/rootfs" && words[2] == "/") {
      return StageNamed(stages, words[0].substr(std::string("--from=").size()));
    }
  }
  return nullptr;
}

// A runtime stage's LABEL pairs (KEY="VALUE").
std::map<std::string, std::string> Labels(const Stage& stage) {
  static const std::regex kPair(R"re(([\w.-]+)="([^"]*)")re");
  std::map<std::string, std::string> out;
  for (const Instruction& i : stage.instructions) {
    if (i.keyword != "LABEL") continue;
    for (std::sregex_iterator m(i.args.begin(), i.args.end(), kPair), end; m != end; ++m) {
      out[(*m)[1]] = (*m)[2];
    }
  }
  return out;
}

// The stages an image is run from: those with an ENTRYPOINT.
std::vector<const Stage*> RuntimeStages(const std::vector<Stage>& stages) {
  std::vector<const Stage*> out;
  for (const Stage& stage : stages) {
    for (const Instruction& i : stage.instructions) {
      if (i.keyword == "ENTRYPOINT") {
        out.push_back(&stage);
        break;
      }
    }
  }
  return out;
}

// The stage that copies a file named `binary` from another stage.
const Stage* StageShipping(const std::vector<Stage>& stages, const std::string& binary) {
  for (const Stage& stage : stages) {
    for (const Instruction& i : stage.instructions) {
      const std::vector<std::string> words = Words(i.args);
      if (i.keyword == "COPY" && words.size() == 3 && words[0].starts_with("--from=") &&
          std::filesystem::path(words[1]).filename() == binary) {
        return &stage;
      }
    }
  }
  return nullptr;
}

// The absolute paths of the shared libraries `binary` loads.
std::vector<std::string> SharedLibraries(const std::string& binary) {
  const testing::RunResult r =
      testing::RunProcess({"/usr/bin/ldd", binary}, std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out.find("not found"), std::string::npos) << r.out;
  static const std::regex kPath(R"((/\S+) \(0x)");
  std::vector<std::string> out;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_search(line, m, kPath)) out.push_back(m[1]);
  }
  return out;
}

// The Debian package of each file ("" when none), with one dpkg call. dpkg
// records /usr/lib/x/libfoo.so while ldd may say /lib/x/libfoo.so, so both
// sides of the /usr merge and the resolved symlink are tried.
std::map<std::string, std::string> DebianPackagesOf(const std::vector<std::string>& files) {
  std::map<std::string, std::vector<std::string>> candidates;
  std::vector<std::string> argv = {"/usr/bin/dpkg", "-S"};
  for (const std::string& file : files) {
    std::vector<std::string>& c = candidates[file];
    c = {file, std::filesystem::canonical(file).string()};
    for (size_t i = 0, n = c.size(); i < n; ++i) {
      c.push_back(c[i].starts_with("/usr/") ? c[i].substr(4) : "/usr" + c[i]);
    }
    argv.insert(argv.end(), c.begin(), c.end());
  }
  // dpkg -S exits 1 when some path is in no package, and prints the others
  // as "package:arch: path".
  const testing::RunResult r = testing::RunProcess(argv, std::chrono::seconds(60));
  std::map<std::string, std::string> owner;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    const size_t sep = line.find(": ");
    if (sep == std::string::npos) continue;
    owner[line.substr(sep + 2)] = line.substr(0, line.find(':'));
  }
  std::map<std::string, std::string> out;
  for (const auto& [file, paths] : candidates) {
    for (const std::string& p : paths) {
      if (owner.contains(p)) {
        out[file] = owner[p];
        break;
      }
    }
    out.try_emplace(file, "");
  }
  return out;
}

void CheckRuntimeStage(const std::string& binary_path) {
  const std::string binary = std::filesystem::path(binary_path).filename();
  const std::vector<Stage> stages = ParseDockerfile();
  const Stage* runtime = StageShipping(stages, binary);
  ASSERT_NE(runtime, nullptr) << "no stage of the Dockerfile copies " << binary;
  const Stage* stage = RootfsStageOf(stages, *runtime);
  ASSERT_NE(stage, nullptr) << "stage " << runtime->name << " copies no /rootfs to /";
  const std::set<std::string> installed = RootfsPackages(*stage);
  ASSERT_FALSE(installed.empty()) << "stage " << stage->name << " unpacks no packages";
  const std::vector<std::string> libraries = SharedLibraries(binary_path);
  ASSERT_GE(libraries.size(), 3u);
  std::map<std::string, std::string> missing;  // library -> package
  for (const auto& [library, package] : DebianPackagesOf(libraries)) {
    EXPECT_FALSE(package.empty()) << library << " is in no Debian package";
    if (!package.empty() && !installed.contains(package)) missing[library] = package;
  }
  EXPECT_THAT(missing, IsEmpty()) << "add these packages to the image-rootfs of stage "
                                  << stage->name << " in the Dockerfile";
}

TEST(Dockerfile, BuildsOnBookwormSlimWithTheSetupScript) {
  const std::vector<Stage> stages = ParseDockerfile();
  ASSERT_FALSE(stages.empty());
  const Stage& build = stages.front();
  EXPECT_EQ(build.image, "debian:bookworm-slim");
  EXPECT_EQ(build.name, "build");
  bool runs_setup = false;
  for (const Instruction& i : build.instructions) {
    runs_setup |= i.keyword == "RUN" && i.args.starts_with("scripts/setup");
  }
  EXPECT_TRUE(runs_setup);
}

// Runtime stages are distroless: FROM scratch, their root filesystem made by
// image-rootfs in a debian:bookworm-slim stage, plus one binary from the
// build stage, run as a non-root numeric user; the last one, the default
// target, is the controller.
TEST(Dockerfile, RuntimeStagesAreDistrolessAndNonRoot) {
  const std::vector<Stage> stages = ParseDockerfile();
  const std::vector<const Stage*> runtimes = RuntimeStages(stages);
  ASSERT_EQ(runtimes.size(), 2u);
  for (const Stage* stage : runtimes) {
    EXPECT_EQ(stage->image, "scratch") << stage->name;
    const Stage* rootfs = RootfsStageOf(stages, *stage);
    ASSERT_NE(rootfs, nullptr) << stage->name;
    EXPECT_EQ(rootfs->image, "debian:bookworm-slim") << rootfs->name;
    EXPECT_FALSE(RootfsPackages(*rootfs).empty()) << rootfs->name;
    std::string user;
    for (const Instruction& i : stage->instructions) {
      EXPECT_NE(i.keyword, "RUN") << stage->name << ": " << i.args;
      EXPECT_NE(i.keyword, "ADD") << stage->name << ": " << i.args;
      if (i.keyword == "COPY") {
        EXPECT_TRUE(i.args.starts_with("--from=" + rootfs->name + " /rootfs ") ||
                    i.args.starts_with("--from=build "))
            << i.args;
      }
      if (i.keyword == "USER") user = i.args;
    }
    EXPECT_TRUE(std::regex_match(user, std::regex(R"([1-9][0-9]*(:[0-9]+)?)")))
        << stage->name << ": USER " << user;
  }
  const Stage& controller = stages.back();
  EXPECT_EQ(controller.name, "controller");
  std::map<std::string, std::string> last;
  for (const Instruction& i : controller.instructions) last[i.keyword] = i.args;
  EXPECT_EQ(last["ENTRYPOINT"], "[\"/usr/local/bin/groupscaler\"]");
  EXPECT_EQ(last["CMD"], "[\"controller\"]");
  EXPECT_THAT(Words(last["COPY"]),
              ElementsAre("--from=build", "/build/groupscaler", "/usr/local/bin/groupscaler"));
}

// Built from a commit, an image says which version it is, and every base is
// a named release, never a moving tag.
TEST(Dockerfile, ImagesAreLabelledWithTheVersionAndPinned) {
  const std::vector<Stage> stages = ParseDockerfile();
  for (const Stage& stage : stages) {
    EXPECT_TRUE(stage.image == "scratch" || stage.image == "debian:bookworm-slim") << stage.image;
  }
  for (const Stage* stage : RuntimeStages(stages)) {
    const std::map<std::string, std::string> labels = Labels(*stage);
    EXPECT_THAT(labels, Contains(Pair("org.opencontainers.image.version", GROUPSCALER_VERSION)))
        << stage->name;
    EXPECT_THAT(labels, Contains(Key("org.opencontainers.image.title"))) << stage->name;
  }
  std::ifstream in(kDockerfile);
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_EQ(text.find(":latest"), std::string::npos);
}

}  // namespace
}  // namespace groupscaler

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  for (int i = 1; i < argc; ++i) {
    const std::string binary = argv[i];
    ::testing::RegisterTest(
        "RuntimeStage",
        ("InstallsEveryLibraryOf/" + std::filesystem::path(binary).filename().string()).c_str(),
        nullptr, nullptr, __FILE__, __LINE__, [binary]() -> ::testing::Test* {
          struct RuntimeStageTest : ::testing::Test {
            explicit RuntimeStageTest(std::string b) : binary(std::move(b)) {}
            void TestBody() override { groupscaler::CheckRuntimeStage(binary); }
            std::string binary;
          };
          return new RuntimeStageTest(binary);
        });
  }
  return RUN_ALL_TESTS();
}
