#pragma once

// The librdkafka implementation of LagReader, and the pool that gives every
// autoscaler pointing at one cluster the same client.
//
// Per cycle, whatever the number of partitions:
//   Metadata         1 (all topics), only when the cache is due: older than
//                    metadata_max_age, or a queried topic was missing or a
//                    partition errored and metadata_min_interval has passed;
//   ListOffsets      at most 2 per leader broker (one batch for log ends,
//                    one for log starts: rd_kafka_offsets_for_times per
//                    leader, all leaders at once);
//   OffsetFetch      1 per group (rd_kafka_ListConsumerGroupOffsets with the
//                    group's partitions listed explicitly), all in flight at
//                    once, as soon as a broker answered a ListOffsets of the
//                    cycle (none while every broker is down);
//   FindCoordinator  librdkafka 2.0.2 caches at most 11 group coordinators
//                    (hard-coded), so beyond 11 groups per cluster each
//                    OffsetFetch may cost one FindCoordinator too;
//   Fetch            only where a group's commit is 1..max_counted_gap
//                    offsets below the log end and that commit and end were
//                    not both seen the cycle before (at most 64 partitions a
//                    cycle, the rest in later cycles): one per leader broker of
//                    such partitions and usually a second that finds the
//                    end, on a third handle (read_committed), to count the
//                    records a consumer would still be given (record_gaps.h);
//   DescribeGroups   1 per group (librdkafka 2.0.2 fans a multi-group call out
//                    per group), on a second handle (one more connection per
//                    broker), where the brokers serve it: learnt once per
//                    cluster from an ApiVersions probe under plaintext, or from
//                    an "unsupported" answer; otherwise never asked, and
//                    members stay unknown. So do those of a group this
//                    classic API calls Dead: one on the consumer protocol
//                    (KIP-848), or none at all.
// Outside cycles, ListGroups sends one ListGroups per broker on the same
// handle (checked against librdkafka 2.0.2's mock: it answers "unsupported"
// from the ApiVersions it already has, within milliseconds, and the handle
// still observes and is destroyed at once afterwards).
// Log ends are last stable offsets (ListOffsets read_committed): records of
// an open transaction count from its commit on, aborted ones never.
// Retriable errors are retried within the cycle's deadline; the rest are
// reported per partition, per topic (GroupObservation::topic_errors) or per
// group (observation.failed); an unreachable cluster fails the cycle. A
// group coordinator that has not answered a group's OffsetFetch (or the
// DescribeGroups) of an earlier cycle is not asked again until it answers:
// the group's observation fails meanwhile (its members stay unknown).
//
// Metadata ages and the pause before a retry use ReaderOptions::clock; call
// deadlines, and the short poll for librdkafka's first answer, use the
// steady clock, since librdkafka blocks and answers in real time anyway.

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include "common/clock.h"
#include "kafka/lag_reader.h"

namespace groupscaler::kafka {

struct ReaderOptions {
  // Scheduled metadata refresh.
  std::chrono::milliseconds metadata_max_age{60'000};
  // Refresh on error (missing topic, partition error) no more often than this.
  std::chrono::milliseconds metadata_min_interval{5'000};
  // librdkafka's statistics.interval.ms: the resolution of request accounting.
  std::chrono::milliseconds statistics_interval{1'000};
  // Gaps of up to this many offsets between a commit and the log end are
  // read record by record (see record_gaps.h), so that transaction markers
  // do not count as lag; 0 never fetches.
  int64_t max_counted_gap = 16;
  // Ask for group state and members (DescribeConsumerGroups).
  bool describe_groups = true;
  // Metadata ages are measured, and retries paced, on this clock (not
  // owned; must outlive the reader). Null: the system clock. A ManualClock
  // here must advance on sleep (ManualClock::Sleeping::kAdvance).
  const Clock* clock = nullptr;
  // Extra librdkafka properties (tests and benchmarks only), applied last.
  std::vector<std::pair<std::string, std::string>> extra_properties;
};

// Creates a reader for one cluster. Validates `cluster.auth` (see auth.h);
// INVALID_ARGUMENT names the bad key or property. Connecting happens lazily,
// at the first cycle.
StatusOr<std::unique_ptr<LagReader>> NewRdKafkaLagReader(const ClusterConfig& cluster,
                                                         const ReaderOptions& options = {});

// A LagReaderFactory (see lag_reader.h) that makes NewRdKafkaLagReader
// readers with `options`.
LagReaderFactory RdKafkaLagReaderFactory(ReaderOptions options = {});

}  // namespace groupscaler::kafka
