// Audio decoding (io/audio.hpp) and audio folders (data/audio_folder.hpp): values and errors on
// files written here, byte by byte or through libsndfile's writer ("audio"), and the corpus of
// scripts/make_speech_corpus.sh read back ("speech_corpus", reads $SSL_SPEECH_CORPUS: the CTest
// fixture speech_corpus).
// LibTorch before doctest, as under the precompiled header: c10's glog-style CHECK must not
// shadow doctest's.
#include <ssl/data/audio_folder.hpp>
#include <ssl/data/loader.hpp>
#include <ssl/io/audio.hpp>
#include <doctest/doctest.h>

#include "util.hpp"

#include <sndfile.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_audio {

namespace fs = std::filesystem;

namespace {
using ssl_test::slurp;
using ssl_test::spit;
doctest::Contains has(const std::string& s) { return doctest::Contains(s.c_str()); }

/// `v` as `bytes` little-endian bytes.
std::string le(uint64_t v, int bytes) {
  std::string s;
  for (int i = 0; i < bytes; ++i) s.push_back(char((v >> (8 * i)) & 0xFF));
  return s;
}
/// A canonical 44-byte-header PCM WAV around `data`; `declared`: the data size the header states
/// (default: the true one).
std::string wav(const std::string& data, int channels = 1, int rate = 16000, int bits = 16,
                int64_t declared = -1) {
  const uint64_t size = declared < 0 ? data.size() : uint64_t(declared);
  const int align = channels * bits / 8;
  return "RIFF" + le(36 + size, 4) + "WAVE" + "fmt " + le(16, 4) + le(1, 2) + le(uint64_t(channels), 2) +
         le(uint64_t(rate), 4) + le(uint64_t(rate * align), 4) + le(uint64_t(align), 2) + le(uint64_t(bits), 2) +
         "data" + le(size, 4) + data;
}
/// int16 samples (interleaved) as PCM16 bytes.
std::string pcm16(const std::vector<int>& v) {
  std::string s;
  for (int x : v) s += le(uint64_t(uint16_t(int16_t(x))), 2);
  return s;
}
/// A tensor of doubles as float32.
torch::Tensor f32(std::vector<double> v, std::vector<int64_t> shape) {
  return torch::tensor(v, torch::kFloat64).view(shape).to(torch::kFloat32);
}
/// Writes `frames` interleaved frames through libsndfile in `format`.
template <class T>
void write_sf(const fs::path& p, int format, int channels, int rate, const std::vector<T>& data) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  REQUIRE(sf_format_check(&info));
  SNDFILE* f = sf_open(p.string().c_str(), SFM_WRITE, &info);
  REQUIRE(f);
  const sf_count_t frames = sf_count_t(data.size()) / channels;
  sf_count_t n = 0;
  if constexpr (std::is_same_v<T, short>) n = sf_writef_short(f, data.data(), frames);
  if constexpr (std::is_same_v<T, int>) n = sf_writef_int(f, data.data(), frames);
  if constexpr (std::is_same_v<T, float>) n = sf_writef_float(f, data.data(), frames);
  CHECK(n == frames);
  sf_close(f);
}
/// (x - mean) / sqrt(var + 1e-7) over all of `x`, in double, as float32.
torch::Tensor hf_norm(const torch::Tensor& x) {
  auto d = x.to(torch::kFloat64);
  const auto m = d.mean();
  return ((d - m) / ((d - m).square().mean() + 1e-7).sqrt()).to(torch::kFloat32);
}
}  // namespace

