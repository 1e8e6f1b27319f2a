#pragma once
/// \file io/image.hpp
/// Decodes JPEG (libjpeg-turbo, through the libjpeg API) and PNG (libspng) files into uint8
/// `[C,H,W]` tensors with the channel count the caller asks for, and the two geometric helpers
/// an image dataset needs (`resize_shorter`, `center_crop`). Needs `-ljpeg -lspng` at link time.
///
/// Conversions (equal to Pillow's `Image.open(f).convert("RGB" | "L")`, checked by the
/// `image_parity` tests):
///  - 1 channel from colour: L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16, Pillow's integer
///    form of ITU-R 601-2 luma (L = R*299/1000 + G*587/1000 + B*114/1000, rounded to nearest);
///  - 3 channels from gray: the gray value replicated;
///  - alpha (RGBA, gray+alpha, palette transparency) dropped, never composited on a background:
///    what `convert("RGB")` and `convert("L")` do;
///  - palette PNGs: looked up in the palette; 1/2/4-bit gray scaled to 0..255 (bit replication);
///  - 16-bit PNGs: the high byte of each sample (v >> 8). Pillow does this for 16-bit RGB(A) but
///    *clamps* 16-bit gray ("I;16") to 255 in `convert("L")`, which turns most such images white;
///    here 16-bit gray follows the colour rule (and torchvision's `to_dtype(uint8, scale=True)`).
///  - CMYK / YCCK JPEGs are refused with an error (rare outside print workflows).
/// The format is found from the magic bytes, never from the file name. Every failure throws a
/// `c10::Error` naming the file.
#if !defined(SSL_WITH_IMAGES)
#error "ssl/io/image.hpp needs libssl's images component: install libjpeg-turbo and libspng (Debian: libjpeg62-turbo-dev libspng-dev pkg-config), reconfigure libssl, and link ssl::ssl (find_package(ssl COMPONENTS images))"
#endif
#include <cstdio>  // before jpeglib.h, which uses FILE
#include <jpeglib.h>
#include <jerror.h>  // after jpeglib.h: the JWRN_ codes
#include <spng.h>
#include <torch/torch.h>

#include <algorithm>
#include <csetjmp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace ssl::io {

/// Largest accepted width or height, in pixels.
inline constexpr int64_t kMaxImageSide = int64_t(1) << 16;
/// Largest accepted width * height.
inline constexpr int64_t kMaxImagePixels = int64_t(1) << 28;

/// A file format recognised by its first bytes.
enum class ImageFormat { unknown, jpeg, png };

/// `jpeg` if `data` starts with FF D8 FF, `png` if with the 8-byte PNG signature, else `unknown`.
inline ImageFormat image_format(const uint8_t* data, size_t size) {
  static constexpr uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF) return ImageFormat::jpeg;
  if (size >= 8 && std::equal(png_sig, png_sig + 8, data)) return ImageFormat::png;
  return ImageFormat::unknown;
}

namespace detail {

/// Pillow's `L24(rgb) >> 16`: 8-bit luma of an 8-bit RGB pixel.
inline uint8_t luma(uint8_t r, uint8_t g, uint8_t b) {
  return uint8_t((uint32_t(r) * 19595u + uint32_t(g) * 38470u + uint32_t(b) * 7471u + 0x8000u) >> 16);
}

/// The first bytes of a file, as hex and as printable text, for "got ..." in errors.
inline std::string head_bytes(const uint8_t* data, size_t size) {
  static const char* hex = "0123456789abcdef";
  std::string h, txt;
  for (size_t i = 0; i < std::min<size_t>(size, 8); ++i) {
    if (i) h += ' ';
    h += hex[data[i] >> 4];
    h += hex[data[i] & 15];
    txt += (data[i] >= 32 && data[i] < 127) ? char(data[i]) : '.';
  }
  return h + " (\"" + txt + "\")";
}

inline void check_dims(const std::string& name, const char* fmt, int64_t w, int64_t h) {
  TORCH_CHECK(w > 0 && h > 0 && w <= kMaxImageSide && h <= kMaxImageSide && w * h <= kMaxImagePixels,
              "decode_image: '", name, "': expected a ", fmt, " of at most ", kMaxImageSide, " pixels a side and ",
              kMaxImagePixels, " pixels in all, got ", w, "x", h);
}

/// Interleaved 8-bit pixels `[H,W,comps]` (comps 1 or 3 or 4) to `[channels,H,W]`. `gray` says
/// the source is gray (its colour channels are equal), so 1 channel is a copy, not a luma.
inline torch::Tensor to_chw(const uint8_t* px, int64_t h, int64_t w, int64_t comps, bool gray, int64_t channels) {
  auto out = torch::empty({channels, h, w}, torch::kUInt8);
  uint8_t* o = out.data_ptr<uint8_t>();
  const int64_t n = h * w;
  if (channels == 3) {
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* p = px + i * comps;
      const bool one = comps == 1;
      o[i] = p[0];
      o[n + i] = one ? p[0] : p[1];
      o[2 * n + i] = one ? p[0] : p[2];
    }
  } else {
    for (int64_t i = 0; i < n; ++i) {
      const uint8_t* p = px + i * comps;
      o[i] = (gray || comps == 1) ? p[0] : luma(p[0], p[1], p[2]);
    }
  }
  return out;
}

