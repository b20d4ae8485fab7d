// The test API server itself, over real HTTP through the client's REST
// layer: the conventions the controller relies on must hold here exactly as
// on a real API server (status codes, Status bodies, merge patch,
// resourceVersion, subresources).

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cpprest/json.h>

#include "kube_test_util.h"

namespace groupscaler::kube {
namespace {

using ::testing::HasSubstr;
using web::json::value;

constexpr char kDeployments[] = "/apis/apps/v1/namespaces/ns/deployments";
constexpr char kConfigMaps[] = "/api/v1/namespaces/ns/configmaps";
constexpr char kCgas[] = "/apis/groupscaler.io/v1alpha1/namespaces/ns/consumergroupautoscalers";

class ApiServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = StartServer();
    ASSERT_NE(server_, nullptr);
    client_ = ClientFor(*server_);
    ASSERT_NE(client_, nullptr);
  }

  // The raw answer as JSON; fails the test on an error.
  value Call(const std::string& method, const std::string& path, const std::string& ct = "",
             const std::string& body = "") {
    auto r = client_->rest().Call(method, path, ct, body);
    EXPECT_TRUE(r.ok()) << method << " " << path << ": " << r.status().ToString();
    return r.ok() ? value::parse(*r) : value::null();
  }
  Status CallError(const std::string& method, const std::string& path, const std::string& ct = "",
                   const std::string& body = "") {
    auto r = client_->rest().Call(method, path, ct, body);
    EXPECT_FALSE(r.ok()) << method << " " << path << " unexpectedly succeeded: " << *r;
    return r.status();
  }

  std::unique_ptr<testing::KubeApiServer> server_;
  std::unique_ptr<KubeClient> client_;
};

TEST_F(ApiServerTest, CreateGetListDelete) {
  value created = Call("POST", kDeployments, "application/json", DeploymentJson("ns", "a", 2, 0));
  EXPECT_EQ(created["metadata"]["generation"].as_integer(), 1);
  EXPECT_FALSE(created["metadata"]["uid"].as_string().empty());
  std::string rv = created["metadata"]["resourceVersion"].as_string();
  EXPECT_EQ(rv, std::to_string(server_->resource_version()));
  // Status is a subresource of deployments: a create does not set it.
  EXPECT_FALSE(created.has_field("status"));

  value got = Call("GET", std::string(kDeployments) + "/a");
  EXPECT_EQ(got["metadata"]["resourceVersion"].as_string(), rv);
  EXPECT_EQ(got["kind"].as_string(), "Deployment");

  Call("POST", kDeployments, "application/json", DeploymentJson("ns", "b", 1, 0));
  value list = Call("GET", kDeployments);
  EXPECT_EQ(list["kind"].as_string(), "DeploymentList");
  EXPECT_EQ(list["items"].size(), 2u);
  EXPECT_EQ(list["metadata"]["resourceVersion"].as_string(),
            std::to_string(server_->resource_version()));

  value deleted = Call("DELETE", std::string(kDeployments) + "/a");
  EXPECT_EQ(deleted["metadata"]["name"].as_string(), "a");
  Status gone = CallError("GET", std::string(kDeployments) + "/a");
  EXPECT_EQ(gone.code(), StatusCode::kNotFound);
  EXPECT_THAT(gone.message(), HasSubstr("deployments.apps \"a\" not found"));
  EXPECT_EQ(ApiReason(gone), "NotFound");
}

TEST_F(ApiServerTest, CreateTwiceIsAlreadyExists) {
  Call("POST", kDeployments, "application/json", DeploymentJson("ns", "a", 2, 0));
  Status s = CallError("POST", kDeployments, "application/json", DeploymentJson("ns", "a", 2, 0));
  EXPECT_TRUE(IsAlreadyExists(s)) << s.ToString();
  EXPECT_FALSE(IsConflict(s));
  EXPECT_THAT(s.message(), HasSubstr("(HTTP 409)"));
}

