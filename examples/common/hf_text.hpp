// Shared by the text examples 02-04 (not part of the library): a Hugging Face checkpoint
// directory (config.json with a model_type, the weights, the tokenizer files) told apart from a
// model folder of example 02, and its tokenizer: BERT's WordPiece (tokenizer.json, or vocab.txt
// with tokenizer_config.json's do_lower_case) or RoBERTa's byte-level BPE (tokenizer.json, or
// vocab.json + merges.txt), as the one SequenceTokenizer the examples' data paths read.
#pragma once
#include <ssl/io/hf_checkpoint.hpp>
#include <ssl/text/bpe.hpp>
#include <ssl/text/wordpiece.hpp>

#include <nlohmann/json.hpp>

#include "text_common.hpp"

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

/// The byte-level BPE of a Hugging Face RoBERTa or GPT-2 directory (`gpt2`): tokenizer.json (its
/// options read from it), else vocab.json + merges.txt with RobertaTokenizerFast's options (`<s>
/// ... </s>`, the hub's `<mask>` that takes the space before it) or GPT2TokenizerFast's
/// (`<|endoftext|>`, nothing added).
inline ssl::text::ByteLevelBPE hf_bpe(const std::filesystem::path& dir, bool gpt2 = false) {
  namespace fs = std::filesystem;
  if (fs::exists(dir / "tokenizer.json")) return ssl::text::ByteLevelBPE::from_tokenizer_json(dir / "tokenizer.json");
  TORCH_CHECK(fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt"), dir.string(),
              ": expected a byte-level BPE tokenizer (tokenizer.json, or vocab.json and merges.txt) in the Hugging Face ",
              "directory, got neither");
  auto o = gpt2 ? ssl::text::ByteLevelBPEOptions::gpt2() : ssl::text::ByteLevelBPEOptions::roberta();
  for (auto& sp : o.special_tokens) sp.lstrip = sp.content == "<mask>";
  return ssl::text::ByteLevelBPE::from_files(dir / "vocab.json", dir / "merges.txt", o);
}

/// What the text examples need of a tokenizer, WordPiece or byte-level BPE: a text's ids without
/// special tokens, the ids `data::single` / `data::pack` wrap them in (`[CLS] ... [SEP]` /
/// `<s> ... </s>`; GPT-2: none first, `<|endoftext|>` after each document) and pad with (GPT-2:
/// none), and for pretraining (02) the mask, the special ids masking skips and a token's text.
struct SequenceTokenizer {
  std::function<std::vector<int64_t>(const std::string&)> encode;  ///< ids of a text, no special tokens
  int64_t cls = -1, sep = -1, pad = -1;  ///< first, last and padding ids (-1: none)
  int64_t size = 0;  ///< number of ids (one more than the largest)
  int64_t mask = -1;  ///< the mask id (`[MASK]`, `<mask>`; -1 when the tokenizer has none)
  std::vector<int64_t> special_ids;  ///< never masked, never a random replacement
  std::string mask_token;  ///< the mask as written in a text
  std::function<std::vector<int64_t>(const std::string&)> encode_with_specials;  ///< ids with the first/last ids
  std::function<std::string(int64_t)> token;  ///< the text of one id (BPE: decoded from its bytes)
  std::function<std::string(const std::vector<int64_t>&)> decode;  ///< the text of ids
};

/// A WordPiece vocabulary as a SequenceTokenizer (`[CLS] ... [SEP]`; masking skips `[PAD] [UNK]
/// [CLS] [SEP] [MASK]`, as `masker::Bert::for_vocab`).
inline SequenceTokenizer sequence_tokenizer(std::shared_ptr<const ssl::text::WordPiece> wp) {
  const auto& v = wp->vocab();
  return {.encode = [wp](const std::string& s) { return wp->encode(s); },
          .cls = v.cls_id(), .sep = v.sep_id(), .pad = v.pad_id(), .size = v.size(), .mask = v.mask_id(),
          .special_ids = {v.pad_id(), v.unk_id(), v.cls_id(), v.sep_id(), v.mask_id()},
          .mask_token = "[MASK]",
          .encode_with_specials = [wp](const std::string& s) { return wp->encode_with_specials(s); },
          .token = [wp](int64_t id) { return wp->vocab().token(id); },
          .decode = [wp](const std::vector<int64_t>& ids) { return wp->decode(ids); }};
}

