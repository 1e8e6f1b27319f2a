#pragma once
/// \file train/tensorboard.hpp
/// TensorBoard event files written from C++: scalars and PNG images, readable by TensorBoard
/// (`tensorboard --logdir <dir>`) and by its Python readers, without TensorFlow or protobuf.
///
/// The format: a file `events.out.tfevents.<unix time>.<host>.<pid>.<n>` of TFRecords (uint64
/// length, masked CRC-32C of the length, the bytes, masked CRC-32C of the bytes; little-endian),
/// each record one `tensorboard.Event` protobuf (event.proto): the first has `file_version =
/// "brain.Event:2"`, the others a wall time, a step and a `Summary` of values (summary.proto:
/// `simple_value` for a scalar, `Summary.Image` with a PNG for an image), or a `SessionLog` START.
/// The few protobuf fields are encoded here by hand.
#include <ssl/io/png.hpp>
#include <ssl/train/metrics_log.hpp>

#include <torch/torch.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <bit>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace ssl::train {

/// CRC-32C (Castagnoli, the checksum of TFRecords) of `n` bytes at `data`, continuing `crc` (0
/// to start). `crc32c("123456789", 9) == 0xE3069283`.
inline uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

namespace detail {

/// TFRecord's masked CRC-32C: `((crc >> 15) | (crc << 17)) + 0xa282ead8`.
inline uint32_t masked_crc32c(const std::string& bytes) {
  const uint32_t c = crc32c(bytes.data(), bytes.size());
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

/// The few protobuf encodings an Event needs (wire types 0 varint, 1 fixed64, 2 length-delimited,
/// 5 fixed32), appended to a byte string.
struct Proto {
  std::string b;
  void varint(uint64_t v) {
    while (v >= 0x80) {
      b.push_back(char(uint8_t(v) | 0x80));
      v >>= 7;
    }
    b.push_back(char(uint8_t(v)));
  }
  void key(int field, int wire) { varint(uint64_t(field) << 3 | uint64_t(wire)); }
  void le(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) b.push_back(char(uint8_t(v >> (8 * i))));
  }
  Proto& int64(int field, int64_t v) {  // int64 / int32 / enum: a varint (negative: 10 bytes)
    key(field, 0);
    varint(uint64_t(v));
    return *this;
  }
  Proto& f64(int field, double v) {
    key(field, 1);
    le(std::bit_cast<uint64_t>(v), 8);
    return *this;
  }
  Proto& f32(int field, float v) {
    key(field, 5);
    le(std::bit_cast<uint32_t>(v), 4);
    return *this;
  }
  Proto& bytes(int field, const std::string& v) {  // string, bytes or an embedded message
    key(field, 2);
    varint(v.size());
    b += v;
    return *this;
  }
};

/// `img` (uint8, or floating point in [0,1]; `[H,W]` or `[C,H,W]` with C 1 or 3) as uint8 `[C,H,W]`
/// on the CPU: floats clamped to [0,1], times 255, rounded; NaN as 0.
inline torch::Tensor image_pixels(const torch::Tensor& img, const std::string& tag) {
  TORCH_CHECK(img.defined(), "TensorBoard::image('", tag, "'): expected a tensor, got an undefined one");
  auto t = img.detach().to(torch::kCPU);
  if (t.dim() == 2) t = t.unsqueeze(0);
  TORCH_CHECK(t.dim() == 3 && (t.size(0) == 1 || t.size(0) == 3) && t.size(1) > 0 && t.size(2) > 0,
              "TensorBoard::image('", tag, "'): expected [H,W], [1,H,W] or [3,H,W] pixels, got ", img.sizes());
  if (t.scalar_type() == torch::kUInt8) return t;
  TORCH_CHECK(t.is_floating_point(), "TensorBoard::image('", tag,
              "'): expected uint8 pixels or floating point ones in [0,1], got ", t.scalar_type());
  return t.to(torch::kFloat32).nan_to_num(0).clamp(0, 1).mul(255).round().to(torch::kUInt8);
}

}  // namespace detail

/// Writes one TensorBoard event file in a folder: scalars (`scalar`, `scalars`) and images
/// (`image`) at training steps, each call's events flushed to the file before it returns (a killed
/// run loses nothing written). An empty folder writes nothing (as `MetricsLog`'s empty path).
///
/// Example: `TensorBoard tb("out/mae"); tb.scalar("loss", 0.5, 10); tb.image("mae/reconstruction",
/// grid, 10);` then `tensorboard --logdir out`. `Trainer::fit` writes its metrics here when
/// `FitOptions::tensorboard_dir` is set.
///
/// Restarts: TensorBoard reads a folder's event files in name order (their names begin with the
/// creation time) and, at a SessionLog START event of step S (`session_start`), drops the events
/// read before it with step >= S; its server ignores the first START of a folder (a run's first
/// session), so every run that may be resumed starts a session too. A run resumed from a
/// checkpoint of step S starts one at S + 1, and the steps the interrupted run logged after its
/// checkpoint do not double the curves (`Trainer::fit` does both).
class TensorBoard {
 public:
  /// A writer that writes nothing (as an empty folder).
  TensorBoard() = default;
  /// Creates `dir` (and its parents) and a new event file in it, and writes its first event
  /// (the file version); an empty `dir` writes nothing.
  explicit TensorBoard(const std::string& dir) {
    if (dir.empty()) return;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    TORCH_CHECK(!ec && std::filesystem::is_directory(dir), "TensorBoard: expected a folder to write the event file in at '",
                dir, "', got ", ec ? ec.message() : std::string("a file that is not a folder"));
    path_ = (std::filesystem::path(dir) / file_name()).string();
    out_.open(path_, std::ios::binary | std::ios::trunc);
    TORCH_CHECK(out_.is_open(), "TensorBoard: expected to create the event file '", path_, "', could not (permissions?)");
    detail::Proto e;
    e.f64(1, wall_time()).bytes(3, "brain.Event:2");  // Event.wall_time, Event.file_version
    record(e.b);
    flush();
  }
  TensorBoard(TensorBoard&&) = default;             ///< moves the open file
  TensorBoard& operator=(TensorBoard&&) = default;  ///< moves the open file

