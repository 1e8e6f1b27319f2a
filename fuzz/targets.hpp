#pragma once
// Fuzz targets of libssl's parsers (not library API): one function per parser, shared by the
// libFuzzer binary (fuzz/fuzz_main.cpp, built by scripts/fuzz.sh) and the test suite's short pass
// (tests/test_fuzz.cpp, CTest entry `fuzz`).
//
// Each target takes the fuzzer's bytes as the content of one input file (written to a per-process
// scratch folder, /dev/shm when there: the readers take paths) or buffer, and returns 1 when the
// parser accepted it, 0 when it refused it with an exception (c10::Error from TORCH_CHECK, or a
// std::exception such as nlohmann's): both are the expected outcomes for arbitrary bytes. A crash,
// a sanitizer report, an exception of another type, or a hang is a bug.
//
// `write_seed_corpus` writes the seed corpus (fuzz/corpus/<target>/) with the library's own
// writers: files named ok_* must parse, files named bad_* must not crash.
#include <ssl/data/corpus.hpp>
#include <ssl/data/idx.hpp>
#include <ssl/io/png.hpp>
#include <ssl/io/safetensors.hpp>
#include <ssl/text/wordpiece.hpp>
#include <ssl/train/checkpoint.hpp>
#if defined(SSL_WITH_IMAGES)
#include <ssl/io/image.hpp>
#endif

// config.json of a pretrained text model folder: read by the text examples (not by the library);
// its reader is kept in a light header of its own (text_common.hpp needs a newer clang).
#include "../examples/common/model_config.hpp"

#include <torch/torch.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace ssl_fuzz {

namespace fs = std::filesystem;

