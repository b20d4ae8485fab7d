#pragma once

// An API server that answers from a script, for driving the real KubeClient
// (and its RestClient) without a network: the fuzz targets kube_answers,
// watch_stream and auth_settings, and unit tests of how the client reads
// odd answers. The script is text:
//
//   get                        lines before the first frame: free for the
//   list                       user (kube_answers reads operations there)
//   --- 200                    an HTTP answer; the lines up to the next
//   {"kind":"Scale", ...}      "--- " line are its body
//   --- 429 retry-after=3      an answer with a Retry-After header (seconds)
//   --- error                  the connection failed (Unavailable)
//   --- timeout                the call ran out of time (DeadlineExceeded)
//
// Send and Stream take the frames in order. Stream hands a 2xx body to
// on_line line by line as HttpTransport does (a trailing '\r' dropped, empty
// lines skipped) and returns a non-2xx answer whole. Once the frames are used
// up, every call fails as a broken connection would.

#include <charconv>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include "kube/transport.h"

namespace groupscaler::testing {

struct Frame {
  enum class Kind { kAnswer, kNetworkError, kTimeout };
  Kind kind = Kind::kAnswer;
  kube::HttpResponse response;
};

struct Script {
  std::vector<std::string_view> preamble;  // the lines before the first frame
  std::deque<Frame> frames;
};

// "200 retry-after=3", "error", "timeout"; anything else is a network error.
inline Frame ParseFrameHeader(std::string_view header) {
  Frame frame;
  const std::string_view first = header.substr(0, header.find(' '));
  int code = 0;
  auto [end, ec] = std::from_chars(first.data(), first.data() + first.size(), code);
  if (first == "timeout") {
    frame.kind = Frame::Kind::kTimeout;
  } else if (ec != std::errc() || end != first.data() + first.size() || code < 0 || code > 999) {
    frame.kind = Frame::Kind::kNetworkError;
  }
  frame.response.status_code = code;
  constexpr std::string_view kRetryAfter = " retry-after=";
  if (size_t at = header.find(kRetryAfter); at != std::string_view::npos) {
    const std::string_view digits = header.substr(at + kRetryAfter.size());
    int seconds = 0;
    auto [p, e] = std::from_chars(digits.data(), digits.data() + digits.size(), seconds);
    if (e == std::errc() && seconds >= 0) frame.response.retry_after_seconds = seconds;
  }
  return frame;
}

inline Script ParseScript(std::string_view text) {
  Script script;
  constexpr std::string_view kMarker = "--- ";
  Frame* current = nullptr;
  size_t body_start = 0;
  auto close = [&](size_t end) {
    if (current == nullptr) return;
    std::string_view body = text.substr(body_start, end - body_start);
    if (body.ends_with('\n')) body.remove_suffix(1);
    current->response.body = std::string(body);
  };
  for (size_t start = 0; start < text.size();) {
    const size_t newline = text.find('\n', start);
    const size_t end = newline == std::string_view::npos ? text.size() : newline;
    const std::string_view line = text.substr(start, end - start);
    if (line.starts_with(kMarker)) {
      close(start);
      script.frames.push_back(ParseFrameHeader(line.substr(kMarker.size())));
      current = &script.frames.back();
      body_start = std::min(end + 1, text.size());
    } else if (current == nullptr) {
      script.preamble.push_back(line);
    }
    start = end + 1;
  }
  close(text.size());
  return script;
}

class ScriptedTransport final : public kube::Transport {
 public:
  explicit ScriptedTransport(std::deque<Frame> frames) : frames_(std::move(frames)) {}

  StatusOr<kube::HttpResponse> Send(const kube::HttpRequest&, std::chrono::milliseconds) override {
    std::optional<Frame> frame = Next();
    if (!frame) return UnavailableError("scripted API server: no more answers");
    if (frame->kind == Frame::Kind::kNetworkError) return UnavailableError("connection refused");
    if (frame->kind == Frame::Kind::kTimeout) return DeadlineExceededError("timed out");
    return std::move(frame->response);
  }

  StatusOr<kube::HttpResponse> Stream(const kube::HttpRequest&,
                                      const std::function<bool(std::string_view)>& on_line,
                                      std::stop_token stop, std::chrono::milliseconds) override {
    std::optional<Frame> frame = Next();
    if (!frame) return UnavailableError("scripted API server: no more answers");
    if (frame->kind != Frame::Kind::kAnswer) return UnavailableError("stream broken");
    kube::HttpResponse& response = frame->response;
    if (response.status_code < 200 || response.status_code > 299) return std::move(response);
    std::string_view body = response.body;
    while (!body.empty() && !stop.stop_requested()) {
      const size_t newline = body.find('\n');
      std::string_view line = body.substr(0, newline);
      body = newline == std::string_view::npos ? std::string_view() : body.substr(newline + 1);
      if (line.ends_with('\r')) line.remove_suffix(1);
      if (line.empty()) continue;
      if (!on_line(line)) break;
    }
    response.body.clear();
    return std::move(response);
  }

  bool exhausted() const {
    std::lock_guard lock(mu_);
    return exhausted_;
  }

  // Blocks until a call found no frame left.
  void WaitExhausted() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return exhausted_; });
  }

 private:
  std::optional<Frame> Next() {
    std::lock_guard lock(mu_);
    if (frames_.empty()) {
      exhausted_ = true;
      cv_.notify_all();
      return std::nullopt;
    }
    Frame frame = std::move(frames_.front());
    frames_.pop_front();
    return frame;
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Frame> frames_;
  bool exhausted_ = false;
};

// A client for the script's answers: no rate limit, few retries, so that a
// script of failures stays fast.
inline kube::ClientOptions ScriptOptions() {
  kube::ClientOptions options;
  options.qps = 0;
  options.max_retries = 2;
  return options;
}

}  // namespace groupscaler::testing
