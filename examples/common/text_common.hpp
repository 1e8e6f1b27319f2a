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
#include "model_config.hpp"

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

/// The backbone's options: BERT's layout (pooler included: it is what a classifier reads), or
/// GPT-2's for `gpt`; then the options the config sets beyond the method's defaults (a model
/// continued from a Hugging Face checkpoint: its MLP width, positions, eps, segments, dropouts,
/// RoBERTa's padding positions). `vocab`, `pad`, `sep`: the tokenizer's size and ids. Without a
/// second segment (RoBERTa's one-row segment table) no segment is read from `sep`.
inline ssl::text::EncoderOptions encoder_options(const ModelConfig& c, int64_t vocab, int64_t pad, int64_t sep) {
  auto o = ssl::text::EncoderOptions(vocab, c.dim, c.depth, c.heads)
               .max_len(c.max_len)
               .embedding_dim(c.embedding_dim)
               .pad_id(pad)
               .sep_id(sep)
               .norm_first(c.norm_first);
  if (c.method == "gpt") o = ssl::text::gpt(o).pad_id(pad);
  if (c.mlp_hidden) o.mlp_hidden(*c.mlp_hidden);
  if (c.type_vocab) o.type_vocab(*c.type_vocab);
  if (c.positions) o.max_len(*c.positions);
  if (c.eps) o.eps(*c.eps);
  if (c.dropout) o.dropout(*c.dropout);
  if (c.attn_dropout) o.attn_dropout(*c.attn_dropout);
  if (c.padding_positions) o.padding_positions(*c.padding_positions);
  if (o.type_vocab() < 2) o.sep_id(-1);
  return o;
}
inline ssl::text::EncoderOptions encoder_options(const ModelConfig& c, const ssl::text::Vocab& v) {
  return encoder_options(c, v.size(), v.pad_id(), v.sep_id());
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
