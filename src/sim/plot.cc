#include "sim/plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>
#include <string_view>
#include <tuple>
#include <utility>

namespace groupscaler::sim {
namespace {

constexpr double kWidth = 960;
constexpr double kLeft = 80;
constexpr double kRight = 110;  // room for the marks' labels
constexpr double kTop = 64;     // the title, then the legend
constexpr double kPanelHeight = 170;
constexpr double kPanelGap = 45;
constexpr double kPlotWidth = kWidth - kLeft - kRight;
constexpr const char* kColors[] = {"#1f77b4", "#d62728", "#2ca02c", "#7f7f7f",
                                   "#9467bd", "#ff7f0e", "#8c564b", "#17becf"};

std::string Escape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        // XML 1.0 forbids most control characters; drop them.
        if (static_cast<unsigned char>(c) >= 0x20 || c == '\t' || c == '\n') out += c;
    }
  }
  return out;
}

std::string Num(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f", v);
  return buffer;
}

// "1.2k", "35", "4.5M": axis labels.
std::string Short(double v) {
  char buffer[32];
  if (v >= 1e6) {
    std::snprintf(buffer, sizeof buffer, "%.3gM", v / 1e6);
  } else if (v >= 1e4) {
    std::snprintf(buffer, sizeof buffer, "%.3gk", v / 1e3);
  } else {
    std::snprintf(buffer, sizeof buffer, "%.4g", v);
  }
  return buffer;
}

std::string TimeLabel(int64_t seconds) {
  if (seconds % 3600 == 0) return std::to_string(seconds / 3600) + "h";
  if (seconds >= 3600) {
    return std::to_string(seconds / 3600) + "h" + std::to_string(seconds % 3600 / 60);
  }
  return std::to_string(seconds / 60) + "m";
}

class Panel {
 public:
  Panel(int index, double max_value, int64_t duration)
      : top_(kTop + index * (kPanelHeight + kPanelGap)),
        max_(max_value > 0 ? max_value * 1.08 : 1),
        duration_(std::max<int64_t>(duration, 1)) {}

  double X(double t) const { return kLeft + kPlotWidth * t / duration_; }
  double Y(double v) const { return top_ + kPanelHeight * (1 - std::min(v, max_) / max_); }

  // A step line through (time, value) points, at most two points per pixel
  // column (its lowest and highest) so that a day stays a small file.
  std::string Points(const std::vector<std::pair<int64_t, double>>& points) const {
    std::string out;
    auto emit = [&](double x, double y) {
      if (!out.empty()) out += ' ';
      out += Num(x) + "," + Num(y);
    };
    double previous = 0;
    bool first = true;
    long column = -1;
    double low = 0, high = 0;
    auto flush = [&] {
      if (column < 0) return;
      emit(column, Y(low));
      if (high != low) emit(column, Y(high));
    };
    for (const auto& [t, v] : points) {
      const double x = X(static_cast<double>(t));
      const long c = std::lround(x);
      if (c != column) {
        flush();
        column = c;
        // The step: the old value up to this time, then the new one.
        low = high = first ? v : previous;
      }
      low = std::min(low, v);
      high = std::max(high, v);
      previous = v;
      first = false;
    }
    flush();
    emit(X(static_cast<double>(duration_)), Y(previous));
    return out;
  }

  std::string Frame(std::string_view label) const {
    std::string out = "<g class=\"panel\">\n";
    out += "<rect x=\"" + Num(kLeft) + "\" y=\"" + Num(top_) + "\" width=\"" + Num(kPlotWidth) +
           "\" height=\"" + Num(kPanelHeight) + "\" fill=\"none\" stroke=\"#999\"/>\n";
    out += "<text x=\"" + Num(kLeft) + "\" y=\"" + Num(top_ - 8) +
           "\" font-size=\"13\" font-weight=\"bold\">" + Escape(label) + "</text>\n";
    for (double f : {0.0, 0.5, 1.0}) {
      const double v = max_ / 1.08 * f;
      out += "<text x=\"" + Num(kLeft - 6) + "\" y=\"" + Num(Y(v) + 4) +
             "\" font-size=\"11\" text-anchor=\"end\">" + Short(v) + "</text>\n";
      out += "<line x1=\"" + Num(kLeft) + "\" y1=\"" + Num(Y(v)) + "\" x2=\"" +
             Num(kLeft + kPlotWidth) + "\" y2=\"" + Num(Y(v)) + "\" stroke=\"#eee\"/>\n";
    }
    return out + "</g>\n";
  }

  std::string Mark(std::string_view css_class, double value, std::string_view label) const {
    return "<g class=\"" + std::string(css_class) + "\"><line x1=\"" + Num(kLeft) + "\" y1=\"" +
           Num(Y(value)) + "\" x2=\"" + Num(kLeft + kPlotWidth) + "\" y2=\"" + Num(Y(value)) +
           "\" stroke=\"#000\" stroke-dasharray=\"6,4\"/><text x=\"" + Num(kLeft + kPlotWidth + 4) +
           "\" y=\"" + Num(Y(value) + 4) + "\" font-size=\"11\">" + Escape(label) + "</text></g>\n";
  }

