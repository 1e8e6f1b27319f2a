#pragma once
/// \file io/safetensors.hpp
/// safetensors read and write (https://github.com/huggingface/safetensors format): an 8-byte
/// little-endian header length, a JSON header `{name: {dtype, shape, data_offsets}}`, the raw
/// little-endian data. Malformed, truncated or inconsistent files give an error naming the file
/// and what is wrong; nothing is read out of bounds.
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#if __has_include(<sys/mman.h>) && __has_include(<fcntl.h>) && __has_include(<unistd.h>)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
/// 1 where the system has `mmap` (load_safetensors maps the file), else 0 (it reads the file).
#define SSL_SAFETENSORS_MMAP 1
#else
/// 1 where the system has `mmap` (load_safetensors maps the file), else 0 (it reads the file).
#define SSL_SAFETENSORS_MMAP 0
#endif

#include <cerrno>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <fstream>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace ssl::io {

namespace detail {

inline const std::map<std::string, torch::Dtype>& st_dtypes() {
  static const std::map<std::string, torch::Dtype> m{
      {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
      {"BF16", torch::kBFloat16}, {"I64", torch::kInt64}, {"I32", torch::kInt32},
      {"I16", torch::kInt16}, {"I8", torch::kInt8}, {"U8", torch::kUInt8}, {"BOOL", torch::kBool}};
  return m;
}
inline std::string st_name(torch::Dtype d) {
  for (const auto& [k, v] : st_dtypes()) if (v == d) return k;
  TORCH_CHECK(false, "safetensors: unsupported dtype ", d);
}

/// A dtype's safetensors name (`F32`, `BF16`, `I64` ...), or LibTorch's name where safetensors has none.
inline std::string dtype_name(torch::Dtype d) {
  for (const auto& [k, v] : st_dtypes()) if (v == d) return k;
  return std::string(c10::toString(d));
}

/// Nesting a safetensors header never needs more than 3 levels (header, entry, shape); deeper
/// than this is refused while parsing, before anything is built.
inline constexpr int kMaxHeaderDepth = 64;
/// The largest header accepted (the reference implementation's limit too).
inline constexpr uint64_t kMaxHeaderBytes = uint64_t(100) << 20;

/// Parses the JSON header of `file`: any JSON syntax error, a duplicate key in any object, or
/// nesting deeper than `kMaxHeaderDepth` is an error naming the file (nlohmann's parser is
/// iterative; its callback sees every object, key and depth as they come).
inline nlohmann::ordered_json parse_header(const std::string& header, const std::string& file) {
  using Json = nlohmann::ordered_json;
  std::vector<std::vector<std::string>> keys;  // the keys seen so far in each open object
  const Json::parser_callback_t check = [&](int depth, Json::parse_event_t event, Json& parsed) {
    switch (event) {
      case Json::parse_event_t::object_start:
      case Json::parse_event_t::array_start:
        TORCH_CHECK(depth < kMaxHeaderDepth, "safetensors: '", file, "' has a malformed JSON header (expected at ",
                    "most ", kMaxHeaderDepth, " levels of nesting, got more)");
        if (event == Json::parse_event_t::object_start) keys.emplace_back();
        break;
      case Json::parse_event_t::key: {
        TORCH_CHECK(!keys.empty(), "safetensors: '", file, "': a JSON key outside an object");
        auto& seen = keys.back();
        const auto& k = parsed.get_ref<const std::string&>();
        TORCH_CHECK(std::find(seen.begin(), seen.end(), k) == seen.end(), "safetensors: '", file,
                    "' has a malformed JSON header (expected unique keys, got '", k, "' twice in one object)");
        seen.push_back(k);
        break;
      }
      case Json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return Json::parse(header, check);
  } catch (const Json::exception& e) {
    TORCH_CHECK(false, "safetensors: '", file, "' has a malformed JSON header (", e.what(), ")");
  }
}

/// `v` as a non-negative integer that fits in int64: a shape dimension or a data offset of entry
/// `name` (`what` says which) in `file`.
inline int64_t header_uint(const nlohmann::ordered_json& v, const std::string& file, const std::string& name,
                           const char* what) {
  TORCH_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0), "safetensors: '", file,
              "' entry '", name, "': expected ", what, " to be a non-negative integer, got ", v.dump());
  const auto u = v.get<uint64_t>();
  TORCH_CHECK(u <= uint64_t(std::numeric_limits<int64_t>::max()), "safetensors: '", file, "' entry '", name,
              "': expected ", what, " below 2^63, got ", u);
  return static_cast<int64_t>(u);
}

}  // namespace detail

