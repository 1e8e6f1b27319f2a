// safetensors, IDX and PNG: round trips and clear errors on bad files.
#include "datasets.hpp"

#include <doctest/doctest.h>
#include <ssl/ssl.hpp>
#include <dlfcn.h>
#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <fstream>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_io {

namespace fs = std::filesystem;

namespace {
fs::path tmpdir() {
  auto d = fs::temp_directory_path() / ("ssl_test_io_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}
std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
void spit(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary | std::ios::trunc) << s; }
/// A safetensors file from a handwritten JSON `header` and `data` section.
void write_st(const fs::path& p, const std::string& header, const std::string& data) {
  std::string len(8, '\0');
  for (int i = 0; i < 8; ++i) len[size_t(i)] = char((uint64_t(header.size()) >> (8 * i)) & 0xFF);
  spit(p, len + header + data);
}
void write_gz(const fs::path& p, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}
}  // namespace

TEST_SUITE("io") {
TEST_CASE("std::filesystem resolves to the program's libstdc++, not to the copy the LibTorch wheel exports") {
  // pytorch/pytorch#133437: libtorch exports a static copy of std::filesystem; with LibTorch
  // 2.11 an executable whose calls bind to it crashes in remove_all. ssl_fix_torch_wheel_links()
  // puts a shared libstdc++ ahead of libtorch, or links a static-only toolchain's libstdc++.a
  // whole into the executable; this checks where the calls land: libstdc++.so or this program.
  namespace fs = std::filesystem;
  const auto where = [](const void* f) {
    Dl_info info{};
    REQUIRE(dladdr(f, &info) != 0);
    return std::string(info.dli_fname ? info.dli_fname : "?");
  };
  const auto remove_all = static_cast<std::uintmax_t (*)(const fs::path&)>(&fs::remove_all);
  const auto rename = static_cast<void (*)(const fs::path&, const fs::path&)>(&fs::rename);
  const auto self = where(reinterpret_cast<const void*>(&tmpdir));  // a function of this program
  for (const auto& lib : {where(reinterpret_cast<const void*>(remove_all)), where(reinterpret_cast<const void*>(rename))}) {
    INFO("resolved in ", lib, " (this program: ", self, ")");
    CHECK((lib.find("libstdc++") != std::string::npos || lib == self));
    CHECK(lib.find("libtorch") == std::string::npos);
  }
}

TEST_CASE("safetensors round trip keeps names, dtypes, shapes and bits") {
  auto d = tmpdir();
  torch::manual_seed(0);
  ssl::io::TensorMap t{{"a.weight", torch::randn({3, 4})},
                       {"b", torch::randint(0, 100, {5}, torch::kInt64)},
                       {"c", torch::randn({2, 2}).to(torch::kBFloat16)},
                       {"scalar", torch::tensor(3.5)},
                       {"flag", torch::tensor({true, false})},
                       {"empty", torch::zeros({0, 3})},
                       {"view", torch::arange(12, torch::kFloat32).view({3, 4}).t()}};
  ssl::io::save_safetensors((d / "x.safetensors").string(), t, {{"format", "pt"}});
  auto back = ssl::io::load_safetensors((d / "x.safetensors").string());
  REQUIRE(back.size() == t.size());
  for (const auto& [k, v] : t) {
    CHECK((back.at(k).scalar_type() == v.scalar_type()));
    CHECK(back.at(k).sizes() == v.sizes());
    CHECK(torch::equal(back.at(k), v));
  }
}

TEST_CASE("safetensors: loaded tensors map the file copy-on-write; saving over it keeps them; unaligned bytes are copied") {
  auto d = tmpdir();
  const auto p = (d / "mapped.safetensors").string();
  const auto w = torch::arange(64, torch::kFloat32).view({8, 8});
  ssl::io::save_safetensors(p, {{"w", w}, {"b", torch::ones({3}, torch::kInt64)}});
  const auto on_disk = slurp(p);
  auto t = ssl::io::load_safetensors(p);
  // Written in place: the tensor changes, the file does not.
  t.at("w").mul_(2);
  CHECK(torch::equal(t.at("w"), w * 2));
  CHECK(slurp(p) == on_disk);
  CHECK(torch::equal(ssl::io::load_safetensors(p).at("w"), w));
  // Saved over the very file the tensors come from (a fine-tune writing back where it loaded):
  // the new file is written beside it and renamed, so the old tensors keep their bytes and no
  // temporary file is left.
  ssl::io::save_safetensors(p, {{"w", t.at("w")}, {"b", t.at("b") + 1}});
  CHECK(torch::equal(t.at("w"), w * 2));
  CHECK(torch::equal(t.at("b"), torch::ones({3}, torch::kInt64)));
  const auto again = ssl::io::load_safetensors(p);
  CHECK(torch::equal(again.at("w"), w * 2));
  CHECK(torch::equal(again.at("b"), torch::full({3}, 2, torch::kInt64)));
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(d)) files += e.path().filename().string().starts_with("mapped");
  CHECK(files == 1);
  // A header padded so that the data starts at an odd offset: the F32 tensor's bytes are
  // unaligned and are copied out (same values), the U8 one is a view.
  std::string data(4, '\0');
  const float v = 1.5f;
  std::memcpy(data.data(), &v, 4);
  data += "\x07";
  std::string header = R"({"f":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"u":{"dtype":"U8","shape":[1],"data_offsets":[4,5]}})";
  while ((8 + header.size()) % 4 != 1) header += ' ';
  write_st(d / "odd.st", header, data);
  const auto odd = ssl::io::load_safetensors((d / "odd.st").string());
  CHECK(odd.at("f").item<float>() == 1.5f);
  CHECK(odd.at("u").item<uint8_t>() == 7);
  // Names and metadata with quotes, backslashes and control characters are valid JSON.
  ssl::io::save_safetensors((d / "names.st").string(), {{"a\"b\\c\n\x01", torch::zeros({1})}}, {{"k\t", "v\"\x02"}});
  CHECK(ssl::io::load_safetensors((d / "names.st").string()).contains("a\"b\\c\n\x01"));
}

TEST_CASE("safetensors: truncated, garbage and inconsistent files give clear errors") {
  auto d = tmpdir();
  const auto good = d / "good.safetensors";
  ssl::io::save_safetensors(good.string(), {{"w", torch::randn({16, 16})}});
  const auto bytes = slurp(good);
  auto load = [](const fs::path& p) { return ssl::io::load_safetensors(p.string()); };

  spit(d / "short", bytes.substr(0, 5));
  CHECK_THROWS_WITH_AS(load(d / "short"), doctest::Contains("too short"), c10::Error);
  spit(d / "trunc", bytes.substr(0, bytes.size() - 100));
  CHECK_THROWS_WITH_AS(load(d / "trunc"), doctest::Contains("outside the"), c10::Error);
  std::string huge = bytes;
  huge[6] = char(0x7f);  // header length far beyond the file
  spit(d / "huge", huge);
  CHECK_THROWS_WITH_AS(load(d / "huge"), doctest::Contains("truncated or not a safetensors file"), c10::Error);
  std::string garbage = bytes;
  garbage[8] = 'x';  // the JSON header no longer starts with '{'
  spit(d / "garbage", garbage);
  CHECK_THROWS_WITH_AS(load(d / "garbage"), doctest::Contains("malformed JSON header"), c10::Error);
  std::string dtype = bytes;
  dtype.replace(dtype.find("F32"), 3, "Q32");
  spit(d / "dtype", dtype);
  CHECK_THROWS_WITH_AS(load(d / "dtype"), doctest::Contains("unsupported dtype Q32"), c10::Error);
  CHECK_THROWS_WITH_AS(load(d / "missing"), doctest::Contains("cannot open"), c10::Error);

  ssl::vit::Encoder enc(ssl::vit::Options{}.image(8).patch(4).channels(1).dim(8).depth(1).heads(2));
  ssl::io::save_module((d / "enc.safetensors").string(), *enc);
  ssl::vit::Encoder other(ssl::vit::Options{}.image(8).patch(4).channels(1).dim(8).depth(1).heads(2));
  ssl::io::load_into(*other, ssl::io::load_safetensors((d / "enc.safetensors").string()));
  CHECK(torch::equal(other->cls_token, enc->cls_token));
  ssl::vit::Encoder wider(ssl::vit::Options{}.image(8).patch(4).channels(1).dim(12).depth(1).heads(2));
  CHECK_THROWS_WITH_AS(ssl::io::load_into(*wider, ssl::io::load_safetensors((d / "enc.safetensors").string())),
                       doctest::Contains("the module expects"), c10::Error);
}

TEST_CASE("safetensors: deep nesting, huge headers, duplicate keys, bad numbers and escapes name the file") {
  using doctest::Contains;
  auto d = tmpdir();
  auto load = [](const fs::path& p) { return ssl::io::load_safetensors(p.string()); };
  const std::string w16 = R"("w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})";
  const std::string data(16, '\0');
  write_st(d / "ok.st", "{" + w16 + "}", data);
  CHECK(load(d / "ok.st").at("w").sizes() == torch::IntArrayRef({4}));
  // A header nested 50 000 levels deep: refused while parsing, no stack overflow.
  write_st(d / "deep.st", "{\"a\":" + std::string(50000, '[') + std::string(50000, ']') + "}", "");
  CHECK_THROWS_WITH_AS(load(d / "deep.st"),
                       Contains("deep.st' has a malformed JSON header (expected at most 64 levels of nesting, got more)"),
                       c10::Error);
  write_st(d / "deepobj.st", [] {
    std::string h;
    for (int i = 0; i < 50000; ++i) h += "{\"a\":";
    return h + "1" + std::string(50000, '}');
  }(), "");
  CHECK_THROWS_WITH_AS(load(d / "deepobj.st"), Contains("expected at most 64 levels of nesting"), c10::Error);
  // A header length over 100 MiB (a sparse file, so nothing large is written).
  {
    std::string len(8, '\0');
    const uint64_t hlen = uint64_t(200) << 20;
    for (int i = 0; i < 8; ++i) len[size_t(i)] = char((hlen >> (8 * i)) & 0xFF);
    spit(d / "bighead.st", len);
    fs::resize_file(d / "bighead.st", 8 + hlen);
  }
  CHECK_THROWS_WITH_AS(load(d / "bighead.st"),
                       Contains("bighead.st': expected a JSON header of at most 100 MiB (104857600 bytes), got 209715200 bytes"),
                       c10::Error);
  fs::remove(d / "bighead.st");
  // Duplicate keys, at the top and inside an entry.
  write_st(d / "dup.st", "{" + w16 + "," + w16 + "}", data);
  CHECK_THROWS_WITH_AS(load(d / "dup.st"),
                       Contains("dup.st' has a malformed JSON header (expected unique keys, got 'w' twice in one object)"),
                       c10::Error);
  write_st(d / "dupfield.st", R"({"w":{"dtype":"F32","dtype":"I32","shape":[4],"data_offsets":[0,16]}})", data);
  CHECK_THROWS_WITH_AS(load(d / "dupfield.st"), Contains("got 'dtype' twice in one object"), c10::Error);
  // Bad escapes and numbers: nlohmann's message, with the file's name.
  write_st(d / "escape.st", R"({"w\u12":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", data);
  CHECK_THROWS_WITH_AS(load(d / "escape.st"), Contains("escape.st' has a malformed JSON header ([json.exception.parse_error"),
                       c10::Error);
  write_st(d / "float.st", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0.5,16]}})", data);
  CHECK_THROWS_WITH_AS(load(d / "float.st"),
                       Contains("float.st' entry 'w': expected data_offsets[0] to be a non-negative integer, got 0.5"),
                       c10::Error);
  write_st(d / "neg.st", R"({"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})", data);
  CHECK_THROWS_WITH_AS(load(d / "neg.st"),
                       Contains("neg.st' entry 'w': expected each shape dimension to be a non-negative integer, got -4"),
                       c10::Error);
  write_st(d / "bignum.st", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,99999999999999999999999]}})", data);
  CHECK_THROWS_WITH_AS(load(d / "bignum.st"), Contains("bignum.st' entry 'w': expected data_offsets[1] to be a non-negative integer"),
                       c10::Error);
  write_st(d / "bigdim.st", R"({"w":{"dtype":"F32","shape":[9223372036854775808],"data_offsets":[0,16]}})", data);
  CHECK_THROWS_WITH_AS(load(d / "bigdim.st"),
                       Contains("bigdim.st' entry 'w': expected each shape dimension below 2^63, got 9223372036854775808"),
                       c10::Error);
  write_st(d / "array.st", "[1,2]", "");
  CHECK_THROWS_WITH_AS(load(d / "array.st"), Contains("array.st': expected the header to be a JSON object, got a JSON array"),
                       c10::Error);
  write_st(d / "meta.st", R"({"__metadata__":{"format":1}})", "");
  CHECK_THROWS_WITH_AS(load(d / "meta.st"), Contains("meta.st': expected __metadata__ values to be strings, got 1"),
                       c10::Error);
}

