// Shared by the text examples 02-04 (not part of the library): a Hugging Face checkpoint
// directory (config.json with a model_type, the weights, the tokenizer files) told apart from a
// model folder of example 02, and its tokenizer: BERT's WordPiece (tokenizer.json, or vocab.txt
// with tokenizer_config.json's do_lower_case) or RoBERTa's byte-level BPE (tokenizer.json, or
// vocab.json + merges.txt).
#pragma once
#include <ssl/io/hf_checkpoint.hpp>
#include <ssl/text/bpe.hpp>
#include <ssl/text/wordpiece.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace ex {

/// Whether `dir` holds a Hugging Face checkpoint (its config.json has a `model_type`) rather than
/// a model folder of example 02 (whose config.json has a `method`).
inline bool is_hf_dir(const std::filesystem::path& dir) {
  std::ifstream in(dir / "config.json");
  if (!in) return false;
  const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return j.is_object() && j.contains("model_type");
}

/// The WordPiece tokenizer of a Hugging Face directory: tokenizer.json, else vocab.txt with
/// tokenizer_config.json's `do_lower_case` (default true, as BertTokenizer's).
inline ssl::text::WordPiece hf_wordpiece(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  if (fs::exists(dir / "tokenizer.json")) return ssl::text::WordPiece::from_tokenizer_json(dir / "tokenizer.json");
  TORCH_CHECK(fs::exists(dir / "vocab.txt"), dir.string(), ": expected a WordPiece tokenizer (tokenizer.json or ",
              "vocab.txt) in the Hugging Face directory, got neither");
  bool lowercase = true;
  if (std::ifstream cfg(dir / "tokenizer_config.json"); cfg) {
    const auto j = nlohmann::json::parse(cfg, nullptr, false);
    if (j.is_object() && j.contains("do_lower_case") && j["do_lower_case"].is_boolean())
      lowercase = j["do_lower_case"].get<bool>();
  }
  return ssl::text::WordPiece(ssl::text::Vocab::load(dir / "vocab.txt"), {.lowercase = lowercase});
}

/// The byte-level BPE of a Hugging Face RoBERTa directory: tokenizer.json (its options read from
/// it), else vocab.json + merges.txt with RobertaTokenizerFast's options (`<s> ... </s>`, the hub's
/// `<mask>` that takes the space before it).
inline ssl::text::ByteLevelBPE hf_bpe(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  if (fs::exists(dir / "tokenizer.json")) return ssl::text::ByteLevelBPE::from_tokenizer_json(dir / "tokenizer.json");
  TORCH_CHECK(fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt"), dir.string(),
              ": expected a byte-level BPE tokenizer (tokenizer.json, or vocab.json and merges.txt) in the Hugging Face ",
              "directory, got neither");
  auto o = ssl::text::ByteLevelBPEOptions::roberta();
  for (auto& sp : o.special_tokens) sp.lstrip = sp.content == "<mask>";
  return ssl::text::ByteLevelBPE::from_files(dir / "vocab.json", dir / "merges.txt", o);
}

/// What classification needs of a tokenizer: a text's ids without special tokens, and the ids
/// `data::single` wraps them in (`[CLS] ... [SEP]` / `<s> ... </s>`) and pads with.
struct SequenceTokenizer {
  std::function<std::vector<int64_t>(const std::string&)> encode;  ///< ids of a text, no special tokens
  int64_t cls = -1, sep = -1, pad = -1;  ///< first, last and padding ids
  int64_t size = 0;  ///< number of ids (one more than the largest)
};

/// The tokenizer of Hugging Face text directory `dir` of architecture `arch`: WordPiece for BERT
/// and ELECTRA, byte-level BPE for RoBERTa; GPT-2 is refused (its sequences have no first token
/// and usually no padding id). `pad_id`: the config's `pad_token_id`, which must be the tokenizer's.
inline SequenceTokenizer hf_sequence_tokenizer(const std::filesystem::path& dir, ssl::io::hf::Arch arch, int64_t pad_id) {
  namespace hf = ssl::io::hf;
  SequenceTokenizer t;
  std::string pad_token;
  if (arch == hf::Arch::roberta_mlm) {
    auto bpe = std::make_shared<ssl::text::ByteLevelBPE>(hf_bpe(dir));
    for (const char* s : {"<s>", "</s>", "<pad>"})
      TORCH_CHECK(bpe->find(s), dir.string(), ": expected RoBERTa's special token '", s, "' in the tokenizer, got none");
    t.encode = [bpe](const std::string& s) { return bpe->encode(s, /*add_special_tokens=*/false); };
    t.cls = bpe->id("<s>"), t.sep = bpe->id("</s>"), t.pad = bpe->id("<pad>"), t.size = bpe->size();
    pad_token = "<pad>";
  } else {
    TORCH_CHECK(arch != hf::Arch::gpt2_lm, dir.string(), ": a GPT2LMHeadModel directory: expected a BERT, RoBERTa ",
                "or ELECTRA encoder (GPT-2's byte-level BPE has no first token nor padding id for classification)");
    auto wp = std::make_shared<ssl::text::WordPiece>(hf_wordpiece(dir));
    t.encode = [wp](const std::string& s) { return wp->encode(s); };
    t.cls = wp->vocab().cls_id(), t.sep = wp->vocab().sep_id(), t.pad = wp->vocab().pad_id(), t.size = wp->vocab().size();
    pad_token = "[PAD]";
  }
  TORCH_CHECK(t.pad == pad_id, dir.string(), ": config.json's pad_token_id is ", pad_id, " but the tokenizer's ",
              pad_token, " is id ", t.pad, ": expected the same id");
  return t;
}

}  // namespace ex
