// Security settings: what is accepted, what it becomes for librdkafka, and
// that every rejection names the key and never a secret.

#include <librdkafka/rdkafka.h>

#include <algorithm>
#include <fstream>
#include <memory>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "kafka/auth.h"

namespace groupscaler::kafka {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct ValidCase {
  std::string name;
  AuthSettings settings;
  std::vector<std::pair<std::string, std::string>> expected;  // subset, in order
  std::vector<std::string> secrets;
};
void PrintTo(const ValidCase& c, std::ostream* os) { *os << c.name; }

class ValidAuthTest : public ::testing::TestWithParam<ValidCase> {};

TEST_P(ValidAuthTest, TranslatesToLibrdkafkaProperties) {
  const ValidCase& c = GetParam();
  StatusOr<AuthConfig> config = BuildAuthConfig(c.settings);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  for (const auto& want : c.expected) {
    EXPECT_NE(std::find(config->properties.begin(), config->properties.end(), want),
              config->properties.end())
        << want.first << "=" << want.second;
  }
  EXPECT_EQ(config->secrets, c.secrets);
  // Every property must be one this librdkafka knows and accepts.
  std::unique_ptr<rd_kafka_conf_t, void (*)(rd_kafka_conf_t*)> conf(rd_kafka_conf_new(),
                                                                    rd_kafka_conf_destroy);
  for (const auto& [name, value] : config->properties) {
    char err[512];
    const rd_kafka_conf_res_t res =
        rd_kafka_conf_set(conf.get(), name.c_str(), value.c_str(), err, sizeof(err));
    EXPECT_EQ(res, RD_KAFKA_CONF_OK) << name << ": " << err;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Auth, ValidAuthTest,
    ::testing::Values(
        ValidCase{.name = "empty_is_plaintext",
                  .settings = {},
                  .expected = {{"security.protocol", "plaintext"}}},
        ValidCase{.name = "explicit_plaintext",
                  .settings = {{"sasl", "none"}, {"tls", "disable"}},
                  .expected = {{"security.protocol", "plaintext"}}},
        ValidCase{.name = "tls_with_ca_file_verifies_hostname",
                  .settings = {{"tls", "enable"}, {"caFile", "/etc/ca.pem"}},
                  .expected = {{"security.protocol", "ssl"},
                               {"ssl.endpoint.identification.algorithm", "https"},
                               {"ssl.ca.location", "/etc/ca.pem"}}},
        ValidCase{.name = "tls_client_certificate_files",
                  .settings = {{"tls", "enable"},
                               {"certFile", "/c.pem"},
                               {"keyFile", "/k.pem"},
                               {"keyPassword", "kp-secret"}},
                  .expected = {{"ssl.certificate.location", "/c.pem"},
                               {"ssl.key.location", "/k.pem"},
                               {"ssl.key.password", "kp-secret"}},
                  .secrets = {"kp-secret"}},
        ValidCase{.name = "sasl_plain",
                  .settings = {{"sasl", "plain"}, {"username", "u"}, {"password", "p-secret"}},
                  .expected = {{"security.protocol", "sasl_plaintext"},
                               {"sasl.mechanism", "PLAIN"},
                               {"sasl.username", "u"},
                               {"sasl.password", "p-secret"}},
                  .secrets = {"p-secret"}},
        ValidCase{
            .name = "sasl_scram_sha256_over_tls",
            .settings =
                {{"sasl", "scram_sha256"}, {"username", "u"}, {"password", "p"}, {"tls", "enable"}},
            .expected = {{"security.protocol", "sasl_ssl"}, {"sasl.mechanism", "SCRAM-SHA-256"}},
            .secrets = {"p"}},
        ValidCase{.name = "sasl_scram_sha512",
                  .settings = {{"sasl", "scram_sha512"}, {"username", "u"}, {"password", "p"}},
                  .expected = {{"sasl.mechanism", "SCRAM-SHA-512"}},
                  .secrets = {"p"}},
        ValidCase{
            .name = "oauthbearer_client_credentials",
            .settings = {{"sasl", "oauthbearer"},
                         {"tls", "enable"},
                         {"oauthTokenEndpointUri", "https://idp/token"},
                         {"oauthClientId", "cid"},
                         {"oauthClientSecret", "cs-secret"},
                         {"oauthScope", "kafka"}},
            .expected = {{"security.protocol", "sasl_ssl"}, {"sasl.mechanism", "OAUTHBEARER"}},
            .secrets = {"cs-secret"}},
        ValidCase{.name = "aws_msk_iam_from_the_environment_is_tls",
                  .settings = {{"sasl", "aws_msk_iam"}, {"awsRegion", "eu-west-1"}},
                  .expected = {{"security.protocol", "sasl_ssl"},
                               {"sasl.mechanism", "OAUTHBEARER"},
                               {"ssl.endpoint.identification.algorithm", "https"}}},
        ValidCase{
            .name = "aws_msk_iam_static_keys_and_role",
            .settings = {{"sasl", "aws_msk_iam"},
                         {"tls", "enable"},
                         {"awsRegion", "us-east-1"},
                         {"awsAccessKeyId", "AKIA"},
                         {"awsSecretAccessKey", "sk-secret"},
                         {"awsSessionToken", "st-secret"},
                         {"awsRoleArn", "arn:aws:iam::1:role/r"},
                         {"awsRoleSessionName", "gs"}},
            .expected = {{"security.protocol", "sasl_ssl"}, {"sasl.mechanism", "OAUTHBEARER"}},
            .secrets = {"sk-secret", "st-secret"}},
        ValidCase{.name = "oauthbearer_extensions_over_plaintext",
                  .settings = {{"sasl", "oauthbearer"},
                               {"oauthTokenEndpointUri", "http://127.0.0.1:8080/token"},
                               {"oauthClientId", "cid"},
                               {"oauthClientSecret", "cs-secret"},
                               {"oauthExtensions", "logicalCluster=lkc-1,identityPoolId=pool-2"}},
                  .expected = {{"security.protocol", "sasl_plaintext"},
                               {"sasl.mechanism", "OAUTHBEARER"}},
                  .secrets = {"cs-secret"}}),
    [](const auto& info) { return info.param.name; });

struct InvalidCase {
  std::string name;
  AuthSettings settings;
  std::string names;  // the message must quote this key
};
void PrintTo(const InvalidCase& c, std::ostream* os) { *os << c.name; }

class InvalidAuthTest : public ::testing::TestWithParam<InvalidCase> {};

TEST_P(InvalidAuthTest, RejectedNamingTheKeyNeverTheSecret) {
  const InvalidCase& c = GetParam();
  StatusOr<AuthConfig> config = BuildAuthConfig(c.settings);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(config.status().message(), HasSubstr("\"" + c.names + "\""));
  EXPECT_THAT(config.status().message(), Not(HasSubstr("TOPSECRET")));
}

INSTANTIATE_TEST_SUITE_P(
    Auth, InvalidAuthTest,
    ::testing::Values(
        InvalidCase{"unknown_key", {{"pasword", "TOPSECRET"}}, "pasword"},
        InvalidCase{"bad_sasl_value", {{"sasl", "kerberos"}}, "sasl"},
        InvalidCase{"bad_tls_value", {{"tls", "yes"}}, "tls"},
        InvalidCase{
            "empty_value", {{"sasl", "plain"}, {"username", ""}, {"password", "x"}}, "username"},
        InvalidCase{"plain_without_password", {{"sasl", "plain"}, {"username", "u"}}, "password"},
        InvalidCase{"password_without_sasl", {{"password", "TOPSECRET"}}, "password"},
        InvalidCase{"username_with_oauthbearer",
                    {{"sasl", "oauthbearer"},
                     {"username", "u"},
                     {"oauthTokenEndpointUri", "https://x"},
                     {"oauthClientId", "c"},
                     {"oauthClientSecret", "TOPSECRET"}},
                    "username"},
        InvalidCase{"oauth_without_client_secret",
                    {{"sasl", "oauthbearer"},
                     {"oauthTokenEndpointUri", "https://x"},
                     {"oauthClientId", "c"}},
                    "oauthClientSecret"},
        InvalidCase{"oauth_endpoint_not_url",
                    {{"sasl", "oauthbearer"},
                     {"oauthTokenEndpointUri", "idp/token"},
                     {"oauthClientId", "c"},
                     {"oauthClientSecret", "TOPSECRET"}},
                    "oauthTokenEndpointUri"},
        InvalidCase{"oauth_key_without_oauthbearer",
                    {{"sasl", "plain"},
                     {"username", "u"},
                     {"password", "TOPSECRET"},
                     {"oauthClientId", "c"}},
                    "oauthClientId"},
        InvalidCase{"oauth_extensions_not_pairs",
                    {{"sasl", "oauthbearer"},
                     {"oauthTokenEndpointUri", "https://x"},
                     {"oauthClientId", "c"},
                     {"oauthClientSecret", "TOPSECRET"},
                     {"oauthExtensions", "pool=1,nopair"}},
                    "oauthExtensions"},
        InvalidCase{"oauth_ca_and_ca_file",
                    {{"sasl", "oauthbearer"},
                     {"oauthTokenEndpointUri", "https://x"},
                     {"oauthClientId", "c"},
                     {"oauthClientSecret", "TOPSECRET"},
                     {"oauthCa", "PEM"},
                     {"oauthCaFile", "/ca.pem"}},
                    "oauthCaFile"},
        InvalidCase{"oauth_ca_without_oauthbearer", {{"oauthCaFile", "/ca.pem"}}, "oauthCaFile"},
        InvalidCase{"ca_without_tls", {{"caFile", "/ca.pem"}}, "caFile"},
        InvalidCase{"ca_and_ca_file", {{"tls", "enable"}, {"ca", "PEM"}, {"caFile", "/x"}}, "ca"},
        InvalidCase{"cert_without_key", {{"tls", "enable"}, {"certFile", "/c"}}, "key"},
        InvalidCase{"key_without_cert", {{"tls", "enable"}, {"key", "TOPSECRET"}}, "cert"},
        InvalidCase{"key_password_without_key",
                    {{"tls", "enable"}, {"keyPassword", "TOPSECRET"}},
                    "keyPassword"},
        InvalidCase{"key_password_without_tls", {{"keyPassword", "TOPSECRET"}}, "keyPassword"},
        InvalidCase{"aws_msk_iam_without_region", {{"sasl", "aws_msk_iam"}}, "awsRegion"},
        InvalidCase{"aws_msk_iam_without_tls",
                    {{"sasl", "aws_msk_iam"}, {"awsRegion", "r"}, {"tls", "disable"}},
                    "tls"},
        InvalidCase{"aws_key_without_secret",
                    {{"sasl", "aws_msk_iam"}, {"awsRegion", "r"}, {"awsAccessKeyId", "AKIA"}},
                    "awsSecretAccessKey"},
        InvalidCase{
            "aws_secret_without_key",
            {{"sasl", "aws_msk_iam"}, {"awsRegion", "r"}, {"awsSecretAccessKey", "TOPSECRET"}},
            "awsAccessKeyId"},
        InvalidCase{"aws_session_token_alone",
                    {{"sasl", "aws_msk_iam"}, {"awsRegion", "r"}, {"awsSessionToken", "TOPSECRET"}},
                    "awsSessionToken"},
        InvalidCase{"aws_session_name_without_role",
                    {{"sasl", "aws_msk_iam"}, {"awsRegion", "r"}, {"awsRoleSessionName", "gs"}},
                    "awsRoleSessionName"},
        InvalidCase{"aws_key_without_aws_msk_iam",
                    {{"sasl", "plain"},
                     {"username", "u"},
                     {"password", "TOPSECRET"},
                     {"awsSecretAccessKey", "TOPSECRET"}},
                    "awsSecretAccessKey"}),
    [](const auto& info) { return info.param.name; });

// sasl=oauthbearer: the grant is groupscaler's (oauth_client_credentials.h),
// so AuthConfig carries its settings, and librdkafka gets no OIDC property of
// its own. The token endpoint's CA works whatever the librdkafka.
TEST(BuildAuthConfig, OAuthbearerCarriesTheGrantsSettings) {
  AuthSettings settings = {{"sasl", "oauthbearer"},
                           {"oauthTokenEndpointUri", "https://idp/token"},
                           {"oauthClientId", "cid"},
                           {"oauthClientSecret", "TOPSECRET"},
                           {"oauthScope", "kafka"},
                           {"oauthExtensions", "logicalCluster=lkc-1,identityPoolId=pool=2"},
                           {"oauthCaFile", "/etc/idp-ca.pem"}};
  StatusOr<AuthConfig> config = BuildAuthConfig(settings);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  ASSERT_TRUE(config->oauth.has_value());
  EXPECT_FALSE(config->msk_iam.has_value());
  EXPECT_EQ(*config->oauth, (OAuthClientCredentials{.token_endpoint = "https://idp/token",
                                                    .client_id = "cid",
                                                    .client_secret = "TOPSECRET",
                                                    .scope = "kafka",
                                                    .extensions = {{"logicalCluster", "lkc-1"},
                                                                   {"identityPoolId", "pool=2"}},
                                                    .ca_pem = "",
                                                    .ca_file = "/etc/idp-ca.pem"}));
  for (const auto& [name, value] : config->properties) {
    EXPECT_NE(name.rfind("sasl.oauthbearer.", 0), 0u) << name;
    EXPECT_NE(name.rfind("https.", 0), 0u) << name;
  }

  settings.erase("oauthCaFile");
  settings["oauthCa"] = "-----BEGIN CERTIFICATE-----";
  StatusOr<AuthConfig> with_pem = BuildAuthConfig(settings);
  ASSERT_TRUE(with_pem.ok()) << with_pem.status().ToString();
  EXPECT_EQ(with_pem->oauth->ca_pem, "-----BEGIN CERTIFICATE-----");
  EXPECT_EQ(with_pem->oauth->ca_file, "");
  EXPECT_EQ(with_pem->secrets, std::vector<std::string>{"TOPSECRET"});  // the CA is no secret
}

TEST(Redact, ReplacesEveryOccurrenceOfEverySecret) {
  EXPECT_EQ(Redact("a s1 b s2 c s1", {"s1", "s2"}), "a [redacted] b [redacted] c [redacted]");
  EXPECT_EQ(Redact("nothing here", {"", "zz"}), "nothing here");
}

TEST(ReadAuthFile, ParsesKeyValueLinesAndNamesBadLines) {
  const std::string path = ::testing::TempDir() + "/auth_ok.properties";
  {
    std::ofstream out(path);
    out << "# comment\n\nsasl = scram_sha512\nusername=svc\npassword = a=b==\n";
  }
  StatusOr<AuthSettings> settings = ReadAuthFile(path);
  ASSERT_TRUE(settings.ok()) << settings.status().ToString();
  EXPECT_EQ(*settings,
            (AuthSettings{{"sasl", "scram_sha512"}, {"username", "svc"}, {"password", "a=b=="}}));

  const std::string bad = ::testing::TempDir() + "/auth_bad.properties";
  {
    std::ofstream out(bad);
    out << "sasl=plain\nTOPSECRET\n";
  }
  StatusOr<AuthSettings> failed = ReadAuthFile(bad);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr(bad + ":2"));
  EXPECT_THAT(failed.status().message(), Not(HasSubstr("TOPSECRET")));
  EXPECT_FALSE(ReadAuthFile(::testing::TempDir() + "/does-not-exist").ok());
}

struct AuthTextCase {
  std::string name;
  std::string text;
  AuthSettings settings;  // when accepted
  std::string error;      // expected substring when rejected; empty: accepted
};
void PrintTo(const AuthTextCase& c, std::ostream* os) { *os << c.name; }

class ParseAuthTextTest : public ::testing::TestWithParam<AuthTextCase> {};

TEST_P(ParseAuthTextTest, ParsesLinesOrNamesTheLineNeverTheValue) {
  const AuthTextCase& c = GetParam();
  StatusOr<AuthSettings> settings = ParseAuthText(c.text, "secret.properties");
  if (c.error.empty()) {
    ASSERT_TRUE(settings.ok()) << settings.status().ToString();
    EXPECT_EQ(*settings, c.settings);
    return;
  }
  ASSERT_FALSE(settings.ok());
  EXPECT_EQ(settings.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(settings.status().message(), HasSubstr(c.error));
  EXPECT_THAT(settings.status().message(), Not(HasSubstr("TOPSECRET")));
}

INSTANTIATE_TEST_SUITE_P(
    Auth, ParseAuthTextTest,
    ::testing::Values(
        AuthTextCase{.name = "empty", .text = "", .settings = {}},
        AuthTextCase{.name = "comments_blanks_and_crlf",
                     .text = "# c\r\n\r\n  sasl = plain \r\nusername=u\npassword=p=q\n\n",
                     .settings = {{"sasl", "plain"}, {"username", "u"}, {"password", "p=q"}}},
        AuthTextCase{.name = "last_line_without_newline",
                     .text = "tls=enable\n\tcaFile =\t/ca.pem",
                     .settings = {{"tls", "enable"}, {"caFile", "/ca.pem"}}},
        AuthTextCase{.name = "empty_value_kept_for_build_auth_config",
                     .text = "password=",
                     .settings = {{"password", ""}}},
        AuthTextCase{.name = "line_without_equals",
                     .text = "sasl=plain\n\nTOPSECRET\n",
                     .error = "secret.properties:3: expected key=value"},
        AuthTextCase{
            .name = "empty_key", .text = " =TOPSECRET", .error = "secret.properties:1: empty key"},
        AuthTextCase{.name = "duplicate_key",
                     .text = "password=TOPSECRET\npassword=TOPSECRET\n",
                     .error = "secret.properties:2: duplicate key \"password\""}));

}  // namespace
}  // namespace groupscaler::kafka
