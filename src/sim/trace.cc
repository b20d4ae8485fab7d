#include "sim/trace.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/files.h"

namespace groupscaler::sim {
namespace {

// A trace of a week at one row per second is about 10 MB; more is a mistake.
constexpr size_t kMaxFileBytes = 64 * 1024 * 1024;

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string_view> SplitComma(std::string_view line) {
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    size_t comma = line.find(',', start);
    fields.push_back(Trim(line.substr(start, comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return fields;
}

Status LineError(std::string_view source, int line, std::string_view what) {
  return InvalidArgumentError(std::string(source) + ":" + std::to_string(line) + ": " +
                              std::string(what));
}

// A non-negative whole number no larger than `max`, from the column `column`.
Status ParseCount(std::string_view source, int line, std::string_view column, std::string_view text,
                  int64_t max, int64_t* out) {
  auto what = [&](std::string_view problem) {
    return LineError(
        source, line,
        std::string(column) + ": " + std::string(problem) + ", got \"" + std::string(text) + "\"");
  };
  if (text.empty()) return LineError(source, line, std::string(column) + ": missing value");
  if (text.front() == '-') return what("must not be negative");
  int64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::invalid_argument || ptr != text.data() + text.size()) {
    return what("must be a whole number");
  }
  if (ec == std::errc::result_out_of_range || value > max) {
    return what("must be at most " + std::to_string(max));
  }
  *out = value;
  return Status::Ok();
}

}  // namespace

StatusOr<Trace> ParseTrace(std::string_view text, std::string_view source) {
  // A UTF-8 byte order mark, as spreadsheets write it, is not part of the header.
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);
  Trace trace;
  size_t columns = 0;  // 0 until the header is seen
  int line_number = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t newline = text.find('\n', start);
    std::string_view line = text.substr(
        start, newline == std::string_view::npos ? std::string_view::npos : newline - start);
    start = newline == std::string_view::npos ? text.size() : newline + 1;
    ++line_number;
    if (Trim(line).empty()) continue;

    std::vector<std::string_view> fields = SplitComma(line);
    if (columns == 0) {
      if (fields.size() == 2 && fields[0] == "time_seconds" && fields[1] == "produce_rate") {
        columns = 2;
      } else if (fields.size() == 3 && fields[0] == "time_seconds" && fields[1] == "produce_rate" &&
                 fields[2] == "poisoned_partition") {
        columns = 3;
      } else {
        return LineError(source, line_number,
                         "expected the header \"time_seconds,produce_rate\" (optionally "
                         "\",poisoned_partition\"), got \"" +
                             std::string(Trim(line)) + "\"");
      }
      continue;
    }
    if (fields.size() != columns) {
      return LineError(source, line_number,
                       "expected " + std::to_string(columns) + " columns (" +
                           (columns == 2 ? "time_seconds,produce_rate"
                                         : "time_seconds,produce_rate,poisoned_partition") +
                           "), got " + std::to_string(fields.size()));
    }
    TraceRow row;
    if (Status s = ParseCount(source, line_number, "time_seconds", fields[0], kMaxTraceSeconds,
                              &row.time_seconds);
        !s.ok()) {
      return s;
    }
    if (Status s = ParseCount(source, line_number, "produce_rate", fields[1], kMaxProduceRate,
                              &row.produce_rate);
        !s.ok()) {
      return s;
    }
    if (columns == 3 && !fields[2].empty()) {
      int64_t partition = 0;
      if (Status s = ParseCount(source, line_number, "poisoned_partition", fields[2],
                                kMaxPartitions - 1, &partition);
          !s.ok()) {
        return s;
      }
      row.poisoned_partition = static_cast<int32_t>(partition);
    }
    if (!trace.rows.empty() && row.time_seconds <= trace.rows.back().time_seconds) {
      return LineError(
          source, line_number,
          "time_seconds " + std::to_string(row.time_seconds) + " is not after the previous row's " +
              std::to_string(trace.rows.back().time_seconds) + " (times must strictly increase)");
    }
    trace.rows.push_back(row);
  }
  if (columns == 0) {
    return LineError(source, 1, "empty trace: expected the header \"time_seconds,produce_rate\"");
  }
  if (trace.rows.empty()) {
    return LineError(source, line_number, "the trace has no rows after its header");
  }
  return trace;
}

StatusOr<Trace> LoadTraceFile(const std::string& path) {
  StatusOr<std::string> text = ReadFileBounded(path, kMaxFileBytes);
  if (!text.ok()) return text.status();
  return ParseTrace(*text, path);
}

}  // namespace groupscaler::sim
