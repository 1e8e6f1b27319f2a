#pragma once
/// \file io/safetensors.hpp
/// safetensors read and write (https://github.com/huggingface/safetensors format): an 8-byte
/// little-endian header length, a JSON header `{name: {dtype, shape, data_offsets}}`, the raw
/// little-endian data. Malformed, truncated or inconsistent files give an error naming the file
/// and what is wrong; nothing is read out of bounds.
#include <torch/torch.h>

#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
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

/// A minimal JSON reader for the safetensors header: objects, arrays, strings, integers.
struct Json {
  enum Kind { Null, Num, Str, Arr, Obj } kind = Null;
  int64_t num = 0;
  std::string str;
  std::vector<Json> arr;
  std::vector<std::pair<std::string, Json>> obj;
  const Json* get(const std::string& k) const {
    for (const auto& [key, v] : obj) if (key == k) return &v;
    return nullptr;
  }
};

class JsonParser {
 public:
  JsonParser(std::string_view s, const std::string& file) : s_(s), file_(file) {}
  Json parse() {
    Json v = value();
    ws();
    check(i_ == s_.size(), "trailing characters after the header object");
    return v;
  }

 private:
  void check(bool ok, const char* what) const {
    TORCH_CHECK(ok, "safetensors: '", file_, "' has a malformed JSON header (", what, " at byte ", i_, ")");
  }
  void ws() { while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_; }
  char peek() { ws(); check(i_ < s_.size(), "unexpected end"); return s_[i_]; }
  void expect(char c) { check(peek() == c, "unexpected character"); ++i_; }
  std::string string() {
    expect('"');
    std::string out;
    while (true) {
      check(i_ < s_.size(), "unterminated string");
      char c = s_[i_++];
      if (c == '"') break;
      if (c == '\\') {
        check(i_ < s_.size(), "bad escape");
        char e = s_[i_++];
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'u': {
            check(i_ + 4 <= s_.size(), "bad \\u escape");
            unsigned cp = std::stoul(std::string(s_.substr(i_, 4)), nullptr, 16);
            i_ += 4;
            if (cp < 0x80) out += char(cp);
            else if (cp < 0x800) { out += char(0xC0 | (cp >> 6)); out += char(0x80 | (cp & 0x3F)); }
            else { out += char(0xE0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F)); }
            break;
          }
          default: out += e;
        }
      } else {
        out += c;
      }
    }
    return out;
  }
  Json value() {
    Json v;
    char c = peek();
    if (c == '{') {
      ++i_;
      v.kind = Json::Obj;
      if (peek() == '}') { ++i_; return v; }
      while (true) {
        std::string k = string();
        expect(':');
        v.obj.emplace_back(std::move(k), value());
        if (peek() == ',') { ++i_; continue; }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      ++i_;
      v.kind = Json::Arr;
      if (peek() == ']') { ++i_; return v; }
      while (true) {
        v.arr.push_back(value());
        if (peek() == ',') { ++i_; continue; }
        expect(']');
        return v;
      }
    }
    if (c == '"') { v.kind = Json::Str; v.str = string(); return v; }
    if (c == 'n') { check(s_.substr(i_, 4) == "null", "bad literal"); i_ += 4; return v; }
    check(c == '-' || std::isdigit(static_cast<unsigned char>(c)), "unexpected value");
    size_t start = i_;
    if (s_[i_] == '-') ++i_;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    check(i_ - start <= 19, "integer too long");
    v.kind = Json::Num;
    v.num = std::stoll(std::string(s_.substr(start, i_ - start)));
    return v;
  }
  std::string_view s_;
  const std::string& file_;
  size_t i_ = 0;
};

}  // namespace detail

/// Tensors by name, in file order.
using TensorMap = std::vector<std::pair<std::string, torch::Tensor>>;

