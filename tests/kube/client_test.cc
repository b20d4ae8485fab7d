// KubeClient's typed calls and its REST behaviour (retries, Retry-After,
// deadlines, rate limit, token refresh), always against the test API server
// over real HTTP.

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/base64.h"
#include "common/manual_clock.h"
#include "kafka/auth.h"
#include "kube_test_util.h"
#include "support/scripted_transport.h"

namespace groupscaler::kube {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using testing::Fault;
using ::testing::HasSubstr;
using ::testing::StartsWith;

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer();
    ASSERT_NE(server_, nullptr);
    client_ = ClientFor(*server_, options_, &clock_);
    ASSERT_NE(client_, nullptr);
  }

  ManualClock clock_{Timestamp(std::chrono::seconds(1'700'000'000)),
                     ManualClock::Sleeping::kAdvance};
  ClientOptions options_ = FastOptions();
  std::unique_ptr<testing::KubeApiServer> server_;
  std::unique_ptr<KubeClient> client_;
};

struct ScaleCase {
  std::string name;
  WorkloadKind kind;
  std::string resource;
  std::string kind_name;
};

class ScaleTest : public ClientTest, public ::testing::WithParamInterface<ScaleCase> {};

TEST_P(ScaleTest, GetAndPatch) {
  const auto& c = GetParam();
  std::string obj = DeploymentJson("payments", "consumer", 3, 2);
  obj.replace(obj.find("Deployment"), std::string("Deployment").size(), c.kind_name);
  ASSERT_TRUE(server_->Upsert(c.resource, obj).ok());
  WorkloadRef ref{c.kind, "payments", "consumer"};

  auto scale = client_->GetScale(ref);
  ASSERT_TRUE(scale.ok()) << scale.status().ToString();
  EXPECT_EQ(scale->spec_replicas, 3);
  EXPECT_EQ(scale->status_replicas, 2);
  EXPECT_EQ(scale->selector, "app=consumer");
  EXPECT_FALSE(scale->resource_version.empty());

  server_->ClearRequests();
  auto patched = client_->PatchScale(ref, 7);
  ASSERT_TRUE(patched.ok()) << patched.status().ToString();
  EXPECT_EQ(patched->spec_replicas, 7);
  EXPECT_EQ(patched->status_replicas, 2);

  auto log = server_->Requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].method, "PATCH");
  EXPECT_EQ(log[0].path, "/apis/apps/v1/namespaces/payments/" + c.resource + "/consumer/scale");
  EXPECT_EQ(log[0].query, "fieldManager=groupscaler");
  EXPECT_THAT(log[0].content_type, StartsWith("application/merge-patch+json"));
  EXPECT_EQ(log[0].body, R"({"spec":{"replicas":7}})");
  auto stored = server_->Get("apps/v1", c.resource, "payments", "consumer");
  ASSERT_TRUE(stored.ok());
  EXPECT_THAT(*stored, HasSubstr("\"replicas\":7"));
}

INSTANTIATE_TEST_SUITE_P(Kinds, ScaleTest,
                         ::testing::Values(ScaleCase{"deployment", WorkloadKind::kDeployment,
                                                     "deployments", "Deployment"},
                                           ScaleCase{"statefulset", WorkloadKind::kStatefulSet,
                                                     "statefulsets", "StatefulSet"}),
                         [](const auto& info) { return info.param.name; });