  /// Whether events are written (a folder was given).
  [[nodiscard]] bool enabled() const { return out_.is_open(); }
  /// The event file's path (empty when disabled).
  [[nodiscard]] const std::string& path() const { return path_; }

  /// Writes scalar `value` (stored as a float32, as TensorBoard does) under `tag` at `step`.
  void scalar(const std::string& tag, double value, int64_t step) {
    if (!enabled()) return;
    detail::Proto v;
    v.bytes(1, tag).f32(2, static_cast<float>(value));  // Summary.Value.tag, .simple_value
    summary_event(v.b, step);
    flush();
  }

  /// Writes every number of the JSON object `rec` but its `"step"` as a scalar tagged with its
  /// key (prefixed by `prefix`), all at `step` in one event; other values (strings, booleans,
  /// objects, null) are skipped. `Trainer::fit` writes its metrics records (`train.jsonl`'s lines)
  /// so.
  void scalars(const Json& rec, int64_t step, const std::string& prefix = "") {
    if (!enabled()) return;
    TORCH_CHECK(rec.is_object(), "TensorBoard::scalars: expected a JSON object, got ", rec.type_name());
    detail::Proto s;
    for (const auto& [k, v] : rec.items()) {
      if (k == "step" || !v.is_number()) continue;
      detail::Proto val;
      val.bytes(1, prefix + k).f32(2, static_cast<float>(v.get<double>()));
      s.bytes(1, val.b);  // Summary.value (repeated)
    }
    if (s.b.empty()) return;
    detail::Proto e;
    e.f64(1, wall_time()).int64(2, step).bytes(5, s.b);
    record(e.b);
    flush();
  }

  /// Writes image `img` under `tag` at `step`, PNG-encoded: uint8 pixels, or floating point ones
  /// in [0,1] (clamped; times 255, rounded); `[H,W]` or `[1,H,W]` grayscale, `[3,H,W]` RGB.
  void image(const std::string& tag, const torch::Tensor& img, int64_t step) {
    if (!enabled()) return;
    const auto px = detail::image_pixels(img, tag);
    detail::Proto im;  // Summary.Image: height, width, colorspace (1 gray, 3 RGB), encoded_image_string
    im.int64(1, px.size(1)).int64(2, px.size(2)).int64(3, px.size(0)).bytes(4, io::encode_png(px, "TensorBoard::image"));
    detail::Proto v;
    v.bytes(1, tag).bytes(4, im.b);  // Summary.Value.tag, .image
    summary_event(v.b, step);
    flush();
  }

  /// Writes a SessionLog START event at `step`: TensorBoard drops the events of earlier files of
  /// the folder with step >= `step` (a resumed run's orphaned steps), except at the first START of
  /// the folder, which its server takes for the first run's. `Trainer::fit` starts one at the first
  /// step it logs (1 for a new run, the checkpoint's step + 1 for a resumed one).
  void session_start(int64_t step) {
    if (!enabled()) return;
    detail::Proto sl;
    sl.int64(1, 1);  // SessionLog.status = START
    detail::Proto e;
    e.f64(1, wall_time()).int64(2, step).bytes(7, sl.b);  // Event.session_log
    record(e.b);
    flush();
  }

  /// Flushes the file; throws when a write failed (a full disk), naming the file.
  void flush() {
    if (!enabled()) return;
    out_.flush();
    TORCH_CHECK(out_.good(), "TensorBoard: expected to write the event file '", path_, "', writing failed (disk full?)");
  }

 private:
  static double wall_time() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
  /// `events.out.tfevents.<unix time, 10 digits>.<host>.<pid>.<n>`: n counts this process's
  /// files, so two writers opened in the same second do not share a file and sort in order.
  static std::string file_name() {
    static std::atomic<int64_t> counter{0};
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) != 0 || host[0] == 0) std::snprintf(host, sizeof host, "localhost");
    for (char* c = host; *c; ++c)
      if (*c == '/') *c = '_';
    const auto now = static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count());
    char name[400];
    std::snprintf(name, sizeof name, "events.out.tfevents.%010lld.%s.%lld.%04lld", now, host, (long long)getpid(),
                  (long long)counter++);
    return name;
  }
  void summary_event(const std::string& value, int64_t step) {
    detail::Proto s;
    s.bytes(1, value);  // Summary.value
    detail::Proto e;
    e.f64(1, wall_time()).int64(2, step).bytes(5, s.b);  // Event.wall_time, .step, .summary
    record(e.b);
  }
  /// One TFRecord: length, masked CRC of the length, data, masked CRC of the data.
  void record(const std::string& data) {
    detail::Proto h;
    h.le(data.size(), 8);
    std::string rec = h.b;
    detail::Proto c;
    c.le(detail::masked_crc32c(h.b), 4);
    rec += c.b;
    rec += data;
    detail::Proto d;
    d.le(detail::masked_crc32c(data), 4);
    rec += d.b;
    out_.write(rec.data(), static_cast<std::streamsize>(rec.size()));
  }

  std::string path_;
  std::ofstream out_;
};

}  // namespace ssl::train
