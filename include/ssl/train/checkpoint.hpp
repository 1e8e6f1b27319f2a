#pragma once
/// \file train/checkpoint.hpp
/// Atomic, checksummed checkpoint files (the last good one kept beside), and the random-number
/// state they carry.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <zlib.h>

#include <caffe2/serialize/inline_container.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <random>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace ssl::train {

namespace detail {
/// CRC-32 (zlib's) of `n` bytes.
inline int64_t crc32_of(const char* data, size_t n) {
  uLong c = ::crc32(0L, Z_NULL, 0);
  for (size_t off = 0; off < n;) {
    const auto chunk = static_cast<uInt>(std::min<size_t>(n - off, size_t(1) << 30));
    c = ::crc32(c, reinterpret_cast<const Bytef*>(data + off), chunk);
    off += chunk;
  }
  return static_cast<int64_t>(c);
}
/// fsync of a file or folder (best effort: a file system that cannot sync a folder is left as is).
inline void fsync_path(const std::filesystem::path& p, int flags) {
  const int fd = ::open(p.c_str(), flags);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}
/// A number drawn once per process: with the pid, it names this process's temporary files, so
/// that a later process given the same pid (pids wrap) does not take a dead one's files for its own.
inline const std::string& process_token() {
  static const std::string token = [] {
    std::random_device rd;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
    return std::string(buf);
  }();
  return token;
}
/// Removes the temporary files `<name>.tmp.<pid>.<token>.<n>` that a killed writer left beside
/// `target` (those of another process still running are kept).
inline void remove_stale_temporaries(const std::filesystem::path& target) {
  namespace fs = std::filesystem;
  const auto dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const std::string prefix = target.filename().string() + ".tmp.";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const auto name = e.path().filename().string();
    if (name.rfind(prefix, 0) != 0) continue;
    const auto rest = name.substr(prefix.size());
    char* end = nullptr;
    const long pid = std::strtol(rest.c_str(), &end, 10);
    const std::string token = *end == '.' ? std::string(end + 1).substr(0, process_token().size()) : std::string();
    const bool alive = pid == long(::getpid()) ? token == process_token()
                                               : pid > 0 && (::kill(pid_t(pid), 0) == 0 || errno == EPERM);
    if (!alive) fs::remove(e.path(), ec);
  }
}
}  // namespace detail

namespace detail {
/// `name [shape]` of every parameter and buffer of `m`, one per line, in registration order.
inline std::string tensor_layout(const torch::nn::Module& m) {
  std::ostringstream s;
  for (const auto& p : m.named_parameters()) s << "parameter " << p.key() << " " << p.value().sizes() << "\n";
  for (const auto& b : m.named_buffers())
    if (b.value().defined()) s << "buffer " << b.key() << " " << b.value().sizes() << "\n";
  return s.str();
}
/// Refuses a checkpoint whose tensor layout (`saved`, from `tensor_layout`) is not `here`'s,
/// naming the first tensor that differs.
inline void check_layout(const std::string& saved, const std::string& here, const std::string& path) {
  if (saved == here) return;
  auto lines = [](const std::string& t) {
    std::vector<std::string> v;
    std::istringstream in(t);
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
  };
  const auto a = lines(saved), b = lines(here);
  size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  TORCH_CHECK(false, "checkpoint: '", path, "' holds another model: ",
              i < a.size() ? "it has `" + a[i] + "`" : std::string("it has no more tensors"), ", this model has ",
              i < b.size() ? "`" + b[i] + "`" : std::string("no more tensors"), " (", a.size(), " tensors there, ", b.size(),
              " here); build the model with the options the checkpoint was trained with");
}
/// `k=v` lines of a run configuration, and back.
inline std::string config_string(const std::vector<std::pair<std::string, std::string>>& c) {
  std::string s;
  for (const auto& [k, v] : c) s += k + "=" + v + "\n";
  return s;
}
/// The pairs `config_string` wrote.
inline std::vector<std::pair<std::string, std::string>> parse_config(const std::string& s) {
  std::vector<std::pair<std::string, std::string>> c;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) {
    const auto eq = l.find('=');
    if (eq != std::string::npos) c.emplace_back(l.substr(0, eq), l.substr(eq + 1));
  }
  return c;
}
}  // namespace detail

/// The name of the copy of the previous checkpoint that `atomic_save` keeps beside `path`.
inline std::string previous_checkpoint(const std::string& path) { return path + ".prev"; }

