#pragma once
/// \file train/checkpoint.hpp
/// Atomic, checksummed checkpoint files (the last good one kept beside), and the random-number
/// state they carry.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <zlib.h>

#include <ssl/core/check.hpp>

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
#include <tuple>
#include <type_traits>
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

/// The archive `atomic_save` writes around a checkpoint's serialised bytes: `data` (`n` bytes) as
/// a uint8 `payload` with its CRC-32 and the format's version. The archive refers to `data`
/// without copying it: save it while `data` lives.
inline torch::serialize::OutputArchive wrap_payload(const char* data, size_t n) {
  torch::serialize::OutputArchive ar;
  ar.write("ssl_checkpoint_format", torch::tensor(int64_t{2}));
  ar.write("payload", n == 0 ? torch::empty({0}, torch::kUInt8)
                             : torch::from_blob(const_cast<char*>(data), {int64_t(n)}, torch::kUInt8));
  ar.write("payload_crc32", torch::tensor(crc32_of(data, n)));
  return ar;
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
    auto ar = detail::wrap_payload(payload.data(), payload.size());
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
/// The first opcode of the pickle `p` (`n` bytes) that claims more than the record can hold,
/// described for an error; empty when there is none:
/// - a length-prefixed opcode (string, bytes, long) claiming more bytes than follow it: LibTorch's
///   unpickler reserves a claimed length before reading it (a 3 KB file claiming 4 GiB costs 4 GiB);
/// - a LONG_BINPUT storing memo entry `m >= n`: the unpickler grows its memo table to `m + 1`
///   entries of 16 bytes (a 6 KB file storing entry 1.9e9 asks for 30 GB), while a pickler numbers
///   its entries 0, 1, 2, ..., one per PUT of at least 2 bytes, so that a record of `n` bytes never
///   stores an entry as high as `n`.
///
/// Both found by fuzzing (docs/fuzzing.md). The scan follows the opcodes LibTorch writes and stops
/// at any other (LibTorch's reader then decides).
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
      case 'J': case 'j': case 0x84: skip = 4; break;
      case 'r':  // LONG_BINPUT: a 4-byte memo index
        if (n - i >= 4) {
          const uint64_t m = uint64_t(p[i]) | uint64_t(p[i + 1]) << 8 | uint64_t(p[i + 2]) << 16 | uint64_t(p[i + 3]) << 24;
          if (m >= n)
            return "an opcode at byte " + std::to_string(at) + " stores memo entry " + std::to_string(m) +
                   ", more entries than its " + std::to_string(n) + " bytes can number";
        }
        skip = 4;
        break;
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
/// archive, naming the record; empty when all are fine. An archive whose records cannot be listed
/// (one outside the archive's folder) is refused too: LibTorch's import reads its records by name
/// without listing them, so none of them could be scanned first (a fuzzed file whose last record
/// had a mangled folder name made LibTorch reserve the 1.9 GB a string of data.pkl claimed). A
/// record that cannot be read is skipped: LibTorch fails on it the same way, if it reads it.
/// Before any record is read, each record's size (as the zip's directory states it) must fit in
/// the archive's `archive_bytes`, even deflated (DEFLATE's ratio is at most 1032:1; LibTorch
/// itself stores records uncompressed): LibTorch allocates a record's stated size before reading
/// it (a fuzzed 3 KB archive stated 2.8 GB).
inline std::string oversized_archive_length(caffe2::serialize::PyTorchStreamReader& reader, uint64_t archive_bytes) {
  std::vector<std::string> names;
  try {
    names = reader.getAllRecords();
  } catch (const std::exception& e) {
    return "its records are not all in the archive's folder (" + ssl::detail::cause(e) + ")";
  }
  constexpr uint64_t kMaxDeflateRatio = 1032;
  for (const auto& name : names) {
    uint64_t stated = 0;
    try {
      stated = reader.getRecordSize(name);
    } catch (const std::exception&) {
      continue;
    }
    if (stated / kMaxDeflateRatio > archive_bytes)
      return "its record " + name + " states " + std::to_string(stated) + " bytes, more than its " +
             std::to_string(archive_bytes) + "-byte archive can hold even compressed";
  }
  for (const auto& name : names) {
    if (!name.ends_with(".pkl") && !name.ends_with(".debug_pkl")) continue;
    std::tuple<at::DataPtr, size_t> record;
    try {
      record = reader.getRecord(name);
    } catch (const std::exception&) {
      continue;
    }
    auto& [data, size] = record;
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
  /// Copies up to `k` bytes from `pos`; the count copied. LibTorch's zip reader asks for 0 bytes
  /// into a null buffer for an empty record (found by fuzzing: a null `memcpy` destination is
  /// undefined behaviour even for 0 bytes), so nothing is copied then.
  size_t read(uint64_t pos, void* buf, size_t k, const char* = "") const override {
    if (pos >= n || k == 0 || buf == nullptr) return 0;
    k = std::min<size_t>(k, n - size_t(pos));
    std::memcpy(buf, data + pos, k);
    return k;
  }
};

/// Refuses (naming `path`) an archive whose records state more bytes than it can hold, whose
/// pickles claim more than they hold, or whose records cannot all be listed, before LibTorch reads
/// it (`oversized_archive_length`); an archive that is not a readable zip is left to LibTorch's
/// reader.
template <class Source>
void check_archive_lengths(const Source& source, const std::string& path) {
  std::string bad;
  try {
    caffe2::serialize::PyTorchStreamReader reader(source);
    uint64_t bytes = 0;
    if constexpr (std::is_convertible_v<const Source&, std::string>) {
      bytes = std::filesystem::file_size(source);
    } else {
      bytes = source->size();
    }
    bad = oversized_archive_length(reader, bytes);
  } catch (const std::exception&) {
    return;  // not an archive: load_from says so, naming the file
  }
  TORCH_CHECK(bad.empty(), "checkpoint: '", path, "' is damaged: ", bad);
}

/// Why reading `t` would leave its storage, described for an error: its view reaches past the
/// storage's bytes, or the storage has bytes but no data behind them; empty when neither (or `t`
/// has no storage of its own: undefined, sparse). LibTorch's unpickler rebuilds a tensor from the
/// sizes, strides and storage offset the pickle gives without checking them against the storage,
/// and a corrupt archive can leave a storage's data unset: the first read of such a tensor is out
/// of bounds (a fuzzed checkpoint payload's 24-byte tensor read through a null pointer:
/// docs/fuzzing.md).
inline std::string unreadable_tensor(const torch::Tensor& t) {
  if (!t.defined() || t.is_sparse() || !t.has_storage()) return {};
  const auto where = [&] {
    std::ostringstream os;
    os << "sizes " << t.sizes() << ", strides " << t.strides() << ", storage offset " << t.storage_offset();
    return os.str();
  };
  if (t.storage_offset() < 0) return "a negative storage offset (" + where() + ")";
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.size(d) == 0) return {};  // no element: nothing is read
    // (LibTorch's set_sizes_and_strides, which the unpickler calls, turns a negative stride into
    // the contiguous one; a negative stride from any other path would let the sum below shrink.)
    if (t.stride(d) < 0) return "a negative stride (" + where() + ")";
  }
  // The bytes up to the last element, counted in 128 bits and stopped once past the storage:
  // every term is below 2^126 and is added to a sum still within the storage's bytes (< 2^63).
  const __int128 have = __int128(t.storage().nbytes()), item = __int128(t.element_size());
  __int128 last = t.storage_offset();
  bool past = (last + 1) * item > have;
  for (int64_t d = 0; d < t.dim() && !past; ++d) {
    last += __int128(t.size(d) - 1) * __int128(t.stride(d));
    past = (last + 1) * item > have;
  }
  if (past)
    return "its view (" + where() + ") reaches past its storage of " + std::to_string(t.storage().nbytes()) + " bytes";
  if (!t.is_meta() && t.storage().data() == nullptr)
    return "no data behind its storage of " + std::to_string(t.storage().nbytes()) + " bytes (" + where() + ")";
  return {};
}

