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
    return c;
  }
};

}  // namespace ex
