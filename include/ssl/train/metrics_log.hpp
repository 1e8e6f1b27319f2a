#pragma once
/// \file train/metrics_log.hpp
/// JSON-lines metrics log: one object per line, appended and flushed. JSON is nlohmann::json's
/// (the library's one JSON implementation; data/corpus.hpp reads JSON Lines with it too).
#include <nlohmann/json.hpp>

#include <fstream>
#include <string>

namespace ssl::train {

/// A JSON value whose objects keep their keys in insertion order (a log line or a metrics file
/// reads in the order it was written). Example: `Json{{"step", 10}, {"loss", 0.5}}`.
using Json = nlohmann::ordered_json;

/// `j` as JSON text: on one line (`indent` < 0) or indented by `indent` spaces. Non-finite
/// numbers are written as `null`, integers without a fraction, other numbers with the digits
/// that read back to the same double; invalid UTF-8 in a string becomes U+FFFD instead of an
/// error.
inline std::string dump(const Json& j, int indent = -1) {
  return j.dump(indent, ' ', false, Json::error_handler_t::replace);
}

/// Appends one JSON object per line to a file (nothing when the path is empty).
class MetricsLog {
 public:
  /// A log that writes nothing (as an empty path).
  MetricsLog() = default;
  /// Opens `path` for appending; an empty path logs nothing.
  explicit MetricsLog(const std::string& path) {
    if (!path.empty()) out_.open(path, std::ios::app);
  }
  /// Writes `o` on one line and flushes.
  void write(const Json& o) {
    if (!out_.is_open()) return;
    out_ << dump(o) << '\n';
    out_.flush();
  }

 private:
  std::ofstream out_;
};

}  // namespace ssl::train
