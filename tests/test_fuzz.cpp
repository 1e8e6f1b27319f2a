// The short fuzz pass of the suite (CTest entry `fuzz`): every parser target of fuzz/targets.hpp
// replays its seed corpus (fuzz/corpus/<target>/) and the crash inputs fixed so far
// (fuzz/regressions/<target>/), then a few thousand deterministic mutations of those files (bit
// flips, byte overwrites with boundary values, inserts, deletes, truncations, splices). A crash or
// sanitizer report fails the entry; an exception of the parser is the expected refusal. The long
// runs are libFuzzer's (scripts/fuzz.sh, docs/fuzzing.md).
#include <doctest/doctest.h>

#include "../fuzz/targets.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <tuple>
#include <vector>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_fuzz {

namespace fs = std::filesystem;

namespace {

/// fuzz/ of the source tree: $SSL_FUZZ_DIR (set by the CTest entry), else beside this file.
fs::path fuzz_dir() {
  if (const char* env = std::getenv("SSL_FUZZ_DIR"); env && *env) return env;
  return fs::path(__FILE__).parent_path().parent_path() / "fuzz";
}

struct Input {
  std::string name;
  std::vector<uint8_t> bytes;
};

/// The files of `dir` (none when it does not exist), in name order.
std::vector<Input> files_of(const fs::path& dir) {
  std::vector<Input> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const auto s = ssl_fuzz::slurp(e.path());
    out.push_back({e.path().filename().string(), std::vector<uint8_t>(s.begin(), s.end())});
  }
  std::sort(out.begin(), out.end(), [](const Input& a, const Input& b) { return a.name < b.name; });
  return out;
}

/// One to four random edits of `in` (a splice takes its tail from `other`), at most `max_len` bytes.
std::vector<uint8_t> mutate(std::vector<uint8_t> in, const std::vector<uint8_t>& other, size_t max_len,
                            std::mt19937_64& rng) {
  auto below = [&](size_t n) { return n == 0 ? size_t(0) : size_t(rng() % n); };
  static const uint8_t boundary[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, '0', '9', '"', '{', '[', ',', '\n', 0x1f, 0x8b};
  const int edits = 1 + int(rng() % 4);
  for (int e = 0; e < edits; ++e) {
    switch (rng() % 7) {
      case 0:  // flip a bit
        if (!in.empty()) in[below(in.size())] ^= uint8_t(1u << (rng() % 8));
        break;
      case 1:  // a random byte
        if (!in.empty()) in[below(in.size())] = uint8_t(rng());
        break;
      case 2:  // a boundary value
        if (!in.empty()) in[below(in.size())] = boundary[below(sizeof boundary)];
        break;
      case 3: {  // insert 1..8 bytes, random or copied from the input
        const size_t at = below(in.size() + 1), n = 1 + below(8);
        std::vector<uint8_t> ins(n);
        for (auto& b : ins) b = in.empty() || rng() % 2 ? uint8_t(rng()) : in[below(in.size())];
        in.insert(in.begin() + std::ptrdiff_t(at), ins.begin(), ins.end());
        break;
      }
      case 4: {  // delete a range
        if (in.empty()) break;
        const size_t at = below(in.size()), n = 1 + below(std::min<size_t>(16, in.size() - at));
        in.erase(in.begin() + std::ptrdiff_t(at), in.begin() + std::ptrdiff_t(at + n));
        break;
      }
      case 5:  // truncate
        in.resize(below(in.size() + 1));
        break;
      default: {  // splice: our head, the other input's tail
        const size_t cut = below(in.size() + 1), from = below(other.size() + 1);
        in.resize(cut);
        in.insert(in.end(), other.begin() + std::ptrdiff_t(from), other.end());
        break;
      }
    }
  }
  if (in.size() > max_len) in.resize(max_len);
  return in;
}

/// Mutations per target: $SSL_FUZZ_MUTATIONS, else `fallback`.
int mutations(int fallback) {
  if (const char* env = std::getenv("SSL_FUZZ_MUTATIONS"); env && *env) return std::max(0, std::atoi(env));
  return fallback;
}

}  // namespace

