#pragma once
/// \file train/metrics_log.hpp
/// JSON-lines metrics log: one object per line, appended and flushed.
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace ssl::train {

/// Formats a double as JSON (non-finite values become null).
inline std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  std::ostringstream os;
  os.precision(10);
  os << v;
  return os.str();
}

/// Escapes a string for JSON.
inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

/// A flat JSON object of numbers and strings, written in insertion order.
class JsonObject {
 public:
  JsonObject& num(const std::string& k, double v) { return raw(k, json_number(v)); }
  JsonObject& str(const std::string& k, const std::string& v) { return raw(k, json_string(v)); }
  JsonObject& raw(const std::string& k, const std::string& json) {
    fields_.emplace_back(k, json);
    return *this;
  }
  [[nodiscard]] std::string dump(bool pretty = false) const {
    std::string s = pretty ? "{\n" : "{";
    for (size_t i = 0; i < fields_.size(); ++i) {
      if (pretty) s += "  ";
      s += json_string(fields_[i].first) + (pretty ? ": " : ":") + fields_[i].second;
      if (i + 1 < fields_.size()) s += ",";
      if (pretty) s += "\n";
    }
    return s + "}";
  }

 private:
  std::vector<std::pair<std::string, std::string>> fields_;
};

class MetricsLog {
 public:
  MetricsLog() = default;
  explicit MetricsLog(const std::string& path) {
    if (!path.empty()) out_.open(path, std::ios::app);
  }
  void write(const JsonObject& o) {
    if (!out_.is_open()) return;
    out_ << o.dump() << '\n';
    out_.flush();
  }

 private:
  std::ofstream out_;
};

}  // namespace ssl::train