TEST_F(ApiServerTest, StatusBodiesFollowTheConvention) {
  // The Status body, fetched through a transport without the client's mapping.
  RestConfig config;
  config.server = server_->url();
  auto transport = NewHttpTransport(config);
  ASSERT_TRUE(transport.ok());
  auto resp =
      (*transport)
          ->Send({"GET", std::string(kDeployments) + "/missing"}, std::chrono::milliseconds(2000));
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  EXPECT_EQ(resp->status_code, 404);
  value body = value::parse(resp->body);
  EXPECT_EQ(body["kind"].as_string(), "Status");
  EXPECT_EQ(body["apiVersion"].as_string(), "v1");
  EXPECT_EQ(body["status"].as_string(), "Failure");
  EXPECT_EQ(body["reason"].as_string(), "NotFound");
  EXPECT_EQ(body["code"].as_integer(), 404);
  EXPECT_EQ(body["details"]["name"].as_string(), "missing");
  EXPECT_EQ(body["details"]["group"].as_string(), "apps");

  auto unknown =
      (*transport)
          ->Send({"GET", "/apis/apps/v1/namespaces/ns/widgets"}, std::chrono::milliseconds(2000));
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status_code, 404);
}

TEST_F(ApiServerTest, PutWithStaleResourceVersionIsConflict) {
  value created = Call("POST", kDeployments, "application/json", DeploymentJson("ns", "a", 2, 0));
  std::string old_rv = created["metadata"]["resourceVersion"].as_string();
  value update = created;
  update["spec"]["replicas"] = value::number(3);
  value updated =
      Call("PUT", std::string(kDeployments) + "/a", "application/json", update.serialize());
  EXPECT_EQ(updated["spec"]["replicas"].as_integer(), 3);
  EXPECT_EQ(updated["metadata"]["generation"].as_integer(), 2) << "spec changed";
  EXPECT_NE(updated["metadata"]["resourceVersion"].as_string(), old_rv);

  update["spec"]["replicas"] = value::number(4);  // still carries old_rv
  Status s =
      CallError("PUT", std::string(kDeployments) + "/a", "application/json", update.serialize());
  EXPECT_TRUE(IsConflict(s)) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("the object has been modified"));
  value now = Call("GET", std::string(kDeployments) + "/a");
  EXPECT_EQ(now["spec"]["replicas"].as_integer(), 3);
}

struct MergePatchCase {
  std::string name;
  std::string before;  // the object's "spec"
  std::string patch;   // the patch's "spec"
  std::string after;
};

class MergePatchTest : public ApiServerTest,
                       public ::testing::WithParamInterface<MergePatchCase> {};

TEST_P(MergePatchTest, FollowsRfc7386) {
  const auto& c = GetParam();
  // A resource without a schema, so that any JSON may stand in "data".
  std::string obj = R"({"apiVersion":"v1","kind":"ConfigMap",)"
                    R"("metadata":{"name":"x","namespace":"ns"},"data":)" +
                    c.before + "}";
  Call("POST", kConfigMaps, "application/json", obj);
  value patched = Call("PATCH", std::string(kConfigMaps) + "/x", "application/merge-patch+json",
                       R"({"data":)" + c.patch + "}");
  EXPECT_EQ(patched["data"].serialize(), value::parse(c.after).serialize());
  auto log = server_->Requests();
  EXPECT_EQ(log.back().content_type, "application/merge-patch+json");
}