TEST_CASE("safetensors: data_offsets inside the file, of the tensor's size, never overlapping") {
  using doctest::Contains;
  auto d = tmpdir();
  auto load = [](const fs::path& p) { return ssl::io::load_safetensors(p.string()); };
  const std::string data(32, '\0');
  write_st(d / "reversed.st", R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[16,8]}})", data);
  CHECK_THROWS_WITH_AS(load(d / "reversed.st"),
                       Contains("reversed.st' entry 'w' has data_offsets [16, 8] outside the 32-byte data section "
                                "(expected begin <= end <= 32"),
                       c10::Error);
  write_st(d / "past.st", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[24,40]}})", data);
  CHECK_THROWS_WITH_AS(load(d / "past.st"), Contains("past.st' entry 'w' has data_offsets [24, 40] outside the 32-byte"),
                       c10::Error);
  write_st(d / "size.st", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,8]}})", data);
  CHECK_THROWS_WITH_AS(load(d / "size.st"), Contains("size.st' entry 'w' holds 8 bytes but dtype F32 and shape [4] need 16"),
                       c10::Error);
  write_st(d / "overflow.st",
           R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})", data);
  CHECK_THROWS_WITH_AS(load(d / "overflow.st"),
                       Contains("overflow.st' entry 'w' has shape [4294967296,4294967296] whose byte size overflows 64 bits"),
                       c10::Error);
  write_st(d / "overlap.st",
           R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"I32","shape":[4],"data_offsets":[8,24]}})",
           data);
  CHECK_THROWS_WITH_AS(load(d / "overlap.st"),
                       Contains("overlap.st': entries 'a' [0, 16) and 'b' [8, 24) overlap (expected disjoint data_offsets)"),
                       c10::Error);
  write_st(d / "same.st",
           R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},"a":{"dtype":"I32","shape":[2],"data_offsets":[16,24]}})",
           data);
  CHECK_THROWS_WITH_AS(load(d / "same.st"), Contains("same.st': entries"), c10::Error);
  // Adjacent ranges in any order, and empty tensors anywhere, are fine.
  write_st(d / "fine.st",
           R"({"b":{"dtype":"F32","shape":[4],"data_offsets":[16,32]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[8,8]},)"
           R"("a":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})",
           data);
  const auto t = load(d / "fine.st");
  CHECK(t.size() == 3);
  CHECK(t.at("e").sizes() == torch::IntArrayRef({0, 3}));
  CHECK((t.at("a").scalar_type() == torch::kInt64));
}