TEST_F(ClientTest, ScaleOfMissingWorkloadIsNotFound) {
  auto scale = client_->GetScale({WorkloadKind::kDeployment, "payments", "nope"});
  ASSERT_FALSE(scale.ok());
  EXPECT_EQ(scale.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(server_->CountRequests("", "nope"), 1) << "a 404 is not retried";
}

TEST_F(ClientTest, ParseWorkloadKind) {
  EXPECT_EQ(*ParseWorkloadKind("Deployment"), WorkloadKind::kDeployment);
  EXPECT_EQ(*ParseWorkloadKind("StatefulSet"), WorkloadKind::kStatefulSet);
  EXPECT_FALSE(ParseWorkloadKind("deployment").ok());
  EXPECT_FALSE(ParseWorkloadKind("ReplicaSet").ok());
}

TEST_F(ClientTest, ListGetAndPatchStatusOfAutoscalers) {
  ASSERT_TRUE(server_->Upsert("consumergroupautoscalers", AutoscalerJson("a", "one")).ok());
  ASSERT_TRUE(server_->Upsert("consumergroupautoscalers", AutoscalerJson("b", "two")).ok());

  auto all = client_->ListAutoscalers("");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  EXPECT_EQ(all->items.size(), 2u);
  EXPECT_EQ(all->resource_version, std::to_string(server_->resource_version()));
  auto only_a = client_->ListAutoscalers("a");
  ASSERT_TRUE(only_a.ok());
  ASSERT_EQ(only_a->items.size(), 1u);
  EXPECT_EQ(only_a->items[0].metadata.name, "one");
  EXPECT_EQ(only_a->items[0].metadata.generation, 1);
  EXPECT_THAT(only_a->items[0].json, HasSubstr("\"maxReplicas\":10"));

  auto got = client_->GetAutoscaler("b", "two");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->metadata.namespace_name, "b");

  server_->ClearRequests();
  auto patched = client_->PatchAutoscalerStatus("b", "two", R"({"totalLag":1200,"reason":"ok"})");
  ASSERT_TRUE(patched.ok()) << patched.status().ToString();
  EXPECT_THAT(patched->json, HasSubstr("\"totalLag\":1200"));
  auto log = server_->Requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].path,
            "/apis/groupscaler.io/v1alpha1/namespaces/b/consumergroupautoscalers/two/status");
  EXPECT_EQ(log[0].query, "fieldManager=groupscaler");
  EXPECT_THAT(log[0].content_type, StartsWith("application/merge-patch+json"));

  // A null removes a field, as merge patch says.
  auto cleared = client_->PatchAutoscalerStatus("b", "two", R"({"reason":null})");
  ASSERT_TRUE(cleared.ok());
  EXPECT_THAT(cleared->json, HasSubstr("\"totalLag\":1200"));
  EXPECT_THAT(cleared->json, ::testing::Not(HasSubstr("\"reason\"")));

  EXPECT_EQ(client_->PatchAutoscalerStatus("b", "two", "not json").status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(client_->GetAutoscaler("b", "missing").status().code(), StatusCode::kNotFound);
}

TEST_F(ClientTest, StaleStatusPatchIsConflictAndRetryOnConflictRereads) {
  ASSERT_TRUE(server_->Upsert("consumergroupautoscalers", AutoscalerJson("ns", "x")).ok());
  auto first = client_->GetAutoscaler("ns", "x");
  ASSERT_TRUE(first.ok());
  std::string stale_rv = first->metadata.resource_version;
  // Someone else writes in between.
  ASSERT_TRUE(server_->Upsert("consumergroupautoscalers", AutoscalerJson("ns", "x", 12)).ok());

  auto stale = client_->PatchAutoscalerStatus("ns", "x", R"({"totalLag":1})", stale_rv);
  ASSERT_FALSE(stale.ok());
  EXPECT_TRUE(IsConflict(stale.status())) << stale.status().ToString();
  EXPECT_EQ(stale.status().code(), StatusCode::kAborted);

  int attempts = 0;
  std::string rv = stale_rv;  // the first attempt uses what it had
  Status s = RetryOnConflict(3, [&]() -> Status {
    ++attempts;
    if (attempts > 1) {
      auto fresh = client_->GetAutoscaler("ns", "x");
      if (!fresh.ok()) return fresh.status();
      rv = fresh->metadata.resource_version;
    }
    return client_->PatchAutoscalerStatus("ns", "x", R"({"totalLag":2})", rv).status();
  });
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(attempts, 2);
  EXPECT_THAT(*server_->Get("groupscaler.io/v1alpha1", "consumergroupautoscalers", "ns", "x"),
              HasSubstr("\"totalLag\":2"));
}

