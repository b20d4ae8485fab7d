// The images as a user builds them: the real Dockerfile built with buildah,
// with no Docker engine (vfs storage, chroot isolation), on the Debian 12
// base that scripts/setup-image-base made with debootstrap and keeps, with
// the build's layer cache, outside the clone (.tools/buildah links to it).
// Both targets, then inside each image, run as the user the image names on a
// read-only root filesystem (run-read-only): the controller's --version,
// `controller --help` and `lag` against librdkafka's mock cluster; the
// example consumer consuming from it and leaving on SIGTERM. Also the
// images' configuration, labels and size, whose layers it prints.

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/status.h"
#include "support/mock_cluster.h"
#include "support/subprocess.h"

namespace groupscaler {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MockCluster;
using testing::RunProcess;
using testing::RunResult;
using testing::Subprocess;

const std::string kSourceDir = GROUPSCALER_SOURCE_DIR;
const std::string kRunReadOnly = kSourceDir + "/tests/image/run-read-only";
// The images this test builds are tagged kRepository:TARGET.
const std::string kRepository = "localhost/groupscaler-image-test";
constexpr int64_t kMaxControllerBytes = 100'000'000;

// buildah on the storage scripts/setup-image-base made; TMPDIR there too,
// where buildah keeps the Dockerfile's cache mounts (the build's ccache).
std::vector<std::string> Buildah(const std::vector<std::string>& args) {
  const std::string store = std::filesystem::canonical(kSourceDir + "/.tools/buildah").string();
  std::vector<std::string> argv = {"/usr/bin/env",
                                   "TMPDIR=" + store + "/tmp",
                                   "/usr/bin/buildah",
                                   "--root",
                                   store + "/root",
                                   "--runroot",
                                   store + "/run",
                                   "--storage-driver",
                                   "vfs"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

StatusOr<std::string> RunBuildah(const std::vector<std::string>& args, milliseconds timeout) {
  const RunResult r = RunProcess(Buildah(args), timeout);
  if (r.exit_code != 0) {
    return InternalError("buildah " + args.front() + " exited " + std::to_string(r.exit_code) +
                         ": " + r.err.substr(r.err.size() > 4000 ? r.err.size() - 4000 : 0));
  }
  return r.out;
}

// Builds `target` of the Dockerfile with buildah's layer cache, tagged
// kRepository:target, and adds the images it took from the cache or made to
// `used`. Its output goes to this test's log.
Status Build(const std::string& target, std::set<std::string>& used) {
  std::filesystem::create_directories(std::filesystem::canonical(kSourceDir + "/.tools/buildah") /
                                      "tmp");
  const auto start = std::chrono::steady_clock::now();
  const RunResult r =
      RunProcess(Buildah({"bud", "--layers", "--pull=never", "--isolation", "chroot", "--target",
                          target, "--tag", kRepository + ":" + target, "--file",
                          kSourceDir + "/Dockerfile", kSourceDir}),
                 minutes(40));
  const auto took = std::chrono::duration_cast<seconds>(std::chrono::steady_clock::now() - start);
  std::printf("buildah bud --target %s: %lld s\n%s", target.c_str(),
              static_cast<long long>(took.count()), r.out.c_str());
  if (r.exit_code != 0) {
    return InternalError("buildah bud --target " + target + " exited " +
                         std::to_string(r.exit_code) + ": " + r.err);
  }
  // Each step ends with "--> ID" (its first 11 digits) or "--> Using cache ID".
  static const std::regex kStep(R"(--> (?:Using cache )?([0-9a-f]{11})[0-9a-f]*)");
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::smatch m;
    if (std::regex_match(line, m, kStep)) used.insert(m[1]);
  }
  return Status();
}

// Removes the untagged images that no build of this run used: what earlier
// runs' builds left (on vfs each build-stage step is a full copy, 1.8 GB).
// The layers of the images kept stay. One at a time, newest first: removing
// an image also removes its untagged parents that nothing else needs.
Status RemoveStaleImages(const std::set<std::string>& used) {
  StatusOr<std::string> listed = RunBuildah({"images", "--all", "--json"}, seconds(60));
  if (!listed.ok()) return listed.status();
  std::vector<std::pair<std::string, std::string>> stale;  // (created, id)
  for (const nlohmann::json& image : nlohmann::json::parse(*listed)) {
    const std::string id = image["id"];
    if (image["names"].is_null() && !used.contains(id.substr(0, 11))) {
      stale.emplace_back(image["createdatraw"], id);
    }
  }
  std::sort(stale.rbegin(), stale.rend());
  for (const auto& [created, id] : stale) {
    // Fails when a newer one took it along as its parent.
    const RunResult r = RunProcess(Buildah({"rmi", id}), minutes(2));
    std::printf("buildah rmi %s: %s%s", id.c_str(), r.out.c_str(), r.err.c_str());
  }
  return Status();
}

// One image test at a time on this machine: another clone's could take the
// images this one uses for stale. Held until the process ends.
Status LockStore() {
  if (!std::filesystem::is_directory(kSourceDir + "/.tools/buildah")) {
    return FailedPreconditionError(
        ".tools/buildah is missing: scripts/setup makes it "
        "(scripts/setup-image-base)");
  }
  const std::string path =
      (std::filesystem::canonical(kSourceDir + "/.tools/buildah") / "image-test.lock").string();
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0 || flock(fd, LOCK_EX) != 0) {
    return InternalError("cannot lock " + path + ": " + std::strerror(errno));
  }
  return Status();
}

// An image's description (`buildah inspect --type image`).
StatusOr<nlohmann::json> Inspect(const std::string& image) {
  StatusOr<std::string> out = RunBuildah({"inspect", "--type", "image", image}, seconds(60));
  if (!out.ok()) return out.status();
  return nlohmann::json::parse(*out);
}

// A working container of `image`, mounted: its root filesystem, writable,
// which run-read-only mounts read-only. Removed with the object.
class Container {
 public:
  static StatusOr<std::unique_ptr<Container>> From(const std::string& image) {
    StatusOr<std::string> id = RunBuildah({"from", "--pull=never", image}, minutes(2));
    if (!id.ok()) return id.status();
    auto container = std::unique_ptr<Container>(new Container(Trimmed(*id)));
    StatusOr<std::string> root = RunBuildah({"mount", container->id_}, seconds(60));
    if (!root.ok()) return root.status();
    container->root_ = Trimmed(*root);
    return container;
  }
  ~Container() { (void)RunProcess(Buildah({"rm", id_}), seconds(60)); }
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;