/// Writes an archive to `path` atomically and verifiably:
///  - the archive `fill` makes is serialised in memory and stored with its CRC-32 (a checkpoint
///    changed on disk afterwards, even by one byte, is refused by `load_archive`, naming the file);
///  - it goes to a temporary file beside `path`, flushed to disk, then renamed over `path`, and the
///    folder is synced: a crash leaves either the old or the new checkpoint, never half of one;
///  - the checkpoint it replaces stays as `previous_checkpoint(path)` (`<path>.prev`, a hard link
///    where the file system has them): the last good one survives a checkpoint written from a
///    poisoned step;
///  - temporary files a killed writer left beside `path` are removed.
inline void atomic_save(const std::string& path,
                        const std::function<void(torch::serialize::OutputArchive&)>& fill) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  if (target.has_parent_path()) fs::create_directories(target.parent_path());
  detail::remove_stale_temporaries(target);
  static std::atomic<int> counter{0};
  const std::string tmp =
      path + ".tmp." + std::to_string(::getpid()) + "." + detail::process_token() + "." + std::to_string(counter++);
  try {
    torch::serialize::OutputArchive inner;
    fill(inner);
    std::ostringstream bytes;
    inner.save_to(bytes);
    const std::string payload = bytes.str();
    torch::serialize::OutputArchive ar;
    ar.write("ssl_checkpoint_format", torch::tensor(int64_t{2}));
    ar.write("payload", torch::from_blob(const_cast<char*>(payload.data()), {int64_t(payload.size())}, torch::kUInt8));
    ar.write("payload_crc32", torch::tensor(detail::crc32_of(payload.data(), payload.size())));
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      TORCH_CHECK(out.good(), "checkpoint: cannot write '", tmp, "'");
      ar.save_to(out);
      out.flush();
      TORCH_CHECK(out.good(), "checkpoint: writing '", tmp, "' failed (disk full?)");
    }
    detail::fsync_path(tmp, O_RDONLY);
    std::error_code ec;
    if (fs::exists(target)) {
      // Keep the checkpoint being replaced: a hard link, so that `path` exists at every moment.
      const std::string prev_tmp = tmp + ".prev";
      fs::create_hard_link(target, prev_tmp, ec);
      if (!ec) {
        fs::rename(prev_tmp, previous_checkpoint(path));
        // rename(2) does nothing when both names are links to one file: `<path>.prev` already is
        // `path` (a writer killed between its two renames). The extra link goes.
        fs::remove(prev_tmp, ec);
      }
    }
    fs::rename(tmp, target);
    detail::fsync_path(target.has_parent_path() ? target.parent_path() : fs::path("."), O_RDONLY | O_DIRECTORY);
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    fs::remove(tmp + ".prev", ec);
    throw;
  }
}

namespace detail {
/// The first length-prefixed opcode (string, bytes, long) of the pickle `p` (`n` bytes) that claims
/// more bytes than follow it, described for an error; empty when there is none. LibTorch's
/// unpickler reserves a claimed length before reading it (a 3 KB file claiming 4 GiB costs 4 GiB,
/// found by fuzzing: docs/fuzzing.md). The scan follows the opcodes LibTorch writes and stops at
/// any other (LibTorch's reader then decides).
inline std::string oversized_pickle_length(const uint8_t* p, size_t n) {
  size_t i = 0;
  while (i < n) {
    const size_t at = i;
    const uint8_t op = p[i++];
    size_t skip = 0, prefix = 0;  // a fixed-size argument; the size of a length prefix
    switch (op) {
      case '.':  // STOP
        return {};
      case '(': case '0': case '1': case '2': case 'N': case 'Q': case 'R': case 'a': case 'b': case 'd': case '}':
      case 'e': case 'l': case ']': case 'o': case 's': case 't': case ')': case 'u': case 0x81: case 0x85: case 0x86:
      case 0x87: case 0x88: case 0x89: case 0x8f: case 0x90: case 0x91: case 0x92: case 0x93: case 0x94:
        break;
      case 'K': case 'h': case 'q': case 0x80: case 0x82: skip = 1; break;
      case 'M': case 0x83: skip = 2; break;
      case 'J': case 'j': case 'r': case 0x84: skip = 4; break;
      case 'G': case 0x95: skip = 8; break;  // BINFLOAT; FRAME (its size, then opcodes)
      case 'U': case 'C': case 0x8c: case 0x8a: prefix = 1; break;
      case 'T': case 'X': case 'B': case 0x8b: prefix = 4; break;
      case 0x8d: case 0x8e: case 0x96: prefix = 8; break;
      case 'c':  // GLOBAL: module and name, each ending with a newline
        for (int line = 0; line < 2; ++line) {
          while (i < n && p[i] != '\n') ++i;
          ++i;
        }
        continue;
      default:
        return {};
    }
    if (n - i < skip + prefix) return {};  // cut short: LibTorch's error
    i += skip;
    if (prefix == 0) continue;
    uint64_t len = 0;
    for (size_t k = prefix; k-- > 0;) len = (len << 8) | p[i + k];
    i += prefix;
    if (len > n - i)
      return "an opcode at byte " + std::to_string(at) + " claims " + std::to_string(len) + " bytes, " +
             std::to_string(n - i) + " follow";
    i += size_t(len);
  }
  return {};
}

/// `oversized_pickle_length` over every pickle record (`*.pkl`, `*.debug_pkl`) of a LibTorch
/// archive, naming the record; empty when all are fine.
inline std::string oversized_archive_length(caffe2::serialize::PyTorchStreamReader& reader) {
  for (const auto& name : reader.getAllRecords()) {
    if (!name.ends_with(".pkl") && !name.ends_with(".debug_pkl")) continue;
    auto [data, size] = reader.getRecord(name);
    auto bad = oversized_pickle_length(static_cast<const uint8_t*>(data.get()), size);
    if (!bad.empty()) return "its record " + name + " is corrupt: " + bad;
  }
  return {};
}

/// A LibTorch archive held in memory, for `PyTorchStreamReader`.
struct MemoryArchive : caffe2::serialize::ReadAdapterInterface {
  const char* data;  ///< the bytes (not owned)
  size_t n;          ///< their count
  /// Over `n` bytes at `data`.
  MemoryArchive(const char* data, size_t n) : data(data), n(n) {}
  /// The archive's size.
  size_t size() const override { return n; }
  /// Copies up to `k` bytes from `pos`; the count copied.
  size_t read(uint64_t pos, void* buf, size_t k, const char* = "") const override {
    if (pos >= n) return 0;
    k = std::min<size_t>(k, n - size_t(pos));
    std::memcpy(buf, data + pos, k);
    return k;
  }
};

/// Refuses (naming `path`) an archive whose pickles claim more bytes than they hold, before
/// LibTorch reads it; an archive that is not a readable zip is left to LibTorch's reader.
template <class Source>
void check_archive_lengths(const Source& source, const std::string& path) {
  std::string bad;
  try {
    caffe2::serialize::PyTorchStreamReader reader(source);
    bad = oversized_archive_length(reader);
  } catch (const std::exception&) {
    return;  // not an archive: load_from says so, naming the file
  }
  TORCH_CHECK(bad.empty(), "checkpoint: '", path, "' is damaged: ", bad);
}
}  // namespace detail