TEST_F(ClientTest, RetryOnConflictGivesUp) {
  int attempts = 0;
  Status conflict(StatusCode::kAborted, "Conflict: PUT /x: modified (HTTP 409)");
  Status s = RetryOnConflict(3, [&] {
    ++attempts;
    return conflict;
  });
  EXPECT_TRUE(IsConflict(s));
  EXPECT_EQ(attempts, 3);
  attempts = 0;
  EXPECT_EQ(RetryOnConflict(3,
                            [&] {
                              ++attempts;
                              return NotFoundError("x");
                            })
                .code(),
            StatusCode::kNotFound);
  EXPECT_EQ(attempts, 1) << "only conflicts are retried";
}

Event IdleMembersEvent(const std::string& message = "6 replicas but 4 partitions") {
  return {.involved = {.api_version = "groupscaler.io/v1alpha1",
                       .kind = "ConsumerGroupAutoscaler",
                       .namespace_name = "payments",
                       .name = "mt-c400-consumer",
                       .uid = "u-1"},
          .type = EventType::kWarning,
          .reason = "IdleMembers",
          .message = message};
}

TEST_F(ClientTest, RecordEvent) {
  ASSERT_TRUE(client_->RecordEvent(IdleMembersEvent()).ok());
  auto log = server_->Requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].method, "POST");
  EXPECT_EQ(log[0].path, "/api/v1/namespaces/payments/events");
  EXPECT_EQ(log[0].response_code, 201);
  EXPECT_THAT(log[0].body, HasSubstr(R"("reason":"IdleMembers")"));
  EXPECT_THAT(log[0].body, HasSubstr(R"("type":"Warning")"));
  EXPECT_THAT(log[0].body, HasSubstr(R"("involvedObject":{)"));
  EXPECT_THAT(log[0].body, HasSubstr(R"("uid":"u-1")"));
  EXPECT_THAT(log[0].body, HasSubstr(R"("count":1)"));
  EXPECT_THAT(log[0].body, HasSubstr(R"("firstTimestamp":"2023-11-14T22:13:20Z")"));
}

// The same occurrence again is counted on the one Event (as client-go's
// EventCorrelator does); another message is another Event; an Event gone
// from the server (expired after its hour) is created anew.
TEST_F(ClientTest, RepeatedEventsRaiseTheCountOfOneObject) {
  ASSERT_TRUE(client_->RecordEvent(IdleMembersEvent()).ok());
  clock_.Advance(std::chrono::seconds(90));
  ASSERT_TRUE(client_->RecordEvent(IdleMembersEvent()).ok());
  ASSERT_TRUE(client_->RecordEvent(IdleMembersEvent()).ok());
  auto log = server_->Requests();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[1].method, "PATCH");
  EXPECT_EQ(log[1].response_code, 200);
  EXPECT_EQ(log[2].body, R"({"count":3,"lastTimestamp":"2023-11-14T22:14:50Z"})");
  const std::string name = log[1].path.substr(log[1].path.rfind('/') + 1);
  auto stored = server_->Get("v1", "events", "payments", name);
  ASSERT_TRUE(stored.ok());
  EXPECT_THAT(*stored, HasSubstr(R"("count":3)"));
  EXPECT_THAT(*stored, HasSubstr(R"("firstTimestamp":"2023-11-14T22:13:20Z")"));

  server_->ClearRequests();
  ASSERT_TRUE(client_->RecordEvent(IdleMembersEvent("8 replicas but 4 partitions")).ok());
  ASSERT_TRUE(server_->Delete("v1", "events", "payments", name).ok());
  ASSERT_TRUE(client_->RecordEvent(IdleMembersEvent()).ok());
  log = server_->Requests();
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[0].method, "POST");
  EXPECT_EQ(log[1].response_code, 404);
  EXPECT_EQ(log[2].method, "POST");
  EXPECT_THAT(log[2].body, HasSubstr(R"("count":1)"));
}

