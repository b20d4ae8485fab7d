#pragma once

// `groupscaler demo`: on one machine, with no Kubernetes and no Kafka
// installed, the controller's own reconcile loop scaling a replica set of
// real consumer processes on an embedded Kafka, with a live view and a
// summary that checks Kafka's group rules.
//
// What runs: librdkafka's mock cluster (3 brokers, one topic) in this
// process, or, with bootstrap_servers, an existing Kafka cluster, where the
// demo creates its topic at the start and deletes it and its groups at the
// end (see demo_topic.h) unless keep_topic; a producer following a load
// profile; example_consumer processes,
// one per replica, all in one group (or, with anti_pattern, a group each);
// and controller::Reconciler with the local Kubernetes ends of local_kube.h
// and the real Kafka observer over TCP. The demo's Deployment starts at
// `initial_replicas`; from then on only the reconciler sizes it.
//
// The caller must block SIGINT and SIGTERM in every thread before calling
// RunDemo (it takes them with sigtimedwait, and the threads it starts
// inherit the mask); either ends the demo early, with the same clean stop
// and summary as the end of --duration.

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>

#include "kafka/auth.h"
#include "sim/trace.h"

namespace groupscaler::demo {

struct DemoOptions {
  std::string consumer_binary;  // example_consumer
  // An existing cluster ("host:port,..."); empty: the embedded mock.
  std::string bootstrap_servers;
  // Its SASL and TLS settings (kafka/auth.h), and the file they came from,
  // which the consumers read too; both empty for none.
  kafka::AuthSettings auth;
  std::string auth_file;
  bool keep_topic = false;  // leave the topic and groups on the cluster
  std::chrono::milliseconds duration{std::chrono::seconds(90)};
  sim::Trace profile;  // produce rate over time (see DefaultProfile)
  std::string topic = "mt-c400";
  int32_t partitions = 12;
  std::string group_id = "mt-c400-consumer";
  // The consumers' auto.offset.reset, and the autoscaler's
  // offsetResetPolicy: the same setting seen from both sides.
  std::string offset_reset = "earliest";
  int process_ms = 5;  // per message, in each consumer
  // Short, so that the mock's rebalances (which wait for the members for
  // about the session timeout less a second) and failover stay quick.
  int session_timeout_ms = 3000;
  int32_t initial_replicas = 0;
  int32_t min_replicas = 1;
  int32_t max_replicas = 24;
  int64_t lag_threshold = 500;
  int32_t poll_interval_seconds = 1;
  int32_t cooldown_seconds = 15;
  int32_t scale_down_window_seconds = 10;
  // policy.rebalanceSettleSeconds: the mock's rebalances take about two
  // session timeouts less a second.
  int32_t rebalance_settle_seconds = 5;
  bool anti_pattern = false;
  std::optional<double> kill_at_seconds;
  bool tty = false;          // redraw the view in place
  std::string summary_json;  // also write the summary here
  std::string consumer_log;  // the consumers' stderr; empty: discarded
  // Serve the controller's /metrics here ("host:port", ":port"; port 0
  // picks one); empty: no metrics.
  std::string metrics_bind_address;
};

// quiet (100/s) until 15 s, surge (3,000/s, more than 12 consumers at
// 5 ms a message can take) until 35 s, steady (600/s) until 65 s, then
// quiet (50/s).
sim::Trace DefaultProfile();

// Runs the demo, writing the view and the summary to `out`. Returns the
// exit code: 0 when it ran (whether the rules held is in the summary), 1
// when something could not start, or the topic or groups it made on an
// existing cluster could not be removed.
int RunDemo(const DemoOptions& options, std::ostream& out);

}  // namespace groupscaler::demo