/// Reads every tensor of a safetensors file (on CPU).
inline std::map<std::string, torch::Tensor> load_safetensors(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  TORCH_CHECK(in.good(), "safetensors: cannot open '", path, "'");
  const auto size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  TORCH_CHECK(size >= 8, "safetensors: '", path, "' is ", size, " bytes, too short for the 8-byte header length");
  uint8_t lenb[8];
  in.read(reinterpret_cast<char*>(lenb), 8);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; --i) hlen = (hlen << 8) | lenb[i];
  TORCH_CHECK(hlen <= size - 8, "safetensors: '", path, "' says its header is ", hlen, " bytes but the file has only ",
              size - 8, " after the length (truncated or not a safetensors file)");
  TORCH_CHECK(hlen <= (uint64_t(100) << 20), "safetensors: '", path, "' header of ", hlen, " bytes exceeds 100 MiB");
  std::string header(hlen, '\0');
  in.read(header.data(), static_cast<std::streamsize>(hlen));
  const uint64_t data_size = size - 8 - hlen;
  auto root = detail::JsonParser(header, path).parse();
  TORCH_CHECK(root.kind == detail::Json::Obj, "safetensors: '", path, "' header is not a JSON object");
  std::vector<char> data(data_size);
  in.read(data.data(), static_cast<std::streamsize>(data_size));
  TORCH_CHECK(in.good() || data_size == 0, "safetensors: could not read the data of '", path, "'");
  std::map<std::string, torch::Tensor> out;
  for (const auto& [name, e] : root.obj) {
    if (name == "__metadata__") continue;
    TORCH_CHECK(e.kind == detail::Json::Obj, "safetensors: '", path, "' entry '", name, "' is not an object");
    const auto* dt = e.get("dtype");
    const auto* shape = e.get("shape");
    const auto* offs = e.get("data_offsets");
    TORCH_CHECK(dt && dt->kind == detail::Json::Str && shape && shape->kind == detail::Json::Arr && offs &&
                    offs->kind == detail::Json::Arr && offs->arr.size() == 2,
                "safetensors: '", path, "' entry '", name, "' needs dtype, shape and data_offsets [begin, end]");
    auto it = detail::st_dtypes().find(dt->str);
    TORCH_CHECK(it != detail::st_dtypes().end(), "safetensors: '", path, "' entry '", name, "' has unsupported dtype ",
                dt->str);
    std::vector<int64_t> dims;
    uint64_t count = 1;
    for (const auto& d : shape->arr) {
      TORCH_CHECK(d.kind == detail::Json::Num && d.num >= 0, "safetensors: '", path, "' entry '", name,
                  "' has a bad shape");
      dims.push_back(d.num);
      count *= static_cast<uint64_t>(d.num);
    }
    const auto b = offs->arr[0].num, en = offs->arr[1].num;
    const uint64_t bytes = count * torch::elementSize(it->second);
    TORCH_CHECK(b >= 0 && en >= b && uint64_t(en) <= data_size, "safetensors: '", path, "' entry '", name,
                "' has data_offsets [", b, ", ", en, "] outside the ", data_size, "-byte data section (truncated?)");
    TORCH_CHECK(uint64_t(en - b) == bytes, "safetensors: '", path, "' entry '", name, "' holds ", en - b,
                " bytes but dtype ", dt->str, " and shape need ", bytes);
    auto t = torch::empty(dims, torch::TensorOptions().dtype(it->second));
    if (bytes) std::memcpy(t.data_ptr(), data.data() + b, bytes);
    out.emplace(name, t);
  }
  return out;
}

/// Writes tensors (any device; copied to CPU, made contiguous) in the given order.
inline void save_safetensors(const std::string& path, const TensorMap& tensors,
                             const std::map<std::string, std::string>& metadata = {}) {
  std::string h = "{";
  bool first = true;
  auto q = [](const std::string& s) {
    std::string o = "\"";
    for (char c : s) { if (c == '"' || c == '\\') o += '\\'; o += c; }
    return o + "\"";
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
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  TORCH_CHECK(out.good(), "save_safetensors: cannot write '", path, "'");
  uint8_t lenb[8];
  uint64_t len = h.size();
  for (int i = 0; i < 8; ++i) lenb[i] = static_cast<uint8_t>(len >> (8 * i));
  out.write(reinterpret_cast<const char*>(lenb), 8);
  out.write(h.data(), static_cast<std::streamsize>(h.size()));
  for (const auto& c : cpu) out.write(static_cast<const char*>(c.data_ptr()), static_cast<std::streamsize>(c.numel() * c.element_size()));
  TORCH_CHECK(out.good(), "save_safetensors: writing '", path, "' failed");
}

/// Writes a module's parameters and buffers under their LibTorch names.
inline void save_module(const std::string& path, const torch::nn::Module& m) {
  TensorMap t;
  for (const auto& p : m.named_parameters()) t.emplace_back(p.key(), p.value());
  for (const auto& b : m.named_buffers()) t.emplace_back(b.key(), b.value());
  save_safetensors(path, t);
}

/// Copies tensors into a module's parameters/buffers by name. With `strict`, every parameter and
/// buffer of the module must be present and every tensor of the file used. Shapes must match.
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
