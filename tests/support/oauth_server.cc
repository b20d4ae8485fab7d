#include "support/oauth_server.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <cpprest/uri.h>
#include <boost/asio/ssl.hpp>

#include <map>
#include <mutex>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "support/kube_api_server.h"
#include "support/test_http_listener.h"

namespace groupscaler::testing {
namespace {

using web::http::http_request;
using web::http::status_codes;
using web::http::experimental::listener::http_listener_config;
using Clock = std::chrono::steady_clock;

constexpr char kKeyId[] = "groupscaler-test-key";

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxDeleter {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BnDeleter {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

std::string Base64Url(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return out;
}

// Standard base64 (HTTP Basic); nullopt when malformed.
std::optional<std::string> Base64Decode(const std::string& text) {
  if (text.empty() || text.size() % 4 != 0) return std::nullopt;
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return std::nullopt;
  size_t size = static_cast<size_t>(n);
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --size;
  out.resize(size);
  return out;
}

std::string BigEndian(EVP_PKEY* key, const char* param) {
  BIGNUM* raw = nullptr;
  if (EVP_PKEY_get_bn_param(key, param, &raw) != 1) return "";
  std::unique_ptr<BIGNUM, BnDeleter> bn(raw);
  std::string bytes(static_cast<size_t>(BN_num_bytes(bn.get())), '\0');
  BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(bytes.data()));
  return bytes;
}

// RS256 over `input`; "" on failure.
std::string SignRs256(EVP_PKEY* key, const std::string& input) {
  std::unique_ptr<EVP_MD_CTX, MdCtxDeleter> ctx(EVP_MD_CTX_new());
  size_t size = 0;
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &size,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return "";
  }
  std::string signature(size, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size,
                     reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1) {
    return "";
  }
  signature.resize(size);
  return signature;
}

// One application/x-www-form-urlencoded name or value, decoded.
std::string FormDecode(std::string text) {
  for (char& c : text) c = c == '+' ? ' ' : c;
  return web::uri::decode(text);
}

// application/x-www-form-urlencoded -> name -> value.
std::map<std::string, std::string> ParseForm(const std::string& body) {
  std::map<std::string, std::string> form;
  for (const auto& [name, value] : web::uri::split_query(body)) {
    form[FormDecode(name)] = FormDecode(value);
  }
  return form;
}

struct Credentials {
  std::string id, secret;
};

// From "Authorization: Basic base64(id:secret)", else the form's
// client_id and client_secret.
Credentials ClientCredentials(const http_request& request,
                              const std::map<std::string, std::string>& form) {
  const auto& headers = request.headers();
  if (auto it = headers.find("Authorization");
      it != headers.end() && it->second.rfind("Basic ", 0) == 0) {
    const std::optional<std::string> pair = Base64Decode(it->second.substr(6));
    const size_t colon = pair ? pair->find(':') : std::string::npos;
    if (colon != std::string::npos) {
      return {FormDecode(pair->substr(0, colon)), FormDecode(pair->substr(colon + 1))};
    }
    return {};
  }
  auto get = [&](const char* name) {
    auto it = form.find(name);
    return it == form.end() ? std::string() : it->second;
  };
  return {get("client_id"), get("client_secret")};
}

nlohmann::json Error(const char* code) { return {{"error", code}}; }

}  // namespace

struct OAuthServer::Impl {
  Options options;
  PkeyPtr key;
  TestPki pki;  // with https
  std::unique_ptr<TestHttpListener> listener;
  std::unique_ptr<TestHttpListener> plain_listener;  // with https: the plain HTTP one
  mutable std::mutex mu;
  Fault fault = Fault::kNone;               // guarded by mu
  std::vector<Clock::time_point> requests;  // guarded by mu
  std::vector<std::string> scopes;          // guarded by mu

  // "http://127.0.0.1:PORT" of the plain HTTP listener.
  std::string HttpUrl() const {
    return "http://127.0.0.1:" + std::to_string(options.https ? options.http_port : options.port);
  }

  void Handle(http_request request) {
    const std::string path = request.relative_uri().path();
    if (request.method() == web::http::methods::GET && path == "/jwks") {
      Reply(request, status_codes::OK, Jwks());
    } else if (request.method() == web::http::methods::POST && path == "/token") {
      const std::string body = request.extract_utf8string(true).get();
      auto [code, answer] = Grant(request, body);
      Reply(request, code, answer);
    } else {
      Reply(request, status_codes::NotFound, Error("not_found"));
    }
  }

  static void Reply(const http_request& request, web::http::status_code code,
                    const nlohmann::json& body) {
    ReplyBytes(request, code, body.dump(), "application/json");
  }

  std::pair<web::http::status_code, nlohmann::json> Grant(const http_request& request,
                                                          const std::string& body) {
    Fault now_fault = Fault::kNone;
    {
      std::lock_guard lock(mu);
      requests.push_back(Clock::now());
      now_fault = fault;
    }
    const auto form = ParseForm(body);
    auto grant = form.find("grant_type");
    if (grant == form.end() || grant->second != "client_credentials") {
      return {status_codes::BadRequest, Error("invalid_request")};
    }
    const Credentials client = ClientCredentials(request, form);
    if (now_fault == Fault::kRefuseSecret || client.id != options.client_id ||
        client.secret != options.client_secret) {
      return {status_codes::Unauthorized, Error("invalid_client")};
    }
    const auto scope = form.find("scope");
    const std::string scope_value = scope == form.end() ? "" : scope->second;
    {
      std::lock_guard lock(mu);
      scopes.push_back(scope_value);
    }
    return {status_codes::OK,
            {{"access_token", Token(client.id, scope_value, now_fault)},
             {"token_type", "Bearer"},
             {"expires_in", options.lifetime.count()}}};
  }

