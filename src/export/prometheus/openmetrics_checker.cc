#include "src/export/prometheus/openmetrics_checker.h"

#include <charconv>
#include <cmath>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <utility>

#include "src/export/prometheus/exposition.h"
#include "src/metrics/registry.h"

namespace loupe::prometheus {
namespace {

struct Label {
  std::string name;
  std::string value;
};

struct HistogramSeries {
  std::vector<std::pair<double, double>> buckets;  // le, value
  std::optional<double> count;
  bool has_sum = false;
};

class Checker {
 public:
  std::vector<std::string> Run(std::string_view text) {
    if (!text.ends_with("# EOF\n") && !text.ends_with("# EOF")) {
      Problem("exposition does not end with # EOF");
    }
    size_t pos = 0;
    bool eof = false;
    while (pos < text.size()) {
      const size_t nl = text.find('\n', pos);
      const std::string_view line =
          text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      pos = nl == std::string_view::npos ? text.size() : nl + 1;
      ++line_no_;
      if (eof) {
        Problem("content after # EOF");
        break;
      }
      if (line == "# EOF") {
        eof = true;
        continue;
      }
      if (line.empty()) {
        Problem("empty line");
      } else if (line[0] == '#') {
        Metadata(line);
      } else {
        SampleLine(line);
      }
    }
    FinishFamily();
    return problems_;
  }

 private:
  void Problem(const std::string& message) {
    problems_.push_back("line " + std::to_string(line_no_) + ": " + message);
  }

  static bool ValidNumber(std::string_view s) {
    if (s == "NaN" || s == "+Inf" || s == "-Inf" || s == "Inf" || s == "+inf" || s == "-inf") {
      return true;
    }
    static const std::regex kNumber(R"([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)");
    return std::regex_match(s.begin(), s.end(), kNumber);
  }
  static double ParseNumber(std::string_view s) {
    if (s == "NaN") return std::nan("");
    if (s == "+Inf" || s == "Inf") return INFINITY;
    if (s == "-Inf") return -INFINITY;
    double v = 0;
    std::string copy(s.starts_with('+') ? s.substr(1) : s);
    std::from_chars(copy.data(), copy.data() + copy.size(), v);
    return v;
  }

  void Metadata(std::string_view line) {
    static const std::regex kMeta(R"(# (TYPE|HELP|UNIT) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))");
    std::match_results<std::string_view::const_iterator> m;
    if (!std::regex_match(line.begin(), line.end(), m, kMeta)) {
      Problem("not a TYPE/HELP/UNIT line or # EOF: " + std::string(line));
      return;
    }
    const std::string kind = m[1];
    const std::string name = m[2];
    const std::string rest = m[3];
    if (name != family_) {
      FinishFamily();
      if (!families_.insert(name).second) Problem("family " + name + " appears twice");
      family_ = name;
      type_ = "unknown";
      seen_meta_.clear();
      saw_sample_ = false;
    }
    if (saw_sample_) Problem("metadata after samples of " + name);
    if (!seen_meta_.insert(kind).second) Problem("second " + kind + " for " + name);
    if (kind == "TYPE") {
      static const std::set<std::string> kTypes = {"counter", "gauge",          "histogram",
                                                   "summary", "gaugehistogram", "stateset",
                                                   "info",    "unknown"};
      if (kTypes.count(rest) == 0) Problem("unknown type " + rest);
      type_ = rest;
      if (rest == "counter" && name.ends_with("_total")) {
        Problem("counter family " + name + " must be named without _total");
      }
    } else if (kind == "HELP") {
      CheckEscapes(rest, "help");
    }
  }

  // Escapes allowed in label values and help: \\ \" \n only; the text must be valid UTF-8.
  void CheckEscapes(std::string_view s, const char* what) {
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\\') {
        if (i + 1 >= s.size() || (s[i + 1] != '\\' && s[i + 1] != '"' && s[i + 1] != 'n')) {
          Problem(std::string("bad escape in ") + what);
        }
        ++i;
      }
    }
    if (SanitizeUtf8(s) != s) Problem(std::string("invalid UTF-8 in ") + what);
  }