INSTANTIATE_TEST_SUITE_P(
    Cases, MergePatchTest,
    ::testing::Values(
        MergePatchCase{"replace_scalar", R"({"a":1,"b":2})", R"({"a":3})", R"({"a":3,"b":2})"},
        MergePatchCase{"null_deletes", R"({"a":1,"b":2})", R"({"a":null})", R"({"b":2})"},
        MergePatchCase{"nested_merge", R"({"k":{"x":1,"y":2}})", R"({"k":{"y":null,"z":3}})",
                       R"({"k":{"x":1,"z":3}})"},
        MergePatchCase{"arrays_replaced_whole", R"({"t":["a","b"]})", R"({"t":["c"]})",
                       R"({"t":["c"]})"},
        MergePatchCase{"object_over_scalar", R"({"a":1})", R"({"a":{"b":1}})", R"({"a":{"b":1}})"},
        MergePatchCase{"add_field", R"({})", R"({"n":"v"})", R"({"n":"v"})"}),
    [](const auto& info) { return info.param.name; });

TEST_F(ApiServerTest, OtherPatchTypesAreUnsupported) {
  Call("POST", kCgas, "application/json", AutoscalerJson("ns", "x"));
  Status s = CallError("PATCH", std::string(kCgas) + "/x", "application/json-patch+json",
                       R"([{"op":"replace","path":"/spec/maxReplicas","value":3}])");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ApiReason(s), "UnsupportedMediaType");
}

TEST_F(ApiServerTest, StatusSubresourceIsSeparateFromTheObject) {
  value created = Call("POST", kCgas, "application/json", AutoscalerJson("ns", "x"));
  // Writing status through the main resource is ignored.
  value p1 = Call("PATCH", std::string(kCgas) + "/x", "application/merge-patch+json",
                  R"({"status":{"totalLag":5}})");
  EXPECT_FALSE(p1.has_field("status"));
  EXPECT_EQ(p1["metadata"]["generation"].as_integer(), 1);
  // Through /status it lands, and spec changes there are ignored.
  value p2 = Call("PATCH", std::string(kCgas) + "/x/status", "application/merge-patch+json",
                  R"({"status":{"totalLag":7},"spec":{"maxReplicas":99}})");
  EXPECT_EQ(p2["status"]["totalLag"].as_integer(), 7);
  EXPECT_EQ(p2["spec"]["maxReplicas"].as_integer(), 10);
  EXPECT_EQ(p2["metadata"]["generation"].as_integer(), 1) << "status does not bump generation";
  // A spec change bumps the generation and keeps the status.
  value p3 = Call("PATCH", std::string(kCgas) + "/x", "application/merge-patch+json",
                  R"({"spec":{"maxReplicas":20}})");
  EXPECT_EQ(p3["metadata"]["generation"].as_integer(), 2);
  EXPECT_EQ(p3["status"]["totalLag"].as_integer(), 7);
}

// As a real API server applies the CRD's structural schema (the agreement
// test in tests/kubernetes runs the same writes on both).
TEST_F(ApiServerTest, AutoscalersAreCheckedAgainstTheCrdSchema) {
  Status missing = CallError("POST", kCgas, "application/json",
                             R"({"apiVersion":"groupscaler.io/v1alpha1",)"
                             R"("kind":"ConsumerGroupAutoscaler","metadata":{"name":"x"},)"
                             R"("spec":{"maxReplicas":3}})");
  EXPECT_EQ(ApiReason(missing), "Invalid");
  EXPECT_THAT(missing.message(), HasSubstr("spec.scaleTargetRef: Required value"));
  Call("POST", kCgas, "application/json", AutoscalerJson("ns", "x"));
  Status typed = CallError("PATCH", std::string(kCgas) + "/x/status",
                           "application/merge-patch+json", R"({"status":{"totalLag":"many"}})");
  EXPECT_EQ(ApiReason(typed), "Invalid");
  EXPECT_THAT(typed.message(),
              HasSubstr("status.totalLag in body must be of type integer: \"string\""));
  Status outside =
      CallError("PATCH", std::string(kCgas) + "/x/status", "application/merge-patch+json",
                R"({"status":{"conditions":[{"type":"Ready","status":"Yes"}]}})");
  EXPECT_EQ(ApiReason(outside), "Invalid");
  Call("PATCH", std::string(kCgas) + "/x/status", "application/merge-patch+json",
       R"({"status":{"totalLag":5,"reason":"","conditions":[{"type":"Ready","status":"True"}]}})");
}