  const std::string& root() const { return root_; }

 private:
  explicit Container(std::string id) : id_(std::move(id)) {}
  static std::string Trimmed(const std::string& s) { return s.substr(0, s.find('\n')); }
  std::string id_;
  std::string root_;
};

class ImageTest : public ::testing::Test {
 protected:
  // Builds both images once for every test, then drops what earlier runs
  // left.
  static void SetUpTestSuite() {
    build_ = LockStore();
    // Working containers a killed run left (each a full copy on vfs).
    if (build_.ok()) build_ = RunBuildah({"rm", "--all"}, minutes(5)).status();
    std::set<std::string> used;
    for (const char* target : {"controller", "example-consumer"}) {
      if (build_.ok()) build_ = Build(target, used);
    }
    if (build_.ok()) build_ = RemoveStaleImages(used);
  }

  void SetUp() override { ASSERT_TRUE(build_.ok()) << build_.ToString(); }

  static std::string Image(const std::string& target) { return kRepository + ":" + target; }

  // The image's configuration (OCI config.config).
  static nlohmann::json Config(const std::string& target) {
    StatusOr<nlohmann::json> image = Inspect(Image(target));
    EXPECT_TRUE(image.ok()) << image.status().ToString();
    return image.ok() ? (*image)["OCIv1"]["config"] : nlohmann::json::object();
  }

  // argv for `command` in a working container of `target`, run as the
  // image's user on its root filesystem made read-only.
  std::vector<std::string> InImage(const std::string& target,
                                   const std::vector<std::string>& command) {
    std::unique_ptr<Container>& container = containers_[target];
    if (container == nullptr) {
      StatusOr<std::unique_ptr<Container>> made = Container::From(Image(target));
      EXPECT_TRUE(made.ok()) << made.status().ToString();
      if (!made.ok()) return {"/bin/false"};
      container = std::move(made).value();
    }
    std::vector<std::string> argv = {kRunReadOnly, container->root(),
                                     Config(target).value("User", "")};
    argv.insert(argv.end(), command.begin(), command.end());
    return argv;
  }

