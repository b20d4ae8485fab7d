#include "demo/ledger.h"

#include <fmt/ranges.h>
#include <algorithm>
#include <charconv>
#include <utility>

namespace groupscaler::demo {
namespace {

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const size_t at = s.find(sep);
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

template <typename T>
std::optional<T> ToNumber(std::string_view s) {
  T value{};
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

// "mt-c400[0,1,2] other[4]" or "none" -> the partitions of `topic`.
std::set<int32_t> ParseOwned(std::string_view text, std::string_view topic) {
  std::set<int32_t> out;
  for (std::string_view item : Split(text, ' ')) {
    const size_t open = item.find('[');
    if (open == std::string_view::npos || item.back() != ']' || item.substr(0, open) != topic) {
      continue;
    }
    for (std::string_view p : Split(item.substr(open + 1, item.size() - open - 2), ',')) {
      if (std::optional<int32_t> n = ToNumber<int32_t>(p)) out.insert(*n);
    }
  }
  return out;
}

std::string Join(const std::set<int32_t>& parts) {
  return fmt::format("{}", fmt::join(parts, ","));
}

}  // namespace

Ledger::Ledger(std::string topic, int32_t partitions, std::string group_id)
    : topic_(std::move(topic)), partitions_(partitions), group_id_(std::move(group_id)) {}

void Ledger::OnLine(const std::string& replica, const std::string& group_id, std::string_view line,
                    double t) {
  // "processed TOPIC PARTITION OFFSET KEY"
  if (line.starts_with("processed ")) {
    const std::vector<std::string_view> f = Split(line, ' ');
    if (f.size() < 4 || f[1] != topic_) return;
    const std::optional<int32_t> p = ToNumber<int32_t>(f[2]);
    const std::optional<int64_t> o = ToNumber<int64_t>(f[3]);
    if (!p || !o || *p < 0 || *p >= partitions_ || *o < 0) return;
    std::lock_guard lock(mu_);
    auto& by_partition = processed_[group_id];
    by_partition.resize(static_cast<size_t>(partitions_));
    auto& counts = by_partition[static_cast<size_t>(*p)];
    if (counts.size() <= static_cast<size_t>(*o)) {
      counts.resize(std::max(static_cast<size_t>(*o) + 1, counts.size() * 2), 0);
    }
    uint8_t& c = counts[static_cast<size_t>(*o)];
    if (c < 255) ++c;
    ++processings_;
    return;
  }
  // "thread I: assigned|revoked|lost T[..] now T[..]" and "thread I: closed"
  if (!line.starts_with("thread ")) return;
  const size_t colon = line.find(": ");
  if (colon == std::string_view::npos) return;
  const std::optional<int> thread = ToNumber<int>(line.substr(7, colon - 7));
  if (!thread) return;
  const std::string_view rest = line.substr(colon + 2);
  std::set<int32_t> now;
  if (const size_t at = rest.find(" now "); at != std::string_view::npos) {
    now = ParseOwned(rest.substr(at + 5), topic_);
  } else if (rest != "closed") {
    return;
  }
  std::lock_guard lock(mu_);
  group_of_[replica] = group_id;
  std::set<int32_t>& owned = owned_[{replica, *thread}];
  if (owned != now) {
    owned = std::move(now);
    last_change_ = t;
  }
}

void Ledger::OnExit(const std::string& replica, double t) {
  std::lock_guard lock(mu_);
  for (auto it = owned_.begin(); it != owned_.end();) {
    if (it->first.first == replica) {
      if (!it->second.empty()) last_change_ = t;
      it = owned_.erase(it);
    } else {
      ++it;
    }
  }
  group_of_.erase(replica);
}

AssignmentMap Ledger::Assignment() const {
  std::lock_guard lock(mu_);
  AssignmentMap out;
  for (const auto& [key, parts] : owned_) out[key.first].insert(parts.begin(), parts.end());
  return out;
}

double Ledger::last_change() const {
  std::lock_guard lock(mu_);
  return last_change_;
}

int64_t Ledger::processings() const {
  std::lock_guard lock(mu_);
  return processings_;
}

std::set<std::string> Ledger::groups() const {
  std::lock_guard lock(mu_);
  std::set<std::string> out;
  for (const auto& [group, unused] : processed_) out.insert(group);
  for (const auto& [replica, group] : group_of_) out.insert(group);
  return out;
}

void Ledger::CheckOwnership(double t, double settle) {
  std::lock_guard lock(mu_);
  if (t - last_change_ < settle) return;
  std::map<int32_t, std::vector<std::string>> owners;
  for (const auto& [key, parts] : owned_) {
    for (int32_t p : parts)
      owners[p].push_back(key.first + "/thread-" + std::to_string(key.second));
    const std::string& group = group_of_[key.first];
    if (!parts.empty()) in_group_.tested = one_owner_.tested = true;
    if (!parts.empty() && group != group_id_ && in_group_.held) {
      in_group_.held = false;
      in_group_.detail = "at " + std::to_string(static_cast<int>(t)) + " s " + key.first +
                         " owns partitions " + Join(parts) + " in group " + group + ", not " +
                         group_id_;
    }
  }
  for (const auto& [p, who] : owners) {
    if (who.size() > 1 && one_owner_.held) {
      const std::string names = fmt::format("{}", fmt::join(who, ", "));
      one_owner_.held = false;
      one_owner_.detail = "at " + std::to_string(static_cast<int>(t)) + " s partition " +
                          std::to_string(p) + " has " + std::to_string(who.size()) +
                          " owners: " + names;
    }
  }
}

RuleResult Ledger::one_owner() const {
  std::lock_guard lock(mu_);
  return one_owner_;
}

RuleResult Ledger::owners_in_group() const {
  std::lock_guard lock(mu_);
  return in_group_;
}

Tally Ledger::Count(const std::vector<int64_t>& log_end,
                    const std::map<std::string, std::map<int32_t, int64_t>>& committed) const {
  std::lock_guard lock(mu_);
  Tally tally;
  for (size_t p = 0; p < log_end.size() && p < static_cast<size_t>(partitions_); ++p) {
    for (int64_t o = 0; o < log_end[p]; ++o) {
      int64_t times = 0;
      for (const auto& [group, by_partition] : processed_) {
        const std::vector<uint8_t>& counts = by_partition[p];
        if (static_cast<size_t>(o) < counts.size()) times += counts[static_cast<size_t>(o)];
      }
      ++tally.times_processed[times];
      if (times > 0) ++tally.consumed;
      if (times > 1) ++tally.duplicates;
      tally.processings += times;
    }
  }
  for (const auto& [group, by_partition] : processed_) {
    const auto group_commits = committed.find(group);
    for (size_t p = 0; p < by_partition.size(); ++p) {
      const std::vector<uint8_t>& counts = by_partition[p];
      // Up to the committed offset, and up to the last processed one: a gap
      // below either is a message the group skipped.
      int64_t limit = 0;
      for (size_t o = counts.size(); o > 0; --o) {
        if (counts[o - 1] > 0) {
          limit = static_cast<int64_t>(o);
          break;
        }
      }
      if (group_commits != committed.end()) {
        if (auto c = group_commits->second.find(static_cast<int32_t>(p));
            c != group_commits->second.end()) {
          limit = std::max(limit, c->second);
        }
      }
      for (int64_t o = 0; o < limit; ++o) {
        if (static_cast<size_t>(o) < counts.size() && counts[static_cast<size_t>(o)] > 0) continue;
        if (tally.lost++ == 0) {
          tally.first_lost =
              "group " + group + " partition " + std::to_string(p) + " offset " + std::to_string(o);
        }
      }
    }
  }
  return tally;
}

}  // namespace groupscaler::demo
