#include "controller/leader_elector.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fakes.h"
#include "kube/kube_client.h"
#include "support/kube_api_server.h"
#include "support/subprocess.h"

namespace groupscaler::controller {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr const char* kLeaseKey = "system/groupscaler-controller";

LeaderElectionConfig Config(const std::string& identity) {
  return {.namespace_name = "system", .identity = identity};
}

struct TwoElectors {
  ManualClock clock{Timestamp{seconds(1'800'000'000)}};
  fakes::FakeLeaseClient leases;
  LeaderElector a{&leases, &clock, Config("a")};
  LeaderElector b{&leases, &clock, Config("b")};

  // One retry period: both try once, then time moves on.
  void Round() {
    (void)a.TryAcquireOrRenew();
    (void)b.TryAcquireOrRenew();
    clock.Advance(seconds(2));
  }
};

TEST(LeaderElector, TwoElectorsOneLeader) {
  TwoElectors t;
  for (int i = 0; i < 20; ++i) {
    t.Round();
    EXPECT_NE(t.a.IsLeader(), t.b.IsLeader()) << "round " << i;
  }
  EXPECT_TRUE(t.a.IsLeader());
  EXPECT_EQ(t.leases.Get(kLeaseKey)->holder_identity, "a");
  EXPECT_EQ(t.leases.Get(kLeaseKey)->lease_duration_seconds, 15);
}

TEST(LeaderElector, FollowerTakesOverOnlyAfterLeaseDuration) {
  TwoElectors t;
  ASSERT_TRUE(t.a.TryAcquireOrRenew());
  // a stops renewing (killed). b first sees a's record now.
  EXPECT_FALSE(t.b.TryAcquireOrRenew());
  for (int i = 0; i < 7; ++i) {
    t.clock.Advance(seconds(2));  // up to 14 s
    EXPECT_FALSE(t.b.TryAcquireOrRenew()) << "at " << 2 * (i + 1) << " s";
  }
  t.clock.Advance(milliseconds(999));
  EXPECT_FALSE(t.b.TryAcquireOrRenew()) << "14.999 s";
  t.clock.Advance(milliseconds(1));
  EXPECT_TRUE(t.b.TryAcquireOrRenew()) << "15 s";
  const kube::Lease lease = *t.leases.Get(kLeaseKey);
  EXPECT_EQ(lease.holder_identity, "b");
  EXPECT_EQ(lease.lease_transitions, 1);
  EXPECT_FALSE(t.a.IsLeader()) << "a's renew deadline passed";
}

// Run() attempts once per retry period, sleeping on the clock in between,
// and gives the Lease up when stopped.
TEST(LeaderElector, RunAttemptsEveryRetryPeriodAndReleasesWhenStopped) {
  TwoElectors t;
  ASSERT_TRUE(t.b.TryAcquireOrRenew());  // then b stops renewing
  std::atomic<int> started{0};
  std::jthread run([&](std::stop_token stop) { t.a.Run(stop, [&] { ++started; }, {}); });
  // True once Run() is in its n-th sleep.
  auto in_sleep = [&](size_t n) {
    return groupscaler::testing::WaitFor(
        [&] { return t.clock.Sleepers() == 1 && t.clock.Sleeps().size() == n; }, seconds(10));
  };
  ASSERT_TRUE(in_sleep(1));
  for (size_t i = 1; i <= 7; ++i) {
    t.clock.Advance(seconds(2));  // up to 14 s: b's lease has not expired
    ASSERT_TRUE(in_sleep(i + 1));
    EXPECT_FALSE(t.a.IsLeader()) << "at " << 2 * i << " s";
  }
  t.clock.Advance(seconds(2));
  ASSERT_TRUE(in_sleep(9));
  EXPECT_TRUE(t.a.IsLeader());
  EXPECT_EQ(started.load(), 1);
  EXPECT_EQ(t.clock.Sleeps(), std::vector<milliseconds>(9, seconds(2)));
  EXPECT_EQ(t.leases.Get(kLeaseKey)->holder_identity, "a");

  run.request_stop();
  run.join();
  EXPECT_EQ(t.leases.Get(kLeaseKey)->holder_identity, "");
  EXPECT_EQ(started.load(), 1);
}

// Found by UndefinedBehaviorSanitizer: the count saturates instead of
// overflowing into a negative number the API server would refuse.
TEST(LeaderElector, TakeoverAtTheLargestTransitionCountKeepsIt) {
  TwoElectors t;
  kube::Lease held;
  held.metadata.namespace_name = "system";
  held.metadata.name = "groupscaler-controller";
  held.holder_identity = "a";
  held.lease_duration_seconds = 15;
  held.renew_time = t.clock.Now();
  held.lease_transitions = std::numeric_limits<int32_t>::max();
  ASSERT_TRUE(t.leases.CreateLease(held).ok());
  EXPECT_FALSE(t.b.TryAcquireOrRenew());
  t.clock.Advance(seconds(15));
  ASSERT_TRUE(t.b.TryAcquireOrRenew());
  EXPECT_EQ(t.leases.Get(kLeaseKey)->holder_identity, "b");
  EXPECT_EQ(t.leases.Get(kLeaseKey)->lease_transitions, std::numeric_limits<int32_t>::max());
}

TEST(LeaderElector, LeaderThatCannotRenewStepsDownAtRenewDeadline) {
  TwoElectors t;
  ASSERT_TRUE(t.a.TryAcquireOrRenew());
  t.leases.SetFailing(true);
  for (int i = 0; i < 4; ++i) {
    t.clock.Advance(seconds(2));
    EXPECT_TRUE(t.a.TryAcquireOrRenew()) << "within the renew deadline, at " << 2 * (i + 1);
  }
  t.clock.Advance(seconds(2));  // 10 s since the last renewal
  EXPECT_FALSE(t.a.TryAcquireOrRenew());
  EXPECT_FALSE(t.a.IsLeader());
}

TEST(LeaderElector, ReleasedLeaseTakenAtOnce) {
  TwoElectors t;
  ASSERT_TRUE(t.a.TryAcquireOrRenew());
  EXPECT_FALSE(t.b.TryAcquireOrRenew());
  ASSERT_TRUE(t.a.Release().ok());
  EXPECT_FALSE(t.a.IsLeader());
  EXPECT_EQ(t.leases.Get(kLeaseKey)->holder_identity, "");
  t.clock.Advance(seconds(2));
  EXPECT_TRUE(t.b.TryAcquireOrRenew());
}

TEST(LeaderElector, RenewalKeepsLeadershipPastTheLeaseDuration) {
  TwoElectors t;
  for (int i = 0; i < 30; ++i) t.Round();  // 60 s
  EXPECT_TRUE(t.a.IsLeader());
  EXPECT_FALSE(t.b.IsLeader());
  EXPECT_EQ(t.leases.Get(kLeaseKey)->lease_transitions, 0);
}

TEST(DefaultIdentity, HostPlusRandomSuffix) {
  const std::string one = DefaultIdentity();
  const std::string two = DefaultIdentity();
  EXPECT_NE(one, two);
  EXPECT_NE(one.find('_'), std::string::npos);
}

// The same over real HTTP against the test API server: the 409 on a stale
// resourceVersion is what keeps two electors from both winning.
TEST(LeaderElectorOverHttp, OneLeaderThenHandOverOnRelease) {
  auto server = testing::KubeApiServer::Start();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  kube::RestConfig config{.server = (*server)->url()};
  auto client = kube::KubeClient::Create(config);
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  ManualClock clock{Timestamp{seconds(1'800'000'000)}};
  LeaderElector a(client->get(), &clock, Config("a"));
  LeaderElector b(client->get(), &clock, Config("b"));
  for (int i = 0; i < 3; ++i) {
    const bool a_leads = a.TryAcquireOrRenew();
    const bool b_leads = b.TryAcquireOrRenew();
    EXPECT_NE(a_leads, b_leads);
    clock.Advance(seconds(2));
  }
  EXPECT_TRUE(a.IsLeader());
  // Stale resourceVersion: a second writer with an old copy is refused.
  auto lease = (*client)->GetLease("system", "groupscaler-controller");
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ(lease->holder_identity, "a");
  ASSERT_TRUE(a.TryAcquireOrRenew());
  kube::Lease stale = *lease;
  stale.holder_identity = "intruder";
  EXPECT_FALSE((*client)->UpdateLease(stale).ok());

  ASSERT_TRUE(a.Release().ok());
  EXPECT_TRUE(b.TryAcquireOrRenew());
  EXPECT_EQ((*client)->GetLease("system", "groupscaler-controller")->holder_identity, "b");
  EXPECT_GE((*server)->CountRequests("PUT", "/leases/groupscaler-controller"), 4);
}

}  // namespace
}  // namespace groupscaler::controller
