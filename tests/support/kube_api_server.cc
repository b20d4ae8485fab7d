#include "support/kube_api_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cpprest/json.h>
#include <yaml-cpp/yaml.h>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

namespace groupscaler::testing {
namespace {

using web::json::value;

struct ResourceInfo {
  std::string group;
  std::string version;
  std::string resource;
  std::string kind;
  bool status_subresource = false;
  bool scale_subresource = false;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  // "deployments.apps", "secrets": how Kubernetes names a resource in messages.
  std::string qualified() const { return group.empty() ? resource : resource + "." + group; }
  std::string gvr() const { return group + "/" + version + "/" + resource; }
};

const std::vector<ResourceInfo>& Registry() {
  static const std::vector<ResourceInfo> kRegistry = {
      {"", "v1", "events", "Event"},
      {"", "v1", "secrets", "Secret"},
      {"", "v1", "configmaps", "ConfigMap"},
      {"", "v1", "pods", "Pod", true},
      {"apps", "v1", "deployments", "Deployment", true, true},
      {"apps", "v1", "statefulsets", "StatefulSet", true, true},
      {"coordination.k8s.io", "v1", "leases", "Lease"},
      {"autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true},
      {"autoscaling", "v2beta1", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true},
      {"autoscaling", "v2beta2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true},
      {"autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true},
      {"groupscaler.io", "v1alpha1", "consumergroupautoscalers", "ConsumerGroupAutoscaler", true},
  };
  return kRegistry;
}

const ResourceInfo* FindResource(const std::string& group, const std::string& version,
                                 const std::string& resource) {
  for (const auto& r : Registry()) {
    if (r.group == group && r.version == version && r.resource == resource) return &r;
  }
  return nullptr;
}

const ResourceInfo* FindResource(const std::string& api_version, const std::string& resource) {
  auto slash = api_version.find('/');
  if (slash == std::string::npos) return FindResource("", api_version, resource);
  return FindResource(api_version.substr(0, slash), api_version.substr(slash + 1), resource);
}

// RFC 7386 JSON merge patch.
value MergePatch(const value& target, const value& patch) {
  if (!patch.is_object()) return patch;
  value result = target.is_object() ? target : value::object();
  for (const auto& [key, v] : patch.as_object()) {
    if (v.is_null()) {
      if (result.has_field(key)) result.erase(key);
    } else {
      value existing = result.has_field(key) ? result.at(key) : value::null();
      result[key] = MergePatch(existing, v);
    }
  }
  return result;
}

std::string Field(const value& v, const std::string& a, const std::string& b = "") {
  if (!v.is_object() || !v.has_field(a)) return "";
  const value& x = v.at(a);
  if (b.empty()) return x.is_string() ? x.as_string() : "";
  if (!x.is_object() || !x.has_field(b) || !x.at(b).is_string()) return "";
  return x.at(b).as_string();
}

std::string NowRfc3339() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct HttpError {
  int code;
  std::string reason;
  std::string message;
  std::string name;
  const ResourceInfo* info = nullptr;
};

value StatusBody(const HttpError& e) {
  value s = value::object();
  s["kind"] = value::string("Status");
  s["apiVersion"] = value::string("v1");
  s["metadata"] = value::object();
  s["status"] = value::string("Failure");
  s["message"] = value::string(e.message);
  s["reason"] = value::string(e.reason);
  if (!e.name.empty() || e.info != nullptr) {
    value d = value::object();
    if (!e.name.empty()) d["name"] = value::string(e.name);
    if (e.info != nullptr) {
      d["group"] = value::string(e.info->group);
      d["kind"] = value::string(e.info->resource);
    }
    s["details"] = d;
  }
  s["code"] = value::number(e.code);
  return s;
}

// --- The ConsumerGroupAutoscaler CRD's structural schema, as the real API
// server applies it to every write (types, enums, required fields; CEL rules
// are left out, as a 1.20 server does). ---

const YAML::Node& CgaSchema() {
  static const YAML::Node kSchema = [] {
    const YAML::Node crd = YAML::LoadFile(GROUPSCALER_SOURCE_DIR
                                          "/charts/groupscaler/crds/consumergroupautoscalers.yaml");
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
  }();
  return kSchema;
}

std::string JsonTypeName(const value& v) {
  if (v.is_null()) return "null";
  if (v.is_boolean()) return "boolean";
  if (v.is_integer()) return "integer";
  if (v.is_number()) return "number";
  if (v.is_string()) return "string";
  if (v.is_array()) return "array";
  return "object";
}

bool HasType(const value& v, const std::string& type) {
  const std::string actual = JsonTypeName(v);
  return actual == type || (type == "number" && actual == "integer");
}

// The first way `v` at `path` breaks `schema`, in the real server's words;
// empty when it breaks none.
std::string SchemaError(const YAML::Node& schema, const value& v, const std::string& path) {
  if (!schema || !schema.IsMap()) return "";
  const std::string type = schema["type"] ? schema["type"].as<std::string>() : "";
  if (!type.empty() && !HasType(v, type)) {
    const std::string actual = JsonTypeName(v);
    return path + ": Invalid value: \"" + actual + "\": " + path + " in body must be of type " +
           type + ": \"" + actual + "\"";
  }
  if (schema["enum"] && v.is_string()) {
    bool listed = false;
    for (const auto& e : schema["enum"]) listed = listed || e.as<std::string>() == v.as_string();
    if (!listed) return path + ": Unsupported value: \"" + v.as_string() + "\"";
  }
  if (v.is_object()) {
    for (const auto& r : schema["required"]) {
      if (!v.has_field(r.as<std::string>())) {
        return path + "." + r.as<std::string>() + ": Required value";
      }
    }
    for (const auto& [key, field] : v.as_object()) {
      std::string error = SchemaError(schema["properties"][key], field, path + "." + key);
      if (!error.empty()) return error;
    }
  }
  if (v.is_array()) {
    for (const auto& item : v.as_array()) {
      std::string error = SchemaError(schema["items"], item, path);
      if (!error.empty()) return error;
    }
  }
  return "";
}

// The 422 a real server gives a ConsumerGroupAutoscaler its CRD refuses.
std::optional<HttpError> CheckCga(const ResourceInfo& info, const std::string& name,
                                  const value& object) {
  if (info.resource != "consumergroupautoscalers") return std::nullopt;
  for (const char* part : {"spec", "status"}) {
    if (!object.has_field(part)) continue;
    std::string error = SchemaError(CgaSchema()["properties"][part], object.at(part), part);
    if (!error.empty()) {
      return HttpError{422, "Invalid",
                       info.kind + "." + info.group + " \"" + name + "\" is invalid: " + error,
                       name, &info};
    }
  }
  return std::nullopt;
}

std::string ReasonFor(int code) {
  switch (code) {
    case 400:
      return "BadRequest";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "NotFound";
    case 405:
      return "MethodNotAllowed";
    case 409:
      return "Conflict";
    case 410:
      return "Expired";
    case 415:
      return "UnsupportedMediaType";
    case 422:
      return "Invalid";
    case 429:
      return "TooManyRequests";
    case 500:
      return "InternalError";
    case 503:
      return "ServiceUnavailable";
    case 504:
      return "Timeout";
    default:
      return "Unknown";
  }
}

std::string StatusText(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Entity";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Status";
  }
}

std::string UrlDecode(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> ParseQuery(const std::string& q) {
  std::map<std::string, std::string> out;
  std::stringstream ss(q);
  std::string kv;
  while (std::getline(ss, kv, '&')) {
    if (kv.empty()) continue;
    auto eq = kv.find('=');
    if (eq == std::string::npos) {
      out[UrlDecode(kv)] = "";
    } else {
      out[UrlDecode(kv.substr(0, eq))] = UrlDecode(kv.substr(eq + 1));
    }
  }
  return out;
}

std::vector<std::string> SplitPath(const std::string& path) {
  std::vector<std::string> out;
  std::stringstream ss(path);
  std::string seg;
  while (std::getline(ss, seg, '/')) {
    if (!seg.empty()) out.push_back(UrlDecode(seg));
  }
  return out;
}

struct Request {
  std::string method;
  std::string path;
  std::string query;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

struct Response {
  int code = 200;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// Where a request points.
struct Target {
  const ResourceInfo* info = nullptr;
  std::string namespace_name;  // empty: all namespaces (lists and watches only)
  std::string name;
  std::string subresource;
};

struct WatchEvent {
  int64_t rv;
  std::string type;
  std::string gvr;
  std::string namespace_name;
  value object;
};

struct SslDeleter {
  void operator()(SSL* ssl) const { SSL_free(ssl); }
};
struct SslCtxDeleter {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
struct BioDeleter {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyDeleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using SslPtr = std::unique_ptr<SSL, SslDeleter>;
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxDeleter>;
using BioPtr = std::unique_ptr<BIO, BioDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;

std::string OpenSslError() {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  return buf;
}

X509Ptr ReadCert(const std::string& pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
}

// Reads from a socket, or from TLS over it, with a buffer. Returns false on
// EOF or error.
class Conn {
 public:
  Conn(int fd, SSL* ssl) : fd_(fd), ssl_(ssl) {}
  int fd() const { return fd_; }

  bool ReadLine(std::string* line) {
    while (true) {
      auto pos = buf_.find("\r\n");
      if (pos != std::string::npos) {
        *line = buf_.substr(0, pos);
        buf_.erase(0, pos + 2);
        return true;
      }
      if (!Fill()) return false;
    }
  }
  bool ReadN(size_t n, std::string* out) {
    while (buf_.size() < n) {
      if (!Fill()) return false;
    }
    *out = buf_.substr(0, n);
    buf_.erase(0, n);
    return true;
  }
  bool Write(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n;
      if (ssl_ != nullptr) {
        n = SSL_write(ssl_, data.data() + off, static_cast<int>(data.size() - off));
      } else {
        n = ::send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL);
      }
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

 private:
  bool Fill() {
    char tmp[8192];
    ssize_t n = ssl_ != nullptr ? SSL_read(ssl_, tmp, sizeof tmp) : ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  int fd_;
  SSL* ssl_;
  std::string buf_;
};

}  // namespace

struct KubeApiServer::Impl {
  Options options;
  SslCtxPtr ssl_ctx;  // null: plain HTTP
  int listen_fd = -1;
  int port = 0;
  std::thread accept_thread;
  std::atomic<bool> stopping{false};

  // Connection threads; joined on destruction.
  std::mutex conn_mu;
  std::list<std::thread> conn_threads;
  std::set<int> conn_fds;

  mutable std::mutex mu;
  mutable std::condition_variable cv;
  // gvr -> "namespace/name" -> object
  std::map<std::string, std::map<std::string, value>> store;
  int64_t rv = 0;
  int64_t uid_counter = 0;
  std::deque<WatchEvent> history;
  // A watch from resourceVersion N can resume iff N >= compacted_rv.
  int64_t compacted_rv = 0;
  int64_t bookmark_epoch = 0;
  int64_t break_epoch = 0;
  int open_watches = 0;
  std::vector<Fault> faults;
  std::vector<RecordedRequest> requests;
  std::string required_token;

  // --- store, under mu ---

  static std::string Key(const std::string& ns, const std::string& name) { return ns + "/" + name; }

  void RecordEvent(const std::string& type, const ResourceInfo& info, const std::string& ns,
                   const value& object) {
    history.push_back({rv, type, info.gvr(), ns, object});
    while (history.size() > options.history_limit) {
      compacted_rv = history.front().rv;
      history.pop_front();
    }
    cv.notify_all();
  }

  void Stamp(value& obj, const ResourceInfo& info) {
    obj["apiVersion"] = value::string(info.api_version());
    obj["kind"] = value::string(info.kind);
    obj["metadata"]["resourceVersion"] = value::string(std::to_string(++rv));
  }

  // Writes `obj` at ns/name (creating when absent) and records the event.
  value StoreObject(const ResourceInfo& info, const std::string& ns, const std::string& name,
                    value obj) {
    auto& objects = store[info.gvr()];
    auto it = objects.find(Key(ns, name));
    bool existed = it != objects.end();
    if (!existed) {
      if (!obj["metadata"].has_field("uid")) {
        obj["metadata"]["uid"] = value::string("uid-" + std::to_string(++uid_counter));
      }
      if (!obj["metadata"].has_field("creationTimestamp")) {
        obj["metadata"]["creationTimestamp"] = value::string(NowRfc3339());
      }
      if (!obj["metadata"].has_field("generation"))
        obj["metadata"]["generation"] = value::number(1);
    } else {
      const value& old = it->second;
      // Identity fields are the server's, whatever the client sent.
      obj["metadata"]["uid"] = old.at("metadata").at("uid");
      obj["metadata"]["creationTimestamp"] = old.at("metadata").at("creationTimestamp");
      int64_t gen = old.at("metadata").has_field("generation")
                        ? old.at("metadata").at("generation").as_number().to_int64()
                        : 1;
      value old_spec = old.has_field("spec") ? old.at("spec") : value::null();
      value new_spec = obj.has_field("spec") ? obj.at("spec") : value::null();
      if (old_spec.serialize() != new_spec.serialize()) ++gen;
      obj["metadata"]["generation"] = value::number(gen);
    }
    obj["metadata"]["name"] = value::string(name);
    obj["metadata"]["namespace"] = value::string(ns);
    Stamp(obj, info);
    objects[Key(ns, name)] = obj;
    RecordEvent(existed ? "MODIFIED" : "ADDED", info, ns, obj);
    return obj;
  }

  // --- HTTP ---

  Response Json(int code, const value& body) {
    Response r;
    r.code = code;
    r.body = body.serialize();
    r.headers.push_back({"Content-Type", "application/json"});
    return r;
  }
  Response Error(HttpError e) { return Json(e.code, StatusBody(e)); }

  // Reads a request body that must be a JSON object; the 400 to answer
  // otherwise.
  std::optional<HttpError> ParseObjectBody(const Request& req, value* body) {
    try {
      *body = value::parse(req.body);
    } catch (const std::exception& e) {
      return HttpError{400, "BadRequest", std::string("invalid JSON body: ") + e.what()};
    }
    if (!body->is_object()) return HttpError{400, "BadRequest", "the body must be a JSON object"};
    return std::nullopt;
  }

  HttpError NotFound(const ResourceInfo& info, const std::string& name) {
    return {404, "NotFound", info.qualified() + " \"" + name + "\" not found", name, &info};
  }
  HttpError Conflict(const ResourceInfo& info, const std::string& name) {
    return {409, "Conflict",
            "Operation cannot be fulfilled on " + info.qualified() + " \"" + name +
                "\": the object has been modified; please apply your changes to the latest "
                "version and try again",
            name, &info};
  }

  std::optional<HttpError> ParseTarget(const std::string& path, Target* t) {
    auto segs = SplitPath(path);
    HttpError not_found{404, "NotFound", "the server could not find the requested resource"};
    std::string group, version;
    size_t i;
    if (segs.size() >= 2 && segs[0] == "api") {
      version = segs[1];
      i = 2;
    } else if (segs.size() >= 3 && segs[0] == "apis") {
      group = segs[1];
      version = segs[2];
      i = 3;
    } else {
      return not_found;
    }
    std::vector<std::string> rest(segs.begin() + static_cast<long>(i), segs.end());
    std::string resource;
    if (rest.size() >= 3 && rest[0] == "namespaces") {
      t->namespace_name = rest[1];
      resource = rest[2];
      if (rest.size() >= 4) t->name = rest[3];
      if (rest.size() >= 5) t->subresource = rest[4];
      if (rest.size() >= 6) return not_found;
    } else if (rest.size() == 1) {
      resource = rest[0];
    } else {
      return not_found;
    }
    t->info = FindResource(group, version, resource);
    if (t->info == nullptr) return not_found;
    if (group == "autoscaling" &&
        !std::count(options.hpa_versions.begin(), options.hpa_versions.end(), version)) {
      return not_found;
    }
    if (!t->subresource.empty()) {
      bool ok = (t->subresource == "status" && t->info->status_subresource) ||
                (t->subresource == "scale" && t->info->scale_subresource);
      if (!ok) return not_found;
    }
    return std::nullopt;
  }

  // The APIGroup of /apis/autoscaling: the versions Options::hpa_versions
  // serves (404 when none), the last one preferred.
  Response AutoscalingDiscovery() {
    if (options.hpa_versions.empty()) {
      return Error({404, "NotFound", "the server could not find the requested resource"});
    }
    value group = value::object();
    group["kind"] = value::string("APIGroup");
    group["apiVersion"] = value::string("v1");
    group["name"] = value::string("autoscaling");
    value versions = value::array();
    for (const std::string& v : options.hpa_versions) {
      value entry = value::object();
      entry["groupVersion"] = value::string("autoscaling/" + v);
      entry["version"] = value::string(v);
      versions[versions.size()] = entry;
    }
    group["versions"] = versions;
    group["preferredVersion"] = versions[versions.size() - 1];
    return Json(200, group);
  }

  bool Authorized(const Request& req) {
    std::lock_guard<std::mutex> lock(mu);
    return required_token.empty() || req.header("authorization") == "Bearer " + required_token;
  }

  // Returns the fault to apply to this request (already counted), if any.
  std::optional<Fault> TakeFault(const Request& req) {
    std::lock_guard<std::mutex> lock(mu);
    for (auto it = faults.begin(); it != faults.end(); ++it) {
      if (!it->method.empty() && it->method != req.method) continue;
      if (req.path.find(it->path_contains) == std::string::npos) continue;
      Fault f = *it;
      if (--it->count <= 0) faults.erase(it);
      return f;
    }
    return std::nullopt;
  }

  static value ScaleOf(const value& obj) {
    value s = value::object();
    s["kind"] = value::string("Scale");
    s["apiVersion"] = value::string("autoscaling/v1");
    value m = value::object();
    for (const char* f : {"name", "namespace", "uid", "resourceVersion", "creationTimestamp"}) {
      if (obj.at("metadata").has_field(f)) m[f] = obj.at("metadata").at(f);
    }
    s["metadata"] = m;
    int64_t spec_replicas = 1;  // the apps/v1 default
    if (obj.has_field("spec") && obj.at("spec").has_field("replicas")) {
      spec_replicas = obj.at("spec").at("replicas").as_number().to_int64();
    }
    s["spec"] = value::object();
    s["spec"]["replicas"] = value::number(spec_replicas);
    int64_t status_replicas = 0;
    if (obj.has_field("status") && obj.at("status").has_field("replicas")) {
      status_replicas = obj.at("status").at("replicas").as_number().to_int64();
    }
    s["status"] = value::object();
    s["status"]["replicas"] = value::number(status_replicas);
    std::string selector;
    if (obj.has_field("spec") && obj.at("spec").has_field("selector") &&
        obj.at("spec").at("selector").has_field("matchLabels")) {
      for (const auto& [k, v] : obj.at("spec").at("selector").at("matchLabels").as_object()) {
        if (!selector.empty()) selector += ",";
        selector += k + "=" + (v.is_string() ? v.as_string() : v.serialize());
      }
    }
    if (!selector.empty()) s["status"]["selector"] = value::string(selector);
    return s;
  }

  // A page of at most `limit` items (0: all) after the key `after` (the
  // previous page's continue token), in key order.
  Response List(const Target& t, size_t limit, const std::string& after) {
    std::lock_guard<std::mutex> lock(mu);
    value items = value::array();
    size_t n = 0;
    std::string last;  // the last key given
    std::string next;  // the continue token, when more follow
    const auto& objects = store[t.info->gvr()];
    for (auto it = objects.upper_bound(after); it != objects.end(); ++it) {
      const value& obj = it->second;
      if (!t.namespace_name.empty() && Field(obj, "metadata", "namespace") != t.namespace_name) {
        continue;
      }
      if (limit > 0 && n == limit) {
        next = last;
        break;
      }
      items[n++] = obj;
      last = it->first;
    }
    value list = value::object();
    list["kind"] = value::string(t.info->kind + "List");
    list["apiVersion"] = value::string(t.info->api_version());
    list["metadata"] = value::object();
    list["metadata"]["resourceVersion"] = value::string(std::to_string(rv));
    if (!next.empty()) list["metadata"]["continue"] = value::string(next);
    list["items"] = items;
    return Json(200, list);
  }

  Response Handle(const Request& req, const Target& t) {
    const ResourceInfo& info = *t.info;
    if (t.name.empty()) {
      if (req.method == "GET") {
        auto q = ParseQuery(req.query);
        return List(t, std::strtoul(q["limit"].c_str(), nullptr, 10), q["continue"]);
      }
      if (req.method == "POST" && !t.namespace_name.empty()) return Create(req, t);
      return Error({405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource"});
    }
    std::lock_guard<std::mutex> lock(mu);
    auto& objects = store[info.gvr()];
    auto it = objects.find(Key(t.namespace_name, t.name));
    if (it == objects.end()) return Error(NotFound(info, t.name));
    value current = it->second;

    if (req.method == "GET") {
      return Json(200, t.subresource == "scale" ? ScaleOf(current) : current);
    }
    if (req.method == "DELETE") {
      if (!t.subresource.empty()) {
        return Error({405, "MethodNotAllowed", "subresources cannot be deleted"});
      }
      objects.erase(it);
      ++rv;
      current["metadata"]["resourceVersion"] = value::string(std::to_string(rv));
      RecordEvent("DELETED", info, t.namespace_name, current);
      return Json(200, current);
    }
    if (req.method != "PUT" && req.method != "PATCH") {
      return Error({405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource"});
    }

    if (req.method == "PATCH") {
      std::string ct = req.header("content-type");
      ct = ct.substr(0, ct.find(';'));
      if (ct != "application/merge-patch+json") {
        return Error(
            {415, "UnsupportedMediaType",
             "the test server supports only application/merge-patch+json, not \"" + ct + "\""});
      }
    }
    value body;
    if (std::optional<HttpError> bad = ParseObjectBody(req, &body)) return Error(*bad);

    // The view the client is writing: the object, or its Scale.
    value view = t.subresource == "scale" ? ScaleOf(current) : current;
    value updated;
    if (req.method == "PATCH") {
      updated = MergePatch(view, body);
    } else {
      updated = body;
    }
    // A resourceVersion in the body is a precondition, for PUT and PATCH alike.
    std::string want_rv = Field(updated, "metadata", "resourceVersion");
    std::string sent_rv = Field(body, "metadata", "resourceVersion");
    if (!sent_rv.empty() && want_rv != Field(current, "metadata", "resourceVersion")) {
      return Error(Conflict(info, t.name));
    }
    std::string body_name = Field(updated, "metadata", "name");
    if (!body_name.empty() && body_name != t.name) {
      return Error({400, "BadRequest",
                    "the name of the object (" + body_name +
                        ") does not match the name on the URL (" + t.name + ")"});
    }

    value next = current;
    if (t.subresource == "scale") {
      if (!updated.has_field("spec") || !updated.at("spec").has_field("replicas") ||
          !updated.at("spec").at("replicas").is_integer()) {
        return Error(
            {422, "Invalid",
             "Scale.autoscaling \"" + t.name + "\" is invalid: spec.replicas: Required value"});
      }
      if (updated.at("spec").at("replicas").as_number().to_int64() < 0) {
        return Error({422, "Invalid",
                      "Scale.autoscaling \"" + t.name +
                          "\" is invalid: spec.replicas: must be greater than or equal to 0"});
      }
      next["spec"]["replicas"] = updated.at("spec").at("replicas");
    } else if (t.subresource == "status") {
      if (updated.has_field("status")) {
        next["status"] = updated.at("status");
      } else if (next.has_field("status")) {
        next.erase("status");
      }
    } else {
      next = updated;
      if (info.status_subresource) {
        if (current.has_field("status")) {
          next["status"] = current.at("status");
        } else if (next.has_field("status")) {
          next.erase("status");
        }
      }
    }
    if (std::optional<HttpError> invalid = CheckCga(info, t.name, next)) return Error(*invalid);
    value stored = StoreObject(info, t.namespace_name, t.name, next);
    return Json(200, t.subresource == "scale" ? ScaleOf(stored) : stored);
  }

  Response Create(const Request& req, const Target& t) {
    const ResourceInfo& info = *t.info;
    value body;
    if (std::optional<HttpError> bad = ParseObjectBody(req, &body)) return Error(*bad);
    if (!body.has_field("metadata") || !body.at("metadata").is_object()) {
      body["metadata"] = value::object();
    }
    std::lock_guard<std::mutex> lock(mu);
    std::string name = Field(body, "metadata", "name");
    std::string generate = Field(body, "metadata", "generateName");
    if (name.empty() && !generate.empty()) {
      name = generate + std::to_string(rv + 1) + "x" + std::to_string(++uid_counter);
    }
    if (name.empty()) {
      return Error({422, "Invalid",
                    info.kind + " \"\" is invalid: metadata.name: Required value: name or "
                                "generateName is required"});
    }
    std::string body_ns = Field(body, "metadata", "namespace");
    if (!body_ns.empty() && body_ns != t.namespace_name) {
      return Error({400, "BadRequest",
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"});
    }
    if (!Field(body, "metadata", "resourceVersion").empty()) {
      return Error(
          {400, "BadRequest", "resourceVersion should not be set on objects to be created"});
    }
    auto& objects = store[info.gvr()];
    if (objects.count(Key(t.namespace_name, name)) > 0) {
      return Error({409, "AlreadyExists", info.qualified() + " \"" + name + "\" already exists",
                    name, &info});
    }
    // A new object has no status when status is a subresource.
    if (info.status_subresource && body.has_field("status")) body.erase("status");
    for (const char* f : {"uid", "creationTimestamp", "generation"}) {
      if (body.at("metadata").has_field(f)) body["metadata"].erase(f);
    }
    if (std::optional<HttpError> invalid = CheckCga(info, name, body)) return Error(*invalid);
    return Json(201, StoreObject(info, t.namespace_name, name, body));
  }

  // Serves a watch on `conn` until it ends. Returns false when the connection
  // must be closed (broken or failed), true when it ended cleanly.
  bool ServeWatch(Conn& conn, const Request& req, const Target& t, size_t log_index) {
    auto set_code = [&](int code) {  // under mu
      if (log_index < requests.size()) requests[log_index].response_code = code;
    };
    auto q = ParseQuery(req.query);
    bool bookmarks = q["allowWatchBookmarks"] == "true" || q["allowWatchBookmarks"] == "1";
    std::optional<std::chrono::steady_clock::time_point> end;
    if (!q["timeoutSeconds"].empty()) {
      end = std::chrono::steady_clock::now() + std::chrono::seconds(std::stoi(q["timeoutSeconds"]));
    }
    const std::string gvr = t.info->gvr();
    auto matches = [&](const std::string& g, const std::string& ns) {
      return g == gvr && (t.namespace_name.empty() || ns == t.namespace_name);
    };
    std::unique_lock<std::mutex> lock(mu);
    std::string rv_param = q["resourceVersion"];
    int64_t pos = 0;
    std::vector<std::string> initial;
    if (rv_param.empty() || rv_param == "0") {
      for (const auto& [key, obj] : store[gvr]) {
        if (!matches(gvr, Field(obj, "metadata", "namespace"))) continue;
        value ev = value::object();
        ev["type"] = value::string("ADDED");
        ev["object"] = obj;
        initial.push_back(ev.serialize());
      }
      pos = rv;
    } else {
      try {
        pos = std::stoll(rv_param);
      } catch (...) {
        set_code(400);
        lock.unlock();
        return SendResponse(conn, Error({400, "BadRequest", "invalid resourceVersion"}));
      }
    }
    HttpError expired{
        410, "Expired",
        "too old resource version: " + rv_param + " (" + std::to_string(compacted_rv + 1) + ")"};
    if (pos < compacted_rv && !options.expired_as_error_event) {
      set_code(410);
      lock.unlock();
      return SendResponse(conn, Error(expired));
    }
    set_code(200);
    int64_t my_bookmark = bookmark_epoch;
    int64_t my_break = break_epoch;
    ++open_watches;
    cv.notify_all();
    lock.unlock();

    auto chunk = [&](const std::string& line) {
      std::string data = line + "\n";
      std::ostringstream os;
      os << std::hex << data.size() << "\r\n" << data << "\r\n";
      return conn.Write(os.str());
    };
    bool ok = conn.Write(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
        "Cache-Control: no-cache, private\r\n\r\n");
    for (const auto& line : initial) ok = ok && chunk(line);

    lock.lock();
    bool clean = false;
    while (ok) {
      if (stopping || break_epoch != my_break) break;
      if (pos < compacted_rv) {
        value ev = value::object();
        ev["type"] = value::string("ERROR");
        ev["object"] = StatusBody(expired);
        lock.unlock();
        ok = chunk(ev.serialize()) && conn.Write("0\r\n\r\n");
        lock.lock();
        clean = ok;
        break;
      }
      std::vector<std::string> out;
      for (const auto& e : history) {
        if (e.rv <= pos) continue;
        pos = e.rv;
        if (!matches(e.gvr, e.namespace_name)) continue;
        value ev = value::object();
        ev["type"] = value::string(e.type);
        ev["object"] = e.object;
        out.push_back(ev.serialize());
      }
      if (bookmark_epoch != my_bookmark) {
        my_bookmark = bookmark_epoch;
        if (bookmarks) {
          value ev = value::object();
          ev["type"] = value::string("BOOKMARK");
          value obj = value::object();
          obj["kind"] = value::string(t.info->kind);
          obj["apiVersion"] = value::string(t.info->api_version());
          obj["metadata"] = value::object();
          obj["metadata"]["resourceVersion"] = value::string(std::to_string(rv));
          ev["object"] = obj;
          out.push_back(ev.serialize());
          pos = std::max(pos, rv);
        }
      }
      if (!out.empty()) {
        lock.unlock();
        for (const auto& line : out) ok = ok && chunk(line);
        lock.lock();
        continue;
      }
      if (end && std::chrono::steady_clock::now() >= *end) {
        lock.unlock();
        ok = conn.Write("0\r\n\r\n");
        lock.lock();
        clean = ok;
        break;
      }
      if (end) {
        cv.wait_until(lock, *end);
      } else {
        cv.wait_for(lock, std::chrono::milliseconds(200));
      }
    }
    --open_watches;
    cv.notify_all();
    return clean;
  }

  bool SendResponse(Conn& conn, const Response& r) {
    std::ostringstream os;
    os << "HTTP/1.1 " << r.code << " " << StatusText(r.code) << "\r\n";
    for (const auto& [k, v] : r.headers) os << k << ": " << v << "\r\n";
    os << "Content-Length: " << r.body.size() << "\r\n\r\n" << r.body;
    return conn.Write(os.str());
  }

  // Reads one request. False on EOF or a malformed request.
  bool ReadRequest(Conn& conn, Request* req) {
    std::string line;
    if (!conn.ReadLine(&line)) return false;
    std::istringstream rl(line);
    std::string target, version;
    rl >> req->method >> target >> version;
    if (req->method.empty() || target.empty()) return false;
    auto qpos = target.find('?');
    req->path = target.substr(0, qpos);
    req->query = qpos == std::string::npos ? "" : target.substr(qpos + 1);
    while (true) {
      if (!conn.ReadLine(&line)) return false;
      if (line.empty()) break;
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      std::transform(name.begin(), name.end(), name.begin(), ::tolower);
      std::string v = line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      req->headers[name] = v;
    }
    std::string te = req->header("transfer-encoding");
    if (te.find("chunked") != std::string::npos) {
      while (true) {
        if (!conn.ReadLine(&line)) return false;
        size_t n = std::stoul(line, nullptr, 16);
        std::string data;
        if (!conn.ReadN(n + 2, &data)) return false;
        if (n == 0) break;
        req->body += data.substr(0, n);
      }
    } else if (!req->header("content-length").empty()) {
      size_t n = std::stoul(req->header("content-length"));
      if (!conn.ReadN(n, &req->body)) return false;
    }
    return true;
  }

  void ServeConnection(int fd) {
    // OpenSSL writes with write(2), not send(MSG_NOSIGNAL): a peer that went
    // away would raise SIGPIPE and kill the test. Blocked in this thread only,
    // the signal stays pending here and vanishes with the thread.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    SslPtr ssl;
    std::string client_cn;
    bool handshake_ok = true;
    if (ssl_ctx != nullptr) {
      ssl.reset(SSL_new(ssl_ctx.get()));
      SSL_set_fd(ssl.get(), fd);
      if (SSL_accept(ssl.get()) != 1) {
        handshake_ok = false;
      } else if (X509* peer = SSL_get1_peer_certificate(ssl.get())) {
        char cn[256] = {0};
        X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
        client_cn = cn;
        X509_free(peer);
      }
    }
    Conn conn(fd, ssl.get());
    while (handshake_ok && !stopping) {
      Request req;
      if (!ReadRequest(conn, &req)) break;
      size_t index;
      {
        std::lock_guard<std::mutex> lock(mu);
        requests.push_back({req.method, req.path, req.query, req.header("content-type"),
                            req.header("authorization"), client_cn, req.body, 0,
                            std::chrono::system_clock::now()});
        index = requests.size() - 1;
      }
      auto set_code = [&](int code) {
        std::lock_guard<std::mutex> lock(mu);
        if (index < requests.size()) requests[index].response_code = code;
      };

      Response resp;
      bool answered = false;
      bool close = false;
      while (auto fault = TakeFault(req)) {
        if (fault->kind == Fault::Kind::kLatency) {
          std::this_thread::sleep_for(fault->latency);
          continue;
        }
        if (fault->kind == Fault::Kind::kDisconnect) {
          close = true;
          break;
        }
        int code = fault->status_code;
        std::string message = code == 429 ? "Too many requests, please try again later."
                                          : "injected fault: HTTP " + std::to_string(code);
        HttpError e{code, ReasonFor(code), message};
        value body = StatusBody(e);
        if (fault->retry_after_seconds >= 0) {
          body["details"] = value::object();
          body["details"]["retryAfterSeconds"] = value::number(fault->retry_after_seconds);
        }
        resp = Json(code, body);
        if (fault->retry_after_seconds >= 0) {
          resp.headers.push_back({"Retry-After", std::to_string(fault->retry_after_seconds)});
        }
        answered = true;
        break;
      }
      if (close) break;
      Target t;
      if (!answered && !Authorized(req)) {
        resp = Error({401, "Unauthorized", "Unauthorized"});
        answered = true;
      }
      if (!answered && req.method == "GET" && req.path == "/apis/autoscaling") {
        resp = AutoscalingDiscovery();
        answered = true;
      }
      if (!answered) {
        if (auto err = ParseTarget(req.path, &t)) {
          resp = Error(*err);
          answered = true;
        }
      }
      if (!answered) {
        auto q = ParseQuery(req.query);
        bool watch = q["watch"] == "1" || q["watch"] == "true";
        if (req.method == "GET" && watch && t.name.empty()) {
          if (!ServeWatch(conn, req, t, index)) break;
          continue;
        }
        try {
          resp = Handle(req, t);
        } catch (const std::exception& e) {
          resp = Error({500, "InternalError", std::string("test server: ") + e.what()});
        }
      }
      set_code(resp.code);
      if (!SendResponse(conn, resp)) break;
      if (req.header("connection") == "close") break;
    }
    if (ssl != nullptr && handshake_ok) SSL_shutdown(ssl.get());
    ::shutdown(fd, SHUT_RDWR);
    std::lock_guard<std::mutex> lock(conn_mu);
    conn_fds.erase(fd);
    ::close(fd);
  }

  void AcceptLoop() {
    while (!stopping) {
      pollfd p{listen_fd, POLLIN, 0};
      int r = ::poll(&p, 1, 100);
      if (r <= 0) continue;
      if (p.revents & (POLLHUP | POLLERR | POLLNVAL)) break;
      int fd = ::accept(listen_fd, nullptr, nullptr);
      if (fd < 0) continue;
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      std::lock_guard<std::mutex> lock(conn_mu);
      if (stopping) {
        ::close(fd);
        break;
      }
      conn_fds.insert(fd);
      conn_threads.emplace_back([this, fd] { ServeConnection(fd); });
    }
  }
};

KubeApiServer::KubeApiServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

StatusOr<std::unique_ptr<KubeApiServer>> KubeApiServer::Start(Options options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->required_token = options.required_token;
  if (!options.tls_cert_pem.empty() || !options.tls_key_pem.empty()) {
    impl->ssl_ctx.reset(SSL_CTX_new(TLS_server_method()));
    X509Ptr cert = ReadCert(options.tls_cert_pem);
    BioPtr key_bio(
        BIO_new_mem_buf(options.tls_key_pem.data(), static_cast<int>(options.tls_key_pem.size())));
    PkeyPtr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr || key == nullptr ||
        SSL_CTX_use_certificate(impl->ssl_ctx.get(), cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(impl->ssl_ctx.get(), key.get()) != 1) {
      return InvalidArgumentError("test server TLS certificate/key: " + OpenSslError());
    }
    if (!options.client_ca_pem.empty()) {
      X509Ptr ca = ReadCert(options.client_ca_pem);
      if (ca == nullptr ||
          X509_STORE_add_cert(SSL_CTX_get_cert_store(impl->ssl_ctx.get()), ca.get()) != 1) {
        return InvalidArgumentError("test server client CA: " + OpenSslError());
      }
      SSL_CTX_set_verify(impl->ssl_ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                         nullptr);
    }
  }
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return InternalError(std::string("socket: ") + std::strerror(errno));
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0) {
    std::string err = std::strerror(errno);
    ::close(fd);
    return InternalError("bind/listen on 127.0.0.1:0: " + err);
  }
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  impl->listen_fd = fd;
  impl->port = ntohs(addr.sin_port);
  Impl* raw = impl.get();
  impl->accept_thread = std::thread([raw] { raw->AcceptLoop(); });
  return std::unique_ptr<KubeApiServer>(new KubeApiServer(std::move(impl)));
}

KubeApiServer::~KubeApiServer() {
  impl_->stopping = true;
  impl_->cv.notify_all();
  // Wakes the accept loop's poll at once rather than at its next timeout.
  ::shutdown(impl_->listen_fd, SHUT_RDWR);
  impl_->accept_thread.join();
  ::close(impl_->listen_fd);
  std::list<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(impl_->conn_mu);
    // Wakes every connection thread blocked in recv.
    for (int fd : impl_->conn_fds) ::shutdown(fd, SHUT_RDWR);
    threads.swap(impl_->conn_threads);
  }
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->cv.notify_all();
  }
  for (auto& t : threads) t.join();
}

int KubeApiServer::port() const { return impl_->port; }
std::string KubeApiServer::url() const {
  return (impl_->ssl_ctx != nullptr ? "https://127.0.0.1:" : "http://127.0.0.1:") +
         std::to_string(impl_->port);
}

StatusOr<std::string> KubeApiServer::Upsert(const std::string& resource,
                                            const std::string& object_json) {
  value obj;
  try {
    obj = value::parse(object_json);
  } catch (const std::exception& e) {
    return InvalidArgumentError(std::string("Upsert: bad JSON: ") + e.what());
  }
  const ResourceInfo* info = FindResource(Field(obj, "apiVersion"), resource);
  if (info == nullptr) return InvalidArgumentError("Upsert: unknown resource " + resource);
  std::string ns = Field(obj, "metadata", "namespace");
  std::string name = Field(obj, "metadata", "name");
  if (ns.empty() || name.empty()) {
    return InvalidArgumentError("Upsert: metadata.name and metadata.namespace are required");
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->StoreObject(*info, ns, name, obj).serialize();
}

StatusOr<std::string> KubeApiServer::Get(const std::string& api_version,
                                         const std::string& resource,
                                         const std::string& namespace_name,
                                         const std::string& name) const {
  const ResourceInfo* info = FindResource(api_version, resource);
  if (info == nullptr) return InvalidArgumentError("unknown resource " + resource);
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto& objects = impl_->store[info->gvr()];
  auto it = objects.find(Impl::Key(namespace_name, name));
  if (it == objects.end()) return NotFoundError(resource + " " + namespace_name + "/" + name);
  return it->second.serialize();
}

Status KubeApiServer::Delete(const std::string& api_version, const std::string& resource,
                             const std::string& namespace_name, const std::string& name) {
  const ResourceInfo* info = FindResource(api_version, resource);
  if (info == nullptr) return InvalidArgumentError("unknown resource " + resource);
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto& objects = impl_->store[info->gvr()];
  auto it = objects.find(Impl::Key(namespace_name, name));
  if (it == objects.end()) return NotFoundError(resource + " " + namespace_name + "/" + name);
  value obj = it->second;
  objects.erase(it);
  obj["metadata"]["resourceVersion"] = value::string(std::to_string(++impl_->rv));
  impl_->RecordEvent("DELETED", *info, namespace_name, obj);
  return Status::Ok();
}

int64_t KubeApiServer::resource_version() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->rv;
}

void KubeApiServer::CompactHistory() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->history.clear();
  impl_->compacted_rv = impl_->rv;
  impl_->cv.notify_all();
}

void KubeApiServer::SendBookmarks() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  ++impl_->bookmark_epoch;
  impl_->cv.notify_all();
}

void KubeApiServer::BreakWatches() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  ++impl_->break_epoch;
  impl_->cv.notify_all();
}

int KubeApiServer::open_watches() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->open_watches;
}

bool KubeApiServer::WaitForWatches(int n, std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] { return impl_->open_watches >= n; });
}

void KubeApiServer::InjectFault(Fault fault) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->faults.push_back(std::move(fault));
}

void KubeApiServer::ClearFaults() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->faults.clear();
}

void KubeApiServer::SetRequiredToken(std::string token) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->required_token = std::move(token);
}

std::vector<RecordedRequest> KubeApiServer::Requests() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->requests;
}

void KubeApiServer::ClearRequests() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->requests.clear();
}

int KubeApiServer::CountRequests(const std::string& method,
                                 const std::string& path_contains) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  int n = 0;
  for (const auto& r : impl_->requests) {
    if ((method.empty() || r.method == method) && r.path.find(path_contains) != std::string::npos) {
      ++n;
    }
  }
  return n;
}

