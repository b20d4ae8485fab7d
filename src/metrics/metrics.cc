#include "metrics/metrics.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CivetServer.h>
#include <civetweb.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "common/fd.h"
#include "common/host_port.h"

namespace groupscaler::metrics {
namespace {

// Reconcile latency: a reconcile is a few API round trips plus one Kafka
// observation (up to its 3 s deadline).
const prometheus::Histogram::BucketBoundaries kReconcileBuckets = {
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
// Queue waits: near zero while workers keep up, up to minutes when not.
const prometheus::Histogram::BucketBoundaries kQueueBuckets = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5,
                                                               1,     5,     10,   30,   60,  300};

// The text exposition format's, version 0.0.4.
constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Gzip (RFC 1952) of what is written, through zlib, handed to `out` in
// pieces of up to 64 KiB as they come.
class GzipWriter {
 public:
  explicit GzipWriter(AutoscalerSeries::Writer out) : out_(std::move(out)), buffer_(64 * 1024) {
    ok_ = deflateInit2(&stream_, Z_BEST_SPEED, Z_DEFLATED, /*gzip*/ 16 + MAX_WBITS, 8,
                       Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~GzipWriter() {
    if (ok_) deflateEnd(&stream_);
  }
  GzipWriter(const GzipWriter&) = delete;
  GzipWriter& operator=(const GzipWriter&) = delete;

  bool Write(std::string_view text) { return Deflate(text, Z_NO_FLUSH); }
  // The rest and the gzip trailer.
  bool Finish() { return Deflate({}, Z_FINISH); }

 private:
  bool Deflate(std::string_view text, int flush) {
    if (!ok_) return false;
    stream_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    stream_.avail_in = static_cast<uInt>(text.size());
    do {  // until deflate leaves room in the buffer: it took all it could
      stream_.next_out = reinterpret_cast<Bytef*>(buffer_.data());
      stream_.avail_out = static_cast<uInt>(buffer_.size());
      if (deflate(&stream_, flush) == Z_STREAM_ERROR) return false;
      const size_t size = buffer_.size() - stream_.avail_out;
      if (size > 0 && !out_({buffer_.data(), size})) return false;
    } while (stream_.avail_out == 0);
    return true;
  }

  AutoscalerSeries::Writer out_;
  std::vector<char> buffer_;
  z_stream stream_{};
  bool ok_;
};

// What `write` writes (the exposition, piece by piece), gzipped to `send`.
bool WriteGzip(const std::function<bool(const AutoscalerSeries::Writer&)>& write,
               const AutoscalerSeries::Writer& send) {
  GzipWriter gzip(send);
  return write([&gzip](std::string_view text) { return gzip.Write(text); }) && gzip.Finish();
}

prometheus::Family<prometheus::Gauge>& RegisterGauge(prometheus::Registry& registry,
                                                     const char* name, const char* help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Counter>& RegisterCounter(prometheus::Registry& registry,
                                                         const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

// Why nothing can listen on host:port, from the socket layer (civetweb
// only says that it failed).
std::string WhyCannotListen(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    return ::gai_strerror(rc);
  }
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);
  const Fd fd(::socket(found->ai_family, found->ai_socktype, found->ai_protocol));
  if (fd.get() < 0 || ::bind(fd.get(), found->ai_addr, found->ai_addrlen) != 0 ||
      ::listen(fd.get(), 1) != 0) {
    return std::strerror(errno);
  }
  return "cannot listen";
}

}  // namespace

std::string_view Version() { return GROUPSCALER_VERSION; }

Metrics::Metrics(MetricsOptions options)
    : options_(std::move(options)),
      registry_(std::make_shared<prometheus::Registry>()),
      autoscalers_(options_.partition_lag) {
  RegisterControllerSeries(*registry_);
}

void Metrics::RegisterControllerSeries(prometheus::Registry& r) {
  reconciles_ = &RegisterCounter(r, "groupscaler_reconciles_total", "Reconciles, by result");
  for (auto result : {controller::ReconcileResult::kSuccess, controller::ReconcileResult::kError,
                      controller::ReconcileResult::kHold}) {
    reconciles_->Add({{"result", std::string(controller::ReconcileResultName(result))}});
  }
  reconcile_duration_ = &prometheus::BuildHistogram()
                             .Name("groupscaler_reconcile_duration_seconds")
                             .Help("Time one reconcile took")
                             .Register(r)
                             .Add({}, kReconcileBuckets);
  workqueue_depth_ = &RegisterGauge(r, "groupscaler_workqueue_depth",
                                    "Autoscalers due for a reconcile and waiting for a worker")
                          .Add({});
  workers_ = &RegisterGauge(r, "groupscaler_workers",
                            "Worker threads reconciling: they grow while due autoscalers wait "
                            "for a busy pool, up to --workers")
                  .Add({});
  workqueue_wait_ = &prometheus::BuildHistogram()
                         .Name("groupscaler_workqueue_queue_duration_seconds")
                         .Help("Time an autoscaler waited for a worker once due")
                         .Register(r)
                         .Add({}, kQueueBuckets);
  kafka_requests_ =
      &RegisterCounter(r, "groupscaler_kafka_requests_total",
                       "Requests sent to Kafka, by API (from librdkafka's statistics)");
  kafka_errors_ =
      &RegisterCounter(r, "groupscaler_kafka_errors_total", "Failed Kafka observations, by kind");
  for (auto kind : {controller::KafkaErrorKind::kUnreachable, controller::KafkaErrorKind::kTimeout,
                    controller::KafkaErrorKind::kCoordinator, controller::KafkaErrorKind::kTopic,
                    controller::KafkaErrorKind::kAuth, controller::KafkaErrorKind::kOther}) {
    kafka_errors_->Add({{"kind", std::string(controller::KafkaErrorKindName(kind))}});
  }
  kube_requests_ =
      &RegisterCounter(r, "groupscaler_kube_api_requests_total",
                       "HTTP requests to the Kubernetes API server, by verb and status code");
  leader_ = &RegisterGauge(r, "groupscaler_leader",
                           "1 when this process holds the leader Lease or leader election is off")
                 .Add({});
  RegisterGauge(r, "groupscaler_build_info", "The running groupscaler's version; always 1")
      .Add({{"version", options_.version}})
      .Set(1);
}

// Answers GET /metrics with the exposition in chunks as Metrics::Write
// hands them over, gzipped when the client accepts it (Prometheus does).
class Metrics::Handler final : public CivetHandler {
 public:
  explicit Handler(const Metrics& metrics) : metrics_(metrics) {}

