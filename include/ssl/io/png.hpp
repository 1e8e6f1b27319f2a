#pragma once
/// \file io/png.hpp
/// Encodes 8-bit grayscale or RGB PNG files (zlib-compressed) in memory or to a file, and tiles
/// images into a grid.
#include <torch/torch.h>
#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

namespace ssl::io {

/// The PNG file of `img` (uint8 `[H,W]`, `[1,H,W]` or `[3,H,W]`, CPU or not: 8-bit grayscale or
/// RGB, zlib-compressed) as bytes in memory: what `write_png` writes, and what a TensorBoard image
/// carries (`train::TensorBoard::image`). `who` names the caller in errors.
inline std::string encode_png(const torch::Tensor& img, const char* who = "encode_png") {
  auto t = img.detach().to(torch::kCPU);
  if (t.dim() == 2) t = t.unsqueeze(0);
  TORCH_CHECK(t.dim() == 3 && (t.size(0) == 1 || t.size(0) == 3), who, ": expected [H,W], [1,H,W] or [3,H,W], got ",
              img.sizes());
  TORCH_CHECK(t.scalar_type() == torch::kUInt8, who, ": expected uint8 pixels, got ", t.scalar_type());
  const auto C = t.size(0), H = t.size(1), W = t.size(2);
  auto hwc = t.permute({1, 2, 0}).contiguous();
  std::vector<uint8_t> raw;
  raw.reserve(size_t(H * (W * C + 1)));
  const uint8_t* p = hwc.data_ptr<uint8_t>();
  for (int64_t y = 0; y < H; ++y) {
    raw.push_back(0);  // filter: none
    raw.insert(raw.end(), p + y * W * C, p + (y + 1) * W * C);
  }
  uLongf zlen = compressBound(static_cast<uLong>(raw.size()));
  std::vector<uint8_t> z(zlen);
  TORCH_CHECK(compress2(z.data(), &zlen, raw.data(), static_cast<uLong>(raw.size()), 6) == Z_OK, who, ": zlib failed");
  z.resize(zlen);
  std::string out;
  auto be32 = [](uint32_t v) { return std::vector<uint8_t>{uint8_t(v >> 24), uint8_t(v >> 16), uint8_t(v >> 8), uint8_t(v)}; };
  auto put = [&](const std::vector<uint8_t>& b) { out.append(reinterpret_cast<const char*>(b.data()), b.size()); };
  auto chunk = [&](const char* type, const std::vector<uint8_t>& data) {
    put(be32(static_cast<uint32_t>(data.size())));
    std::vector<uint8_t> td(type, type + 4);
    td.insert(td.end(), data.begin(), data.end());
    put(td);
    put(be32(static_cast<uint32_t>(crc32(0, td.data(), static_cast<uInt>(td.size())))));
  };
  put({137, 80, 78, 71, 13, 10, 26, 10});
  auto ihdr = be32(static_cast<uint32_t>(W));
  auto h = be32(static_cast<uint32_t>(H));
  ihdr.insert(ihdr.end(), h.begin(), h.end());
  ihdr.insert(ihdr.end(), {8, uint8_t(C == 1 ? 0 : 2), 0, 0, 0});
  chunk("IHDR", ihdr);
  chunk("IDAT", z);
  chunk("IEND", {});
  return out;
}

/// `img`: uint8 `[H,W]`, `[1,H,W]` or `[3,H,W]` (CPU or not); written atomically enough for a figure.
inline void write_png(const std::string& path, const torch::Tensor& img) {
  const std::string bytes = encode_png(img, "write_png");
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  TORCH_CHECK(out.good(), "write_png: cannot write '", path, "'");
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.flush();
  TORCH_CHECK(out.good(), "write_png: writing '", path, "' failed");
}

/// Tiles `[R, K, C, H, W]` float images in [0,1] into one uint8 `[C, R*(H+pad)+pad, K*(W+pad)+pad]`
/// grid (rows of K columns) on a white background, each tile upscaled by `scale`.
inline torch::Tensor grid(const torch::Tensor& tiles, int64_t scale = 1, int64_t pad = 2) {
  TORCH_CHECK(tiles.dim() == 5, "grid: expected [rows, cols, C, H, W], got ", tiles.sizes());
  auto t = tiles.detach().to(torch::kCPU, torch::kFloat32).clamp(0, 1);
  const auto R = t.size(0), K = t.size(1), C = t.size(2);
  auto up = t.flatten(0, 1);
  if (scale > 1) up = up.repeat_interleave(scale, 2).repeat_interleave(scale, 3);
  const auto H = up.size(2), W = up.size(3);
  up = up.view({R, K, C, H, W});
  auto out = torch::ones({C, R * (H + pad) + pad, K * (W + pad) + pad});
  for (int64_t r = 0; r < R; ++r)
    for (int64_t k = 0; k < K; ++k)
      out.narrow(1, pad + r * (H + pad), H).narrow(2, pad + k * (W + pad), W).copy_(up[r][k]);
  return out.mul(255).round().to(torch::kUInt8);
}

}  // namespace ssl::io