TEST_SUITE("fuzz") {

TEST_CASE("fuzz: every target's seeds and regression inputs replay without a crash; the ok_ seeds parse") {
  REQUIRE(fs::is_directory(fuzz_dir() / "corpus"));
  for (const auto& t : ssl_fuzz::targets()) {
    const auto seeds = files_of(fuzz_dir() / "corpus" / t.name);
    int ok = 0;
    for (const auto& s : seeds) {
      INFO("target ", std::string(t.name), ", seed ", s.name);
      const int parsed = t.run(s.bytes.data(), s.bytes.size());
      if (s.name.rfind("ok_", 0) == 0) {
        CHECK(parsed == 1);
        ++ok;
      }
      CHECK(s.bytes.size() <= t.max_len);
    }
    INFO("target ", std::string(t.name));
    CHECK(ok >= 1);  // a target without a valid seed would fuzz nothing but its first check
    for (const auto& r : files_of(fuzz_dir() / "regressions" / t.name)) {
      INFO("target ", std::string(t.name), ", regression input ", r.name);
      (void)t.run(r.bytes.data(), r.bytes.size());
    }
  }
}

TEST_CASE("fuzz: a text model folder's config.json: the RoBERTa fields read back; a wrong kind of either is refused by name") {
  // The seeds of the `config` target that 02 --init of a Hugging Face RoBERTa writes
  // (write_seed_corpus): padding positions and a byte-level BPE.
  const auto dir = fs::temp_directory_path() / "ssl_test_fuzz_config";
  auto load = [&](const char* seed) {
    fs::create_directories(dir);
    fs::copy_file(fuzz_dir() / "corpus" / "config" / seed, dir / "config.json", fs::copy_options::overwrite_existing);
    return ex::ModelConfig::load(dir);
  };
  const auto c = load("ok_roberta_bpe.json");
  CHECK(c.tokenizer == "bpe");
  CHECK(c.padding_positions == std::optional<bool>(true));
  // Written back (as 02 writes a folder's config.json) and read again: the same fields.
  std::ofstream(dir / "config.json") << c.to_json().dump(1);
  const auto again = ex::ModelConfig::load(dir);
  CHECK(again.tokenizer == "bpe");
  CHECK(again.padding_positions == std::optional<bool>(true));
  CHECK(again.to_json() == c.to_json());
  CHECK_THROWS_WITH_AS(load("bad_padding_positions.json"),
                       doctest::Contains("config.json: expected \"padding_positions\" to be true or false, got 1"), c10::Error);
  CHECK_THROWS_WITH_AS(load("bad_tokenizer.json"),
                       doctest::Contains("config.json: expected \"tokenizer\" to be \"wordpiece\" or \"bpe\", got \"sentencepiece\""),
                       c10::Error);
  // A folder written before the fields existed reads as WordPiece without padding positions.
  const auto old = load("ok_config.json");
  CHECK(old.tokenizer == "wordpiece");
  CHECK(!old.padding_positions.has_value());
  fs::remove_all(dir);
}

TEST_CASE("fuzz: a checkpoint whose pickle claims a 4 GiB string is refused by name before LibTorch reserves it") {
  // Found by the checkpoint targets: LibTorch's unpickler reserved the claimed 4 GiB (4.5 GB
  // resident, ~30 s) before finding the record 445 bytes long. load_archive now scans the
  // archive's pickles first.
  const auto path = (fuzz_dir() / "regressions" / "checkpoint" / "libtorch_unpickler_4gib_string.pt").string();
  REQUIRE(fs::exists(path));
  torch::serialize::InputArchive ar;
  CHECK_THROWS_WITH_AS(ssl::train::load_archive(path, ar),
                       doctest::Contains("data.pkl is corrupt: an opcode at byte 26 claims 4294967280 bytes"), c10::Error);
  // The same bytes as a checkpoint's payload (under a valid CRC-32): refused as well.
  const auto bytes = ssl_fuzz::slurp(path);
  CHECK(ssl_fuzz::fuzz_checkpoint_payload(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()) == 0);
}

TEST_CASE("fuzz: damaged archives found by the checkpoint targets are refused by name before LibTorch acts on them") {
  // Found once the checkpoint targets' inputs ran ~50x faster (2026-12-06, docs/fuzzing.md): a
  // LONG_BINPUT storing memo entry 1899115363 (LibTorch's unpickler grew its memo table to 30 GB);
  // a record renamed out of the archive's folder, which stopped the pickle scan from listing the
  // records (LibTorch then reserved the 1.9 GB a string of data.pkl claimed); records stating
  // 2.8 GB and 4 GiB in 3 KB archives (allocated before reading); a tensor whose storage has 24
  // bytes and no data (its first read went through a null pointer: a crash).
  const auto regressions = fuzz_dir() / "regressions";
  // Where the input is (a checkpoint file, or a checkpoint's payload to wrap with its CRC-32), our
  // words after the file's name, and LibTorch's own when it is quoted (without its backtrace).
  struct Case {
    const char* input;
    bool payload;
    const char* message;
    const char* libtorch;
  };
  const Case cases[] = {
      {"checkpoint/libtorch_unpickler_memo_1899115363.pt", false,
       "is damaged: its record data.pkl is corrupt: an opcode at byte 278 stores memo entry 1899115363, more entries than its "
       "326 bytes can number",
       ""},
      {"checkpoint/libtorch_record_outside_folder.pt", false,
       "is damaged: its records are not all in the archive's folder (", "arclive/.data/serialization_id)"},
      {"checkpoint/record_states_2.8gb.pt", false,
       "is damaged: its record code/__torch__.py states 2827878656 bytes, more than its 3383-byte archive can hold even "
       "compressed",
       ""},
      {"checkpoint_payload/record_states_4gib.pt", true,
       "is damaged: its record constants.pkl states 4294967295 bytes, more than its 3407-byte archive can hold even compressed",
       ""},
      {"checkpoint_payload/libtorch_storage_without_data.pt", true,
       "is damaged: a tensor under 'model' has no data behind its storage of 24 bytes (sizes [2, 3], strides [3, 1], storage "
       "offset 0)",
       ""}};
  const auto scratch = fs::temp_directory_path() / ("ssl_fuzz_regressions_" + std::to_string(::getpid()));
  fs::create_directories(scratch);
  for (const auto& c : cases) {
    INFO(c.input);
    const auto input = (regressions / c.input).string();
    REQUIRE(fs::exists(input));
    const auto bytes = ssl_fuzz::slurp(input);
    auto path = input;
    if (c.payload) {  // wrapped as atomic_save wraps a payload: the CRC-32 is valid
      path = (scratch / "wrapped.pt").string();
      ssl::train::detail::wrap_payload(bytes.data(), bytes.size()).save_to(path);
    }
    torch::serialize::InputArchive ar;
    try {
      ssl::train::load_archive(path, ar);
      FAIL("loaded");
    } catch (const c10::Error& e) {
      const std::string msg = e.what_without_backtrace();
      CHECK_MESSAGE(msg.find(path + "' " + c.message) != std::string::npos, msg);
      if (*c.libtorch) CHECK_MESSAGE(msg.find(c.libtorch) != std::string::npos, msg);
      CHECK(msg.find("frame #") == std::string::npos);
    }
    // And through the fuzz targets, which read every tensor they get: refused, no crash.
    const auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
    CHECK((c.payload ? ssl_fuzz::fuzz_checkpoint_payload(data, bytes.size()) : ssl_fuzz::fuzz_checkpoint(data, bytes.size())) == 0);
  }
  fs::remove_all(scratch);
}

TEST_CASE("fuzz: unreadable_tensor finds views past their storage and storages without data") {
  using ssl::train::detail::unreadable_tensor;
  // A view over 4 floats (16 bytes) set without LibTorch's bounds check, as the unpickler does.
  const auto view = [](std::vector<int64_t> sizes, std::vector<int64_t> strides, int64_t offset) {
    const auto base = torch::zeros({4});
    auto v = torch::empty({0});
    v.unsafeGetTensorImpl()->set_storage_keep_dtype(base.storage());
    v.unsafeGetTensorImpl()->set_sizes_and_strides(c10::IntArrayRef(sizes), c10::IntArrayRef(strides), offset);
    return v;
  };
  CHECK(unreadable_tensor(view({4}, {1}, 0)).empty());
  CHECK(unreadable_tensor(view({2, 2}, {1, 2}, 0)).empty());  // the last element: 1 + 2 = 3
  CHECK(unreadable_tensor(view({0, 9}, {9, 1}, 100)).empty());  // no element: nothing is read
  CHECK(unreadable_tensor(view({4}, {2}, 0)) ==
        "its view (sizes [4], strides [2], storage offset 0) reaches past its storage of 16 bytes");
  CHECK(unreadable_tensor(view({2}, {1}, 3)).find("reaches past its storage of 16 bytes") != std::string::npos);
  // 2^40 elements whose last is ~2^60 elements in: counted without overflow.
  CHECK(unreadable_tensor(view({1LL << 20, 1LL << 20}, {1LL << 40, 1LL << 22}, 0)).find("reaches past") != std::string::npos);
  auto data_less = torch::empty({0});
  data_less.unsafeGetTensorImpl()->set_storage_keep_dtype(
      c10::Storage(c10::Storage::use_byte_size_t(), 24, c10::DataPtr(nullptr, torch::kCPU), nullptr, false));
  data_less.unsafeGetTensorImpl()->set_sizes_and_strides(c10::IntArrayRef{2, 3}, c10::IntArrayRef{3, 1}, int64_t{0});
  CHECK(unreadable_tensor(data_less) ==
        "no data behind its storage of 24 bytes (sizes [2, 3], strides [3, 1], storage offset 0)");
  CHECK(unreadable_tensor(torch::Tensor()).empty());
}

TEST_CASE("fuzz: seeded mutations of the seeds (bit flips, inserts, deletes, truncations, splices) never crash") {
  uint64_t seed = 0x55AA0000u;
  for (const auto& t : ssl_fuzz::targets()) {
    auto pool = files_of(fuzz_dir() / "corpus" / t.name);
    for (auto& r : files_of(fuzz_dir() / "regressions" / t.name)) pool.push_back(std::move(r));
    REQUIRE(!pool.empty());
    const int n = mutations(4000);
    std::mt19937_64 rng(seed++);
    const auto start = std::chrono::steady_clock::now();
    int parsed = 0;
    for (int i = 0; i < n; ++i) {
      const auto& a = pool[size_t(rng() % pool.size())].bytes;
      const auto& b = pool[size_t(rng() % pool.size())].bytes;
      const auto input = mutate(a, b, t.max_len, rng);
      parsed += t.run(input.data(), input.size());
    }
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    MESSAGE(std::string(t.name), ": ", n, " mutations, ", parsed, " parsed, ", n - parsed, " refused, ", secs, " s");
  }
}

}  // TEST_SUITE

}  // namespace test_fuzz
