#include "src/cli/observe_time.h"

#include <cctype>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <limits>

namespace loupe::cli {
namespace {

constexpr int64_t kNsPerSecond = 1'000'000'000;

absl::Status Bad(const std::string& text) {
  return absl::InvalidArgumentError(
      "cannot parse time \"" + text +
      "\": use a duration (3s, 4m, 1h43m) or StampMilli (\"Jan  2 15:04:05.000\"), 2006-01-02, "
      "RFC3339 (2006-01-02T15:04:05Z) or RFC1123Z (Mon, 02 Jan 2006 15:04:05 -0700)");
}

int MonthIndex(const char* name) {
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  for (int i = 0; i < 12; ++i) {
    if (std::strncmp(name, kMonths[i], 3) == 0) return i;
  }
  return -1;
}

// Fraction digits ("567") to ns.
int64_t FractionNs(const std::string& digits) {
  int64_t ns = 0;
  int64_t scale = 100'000'000;
  for (char c : digits) {
    if (scale == 0) break;
    ns += (c - '0') * scale;
    scale /= 10;
  }
  return ns;
}

bool AllDigits(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

int64_t ToNs(struct tm* tm, int64_t frac_ns, int offset_seconds) {
  const time_t t = timegm(tm);
  return (static_cast<int64_t>(t) - offset_seconds) * kNsPerSecond + frac_ns;
}

bool ParseRfc3339(const std::string& s, int64_t* out) {
  struct tm tm {};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    return false;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  size_t pos = 19;
  std::string frac;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) frac += s[pos++];
    if (frac.empty()) return false;
  }
  int offset = 0;
  const std::string zone = s.substr(pos);
  if (zone == "Z" || zone == "z") {
    offset = 0;
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':' &&
             AllDigits(zone.substr(1, 2)) && AllDigits(zone.substr(4, 2))) {
    offset = std::stoi(zone.substr(1, 2)) * 3600 + std::stoi(zone.substr(4, 2)) * 60;
    if (zone[0] == '-') offset = -offset;
  } else {
    return false;
  }
  *out = ToNs(&tm, FractionNs(frac), offset);
  return true;
}

bool ParseDate(const std::string& s, int64_t* out) {
  if (s.size() != 10) return false;
  struct tm tm {};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &consumed) !=
          3 ||
      consumed != 10) {
    return false;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  *out = ToNs(&tm, 0, 0);
  return true;
}

bool ParseStamp(const std::string& s, int64_t now_ns, int64_t* out) {
  // "Jan _2 15:04:05[.000]"
  char month[4] = {};
  struct tm tm {};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%3s %d %2d:%2d:%2d%n", month, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec, &consumed) != 5) {
    return false;
  }
  tm.tm_mon = MonthIndex(month);
  if (tm.tm_mon < 0) return false;
  std::string frac;
  size_t pos = static_cast<size_t>(consumed);
  if (pos < s.size() && s[pos] == '.') {
    frac = s.substr(pos + 1);
    if (!AllDigits(frac)) return false;
  } else if (pos != s.size()) {
    return false;
  }
  const time_t now = static_cast<time_t>(now_ns / kNsPerSecond);
  struct tm now_tm {};
  gmtime_r(&now, &now_tm);
  tm.tm_year = now_tm.tm_year;
  *out = ToNs(&tm, FractionNs(frac), 0);
  return true;
}

bool ParseRfc1123z(const std::string& s, int64_t* out) {
  // "Mon, 02 Jan 2006 15:04:05 -0700"
  char weekday[4] = {};
  char month[4] = {};
  char zone[6] = {};
  struct tm tm {};
  int consumed = 0;
  if (std::sscanf(s.c_str(), "%3s, %2d %3s %4d %2d:%2d:%2d %5s%n", weekday, &tm.tm_mday, month,
                  &tm.tm_year, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, zone, &consumed) != 8 ||
      static_cast<size_t>(consumed) != s.size()) {
    return false;
  }
  tm.tm_mon = MonthIndex(month);
  if (tm.tm_mon < 0) return false;
  tm.tm_year -= 1900;
  const std::string z = zone;
  if (z.size() != 5 || (z[0] != '+' && z[0] != '-') || !AllDigits(z.substr(1))) return false;
  int offset = std::stoi(z.substr(1, 2)) * 3600 + std::stoi(z.substr(3, 2)) * 60;
  if (z[0] == '-') offset = -offset;
  *out = ToNs(&tm, 0, offset);
  return true;
}

}  // namespace