/// Reads an archive `atomic_save` wrote (or a plain LibTorch archive), with an error that names
/// the file: missing, not an archive, truncated, or changed since it was written (CRC-32).
inline void load_archive(const std::string& path, torch::serialize::InputArchive& ar) {
  TORCH_CHECK(std::filesystem::exists(path), "checkpoint: file not found: '", path, "'");
  detail::check_archive_lengths(path, path);
  torch::serialize::InputArchive outer;
  try {
    outer.load_from(path);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "checkpoint: '", path, "' is not a readable checkpoint (truncated or not written by ",
                "ssl::train::atomic_save): ", e.what());
  }
  torch::Tensor payload, crc;
  bool wrapped = false;
  try {
    wrapped = outer.try_read("payload", payload) && outer.try_read("payload_crc32", crc);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "checkpoint: '", path, "' is damaged: its payload cannot be read: ", e.what());
  }
  if (!wrapped) {  // a plain archive (checkpoints written before the checksum)
    ar = std::move(outer);
    return;
  }
  payload = payload.contiguous();
  const auto* data = static_cast<const char*>(payload.data_ptr());
  const auto n = static_cast<size_t>(payload.numel());
  const int64_t got = detail::crc32_of(data, n), want = crc.item<int64_t>();
  TORCH_CHECK(got == want, "checkpoint: '", path, "' is damaged: the CRC-32 of its ", n, " payload bytes is ", got,
              ", the file says ", want, " (changed on disk after it was written); the previous checkpoint, if any, is '",
              previous_checkpoint(path), "'");
  detail::check_archive_lengths(std::make_shared<detail::MemoryArchive>(data, n), path);
  try {
    ar.load_from(data, n);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "checkpoint: '", path, "' is not a readable checkpoint: ", e.what());
  }
}

/// Saves / restores the default generators (CPU and every CUDA device).
inline void save_rng(torch::serialize::OutputArchive& ar) {
  auto cpu = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lk(cpu.mutex());
    ar.write("rng.cpu", cpu.get_state());
  }
  const size_t n = torch::cuda::is_available() ? static_cast<size_t>(torch::cuda::device_count()) : 0;
  for (size_t i = 0; i < n; ++i) {
    auto g = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(i)));
    std::lock_guard<std::mutex> lk(g.mutex());
    ar.write("rng.cuda." + std::to_string(i), g.get_state());
  }
}
/// Restores the generators `save_rng` wrote.
inline void load_rng(torch::serialize::InputArchive& ar) {
  torch::Tensor state;
  ar.read("rng.cpu", state);
  auto cpu = at::detail::getDefaultCPUGenerator();
  {
    std::lock_guard<std::mutex> lk(cpu.mutex());
    cpu.set_state(state);
  }
  const size_t n = torch::cuda::is_available() ? static_cast<size_t>(torch::cuda::device_count()) : 0;
  for (size_t i = 0; i < n; ++i) {
    torch::Tensor s;
    if (!ar.try_read("rng.cuda." + std::to_string(i), s)) continue;
    auto g = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(i)));
    std::lock_guard<std::mutex> lk(g.mutex());
    g.set_state(s);
  }
}

/// Seeds every default generator (CPU and CUDA).
inline void seed_everything(uint64_t seed) { torch::manual_seed(seed); }

}  // namespace ssl::train