  bool handleGet(CivetServer*, mg_connection* conn) override {
    const char* accept_encoding = mg_get_header(conn, "Accept-Encoding");
    const bool gzip = accept_encoding != nullptr && std::strstr(accept_encoding, "gzip");
    mg_response_header_start(conn, 200);
    mg_response_header_add(conn, "Content-Type", kContentType, -1);
    mg_response_header_add(conn, "Transfer-Encoding", "chunked", -1);
    if (gzip) mg_response_header_add(conn, "Content-Encoding", "gzip", -1);
    if (mg_response_header_send(conn) < 0) return true;
    const AutoscalerSeries::Writer send = [conn](std::string_view text) {
      return mg_send_chunk(conn, text.data(), static_cast<unsigned>(text.size())) > 0;
    };
    const auto write = [this](const AutoscalerSeries::Writer& w) { return metrics_.Write(w); };
    if (gzip ? WriteGzip(write, send) : write(send)) mg_send_chunk(conn, "", 0);  // the last
    return true;
  }

 private:
  const Metrics& metrics_;
};

Metrics::~Metrics() = default;

Status Metrics::Serve(const std::string& bind_address) {
  if (server_)
    return FailedPreconditionError("metrics are already served on port " + std::to_string(port_));
  StatusOr<HostPort> address = ParseHostPort(bind_address);
  // IPv4 only: Debian builds civetweb without IPv6.
  if (!address.ok() || address->host.find(':') != std::string::npos) {
    return InvalidArgumentError("metrics address '" + bind_address +
                                "' is not host:port or :port (IPv4)");
  }
  const std::string& host = address->host;
  const std::string port = std::to_string(address->port);
  try {
    // civetweb: a bare port listens on every IPv4 interface.
    server_ = std::make_unique<CivetServer>(std::vector<std::string>{
        "listening_ports", host.empty() ? port : bind_address, "num_threads", "2"});
  } catch (const CivetException&) {
    return UnavailableError("cannot serve metrics on " + bind_address + ": " +
                            WhyCannotListen(host, port));
  }
  handler_ = std::make_unique<Handler>(*this);
  server_->addHandler("/metrics", *handler_);
  const std::vector<int> ports = server_->getListeningPorts();
  port_ = ports.empty() ? 0 : ports.front();
  return Status::Ok();
}

void Metrics::StopServing() { server_.reset(); }

bool Metrics::Write(const AutoscalerSeries::Writer& write) const {
  return write(prometheus::TextSerializer().Serialize(registry_->Collect())) &&
         autoscalers_.Write(write);
}

std::string Metrics::Scrape() const {
  std::string text;
  Write([&text](std::string_view piece) {
    text += piece;
    return true;
  });
  return text;
}

void Metrics::RecordAutoscaler(const controller::AutoscalerSample& sample) {
  autoscalers_.Record(sample);
}

void Metrics::ForgetAutoscaler(const std::string& namespace_name, const std::string& name) {
  autoscalers_.Forget(namespace_name, name);
}

void Metrics::RecordReconcile(controller::ReconcileResult result,
                              std::chrono::duration<double> duration) {
  reconciles_->Add({{"result", std::string(controller::ReconcileResultName(result))}}).Increment();
  reconcile_duration_->Observe(duration.count());
}

void Metrics::SetWorkQueueDepth(size_t depth) { workqueue_depth_->Set(static_cast<double>(depth)); }

void Metrics::SetWorkers(size_t workers) { workers_->Set(static_cast<double>(workers)); }

void Metrics::ObserveWorkQueueWait(std::chrono::duration<double> wait) {
  workqueue_wait_->Observe(wait.count());
}

void Metrics::AddKafkaRequests(const kafka::RequestCounts& delta) {
  for (const auto& [api, count] : delta.by_api) {
    if (count > 0) kafka_requests_->Add({{"api", api}}).Increment(static_cast<double>(count));
  }
}

void Metrics::CountKafkaError(controller::KafkaErrorKind kind) {
  kafka_errors_->Add({{"kind", std::string(controller::KafkaErrorKindName(kind))}}).Increment();
}

void Metrics::CountKubeRequest(std::string_view verb, std::string_view code) {
  kube_requests_->Add({{"verb", std::string(verb)}, {"code", std::string(code)}}).Increment();
}

// A follower exports no per-autoscaler series: the leader's are the only
// current ones (the alert rules take one series per autoscaler).
void Metrics::SetLeader(bool leader) {
  leader_->Set(leader ? 1 : 0);
  if (!leader) autoscalers_.Clear();
}

}  // namespace groupscaler::metrics