  std::string Token(const std::string& subject, const std::string& scope, Fault now_fault) const {
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const int64_t exp =
        now_fault == Fault::kExpiredToken ? now - 60 : now + options.lifetime.count();
    const nlohmann::json header = {{"alg", "RS256"}, {"typ", "JWT"}, {"kid", kKeyId}};
    nlohmann::json claims = {
        {"sub", subject},
        {"iss", options.issuer},
        {"aud",
         now_fault == Fault::kWrongAudience ? "another-" + options.audience : options.audience},
        {"iat", now_fault == Fault::kExpiredToken ? now - 120 : now},
        {"exp", exp}};
    if (!scope.empty()) claims["scope"] = scope;
    const std::string input = Base64Url(header.dump()) + "." + Base64Url(claims.dump());
    return input + "." + Base64Url(SignRs256(key.get(), input));
  }

  nlohmann::json Jwks() const {
    const nlohmann::json jwk = {{"kty", "RSA"},
                                {"kid", kKeyId},
                                {"alg", "RS256"},
                                {"use", "sig"},
                                {"n", Base64Url(BigEndian(key.get(), OSSL_PKEY_PARAM_RSA_N))},
                                {"e", Base64Url(BigEndian(key.get(), OSSL_PKEY_PARAM_RSA_E))}};
    return {{"keys", nlohmann::json::array({jwk})}};
  }
};

namespace {

// The listener config of `pki`'s server certificate (TLS 1.2 or later).
http_listener_config TlsConfig(const TestPki& pki) {
  http_listener_config config;
  config.set_ssl_context_callback([&pki](boost::asio::ssl::context& context) {
    context.set_options(boost::asio::ssl::context::default_workarounds |
                        boost::asio::ssl::context::no_tlsv1 |
                        boost::asio::ssl::context::no_tlsv1_1);
    context.use_certificate_chain(boost::asio::buffer(pki.server_cert_pem));
    context.use_private_key(boost::asio::buffer(pki.server_key_pem),
                            boost::asio::ssl::context::pem);
  });
  return config;
}

// Listens on `port` of `host` with `config`, handing every request to
// `impl`.
StatusOr<std::unique_ptr<TestHttpListener>> Listen(OAuthServer::Impl* impl,
                                                   const std::string& scheme,
                                                   const std::string& host, int port,
                                                   http_listener_config config) {
  return TestHttpListener::Start(
      {.scheme = scheme, .host = host, .port = port, .config = std::move(config)},
      [impl](http_request request) { impl->Handle(std::move(request)); });
}

}  // namespace

StatusOr<std::unique_ptr<OAuthServer>> OAuthServer::Start(Options options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->key.reset(EVP_RSA_gen(2048));
  if (!impl->key) return InternalError("cannot make an RSA key");
  const Options& o = impl->options;
  if (o.https) {
    StatusOr<TestPki> pki = MakeTestPki();
    if (!pki.ok()) return pki.status();
    impl->pki = std::move(pki).value();
  }
  StatusOr<std::unique_ptr<TestHttpListener>> listener =
      o.https ? Listen(impl.get(), "https", o.listen_host, o.port, TlsConfig(impl->pki))
              : Listen(impl.get(), "http", o.listen_host, o.port, {});
  if (!listener.ok()) {
    return UnavailableError("token endpoint on port " + std::to_string(o.port) + ": " +
                            listener.status().message());
  }
  impl->listener = std::move(listener).value();
  if (o.https) {
    StatusOr<std::unique_ptr<TestHttpListener>> plain =
        Listen(impl.get(), "http", o.listen_host, o.http_port, {});
    if (!plain.ok()) {
      return UnavailableError("token endpoint on port " + std::to_string(o.http_port) + ": " +
                              plain.status().message());
    }
    impl->plain_listener = std::move(plain).value();
  }
  return std::unique_ptr<OAuthServer>(new OAuthServer(std::move(impl)));
}

OAuthServer::OAuthServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

OAuthServer::~OAuthServer() {
  // Closed before the rest of Impl goes, as handlers may still run.
  impl_->listener.reset();
  impl_->plain_listener.reset();
}

std::string OAuthServer::token_url() const {
  const Options& o = impl_->options;
  return (o.https ? "https" : "http") + std::string("://127.0.0.1:") + std::to_string(o.port) +
         "/token";
}

std::string OAuthServer::http_token_url() const { return impl_->HttpUrl() + "/token"; }

std::string OAuthServer::jwks_url() const { return impl_->HttpUrl() + "/jwks"; }

const std::string& OAuthServer::ca_pem() const { return impl_->pki.ca_pem; }

const OAuthServer::Options& OAuthServer::options() const { return impl_->options; }

void OAuthServer::SetFault(Fault fault) {
  std::lock_guard lock(impl_->mu);
  impl_->fault = fault;
}

int OAuthServer::token_requests() const {
  std::lock_guard lock(impl_->mu);
  return static_cast<int>(impl_->requests.size());
}

int OAuthServer::TokenRequestsSince(std::chrono::steady_clock::time_point since) const {
  std::lock_guard lock(impl_->mu);
  int n = 0;
  for (const auto& at : impl_->requests) n += at >= since ? 1 : 0;
  return n;
}

std::vector<std::string> OAuthServer::granted_scopes() const {
  std::lock_guard lock(impl_->mu);
  return impl_->scopes;
}

}  // namespace groupscaler::testing
