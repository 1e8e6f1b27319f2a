// Shared by the text examples 02-04 (not part of the library): config.json of a pretrained model
// folder, the options the model was built with. Light on purpose (nlohmann-json and LibTorch's
// TORCH_CHECK only): the fuzz target `config` (fuzz/targets.hpp) compiles it with clang.
#pragma once
#include <c10/util/Exception.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
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

  [[nodiscard]] nlohmann::json to_json() const {
    return {{"method", method},         {"vocab_size", vocab_size}, {"dim", dim},
            {"depth", depth},           {"heads", heads},           {"max_len", max_len},
            {"embedding_dim", embedding_dim}, {"generator_scale", generator_scale},
            {"next_sentence", next_sentence}, {"norm_first", norm_first}, {"heldout", heldout},
            {"split_seed", split_seed}};
  }
  static ModelConfig load(const std::filesystem::path& dir) {
    std::ifstream f(dir / "config.json");
    TORCH_CHECK(f, "no ", (dir / "config.json").string(), ": run example 02_text_pretrain first (it writes the model folder)");
    auto j = nlohmann::json::parse(f);
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

}  // namespace ex