  static Status build_;
  std::map<std::string, std::unique_ptr<Container>> containers_;
};

Status ImageTest::build_;

TEST_F(ImageTest, ControllerPrintsItsVersion) {
  const RunResult r =
      RunProcess(InImage("controller", {"/usr/local/bin/groupscaler", "--version"}), seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "groupscaler " GROUPSCALER_VERSION "\n");
}

TEST_F(ImageTest, ControllerCommandHelps) {
  const RunResult r = RunProcess(
      InImage("controller", {"/usr/local/bin/groupscaler", "controller", "--help"}), seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("--leader-elect"));
}

// The controller's Kafka path in the image: librdkafka and its TLS and SASL
// libraries load, and the lag of a group comes back over TCP.
TEST_F(ImageTest, ControllerReadsLagFromKafka) {
  auto cluster = MockCluster::Start(1);
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  ASSERT_TRUE((*cluster)->CreateTopic("orders", 2).ok());
  const std::string bootstrap = (*cluster)->bootstrap_servers();
  ASSERT_TRUE(testing::ProduceCounts(bootstrap, "orders", {5, 7}).ok());
  ASSERT_TRUE(testing::CommitOffsets(bootstrap, "orders-consumer", {{"orders", 0, 2}}).ok());
  const RunResult r =
      RunProcess(InImage("controller",
                         {"/usr/local/bin/groupscaler", "lag", "--bootstrap-servers", bootstrap,
                          "--group", "orders-consumer", "--topic", "orders", "--output", "json"}),
                 seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const nlohmann::json lag = nlohmann::json::parse(r.out);
  EXPECT_EQ(lag["group"], "orders-consumer");
  EXPECT_EQ(lag["partitions"], 2);
  EXPECT_EQ(lag["totalLag"], 3);  // partition 0: 5 - 2; partition 1 has no commit
}

// The example consumer's own contract (examples/consumer): it joins the
// group, processes every message, and on SIGTERM commits, leaves and exits 0.
TEST_F(ImageTest, ExampleConsumerConsumesAndLeavesOnSigterm) {
  auto cluster = MockCluster::Start(1);
  ASSERT_TRUE(cluster.ok()) << cluster.status().ToString();
  ASSERT_TRUE((*cluster)->CreateTopic("orders", 2).ok());
  const std::string bootstrap = (*cluster)->bootstrap_servers();
  ASSERT_TRUE(testing::ProduceCounts(bootstrap, "orders", {3, 4}).ok());
  auto consumer = Subprocess::Spawn(InImage(
      "example-consumer", {"/usr/local/bin/example_consumer", "--bootstrap-servers", bootstrap,
                           "--group", "orders-consumer", "--topic", "orders", "--print-messages"}));
  ASSERT_TRUE(consumer.ok()) << consumer.status().ToString();
  std::vector<std::string> lines;
  int processed = 0;
  while (processed < 7) {
    std::optional<std::string> line = (*consumer)->ReadLine(testing::Stretched(seconds(30)));
    ASSERT_TRUE(line.has_value()) << "after: " << ::testing::PrintToString(lines);
    lines.push_back(*line);
    processed += line->starts_with("processed orders ");
  }
  EXPECT_THAT(lines.front(), HasSubstr("group=orders-consumer threads=1"));
  (*consumer)->Signal(SIGTERM);
  std::optional<std::string> last;
  while (std::optional<std::string> line = (*consumer)->ReadLine(seconds(30))) last = line;
  EXPECT_EQ(last, "thread 0: closed");
  EXPECT_EQ((*consumer)->Wait(testing::Stretched(seconds(30))), 0);
}

TEST_F(ImageTest, ImagesRunAsTheUserTheChartRunsThem) {
  for (const char* target : {"controller", "example-consumer"}) {
    EXPECT_EQ(Config(target).value("User", ""), "65532:65532") << target;
  }
  const nlohmann::json controller = Config("controller");
  EXPECT_THAT(controller["Entrypoint"], ElementsAre("/usr/local/bin/groupscaler"));
  EXPECT_THAT(controller["Cmd"], ElementsAre("controller"));
  EXPECT_THAT(Config("example-consumer")["Entrypoint"],
              ElementsAre("/usr/local/bin/example_consumer"));
}

TEST_F(ImageTest, ImagesAreLabelledWithTheVersion) {
  for (const char* target : {"controller", "example-consumer"}) {
    const nlohmann::json labels = Config(target)["Labels"];
    EXPECT_EQ(labels.value("org.opencontainers.image.version", ""), GROUPSCALER_VERSION) << target;
  }
}

// The image's layers (sizes of their uncompressed tars) and what made each.
TEST_F(ImageTest, ControllerImageIsSmall) {
  for (const char* target : {"controller", "example-consumer"}) {
    StatusOr<nlohmann::json> image = Inspect(Image(target));
    ASSERT_TRUE(image.ok()) << image.status().ToString();
    const nlohmann::json manifest = nlohmann::json::parse((*image)["Manifest"].get<std::string>());
    int64_t total = 0;
    std::printf("%s image layers:\n", target);
    const nlohmann::json& history = (*image)["History"];
    size_t layer = 0;
    for (const nlohmann::json& step : history) {
      const bool empty = step.value("empty_layer", false);
      const int64_t bytes = empty ? 0 : manifest["layers"][layer++]["size"].get<int64_t>();
      total += bytes;
      std::printf("  %10lld  %s\n", static_cast<long long>(bytes),
                  step.value("created_by", "").c_str());
    }
    std::printf("%s image: %lld bytes\n", target, static_cast<long long>(total));
    RecordProperty(std::string(target) + "_bytes", std::to_string(total));
    if (std::string(target) == "controller") {
      EXPECT_LT(total, kMaxControllerBytes);
    }
  }
}

}  // namespace
}  // namespace groupscaler