TEST_F(ClientTest, GetSecretDataDecodes) {
  std::string secret = R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"kafka-client",)"
                       R"("namespace":"payments"},"data":{"sasl.username":")" +
                       Base64Encode("svc-user") + R"(","sasl.password":")" +
                       Base64Encode("p@ss\nword") + R"("}})";
  ASSERT_TRUE(server_->Upsert("secrets", secret).ok());
  auto data = client_->GetSecretData("payments", "kafka-client");
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  EXPECT_EQ(data->at("sasl.username"), "svc-user");
  EXPECT_EQ(data->at("sasl.password"), "p@ss\nword");
  auto missing = client_->GetSecretData("payments", "nope");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);

  std::string bad = R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"bad",)"
                    R"("namespace":"payments"},"data":{"k":"%%%"}})";
  ASSERT_TRUE(server_->Upsert("secrets", bad).ok());
  auto broken = client_->GetSecretData("payments", "bad");
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(broken.status().message(), HasSubstr("\"k\""));
}

// The Secret of a CR's authSecretRef carries the keys of an --auth-file:
// one with the OAuth keys gives the controller the librdkafka settings and
// the client credentials grant that the same lines give `groupscaler lag`.
TEST_F(ClientTest, OAuthSecretGivesTheSettingsOfTheSameAuthFile) {
  auto file = kafka::ParseAuthText(
      "sasl=oauthbearer\ntls=enable\noauthTokenEndpointUri=https://idp.example/token\n"
      "oauthClientId=groupscaler\noauthClientSecret=s3cret/+=\noauthScope=kafka\n"
      "oauthExtensions=logicalCluster=lkc-1,identityPoolId=pool-2\n",
      "auth");
  ASSERT_TRUE(file.ok()) << file.status().ToString();
  std::string data;
  for (const auto& [key, value] : *file) {
    data += (data.empty() ? "\"" : ",\"") + key + "\":\"" + Base64Encode(value) + "\"";
  }
  ASSERT_TRUE(
      server_
          ->Upsert("secrets", R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"oauth",)"
                              R"("namespace":"payments"},"data":{)" +
                                  data + "}}")
          .ok());
  auto secret = client_->GetSecretData("payments", "oauth");
  ASSERT_TRUE(secret.ok()) << secret.status().ToString();
  EXPECT_EQ(*secret, *file);
  auto from_secret = kafka::BuildAuthConfig(*secret);
  auto from_file = kafka::BuildAuthConfig(*file);
  ASSERT_TRUE(from_secret.ok()) << from_secret.status().ToString();
  ASSERT_TRUE(from_file.ok());
  EXPECT_EQ(from_secret->properties, from_file->properties);
  ASSERT_TRUE(from_secret->oauth.has_value());
  EXPECT_EQ(from_secret->oauth, from_file->oauth);
  EXPECT_EQ(from_secret->oauth->client_secret, "s3cret/+=");
  EXPECT_EQ(from_secret->secrets, std::vector<std::string>{"s3cret/+="});
}