/// This process's scratch folder for the input files (removed at exit).
inline const fs::path& scratch_dir() {
  struct Dir {
    fs::path path;
    Dir() {
      const fs::path base = fs::is_directory("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
      path = base / ("ssl_fuzz_" + std::to_string(::getpid()));
      fs::create_directories(path);
    }
    ~Dir() {
      std::error_code ec;
      fs::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

/// Writes `data` to the scratch file `name` and returns its path.
inline fs::path write_input(const std::string& name, const uint8_t* data, size_t size) {
  fs::path p = scratch_dir() / name;
  std::FILE* f = std::fopen(p.c_str(), "wb");
  TORCH_CHECK(f != nullptr, "fuzz/targets.hpp: cannot write the scratch file '", p.string(), "'");
  const size_t put = size == 0 ? 0 : std::fwrite(data, 1, size, f);
  std::fclose(f);
  TORCH_CHECK(put == size, "fuzz/targets.hpp: expected to write ", size, " bytes to '", p.string(), "', wrote ", put);
  return p;
}

/// Runs `body`; 1 when it returns, 0 when it throws a std::exception (c10::Error included): the
/// parsers' way of refusing bad input. Anything else propagates (libFuzzer reports it).
template <class F>
int guarded(F&& body) {
  try {
    body();
    return 1;
  } catch (const std::exception&) {
    return 0;
  }
}

// ---- Targets -----------------------------------------------------------------------------------

/// `ssl::io::load_safetensors` on the bytes as a .safetensors file; the tensors are then summed
/// (every byte read back through LibTorch).
inline int fuzz_safetensors(const uint8_t* data, size_t size) {
  return guarded([&] {
    const auto tensors = ssl::io::load_safetensors(write_input("in.safetensors", data, size).string());
    for (const auto& [name, t] : tensors)
      if (t.numel() > 0 && t.scalar_type() != torch::kBool) (void)t.to(torch::kFloat64).sum().item<double>();
  });
}

/// `ssl::data::read_idx` (and through it `read_maybe_gzip`: gzip when the bytes start 1f 8b).
inline int fuzz_idx(const uint8_t* data, size_t size) {
  return guarded([&] { (void)ssl::data::read_idx(write_input("in.idx", data, size).string()); });
}

/// `ssl::text::Vocab::load` on the bytes as a vocab.txt; when it has [UNK], a WordPiece over it
/// encodes the bytes themselves as text (BERT's normaliser and WordPiece on arbitrary UTF-8), and
/// a fixed small vocabulary does too (so the tokenizer is reached even when the vocabulary fails).
inline int fuzz_vocab(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  static const ssl::text::WordPiece fixed(ssl::text::Vocab(
      {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "##a", "##b", "the", "##s", "é", "##é", "中", ",", "."}));
  guarded([&] { (void)fixed.encode_pair(text, text.substr(size / 2), 16); });
  return guarded([&] {
    auto vocab = ssl::text::Vocab::load(write_input("vocab.txt", data, size));
    if (!vocab.contains(ssl::text::kUnkToken)) return;
    const ssl::text::WordPiece wp(std::move(vocab));
    for (const auto id : wp.encode(text)) (void)wp.vocab().token(id);
  });
}

/// The text examples' `ModelConfig::load` (config.json of a pretrained model folder: nlohmann-json
/// and typed field reads).
inline int fuzz_config(const uint8_t* data, size_t size) {
  return guarded([&] {
    write_input("config.json", data, size);
    (void)ex::ModelConfig::load(scratch_dir());
  });
}

/// The reads a `Trainer::load` makes of an archive, on any archive: the run configuration and the
/// tensor layout (strings), then every key as a tensor, a string or a nested archive (depth <= 4).
inline void read_archive(torch::serialize::InputArchive& ar, const std::string& path, int depth) {
  c10::IValue v;
  if (depth == 0) {
    if (ar.try_read("config.tensors", v) && v.isString())
      guarded([&] { ssl::train::detail::check_layout(v.toStringRef(), "w [2, 3]\nb [3]\n", path); });
    if (ar.try_read("config.run", v) && v.isString()) (void)ssl::train::detail::parse_config(v.toStringRef());
  }
  for (const auto& key : ar.keys()) {
    torch::Tensor t;
    if (guarded([&] { ar.read(key, t); }) == 1) {
      if (t.defined() && t.numel() > 0 && t.numel() < (int64_t(1) << 24) && !t.is_sparse() && !t.is_quantized())
        (void)t.sum();
      continue;
    }
    torch::serialize::InputArchive sub;
    if (depth < 4 && guarded([&] { ar.read(key, sub); }) == 1) read_archive(sub, path, depth + 1);
  }
}

/// `ssl::train::load_archive` on the bytes as a checkpoint file (the CRC-32 wrapper or a plain
/// LibTorch archive), then `read_archive`. Most mutations break the zip or the CRC-32: see
/// `fuzz_checkpoint_payload` for the inner archive.
inline int fuzz_checkpoint(const uint8_t* data, size_t size) {
  return guarded([&] {
    const auto path = write_input("checkpoint.pt", data, size).string();
    torch::serialize::InputArchive ar;
    ssl::train::load_archive(path, ar);
    read_archive(ar, path, 0);
  });
}

/// The bytes as the payload of a checkpoint `atomic_save` would write (wrapped with their valid
/// CRC-32), so that every input reaches LibTorch's zip reader and unpickler through `load_archive`.
inline int fuzz_checkpoint_payload(const uint8_t* data, size_t size) {
  return guarded([&] {
    const auto path = (scratch_dir() / "wrapped.pt").string();
    ssl::train::detail::wrap_payload(reinterpret_cast<const char*>(data), size).save_to(path);
    torch::serialize::InputArchive ar;
    ssl::train::load_archive(path, ar);
    read_archive(ar, path, 0);
  });
}

#if defined(SSL_WITH_IMAGES)
/// `ssl::io::decode_image` (JPEG through libjpeg-turbo, PNG through libspng) to 3 channels; what it
/// accepts is decoded again to 1 channel with `min_side` 4 (JPEG's DCT-domain downscaling), and
/// resized and cropped as the image folder loader does. Every decoded byte is read back with
/// `max` (uint8, no temporary): a `sum` would promote to int64 and allocate 8 bytes per decoded
/// byte, 6.4 GB for the largest image the decoder accepts (2^28 pixels x 3), which is this
/// harness's out-of-memory, not the decoder's (docs/fuzzing.md, "Findings").
inline int fuzz_image(const uint8_t* data, size_t size) {
  return guarded([&] {
    const auto rgb = ssl::io::decode_image(data, size, "fuzz", 3);
    const auto gray = ssl::io::decode_image(data, size, "fuzz", 1, 4);
    const auto small = ssl::io::resize_shorter(gray, 8);
    (void)ssl::io::center_crop(small, 8, 8).sum().item<int64_t>();
    if (rgb.numel() > 0) (void)rgb.max().item<uint8_t>();
  });
}
#endif

/// `ssl::data::read_corpus` on the bytes as a JSON Lines file (field "text", label "label" when
/// the first line has one) and as a file of paragraphs.
inline int fuzz_corpus(const uint8_t* data, size_t size) {
  const auto path = write_input("corpus.jsonl", data, size);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const bool labelled = text.substr(0, text.find('\n')).find("\"label\"") != std::string_view::npos;
  guarded([&] { (void)ssl::data::read_corpus(path, {.format = ssl::data::CorpusFormat::paragraphs}); });
  return guarded([&] {
    (void)ssl::data::read_corpus(path, {.format = ssl::data::CorpusFormat::jsonl, .field = "text",
                                        .label_field = labelled ? "label" : ""});
  });
}

/// A fuzz target: its name (the folder of its corpus), its function, the largest input the fuzzer
/// tries (libFuzzer's -max_len).
struct Target {
  const char* name;
  int (*run)(const uint8_t*, size_t);
  size_t max_len;
};

/// Every target, in the order scripts/fuzz.sh runs them.
inline const std::vector<Target>& targets() {
  static const std::vector<Target> all{
      {"safetensors", fuzz_safetensors, 4096},
      {"idx", fuzz_idx, 4096},
      {"vocab", fuzz_vocab, 4096},
      {"config", fuzz_config, 2048},
      {"corpus", fuzz_corpus, 4096},
#if defined(SSL_WITH_IMAGES)
      {"image", fuzz_image, 8192},
#endif
      {"checkpoint", fuzz_checkpoint, 16384},
      {"checkpoint_payload", fuzz_checkpoint_payload, 16384},
  };
  return all;
}

/// The target called `name`, or nullptr.
inline const Target* find_target(std::string_view name) {
  for (const auto& t : targets())
    if (name == t.name) return &t;
  return nullptr;
}

// ---- Seed corpus -------------------------------------------------------------------------------

inline void spit(const fs::path& p, std::string_view bytes) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  TORCH_CHECK(out.good(), "fuzz/targets.hpp: cannot write the seed '", p.string(), "'");
}
inline std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// `bytes` as one gzip member (zlib's deflate with a gzip wrapper).
inline std::string gzip(std::string_view bytes) {
  z_stream zs{};
  TORCH_CHECK(deflateInit2(&zs, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK, "fuzz: deflateInit2");
  std::string out(deflateBound(&zs, uLong(bytes.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  zs.avail_in = uInt(bytes.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = uInt(out.size());
  TORCH_CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END, "fuzz: deflate");
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

#if defined(SSL_WITH_IMAGES)
/// A JPEG of `px` (`h` rows of `w` pixels of `comps` 1 or 3 bytes), through libjpeg.
inline std::string encode_jpeg(const std::vector<uint8_t>& px, int w, int h, int comps, bool progressive) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long len = 0;
  jpeg_mem_dest(&c, &buf, &len);
  c.image_width = JDIMENSION(w);
  c.image_height = JDIMENSION(h);
  c.input_components = comps;
  c.in_color_space = comps == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, 75, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(px.data() + size_t(c.next_scanline) * size_t(w * comps));
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::string out(reinterpret_cast<char*>(buf), len);
  std::free(buf);
  jpeg_destroy_compress(&c);
  return out;
}
#endif

/// Writes the seed corpus of every target under `root/<target>/` (deterministic: the same bytes
/// on every run; scripts/fuzz.sh --make-corpus).
inline void write_seed_corpus(const fs::path& root) {
  auto dir = [&](const char* t) {
    fs::create_directories(root / t);
    return root / t;
  };
  torch::manual_seed(0);
  const auto f32 = torch::arange(6, torch::kFloat32).reshape({2, 3});
  // safetensors
  {
    const auto d = dir("safetensors");
    ssl::io::save_safetensors((d / "ok_two.safetensors").string(), {{"w", f32}, {"b", torch::ones({3})}});
    ssl::io::save_safetensors((d / "ok_dtypes.safetensors").string(),
                              {{"i64", torch::arange(3, torch::kInt64)}, {"u8", torch::arange(4, torch::kUInt8)},
                               {"bf16", torch::ones({2}, torch::kBFloat16)}, {"f16", torch::ones({1, 2}, torch::kFloat16)},
                               {"bool", torch::ones({2}, torch::kBool)}, {"scalar", torch::tensor(1.5)},
                               {"empty", torch::zeros({0, 4})}});
    auto header = [](const std::string& h, const std::string& body) {
      std::string s(8, '\0');
      for (int i = 0; i < 8; ++i) s[size_t(i)] = char((uint64_t(h.size()) >> (8 * i)) & 0xff);
      return s + h + body;
    };
    spit(d / "ok_metadata.safetensors",
         header(R"({"__metadata__":{"format":"pt"},"x":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})",
                std::string(8, '\1')));
    spit(d / "ok_empty.safetensors", header("{}", ""));
    spit(d / "bad_overlap.safetensors",
         header(R"({"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}})",
                std::string(6, 'x')));
    spit(d / "bad_nested.safetensors", header(std::string(100, '[') + std::string(100, ']'), ""));
  }
  // IDX, plain and gzip
  {
    const auto d = dir("idx");
    std::string idx{'\0', '\0', '\x08', '\x02', 0, 0, 0, 3, 0, 0, 0, 4};
    for (int i = 0; i < 12; ++i) idx += char(i * 20);
    spit(d / "ok_2d.idx", idx);
    spit(d / "ok_2d.idx.gz", gzip(idx));
    spit(d / "ok_two_members.gz", gzip(idx.substr(0, 7)) + gzip(idx.substr(7)));
    std::string one{'\0', '\0', '\x08', '\x01', 0, 0, 0, 2, 'a', 'b'};
    spit(d / "ok_1d.idx", one);
    const auto gz = gzip(idx);
    spit(d / "bad_no_trailer.gz", gz.substr(0, gz.size() - 8));
    spit(d / "bad_overflow.idx", std::string{'\0', '\0', '\x08', '\x04', '\x7f', '\xff', '\xff', '\xff', '\x7f', '\xff',
                                             '\xff', '\xff', '\x7f', '\xff', '\xff', '\xff', '\x7f', '\xff', '\xff', '\xff'});
  }
  // vocab.txt
  {
    const auto d = dir("vocab");
    ssl::text::Vocab({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "##s", "un", "##aff", "##able", "hello",
                      "world", ",", "!", "é", "##中"})
        .save(d / "ok_vocab.txt");
    spit(d / "ok_crlf.txt", "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n[MASK]\r\nHello\r\n##lo\r\nunaffable text\r\n");
    spit(d / "ok_no_specials.txt", "a\nb\n##c\n\n\xff\xfe\n");
    spit(d / "bad_empty.txt", "");
  }
  // config.json
  {
    const auto d = dir("config");
    spit(d / "ok_config.json", ex::ModelConfig{}.to_json().dump(1));
    ex::ModelConfig gpt;
    gpt.method = "gpt";
    gpt.norm_first = false;
    auto j = gpt.to_json();
    j.erase("norm_first");
    spit(d / "ok_gpt.json", j.dump());
    spit(d / "bad_missing.json", R"({"method": "bert", "vocab_size": 10})");
    spit(d / "bad_types.json", R"({"method": 3, "vocab_size": "x", "dim": [], "depth": null})");
    // A RoBERTa continued by 02 --init (byte-level BPE, positions from pad_id + 1), and its two
    // fields of the wrong kind.
    ex::ModelConfig rob;
    rob.method = "roberta", rob.norm_first = false, rob.vocab_size = 277, rob.dim = 32, rob.heads = 4, rob.max_len = 128;
    rob.positions = 130, rob.type_vocab = 1, rob.mlp_hidden = 64, rob.eps = 1e-5;
    rob.padding_positions = true, rob.tokenizer = "bpe";
    spit(d / "ok_roberta_bpe.json", rob.to_json().dump(1));
    auto bad = rob.to_json();
    bad["padding_positions"] = 1;
    spit(d / "bad_padding_positions.json", bad.dump());
    bad = rob.to_json();
    bad["tokenizer"] = "sentencepiece";
    spit(d / "bad_tokenizer.json", bad.dump());
  }
  // JSON Lines corpus
  {
    const auto d = dir("corpus");
    spit(d / "ok_docs.jsonl", "{\"text\": \"one document\"}\n\n{\"text\": \"two\\n\\u00e9 \\ud83d\\ude00\", \"x\": [1, {}]}\r\n");
    spit(d / "ok_labels.jsonl", "{\"text\": \"a\", \"label\": \"pos\"}\n{\"text\": \"b\", \"label\": 7}\n");
    spit(d / "bad_not_object.jsonl", "{\"text\": \"a\"}\n[1, 2]\n");
    spit(d / "bad_no_field.jsonl", "{\"txt\": \"a\"}\n");
  }
#if defined(SSL_WITH_IMAGES)
  // PNG and JPEG
  {
    const auto d = dir("image");
    const auto gray = torch::arange(64, torch::kInt64).remainder(256).to(torch::kUInt8).reshape({1, 8, 8}) * 4;
    const auto rgb = torch::stack({gray[0], 255 - gray[0], gray[0].flip(1)});
    ssl::io::write_png((d / "ok_gray.png").string(), gray);
    ssl::io::write_png((d / "ok_rgb.png").string(), rgb);
    std::vector<uint8_t> g(gray.data_ptr<uint8_t>(), gray.data_ptr<uint8_t>() + 64);
    const auto hwc = rgb.permute({1, 2, 0}).contiguous();
    std::vector<uint8_t> c(hwc.data_ptr<uint8_t>(), hwc.data_ptr<uint8_t>() + 192);
    spit(d / "ok_gray.jpg", encode_jpeg(g, 8, 8, 1, false));
    spit(d / "ok_rgb.jpg", encode_jpeg(c, 8, 8, 3, false));
    spit(d / "ok_rgb_progressive.jpg", encode_jpeg(c, 8, 8, 3, true));
    const auto png = slurp(d / "ok_rgb.png");
    spit(d / "bad_truncated.png", png.substr(0, png.size() / 2));
    const auto jpg = encode_jpeg(c, 8, 8, 3, false);
    spit(d / "bad_truncated.jpg", jpg.substr(0, jpg.size() / 2));
  }
#endif
  // checkpoints: the CRC-32 wrapper of atomic_save (a model, a run configuration, a nested
  // archive), and plain LibTorch archives (also the seeds of checkpoint_payload: its input is the
  // inner archive)
  {
    const auto d = dir("checkpoint"), p = dir("checkpoint_payload");
    const auto fill = [&](torch::serialize::OutputArchive& ar) {
      torch::serialize::OutputArchive model;
      model.write("w", f32);
      model.write("b", torch::ones({3}), /*is_buffer=*/true);
      ar.write("model", model);
      ar.write("config.tensors", c10::IValue(std::string("w [2, 3]\nb [3]\n")));
      ar.write("config.run", c10::IValue(ssl::train::detail::config_string({{"global_batch", "8"}, {"seed", "1"}})));
      ar.write("step", torch::tensor(int64_t{3}));
    };
    ssl::train::atomic_save((d / "ok_wrapped.pt").string(), fill);
    torch::serialize::OutputArchive plain;
    fill(plain);
    plain.save_to((d / "ok_plain.pt").string());
    plain.save_to((p / "ok_archive.pt").string());
    torch::serialize::OutputArchive small;
    small.write("x", torch::tensor({1.0, 2.0}));
    small.save_to((p / "ok_small.pt").string());
    const auto w = slurp(d / "ok_wrapped.pt");
    spit(d / "bad_truncated.pt", w.substr(0, w.size() / 2));
    auto flipped = w;
    flipped[flipped.size() / 2] = char(flipped[flipped.size() / 2] ^ 0x40);
    spit(d / "bad_flipped.pt", flipped);
  }
}

}  // namespace ssl_fuzz
