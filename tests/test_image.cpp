// Image decoding (io/image.hpp) and image folders (data/image_folder.hpp): behaviour and errors on
// files written here ("image"), and equality with Pillow / torchvision on the files of
// make_image_references.py ("image_parity", reads $SSL_REFS/images/ and images.safetensors).
// LibTorch before doctest, as under the precompiled header: c10's glog-style CHECK must not
// shadow doctest's.
#include <ssl/data/image_folder.hpp>
#include <ssl/io/image.hpp>
#include <ssl/io/png.hpp>
#include <doctest/doctest.h>

#include "parity.hpp"
#include "util.hpp"

#include <cstdio>  // before jpeglib.h
#include <jpeglib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_image {

namespace fs = std::filesystem;

namespace {
fs::path tmpdir(const std::string& sub) {
  auto d = fs::temp_directory_path() / ("ssl_test_image_" + std::to_string(::getpid())) / sub;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
using ssl_test::slurp;
using ssl_test::spit;
/// A smooth uint8 [C,H,W] image (JPEG-friendly): gradients plus a square.
torch::Tensor smooth(int64_t c, int64_t h, int64_t w, int64_t seed = 0) {
  auto y = torch::linspace(0, 1, h).view({1, h, 1}), x = torch::linspace(0, 1, w).view({1, 1, w});
  auto k = torch::arange(c, torch::kFloat32).view({c, 1, 1});
  auto img = 40 + 150 * (x * (k + 1 + double(seed)) / (c + 1) + y * (c - k) / (c + 1));
  img = img + 50 * ((x - 0.5).abs() < 0.2).logical_and((y - 0.5).abs() < 0.2).to(torch::kFloat32);
  return img.clamp(0, 255).round().to(torch::kUInt8);
}
/// `img` [C,H,W] uint8 (C 1 or 3) as JPEG bytes (libjpeg-turbo, 4:2:0 for colour).
std::string encode_jpeg(const torch::Tensor& img, int quality = 95) {
  const auto C = int(img.size(0)), H = int(img.size(1)), W = int(img.size(2));
  auto hwc = img.permute({1, 2, 0}).contiguous();
  jpeg_compress_struct c;
  jpeg_error_mgr err;
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  jpeg_mem_dest(&c, &buf, &len);
  c.image_width = unsigned(W);
  c.image_height = unsigned(H);
  c.input_components = C;
  c.in_color_space = C == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  jpeg_start_compress(&c, TRUE);
  for (int r = 0; r < H; ++r) {
    JSAMPROW row = hwc.data_ptr<uint8_t>() + size_t(r) * size_t(W * C);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::string s(reinterpret_cast<char*>(buf), len);
  free(buf);
  jpeg_destroy_compress(&c);
  return s;
}
/// Pillow's convert("L") of a uint8 [3,H,W] image, in tensors.
torch::Tensor luma(const torch::Tensor& rgb) {
  auto v = rgb.to(torch::kInt64);
  return torch::div(v[0] * 19595 + v[1] * 38470 + v[2] * 7471 + 0x8000, 65536, "floor").to(torch::kUInt8).unsqueeze(0);
}
torch::Tensor decode(const std::string& bytes, int64_t channels, int64_t min_side = 0) {
  return ssl::io::decode_image(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "mem", channels, min_side);
}
/// Sets a PNG's IHDR width and height and fixes the chunk's CRC.
std::string png_with_size(std::string png, uint32_t w, uint32_t h) {
  for (int i = 0; i < 4; ++i) {
    png[size_t(16 + i)] = char(w >> (24 - 8 * i));
    png[size_t(20 + i)] = char(h >> (24 - 8 * i));
  }
  const uint32_t crc = uint32_t(crc32(0, reinterpret_cast<const Bytef*>(png.data() + 12), 17));
  for (int i = 0; i < 4; ++i) png[size_t(29 + i)] = char(crc >> (24 - 8 * i));
  return png;
}
/// An Adam7-interlaced 8-bit RGB PNG of `img` (uint8 `[3,H,W]`), every scanline unfiltered:
/// libssl's writer and Pillow's write non-interlaced files only.
std::string interlaced_png(const torch::Tensor& img) {
  const auto hwc = img.permute({1, 2, 0}).contiguous();
  const int64_t H = hwc.size(0), W = hwc.size(1);
  const uint8_t* px = hwc.data_ptr<uint8_t>();
  std::string raw;  // the passes' scanlines, each a filter byte (0) and its pixels
  const int x0[7] = {0, 4, 0, 2, 0, 1, 0}, y0[7] = {0, 0, 4, 0, 2, 0, 1}, dx[7] = {8, 8, 4, 4, 2, 2, 1},
            dy[7] = {8, 8, 8, 4, 4, 2, 2};
  for (int p = 0; p < 7; ++p) {
    if (W <= x0[p] || H <= y0[p]) continue;  // an empty pass has no scanlines at all
    for (int64_t y = y0[p]; y < H; y += dy[p]) {
      raw.push_back('\0');
      for (int64_t x = x0[p]; x < W; x += dx[p]) raw.append(reinterpret_cast<const char*>(px + (y * W + x) * 3), 3);
    }
  }
  uLongf zlen = compressBound(uLong(raw.size()));
  std::string z(zlen, '\0');
  REQUIRE(compress(reinterpret_cast<Bytef*>(z.data()), &zlen, reinterpret_cast<const Bytef*>(raw.data()), uLong(raw.size())) == Z_OK);
  z.resize(zlen);
  const auto be32 = [](uint32_t v) { return std::string{char(v >> 24), char(v >> 16), char(v >> 8), char(v)}; };
  const auto chunk = [&](const std::string& type, const std::string& data) {
    const std::string td = type + data;
    return be32(uint32_t(data.size())) + td + be32(uint32_t(crc32(0, reinterpret_cast<const Bytef*>(td.data()), uInt(td.size()))));
  };
  const std::string ihdr = be32(uint32_t(W)) + be32(uint32_t(H)) + std::string{8, 2, 0, 0, 1};  // 8-bit RGB, Adam7
  return std::string("\x89PNG\r\n\x1a\n", 8) + chunk("IHDR", ihdr) + chunk("IDAT", z) + chunk("IEND", "");
}
/// doctest::Contains of a std::string.
doctest::Contains has(const std::string& s) { return doctest::Contains(s.c_str()); }
double max_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kInt32) - b.to(torch::kInt32)).abs().max().item<double>();
}
}  // namespace

