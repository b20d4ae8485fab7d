// The group-per-instance detector over pod templates, one named case per
// rule of anti_pattern.h.

#include "controller/anti_pattern.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace groupscaler::controller {
namespace {

using ::testing::HasSubstr;

kube::PodTemplate OneContainer(std::vector<kube::EnvVar> env,
                               std::vector<std::string> command_and_args = {}) {
  return {.containers = {{.name = "consumer",
                          .command_and_args = std::move(command_and_args),
                          .env = std::move(env)}}};
}

struct DetectCase {
  std::string name;
  kube::PodTemplate pod_template;
  std::optional<std::string> want_setting;  // unset: nothing found
  std::string want_source;
};

void PrintTo(const DetectCase& c, std::ostream* os) { *os << c.name; }

class DetectTest : public ::testing::TestWithParam<DetectCase> {};

TEST_P(DetectTest, Finds) {
  const DetectCase& c = GetParam();
  // The whole template, and what the target cache keeps of it.
  for (const kube::PodTemplate& pod_template : {c.pod_template, GroupIdSettings(c.pod_template)}) {
    const std::optional<PerInstanceGroupId> got = FindPerInstanceGroupId(pod_template);
    if (!c.want_setting) {
      EXPECT_FALSE(got.has_value()) << got->setting << " " << got->source;
      continue;
    }
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->setting, *c.want_setting);
    EXPECT_EQ(got->source, c.want_source);
  }
}

TEST(GroupIdSettings, KeepsOnlyWhatNamesAGroupOrComesFromAPodField) {
  const kube::PodTemplate trimmed = GroupIdSettings(
      {.containers = {{.name = "consumer",
                       .command_and_args = {"/app/consumer", "--group-id=orders", "--threads=4"},
                       .env = {{.name = "TOPIC", .value = "orders"},
                               {.name = "KAFKA_GROUP_ID", .value = "orders"},
                               {.name = "POD", .field_path = "metadata.name"},
                               {.name = "PASSWORD"}}}}});
  ASSERT_EQ(trimmed.containers.size(), 1u);
  EXPECT_EQ(trimmed.containers[0].name, "consumer");
  EXPECT_EQ(trimmed.containers[0].command_and_args,
            (std::vector<std::string>{"--group-id=orders"}));
  std::vector<std::string> env;
  for (const kube::EnvVar& e : trimmed.containers[0].env) env.push_back(e.name);
  EXPECT_EQ(env, (std::vector<std::string>{"KAFKA_GROUP_ID", "POD"}));
}

INSTANTIATE_TEST_SUITE_P(
    Rules, DetectTest,
    ::testing::Values(
        DetectCase{.name = "SharedLiteralGroupId",
                   .pod_template = OneContainer({{.name = "KAFKA_GROUP_ID", .value = "orders"}})},
        DetectCase{.name = "FieldRefMetadataName",
                   .pod_template = OneContainer({{.name = "KAFKA_GROUP_ID",
                                                  .field_path = "metadata.name"}}),
                   .want_setting = "env KAFKA_GROUP_ID",
                   .want_source = "fieldRef metadata.name"},
        DetectCase{
            .name = "FieldRefUid",
            .pod_template = OneContainer({{.name = "group_id", .field_path = "metadata.uid"}}),
            .want_setting = "env group_id",
            .want_source = "fieldRef metadata.uid"},
        DetectCase{.name = "FieldRefNamespaceIsShared",
                   .pod_template = OneContainer({{.name = "GROUP_ID",
                                                  .field_path = "metadata.namespace"}})},
        DetectCase{.name = "HostnameReference",
                   .pod_template = OneContainer({{.name = "SPRING_KAFKA_CONSUMER_GROUP_ID",
                                                  .value = "orders-$(HOSTNAME)"}}),
                   .want_setting = "env SPRING_KAFKA_CONSUMER_GROUP_ID",
                   .want_source = "$(HOSTNAME)"},
        DetectCase{.name = "PodNameShellStyle",
                   .pod_template = OneContainer({{.name = "CONSUMER_GROUP",
                                                  .value = "orders-${POD_NAME}"}}),
                   .want_setting = "env CONSUMER_GROUP",
                   .want_source = "${POD_NAME}"},
        DetectCase{.name = "BareDollarHostname",
                   .pod_template = OneContainer({{.name = "GROUP", .value = "x-$HOSTNAME"}}),
                   .want_setting = "env GROUP",
                   .want_source = "$HOSTNAME"},
        DetectCase{
            .name = "LongerNameIsNotHostname",
            .pod_template = OneContainer({{.name = "GROUP", .value = "x-$HOSTNAME_SUFFIX"}})},
        // MY_POD comes from metadata.name, so a reference to it is one too.
        DetectCase{
            .name = "ReferenceToAnIdentityVar",
            .pod_template = OneContainer({{.name = "MY_POD", .field_path = "metadata.name"},
                                          {.name = "KAFKA_GROUP_ID", .value = "orders-$(MY_POD)"}}),
            .want_setting = "env KAFKA_GROUP_ID",
            .want_source = "$(MY_POD)"},
        DetectCase{
            .name = "IdentityVarNotUsedByTheGroupId",
            .pod_template = OneContainer({{.name = "MY_POD", .field_path = "metadata.name"},
                                          {.name = "KAFKA_GROUP_ID", .value = "orders"},
                                          {.name = "CLIENT_ID", .value = "orders-$(MY_POD)"}})},
        DetectCase{.name = "HostnameOutsideAGroupSetting",
                   .pod_template = OneContainer({{.name = "CLIENT_ID", .value = "$(HOSTNAME)"}})},
        DetectCase{.name = "CommandLineArgument",
                   .pod_template = OneContainer({}, {"/app", "--group-id=orders-$(POD_NAME)"}),
                   .want_setting = "argument \"--group-id=orders-$(POD_NAME)\"",
                   .want_source = "$(POD_NAME)"},
        DetectCase{.name = "ArgumentWithoutGroupIsFine",
                   .pod_template = OneContainer({}, {"/app", "--client-id=$(POD_NAME)"})},
        DetectCase{.name = "SecondContainer",
                   .pod_template = {.containers = {{.name = "sidecar"},
                                                   {.name = "worker",
                                                    .env = {{.name = "GROUP_ID",
                                                             .field_path = "metadata.name"}}}}},
                   .want_setting = "env GROUP_ID",
                   .want_source = "fieldRef metadata.name"},
        DetectCase{.name = "EmptyTemplate", .pod_template = {}}),
    [](const auto& info) { return info.param.name; });

TEST(Describe, NamesTheSettingAndTheMultiplier) {
  const std::string message = DescribePerInstanceGroupId(
      {.container = "consumer", .setting = "env GROUP_ID", .source = "fieldRef metadata.name"}, 4,
      "orders");
  EXPECT_THAT(message, HasSubstr("container consumer: env GROUP_ID derives the consumer group id "
                                 "from the pod's identity (fieldRef metadata.name)"));
  EXPECT_THAT(message, HasSubstr("processed 4 times (x4)"));
  EXPECT_THAT(message, HasSubstr("(orders)"));
}

}  // namespace
}  // namespace groupscaler::controller