  double bottom() const { return top_ + kPanelHeight; }

 private:
  double top_;
  double max_;
  int64_t duration_;
};

}  // namespace

std::string PlotSvg(const Trace& trace, const std::vector<PlotRun>& runs,
                    const PlotOptions& options) {
  const int64_t duration = std::max<int64_t>(options.duration_seconds, 1);
  std::vector<std::pair<int64_t, double>> rate;
  double max_rate = static_cast<double>(options.ceiling) * options.replica_rate;
  for (const TraceRow& row : trace.rows) {
    if (row.time_seconds >= duration) break;
    rate.emplace_back(row.time_seconds, static_cast<double>(row.produce_rate));
    max_rate = std::max(max_rate, static_cast<double>(row.produce_rate));
  }
  double max_lag = static_cast<double>(options.lag_seconds_target);
  double max_replicas = options.ceiling;
  for (const PlotRun& run : runs) {
    for (const TimelineEntry& e : run.result->timeline) {
      max_lag = std::max(max_lag, static_cast<double>(e.time_lag_seconds));
      max_replicas =
          std::max({max_replicas, static_cast<double>(e.replicas), static_cast<double>(e.desired)});
    }
  }
  const Panel rate_panel(0, max_rate, duration);
  const Panel lag_panel(1, max_lag, duration);
  const Panel replica_panel(2, max_replicas, duration);
  const double height = replica_panel.bottom() + 45;

  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"" + Num(kWidth) +
         "\" height=\"" + Num(height) + "\" viewBox=\"0 0 " + Num(kWidth) + " " + Num(height) +
         "\" font-family=\"sans-serif\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n";
  svg += "<text x=\"" + Num(kLeft) + "\" y=\"18\" font-size=\"15\">" + Escape(options.title) +
         "</text>\n";
  svg += rate_panel.Frame("produce rate (messages/s)");
  svg += lag_panel.Frame("time lag (s): age of the oldest unconsumed message");
  svg += replica_panel.Frame("replicas");

  svg += rate_panel.Mark("ceiling", static_cast<double>(options.ceiling) * options.replica_rate,
                         "ceiling x rate");
  svg += lag_panel.Mark("target", static_cast<double>(options.lag_seconds_target),
                        "target " + std::to_string(options.lag_seconds_target) + " s");
  svg +=
      replica_panel.Mark("ceiling", options.ceiling, "ceiling " + std::to_string(options.ceiling));
  if (!rate.empty()) {
    svg += "<polyline class=\"rate\" fill=\"none\" stroke=\"#333\" stroke-width=\"1.2\" points=\"" +
           rate_panel.Points(rate) + "\"/>\n";
  }

  for (size_t i = 0; i < runs.size(); ++i) {
    const char* color = kColors[i % std::size(kColors)];
    std::vector<std::pair<int64_t, double>> lag, replicas;
    for (const TimelineEntry& e : runs[i].result->timeline) {
      lag.emplace_back(e.time_seconds, static_cast<double>(e.time_lag_seconds));
      replicas.emplace_back(e.time_seconds, static_cast<double>(e.desired));
    }
    const std::string name = Escape(runs[i].name);
    for (const auto& [panel, points, kind] :
         {std::tuple{&lag_panel, &lag, "lag"}, std::tuple{&replica_panel, &replicas, "replicas"}}) {
      if (points->empty()) continue;
      svg += "<polyline class=\"series\" data-policy=\"" + name + "\" data-panel=\"" + kind +
             "\" fill=\"none\" stroke=\"" + color + "\" stroke-width=\"1.5\" points=\"" +
             panel->Points(*points) + "\"/>\n";
    }
    const double x = kLeft + 150.0 * static_cast<double>(i);
    svg += "<g class=\"legend\"><line x1=\"" + Num(x) + "\" y1=\"36\" x2=\"" + Num(x + 20) +
           "\" y2=\"36\" stroke=\"" + color + "\" stroke-width=\"3\"/><text x=\"" + Num(x + 24) +
           "\" y=\"40\" font-size=\"12\">" + name + "</text></g>\n";
  }

  // The shared time axis, under the last panel.
  static constexpr int64_t kSteps[] = {60,   120,   300,   600,   900,   1800, 3600,
                                       7200, 10800, 14400, 21600, 43200, 86400};
  int64_t step = kSteps[std::size(kSteps) - 1];
  for (int64_t s : kSteps) {
    if (duration / s <= 10) {
      step = s;
      break;
    }
  }
  for (int64_t t = 0; t <= duration; t += step) {
    const double x = replica_panel.X(static_cast<double>(t));
    svg += "<text x=\"" + Num(x) + "\" y=\"" + Num(replica_panel.bottom() + 16) +
           "\" font-size=\"11\" text-anchor=\"middle\">" + TimeLabel(t) + "</text>\n";
  }
  svg += "<text x=\"" + Num(kLeft + kPlotWidth / 2) + "\" y=\"" + Num(replica_panel.bottom() + 36) +
         "\" font-size=\"12\" text-anchor=\"middle\">time</text>\n";
  svg += "</svg>\n";
  return svg;
}

}  // namespace groupscaler::sim