TEST_SUITE("audio") {
TEST_CASE("read_audio: PCM16 WAVs written byte by byte read back as int16 / 32768") {
  ssl_test::TempDir tmp("ssl_test_audio_pcm16");
  const auto& d = tmp.path;
  const std::vector<int> mono{0, 1, -1, 32767, -32768, 12345, -20000, 7};
  spit(d / "mono.wav", wav(pcm16(mono)));
  auto a = ssl::io::read_audio(d / "mono.wav");
  CHECK(a.rate == 16000);
  CHECK((a.samples.scalar_type() == torch::kFloat32));
  std::vector<double> want;
  for (int v : mono) want.push_back(v / 32768.0);
  CHECK(torch::equal(a.samples, f32(want, {1, 8})));

  // 2 channels, interleaved L R L R ...: channel c is row c; to_mono is their mean
  spit(d / "stereo.wav", wav(pcm16({100, -32768, -200, 0, 300, 32767}), 2, 44100));
  auto s = ssl::io::read_audio(d / "stereo.wav");
  CHECK(s.rate == 44100);
  CHECK(torch::equal(s.samples, f32({100 / 32768.0, -200 / 32768.0, 300 / 32768.0, -1.0, 0.0, 32767 / 32768.0}, {2, 3})));
  CHECK(torch::allclose(ssl::io::to_mono(s.samples),
                        f32({(100 - 32768) / 65536.0, -200 / 65536.0, (300 + 32767) / 65536.0}, {3}), 0, 1e-7));

  // a header with the placeholder size of a program writing to a pipe (espeak-ng --stdout) is read to the end
  spit(d / "stream.wav", wav(pcm16({5, -5, 1000}), 1, 22050, 16, 0x7FFFF000));
  CHECK(torch::equal(ssl::io::read_audio(d / "stream.wav").samples, f32({5 / 32768.0, -5 / 32768.0, 1000 / 32768.0}, {1, 3})));
}

TEST_CASE("read_audio: 8-bit and 32-bit WAVs, float WAVs, FLAC exactly; OGG Vorbis closely") {
  ssl_test::TempDir tmp("ssl_test_audio_formats");
  const auto& d = tmp.path;
  // 8-bit WAV is unsigned: (u - 128) / 128
  spit(d / "u8.wav", wav(std::string("\x00\x80\xff\x40", 4), 1, 8000, 8));
  CHECK(torch::equal(ssl::io::read_audio(d / "u8.wav").samples, f32({-1.0, 0.0, 127 / 128.0, -0.5}, {1, 4})));
  // 32-bit integer PCM: v / 2^31
  const std::vector<int> i32{0, 1 << 30, -(1 << 30), 123456789, -2147483647 - 1};
  write_sf(d / "i32.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_32, 1, 16000, i32);
  std::vector<double> want32;
  for (int v : i32) want32.push_back(v / 2147483648.0);
  CHECK(torch::allclose(ssl::io::read_audio(d / "i32.wav").samples, f32(want32, {1, 5}), 1e-7, 0));
  // float WAV: as stored, beyond [-1, 1] too
  write_sf(d / "float.wav", SF_FORMAT_WAV | SF_FORMAT_FLOAT, 2, 48000, std::vector<float>{0.25f, -0.75f, 1.5f, -2.0f});
  auto fl = ssl::io::read_audio(d / "float.wav");
  CHECK(fl.rate == 48000);
  CHECK(torch::equal(fl.samples, f32({0.25, 1.5, -0.75, -2.0}, {2, 2})));
  // FLAC (lossless, 16-bit), 1000 frames: more than one FLAC block
  std::vector<short> ramp;
  for (int k = 0; k < 1000; ++k) ramp.push_back(short(k * 37 - 18000));
  write_sf(d / "ramp.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1, 22050, ramp);
  auto fa = ssl::io::read_audio(d / "ramp.flac");
  CHECK(fa.rate == 22050);
  CHECK(torch::equal(fa.samples, (torch::arange(1000, torch::kFloat64) * 37 - 18000).div(32768).to(torch::kFloat32).view({1, 1000})));
  // OGG Vorbis (lossy): the frame count, and a sine within Vorbis' error
  std::vector<float> sine;
  for (int k = 0; k < 8000; ++k) sine.push_back(0.5f * std::sin(0.1f * float(k)));
  write_sf(d / "sine.ogg", SF_FORMAT_OGG | SF_FORMAT_VORBIS, 1, 16000, sine);
  auto og = ssl::io::read_audio(d / "sine.ogg");
  REQUIRE((og.samples.sizes() == std::vector<int64_t>{1, 8000}));
  CHECK((og.samples[0] - torch::tensor(sine)).abs().max().item<double>() < 0.05);
  // the format comes from the bytes: a FLAC named .wav is a FLAC
  fs::copy_file(d / "ramp.flac", d / "flac_named.wav");
  CHECK(torch::equal(ssl::io::read_audio(d / "flac_named.wav").samples, fa.samples));
}

TEST_CASE("read_audio: every bad file throws a c10::Error naming it, what was expected and what came") {
  ssl_test::TempDir tmp("ssl_test_audio_bad");
  const auto& d = tmp.path;
  using ssl::io::read_audio;
  CHECK_THROWS_WITH_AS(read_audio(d / "nope.wav"),
                       has("read_audio: expected an audio file at '" + (d / "nope.wav").string() + "', got nothing there"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(read_audio(d), has("expected an audio file at '" + d.string() + "', got a folder"), c10::Error);
  spit(d / "text.wav", "hello, this is not audio\n");
  CHECK_THROWS_WITH_AS(read_audio(d / "text.wav"),
                       has("read_audio: '" + (d / "text.wav").string() +
                           "': expected an audio file libsndfile reads (WAV, FLAC, OGG, ...), got: "),
                       c10::Error);
  // 1000 frames declared (2000 bytes), 600 bytes there; and the header alone
  const auto full = wav(pcm16(std::vector<int>(1000, 7)));
  spit(d / "cut.wav", full.substr(0, 44 + 600));
  CHECK_THROWS_WITH_AS(read_audio(d / "cut.wav"),
                       has("'" + (d / "cut.wav").string() +
                           "': corrupt or truncated: expected the 2000 bytes of audio data its header declares, got 600"),
                       c10::Error);
  spit(d / "header.wav", full.substr(0, 44));
  CHECK_THROWS_WITH_AS(read_audio(d / "header.wav"), has("expected the 2000 bytes of audio data its header declares, got 0"),
                       c10::Error);
  // a complete file with no frames
  spit(d / "empty.wav", wav(""));
  CHECK_THROWS_WITH_AS(read_audio(d / "empty.wav"),
                       has("'" + (d / "empty.wav").string() + "': expected at least one frame of audio, got 0"),
                       c10::Error);
  // a FLAC cut in half: its header declares 1000 frames, the decoder stops short
  std::vector<short> ramp;
  for (int k = 0; k < 1000; ++k) ramp.push_back(short(k * 37 - 18000));
  write_sf(d / "ramp.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 1, 16000, ramp);
  const auto flac = slurp(d / "ramp.flac");
  spit(d / "cut.flac", flac.substr(0, flac.size() / 2));
  CHECK_THROWS_WITH_AS(read_audio(d / "cut.flac"),
                       has("'" + (d / "cut.flac").string() + "': corrupt or truncated: expected the 1000 frames its header declares, got "),
                       c10::Error);
  // a small FLAC declaring 2^33 frames (STREAMINFO's 36-bit total, bytes 18..25): refused before
  // anything is allocated
  std::string big = flac;
  REQUIRE(big.substr(0, 4) == "fLaC");
  uint64_t v = 0;
  for (int k = 18; k < 26; ++k) v = (v << 8) | uint8_t(big[size_t(k)]);
  v = (v & ~((uint64_t(1) << 36) - 1)) | (uint64_t(1) << 33);
  for (int k = 25; k >= 18; --k, v >>= 8) big[size_t(k)] = char(v & 0xFF);
  spit(d / "big.flac", big);
  CHECK_THROWS_WITH_AS(read_audio(d / "big.flac"),
                       has("'" + (d / "big.flac").string() +
                           "': expected at most 2147483648 samples (channels x frames), got 1 x 8589934592 declared"),
                       c10::Error);
}

TEST_CASE("to_mono and fit_clip: closed forms and errors") {
  using ssl::data::fit_clip;
  auto two = f32({1, 2, 3, 5, 6, 9}, {2, 3});
  CHECK(torch::equal(ssl::io::to_mono(two), f32({3, 4, 6}, {3})));
  CHECK(torch::equal(ssl::io::to_mono(two.narrow(0, 1, 1)), f32({5, 6, 9}, {3})));
  CHECK_THROWS_WITH_AS(ssl::io::to_mono(torch::zeros({2, 3}, torch::kInt64)),
                       doctest::Contains("to_mono: expected float [channels, frames], got Long [2, 3]"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::io::to_mono(torch::zeros({3})), doctest::Contains("got Float [3]"), c10::Error);

  const auto x = torch::arange(10, torch::kFloat32);
  // center crop: offset (n - length) / 2, rounded down
  CHECK(torch::equal(fit_clip(x, 4, false), f32({3, 4, 5, 6}, {4})));
  CHECK(torch::equal(fit_clip(x.narrow(0, 0, 9), 4, false), f32({2, 3, 4, 5}, {4})));
  CHECK(torch::equal(fit_clip(x, 10, false), x));
  // zero padding at the end
  CHECK(torch::equal(fit_clip(x.narrow(0, 0, 3), 5, false), f32({0, 1, 2, 0, 0}, {5})));
  // normalised over the kept samples, then padded: [1, 2, 3, 4]: mean 2.5, variance 1.25
  const double s = std::sqrt(1.25 + 1e-7);
  CHECK(torch::allclose(fit_clip(x.narrow(0, 1, 4), 6, true),
                        f32({-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s, 0, 0}, {6}), 0, 1e-7));
  // cropped first: [3, 4, 5, 6], the same values
  CHECK(torch::allclose(fit_clip(x, 4, true), f32({-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s}, {4}), 0, 1e-7));
  // a constant clip: 0, not NaN (the 1e-7)
  CHECK(torch::equal(fit_clip(torch::full({5}, 0.3), 5, true), torch::zeros({5})));
  CHECK((fit_clip(x.to(torch::kFloat64), 4, false).scalar_type() == torch::kFloat32));
  CHECK_THROWS_WITH_AS(fit_clip(x, 0, true), doctest::Contains("fit_clip: expected length > 0, got 0"), c10::Error);
  CHECK_THROWS_WITH_AS(fit_clip(torch::zeros({0}), 4, true),
                       doctest::Contains("fit_clip: expected a float signal [frames], frames > 0, got Float [0]"),
                       c10::Error);
}

TEST_CASE("AudioFolder: class folders, flat folders, list files, file vectors; mixdown, crop, pad, normalise") {
  ssl_test::TempDir tmp("ssl_test_audio_folders");
  const auto& d = tmp.path;
  // yes/a.wav: 8 frames mono; yes/sub/b.FLAC: 12 frames stereo; no/c.wav: 5 frames
  const std::vector<int> a{100, -100, 200, -200, 300, -300, 400, -400};
  spit(d / "cls/yes/a.wav", wav(pcm16(a)));
  std::vector<short> b;
  for (int k = 0; k < 12; ++k) {
    b.push_back(short(1000 * k));
    b.push_back(short(-500 * k + 64));
  }
  fs::create_directories(d / "cls/yes/sub");
  write_sf(d / "cls/yes/sub/b.FLAC", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 2, 16000, b);
  spit(d / "cls/no/c.wav", wav(pcm16({1, 2, 3, 4, 5})));
  spit(d / "cls/no/notes.txt", "ignored");
  spit(d / "cls/.hidden/x.wav", "ignored, not even read");
  spit(d / "cls/no/.y.wav", "ignored, not even read");

  using ssl::data::AudioFolder;
  static_assert(ssl::data::SampleDataset<AudioFolder>);
  AudioFolder raw(d / "cls", {.length = 8, .normalize = false});
  REQUIRE(raw.size() == 3);
  CHECK(raw.labelled());
  CHECK((raw.classes() == std::vector<std::string>{"no", "yes"}));
  CHECK(raw.path(0) == d / "cls/no/c.wav");
  CHECK(raw.path(1) == d / "cls/yes/a.wav");
  CHECK(raw.path(2) == d / "cls/yes/sub/b.FLAC");
  CHECK(raw.options().rate == 16000);
  for (int64_t i = 0; i < 3; ++i) {
    auto s = raw.get(i);
    CHECK((s.input.sizes() == std::vector<int64_t>{8}));
    CHECK((s.input.scalar_type() == torch::kFloat32));
    CHECK(s.target == (i == 0 ? 0 : 1));
    CHECK(raw.target(i) == s.target);
  }
  // c: 5 frames, padded; a: exactly 8; b: mean of the channels, frames 2..9 of 12
  CHECK(torch::equal(raw.get(0).input, f32({1 / 32768.0, 2 / 32768.0, 3 / 32768.0, 4 / 32768.0, 5 / 32768.0, 0, 0, 0}, {8})));
  std::vector<double> wa, wb;
  for (int v : a) wa.push_back(v / 32768.0);
  for (int k = 2; k < 10; ++k) wb.push_back((1000.0 * k + (-500.0 * k + 64)) / 2 / 32768);
  CHECK(torch::equal(raw.get(1).input, f32(wa, {8})));
  CHECK(torch::allclose(raw.get(2).input, f32(wb, {8}), 0, 1e-7));

  // normalised (the default): over the real samples, padding after
  AudioFolder norm(d / "cls", {.length = 8});
  auto c = norm.get(0).input;
  // (the variance of these tiny values, 2 / 32768^2, is small beside the 1e-7: they end near +-0.19, not +-1.41)
  CHECK(torch::allclose(c.narrow(0, 0, 5), hf_norm(f32({1 / 32768.0, 2 / 32768.0, 3 / 32768.0, 4 / 32768.0, 5 / 32768.0}, {5})),
                        1e-5, 1e-6));
  CHECK(std::abs(c[4].item<double>() - 0.1912) < 1e-3);
  CHECK(torch::equal(c.narrow(0, 5, 3), torch::zeros({3})));
  CHECK(torch::allclose(norm.get(1).input, hf_norm(f32(wa, {8})), 1e-5, 1e-6));
  CHECK(torch::allclose(norm.get(2).input, hf_norm(f32(wb, {8})), 1e-5, 1e-6));
  CHECK(std::abs(norm.get(2).input.mean().item<double>()) < 1e-6);

  // flat folder: unlabelled
  AudioFolder flat(d / "cls/yes/sub", {.length = 4});
  CHECK(flat.size() == 1);
  CHECK_FALSE(flat.labelled());
  CHECK(flat.get(0).target == -1);
  // list file: relative to its folder, any name is read, blank lines skipped
  fs::copy_file(d / "cls/no/c.wav", d / "cls/no/c.data");
  spit(d / "list.txt", "cls/no/c.data\n\n  cls/yes/a.wav \r\n" + (d / "cls/yes/sub/b.FLAC").string() + "\n");
  AudioFolder listed(d / "list.txt", {.length = 8, .normalize = false});
  REQUIRE(listed.size() == 3);
  CHECK_FALSE(listed.labelled());
  CHECK(listed.path(1) == d / "cls/yes/a.wav");
  for (int64_t i = 0; i < 3; ++i) CHECK(torch::equal(listed.get(i).input, raw.get(i).input));
  AudioFolder vec(std::vector<fs::path>{d / "cls/yes/a.wav"}, {.length = 3, .normalize = false});
  CHECK(torch::equal(vec.get(0).input, f32({200 / 32768.0, -200 / 32768.0, 300 / 32768.0}, {3})));

  // through a loader with 2 workers: [B, length] batches and the labels; get from several threads
  ssl::data::Loader loader(norm, nullptr, {.batch_size = 3, .shuffle = false, .prefetch = 2, .workers = 2});
  int batches = 0;
  loader.run(0, 0, [&](const ssl::Batch& batch, int64_t) {
    CHECK((batch.input.sizes() == std::vector<int64_t>{3, 8}));
    CHECK(torch::equal(batch.target, torch::tensor({0, 1, 1}, torch::kInt64)));
    CHECK(torch::equal(batch.input[2], norm.get(2).input));
    return ++batches > 0;
  });
  CHECK(batches == 1);
  std::vector<torch::Tensor> serial;
  for (int64_t i = 0; i < 3; ++i) serial.push_back(norm.get(i).input);
  std::atomic<int> wrong{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < 4; ++t)
    pool.emplace_back([&] {
      for (int rep = 0; rep < 10; ++rep)
        for (int64_t i = 0; i < 3; ++i)
          if (!torch::equal(norm.get(i).input, serial[size_t(i)])) ++wrong;
    });
  for (auto& th : pool) th.join();
  CHECK(wrong.load() == 0);
}

TEST_CASE("AudioFolder errors name the path") {
  ssl_test::TempDir tmp("ssl_test_audio_folder_errors");
  const auto& d = tmp.path;
  spit(d / "mixed/cls/a.wav", wav(pcm16({1, 2})));
  spit(d / "mixed/loose.wav", wav(pcm16({1, 2})));
  spit(d / "emptycls/a/x.wav", wav(pcm16({1, 2})));
  spit(d / "emptycls/b/readme.txt", "no audio");
  spit(d / "nothing/a.txt", "x");
  spit(d / "list.txt", "a.wav\n");
  spit(d / "rates/fast.wav", wav(pcm16({1, 2, 3}), 1, 22050));
  spit(d / "rates/bad.ogg", "not an ogg");
  using ssl::data::AudioFolder;
  CHECK_THROWS_WITH_AS(
      AudioFolder(d / "nope", {.length = 8}),
      has("AudioFolder: expected a folder of audio files or a list file at '" + (d / "nope").string() + "', got nothing"),
      c10::Error);
  CHECK_THROWS_WITH_AS(AudioFolder(d / "mixed", {.length = 8}),
                       doctest::Contains("to hold either class folders or audio files, got both (e.g. folder 'cls' and "
                                         "audio file 'loose.wav')"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(AudioFolder(d / "emptycls", {.length = 8}),
                       has("AudioFolder: expected audio files (.wav, .flac, .ogg) in class folder '" +
                           (d / "emptycls/b").string() + "', got none"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(AudioFolder(d / "nothing", {.length = 8}),
                       has("expected at least one audio file in '" + (d / "nothing").string() +
                           "', got none (audio files end .wav, .flac or .ogg)"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(AudioFolder(d / "list.txt", {.length = 8}),
                       has("list.txt' line 1: expected an existing audio file, got '" + (d / "a.wav").string()),
                       c10::Error);
  CHECK_THROWS_WITH_AS(AudioFolder(std::vector<fs::path>{}, {.length = 8}),
                       doctest::Contains("AudioFolder: expected at least one audio file, got an empty list"), c10::Error);
  CHECK_THROWS_WITH_AS(AudioFolder(d / "mixed/cls", {}),
                       doctest::Contains("AudioFolderOptions: expected length > 0 (samples per clip), got 0"), c10::Error);
  CHECK_THROWS_WITH_AS(AudioFolder(d / "mixed/cls", {.rate = 0, .length = 8}),
                       doctest::Contains("AudioFolderOptions: expected rate > 0 (Hz), got 0"), c10::Error);
  AudioFolder ok(d / "mixed/cls", {.length = 8});
  CHECK_THROWS_WITH_AS(ok.get(1), doctest::Contains("AudioFolder::get: expected an index in [0, 1), got 1"), c10::Error);
  CHECK_THROWS_WITH_AS(ok.path(-1), doctest::Contains("AudioFolder::path: expected an index in [0, 1), got -1"), c10::Error);
  // files are read by get: another rate, a file that is not audio
  AudioFolder rates(d / "rates", {.length = 8});
  REQUIRE(rates.size() == 2);
  CHECK_THROWS_WITH_AS(rates.get(1),
                       has("AudioFolder: '" + (d / "rates/fast.wav").string() +
                           "': expected a sample rate of 16000 Hz (AudioFolderOptions::rate), got 22050 Hz"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(rates.get(0), has("read_audio: '" + (d / "rates/bad.ogg").string() + "': expected an audio file"),
                       c10::Error);
  AudioFolder at22k(std::vector<fs::path>{d / "rates/fast.wav"}, {.rate = 22050, .length = 3, .normalize = false});
  CHECK(torch::equal(at22k.get(0).input, f32({1 / 32768.0, 2 / 32768.0, 3 / 32768.0}, {3})));
}
}

// The corpus of scripts/make_speech_corpus.sh (CTest fixture speech_corpus): the counts its stamp
// promises, 16 kHz mono clips, the ten digits as classes, and test voices heard nowhere else.
TEST_SUITE("speech_corpus") {
TEST_CASE("the generated speech corpus reads back through AudioFolder as its layout promises") {
  const char* env = std::getenv("SSL_SPEECH_CORPUS");
  REQUIRE_MESSAGE(env, "SSL_SPEECH_CORPUS: expected the folder of scripts/make_speech_corpus.sh (CTest sets it)");
  const fs::path root = env;
  // the arguments the corpus was made with: "... voices=V test=T reps=R digit_reps=D snr=... seed=... words=a,b,..."
  std::map<std::string, std::string> args;
  std::istringstream stamp(slurp(root / ".speech_corpus.stamp"));
  for (std::string w; stamp >> w;)
    if (auto eq = w.find('='); eq != std::string::npos) args[w.substr(0, eq)] = w.substr(eq + 1);
  REQUIRE(args.count("words"));
  const int64_t V = std::stoll(args["voices"]), T = std::stoll(args["test"]), R = std::stoll(args["reps"]),
                D = std::stoll(args["digit_reps"]);
  const int64_t W = int64_t(std::count(args["words"].begin(), args["words"].end(), ',')) + 1;

  const std::vector<std::string> digits{"eight", "five", "four", "nine", "one", "seven", "six", "three", "two", "zero"};
  using ssl::data::AudioFolder;
  AudioFolder train(root / "digits/train", {.length = 16000}), test(root / "digits/test", {.length = 16000});
  CHECK((train.classes() == digits));
  CHECK((test.classes() == digits));
  CHECK(train.size() == 10 * (V - T) * D);
  CHECK(test.size() == 10 * T * D);
  auto voices = [](const AudioFolder& f) {
    std::set<std::string> v;
    for (int64_t i = 0; i < f.size(); ++i) {
      const auto name = f.path(i).filename().string();
      v.insert(name.substr(0, name.rfind("-r")));
    }
    return v;
  };
  const auto train_voices = voices(train), test_voices = voices(test);
  CHECK(int64_t(train_voices.size()) == V - T);
  CHECK(int64_t(test_voices.size()) == T);
  for (const auto& v : test_voices) CHECK_MESSAGE(!train_voices.count(v), "test voice ", v, " is in digits/train");
  if (R > 0) {
    AudioFolder pre(root / "pretrain", {.length = 16000});
    CHECK(int64_t(pre.classes().size()) == W);
    CHECK(pre.size() == W * (V - T) * R);
    CHECK((voices(pre) == train_voices));
  }
  // every test clip: 16 kHz mono 16-bit, 0.3 to 1.5 s, normalised over its samples
  for (int64_t i = 0; i < test.size(); ++i) {
    auto a = ssl::io::read_audio(test.path(i));
    CHECK(a.rate == 16000);
    CHECK(a.samples.size(0) == 1);
    CHECK(a.samples.size(1) >= 4800);
    CHECK(a.samples.size(1) <= 24000);
    auto s = test.get(i).input.narrow(0, 0, std::min<int64_t>(a.samples.size(1), 16000));
    CHECK(std::abs(s.mean().item<double>()) < 1e-3);
    CHECK(std::abs(s.std(false).item<double>() - 1) < 1e-3);
  }
}
}

}  // namespace test_audio