TEST_SUITE("image") {
TEST_CASE("PNGs decode exactly as 1 or 3 channels: RGB, gray, luma of RGB, gray replicated") {
  auto d = tmpdir("png");
  torch::manual_seed(0);
  auto rgb = torch::randint(0, 256, {3, 13, 17}, torch::kUInt8);
  auto gray = torch::randint(0, 256, {1, 9, 5}, torch::kUInt8);
  ssl::io::write_png((d / "rgb.png").string(), rgb);
  ssl::io::write_png((d / "gray.png").string(), gray);
  CHECK(torch::equal(ssl::io::read_image(d / "rgb.png", 3), rgb));
  CHECK(torch::equal(ssl::io::read_image(d / "rgb.png", 1), luma(rgb)));
  CHECK(torch::equal(ssl::io::read_image(d / "gray.png", 1), gray));
  CHECK(torch::equal(ssl::io::read_image(d / "gray.png", 3), gray.expand({3, 9, 5})));
  CHECK(ssl::io::read_image(d / "rgb.png", 3, /*min_side=*/4).sizes() == rgb.sizes());  // PNG: always full size
  // the format comes from the bytes: a PNG named .jpg is a PNG
  fs::copy_file(d / "rgb.png", d / "really_png.jpg");
  CHECK(torch::equal(ssl::io::read_image(d / "really_png.jpg", 3), rgb));
}

TEST_CASE("JPEGs decode close to the encoded image; DCT scaling picks the largest 1/d keeping min_side") {
  auto img = smooth(3, 200, 300);
  auto jpg = encode_jpeg(img);
  auto full = decode(jpg, 3);
  REQUIRE(full.sizes() == img.sizes());
  CHECK(max_diff(full, img) <= 12);
  auto gray = smooth(1, 30, 41);
  auto g = decode(encode_jpeg(gray), 1);
  CHECK(g.sizes() == gray.sizes());
  CHECK(max_diff(g, gray) <= 6);
  CHECK(torch::equal(decode(encode_jpeg(gray), 3), g.expand({3, 30, 41})));
  CHECK((decode(jpg, 1).sizes() == std::vector<int64_t>{1, 200, 300}));
  // shorter side 200: 1/2 -> 100, 1/4 -> 50, 1/8 -> 25 (ceil)
  CHECK((decode(jpg, 3, 200).sizes() == std::vector<int64_t>{3, 200, 300}));
  CHECK((decode(jpg, 3, 101).sizes() == std::vector<int64_t>{3, 200, 300}));
  CHECK((decode(jpg, 3, 100).sizes() == std::vector<int64_t>{3, 100, 150}));
  CHECK((decode(jpg, 3, 50).sizes() == std::vector<int64_t>{3, 50, 75}));
  CHECK((decode(jpg, 3, 26).sizes() == std::vector<int64_t>{3, 50, 75}));
  CHECK((decode(jpg, 3, 25).sizes() == std::vector<int64_t>{3, 25, 38}));
  CHECK((decode(jpg, 3, 1).sizes() == std::vector<int64_t>{3, 25, 38}));
  auto half = decode(jpg, 3, 100);
  auto ref = ssl::io::resize_shorter(full, 100);
  CHECK(max_diff(half, ref) <= 16);  // same picture, other filter
}

TEST_CASE("every bad file throws a c10::Error naming it and saying what was expected") {
  auto d = tmpdir("bad");
  ssl::io::write_png((d / "ok.png").string(), smooth(3, 20, 30));
  const auto png = slurp(d / "ok.png");
  const auto jpg = encode_jpeg(smooth(3, 64, 48));
  spit(d / "text.jpg", "this is not an image\n");
  spit(d / "empty.png", "");
  spit(d / "half.png", png.substr(0, png.size() / 2));
  spit(d / "half.jpg", jpg.substr(0, jpg.size() / 2));
  spit(d / "header_only.jpg", jpg.substr(0, 200));
  // the scan's entropy-coded data cut in half, the EOI marker kept: SOS (FF DA), its length, then the data
  const auto sos = jpg.find("\xFF\xDA");
  REQUIRE(sos != std::string::npos);
  const size_t scan = sos + 2 + ((size_t(uint8_t(jpg[sos + 2])) << 8) | uint8_t(jpg[sos + 3]));
  REQUIRE(scan + 64 < jpg.size());
  spit(d / "cut.jpg", jpg.substr(0, (scan + jpg.size() - 2) / 2) + "\xFF\xD9");
  auto corrupt = png;
  corrupt[png.size() / 2] = char(corrupt[png.size() / 2] ^ 0x5A);  // inside IDAT: CRC mismatch
  spit(d / "corrupt.png", corrupt);
  spit(d / "huge.png", png_with_size(png, 70000, 10));
  spit(d / "many.png", png_with_size(png, 40000, 40000));
  auto huge_jpg = jpg;  // SOF0 after the default headers: FF C0, length, precision, height, width
  const auto sof = huge_jpg.find("\xFF\xC0");
  REQUIRE(sof != std::string::npos);
  huge_jpg[sof + 5] = huge_jpg[sof + 7] = char(0xEA);  // 60000x60000: libjpeg allows 65500 a side
  huge_jpg[sof + 6] = huge_jpg[sof + 8] = char(0x60);
  spit(d / "huge.jpg", huge_jpg);

  const auto read = [&](const char* f, int64_t c = 3) { return ssl::io::read_image(d / f, c); };
  CHECK_THROWS_WITH_AS(read("missing.png"), has("cannot open '" + (d / "missing.png").string()), c10::Error);
  CHECK_THROWS_WITH_AS(read("empty.png"),
                       doctest::Contains("empty.png': expected a JPEG or PNG file, got an empty one"), c10::Error);
  CHECK_THROWS_WITH_AS(
      read("text.jpg"),
      doctest::Contains("text.jpg': expected a JPEG (starting ff d8 ff) or PNG (starting 89 50 4e 47) "
                        "file, got bytes 74 68 69 73 20 69 73 20 (\"this is \")"),
      c10::Error);
  CHECK_THROWS_WITH_AS(read("half.png"),
                       doctest::Contains("half.png': expected a complete PNG, got a corrupt or truncated"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(read("corrupt.png"),
                       doctest::Contains("corrupt.png': expected a complete PNG, got a corrupt or truncated"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(
      read("half.jpg"),
      doctest::Contains("half.jpg': expected a complete JPEG, got a corrupt or truncated one (libjpeg: "
                        "Premature end of JPEG file)"),
      c10::Error);
  CHECK_THROWS_WITH_AS(read("half.jpg", 1), doctest::Contains("Premature end of JPEG file"), c10::Error);
  CHECK_THROWS_WITH_AS(read("header_only.jpg"), doctest::Contains("header_only.jpg': expected a complete JPEG"),
                       c10::Error);
  // the scan ends at a marker before its last row (found by fuzzing: it used to decode, zero-filled)
  CHECK_THROWS_WITH_AS(read("cut.jpg"),
                       doctest::Contains("cut.jpg': expected a complete JPEG, got a corrupt or truncated one (libjpeg: "
                                         "Corrupt JPEG data: premature end of data segment)"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ssl::io::read_image(d / "cut.jpg", 1, 1), doctest::Contains("premature end of data segment"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(read("huge.png"),
                       doctest::Contains("huge.png': expected a PNG of at most 65536 pixels a side and 268435456 "
                                         "pixels in all, got 70000x10"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(read("many.png"), doctest::Contains("got 40000x40000"), c10::Error);
  CHECK_THROWS_WITH_AS(
      read("huge.jpg"),
      doctest::Contains(
          "huge.jpg': expected a JPEG of at most 65536 pixels a side and 268435456 pixels in all, got 60000x60000"),
      c10::Error);
  CHECK_THROWS_WITH_AS(read("ok.png", 2), doctest::Contains("ok.png': expected channels 1 or 3, got 2"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::io::read_image(d / "ok.png", 3, -1), doctest::Contains("expected min_side >= 0, got -1"),
                       c10::Error);
  // truncated in the entropy data with a 1/8 DCT scale too: never a gray-filled image
  CHECK_THROWS_WITH_AS(ssl::io::read_image(d / "half.jpg", 3, 1), doctest::Contains("Premature end of JPEG file"),
                       c10::Error);
}

// Interlaced PNGs decode row pass by row pass (libspng's progressive decoding): every pixel lands
// where it belongs, for sizes whose last passes are empty, partial or whole.
TEST_CASE("an Adam7-interlaced PNG decodes to the same pixels as the image it holds") {
  const auto d = tmpdir("interlaced");
  for (const auto& hw : {std::pair<int64_t, int64_t>{11, 13}, {1, 1}, {1, 7}, {5, 2}, {16, 24}, {33, 65}}) {
    const int64_t h = hw.first, w = hw.second;  // not a structured binding: CAPTURE's lambda takes them (clang < 16)
    CAPTURE(h);
    CAPTURE(w);
    const auto img = torch::randint(0, 256, {3, h, w}, at::make_generator<at::CPUGeneratorImpl>(uint64_t(h * 100 + w)),
                                    torch::kUInt8);
    spit(d / "i.png", interlaced_png(img));
    const auto got = ssl::io::read_image(d / "i.png", 3);
    CHECK(torch::equal(got, img));
  }
  const auto whole = interlaced_png(smooth(3, 40, 48));
  spit(d / "cut.png", whole.substr(0, whole.size() / 2));
  CHECK_THROWS_WITH_AS(ssl::io::read_image(d / "cut.png", 3), doctest::Contains("got a corrupt or truncated one"), c10::Error);
}

// A small file that declares the largest image accepted (2^28 pixels) and breaks in its first rows
// is refused for its data, without first allocating the pixels it declares (1 GiB as RGBA for a
// PNG): the decoders' buffers grow with the rows decoded. Run in a child process whose address
// space is capped 384 MiB above the parent's, where the whole buffer cannot be allocated.
TEST_CASE("a small file declaring a huge image fails on its data before its pixel buffer is allocated") {
  const auto d = tmpdir("declared");
  ssl::io::write_png((d / "ok.png").string(), smooth(3, 20, 30));
  const auto png = png_with_size(slurp(d / "ok.png"), 16384, 16384);
  auto jpg = encode_jpeg(smooth(3, 64, 48));
  const auto sof = jpg.find("\xFF\xC0");
  REQUIRE(sof != std::string::npos);
  jpg[sof + 5] = jpg[sof + 7] = char(0x40);  // 16384 x 16384 (SOF0: length, precision, height, width)
  jpg[sof + 6] = jpg[sof + 8] = char(0x00);
  for (const auto& [name_, bytes] : {std::pair<std::string, std::string>{"declared.png", png}, {"declared.jpg", jpg}}) {
    const auto& name = name_;  // capturable (CAPTURE's lambda)
    CAPTURE(name);
    spit(d / name, bytes);
    CHECK(bytes.size() < 4096);
    long pages = 0;
    std::ifstream("/proc/self/statm") >> pages;
    REQUIRE(pages > 0);
    const pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {  // the child: 0 refused for its data, 1 another error (an allocation), 2 decoded
      const rlim_t cap = rlim_t(pages) * rlim_t(sysconf(_SC_PAGESIZE)) + (rlim_t(384) << 20);
      const rlimit lim{cap, cap};
      if (setrlimit(RLIMIT_AS, &lim) != 0) _exit(3);
      try {
        (void)ssl::io::read_image(d / name, 3);
        _exit(2);
      } catch (const c10::Error& e) {
        _exit(std::string(e.what()).find("got a corrupt or truncated one") != std::string::npos ? 0 : 1);
      } catch (...) {
        _exit(1);
      }
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

TEST_CASE("randomly damaged JPEGs and PNGs decode or throw c10::Error, never crash or exit") {
  const auto d = tmpdir("fuzz");
  ssl::io::write_png((d / "a.png").string(), smooth(3, 24, 40));
  const std::vector<std::string> seeds{slurp(d / "a.png"), encode_jpeg(smooth(3, 40, 48), 80),
                                       encode_jpeg(smooth(1, 33, 17), 60)};
  std::mt19937 rng(0);
  int ok = 0, failed = 0;
  for (int it = 0; it < 300; ++it) {
    auto b = seeds[size_t(it) % seeds.size()];
    const int flips = 1 + int(rng() % 4);
    for (int f = 0; f < flips; ++f) b[rng() % b.size()] = char(rng() % 256);
    if (it % 5 == 0) b.resize(rng() % b.size());
    try {
      auto t = decode(b, it % 2 ? 1 : 3, it % 3 ? 0 : 8);
      ok += t.dim() == 3;
    } catch (const c10::Error&) {
      ++failed;
    }
  }
  CHECK(ok + failed == 300);
  CHECK(failed > 0);
  CHECK(ok > 0);  // damage in JPEG entropy data can decode to a (wrong) picture
}

TEST_CASE("resize_shorter and center_crop: shapes, torchvision's sizes and offsets, errors") {
  auto img = smooth(3, 50, 80);
  auto r = ssl::io::resize_shorter(img, 20);
  CHECK((r.sizes() == std::vector<int64_t>{3, 20, 32}));
  CHECK((r.scalar_type() == torch::kUInt8));
  CHECK((ssl::io::resize_shorter(smooth(1, 7, 3), 10).sizes() == std::vector<int64_t>{1, 23, 10}));  // int(10*7/3)
  CHECK(ssl::io::resize_shorter(img, 50).is_same(img));
  CHECK((ssl::io::resize_shorter(smooth(3, 10, 10).unsqueeze(0), 5).sizes() == std::vector<int64_t>{1, 3, 5, 5}));
  auto flat = torch::full({1, 9, 9}, 77, torch::kUInt8);
  CHECK(torch::equal(ssl::io::resize_shorter(flat, 4), torch::full({1, 4, 4}, 77, torch::kUInt8)));
  // torchvision: top = int(round((H - h) / 2)), Python's round: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2
  auto idx = torch::arange(10, torch::kUInt8).view({1, 1, 10}).expand({1, 1, 10});
  CHECK(ssl::io::center_crop(idx, 1, 9)[0][0][0].item<int>() == 0);
  CHECK(ssl::io::center_crop(idx, 1, 7)[0][0][0].item<int>() == 2);
  CHECK(ssl::io::center_crop(idx, 1, 5)[0][0][0].item<int>() == 2);
  CHECK(ssl::io::center_crop(idx, 1, 4)[0][0][0].item<int>() == 3);
  CHECK((ssl::io::center_crop(r, 20, 20).sizes() == std::vector<int64_t>{3, 20, 20}));
  CHECK_THROWS_WITH_AS(ssl::io::center_crop(r, 21, 20),
                       doctest::Contains("expected a crop of at most 20x32 (the image), got 21x20"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::io::resize_shorter(img.to(torch::kFloat32), 5),
                       doctest::Contains("expected uint8 [C,H,W] or [B,C,H,W], got Float [3, 50, 80]"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::io::resize_shorter(img, 0), doctest::Contains("expected side > 0, got 0"), c10::Error);
}

TEST_CASE("ImageFolder: class folders, flat folders, list files, file vectors") {
  auto d = tmpdir("folders");
  // classes: sorted names -> labels; images found recursively; other files ignored
  fs::create_directories(d / "cls/dog/puppies");
  fs::create_directories(d / "cls/cat");
  fs::create_directories(d / "cls/.hidden");
  ssl::io::write_png((d / "cls/dog/b.png").string(), smooth(3, 40, 30));
  spit(d / "cls/dog/a.JPG", encode_jpeg(smooth(3, 30, 50)));
  ssl::io::write_png((d / "cls/dog/puppies/c.png").string(), smooth(1, 20, 20));
  ssl::io::write_png((d / "cls/cat/z.png").string(), smooth(3, 24, 24, 1));
  spit(d / "cls/cat/notes.txt", "ignored");
  spit(d / "cls/.hidden/x.png", "ignored, not even read");
  ssl::data::ImageFolder cls(d / "cls", {.image_size = 16});
  static_assert(ssl::data::SampleDataset<ssl::data::ImageFolder>);
  REQUIRE(cls.size() == 4);
  CHECK(cls.labelled());
  CHECK((cls.classes() == std::vector<std::string>{"cat", "dog"}));
  CHECK(cls.path(0).filename() == "z.png");
  CHECK(cls.path(1).filename() == "a.JPG");
  CHECK(cls.path(2).filename() == "b.png");
  CHECK(cls.path(3).filename() == "c.png");
  CHECK(cls.options().resize == 16);
  for (int64_t i = 0; i < cls.size(); ++i) {
    auto s = cls.get(i);
    CHECK((s.input.sizes() == std::vector<int64_t>{3, 16, 16}));
    CHECK((s.input.scalar_type() == torch::kUInt8));
    CHECK(s.input.is_contiguous());
    CHECK(s.target == (i == 0 ? 0 : 1));
    CHECK(cls.target(i) == s.target);
  }
  // the sample is decode -> resize shorter side -> center crop
  ssl::data::ImageFolder gray(d / "cls", {.image_size = 12, .resize = 20, .channels = 1});
  auto expect =
      ssl::io::center_crop(ssl::io::resize_shorter(ssl::io::read_image(d / "cls/dog/b.png", 1), 20), 12, 12);
  CHECK(torch::equal(gray.get(2).input, expect));
  CHECK((gray.get(3).input.sizes() == std::vector<int64_t>{1, 12, 12}));

  // flat folder: unlabelled
  ssl::data::ImageFolder flat(d / "cls/dog/puppies", {.image_size = 8});
  CHECK(flat.size() == 1);
  CHECK_FALSE(flat.labelled());
  CHECK(flat.get(0).target == -1);
  CHECK((flat.get(0).input.sizes() == std::vector<int64_t>{3, 8, 8}));

  // list file: relative to its folder, any name is read, blank lines skipped
  fs::copy_file(d / "cls/cat/z.png", d / "cls/cat/z.data");
  spit(d / "list.txt", "cls/cat/z.data\n\n  cls/dog/b.png \r\n" + (d / "cls/dog/a.JPG").string() + "\n");
  ssl::data::ImageFolder listed(d / "list.txt", {.image_size = 10});
  REQUIRE(listed.size() == 3);
  CHECK_FALSE(listed.labelled());
  CHECK(listed.path(1) == d / "cls/dog/b.png");
  CHECK((listed.get(0).input.sizes() == std::vector<int64_t>{3, 10, 10}));

  ssl::data::ImageFolder vec(std::vector<fs::path>{d / "cls/cat/z.png"}, {.image_size = 5});
  CHECK((vec.get(0).input.sizes() == std::vector<int64_t>{3, 5, 5}));
}

TEST_CASE("ImageFolder errors name the path") {
  auto d = tmpdir("folder_errors");
  fs::create_directories(d / "mixed/cls");
  ssl::io::write_png((d / "mixed/cls/a.png").string(), smooth(3, 8, 8));
  ssl::io::write_png((d / "mixed/loose.png").string(), smooth(3, 8, 8));
  fs::create_directories(d / "emptycls/a");
  fs::create_directories(d / "emptycls/b");
  ssl::io::write_png((d / "emptycls/a/x.png").string(), smooth(3, 8, 8));
  spit(d / "emptycls/b/readme.txt", "no images");
  fs::create_directories(d / "nothing");
  spit(d / "nothing/a.txt", "x");
  spit(d / "list.txt", "a.png\n");
  using ssl::data::ImageFolder;
  CHECK_THROWS_WITH_AS(
      ImageFolder(d / "nope", {.image_size = 8}),
      has("expected a folder of images or a list file at '" + (d / "nope").string() + "', got nothing"), c10::Error);
  CHECK_THROWS_WITH_AS(
      ImageFolder(d / "mixed", {.image_size = 8}),
      doctest::Contains("to hold either class folders or images, got both (e.g. folder 'cls' and image 'loose.png')"),
      c10::Error);
  CHECK_THROWS_WITH_AS(ImageFolder(d / "emptycls", {.image_size = 8}),
                       has("in class folder '" + (d / "emptycls/b").string() + "', got none"), c10::Error);
  CHECK_THROWS_WITH_AS(ImageFolder(d / "nothing", {.image_size = 8}),
                       has("expected at least one image in '" + (d / "nothing").string() + "', got none"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ImageFolder(d / "list.txt", {.image_size = 8}),
                       has("list.txt' line 1: expected an existing image file, got '" + (d / "a.png").string()),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ImageFolder(d / "mixed/cls", {}),
                       doctest::Contains("expected image_size > 0 (the output side), got 0"), c10::Error);
  CHECK_THROWS_WITH_AS(ImageFolder(d / "mixed/cls", {.image_size = 8, .resize = 4}),
                       doctest::Contains("expected resize >= image_size (8) or 0, got 4"), c10::Error);
  CHECK_THROWS_WITH_AS(ImageFolder(d / "mixed/cls", {.image_size = 8, .channels = 4}),
                       doctest::Contains("expected channels 1 or 3, got 4"), c10::Error);
  ImageFolder ok(d / "mixed/cls", {.image_size = 8});
  CHECK_THROWS_WITH_AS(ok.get(1), doctest::Contains("expected an index in [0, 1), got 1"), c10::Error);
}

TEST_CASE("ImageFolder skip_bad: the next good file, counted once per bad file, from several threads") {
  auto d = tmpdir("skip");
  for (int i = 0; i < 6; ++i)
    ssl::io::write_png((d / ("f" + std::to_string(i) + ".png")).string(), smooth(3, 12, 12, i));
  spit(d / "f1.png", "garbage");                          // bad
  spit(d / "f2.png", slurp(d / "f3.png").substr(0, 40));  // truncated
  spit(d / "f5.png", "\x89PNG\r\n\x1a\n");                // signature only
  using ssl::data::ImageFolder;
  ImageFolder strict(d, {.image_size = 12});
  CHECK(torch::equal(strict.get(0).input, ssl::io::read_image(d / "f0.png", 3)));
  CHECK_THROWS_WITH_AS(strict.get(1), doctest::Contains("f1.png': expected a JPEG"), c10::Error);

  ImageFolder lenient(d, {.image_size = 12, .skip_bad = true});
  auto copy = lenient;  // copies share the record of bad files
  const auto f3 = ssl::io::read_image(d / "f3.png", 3), f0 = ssl::io::read_image(d / "f0.png", 3);
  std::atomic<int> wrong{0};
  std::ostringstream warnings;
  auto* const cerr_buf = std::cerr.rdbuf(warnings.rdbuf());
  // What item i must give: its own image, or the next good one after a bad file (1, 2 -> f3; 5 -> f0).
  std::vector<torch::Tensor> want;
  for (int64_t i = 0; i < 6; ++i) {
    std::string name = "f";  // appended, not "f" + ...: GCC 12 warns (-Wstringop-overflow) on that falsely
    name += std::to_string(i);
    name += ".png";
    want.push_back(i == 1 || i == 2 ? f3 : i == 5 ? f0 : ssl::io::read_image(d / name, 3));
  }
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&, t] {
      for (int rep = 0; rep < 5; ++rep)
        for (int64_t i = 0; i < 6; ++i)
          if (!torch::equal((t % 2 ? copy : lenient).get(i).input, want[size_t(i)])) ++wrong;
    });
  for (auto& th : pool) th.join();
  std::cerr.rdbuf(cerr_buf);
  CHECK(wrong.load() == 0);
  const auto text = warnings.str();
  CHECK(std::count(text.begin(), text.end(), '\n') == 3);  // one line per bad file
  CHECK(text.find("ImageFolder: skipping a bad image: decode_image: '" + (d / "f2.png").string() +
                  "': expected a complete PNG") != std::string::npos);
  CHECK(lenient.skipped() == 3);
  CHECK(copy.skipped() == 3);

  auto all_bad = tmpdir("all_bad");
  spit(all_bad / "a.png", "x");
  spit(all_bad / "b.jpg", "y");
  ImageFolder hopeless(all_bad, {.image_size = 4, .skip_bad = true});
  CHECK_THROWS_WITH_AS(hopeless.get(0), has("all 2 images of '" + all_bad.string() + "' failed to decode"),
                       c10::Error);
  CHECK(hopeless.skipped() == 2);
}
}

TEST_SUITE("image_parity") {
namespace {
const fs::path& refs_dir() {
  static const fs::path d = fs::path(parity::refs()) / "images";
  return d;
}
/// Max |ours - Pillow's| of file `stem` decoded as RGB and as L (with `min_side`), against the
/// references `key`.rgb / `key`.l.
std::pair<double, double> diff_to_pillow(const parity::Dict& refs, const std::string& file, const std::string& key,
                                         int64_t min_side = 0) {
  auto rgb = ssl::io::read_image(refs_dir() / file, 3, min_side);
  auto l = ssl::io::read_image(refs_dir() / file, 1, min_side);
  const auto& ref_rgb = refs.at(key + ".rgb");
  const auto& ref_l = refs.at(key + ".l");
  REQUIRE_MESSAGE(rgb.sizes() == ref_rgb.permute({2, 0, 1}).sizes(), key, ": ", rgb.sizes(), " vs ", ref_rgb.sizes());
  REQUIRE(l.sizes() == ref_l.unsqueeze(0).sizes());
  const std::pair<double, double> err{max_diff(rgb, ref_rgb.permute({2, 0, 1})), max_diff(l, ref_l.unsqueeze(0))};
  if (std::getenv("SSL_PARITY_VERBOSE")) MESSAGE(key, ": max abs difference RGB ", err.first, ", L ", err.second);
  return err;
}
}  // namespace

TEST_CASE("PNG decodes equal Pillow's convert(\"RGB\") and convert(\"L\") exactly") {
  const auto refs = parity::load("images.safetensors");
  // RGB, RGBA (alpha dropped), L, palette with a transparent entry, LA, 16-bit gray (high byte),
  // 16-bit RGB, 1-bit, and a larger RGB
  for (const std::string stem :
       {"png_rgb", "png_rgba", "png_l", "png_p", "png_la", "png_i16", "png_rgb16", "png_1bit", "png_big"}) {
    INFO(stem);
    const auto [rgb, l] = diff_to_pillow(refs, stem + ".png", stem);
    CHECK(rgb == 0);
    CHECK(l == 0);
  }
}

TEST_CASE("JPEG decodes equal Pillow's (both libjpeg-turbo, slow integer DCT, fancy upsampling), DCT scaling too") {
  const auto refs = parity::load("images.safetensors");
  // Measured max |difference| 0 on all 8 decodes, RGB and L (Debian's libjpeg-turbo 2.1.5 vs
  // Pillow 13's bundled libjpeg-turbo): 1 leaves room for another build's rounding, no more.
  constexpr double tol = 1;
  for (const std::string stem : {"jpg_rgb", "jpg_l", "jpg_progressive", "jpg_odd", "jpg_large"}) {
    INFO(stem);
    const auto [rgb, l] = diff_to_pillow(refs, stem + ".jpg", stem);
    CHECK(rgb <= tol);
    CHECK(l <= tol);
  }
  // draft(): 300x200 at 1/k; min_side = the scaled shorter side, ceil(200 / k)
  for (int k : {2, 4, 8}) {
    INFO("1/", k);
    const auto [rgb, l] = diff_to_pillow(refs, "jpg_large.jpg", "jpg_large.d" + std::to_string(k), (200 + k - 1) / k);
    CHECK(rgb <= tol);
    CHECK(l <= tol);
  }
}

TEST_CASE("resize_shorter then center_crop equal torchvision's resize(antialias=True) and center_crop") {
  const auto refs = parity::load("images.safetensors");
  auto img = ssl::io::read_image(refs_dir() / "png_big.png", 3);
  auto ours = ssl::io::center_crop(ssl::io::resize_shorter(img, 40), 32, 32);
  const double err = max_diff(ours, refs.at("png_big.resize40_crop32"));
  if (std::getenv("SSL_PARITY_VERBOSE")) MESSAGE("resize40_crop32: max abs difference ", err);
  CHECK(err <= 1);  // measured 0: the same float kernel; 1 for another CPU's vector rounding
}

TEST_CASE("the broken files of the reference folder: clear errors, and skip_bad counts them") {
  const auto& d = refs_dir();
  CHECK_THROWS_WITH_AS(
      ssl::io::read_image(d / "bad_text.jpg", 3),
      doctest::Contains(
          "bad_text.jpg': expected a JPEG (starting ff d8 ff) or PNG (starting 89 50 4e 47) file, got bytes"),
      c10::Error);
  CHECK_THROWS_WITH_AS(ssl::io::read_image(d / "bad_truncated.jpg", 3),
                       doctest::Contains("bad_truncated.jpg': expected a complete JPEG, got a corrupt or truncated "
                                         "one (libjpeg: Premature end of JPEG file)"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(
      ssl::io::read_image(d / "bad_truncated.png", 1),
      doctest::Contains("bad_truncated.png': expected a complete PNG, got a corrupt or truncated one (libspng"),
      c10::Error);
  ssl::data::ImageFolder strict(d, {.image_size = 8});
  REQUIRE(strict.size() == 17);
  CHECK(strict.path(0).filename() == "bad_text.jpg");
  CHECK_THROWS_WITH_AS(strict.get(0), doctest::Contains("bad_text.jpg'"), c10::Error);
  ssl::data::ImageFolder lenient(d, {.image_size = 8, .channels = 1, .skip_bad = true});
  for (int64_t i = 0; i < lenient.size(); ++i) CHECK((lenient.get(i).input.sizes() == std::vector<int64_t>{1, 8, 8}));
  CHECK(lenient.skipped() == 3);
  CHECK(lenient.get(0).input.equal(lenient.get(3).input));  // bad_text, bad_truncated x2 -> jpg_l
}
}

}  // namespace test_image
