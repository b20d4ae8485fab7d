#pragma once

// An SVG picture of simulation runs: produce rate, time lag and replicas over
// time, in three stacked panels on one time axis, one line per run in the
// lag and replica panels. Hand-written SVG 1.1, no scripts, no external
// references; pure (returns the document).
//
// Structure, for tools that read it: every run's lines are
// <polyline class="series" data-policy="NAME" data-panel="lag|replicas">;
// the rate line is class="rate"; the marks are class="ceiling" (the most
// replicas the group can use, and in the rate panel what they consume at
// most) and class="target" (the time-lag target).

#include <cstdint>
#include <string>
#include <vector>

#include "sim/model.h"
#include "sim/trace.h"

namespace groupscaler::sim {

struct PlotRun {
  std::string name;  // the legend's label and data-policy
  const Result* result = nullptr;
};

struct PlotOptions {
  std::string title;
  int64_t duration_seconds = 1;
  int32_t ceiling = 0;       // replicas
  int64_t replica_rate = 0;  // messages/s per replica
  int64_t lag_seconds_target = 0;
};

std::string PlotSvg(const Trace& trace, const std::vector<PlotRun>& runs,
                    const PlotOptions& options);

}  // namespace groupscaler::sim