TEST_F(ApiServerTest, ScaleSubresource) {
  ASSERT_TRUE(server_->Upsert("deployments", DeploymentJson("ns", "web", 3, 2)).ok());
  value scale = Call("GET", std::string(kDeployments) + "/web/scale");
  EXPECT_EQ(scale["kind"].as_string(), "Scale");
  EXPECT_EQ(scale["apiVersion"].as_string(), "autoscaling/v1");
  EXPECT_EQ(scale["spec"]["replicas"].as_integer(), 3);
  EXPECT_EQ(scale["status"]["replicas"].as_integer(), 2);
  EXPECT_EQ(scale["status"]["selector"].as_string(), "app=web");

  value patched = Call("PATCH", std::string(kDeployments) + "/web/scale",
                       "application/merge-patch+json", R"({"spec":{"replicas":5}})");
  EXPECT_EQ(patched["spec"]["replicas"].as_integer(), 5);
  value dep = value::parse(*server_->Get("apps/v1", "deployments", "ns", "web"));
  EXPECT_EQ(dep["spec"]["replicas"].as_integer(), 5);
  EXPECT_EQ(dep["status"]["replicas"].as_integer(), 2) << "status untouched";

  Status bad = CallError("PATCH", std::string(kDeployments) + "/web/scale",
                         "application/merge-patch+json", R"({"spec":{"replicas":-1}})");
  EXPECT_EQ(ApiReason(bad), "Invalid");
  Status stale =
      CallError("PATCH", std::string(kDeployments) + "/web/scale", "application/merge-patch+json",
                R"({"metadata":{"resourceVersion":"1"},"spec":{"replicas":6}})");
  EXPECT_TRUE(IsConflict(stale)) << stale.ToString();
  // No scale on a resource without the subresource.
  Status none = CallError("GET", std::string(kCgas) + "/x/scale");
  EXPECT_EQ(none.code(), StatusCode::kNotFound);
}

TEST_F(ApiServerTest, RequestLogRecordsEverything) {
  server_->ClearRequests();
  Call("POST", std::string(kCgas) + "?fieldManager=me", "application/json",
       AutoscalerJson("ns", "x"));
  auto log = server_->Requests();
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].method, "POST");
  EXPECT_EQ(log[0].path, kCgas);
  EXPECT_EQ(log[0].query, "fieldManager=me");
  EXPECT_EQ(log[0].content_type, "application/json");
  EXPECT_THAT(log[0].body, HasSubstr("\"maxReplicas\":10"));
  EXPECT_EQ(log[0].response_code, 201);
  EXPECT_EQ(server_->CountRequests("POST", "consumergroupautoscalers"), 1);
  EXPECT_EQ(server_->CountRequests("GET", ""), 0);
}

TEST_F(ApiServerTest, WatchIsAChunkedStreamOfJsonLines) {
  ASSERT_TRUE(server_->Upsert("consumergroupautoscalers", AutoscalerJson("ns", "a")).ok());
  ASSERT_TRUE(server_->Upsert("consumergroupautoscalers", AutoscalerJson("ns", "b")).ok());
  RestConfig config;
  config.server = server_->url();
  auto transport = NewHttpTransport(config);
  ASSERT_TRUE(transport.ok());
  std::vector<value> events;
  std::stop_source stop;
  auto resp =
      (*transport)
          ->Stream(
              {"GET", std::string(kCgas) + "?watch=1"},
              [&](std::string_view line) {
                events.push_back(value::parse(std::string(line)));
                // The third event only exists once the first two have arrived, so
                // this passes only if the stream really streams.
                if (events.size() == 2) {
                  EXPECT_TRUE(
                      server_->Upsert("consumergroupautoscalers", AutoscalerJson("ns", "a", 3))
                          .ok());
                }
                return events.size() < 3;
              },
              stop.get_token(), std::chrono::milliseconds(5000));
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  EXPECT_EQ(resp->status_code, 200);
  ASSERT_EQ(events.size(), 3u);
  // Without a resourceVersion a watch starts with the current objects.
  EXPECT_EQ(events[0]["type"].as_string(), "ADDED");
  EXPECT_EQ(events[1]["type"].as_string(), "ADDED");
  EXPECT_EQ(events[2]["type"].as_string(), "MODIFIED");
  EXPECT_EQ(events[2]["object"]["spec"]["maxReplicas"].as_integer(), 3);
  EXPECT_EQ(events[2]["object"]["metadata"]["resourceVersion"].as_string(),
            std::to_string(server_->resource_version()));
}