/// libjpeg error manager that returns to the decoding call instead of calling exit().
struct JpegErrorManager {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

extern "C" inline void ssl_jpeg_error_exit(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

/// Warnings (level -1) that mean missing or corrupt image data are fatal: a truncated file
/// would otherwise decode with its missing rows filled in gray. That includes a data segment cut
/// short by a marker (JWRN_HIT_MARKER: a truncated file that still ends with its EOI marker),
/// which libjpeg would fill with zero bits up to the declared size, i.e. up to 2^28 pixels decoded
/// from a few hundred bytes. Other warnings (extraneous bytes between markers, unknown APPn data)
/// are ignored, as Pillow does.
extern "C" inline void ssl_jpeg_emit_message(j_common_ptr cinfo, int level) {
  if (level != -1) return;
  const int code = cinfo->err->msg_code;
  if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE || code == JWRN_MUST_RESYNC)
    ssl_jpeg_error_exit(cinfo);
}

/// Makes `px` hold row `r` of an image of `rows` rows of `stride` bytes. The buffer grows with
/// the rows decoded (to 64 rows, then doubling, at most the whole image), not to the declared size
/// up front: a small file that declares a large image and breaks in its first rows costs what it
/// decoded, not up to 1 GiB of zeroed pixels.
inline void grow_to_row(std::vector<uint8_t>& px, size_t r, size_t stride, size_t rows) {
  if ((r + 1) * stride <= px.size()) return;
  px.resize(std::min(rows, std::max({r + 1, 2 * (px.size() / stride), size_t(64)})) * stride);
}

/// What a JPEG decode gives back; filled by `jpeg_decode`, which only holds trivially
/// destructible locals so that the longjmp out of libjpeg skips no destructor.
struct JpegJob {
  const uint8_t* data = nullptr;
  size_t size = 0;
  int64_t min_side = 0;
  int width = 0, height = 0, comps = 0, stored_w = 0, stored_h = 0;
  bool cmyk = false, too_big = false;
  std::vector<uint8_t> pixels;
  char message[JMSG_LENGTH_MAX] = {0};
};

inline bool jpeg_decode(JpegJob& job) {
  jpeg_decompress_struct cinfo;
  JpegErrorManager err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = ssl_jpeg_error_exit;
  err.pub.emit_message = ssl_jpeg_emit_message;
  if (setjmp(err.jump)) {
    std::copy(err.message, err.message + JMSG_LENGTH_MAX, job.message);
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  jpeg_create_decompress(&cinfo);
  jpeg_mem_src(&cinfo, job.data, static_cast<unsigned long>(job.size));
  jpeg_read_header(&cinfo, TRUE);
  job.stored_w = int(cinfo.image_width);
  job.stored_h = int(cinfo.image_height);
  const int64_t w = cinfo.image_width, h = cinfo.image_height;
  if (w <= 0 || h <= 0 || w > kMaxImageSide || h > kMaxImageSide || w * h > kMaxImagePixels) job.too_big = true;
  if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) job.cmyk = true;
  if (job.too_big || job.cmyk) {
    jpeg_destroy_decompress(&cinfo);
    return false;
  }
  cinfo.out_color_space = cinfo.jpeg_color_space == JCS_GRAYSCALE ? JCS_GRAYSCALE : JCS_RGB;
  // DCT-domain downscaling: the largest 1/d whose shorter side still reaches min_side.
  if (job.min_side > 0) {
    for (int d : {8, 4, 2}) {
      if (std::min((w + d - 1) / d, (h + d - 1) / d) >= job.min_side) {
        cinfo.scale_num = 1;
        cinfo.scale_denom = unsigned(d);
        break;
      }
    }
  }
  jpeg_start_decompress(&cinfo);
  job.width = int(cinfo.output_width);
  job.height = int(cinfo.output_height);
  job.comps = cinfo.output_components;
  const size_t stride = size_t(job.width) * size_t(job.comps), rows = size_t(job.height);
  while (cinfo.output_scanline < cinfo.output_height) {
    const size_t r = cinfo.output_scanline;
    try {
      grow_to_row(job.pixels, r, stride, rows);
    } catch (...) {
      jpeg_destroy_decompress(&cinfo);
      throw;
    }
    JSAMPROW row = job.pixels.data() + r * stride;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  return true;
}

inline torch::Tensor decode_jpeg(const uint8_t* data, size_t size, const std::string& name, int64_t channels,
                                 int64_t min_side) {
  JpegJob job;
  job.data = data;
  job.size = size;
  job.min_side = min_side;
  const bool ok = jpeg_decode(job);
  TORCH_CHECK(!job.cmyk, "decode_image: '", name, "': expected a grayscale or colour (YCbCr/RGB) JPEG, got a CMYK one");
  if (job.too_big) check_dims(name, "JPEG", job.stored_w, job.stored_h);
  TORCH_CHECK(ok, "decode_image: '", name, "': expected a complete JPEG, got a corrupt or truncated one (libjpeg: ",
              job.message, ")");
  return to_chw(job.pixels.data(), job.height, job.width, job.comps, job.comps == 1, channels);
}

inline torch::Tensor decode_png(const uint8_t* data, size_t size, const std::string& name, int64_t channels) {
  std::unique_ptr<spng_ctx, void (*)(spng_ctx*)> ctx(spng_ctx_new(0), spng_ctx_free);
  TORCH_CHECK(ctx, "decode_image: '", name, "': libspng could not allocate a context");
  const auto fail = [&](int rc, const char* what) {
    TORCH_CHECK(rc == 0, "decode_image: '", name,
                "': expected a complete PNG, got a corrupt or truncated one (libspng, ", what, ": ", spng_strerror(rc),
                ")");
  };
  fail(spng_set_png_buffer(ctx.get(), data, size), "buffer");
  spng_ihdr ihdr{};
  fail(spng_get_ihdr(ctx.get(), &ihdr), "header");
  check_dims(name, "PNG", ihdr.width, ihdr.height);
  size_t len = 0;
  fail(spng_decoded_image_size(ctx.get(), SPNG_FMT_RGBA8, &len), "size");
  // Row by row (libspng's progressive decoding, what spng_decode_image does inside), the buffer
  // growing with the rows decoded (grow_to_row). Interlaced images visit every row in their first
  // pass, so they take the whole buffer at once.
  fail(spng_decode_image(ctx.get(), nullptr, 0, SPNG_FMT_RGBA8, SPNG_DECODE_PROGRESSIVE), "pixels");
  const size_t stride = len / ihdr.height;
  std::vector<uint8_t> px(ihdr.interlace_method == SPNG_INTERLACE_NONE ? 0 : len);
  int rc = 0;
  spng_row_info row{};
  while ((rc = spng_get_row_info(ctx.get(), &row)) == 0) {
    grow_to_row(px, row.row_num, stride, ihdr.height);
    if ((rc = spng_decode_row(ctx.get(), px.data() + size_t(row.row_num) * stride, stride)) != 0) break;
  }
  if (rc != SPNG_EOI) fail(rc, "pixels");
  TORCH_CHECK(px.size() == len, "decode_image: '", name, "': libspng ended the image after ", px.size() / stride,
              " of its ", ihdr.height, " rows");
  const bool gray = ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE || ihdr.color_type == SPNG_COLOR_TYPE_GRAYSCALE_ALPHA;
  return to_chw(px.data(), ihdr.height, ihdr.width, 4, gray, channels);
}

}  // namespace detail

/// Decodes a JPEG or PNG held in memory to uint8 `[channels,H,W]` (`channels` 1 or 3; see the
/// file comment for the conversions). `name` only labels errors. `min_side > 0` lets a JPEG
/// decode at 1/2, 1/4 or 1/8 scale in the DCT domain (libjpeg's `scale_denom`, what Pillow's
/// `draft()` does) when the scaled image's shorter side is still >= `min_side`: the largest such
/// factor is used, so H and W may come out smaller than stored (ceil(side/d)); PNGs are always
/// full size.
inline torch::Tensor decode_image(const uint8_t* data, size_t size, const std::string& name, int64_t channels,
                                  int64_t min_side = 0) {
  TORCH_CHECK(channels == 1 || channels == 3, "decode_image: '", name, "': expected channels 1 or 3, got ", channels);
  TORCH_CHECK(min_side >= 0, "decode_image: '", name, "': expected min_side >= 0, got ", min_side);
  TORCH_CHECK(size > 0, "decode_image: '", name, "': expected a JPEG or PNG file, got an empty one");
  switch (image_format(data, size)) {
    case ImageFormat::jpeg:
      return detail::decode_jpeg(data, size, name, channels, min_side);
    case ImageFormat::png:
      return detail::decode_png(data, size, name, channels);
    default:
      TORCH_CHECK(false, "decode_image: '", name,
                  "': expected a JPEG (starting ff d8 ff) or PNG (starting 89 50 4e 47) file, got bytes ",
                  detail::head_bytes(data, size));
  }
  return {};
}

/// Reads and decodes the JPEG or PNG file `path` (format from its content, not its name) to
/// uint8 `[channels,H,W]`; `min_side` as in `decode_image`.
inline torch::Tensor read_image(const std::filesystem::path& path, int64_t channels, int64_t min_side = 0) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  TORCH_CHECK(in.good(), "read_image: cannot open '", path.string(), "': expected a readable JPEG or PNG file");
  const auto n = static_cast<std::streamoff>(in.tellg());
  TORCH_CHECK(n >= 0, "read_image: cannot read '", path.string(), "'");
  std::vector<uint8_t> bytes(static_cast<size_t>(n));
  in.seekg(0);
  in.read(reinterpret_cast<char*>(bytes.data()), n);
  TORCH_CHECK(in.good() || n == 0, "read_image: reading '", path.string(), "' failed");
  return decode_image(bytes.data(), bytes.size(), path.string(), channels, min_side);
}