TEST_F(ClientTest, LeaseLifecycle) {
  EXPECT_EQ(client_->GetLease("system", "groupscaler").status().code(), StatusCode::kNotFound);

  Timestamp t0 = clock_.Now() + milliseconds(123);
  Lease lease{.metadata = {.namespace_name = "system", .name = "groupscaler"},
              .holder_identity = "pod-a_1234",
              .lease_duration_seconds = 15,
              .acquire_time = t0,
              .renew_time = t0,
              .lease_transitions = 0};
  auto created = client_->CreateLease(lease);
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(created->holder_identity, "pod-a_1234");
  EXPECT_EQ(created->renew_time, t0) << "MicroTime round-trips to the millisecond";
  EXPECT_THAT(server_->Requests().back().body,
              HasSubstr("\"renewTime\":\"2023-11-14T22:13:20.123000Z\""));

  auto again = client_->CreateLease(lease);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(IsAlreadyExists(again.status())) << again.status().ToString();

  Lease renewed = *created;
  renewed.renew_time = t0 + std::chrono::seconds(2);
  auto updated = client_->UpdateLease(renewed);
  ASSERT_TRUE(updated.ok()) << updated.status().ToString();
  EXPECT_EQ(updated->renew_time, t0 + std::chrono::seconds(2));
  EXPECT_NE(updated->metadata.resource_version, created->metadata.resource_version);

  // Another candidate still holding the old resourceVersion loses.
  Lease usurper = *created;
  usurper.holder_identity = "pod-b_5678";
  auto lost = client_->UpdateLease(usurper);
  ASSERT_FALSE(lost.ok());
  EXPECT_TRUE(IsConflict(lost.status())) << lost.status().ToString();
  auto now = client_->GetLease("system", "groupscaler");
  ASSERT_TRUE(now.ok());
  EXPECT_EQ(now->holder_identity, "pod-a_1234");

  usurper.metadata.resource_version.clear();
  EXPECT_EQ(client_->UpdateLease(usurper).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ClientTest, ListHpasAndFindTheOnesTargetingAWorkload) {
  auto hpa = [](const std::string& name, const std::string& kind, const std::string& target) {
    return R"({"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":")" +
           name +
           R"(","namespace":"payments"},"spec":{"scaleTargetRef":{"apiVersion":"apps/v1",)"
           R"("kind":")" +
           kind + R"(","name":")" + target + R"("},"maxReplicas":5}})";
  };
  ASSERT_TRUE(
      server_->Upsert("horizontalpodautoscalers", hpa("h1", "Deployment", "consumer")).ok());
  ASSERT_TRUE(server_->Upsert("horizontalpodautoscalers", hpa("h2", "Deployment", "web")).ok());
  ASSERT_TRUE(
      server_->Upsert("horizontalpodautoscalers", hpa("h3", "StatefulSet", "consumer")).ok());
  auto hpas = client_->ListHpas("payments");
  ASSERT_TRUE(hpas.ok()) << hpas.status().ToString();
  EXPECT_EQ(hpas->size(), 3u);
  auto conflicting = HpasTargeting(*hpas, {WorkloadKind::kDeployment, "payments", "consumer"});
  ASSERT_EQ(conflicting.size(), 1u);
  EXPECT_EQ(conflicting[0].name, "h1");
  EXPECT_TRUE(HpasTargeting(*hpas, {WorkloadKind::kDeployment, "other", "consumer"}).empty());
}

// The HPA version comes from discovery: the newest of v2, v2beta2, v2beta1
// and v1 that the server serves (1.20 serves no v2), asked once.
struct HpaVersionCase {
  std::string name;
  std::vector<std::string> served;
  std::string listed_at;  // empty: ListHpas fails
};

class HpaVersionTest : public ::testing::TestWithParam<HpaVersionCase> {};