  // Parses `{a="b",...}` at s[*pos]; false on a syntax error.
  bool ParseLabels(std::string_view s, size_t* pos, std::vector<Label>* labels) {
    if (*pos >= s.size() || s[*pos] != '{') return true;
    ++*pos;
    static const std::regex kLabelName(R"([a-zA-Z_][a-zA-Z0-9_]*)");
    while (*pos < s.size() && s[*pos] != '}') {
      const size_t eq = s.find('=', *pos);
      if (eq == std::string_view::npos) return false;
      const std::string_view name = s.substr(*pos, eq - *pos);
      if (!std::regex_match(name.begin(), name.end(), kLabelName)) {
        Problem("bad label name " + std::string(name));
      }
      if (eq + 1 >= s.size() || s[eq + 1] != '"') return false;
      size_t i = eq + 2;
      std::string value;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) {
          value += s[i];
          ++i;
        }
        value += s[i];
        ++i;
      }
      if (i >= s.size()) return false;
      CheckEscapes(value, "label value");
      for (const Label& l : *labels) {
        if (l.name == name) Problem("duplicate label " + std::string(name));
      }
      labels->push_back({std::string(name), value});
      *pos = i + 1;
      if (*pos < s.size() && s[*pos] == ',') ++*pos;
    }
    if (*pos >= s.size()) return false;
    ++*pos;
    return true;
  }

  void SampleLine(std::string_view line) {
    saw_sample_ = true;
    size_t pos = 0;
    while (pos < line.size() && line[pos] != '{' && line[pos] != ' ') ++pos;
    const std::string name(line.substr(0, pos));
    std::vector<Label> labels;
    if (!ParseLabels(line, &pos, &labels)) {
      Problem("bad label set: " + std::string(line));
      return;
    }
    std::string suffix;
    if (family_.empty() || name.compare(0, family_.size(), family_) != 0) {
      Problem("sample " + name + " outside its family (TYPE missing?)");
    } else {
      suffix = name.substr(family_.size());
    }
    static const std::map<std::string, std::set<std::string>> kSuffixes = {
        {"counter", {"_total", "_created"}},
        {"gauge", {""}},
        {"histogram", {"_bucket", "_sum", "_count", "_created"}},
        {"unknown", {""}}};
    auto allowed = kSuffixes.find(type_);
    if (allowed != kSuffixes.end() && allowed->second.count(suffix) == 0) {
      Problem("sample " + name + " not allowed in " + type_ + " family " + family_);
    }
    // value [timestamp] [# exemplar]
    if (pos >= line.size() || line[pos] != ' ') {
      Problem("missing value");
      return;
    }
    std::string_view rest = line.substr(pos + 1);
    std::string_view exemplar;
    if (const size_t hash = rest.find(" # "); hash != std::string_view::npos) {
      exemplar = rest.substr(hash + 3);
      rest = rest.substr(0, hash);
    }
    const size_t space = rest.find(' ');
    const std::string_view value = rest.substr(0, space);
    if (!ValidNumber(value)) Problem("bad value " + std::string(value));
    if (space != std::string_view::npos && !ValidNumber(rest.substr(space + 1))) {
      Problem("bad timestamp");
    }
    std::string key;
    std::optional<double> le;
    for (const Label& l : labels) {
      if (l.name == "le") {
        le = ParseNumber(l.value);
        if (l.value != "+Inf" && l.value.find_first_of(".e") == std::string::npos) {
          Problem("le=\"" + l.value + "\" is not canonical");
        }
        continue;
      }
      key += l.name + "=" + l.value + ",";
    }
    if (!series_.insert(name + "{" + key + (le ? std::to_string(*le) : "") + "}").second) {
      Problem("duplicate series " + name + "{" + key + "}");
    }
    const double v = ParseNumber(value);
    if (type_ == "counter" && suffix == "_total" && !(v >= 0)) Problem("negative counter");
    if (!exemplar.empty()) {
      if (!(type_ == "counter" && suffix == "_total") &&
          !(type_ == "histogram" && suffix == "_bucket")) {
        Problem("exemplar on " + name);
      }
      CheckExemplar(exemplar);
    }
    if (type_ == "histogram") {
      HistogramSeries& h = histograms_[key];
      if (suffix == "_bucket") {
        if (!le) {
          Problem("bucket without le");
        } else {
          h.buckets.emplace_back(*le, v);
        }
      } else if (suffix == "_count") {
        h.count = v;
      } else if (suffix == "_sum") {
        h.has_sum = true;
      }
    }
  }

  void CheckExemplar(std::string_view exemplar) {
    size_t pos = 0;
    std::vector<Label> labels;
    if (exemplar.empty() || exemplar[0] != '{' || !ParseLabels(exemplar, &pos, &labels)) {
      Problem("bad exemplar label set");
      return;
    }
    size_t chars = 0;
    for (const Label& l : labels) {
      for (const std::string* s : {&l.name, &l.value}) {
        for (char c : *s) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80 ? 1 : 0;
      }
    }
    if (chars > 128) Problem("exemplar label set longer than 128 characters");
    if (pos >= exemplar.size() || exemplar[pos] != ' ') {
      Problem("exemplar without value");
      return;
    }
    const std::string_view rest = exemplar.substr(pos + 1);
    const size_t space = rest.find(' ');
    if (!ValidNumber(rest.substr(0, space))) Problem("bad exemplar value");
    if (space != std::string_view::npos && !ValidNumber(rest.substr(space + 1))) {
      Problem("bad exemplar timestamp");
    }
  }

  void FinishFamily() {
    for (const auto& [key, h] : histograms_) {
      const std::string where = family_ + "{" + key + "}";
      if (h.buckets.empty() || !std::isinf(h.buckets.back().first)) {
        Problem("histogram " + where + " lacks a final +Inf bucket");
        continue;
      }
      for (size_t i = 1; i < h.buckets.size(); ++i) {
        if (!(h.buckets[i].first > h.buckets[i - 1].first)) {
          Problem("buckets of " + where + " not sorted");
        }
        if (h.buckets[i].second < h.buckets[i - 1].second) {
          Problem("buckets of " + where + " not cumulative");
        }
      }
      if (h.has_sum && !h.count) Problem(where + " has _sum without _count");
      if (h.count && *h.count != h.buckets.back().second) {
        Problem(where + " _count differs from the +Inf bucket");
      }
    }
    histograms_.clear();
    series_.clear();
  }

  int line_no_ = 0;
  std::vector<std::string> problems_;
  std::string family_;
  std::string type_ = "unknown";
  std::set<std::string> families_;
  std::set<std::string> seen_meta_;
  std::set<std::string> series_;
  bool saw_sample_ = false;
  std::map<std::string, HistogramSeries> histograms_;
};

}  // namespace

std::vector<std::string> CheckOpenMetrics(std::string_view exposition) {
  return Checker().Run(exposition);
}

}  // namespace loupe::prometheus
