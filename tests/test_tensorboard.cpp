// TensorBoard event files (ssl/train/tensorboard.hpp). Suites:
//   tensorboard:       CRC-32C on the standard vector, the TFRecord framing read back here, errors
//   tensorboard_write: writes $SSL_REFS/tensorboard/ (CTest fixture tb_events): scalars with awkward
//                      values and steps, grayscale / RGB / float images with known pixels, a resumed
//                      writer (SessionLog START), and a Trainer run resumed from a checkpoint, with the
//                      expected values in expected.json; tests/python/check_tensorboard.py
//                      (tensorboard_read) reads them with TensorBoard's own readers and compares.
#include <doctest/doctest.h>
#include <ssl/ssl.hpp>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include <unistd.h>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_tensorboard {

namespace fs = std::filesystem;
using ssl::train::Json;
using ssl::train::TensorBoard;

namespace {

fs::path fresh_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()));
  fs::remove_all(d);
  return d;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

uint64_t le(const std::string& s, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t(uint8_t(s[at + size_t(i)])) << (8 * i);
  return v;
}

uint32_t masked(uint32_t c) { return ((c >> 15) | (c << 17)) + 0xa282ead8u; }

/// The records of a TFRecord file, each length and CRC checked (fails the case otherwise).
std::vector<std::string> records(const fs::path& p) {
  const auto s = read_file(p);
  std::vector<std::string> out;
  size_t at = 0;
  while (at < s.size()) {
    REQUIRE(at + 12 <= s.size());
    const uint64_t n = le(s, at, 8);
    CHECK(le(s, at + 8, 4) == masked(ssl::train::crc32c(s.data() + at, 8)));
    REQUIRE(at + 12 + n + 4 <= s.size());
    std::string data = s.substr(at + 12, n);
    CHECK(le(s, at + 12 + n, 4) == masked(ssl::train::crc32c(data.data(), data.size())));
    out.push_back(std::move(data));
    at += 12 + n + 4;
  }
  return out;
}

/// The one event file in `dir`.
fs::path event_file(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  REQUIRE(files.size() == 1);
  CHECK(files[0].filename().string().rfind("events.out.tfevents.", 0) == 0);
  return files[0];
}

/// A float32 as JSON: the number, or "nan" / "inf" / "-inf" (JSON has no such numbers).
Json f32_json(double v) {
  const float f = static_cast<float>(v);
  if (std::isnan(f)) return "nan";
  if (std::isinf(f)) return f > 0 ? "inf" : "-inf";
  return double(f);
}

/// uint8 `[C,H,W]` pixels as a flat list in H, W, C order (as Pillow gives them).
Json hwc(const torch::Tensor& chw) {
  auto t = chw.permute({1, 2, 0}).contiguous();
  Json a = Json::array();
  const uint8_t* p = t.data_ptr<uint8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) a.push_back(int(p[i]));
  return a;
}

}  // namespace