TEST_P(HpaVersionTest, ListsThroughTheNewestServedVersion) {
  const HpaVersionCase& c = GetParam();
  ManualClock clock{Timestamp(std::chrono::seconds(1'700'000'000)),
                    ManualClock::Sleeping::kAdvance};
  auto server = StartServer({.hpa_versions = c.served});
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server, FastOptions(), &clock);
  auto first = client->ListHpas("payments");
  auto second = client->ListHpas("payments");
  if (c.listed_at.empty()) {
    ASSERT_FALSE(first.ok());
    EXPECT_EQ(first.status().code(), StatusCode::kNotFound);
    EXPECT_THAT(first.status().message(), HasSubstr("autoscaling"));
    return;
  }
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(server->CountRequests("GET", "/apis/autoscaling/" + c.listed_at + "/"), 2);
  EXPECT_EQ(server->CountRequests("GET", "/apis/autoscaling"), 3) << "discovery once";
}

INSTANTIATE_TEST_SUITE_P(
    Servers, HpaVersionTest,
    ::testing::Values(HpaVersionCase{"Current", {"v1", "v2"}, "v2"},
                      HpaVersionCase{"Kubernetes120", {"v1", "v2beta1", "v2beta2"}, "v2beta2"},
                      HpaVersionCase{"OnlyV1", {"v1"}, "v1"},
                      HpaVersionCase{"NoAutoscalingGroup", {}, ""}),
    [](const auto& info) { return info.param.name; });

TEST_F(ClientTest, TooManyRequestsHonoursRetryAfter) {
  ASSERT_TRUE(server_->Upsert("deployments", DeploymentJson("ns", "d", 1, 1)).ok());
  server_->InjectFault({.kind = Fault::Kind::kStatus,
                        .path_contains = "/scale",
                        .count = 2,
                        .status_code = 429,
                        .retry_after_seconds = 2});
  auto scale = client_->GetScale({WorkloadKind::kDeployment, "ns", "d"});
  ASSERT_TRUE(scale.ok()) << scale.status().ToString();
  EXPECT_THAT(clock_.Sleeps(), ElementsAre(milliseconds(2000), milliseconds(2000)));
  EXPECT_EQ(server_->CountRequests("GET", "/scale"), 3);
}

TEST_F(ClientTest, RetryAfterBeyondTheLimitIsNotWaitedFor) {
  server_->InjectFault({.kind = Fault::Kind::kStatus,
                        .path_contains = "/scale",
                        .count = 1,
                        .status_code = 429,
                        .retry_after_seconds = 3600});
  auto scale = client_->GetScale({WorkloadKind::kDeployment, "ns", "d"});
  ASSERT_FALSE(scale.ok());
  EXPECT_EQ(scale.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(ApiReason(scale.status()), "TooManyRequests");
  EXPECT_TRUE(clock_.Sleeps().empty());
  EXPECT_EQ(server_->CountRequests("GET", "/scale"), 1);
}

TEST_F(ClientTest, ServerErrorsAreRetriedWithBackoffThenSurfaced) {
  server_->InjectFault(
      {.kind = Fault::Kind::kStatus, .path_contains = "/scale", .count = 100, .status_code = 500});
  auto scale = client_->GetScale({WorkloadKind::kDeployment, "ns", "d"});
  ASSERT_FALSE(scale.ok());
  EXPECT_EQ(scale.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(ApiReason(scale.status()), "InternalError");
  EXPECT_THAT(scale.status().message(), HasSubstr("(HTTP 500)"));
  EXPECT_EQ(server_->CountRequests("GET", "/scale"), options_.max_retries + 1);
  // 5 ms doubling, capped at 40 ms.
  EXPECT_THAT(clock_.Sleeps(),
              ElementsAre(milliseconds(5), milliseconds(10), milliseconds(20), milliseconds(40)));
}

TEST_F(ClientTest, TransientServerErrorsAreSurvived) {
  ASSERT_TRUE(server_->Upsert("deployments", DeploymentJson("ns", "d", 4, 4)).ok());
  server_->InjectFault({.kind = Fault::Kind::kStatus,
                        .method = "PATCH",
                        .path_contains = "/scale",
                        .count = 1,
                        .status_code = 503});
  server_->InjectFault(
      {.kind = Fault::Kind::kDisconnect, .method = "PATCH", .path_contains = "/scale", .count = 1});
  auto scale = client_->PatchScale({WorkloadKind::kDeployment, "ns", "d"}, 6);
  ASSERT_TRUE(scale.ok()) << scale.status().ToString();
  EXPECT_EQ(scale->spec_replicas, 6);
  EXPECT_EQ(server_->CountRequests("PATCH", "/scale"), 3);
}

TEST_F(ClientTest, RateLimitSpacesRequests) {
  ClientOptions limited = FastOptions();
  limited.qps = 10;
  limited.burst = 2;
  auto client = ClientFor(*server_, limited, &clock_);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(client->GetScale({WorkloadKind::kDeployment, "ns", "d"}).status().code(),
              StatusCode::kNotFound);
  }
  EXPECT_THAT(clock_.Sleeps(), ElementsAre(milliseconds(100), milliseconds(100)));
}

TEST(ClientDeadlineTest, TotalDeadlineCutsASlowAnswer) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  ClientOptions options = FastOptions();
  options.timeout = milliseconds(300);
  auto client = ClientFor(*server, options);
  server->InjectFault(
      {.kind = Fault::Kind::kLatency, .path_contains = "/scale", .latency = milliseconds(900)});
  auto start = std::chrono::steady_clock::now();
  auto scale = client->GetScale({WorkloadKind::kDeployment, "ns", "d"});
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(scale.ok());
  EXPECT_EQ(scale.status().code(), StatusCode::kDeadlineExceeded) << scale.status().ToString();
  EXPECT_LT(took, milliseconds(800)) << "cut at the deadline, not when the answer came";
  EXPECT_GE(took, milliseconds(250));
}

TEST(ClientDeadlineTest, ShortLatencyWithinTheDeadlineSucceeds) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  ASSERT_TRUE(server->Upsert("deployments", DeploymentJson("ns", "d", 2, 2)).ok());
  auto client = ClientFor(*server);
  server->InjectFault(
      {.kind = Fault::Kind::kLatency, .path_contains = "/scale", .latency = milliseconds(50)});
  auto scale = client->GetScale({WorkloadKind::kDeployment, "ns", "d"});
  ASSERT_TRUE(scale.ok()) << scale.status().ToString();
  EXPECT_EQ(scale->spec_replicas, 2);
}

