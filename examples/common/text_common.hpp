// Shared by the text examples 02-04 (not part of the library): the corpus split, the model
// folder (vocab.txt, config.json, model.safetensors, encoder.safetensors) and the model options.
#pragma once
#include <ssl/bert.hpp>
#include <ssl/data/fortunes.hpp>
#include <ssl/data/text.hpp>
#include <ssl/electra.hpp>
#include <ssl/gpt.hpp>
#include <ssl/io/safetensors.hpp>
#include <ssl/text/wordpiece.hpp>
#include <ssl/text/wordpiece_trainer.hpp>

#include <nlohmann/json.hpp>

#include "datasets.hpp"

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace ex {

using json = nlohmann::json;

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

/// What a pretrained model folder holds besides its weights.
struct ModelConfig {
  std::string method = "bert";  ///< bert | roberta | electra | gpt
  /// Default size: BERT-tiny (Turc et al. 2019: 2 blocks of 128, 2 heads), 64 tokens, a 4000-piece
  /// vocabulary: small enough to leave the unigram plateau within minutes of a 2-core CPU.
  int64_t vocab_size = 4000, dim = 128, depth = 2, heads = 2, max_len = 64, embedding_dim = 0;
  double generator_scale = 0.25;
  bool next_sentence = false;
  bool norm_first = true;  ///< pre-norm blocks + final norm (trains faster at small scale); BERT's: post-norm
  double heldout = 0.1;  ///< fraction of documents never seen in pretraining
  uint64_t split_seed = 0;

  [[nodiscard]] json to_json() const {
    return {{"method", method},         {"vocab_size", vocab_size}, {"dim", dim},
            {"depth", depth},           {"heads", heads},           {"max_len", max_len},
            {"embedding_dim", embedding_dim}, {"generator_scale", generator_scale},
            {"next_sentence", next_sentence}, {"norm_first", norm_first}, {"heldout", heldout},
            {"split_seed", split_seed}};
  }
  static ModelConfig load(const std::filesystem::path& dir) {
    std::ifstream f(dir / "config.json");
    TORCH_CHECK(f, "no ", (dir / "config.json").string(), ": run example 02_text_pretrain first (it writes the model folder)");
    auto j = json::parse(f);
    ModelConfig c;
    c.method = j.at("method");
    c.vocab_size = j.at("vocab_size");
    c.dim = j.at("dim");
    c.depth = j.at("depth");
    c.heads = j.at("heads");
    c.max_len = j.at("max_len");
    c.embedding_dim = j.at("embedding_dim");
    c.generator_scale = j.at("generator_scale");
    c.next_sentence = j.at("next_sentence");
    c.norm_first = j.value("norm_first", false);
    c.heldout = j.at("heldout");
    c.split_seed = j.at("split_seed");
    return c;
  }
};

/// The backbone's options: BERT's layout (pooler included: it is what a classifier reads), or
/// GPT-2's for `gpt`.
inline ssl::text::EncoderOptions encoder_options(const ModelConfig& c, const ssl::text::Vocab& v) {
  auto o = ssl::text::EncoderOptions(v.size(), c.dim, c.depth, c.heads)
               .max_len(c.max_len)
               .embedding_dim(c.embedding_dim)
               .pad_id(v.pad_id())
               .sep_id(v.sep_id())
               .norm_first(c.norm_first);
  if (c.method == "gpt") return ssl::text::gpt(o).pad_id(v.pad_id());
  return o;
}

/// Sequence layout of a method's data.
inline ssl::data::TextSpecials specials(const ModelConfig& c, const ssl::text::Vocab& v) {
  return {.cls = c.method == "gpt" ? -1 : v.cls_id(), .sep = v.sep_id(), .pad = v.pad_id()};
}

/// The documents split into pretraining and held-out ones (a seeded permutation; the held-out
/// ones are never seen in pretraining and serve as the held-out and topic test sets).
struct Split {
  std::vector<ssl::data::Document> train, heldout;
};
inline Split split(const std::vector<ssl::data::Document>& docs, double heldout, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto perm = torch::randperm(int64_t(docs.size()), gen, torch::kInt64);
  const auto n_out = int64_t(double(docs.size()) * heldout);
  Split s;
  for (int64_t i = 0; i < perm.size(0); ++i) {
    const auto& d = docs[size_t(perm[i].item<int64_t>())];
    (i < n_out ? s.heldout : s.train).push_back(d);
  }
  return s;
}

inline std::vector<std::vector<int64_t>> encode(const ssl::text::WordPiece& tok, const std::vector<ssl::data::Document>& docs) {
  std::vector<std::vector<int64_t>> out;
  out.reserve(docs.size());
  for (const auto& d : docs) out.push_back(tok.encode(d.text));
  return out;
}
inline std::vector<std::vector<std::vector<int64_t>>> encode_sentences(const ssl::text::WordPiece& tok,
                                                                      const std::vector<ssl::data::Document>& docs) {
  std::vector<std::vector<std::vector<int64_t>>> out;
  out.reserve(docs.size());
  for (const auto& d : docs) {
    std::vector<std::vector<int64_t>> s;
    for (const auto& sentence : ssl::data::split_sentences(d.text)) {
      auto ids = tok.encode(sentence);
      if (!ids.empty()) s.push_back(std::move(ids));
    }
    if (!s.empty()) out.push_back(std::move(s));
  }
  return out;
}

/// The tokenizer of a model folder.
inline ssl::text::WordPiece tokenizer(const std::filesystem::path& dir) {
  TORCH_CHECK(std::filesystem::exists(dir / "vocab.txt"), "no ", (dir / "vocab.txt").string(),
              ": run example 02_text_pretrain first");
  return ssl::text::WordPiece(ssl::text::Vocab::load(dir / "vocab.txt"));
}

inline void write_json(const std::filesystem::path& path, const json& j) { std::ofstream(path) << j.dump(2) << "\n"; }

}  // namespace ex