TEST_SUITE("tensorboard") {
TEST_CASE("CRC-32C: the standard check value, and incremental = whole") {
  CHECK(ssl::train::crc32c("123456789", 9) == 0xE3069283u);
  CHECK(ssl::train::crc32c("", 0) == 0u);
  CHECK(ssl::train::crc32c("6789", 4, ssl::train::crc32c("12345", 5)) == 0xE3069283u);
  // 32 zero bytes: the iSCSI test vector (RFC 3720, B.4).
  const std::string zeros(32, '\0');
  CHECK(ssl::train::crc32c(zeros.data(), zeros.size()) == 0x8A9136AAu);
}

TEST_CASE("an event file: TFRecords with valid checksums, the file version first, one record per write") {
  const auto d = fresh_dir("ssl_tb_unit");
  {
    TensorBoard tb(d.string());
    REQUIRE(tb.enabled());
    CHECK(fs::path(tb.path()).parent_path() == d);
    tb.scalar("loss", 0.5, 3);
    tb.scalars(Json{{"step", 4}, {"loss", 0.25}, {"lr", 1e-3}, {"name", "x"}, {"ok", true}}, 4);
    tb.scalars(Json{{"step", 5}, {"name", "only text"}}, 5);  // no number: no event
    tb.image("img", torch::zeros({2, 3}, torch::kUInt8), 6);
    tb.session_start(7);
  }
  const auto recs = records(event_file(d));
  REQUIRE(recs.size() == 5);
  CHECK(recs[0].find("brain.Event:2") != std::string::npos);
  CHECK(recs[1].find("loss") != std::string::npos);
  CHECK(recs[2].find("lr") != std::string::npos);
  CHECK(recs[2].find("name") == std::string::npos);  // strings and booleans are not scalars
  CHECK(recs[2].find("step") == std::string::npos);  // the step is the event's, not a tag
  CHECK(recs[3].find("\x89PNG") != std::string::npos);
  // Event.step (field 2, varint 7) and Event.session_log (field 7) = {status (field 1) = START (1)}.
  CHECK(recs[4].find(std::string("\x10\x07\x3a\x02\x08\x01", 6)) != std::string::npos);
  fs::remove_all(d);
}

TEST_CASE("an empty folder writes nothing; two writers in one folder get two files") {
  TensorBoard off("");
  CHECK_FALSE(off.enabled());
  off.scalar("x", 1, 1);
  off.image("x", torch::zeros({2, 2}), 1);
  off.flush();
  const auto d = fresh_dir("ssl_tb_two");
  TensorBoard a(d.string()), b(d.string());
  CHECK(a.path() != b.path());
  CHECK(a.path() < b.path());  // name order = creation order (TensorBoard reads files in name order)
  fs::remove_all(d);
}

TEST_CASE("errors name what was expected and what came") {
  const auto d = fresh_dir("ssl_tb_err");
  TensorBoard tb(d.string());
  CHECK_THROWS_WITH_AS(tb.image("bad", torch::zeros({2, 3, 3}), 1), doctest::Contains("expected [H,W], [1,H,W] or [3,H,W]"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(tb.image("bad", torch::zeros({3, 3}, torch::kInt32), 1),
                       doctest::Contains("expected uint8 pixels or floating point ones in [0,1], got Int"), c10::Error);
  CHECK_THROWS_WITH_AS(tb.scalars(Json::array({1, 2}), 1), doctest::Contains("expected a JSON object, got array"), c10::Error);
  // A file where the folder should be.
  std::ofstream(d / "file") << "x";
  CHECK_THROWS_WITH_AS(TensorBoard{(d / "file").string()}, doctest::Contains("expected a folder"), c10::Error);
  fs::remove_all(d);
}
}  // TEST_SUITE("tensorboard")

TEST_SUITE("tensorboard_write") {
TEST_CASE("event files for check_tensorboard.py: scalars, images, a resumed writer, a resumed Trainer") {
  const char* refs = std::getenv("SSL_REFS");
  REQUIRE_MESSAGE(refs != nullptr, "SSL_REFS is not set: run this suite through ctest (tensorboard_write)");
  const fs::path root = fs::path(refs) / "tensorboard";
  fs::remove_all(root);
  fs::create_directories(root);
  Json expected;

  // ---- Scalars: awkward values and steps, one tag per call and several per event ----------------
  {
    const std::vector<double> values = {1e-30, -0.0, 0.0, 0.1, -7.25, 3.4e38, 1e-45, 1e39, -1e39,
                                        std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                                        std::nan(""), 123456789.0, 2.0 / 3.0};
    const std::vector<int64_t> steps = {0, 1, 2, 1000, (int64_t(1) << 31) + 5, int64_t(1) << 40, int64_t(1) << 62,
                                        int64_t(1) << 62 | 1, int64_t(1) << 62 | 2, int64_t(1) << 62 | 3,
                                        int64_t(1) << 62 | 4, int64_t(1) << 62 | 5, int64_t(1) << 62 | 6,
                                        int64_t(1) << 62 | 7};
    TensorBoard tb((root / "scalars").string());
    Json& s = expected["scalars"]["scalars"];
    for (size_t i = 0; i < values.size(); ++i) {
      tb.scalar("awkward", values[i], steps[i]);
      s["awkward"].push_back(Json::array({steps[i], f32_json(values[i])}));
      tb.scalar("train/loss", 1.0 / double(i + 1), int64_t(i) * 10);
      s["train/loss"].push_back(Json::array({int64_t(i) * 10, f32_json(1.0 / double(i + 1))}));
    }
    for (int64_t step = 1; step <= 3; ++step) {
      const Json rec = {{"step", step}, {"epoch", 0}, {"lr", 1e-4 * double(step)}, {"loss", -0.5 * double(step)},
                        {"label", "text is skipped"}};
      tb.scalars(rec, step, "rec/");
      for (const char* k : {"epoch", "lr", "loss"}) s[std::string("rec/") + k].push_back(Json::array({step, f32_json(rec[k].get<double>())}));
    }
  }

  // ---- Images: grayscale, RGB and float pixels with known values; one tag at two steps ---------
  {
    TensorBoard tb((root / "images").string());
    Json& im = expected["images"]["images"];
    auto gray = torch::arange(5 * 7, torch::kInt32).mul(7).remainder(256).to(torch::kUInt8).view({5, 7});
    tb.image("gray", gray, 3);
    im["gray"].push_back({{"step", 3}, {"height", 5}, {"width", 7}, {"channels", 1}, {"pixels", hwc(gray.unsqueeze(0))}});
    auto rgb = torch::arange(3 * 4 * 6, torch::kInt32).mul(11).remainder(256).to(torch::kUInt8).view({3, 4, 6});
    rgb[0][0][0] = 255;
    rgb[2][3][5] = 0;
    tb.image("pictures/rgb", rgb, 10);
    im["pictures/rgb"].push_back({{"step", 10}, {"height", 4}, {"width", 6}, {"channels", 3}, {"pixels", hwc(rgb)}});
    auto rgb2 = 255 - rgb;
    tb.image("pictures/rgb", rgb2, 20);
    im["pictures/rgb"].push_back({{"step", 20}, {"height", 4}, {"width", 6}, {"channels", 3}, {"pixels", hwc(rgb2)}});
    // Floats in [0,1]: clamped, times 255, rounded half to even; NaN as 0.
    auto f = torch::tensor({0.0f, 0.5f, 1.0f, 1.5f, -1.0f, 0.25f, std::nanf(""), 0.2f, 0.8f}).view({1, 3, 3});
    tb.image("float", f, 0);
    im["float"].push_back({{"step", 0}, {"height", 3}, {"width", 3}, {"channels", 1},
                           {"pixels", Json::array({0, 128, 255, 255, 0, 64, 0, 51, 204})}});
  }

  // ---- A resumed writer: run A logs steps 0..9 (and an image at 8), "crashes"; run B resumes at 5
  // (SessionLog START at 5): TensorBoard shows A's 0..4, then B's 5..12, and not A's image. ----
  {
    const auto dir = (root / "resume").string();
    {
      TensorBoard a(dir);
      a.session_start(0);  // every run starts a session (TensorBoard's server ignores a folder's first)
      for (int64_t s = 0; s < 10; ++s) a.scalar("loss", double(s), s);
      a.image("pic", torch::zeros({2, 2}, torch::kUInt8), 8);
    }
    TensorBoard b(dir);
    b.session_start(5);
    for (int64_t s = 5; s <= 12; ++s) b.scalar("loss", 100.0 + double(s), s);
    b.image("late", torch::full({2, 2}, 200, torch::kUInt8), 12);
    Json& r = expected["resume"];
    for (int64_t s = 0; s <= 12; ++s) r["scalars"]["loss"].push_back(Json::array({s, s < 5 ? double(s) : 100.0 + double(s)}));
    r["images"]["late"].push_back({{"step", 12}, {"height", 2}, {"width", 2}, {"channels", 1}, {"pixels", Json(std::vector<int>(4, 200))}});
    r["orphaned"] = {{"loss", Json::array({5, 6, 7, 8, 9})}, {"pic", Json::array({8})}};
  }

  // ---- The Trainer: a tiny MAE logging every step; checkpoint at step 3, the run goes on to step 6
  // (the steps an interrupted run logged after its checkpoint), then a new trainer resumes from the
  // checkpoint to step 6. TensorBoard must show the records of train.jsonl: steps 1..3 of the first
  // run, 4..6 of the resumed one. -------------------------------------------------------------------
  {
    const auto dir = root / "trainer";
    fs::create_directories(dir);
    ssl::mae::Options o;
    o.encoder = ssl::vit::Options{}.image(8).patch(2).channels(1).dim(16).depth(1).heads(2);
    o.decoder_dim = 8;
    o.decoder_depth = 1;
    o.decoder_heads = 2;
    auto gen = at::make_generator<at::CPUGeneratorImpl>(5);
    auto images = torch::randint(0, 256, {40, 1, 8, 8}, gen, torch::TensorOptions().dtype(torch::kUInt8));
    ssl::data::Loader loader(images, {}, ssl::data::normalize(0.5, 0.25), {.batch_size = 8, .seed = 7});
    auto make = [&] {
      torch::manual_seed(3);
      return ssl::Trainer(ssl::mae::recipe(o), ssl::optim::AdamWOptions{.lr = 1e-3});
    };
    ssl::FitOptions fit{.epochs = 2, .max_steps = 3, .log_every = 1, .metrics_path = (dir / "first.jsonl").string(),
                        .tensorboard_dir = dir.string(), .checkpoint_path = (dir / "ckpt.pt").string(), .progress = 0};
    auto a = make();
    a.fit(loader, fit);
    REQUIRE(a.step() == 3);
    fs::copy_file(dir / "ckpt.pt", dir / "ckpt3.pt");
    fit.max_steps = 6;
    a.fit(loader, fit);  // the same trainer goes on: steps 4..6 (to be orphaned)
    REQUIRE(a.step() == 6);
    auto b = make();
    b.load((dir / "ckpt3.pt").string());
    fit.metrics_path = (dir / "resumed.jsonl").string();
    fit.checkpoint_path.clear();
    b.fit(loader, fit);
    REQUIRE(b.step() == 6);
    // Expected: every number of each kept train.jsonl record but the step, as a float32.
    Json& t = expected["trainer"];
    t["scalars"] = Json::object();
    auto add = [&](const fs::path& jsonl, int64_t below) {
      std::ifstream in(jsonl);
      std::string line;
      int64_t n = 0;
      while (std::getline(in, line)) {
        const auto rec = Json::parse(line);
        const int64_t step = rec["step"].get<int64_t>();
        if (step >= below) continue;
        ++n;
        for (const auto& [k, v] : rec.items())
          if (k != "step" && v.is_number()) t["scalars"][k].push_back(Json::array({step, f32_json(v.get<double>())}));
      }
      return n;
    };
    CHECK(add(dir / "first.jsonl", 4) == 3);  // steps 1..3 (4..6 orphaned)
    CHECK(add(dir / "resumed.jsonl", 1 << 30) == 3);
    REQUIRE(t["scalars"].contains("loss"));
    REQUIRE(t["scalars"].contains("lr"));
    REQUIRE(t["scalars"].contains("items_per_s"));
    REQUIRE(t["scalars"].contains("epoch"));  // (and the loss parts, for a loss that has some)
    t["orphaned"] = {{"loss", Json::array({4, 5, 6})}};
  }

  std::ofstream(root / "expected.json") << ssl::train::dump(expected, 1) << "\n";
  MESSAGE("wrote ", (root / "expected.json").string());
}
}  // TEST_SUITE("tensorboard_write")

}  // namespace test_tensorboard