/// `unreadable_tensor` of the first tensor in `v` that has one, searched through lists, dicts,
/// tuples and objects (nested archives) down to `depth` levels (a pickle can make an object hold
/// itself); empty when none.
inline std::string unreadable_tensor_in(const c10::IValue& v, int depth = 32) {
  std::string bad;
  v.visit([&](const c10::IValue& x) {
    if (!bad.empty()) return true;
    if (x.isTensor()) {
      bad = unreadable_tensor(x.toTensor());
      return true;
    }
    if (x.isObject()) {  // its attributes, here: IValue::visit does not descend into objects
      for (const auto& slot : x.toObjectRef().slots()) {
        if (depth > 0 && bad.empty()) bad = unreadable_tensor_in(slot, depth - 1);
      }
      return true;
    }
    return false;  // descend into a list, dict or tuple
  });
  return bad;
}

/// Refuses (naming `path` and the key) an archive holding, anywhere in it, a tensor whose view
/// reaches past its storage or whose storage has no data (`unreadable_tensor`).
inline void check_tensors_in_storage(torch::serialize::InputArchive& ar, const std::string& path) {
  for (const auto& key : ar.keys()) {
    c10::IValue v;
    if (!ar.try_read(key, v)) continue;
    const auto bad = unreadable_tensor_in(v);
    TORCH_CHECK(bad.empty(), "checkpoint: '", path, "' is damaged: a tensor under '", key, "' has ", bad);
  }
}
}  // namespace detail

/// Reads an archive `atomic_save` wrote (or a plain LibTorch archive), with an error that names
/// the file: missing, not an archive, truncated, changed since it was written (CRC-32), or
/// damaged in a way LibTorch would act on (a pickle claiming more than it holds, a tensor whose
/// view reaches past its storage).
inline void load_archive(const std::string& path, torch::serialize::InputArchive& ar) {
  TORCH_CHECK(std::filesystem::exists(path), "checkpoint: file not found: '", path, "'");
  detail::check_archive_lengths(path, path);
  torch::serialize::InputArchive outer;
  try {
    outer.load_from(path);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "checkpoint: '", path, "' is not a readable checkpoint (truncated or not written by ",
                "ssl::train::atomic_save): ", ssl::detail::cause(e));
  }
  detail::check_tensors_in_storage(outer, path);
  torch::Tensor payload, crc;
  bool wrapped = false;
  try {
    wrapped = outer.try_read("payload", payload) && outer.try_read("payload_crc32", crc);
  } catch (const std::exception& e) {
    TORCH_CHECK(false, "checkpoint: '", path, "' is damaged: its payload cannot be read: ", ssl::detail::cause(e));
  }
  if (!wrapped) {  // a plain archive (checkpoints written before the checksum)
    ar = std::move(outer);
    return;
  }
  TORCH_CHECK(payload.scalar_type() == torch::kUInt8 && crc.numel() == 1, "checkpoint: '", path,
              "' is damaged: expected a uint8 payload and one CRC-32, got a ", payload.scalar_type(), " payload and ",
              crc.numel(), " CRC values");
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
    TORCH_CHECK(false, "checkpoint: '", path, "' is not a readable checkpoint: ", ssl::detail::cause(e));
  }
  detail::check_tensors_in_storage(ar, path);
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