TEST_CASE("safetensors: a dtype that disagrees with the module's tensor is an error; F16 / BF16 convert to float") {
  using doctest::Contains;
  auto d = tmpdir();
  torch::nn::Linear lin(2, 2);
  torch::nn::BatchNorm1d bn(2);
  // float16 and bfloat16 weights load into a float32 module, converted.
  const auto w = torch::tensor({{0.5f, -1.0f}, {2.0f, 0.25f}});
  ssl::io::save_safetensors((d / "half.st").string(), {{"weight", w.to(torch::kFloat16)}, {"bias", torch::ones({2}, torch::kBFloat16)}});
  ssl::io::load_into(*lin, ssl::io::load_safetensors((d / "half.st").string()));
  CHECK(torch::equal(lin->weight, w));
  CHECK(torch::equal(lin->bias, torch::ones({2})));
  // F32 bytes never go into an integer tensor, nor integers into a float one.
  ssl::io::save_safetensors((d / "int.st").string(), {{"weight", torch::ones({2, 2}, torch::kInt32)}, {"bias", torch::ones({2})}});
  CHECK_THROWS_WITH_AS(ssl::io::load_into(*lin, ssl::io::load_safetensors((d / "int.st").string()), true, "int.st"),
                       Contains("int.st: tensor 'weight' has dtype I32, the module expects F32 (only floating-point "
                                "tensors are converted on load)"),
                       c10::Error);
  CHECK(torch::equal(lin->weight, w));  // untouched
  ssl::io::TensorMap state;
  for (const auto& p : bn->named_parameters()) state.emplace_back(p.key(), p.value());
  for (const auto& b : bn->named_buffers())
    state.emplace_back(b.key(), b.key() == "num_batches_tracked" ? b.value().to(torch::kFloat32) : b.value());
  ssl::io::save_safetensors((d / "bn.st").string(), state);
  CHECK_THROWS_WITH_AS(ssl::io::load_into(*bn, ssl::io::load_safetensors((d / "bn.st").string())),
                       Contains("safetensors: tensor 'num_batches_tracked' has dtype F32, the module expects I64"),
                       c10::Error);
  // The tokenizers' own loaders check the same.
  ssl::tokenizer::KMeans km(ssl::tokenizer::KMeansOptions{.patch = 2, .codes = 4});
  ssl::io::save_safetensors((d / "km.st").string(),
                            {{"codebook", torch::zeros({4, 4}, torch::kInt64)}, {"pixel_stats", torch::tensor({0.0f, 1.0f})}});
  CHECK_THROWS_WITH_AS(km->load_safetensors((d / "km.st").string()),
                       Contains(("tokenizer::KMeans: '" + (d / "km.st").string() +
                                 "': tensor 'codebook' has dtype I64, the module expects F32")
                                    .c_str()),
                       c10::Error);
}

