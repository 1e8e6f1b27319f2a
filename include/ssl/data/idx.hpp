#pragma once
/// \file data/idx.hpp
/// IDX files (MNIST / Fashion-MNIST), plain or gzip-compressed, into uint8 / int64 tensors.
#include <torch/torch.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace ssl::data {

/// Reads a whole (optionally gzip-compressed) file into memory; errors name the path. A file that
/// starts with the gzip magic (1f 8b) must be one or more complete gzip members: a stream cut
/// short (even by only its 8-byte CRC-32 / length trailer), a CRC or length that disagrees with the
/// data, and bytes after the last member that are not another member are errors, not data.
inline std::vector<uint8_t> read_maybe_gzip(const std::string& path) {
  TORCH_CHECK(std::filesystem::exists(path), "data: file not found: '", path, "'");
  std::ifstream in(path, std::ios::binary);
  TORCH_CHECK(in, "data: cannot open '", path, "'");
  std::vector<uint8_t> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  TORCH_CHECK(!in.bad(), "data: cannot read '", path, "'");
  if (raw.size() < 2 || raw[0] != 0x1f || raw[1] != 0x8b) return raw;  // not gzip: the bytes as they are

  z_stream zs{};
  TORCH_CHECK(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK, "data: zlib cannot start inflating '", path, "'");
  struct End {
    z_stream* s;
    ~End() { inflateEnd(s); }
  } end{&zs};
  std::vector<uint8_t> out;
  std::vector<uint8_t> buf(1 << 16);
  size_t given = 0;  // raw bytes handed to zlib so far (zlib's counts are 32-bit: fed in pieces)
  for (;;) {
    if (zs.avail_in == 0 && given < raw.size()) {
      const size_t n = std::min<size_t>(raw.size() - given, size_t(1) << 30);
      zs.next_in = raw.data() + given;
      zs.avail_in = static_cast<uInt>(n);
      given += n;
    }
    zs.next_out = buf.data();
    zs.avail_out = static_cast<uInt>(buf.size());
    const int ret = inflate(&zs, Z_NO_FLUSH);
    out.insert(out.end(), buf.data(), buf.data() + (buf.size() - zs.avail_out));
    const size_t used = given - zs.avail_in;  // raw bytes zlib has consumed
    if (ret == Z_STREAM_END) {
      if (used == raw.size()) break;
      // Another member may follow (concatenated gzip files are one gzip file); anything else is garbage.
      TORCH_CHECK(raw.size() - used >= 2 && raw[used] == 0x1f && raw[used + 1] == 0x8b, "data: '", path,
                  "': expected the end of the file or another gzip member after the gzip stream ending at byte ",
                  used, ", got ", raw.size() - used, " bytes of trailing garbage");
      TORCH_CHECK(inflateReset(&zs) == Z_OK, "data: zlib cannot restart inflating '", path, "'");
      continue;
    }
    // Z_BUF_ERROR with output space left: zlib needs input that the file does not have.
    TORCH_CHECK(ret != Z_BUF_ERROR, "data: '", path, "' is a truncated gzip file: expected the rest of its ",
                "compressed data and its 8-byte CRC-32 / length trailer, got the end of the file after ", raw.size(),
                " bytes");
    TORCH_CHECK(ret == Z_OK, "data: '", path, "' is a corrupt gzip file at byte ", used, " (zlib: ",
                zs.msg != nullptr ? zs.msg : zError(ret), ")");
  }
  return out;
}

/// An IDX array of unsigned bytes (type 0x08): `[d0, d1, ...]` uint8.
inline torch::Tensor read_idx(const std::string& path) {
  auto bytes = read_maybe_gzip(path);
  TORCH_CHECK(bytes.size() >= 4, "read_idx: '", path, "' is too short for an IDX header (",
              bytes.size(), " bytes)");
  TORCH_CHECK(bytes[0] == 0 && bytes[1] == 0, "read_idx: '", path,
              "' is not an IDX file (magic must start with two zero bytes)");
  TORCH_CHECK(bytes[2] == 0x08, "read_idx: '", path, "': expected unsigned-byte data (0x08), got 0x",
              std::hex, int(bytes[2]));
  const int nd = bytes[3];
  TORCH_CHECK(nd >= 1 && nd <= 4, "read_idx: '", path, "': expected 1 to 4 dimensions, got ", nd);
  TORCH_CHECK(bytes.size() >= size_t(4 + 4 * nd), "read_idx: '", path, "' is truncated in its header");
  std::vector<int64_t> dims;
  int64_t count = 1;
  for (int d = 0; d < nd; ++d) {
    const uint8_t* b = bytes.data() + 4 + 4 * d;
    const int64_t v = (int64_t(b[0]) << 24) | (int64_t(b[1]) << 16) | (int64_t(b[2]) << 8) | b[3];
    dims.push_back(v);
    TORCH_CHECK(!__builtin_mul_overflow(count, v, &count), "read_idx: '", path, "': the header's dimensions ",
                c10::IntArrayRef(dims), " overflow a 64-bit element count (expected a product of at most ", bytes.size(),
                ", the file's size)");
  }
  const size_t offset = 4 + 4 * size_t(nd);
  TORCH_CHECK(bytes.size() - offset == size_t(count), "read_idx: '", path, "' is truncated or padded: header says ",
              count, " values, file holds ", bytes.size() - offset);
  return torch::from_blob(bytes.data() + offset, dims, torch::kUInt8).clone();
}

/// A labelled image set: `images` uint8 `[N,C,H,W]`, `labels` int64 `[N]`.
struct ImageSet {
  torch::Tensor images;  ///< uint8 `[N,C,H,W]`
  torch::Tensor labels;  ///< int64 `[N]`
  /// Number of images N.
  int64_t size() const { return images.size(0); }
};

/// Fashion-MNIST `split` ("train": 60k, "test": 10k) from `dir` (the directory of the four
/// `*-idx?-ubyte.gz` files, e.g. /usr/share/datasets/fashion-mnist of Debian's
/// `dataset-fashion-mnist` package), images as `[N,1,28,28]`.
inline ImageSet fashion_mnist(const std::string& split, const std::string& dir) {
  TORCH_CHECK(split == "train" || split == "test", "fashion_mnist: split must be 'train' or 'test', got '",
              split, "'");
  const std::string prefix = dir + "/" + (split == "train" ? "train" : "t10k");
  auto images = read_idx(prefix + "-images-idx3-ubyte.gz");
  auto labels = read_idx(prefix + "-labels-idx1-ubyte.gz");
  TORCH_CHECK(images.dim() == 3, "fashion_mnist: expected images [N,H,W], got ", images.sizes());
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == images.size(0), "fashion_mnist: ", images.size(0),
              " images but ", labels.numel(), " labels in '", dir, "'");
  return {images.unsqueeze(1), labels.to(torch::kInt64)};
}

/// Fashion-MNIST class names, in label order.
inline const std::vector<std::string>& fashion_mnist_classes() {
  static const std::vector<std::string> names{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  return names;
}

}  // namespace ssl::data
