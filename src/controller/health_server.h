#pragma once

// /healthz and /readyz over plain HTTP/1.1 on --health-probe-bind-address,
// for the kubelet's probes. Deliberately tiny (POSIX sockets, one thread,
// one request per connection): probes need nothing more, and it keeps
// cpprestsdk's compile cost out of the controller.
//
//   GET /healthz  200 "ok" while the process serves at all
//   GET /readyz   200 "ok" when ready() is true, else 503 "not ready"
//   anything else 404

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "common/status.h"

namespace groupscaler::controller {

class HealthServer {
 public:
  // `bind_address` is "host:port", ":port" (every interface) or
  // "[v6]:port"; port 0 picks a free one. `ready` is called on the server's
  // thread and must be thread-safe.
  static StatusOr<std::unique_ptr<HealthServer>> Start(const std::string& bind_address,
                                                       std::function<bool()> ready);
  // Stops serving and joins the thread.
  ~HealthServer();
  HealthServer(const HealthServer&) = delete;
  HealthServer& operator=(const HealthServer&) = delete;

  int port() const { return port_; }

 private:
  HealthServer(int fd, int port, std::function<bool()> ready);
  void Serve(std::stop_token stop);
  void Answer(int client);

  int fd_;
  int port_;
  std::function<bool()> ready_;
  std::jthread thread_;
};

}  // namespace groupscaler::controller
