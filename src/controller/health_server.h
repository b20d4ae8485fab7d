#pragma once

// /healthz and /readyz over HTTP/1.1 on --health-probe-bind-address, for
// the kubelet's probes, served by Boost.Beast on Boost.Asio (the HTTP and
// socket layers under cpprestsdk; cpprestsdk's own listener binds no IPv6
// address and cannot say which port 0 picked). One thread, one request
// per connection: probes need nothing more.
//
//   GET /healthz  200 "ok" while the process serves at all
//   GET /readyz   200 "ok" when ready() is true, else 503 "not ready"
//   HEAD          the same status and headers, without the body
//   other methods 405, other paths 404
//
// Every answer is text/plain and closes its connection.

#include <functional>
#include <memory>
#include <string>

#include "common/status.h"

namespace groupscaler::controller {

class HealthServer {
 public:
  // `bind_address` is "host:port", ":port" (every IPv4 interface) or
  // "[v6]:port" ("[::]:port": every interface); port 0 picks a free one
  // (see port()). INVALID_ARGUMENT for a malformed address, UNAVAILABLE
  // when it cannot listen there (the message says why). `ready` is called
  // on the server's thread and must be thread-safe.
  static StatusOr<std::unique_ptr<HealthServer>> Start(const std::string& bind_address,
                                                       std::function<bool()> ready);
  // Stops serving and joins the thread.
  ~HealthServer();
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  int port() const { return port_; }

 private:
  class Server;
  HealthServer(std::unique_ptr<Server> server, int port);

  std::unique_ptr<Server> server_;
  int port_;
};

}  // namespace groupscaler::controller