/// Tensors by name, in file order.
using TensorMap = std::vector<std::pair<std::string, torch::Tensor>>;

namespace detail {
/// A read-only view of a whole file: memory-mapped (copy-on-write, so a tensor over it may be
/// written in place without touching the file) where the system has `mmap`, else read into memory.
class MappedFile {
 public:
  /// Maps `path`; an error naming it when it cannot be opened or mapped.
  explicit MappedFile(const std::string& path) {
#if SSL_SAFETENSORS_MMAP
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    TORCH_CHECK(fd >= 0, "safetensors: cannot open '", path, "' (", std::strerror(errno), ")");
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      TORCH_CHECK(false, "safetensors: cannot stat '", path, "' (", std::strerror(err), ")");
    }
    size_ = static_cast<uint64_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
      const int err = errno;
      ::close(fd);
      TORCH_CHECK(p != MAP_FAILED, "safetensors: cannot map '", path, "' (", std::strerror(err), ")");
      data_ = static_cast<char*>(p);
    } else {
      ::close(fd);
    }
#else
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    TORCH_CHECK(in.good(), "safetensors: cannot open '", path, "'");
    size_ = static_cast<uint64_t>(in.tellg());
    in.seekg(0);
    copy_.resize(size_);
    in.read(copy_.data(), static_cast<std::streamsize>(size_));
    TORCH_CHECK(in.good() || size_ == 0, "safetensors: could not read '", path, "'");
    data_ = copy_.data();
#endif
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
#if SSL_SAFETENSORS_MMAP
    if (data_) ::munmap(data_, size_);
#endif
  }
  /// The file's bytes.
  [[nodiscard]] char* data() const { return data_; }
  /// The file's size in bytes.
  [[nodiscard]] uint64_t size() const { return size_; }

 private:
  char* data_ = nullptr;
  uint64_t size_ = 0;
#if !SSL_SAFETENSORS_MMAP
  std::vector<char> copy_;
#endif
};
}  // namespace detail