TEST(ClientConcurrencyTest, ManyWorkersShareOneClient) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  constexpr int kWorkers = 8;
  constexpr int kCalls = 25;
  for (int w = 0; w < kWorkers; ++w) {
    ASSERT_TRUE(
        server->Upsert("deployments", DeploymentJson("ns", "d" + std::to_string(w), 1, 1)).ok());
  }
  auto client = ClientFor(*server);
  std::atomic<int> failures{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      WorkloadRef ref{WorkloadKind::kDeployment, "ns", "d" + std::to_string(w)};
      for (int i = 1; i <= kCalls; ++i) {
        auto patched = client->PatchScale(ref, i);
        auto got = client->GetScale(ref);
        if (!patched.ok() || !got.ok() || got->spec_replicas != i) ++failures;
      }
    });
  }
  for (auto& t : workers) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(server->CountRequests("PATCH", "/scale"), kWorkers * kCalls);
}

TEST(ClientTokenTest, RotatedTokenIsRereadAfter401) {
  TempDir dir;
  std::string path = dir.Write("token", "old-token");
  auto token = std::make_shared<FileTokenSource>(path);
  auto server = StartServer({.required_token = "old-token"});
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server, FastOptions(), nullptr, token);
  ASSERT_EQ(client->ListHpas("ns").status().code(), StatusCode::kOk);

  // Rotated on disk with the same size and mtime: invisible until a 401.
  auto mtime = std::filesystem::last_write_time(path);
  dir.Write("token", "new-token");
  std::filesystem::last_write_time(path, mtime);
  server->SetRequiredToken("new-token");
  server->ClearRequests();
  auto hpas = client->ListHpas("ns");
  ASSERT_TRUE(hpas.ok()) << hpas.status().ToString();
  auto log = server->Requests();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0].authorization, "Bearer old-token");
  EXPECT_EQ(log[0].response_code, 401);
  EXPECT_EQ(log[1].authorization, "Bearer new-token");

  // A token that is simply wrong is reported, not retried forever.
  server->SetRequiredToken("other");
  auto denied = client->ListHpas("ns");
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
}

TEST(ClientTokenTest, TokenChangedOnDiskIsUsedWithoutA401) {
  TempDir dir;
  std::string path = dir.Write("token", "t1");
  auto server = StartServer({.required_token = "t1"});
  ASSERT_NE(server, nullptr);
  auto client = ClientFor(*server, FastOptions(), nullptr, std::make_shared<FileTokenSource>(path));
  ASSERT_TRUE(client->ListHpas("ns").ok());
  dir.Write("token", "token-two");
  server->SetRequiredToken("token-two");
  server->ClearRequests();
  ASSERT_TRUE(client->ListHpas("ns").ok());
  EXPECT_EQ(server->Requests().size(), 1u);
}