TEST_F(ApiServerTest, WatchEndsCleanlyAfterTimeoutSeconds) {
  RestConfig config;
  config.server = server_->url();
  auto transport = NewHttpTransport(config);
  ASSERT_TRUE(transport.ok());
  int lines = 0;
  auto start = std::chrono::steady_clock::now();
  auto resp =
      (*transport)
          ->Stream(
              {"GET", std::string(kCgas) + "?watch=true&resourceVersion=" +
                          std::to_string(server_->resource_version()) + "&timeoutSeconds=1"},
              [&](std::string_view) { return ++lines > 0; }, {}, std::chrono::milliseconds(5000));
  ASSERT_TRUE(resp.ok()) << resp.status().ToString();
  EXPECT_EQ(resp->status_code, 200);
  EXPECT_EQ(lines, 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(900));
}

TEST_F(ApiServerTest, WatchFromACompactedResourceVersionIsGone) {
  ASSERT_TRUE(server_->Upsert("consumergroupautoscalers", AutoscalerJson("ns", "a")).ok());
  ASSERT_TRUE(server_->Upsert("consumergroupautoscalers", AutoscalerJson("ns", "b")).ok());
  server_->CompactHistory();  // events 1 and 2 forgotten: resuming from 1 is impossible
  RestConfig config;
  config.server = server_->url();
  auto transport = NewHttpTransport(config);
  ASSERT_TRUE(transport.ok());
  auto resp = (*transport)
                  ->Stream(
                      {"GET", std::string(kCgas) + "?watch=1&resourceVersion=0"},
                      [](std::string_view) { return false; }, {}, std::chrono::milliseconds(5000));
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(resp->status_code, 200) << "resourceVersion=0 means any: no 410";
  auto gone = (*transport)
                  ->Stream(
                      {"GET", std::string(kCgas) + "?watch=1&resourceVersion=1"},
                      [](std::string_view) { return true; }, {}, std::chrono::milliseconds(5000));
  ASSERT_TRUE(gone.ok()) << gone.status().ToString();
  EXPECT_EQ(gone->status_code, 410);
  value body = value::parse(gone->body);
  EXPECT_EQ(body["kind"].as_string(), "Status");
  EXPECT_EQ(body["reason"].as_string(), "Expired");
  EXPECT_EQ(body["code"].as_integer(), 410);
}

TEST(ApiServerAuthTest, RequiresTheTokenWhenConfigured) {
  auto server = StartServer({.required_token = "sesame"});
  ASSERT_NE(server, nullptr);
  auto anonymous = ClientFor(*server);
  auto s = anonymous->rest().Call("GET", kDeployments);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(ApiReason(s.status()), "Unauthorized");
  auto authed =
      ClientFor(*server, FastOptions(), nullptr, std::make_shared<StaticTokenSource>("sesame"));
  EXPECT_TRUE(authed->rest().Call("GET", kDeployments).ok());
  EXPECT_EQ(server->Requests().back().authorization, "Bearer sesame");
}

}  // namespace
}  // namespace groupscaler::kube