/// Reads every tensor of a safetensors file (on CPU). The file is memory-mapped: each tensor whose
/// bytes are aligned for its dtype is a view of the mapping (pages are read when first touched and
/// copied only when written; the mapping lives as long as any of its tensors), the others are
/// copied out. The header must be a JSON object without duplicate keys, at most 100 MiB; each
/// entry's dtype, shape and data_offsets must agree (the byte size is the shape's product times
/// the dtype's size), lie inside the data section, and no two tensors' bytes may overlap. Every
/// error names the file and what was expected, before any tensor is made.
inline std::map<std::string, torch::Tensor> load_safetensors(const std::string& path) {
  auto file = std::make_shared<detail::MappedFile>(path);
  const uint64_t size = file->size();
  TORCH_CHECK(size >= 8, "safetensors: '", path, "' is ", size, " bytes, too short for the 8-byte header length");
  uint8_t lenb[8];
  std::memcpy(lenb, file->data(), 8);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | lenb[i];
  TORCH_CHECK(hlen <= size - 8, "safetensors: '", path, "' says its header is ", hlen, " bytes but the file has only ",
              size - 8, " after the length (truncated or not a safetensors file)");
  TORCH_CHECK(hlen <= detail::kMaxHeaderBytes, "safetensors: '", path, "': expected a JSON header of at most 100 MiB (",
              detail::kMaxHeaderBytes, " bytes), got ", hlen, " bytes");
  const std::string header(file->data() + 8, size_t(hlen));
  const uint64_t data_size = size - 8 - hlen;
  const auto root = detail::parse_header(header, path);
  TORCH_CHECK(root.is_object(), "safetensors: '", path, "': expected the header to be a JSON object, got a JSON ",
              root.type_name());

  struct Entry {
    std::string name;
    torch::Dtype dtype;
    std::vector<int64_t> dims;
    int64_t begin, end;
  };
  std::vector<Entry> entries;
  for (const auto& [name, e] : root.items()) {
    if (name == "__metadata__") {
      TORCH_CHECK(e.is_object(), "safetensors: '", path, "': expected __metadata__ to be an object, got a JSON ",
                  e.type_name());
      for (const auto& [k, v] : e.items())
        TORCH_CHECK(v.is_string(), "safetensors: '", path, "': expected __metadata__ values to be strings, got ",
                    v.dump(), " for '", k, "'");
      continue;
    }
    TORCH_CHECK(e.is_object(), "safetensors: '", path, "' entry '", name, "': expected an object, got a JSON ", e.type_name());
    const auto dt = e.find("dtype"), shape = e.find("shape"), offs = e.find("data_offsets");
    TORCH_CHECK(dt != e.end() && dt->is_string() && shape != e.end() && shape->is_array() && offs != e.end() &&
                    offs->is_array() && offs->size() == 2,
                "safetensors: '", path, "' entry '", name, "' needs dtype, shape and data_offsets [begin, end], got ",
                e.dump());
    const auto& dts = dt->get_ref<const std::string&>();
    auto it = detail::st_dtypes().find(dts);
    TORCH_CHECK(it != detail::st_dtypes().end(), "safetensors: '", path, "' entry '", name, "' has unsupported dtype ",
                dts, " (expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
    Entry en{name, it->second, {}, 0, 0};
    uint64_t bytes = torch::elementSize(it->second);
    for (const auto& d : *shape) {
      en.dims.push_back(detail::header_uint(d, path, name, "each shape dimension"));
      TORCH_CHECK(!__builtin_mul_overflow(bytes, uint64_t(en.dims.back()), &bytes), "safetensors: '", path,
                  "' entry '", name, "' has shape ", shape->dump(), " whose byte size overflows 64 bits (expected at most ",
                  data_size, " bytes, the data section)");
    }
    en.begin = detail::header_uint((*offs)[0], path, name, "data_offsets[0]");
    en.end = detail::header_uint((*offs)[1], path, name, "data_offsets[1]");
    TORCH_CHECK(en.begin <= en.end && uint64_t(en.end) <= data_size, "safetensors: '", path, "' entry '", name,
                "' has data_offsets [", en.begin, ", ", en.end, "] outside the ", data_size,
                "-byte data section (expected begin <= end <= ", data_size, "; truncated?)");
    TORCH_CHECK(uint64_t(en.end - en.begin) == bytes, "safetensors: '", path, "' entry '", name, "' holds ",
                en.end - en.begin, " bytes but dtype ", dts, " and shape ", shape->dump(), " need ", bytes);
    entries.push_back(std::move(en));
  }
  // No two tensors share a byte: sorted by start, each non-empty range begins at or after the
  // previous one's end.
  std::vector<const Entry*> by_start;
  for (const auto& e : entries) if (e.end > e.begin) by_start.push_back(&e);
  std::sort(by_start.begin(), by_start.end(), [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < by_start.size(); ++i) {
    const auto &a = *by_start[i - 1], &b = *by_start[i];
    TORCH_CHECK(b.begin >= a.end, "safetensors: '", path, "': entries '", a.name, "' [", a.begin, ", ", a.end,
                ") and '", b.name, "' [", b.begin, ", ", b.end, ") overlap (expected disjoint data_offsets)");
  }

  char* data = file->data() + 8 + hlen;
  std::map<std::string, torch::Tensor> out;
  for (const auto& e : entries) {
    const auto options = torch::TensorOptions().dtype(e.dtype);
    char* at = data + e.begin;
    if (e.end > e.begin && reinterpret_cast<uintptr_t>(at) % torch::elementSize(e.dtype) == 0) {
      out.emplace(e.name, torch::from_blob(at, e.dims, [file](void*) {}, options));
    } else {
      auto t = torch::empty(e.dims, options);
      if (e.end > e.begin) std::memcpy(t.data_ptr(), at, size_t(e.end - e.begin));
      out.emplace(e.name, t);
    }
  }
  return out;
}

/// Writes tensors (any device; copied to CPU, made contiguous) in the given order.
inline void save_safetensors(const std::string& path, const TensorMap& tensors,
                             const std::map<std::string, std::string>& metadata = {}) {
  std::string h = "{";
  bool first = true;
  auto q = [&](const std::string& s) {  // a JSON string (escapes and control characters as JSON has them)
    try {
      return nlohmann::json(s).dump();
    } catch (const nlohmann::json::exception& e) {
      TORCH_CHECK(false, "save_safetensors: '", path, "': a name or metadata string is not valid UTF-8 (", e.what(), ")");
    }
  };
  if (!metadata.empty()) {
    h += "\"__metadata__\":{";
    bool f = true;
    for (const auto& [k, v] : metadata) {
      if (!f) h += ',';
      h += q(k);
      h += ':';
      h += q(v);
      f = false;
    }
    h += "}";
    first = false;
  }
  std::vector<torch::Tensor> cpu;
  uint64_t off = 0;
  for (const auto& [name, t] : tensors) {
    TORCH_CHECK(t.defined(), "save_safetensors: tensor '", name, "' is undefined");
    auto c = t.detach().to(torch::kCPU).contiguous();
    const uint64_t n = c.numel() * c.element_size();
    h += std::string(first ? "" : ",") + q(name) + ":{\"dtype\":\"" + detail::st_name(c.scalar_type()) + "\",\"shape\":[";
    for (int64_t d = 0; d < c.dim(); ++d) {
      if (d) h += ',';
      h += std::to_string(c.size(d));
    }
    h += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + n) + "]}";
    off += n;
    first = false;
    cpu.push_back(c);
  }
  h += "}";
  while (h.size() % 8) h += ' ';
  // Written beside `path`, then renamed over it: a reader never sees half a file, and tensors
  // still mapped from the old file (load_safetensors) keep their bytes.
  const std::string tmp = path + ".tmp." + std::to_string(std::random_device{}());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    TORCH_CHECK(out.good(), "save_safetensors: cannot write '", tmp, "' (for '", path, "')");
    uint8_t lenb[8];
    uint64_t len = h.size();
    for (int i = 0; i < 8; ++i) lenb[i] = static_cast<uint8_t>(len >> (8 * i));
    out.write(reinterpret_cast<const char*>(lenb), 8);
    out.write(h.data(), static_cast<std::streamsize>(h.size()));
    for (const auto& c : cpu)
      out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
    out.close();
    if (!out.good()) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      TORCH_CHECK(false, "save_safetensors: writing '", path, "' failed (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    TORCH_CHECK(false, "save_safetensors: cannot replace '", path, "': ", ec.message());
  }
}

/// Writes a module's parameters and buffers under their LibTorch names.
inline void save_module(const std::string& path, const torch::nn::Module& m) {
  TensorMap t;
  for (const auto& p : m.named_parameters()) t.emplace_back(p.key(), p.value());
  for (const auto& b : m.named_buffers()) t.emplace_back(b.key(), b.value());
  save_safetensors(path, t);
}

/// Checks that tensor `name` read from `source` (dtype of `src`) may be copied into `dst`: the same
/// dtype, or floating point into floating point (F16 / BF16 / F64 weights into a float module are
/// converted, as PyTorch's `load_state_dict` does). Any other pair (F32 bytes into an I32 buffer, I64
/// into F32 ...) is an error naming both dtypes: values are never reinterpreted or silently cast.
inline void check_load_dtype(const torch::Tensor& src, const torch::Tensor& dst, const std::string& source,
                             const std::string& name) {
  const bool ok = src.scalar_type() == dst.scalar_type() ||
                  (at::isFloatingType(src.scalar_type()) && at::isFloatingType(dst.scalar_type()));
  TORCH_CHECK(ok, source, ": tensor '", name, "' has dtype ", detail::dtype_name(src.scalar_type()),
              ", the module expects ", detail::dtype_name(dst.scalar_type()),
              " (only floating-point tensors are converted on load)");
}

/// Copies tensors into a module's parameters/buffers by name. With `strict`, every parameter and
/// buffer of the module must be present and every tensor of the file used. Shapes must match;
/// dtypes must match too, except floating point into floating point (`check_load_dtype`).
inline void load_into(torch::nn::Module& m, const std::map<std::string, torch::Tensor>& tensors, bool strict = true,
                      const std::string& source = "safetensors") {
  torch::NoGradGuard g;
  size_t used = 0;
  auto assign = [&](const std::string& name, torch::Tensor& dst) {
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      TORCH_CHECK(!strict, source, ": missing tensor '", name, "' (shape ", dst.sizes(), ")");
      return;
    }
    TORCH_CHECK(it->second.sizes() == dst.sizes(), source, ": tensor '", name, "' has shape ", it->second.sizes(),
                ", the module expects ", dst.sizes());
    check_load_dtype(it->second, dst, source, name);
    dst.copy_(it->second);
    ++used;
  };
  for (auto& p : m.named_parameters()) assign(p.key(), p.value());
  for (auto& b : m.named_buffers()) assign(b.key(), b.value());
  if (strict && used != tensors.size()) {
    std::string extra;
    auto params = m.named_parameters();
    auto bufs = m.named_buffers();
    for (const auto& [k, v] : tensors) if (!params.contains(k) && !bufs.contains(k)) extra += " '" + k + "'";
    TORCH_CHECK(false, source, ": unexpected tensors not in the module:", extra);
  }
}

}  // namespace ssl::io