absl::StatusOr<int64_t> ParseGoDurationNs(const std::string& text) {
  const absl::Status bad = absl::InvalidArgumentError("invalid duration \"" + text + "\"");
  std::string s = text;
  bool negative = false;
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) {
    negative = s[0] == '-';
    s = s.substr(1);
  }
  if (s == "0") return 0;
  if (s.empty()) return bad;
  long double total = 0;
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == start) return bad;
    const std::string number = s.substr(start, i - start);
    if (number == "." || number.find('.') != number.rfind('.')) return bad;
    const size_t unit_start = i;
    while (i < s.size() && !std::isdigit(static_cast<unsigned char>(s[i])) && s[i] != '.') ++i;
    const std::string unit = s.substr(unit_start, i - unit_start);
    long double scale = 0;
    if (unit == "ns") {
      scale = 1;
    } else if (unit == "us" || unit == "\xc2\xb5s" || unit == "\xce\xbcs") {
      scale = 1e3;
    } else if (unit == "ms") {
      scale = 1e6;
    } else if (unit == "s") {
      scale = 1e9;
    } else if (unit == "m") {
      scale = 60e9;
    } else if (unit == "h") {
      scale = 3600e9;
    } else {
      return bad;
    }
    // Go rejects durations beyond int64 nanoseconds ("invalid duration"); so do we, before
    // std::stold would throw on a number beyond long double or the cast would overflow.
    if (number.size() > 30) return bad;
    total += std::stold(number) * scale;
    if (total > static_cast<long double>(std::numeric_limits<int64_t>::max())) return bad;
  }
  const auto ns = static_cast<int64_t>(total);
  return negative ? -ns : ns;
}

absl::StatusOr<int64_t> ParseTimeArg(const std::string& text, int64_t now_ns) {
  if (auto d = ParseGoDurationNs(text); d.ok()) return now_ns - *d;
  int64_t ns = 0;
  if (ParseRfc3339(text, &ns) || ParseDate(text, &ns) || ParseStamp(text, now_ns, &ns) ||
      ParseRfc1123z(text, &ns)) {
    return ns;
  }
  return Bad(text);
}

bool IsKnownTimeFormat(const std::string& layout) {
  return layout == "StampMilli" || layout == "Stamp" || layout == "RFC3339" ||
         layout == "RFC3339Milli" || layout == "RFC3339Micro" || layout == "RFC3339Nano" ||
         layout == "RFC1123Z";
}

std::string FormatTime(int64_t ns, const std::string& layout) {
  int64_t seconds = ns / kNsPerSecond;
  int64_t frac = ns % kNsPerSecond;
  if (frac < 0) {
    frac += kNsPerSecond;
    --seconds;
  }
  const time_t t = static_cast<time_t>(seconds);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[64];
  if (layout == "RFC3339" || layout == "RFC3339Milli" || layout == "RFC3339Micro" ||
      layout == "RFC3339Nano") {
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    std::string out = buf;
    char digits[16];
    if (layout == "RFC3339Milli") {
      std::snprintf(digits, sizeof(digits), ".%03lld", static_cast<long long>(frac / 1'000'000));
      out += digits;
    } else if (layout == "RFC3339Micro") {
      std::snprintf(digits, sizeof(digits), ".%06lld", static_cast<long long>(frac / 1'000));
      out += digits;
    } else if (layout == "RFC3339Nano" && frac != 0) {
      std::snprintf(digits, sizeof(digits), ".%09lld", static_cast<long long>(frac));
      std::string d = digits;
      while (d.back() == '0') d.pop_back();
      out += d;
    }
    return out + "Z";
  }
  if (layout == "RFC1123Z") {
    std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S +0000", &tm);
    return buf;
  }
  // Stamp / StampMilli: "Jan _2 15:04:05.000"
  std::strftime(buf, sizeof(buf), "%b %e %H:%M:%S", &tm);
  std::string out = buf;
  if (layout != "Stamp") {
    char millis[8];
    std::snprintf(millis, sizeof(millis), ".%03lld", static_cast<long long>(frac / 1'000'000));
    out += millis;
  }
  return out;
}

}  // namespace loupe::cli
