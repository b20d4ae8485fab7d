// LeaderFence: every write checks leadership at the moment it is made;
// reads and watches pass through whatever it says.

#include "controller/leader_fence.h"

#include <gtest/gtest.h>

#include <atomic>

namespace groupscaler::controller {
namespace {

// Counts the calls that reach the API.
class CountingClient final : public kube::AutoscalerClient,
                             public kube::ScaleClient,
                             public kube::EventRecorder {
 public:
  StatusOr<kube::AutoscalerList> ListAutoscalers(const std::string&) override {
    ++reads;
    return kube::AutoscalerList{};
  }
  StatusOr<kube::Autoscaler> GetAutoscaler(const std::string&, const std::string&) override {
    ++reads;
    return kube::Autoscaler{};
  }
  StatusOr<kube::Autoscaler> PatchAutoscalerStatus(const std::string&, const std::string&,
                                                   const std::string&,
                                                   const std::string&) override {
    ++writes;
    return kube::Autoscaler{};
  }
  std::unique_ptr<kube::WatchHandle> WatchAutoscalers(const std::string&,
                                                      kube::WatchHandlers) override {
    ++reads;
    return nullptr;
  }
  StatusOr<kube::Scale> GetScale(const kube::WorkloadRef&) override {
    ++reads;
    return kube::Scale{};
  }
  StatusOr<kube::Scale> PatchScale(const kube::WorkloadRef&, int32_t) override {
    ++writes;
    return kube::Scale{};
  }
  Status RecordEvent(const kube::Event&) override {
    ++writes;
    return Status::Ok();
  }

  int reads = 0;
  int writes = 0;
};

TEST(LeaderFence, WritesPassOnlyWhileLeadingReadsAlways) {
  CountingClient api;
  std::atomic<bool> leads{true};
  LeaderFence fence(&api, &api, &api, [&] { return leads.load(); });
  const kube::WorkloadRef ref{.namespace_name = "ns", .name = "app"};

  EXPECT_TRUE(fence.PatchScale(ref, 3).ok());
  EXPECT_TRUE(fence.PatchAutoscalerStatus("ns", "app", "{}", "").ok());
  EXPECT_TRUE(fence.RecordEvent({.reason = "ScaledUp"}).ok());
  EXPECT_EQ(api.writes, 3);

  leads = false;
  const StatusOr<kube::Scale> refused = fence.PatchScale(ref, 4);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(refused.status().message(), "not the leader: the scale of ns/app not written");
  EXPECT_FALSE(fence.PatchAutoscalerStatus("ns", "app", "{}", "").ok());
  EXPECT_FALSE(fence.RecordEvent({.reason = "ScaledUp"}).ok());
  EXPECT_EQ(api.writes, 3);

  EXPECT_TRUE(fence.GetScale(ref).ok());
  EXPECT_TRUE(fence.GetAutoscaler("ns", "app").ok());
  EXPECT_TRUE(fence.ListAutoscalers("").ok());
  fence.WatchAutoscalers("", {});
  EXPECT_EQ(api.reads, 4);
}

}  // namespace
}  // namespace groupscaler::controller