/// RoBERTa's byte-level BPE as a SequenceTokenizer (`<s> ... </s>`; masking skips its special
/// tokens; `<mask>`, which only pretraining needs, may be missing). `dir`: where it was read, for
/// the errors.
inline SequenceTokenizer sequence_tokenizer(std::shared_ptr<const ssl::text::ByteLevelBPE> bpe, const std::string& dir) {
  for (const char* s : {"<s>", "</s>", "<pad>"})
    TORCH_CHECK(bpe->find(s), dir, ": expected RoBERTa's special token '", s, "' in the tokenizer, got none");
  return {.encode = [bpe](const std::string& s) { return bpe->encode(s, /*add_special_tokens=*/false); },
          .cls = bpe->id("<s>"), .sep = bpe->id("</s>"), .pad = bpe->id("<pad>"), .size = bpe->size(),
          .mask = bpe->find("<mask>").value_or(-1), .special_ids = bpe->special_ids(), .mask_token = "<mask>",
          .encode_with_specials = [bpe](const std::string& s) { return bpe->encode(s, /*add_special_tokens=*/true); },
          .token = [bpe](int64_t id) { return bpe->decode({id}); },
          .decode = [bpe](const std::vector<int64_t>& ids) { return bpe->decode(ids); }};
}

/// GPT-2's byte-level BPE as a SequenceTokenizer: no first token, `<|endoftext|>` after each
/// document, no padding id (sequences are packed full, `data::pack`), no mask; nothing added to a
/// text (GPT2TokenizerFast's). `dir`: where it was read, for the errors.
inline SequenceTokenizer gpt2_sequence_tokenizer(std::shared_ptr<const ssl::text::ByteLevelBPE> bpe, const std::string& dir) {
  TORCH_CHECK(bpe->find("<|endoftext|>"), dir, ": expected GPT-2's special token '<|endoftext|>' in the tokenizer, got none");
  auto encode = [bpe](const std::string& s) { return bpe->encode(s, /*add_special_tokens=*/false); };
  return {.encode = encode, .cls = -1, .sep = bpe->id("<|endoftext|>"), .pad = -1, .size = bpe->size(),
          .special_ids = bpe->special_ids(), .encode_with_specials = encode,
          .token = [bpe](int64_t id) { return bpe->decode({id}); },
          .decode = [bpe](const std::vector<int64_t>& ids) { return bpe->decode(ids); }};
}

/// A RoBERTa's (`gpt2` false) or GPT-2's byte-level BPE as a SequenceTokenizer.
inline SequenceTokenizer bpe_sequence_tokenizer(std::shared_ptr<const ssl::text::ByteLevelBPE> bpe, const std::string& dir,
                                                bool gpt2) {
  return gpt2 ? gpt2_sequence_tokenizer(std::move(bpe), dir) : sequence_tokenizer(std::move(bpe), dir);
}

/// The tokenizer of Hugging Face text directory `dir` of architecture `arch`: WordPiece for BERT
/// and ELECTRA, byte-level BPE for RoBERTa and GPT-2. `pad_id`: the config's `pad_token_id`, which
/// must be the tokenizer's (GPT-2's tokenizer has none: `pad` -1, whatever the config says).
inline SequenceTokenizer hf_sequence_tokenizer(const std::filesystem::path& dir, ssl::io::hf::Arch arch, int64_t pad_id) {
  namespace hf = ssl::io::hf;
  SequenceTokenizer t;
  std::string pad_token;
  if (arch == hf::Arch::gpt2_lm)
    return gpt2_sequence_tokenizer(std::make_shared<const ssl::text::ByteLevelBPE>(hf_bpe(dir, true)), dir.string());
  if (arch == hf::Arch::roberta_mlm) {
    t = sequence_tokenizer(std::make_shared<const ssl::text::ByteLevelBPE>(hf_bpe(dir)), dir.string());
    pad_token = "<pad>";
  } else {
    t = sequence_tokenizer(std::make_shared<const ssl::text::WordPiece>(hf_wordpiece(dir)));
    pad_token = "[PAD]";
  }
  TORCH_CHECK(t.pad == pad_id, dir.string(), ": config.json's pad_token_id is ", pad_id, " but the tokenizer's ",
              pad_token, " is id ", t.pad, ": expected the same id");
  return t;
}

/// The tokenizer of a model folder of example 02: its vocab.txt (WordPiece), or its vocab.json +
/// merges.txt (config.json's "tokenizer": "bpe", a model 02 continued from a Hugging Face RoBERTa,
/// or GPT-2: method "gpt").
inline SequenceTokenizer folder_tokenizer(const std::filesystem::path& dir, const ModelConfig& c) {
  if (c.tokenizer == "bpe") {
    const bool gpt2 = c.method == "gpt";
    return bpe_sequence_tokenizer(std::make_shared<const ssl::text::ByteLevelBPE>(hf_bpe(dir, gpt2)), dir.string(), gpt2);
  }
  return sequence_tokenizer(std::make_shared<const ssl::text::WordPiece>(tokenizer(dir)));
}

/// Sequence layout of a method's data with tokenizer `t` (GPT's sequences have no first token;
/// GPT-2's BPE has no padding id).
inline ssl::data::TextSpecials specials(const std::string& method, const SequenceTokenizer& t) {
  return {.cls = method == "gpt" ? -1 : t.cls, .sep = t.sep, .pad = t.pad};
}

}  // namespace ex
