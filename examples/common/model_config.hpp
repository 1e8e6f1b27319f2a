// Shared by the text examples 02-04 (not part of the library): config.json of a pretrained model
// folder, the options the model was built with. Light on purpose (nlohmann-json and LibTorch's
// TORCH_CHECK only): the fuzz target `config` (fuzz/targets.hpp) compiles it with clang.
#pragma once
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

namespace ex {

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
  /// The encoder's options where they differ from the method's defaults (text::EncoderOptions'
  /// and text::gpt's): set when the model came from a Hugging Face checkpoint (02 --init), whose
  /// config may give other values; written to config.json only when set.
  std::optional<int64_t> mlp_hidden;  ///< MLP hidden width (default 4 x dim)
  std::optional<int64_t> type_vocab;  ///< segment vocabulary (default 2; GPT 0)
  std::optional<int64_t> positions;   ///< learned positions (default max_len, the sequence length)
  std::optional<double> eps;          ///< LayerNorm epsilon (default 1e-12; GPT 1e-5)
  std::optional<double> dropout;      ///< dropout on embeddings and block outputs (default 0.1)
  std::optional<double> attn_dropout; ///< dropout on attention probabilities (default 0.1)
  std::optional<bool> padding_positions;  ///< RoBERTa's positions, counted from pad_id + 1 (default false)
  /// "wordpiece" (the folder's vocab.txt) or "bpe" (RoBERTa's byte-level BPE: the folder's
  /// vocab.json + merges.txt; a model continued from a Hugging Face RoBERTa by 02 --init).
  std::string tokenizer = "wordpiece";

  [[nodiscard]] nlohmann::json to_json() const {
    nlohmann::json j = {{"method", method},         {"vocab_size", vocab_size}, {"dim", dim},
                        {"depth", depth},           {"heads", heads},           {"max_len", max_len},
                        {"embedding_dim", embedding_dim}, {"generator_scale", generator_scale},
                        {"next_sentence", next_sentence}, {"norm_first", norm_first}, {"heldout", heldout},
                        {"split_seed", split_seed}};
    if (mlp_hidden) j["mlp_hidden"] = *mlp_hidden;
    if (type_vocab) j["type_vocab"] = *type_vocab;
    if (positions) j["positions"] = *positions;
    if (eps) j["eps"] = *eps;
    if (dropout) j["dropout"] = *dropout;
    if (attn_dropout) j["attn_dropout"] = *attn_dropout;
    if (padding_positions) j["padding_positions"] = *padding_positions;
    if (tokenizer != "wordpiece") j["tokenizer"] = tokenizer;
    return j;
  }
  /// Reads `dir`/config.json. A field of the wrong JSON type is an error naming the file and the
  /// field; an integer field must hold a JSON integer that fits (a huge literal such as 1e42, which
  /// JSON parsers read as a float, is refused: converting it would be undefined behaviour).
  static ModelConfig load(const std::filesystem::path& dir) {
    const auto file = dir / "config.json";
    std::ifstream f(file);
    TORCH_CHECK(f, "no ", file.string(), ": run example 02_text_pretrain first (it writes the model folder)");
    const auto j = nlohmann::json::parse(f);
    TORCH_CHECK(j.is_object(), file.string(), ": expected a JSON object, got a JSON ", j.type_name());
    const auto field = [&](const char* key) -> const nlohmann::json& {
      TORCH_CHECK(j.contains(key), file.string(), ": expected a field \"", key, "\", got none");
      return j.at(key);
    };
    const auto integer = [&](const char* key) {
      const auto& v = field(key);
      TORCH_CHECK(v.is_number_integer() && (!v.is_number_unsigned() || v.get<uint64_t>() <= uint64_t(INT64_MAX)),
                  file.string(), ": expected \"", key, "\" to be an integer that fits in 64 bits, got ", v.dump());
      return v.get<int64_t>();
    };
    const auto number = [&](const char* key) {
      const auto& v = field(key);
      TORCH_CHECK(v.is_number(), file.string(), ": expected \"", key, "\" to be a number, got ", v.dump());
      return v.get<double>();
    };
    ModelConfig c;
    c.method = field("method").get<std::string>();
    c.vocab_size = integer("vocab_size");
    c.dim = integer("dim");
    c.depth = integer("depth");
    c.heads = integer("heads");
    c.max_len = integer("max_len");
    c.embedding_dim = integer("embedding_dim");
    c.generator_scale = number("generator_scale");
    c.next_sentence = field("next_sentence").get<bool>();
    c.norm_first = j.value("norm_first", false);
    c.heldout = number("heldout");
    const auto& seed = field("split_seed");
    TORCH_CHECK(seed.is_number_unsigned() || (seed.is_number_integer() && seed.get<int64_t>() >= 0), file.string(),
                ": expected \"split_seed\" to be an integer from 0 to 2^64 - 1, got ", seed.dump());
    c.split_seed = seed.get<uint64_t>();
    // Optional (absent in folders written before they existed): the defaults then.
    const auto count = [&](const char* key, int64_t min) -> std::optional<int64_t> {
      if (!j.contains(key)) return std::nullopt;
      const auto v = integer(key);
      TORCH_CHECK(v >= min, file.string(), ": expected \"", key, "\" to be at least ", min, ", got ", v);
      return v;
    };
    const auto fraction = [&](const char* key, double lo, double hi) -> std::optional<double> {
      if (!j.contains(key)) return std::nullopt;
      const auto v = number(key);
      TORCH_CHECK(v >= lo && v <= hi, file.string(), ": expected \"", key, "\" in [", lo, ", ", hi, "], got ", v);
      return v;
    };
    c.mlp_hidden = count("mlp_hidden", 1);
    c.type_vocab = count("type_vocab", 0);
    c.positions = count("positions", 1);
    c.eps = fraction("eps", 0.0, 1.0);
    c.dropout = fraction("dropout", 0.0, 1.0);
    c.attn_dropout = fraction("attn_dropout", 0.0, 1.0);
    if (j.contains("padding_positions")) {
      const auto& v = j.at("padding_positions");
      TORCH_CHECK(v.is_boolean(), file.string(), ": expected \"padding_positions\" to be true or false, got ", v.dump());
      c.padding_positions = v.get<bool>();
    }
    if (j.contains("tokenizer")) {
      const auto& v = j.at("tokenizer");
      TORCH_CHECK(v.is_string() && (v.get<std::string>() == "wordpiece" || v.get<std::string>() == "bpe"), file.string(),
                  ": expected \"tokenizer\" to be \"wordpiece\" or \"bpe\", got ", v.dump());
      c.tokenizer = v.get<std::string>();
    }
    TORCH_CHECK(!c.positions || *c.positions >= c.max_len, file.string(), ": expected \"positions\" (", *c.positions,
                ") to cover \"max_len\" (", c.max_len, ")");
    return c;
  }
};

}  // namespace ex