namespace {

std::string Pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::string Pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

bool AddExt(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A certificate for `key`, signed by issuer_key (self-signed when issuer is
// null), with the given extensions.
X509Ptr MakeCert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                 long serial, const std::vector<std::pair<int, const char*>>& exts) {
  X509Ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  for (const auto& [nid, value] : exts) {
    if (!AddExt(cert.get(), issuer != nullptr ? issuer : cert.get(), nid, value)) return nullptr;
  }
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
    return nullptr;
  }
  return cert;
}

}  // namespace

StatusOr<TestPki> MakeTestPki(const std::string& client_common_name) {
  PkeyPtr ca_key(EVP_EC_gen("P-256"));
  PkeyPtr server_key(EVP_EC_gen("P-256"));
  PkeyPtr client_key(EVP_EC_gen("P-256"));
  if (!ca_key || !server_key || !client_key) return InternalError("EC keygen: " + OpenSslError());
  X509Ptr ca = MakeCert(ca_key.get(), "groupscaler-test-ca", nullptr, nullptr, 1,
                        {{NID_basic_constraints, "critical,CA:TRUE"},
                         {NID_key_usage, "critical,keyCertSign,cRLSign"},
                         {NID_subject_key_identifier, "hash"}});
  if (!ca) return InternalError("CA certificate: " + OpenSslError());
  X509Ptr server = MakeCert(server_key.get(), "127.0.0.1", ca.get(), ca_key.get(), 2,
                            {{NID_basic_constraints, "critical,CA:FALSE"},
                             {NID_ext_key_usage, "serverAuth"},
                             {NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"},
                             {NID_authority_key_identifier, "keyid"}});
  X509Ptr client = MakeCert(client_key.get(), client_common_name, ca.get(), ca_key.get(), 3,
                            {{NID_basic_constraints, "critical,CA:FALSE"},
                             {NID_ext_key_usage, "clientAuth"},
                             {NID_authority_key_identifier, "keyid"}});
  if (!server || !client) return InternalError("leaf certificate: " + OpenSslError());
  return TestPki{Pem(ca.get()), Pem(server.get()), Pem(server_key.get()), Pem(client.get()),
                 Pem(client_key.get())};
}

}  // namespace groupscaler::testing