TEST_CASE("IDX reader: values, and errors for missing, truncated and mismatched files") {
  auto d = tmpdir();
  std::vector<uint8_t> img{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3};
  for (int i = 0; i < 12; ++i) img.push_back(uint8_t(i * 10));
  write_gz(d / "img.gz", img);
  auto t = ssl::data::read_idx((d / "img.gz").string());
  CHECK(t.sizes() == torch::IntArrayRef({2, 2, 3}));
  CHECK(t[1][1][2].item<int>() == 110);
  // also uncompressed
  spit(d / "img.raw", std::string(img.begin(), img.end()));
  CHECK(torch::equal(ssl::data::read_idx((d / "img.raw").string()), t));

  auto cut = img;
  cut.resize(cut.size() - 3);
  write_gz(d / "cut.gz", cut);
  CHECK_THROWS_WITH_AS(ssl::data::read_idx((d / "cut.gz").string()), doctest::Contains("truncated or padded"),
                       c10::Error);
  auto bad = img;
  bad[2] = 0x0D;
  write_gz(d / "bad.gz", bad);
  CHECK_THROWS_WITH_AS(ssl::data::read_idx((d / "bad.gz").string()), doctest::Contains("expected unsigned-byte"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ssl::data::read_idx((d / "nope.gz").string()), doctest::Contains("file not found"), c10::Error);
  // A gzip stream cut in the middle.
  write_gz(d / "big.gz", std::vector<uint8_t>(100000, 7));
  auto gz = slurp(d / "big.gz");
  spit(d / "bigcut.gz", gz.substr(0, gz.size() / 2));
  CHECK_THROWS_WITH_AS(ssl::data::read_idx((d / "bigcut.gz").string()),
                       doctest::Contains("bigcut.gz' is a truncated gzip file"), c10::Error);
  // Only the 8-byte CRC-32 / length trailer cut, or half of it: the payload is complete (a valid
  // IDX file), yet the file is truncated.
  const auto img_gz = slurp(d / "img.gz");
  spit(d / "notrailer.gz", img_gz.substr(0, img_gz.size() - 8));
  CHECK_THROWS_WITH_AS(ssl::data::read_idx((d / "notrailer.gz").string()),
                       doctest::Contains("notrailer.gz' is a truncated gzip file: expected the rest of its compressed "
                                         "data and its 8-byte CRC-32 / length trailer"),
                       c10::Error);
  spit(d / "halftrailer.gz", img_gz.substr(0, img_gz.size() - 4));
  CHECK_THROWS_WITH_AS(ssl::data::read_idx((d / "halftrailer.gz").string()),
                       doctest::Contains("halftrailer.gz' is a truncated gzip file"), c10::Error);
  // A CRC-32 that disagrees with the data, and a length that does.
  auto badcrc = img_gz;
  badcrc[badcrc.size() - 8] = char(badcrc[badcrc.size() - 8] ^ 0x01);
  spit(d / "badcrc.gz", badcrc);
  CHECK_THROWS_WITH_AS(ssl::data::read_idx((d / "badcrc.gz").string()),
                       doctest::Contains("badcrc.gz' is a corrupt gzip file at byte"), c10::Error);
  CHECK_THROWS_WITH_AS(ssl::data::read_idx((d / "badcrc.gz").string()), doctest::Contains("incorrect data check"),
                       c10::Error);
  auto badlen = img_gz;
  badlen[badlen.size() - 4] = char(badlen[badlen.size() - 4] ^ 0x01);
  spit(d / "badlen.gz", badlen);
  CHECK_THROWS_WITH_AS(ssl::data::read_idx((d / "badlen.gz").string()), doctest::Contains("incorrect length check"),
                       c10::Error);
  // Trailing garbage after a complete stream.
  spit(d / "trailing.gz", img_gz + "garbage");
  CHECK_THROWS_WITH_AS(ssl::data::read_idx((d / "trailing.gz").string()),
                       doctest::Contains(("trailing.gz': expected the end of the file or another gzip member after "
                                          "the gzip stream ending at byte " + std::to_string(img_gz.size()) +
                                          ", got 7 bytes of trailing garbage")
                                             .c_str()),
                       c10::Error);
  // Concatenated gzip members are one gzip file (as gzip -d reads them).
  const std::vector<uint8_t> head(img.begin(), img.begin() + 10), rest(img.begin() + 10, img.end());
  write_gz(d / "head.gz", head);
  write_gz(d / "rest.gz", rest);
  spit(d / "two.gz", slurp(d / "head.gz") + slurp(d / "rest.gz"));
  CHECK(torch::equal(ssl::data::read_idx((d / "two.gz").string()), t));
  // IDX dimensions whose product overflows 64 bits.
  std::vector<uint8_t> huge{0, 0, 8, 4};
  for (int i = 0; i < 16; ++i) huge.push_back(0xFF);
  spit(d / "huge.raw", std::string(huge.begin(), huge.end()));
  CHECK_THROWS_WITH_AS(ssl::data::read_idx((d / "huge.raw").string()),
                       doctest::Contains(("read_idx: '" + (d / "huge.raw").string() +
                                          "': the header's dimensions [4294967295, 4294967295] overflow a "
                                          "64-bit element count")
                                             .c_str()),
                       c10::Error);
  // labels and images disagree
  fs::create_directories(d / "fm");
  std::vector<uint8_t> imgs{0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 5, 6};
  std::vector<uint8_t> labels{0, 0, 8, 1, 0, 0, 0, 3, 1, 2, 3};
  write_gz(d / "fm" / "t10k-images-idx3-ubyte.gz", imgs);
  write_gz(d / "fm" / "t10k-labels-idx1-ubyte.gz", labels);
  CHECK_THROWS_WITH_AS(ssl::data::fashion_mnist("test", (d / "fm").string()), doctest::Contains("2 images but 3 labels"),
                       c10::Error);
  CHECK_THROWS_WITH_AS(ssl::data::fashion_mnist("val", (d / "fm").string()), doctest::Contains("split must be"),
                       c10::Error);
}

TEST_CASE("the real Fashion-MNIST files load with the documented sizes") {
  auto test = ssl::data::fashion_mnist("test", test_data::fashion_mnist_dir());
  CHECK(test.images.sizes() == torch::IntArrayRef({10000, 1, 28, 28}));
  CHECK(test.labels.min().item<int64_t>() == 0);
  CHECK(test.labels.max().item<int64_t>() == 9);
  CHECK(torch::bincount(test.labels).eq(1000).all().item<bool>());
}

TEST_CASE("PNG writer: signature, header and a decodable image") {
  auto d = tmpdir();
  auto img = torch::arange(6 * 4, torch::kUInt8).view({1, 6, 4});
  ssl::io::write_png((d / "x.png").string(), img);
  auto s = slurp(d / "x.png");
  REQUIRE(s.size() > 33);
  CHECK(s.substr(1, 3) == "PNG");
  CHECK(s.substr(12, 4) == "IHDR");
  auto be = [&](size_t o) {
    return (uint32_t(uint8_t(s[o])) << 24) | (uint32_t(uint8_t(s[o + 1])) << 16) | (uint32_t(uint8_t(s[o + 2])) << 8) |
           uint8_t(s[o + 3]);
  };
  CHECK(be(16) == 4);  // width
  CHECK(be(20) == 6);  // height
  // Inflate IDAT and compare the rows.
  const auto idat = s.find("IDAT");
  const auto len = be(idat - 4);
  std::vector<uint8_t> raw(6 * 5);
  uLongf n = raw.size();
  REQUIRE(uncompress(raw.data(), &n, reinterpret_cast<const Bytef*>(s.data() + idat + 4), len) == Z_OK);
  CHECK(n == 30);
  CHECK(raw[5 * 2 + 1 + 3] == 11);  // row 2, column 3 = 2*4+3
  CHECK_THROWS_WITH_AS(ssl::io::write_png((d / "y.png").string(), torch::zeros({1, 3, 3})), doctest::Contains("expected uint8"),
                       c10::Error);
}
}

}  // namespace test_io