TEST(ClientConfigTest, MalformedServerUrlIsAnError) {
  RestConfig config;
  config.server = "ftp://example";
  auto client = KubeClient::Create(config);
  EXPECT_FALSE(client.ok());
}

TEST(ClientConfigTest, UnreachableServerIsUnavailable) {
  // A port that was just free: nothing listens there.
  int port;
  {
    auto server = StartServer();
    ASSERT_NE(server, nullptr);
    port = server->port();
  }
  RestConfig config;
  config.server = "http://127.0.0.1:" + std::to_string(port);
  ClientOptions options = FastOptions();
  options.max_retries = 1;
  auto client = KubeClient::Create(config, options);
  ASSERT_TRUE(client.ok());
  auto hpas = (*client)->ListHpas("ns");
  ASSERT_FALSE(hpas.ok());
  EXPECT_EQ(hpas.status().code(), StatusCode::kUnavailable) << hpas.status().ToString();
}

// ---------------------------------------------------------------------------
// Odd answers, from a scripted API server (tests/support/scripted_transport.h).

// A client whose every call is answered by `script`'s frames in order.
std::unique_ptr<KubeClient> ScriptedClient(std::string_view script, ManualClock* clock) {
  auto transport =
      std::make_unique<testing::ScriptedTransport>(testing::ParseScript(script).frames);
  return std::make_unique<KubeClient>(std::move(transport), nullptr, testing::ScriptOptions(),
                                      clock);
}

struct NumberCase {
  std::string name;
  std::string json;  // the number as the answer spells it
  int32_t read = 0;  // what the int32 field reads as
};
void PrintTo(const NumberCase& c, std::ostream* os) { *os << c.name; }

class AnswerNumberTest : public ::testing::TestWithParam<NumberCase> {};

// Found by fuzz/kube_answers: an int32 field given as a double out of range
// (replicas 1e300) went through cpprestsdk's number::to_int64, undefined
// behaviour (UBSan), and one beyond int32 wrapped. A field that is not a
// whole number within int32 reads as absent (0), as a missing one does.
TEST_P(AnswerNumberTest, Int32FieldsReadWholeNumbersInRangeOnly) {
  const NumberCase& c = GetParam();
  ManualClock clock{Timestamp{}, ManualClock::Sleeping::kAdvance};
  auto client = ScriptedClient("--- 200\n{\"spec\":{\"replicas\":" + c.json +
                                   "},\"status\":{\"replicas\":" + c.json +
                                   "}}\n--- 200\n{\"spec\":{\"leaseDurationSeconds\":" + c.json +
                                   ",\"leaseTransitions\":" + c.json + "}}\n",
                               &clock);
  StatusOr<Scale> scale = client->GetScale({.namespace_name = "ns", .name = "d"});
  ASSERT_TRUE(scale.ok()) << scale.status().ToString();
  EXPECT_EQ(scale->spec_replicas, c.read);
  EXPECT_EQ(scale->status_replicas, c.read);
  StatusOr<Lease> lease = client->GetLease("ns", "leader");
  ASSERT_TRUE(lease.ok()) << lease.status().ToString();
  EXPECT_EQ(lease->lease_duration_seconds, c.read);
  EXPECT_EQ(lease->lease_transitions, c.read);
}

INSTANTIATE_TEST_SUITE_P(
    Client, AnswerNumberTest,
    ::testing::Values(NumberCase{.name = "integer", .json = "7", .read = 7},
                      NumberCase{.name = "negative", .json = "-1", .read = -1},
                      NumberCase{.name = "whole_double", .json = "1e2", .read = 100},
                      NumberCase{.name = "int32_max", .json = "2147483647", .read = 2147483647},
                      NumberCase{.name = "fraction", .json = "2.5", .read = 0},
                      NumberCase{.name = "double_out_of_range", .json = "1e300", .read = 0},
                      NumberCase{.name = "beyond_int32", .json = "4294967297", .read = 0},
                      NumberCase{
                          .name = "beyond_int64", .json = "18446744073709551615", .read = 0}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace groupscaler::kube