/// Resizes uint8 `[C,H,W]` (or `[B,C,H,W]`) so that its shorter side is `side`, the longer one
/// `floor(side * long / short)`, bilinear with antialiasing: torchvision's
/// `Resize(side, antialias=True)` on a uint8 tensor (ATen's uint8 kernel, no float copy). Returns
/// the input itself when the shorter side is already `side`.
inline torch::Tensor resize_shorter(const torch::Tensor& img, int64_t side) {
  TORCH_CHECK(img.defined() && (img.dim() == 3 || img.dim() == 4) && img.scalar_type() == torch::kUInt8,
              "resize_shorter: expected uint8 [C,H,W] or [B,C,H,W], got ",
              img.defined() ? c10::str(img.scalar_type(), " ", img.sizes()) : std::string("an undefined tensor"));
  TORCH_CHECK(side > 0, "resize_shorter: expected side > 0, got ", side);
  const int64_t h = img.size(-2), w = img.size(-1);
  TORCH_CHECK(h > 0 && w > 0, "resize_shorter: expected a non-empty image, got ", img.sizes());
  if (std::min(h, w) == side) return img;
  const auto longer = [&](int64_t l, int64_t s) { return int64_t(double(side) * double(l) / double(s)); };
  const int64_t nh = h <= w ? side : longer(h, w), nw = h <= w ? longer(w, h) : side;
  auto x = img.dim() == 3 ? img.unsqueeze(0) : img;
  namespace F = torch::nn::functional;
  // ATen's uint8 kernel (what torchvision's resize runs on a uint8 tensor): no float copy.
  auto y = F::interpolate(x, F::InterpolateFuncOptions()
                                 .size(std::vector<int64_t>{nh, nw})
                                 .mode(torch::kBilinear)
                                 .align_corners(false)
                                 .antialias(true));
  return img.dim() == 3 ? y.squeeze(0) : y;
}

/// The central `h` x `w` window of `[...,H,W]` (a view), placed as torchvision's `center_crop`:
/// top = round((H - h) / 2) with Python's round (halves to even), likewise left.
inline torch::Tensor center_crop(const torch::Tensor& img, int64_t h, int64_t w) {
  TORCH_CHECK(img.defined() && img.dim() >= 2, "center_crop: expected [...,H,W], got ",
              img.defined() ? c10::str(img.sizes()) : std::string("an undefined tensor"));
  const int64_t H = img.size(-2), W = img.size(-1);
  TORCH_CHECK(h > 0 && w > 0 && h <= H && w <= W, "center_crop: expected a crop of at most ", H, "x", W,
              " (the image), got ", h, "x", w);
  const auto start = [](int64_t d) { return d / 2 + ((d & 1) && ((d / 2) & 1) ? 1 : 0); };
  return img.narrow(-2, start(H - h), h).narrow(-1, start(W - w), w);
}

}  // namespace ssl::io
