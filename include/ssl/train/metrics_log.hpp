#pragma once
/// \file train/metrics_log.hpp
/// JSON-lines metrics log: one object per line, appended and flushed. JSON is nlohmann::json's
/// (the library's one JSON implementation; data/corpus.hpp reads JSON Lines with it too).
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

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

/// Removes from the JSON-lines log `path` every line whose `"step"` is greater than `step`, and a
/// last line cut short (a process killed while writing it); other lines stay as they were. A run
/// resumed from a checkpoint of step `step` calls it before logging again, so that the steps a
/// killed run logged after its last checkpoint are not in the log twice. The file is replaced
/// atomically (a temporary file, then a rename); a missing file is left missing.
inline void drop_steps_after(const std::filesystem::path& path, int64_t step) {
  std::error_code ec;
  if (path.empty() || !std::filesystem::exists(path, ec)) return;
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in, "metrics log: cannot read '", path.string(), "'");
  std::string line, kept;
  bool changed = false;
  while (std::getline(in, line)) {
    const bool complete = !in.eof();  // the last line of a torn write has no newline
    bool keep = complete;
    if (complete) {
      const auto j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      if (j.is_object() && j.contains("step") && j["step"].is_number() && j["step"].template get<double>() > double(step))
        keep = false;
    }
    if (keep) {
      kept += line;
      kept += '\n';
    } else {
      changed = true;
    }
  }
  in.close();
  if (!changed) return;
  const auto tmp = std::filesystem::path(path.string() + ".tmp");
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << kept;
    out.flush();
    TORCH_CHECK(out, "metrics log: cannot write '", tmp.string(), "'");
  }
  std::filesystem::rename(tmp, path);
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
