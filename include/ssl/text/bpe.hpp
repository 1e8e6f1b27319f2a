#pragma once
/// \file text/bpe.hpp
/// Byte-level BPE (GPT-2, RoBERTa), id for id equal to Hugging Face `GPT2TokenizerFast` and
/// `RobertaTokenizerFast` (tokenizers' ByteLevel pre-tokenizer + BPE model + ByteLevel decoder,
/// and RoBERTa's `<s> ... </s>` post-processor) on the same vocab.json + merges.txt, or on a
/// tokenizer.json:
///
///     auto gpt2 = ssl::text::ByteLevelBPE::from_files("vocab.json", "merges.txt");   // GPT-2 defaults
///     auto rob = ssl::text::ByteLevelBPE::from_files("vocab.json", "merges.txt",
///                                                    ssl::text::ByteLevelBPEOptions::roberta());
///     auto tok = ssl::text::ByteLevelBPE::from_tokenizer_json("tokenizer.json");
///     auto ids = rob.encode("Hello world!");   // <s> Hello Ġworld ! </s>
///     auto text = rob.decode(ids, true);       // "Hello world!"
#include <ssl/text/unicode.hpp>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ssl::text {

// ---- GPT-2's byte <-> character table ----------------------------------------------------------

/// GPT-2's `bytes_to_unicode`: the printable bytes '!'..'~', U+00A1..U+00AC and U+00AE..U+00FF
/// map to themselves, the 68 others (controls, space, U+00AD, ...) to U+0100, U+0101, ... in byte
/// order; e.g. ' ' -> 'Ġ' (U+0120), '\n' -> 'Ċ' (U+010A). Returns the code point of each byte.
inline const std::array<char32_t, 256>& byte_to_unicode() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    int n = 0;
    for (int b = 0; b < 256; ++b) t[static_cast<size_t>(b)] = printable(b) ? static_cast<char32_t>(b) : 256 + n++;
    return t;
  }();
  return table;
}

/// The inverse of byte_to_unicode(): the byte of a code point, or -1 when no byte maps to it.
inline int unicode_to_byte(char32_t c) {
  static const std::array<int16_t, 324> table = [] {
    std::array<int16_t, 324> t{};
    t.fill(-1);
    const auto& fwd = byte_to_unicode();
    for (int b = 0; b < 256; ++b) t[fwd[static_cast<size_t>(b)]] = static_cast<int16_t>(b);
    return t;
  }();
  return c < table.size() ? table[c] : -1;
}

// ---- GPT-2's pre-tokenizer ---------------------------------------------------------------------

/// Splits `text` (valid UTF-8) into GPT-2's words, the matches of its regular expression
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
/// (leftmost alternative first, as Oniguruma and fancy-regex match it), written by hand over code
/// points: `\p{L}` is is_letter(), `\p{N}` is_number(), `\s` is_whitespace() (Unicode White_Space).
/// The contractions are case-sensitive ("DON'T" gives "DON", "'", "T"); a run of spaces before a
/// word leaves its last space to the word. Calls `f(begin, end)` with the byte range of each word,
/// in order; the words cover the text.
template <class F>
void gpt2_split(std::string_view text, F&& f) {
  enum Kind : uint8_t { kSpace, kLetter, kNumber, kOther };
  std::vector<size_t> pos;  // byte offset of each code point, and text.size() at the end
  std::vector<uint8_t> kind;
  std::vector<char32_t> cps;
  pos.reserve(text.size() + 1);
  kind.reserve(text.size());
  cps.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    pos.push_back(i);
    const char32_t c = utf8_next(text, i);
    cps.push_back(c);
    kind.push_back(is_whitespace(c) ? kSpace : is_letter(c) ? kLetter : is_number(c) ? kNumber : kOther);
  }
  pos.push_back(text.size());
  const size_t n = cps.size();
  size_t i = 0;
  while (i < n) {
    size_t end = 0;
    const char32_t c = cps[i];
    // 's 't 're 've 'm 'll 'd
    if (c == '\'' && i + 1 < n) {
      const char32_t c1 = cps[i + 1];
      const char32_t c2 = i + 2 < n ? cps[i + 2] : 0;
      if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
        end = i + 2;
      } else if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
        end = i + 3;
      }
    }
    if (end == 0) {
      // ' ?\p{L}+', ' ?\p{N}+', ' ?[^\s\p{L}\p{N}]+': an optional space, then a run of one class.
      const size_t k = (c == ' ' && i + 1 < n) ? i + 1 : i;
      if (kind[k] != kSpace) {
        const uint8_t cls = kind[k];
        end = k + 1;
        while (end < n && kind[end] == cls) ++end;
      } else {
        // '\s+(?!\S)': the whitespace run, less its last character when a non-space follows;
        // '\s+': the whole run (then of length 1).
        size_t e = i + 1;
        while (e < n && kind[e] == kSpace) ++e;
        end = (e < n && e - 1 > i) ? e - 1 : e;
      }
    }
    f(pos[i], pos[end]);
    i = end;
  }
}

// ---- Byte-level BPE ----------------------------------------------------------------------------

/// A token recognized in the raw text before pre-tokenization (Hugging Face's added / special
/// tokens, e.g. `<|endoftext|>`, `<mask>`): it gives its id and is never split.
struct SpecialToken {
  std::string content;  ///< the token's text, matched exactly (case-sensitive)
  bool lstrip = false;  ///< the whitespace before it is part of the match (RoBERTa hub's `<mask>`)
  bool rstrip = false;  ///< the whitespace after it is part of the match
};

/// Options of ByteLevelBPE: pre-tokenizer, special tokens and post-processing. The defaults are
/// GPT-2's (GPT2TokenizerFast: only `<|endoftext|>`, nothing added); see gpt2() and roberta().
struct ByteLevelBPEOptions {
  /// Prepend ' ' to the text (to each part between special tokens) unless it starts with one, so
  /// that the first word is encoded like the others (HF's `add_prefix_space`).
  bool add_prefix_space = false;
  /// Split into GPT-2's words first (HF's ByteLevel `use_regex`); false: each part is one word.
  bool use_regex = true;
  /// Tokens matched in the raw text (leftmost, then longest); each must be in the vocabulary.
  std::vector<SpecialToken> special_tokens = {{"<|endoftext|>"}};
  /// Tokens encode() puts before / after the ids (RoBERTa: `<s>` / `</s>`; GPT-2: none).
  std::vector<std::string> prefix;
  std::vector<std::string> suffix;  ///< see prefix
  /// Tokens encode_pair() puts between the two sequences (RoBERTa: `</s> </s>`).
  std::vector<std::string> pair_middle;
  /// Take a word found whole in the vocabulary without merging (HF's `ignore_merges`, Llama 3).
  bool ignore_merges = false;

  /// GPT2TokenizerFast's defaults: special token `<|endoftext|>`, no post-processing.
  static ByteLevelBPEOptions gpt2() { return {}; }
  /// RobertaTokenizerFast's defaults: special tokens `<s> <pad> </s> <unk> <mask>`, encode() gives
  /// `<s> A </s>` and encode_pair() `<s> A </s></s> B </s>`.
  static ByteLevelBPEOptions roberta() {
    ByteLevelBPEOptions o;
    o.special_tokens = {{"<s>"}, {"<pad>"}, {"</s>"}, {"<unk>"}, {"<mask>"}};
    o.prefix = {"<s>"};
    o.suffix = {"</s>"};
    o.pair_middle = {"</s>", "</s>"};
    return o;
  }
};

/// Byte-level BPE tokenizer (GPT-2, RoBERTa); see the file comment. Encoding: the raw text is
/// split at special tokens; each other part gets the prefix space (option), is split into GPT-2's
/// words (gpt2_split), each word's UTF-8 bytes become GPT-2's byte characters (byte_to_unicode)
/// and are merged pair by pair, lowest merge rank first (leftmost among equal ranks), exactly as
/// HF tokenizers' BPE model; results are cached per word. Ill-formed UTF-8 input is first
/// repaired like Python's `decode("utf-8", errors="replace")`. Thread-safe for concurrent const use.
class ByteLevelBPE {
 public:
  /// The vocabulary (token -> id, tokens written in byte characters, e.g. "Ġworld") and the merges
  /// in rank order (pairs of tokens). `source` names the file(s) in error messages. Throws when a
  /// merge names a token that is not in the vocabulary, or its result is not, when two tokens have
  /// the same id, or when a special token of `options` is not in the vocabulary.
  ByteLevelBPE(std::unordered_map<std::string, int64_t> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
               ByteLevelBPEOptions options = {}, const std::string& source = "ByteLevelBPE")
      : options_(std::move(options)), vocab_(std::move(vocab)), cache_(std::make_shared<Cache>()) {
    int64_t max_id = -1;
    for (const auto& [tok, id] : vocab_) {
      TORCH_CHECK(id >= 0, source, ": expected non-negative token ids, got ", id, " for token '", tok, "'");
      max_id = std::max(max_id, id);
    }
    tokens_.assign(static_cast<size_t>(max_id + 1), std::string());
    std::vector<bool> seen(tokens_.size(), false);
    for (const auto& [tok, id] : vocab_) {
      TORCH_CHECK(!seen[static_cast<size_t>(id)], source, ": expected one token per id, got id ", id, " for both '",
                  tokens_[static_cast<size_t>(id)], "' and '", tok, "'");
      seen[static_cast<size_t>(id)] = true;
      tokens_[static_cast<size_t>(id)] = tok;
    }
    const auto& b2u = byte_to_unicode();
    for (size_t b = 0; b < 256; ++b) {
      std::string ch;
      append_utf8(ch, b2u[b]);
      auto it = vocab_.find(ch);
      byte_id_[b] = it == vocab_.end() ? -1 : it->second;
    }
    merges_.reserve(merges.size());
    for (size_t rank = 0; rank < merges.size(); ++rank) {
      const auto& [a, b] = merges[rank];
      auto ia = vocab_.find(a);
      auto ib = vocab_.find(b);
      auto im = vocab_.find(a + b);
      TORCH_CHECK(ia != vocab_.end(), source, ": merge ", rank + 1, " '", a, " ", b, "': expected tokens of the vocabulary, '",
                  a, "' is not in it");
      TORCH_CHECK(ib != vocab_.end(), source, ": merge ", rank + 1, " '", a, " ", b, "': expected tokens of the vocabulary, '",
                  b, "' is not in it");
      TORCH_CHECK(im != vocab_.end(), source, ": merge ", rank + 1, " '", a, " ", b, "': expected the merged token '", a + b,
                  "' in the vocabulary, it is not in it");
      merges_.insert_or_assign(pair_key(ia->second, ib->second),
                               MergeValue{static_cast<int32_t>(rank), static_cast<int32_t>(im->second)});
    }
    for (const auto& s : options_.special_tokens) {
      TORCH_CHECK(!s.content.empty(), source, ": expected non-empty special tokens, got an empty one");
      specials_.push_back({s, id_in(s.content, source, "special token")});
      first_bytes_[static_cast<unsigned char>(s.content[0])] = true;
      special_ids_.push_back(specials_.back().id);
    }
    auto ids_of = [&](const std::vector<std::string>& names) {
      std::vector<int64_t> out;
      for (const auto& t : names) out.push_back(id_in(t, source, "post-processing token"));
      return out;
    };
    prefix_ = ids_of(options_.prefix);
    suffix_ = ids_of(options_.suffix);
    middle_ = ids_of(options_.pair_middle);
  }

  /// Reads Hugging Face's vocab.json (an object token -> id) and merges.txt (an optional
  /// "#version" line, then one merge "a b" per line, in rank order), as GPT2TokenizerFast and
  /// RobertaTokenizerFast do. Errors name the file and the bad entry.
  static ByteLevelBPE from_files(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt,
                                 ByteLevelBPEOptions options = {}) {
    auto vocab = read_vocab(read_json(vocab_json, "ByteLevelBPE::from_files"), vocab_json.string());
    std::ifstream in(merges_txt, std::ios::binary);
    TORCH_CHECK(in.good(), "ByteLevelBPE::from_files: expected a merges.txt (one merge \"a b\" per line), cannot open '",
                merges_txt.string(), "'");
    std::vector<std::pair<std::string, std::string>> merges;
    std::string line;
    size_t line_no = 0;
    while (std::getline(in, line)) {
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.starts_with("#version")) continue;
      merges.push_back(split_merge(line, merges_txt.string() + " line " + std::to_string(line_no)));
    }
    return ByteLevelBPE(std::move(vocab), merges, std::move(options),
                        "ByteLevelBPE(" + vocab_json.string() + ", " + merges_txt.string() + ")");
  }

  /// Reads a Hugging Face tokenizer.json whose model is byte-level BPE (model.type "BPE",
  /// model.vocab an object, model.merges as "a b" strings or [a, b] pairs; pre_tokenizer
  /// ByteLevel, alone or in a Sequence; normalizer null). The special tokens are its added_tokens;
  /// the post-processing is read from post_processor (RobertaProcessing, TemplateProcessing,
  /// ByteLevel or null). Features it cannot reproduce (a normalizer, dropout, byte_fallback,
  /// subword prefixes, single_word tokens) are errors naming the file and the field.
  static ByteLevelBPE from_tokenizer_json(const std::filesystem::path& path) {
    const std::string src = path.string();
    const std::string where = "ByteLevelBPE::from_tokenizer_json: '" + src + "'";
    const auto j = read_json(path, "ByteLevelBPE::from_tokenizer_json");
    TORCH_CHECK(j.is_object() && j.contains("model") && j["model"].is_object(), where,
                ": expected an object with a \"model\" object, got ", type_name(j));
    const auto& m = j["model"];
    const std::string type = m.value("type", std::string());
    TORCH_CHECK(type == "BPE", where, ": expected model.type \"BPE\", got \"", type, "\"");
    auto vocab = read_vocab(m.contains("vocab") ? m["vocab"] : nlohmann::json(), src + " model.vocab");
    TORCH_CHECK(m.contains("merges") && m["merges"].is_array(), where, ": expected model.merges to be an array, got ",
                m.contains("merges") ? type_name(m["merges"]) : std::string("nothing"));
    std::vector<std::pair<std::string, std::string>> merges;
    for (size_t i = 0; i < m["merges"].size(); ++i) {
      const auto& e = m["merges"][i];
      const std::string at = src + " model.merges[" + std::to_string(i) + "]";
      if (e.is_string()) {
        merges.push_back(split_merge(e.get<std::string>(), at));
      } else {
        TORCH_CHECK(e.is_array() && e.size() == 2 && e[0].is_string() && e[1].is_string(), "ByteLevelBPE: ", at,
                    ": expected a merge \"a b\" or a pair [\"a\", \"b\"], got ", e.dump());
        merges.emplace_back(e[0].get<std::string>(), e[1].get<std::string>());
      }
    }
    auto unsupported = [&](bool bad, const std::string& field, const nlohmann::json& v) {
      TORCH_CHECK(!bad, where, ": ", field, " = ", v.dump(), " is not supported by ByteLevelBPE");
    };
    for (const char* key : {"dropout", "continuing_subword_prefix", "end_of_word_suffix", "unk_token"}) {
      if (!m.contains(key) || m[key].is_null()) continue;
      unsupported(!(m[key].is_string() && m[key].get<std::string>().empty()), std::string("model.") + key, m[key]);
    }
    if (m.contains("byte_fallback")) unsupported(m["byte_fallback"] == true, "model.byte_fallback", m["byte_fallback"]);
    if (j.contains("normalizer")) unsupported(!j["normalizer"].is_null(), "normalizer", j["normalizer"]);

    ByteLevelBPEOptions o;
    o.special_tokens.clear();
    o.ignore_merges = m.contains("ignore_merges") && m["ignore_merges"] == true;
    // Pre-tokenizer: ByteLevel, possibly inside a Sequence.
    const nlohmann::json* bl = nullptr;
    if (j.contains("pre_tokenizer") && j["pre_tokenizer"].is_object()) {
      const auto& p = j["pre_tokenizer"];
      if (p.value("type", "") == "ByteLevel") {
        bl = &p;
      } else if (p.value("type", "") == "Sequence" && p.contains("pretokenizers") && p["pretokenizers"].size() == 1 &&
                 p["pretokenizers"][0].value("type", "") == "ByteLevel") {
        bl = &p["pretokenizers"][0];
      }
    }
    TORCH_CHECK(bl != nullptr, where, ": expected pre_tokenizer {\"type\": \"ByteLevel\", ...}, got ",
                j.contains("pre_tokenizer") ? j["pre_tokenizer"].dump() : std::string("nothing"));
    o.add_prefix_space = bl->value("add_prefix_space", false);
    o.use_regex = bl->value("use_regex", true);
    // Added tokens.
    if (j.contains("added_tokens")) {
      TORCH_CHECK(j["added_tokens"].is_array(), where, ": expected added_tokens to be an array, got ",
                  type_name(j["added_tokens"]));
      for (const auto& a : j["added_tokens"]) {
        TORCH_CHECK(a.is_object() && a.contains("content") && a["content"].is_string() && a.contains("id") &&
                        a["id"].is_number_integer(),
                    where, ": expected added tokens {\"id\": int, \"content\": string, ...}, got ", a.dump());
        const auto content = a["content"].get<std::string>();
        const auto id = a["id"].get<int64_t>();
        unsupported(a.value("single_word", false), "added token '" + content + "' single_word", true);
        auto it = vocab.find(content);
        if (it == vocab.end()) {
          vocab.emplace(content, id);
        } else {
          TORCH_CHECK(it->second == id, where, ": added token '", content, "' has id ", id,
                      " but the vocabulary gives it ", it->second);
        }
        o.special_tokens.push_back({content, a.value("lstrip", false), a.value("rstrip", false)});
      }
    }
    // Post-processor.
    std::vector<nlohmann::json> processors;
    if (j.contains("post_processor") && !j["post_processor"].is_null()) {
      const auto& pp = j["post_processor"];
      if (pp.value("type", "") == "Sequence" && pp.contains("processors") && pp["processors"].is_array()) {
        for (const auto& p : pp["processors"]) processors.push_back(p);
      } else {
        processors.push_back(pp);
      }
    }
    for (const auto& pp : processors) {
      const std::string pt = pp.value("type", "");
      if (pt == "RobertaProcessing") {
        TORCH_CHECK(pp.contains("cls") && pp["cls"].is_array() && pp.contains("sep") && pp["sep"].is_array(), where,
                    ": expected post_processor.cls and .sep as [token, id], got ", pp.dump());
        const auto cls = pp["cls"][0].get<std::string>();
        const auto sep = pp["sep"][0].get<std::string>();
        o.prefix = {cls};
        o.suffix = {sep};
        o.pair_middle = {sep, sep};
      } else if (pt == "TemplateProcessing") {
        read_template(pp, o, where);
      } else {
        unsupported(pt != "ByteLevel", "post_processor", pp);
      }
    }
    return ByteLevelBPE(std::move(vocab), merges, std::move(o), "ByteLevelBPE(" + src + ")");
  }

  /// The options (special tokens, post-processing) it was made with.
  const ByteLevelBPEOptions& options() const { return options_; }
  /// The merges in rank order, as pairs of tokens in byte characters (what merges.txt lists).
  std::vector<std::pair<std::string, std::string>> merges() const {
    std::vector<std::pair<std::string, std::string>> out(merges_.size());
    for (const auto& [key, v] : merges_)
      out[static_cast<size_t>(v.rank)] = {tokens_[static_cast<size_t>(key >> 32)],
                                          tokens_[static_cast<size_t>(key & 0xffffffffu)]};
    std::erase_if(out, [](const auto& m) { return m.first.empty(); });  // ranks a repeated merge overrode
    return out;
  }
  /// Number of ids: one more than the largest id.
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  /// The token of `id` (in byte characters); throws when id is not in [0, size()).
  const std::string& token(int64_t id) const {
    TORCH_CHECK(id >= 0 && id < size(), "ByteLevelBPE: expected a token id in [0, ", size(), "), got ", id);
    return tokens_[static_cast<size_t>(id)];
  }
  /// The id of `token` (in byte characters), or nullopt.
  std::optional<int64_t> find(const std::string& token) const {
    auto it = vocab_.find(token);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }
  /// The id of `token`; throws when it is not in the vocabulary.
  int64_t id(const std::string& token) const {
    auto i = find(token);
    TORCH_CHECK(i.has_value(), "ByteLevelBPE: expected a token of the vocabulary, got '", token, "'");
    return *i;
  }
  /// Ids of the special tokens, in the order of options().special_tokens.
  const std::vector<int64_t>& special_ids() const { return special_ids_; }
  /// Whether `id` is a special token's.
  bool is_special(int64_t id) const { return std::find(special_ids_.begin(), special_ids_.end(), id) != special_ids_.end(); }

  /// Token ids of `text`; with add_special_tokens, wrapped in options().prefix / suffix (RoBERTa:
  /// `<s> ... </s>`; GPT-2: nothing), like HF's `tokenizer(text)["input_ids"]`.
  std::vector<int64_t> encode(std::string_view text, bool add_special_tokens = true) const {
    std::vector<int64_t> ids;
    if (add_special_tokens) ids = prefix_;
    encode_into(text, ids);
    if (add_special_tokens) ids.insert(ids.end(), suffix_.begin(), suffix_.end());
    return ids;
  }

  /// Ids of a pair: prefix a pair_middle b suffix (RoBERTa: `<s> A </s></s> B </s>`).
  std::vector<int64_t> encode_pair(std::string_view a, std::string_view b) const {
    std::vector<int64_t> ids = prefix_;
    encode_into(a, ids);
    ids.insert(ids.end(), middle_.begin(), middle_.end());
    encode_into(b, ids);
    ids.insert(ids.end(), suffix_.begin(), suffix_.end());
    return ids;
  }

  /// The tokens (in byte characters, e.g. "Ġworld") of encode(text, false).
  std::vector<std::string> tokenize(std::string_view text) const {
    std::vector<std::string> out;
    for (int64_t i : encode(text, false)) out.push_back(token(i));
    return out;
  }

  /// Text of `ids` like HF's `decode` (ByteLevel decoder): each token's byte characters back to
  /// bytes (a token with a character outside the table, such as an added token, gives its own
  /// UTF-8), then the bytes as UTF-8 with each ill-formed part replaced by U+FFFD (Rust's
  /// `from_utf8_lossy`). skip_special drops the special tokens; ids outside [0, size()) throw.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = false) const {
    std::string bytes;
    for (int64_t i : ids) {
      const std::string& t = token(i);
      if (skip_special && is_special(i)) continue;
      const size_t before = bytes.size();
      bool mapped = true;
      for (size_t k = 0; k < t.size() && mapped;) {
        const int b = unicode_to_byte(utf8_next(t, k));
        if (b < 0) {
          mapped = false;
        } else {
          bytes.push_back(static_cast<char>(b));
        }
      }
      if (!mapped) {
        bytes.resize(before);
        bytes += t;
      }
    }
    return repair_utf8(bytes);
  }

  /// The words encode() merges, as UTF-8 (GPT-2's pre-tokenization of each part between special
  /// tokens, prefix space included); special tokens are not listed.
  std::vector<std::string> pre_tokenize(std::string_view text) const {
    std::vector<std::string> words;
    for_each_part(text, [&](std::string_view part) {
      split_words(part, [&](std::string_view w) { words.emplace_back(w); });
    }, [](int64_t) {});
    return words;
  }

  /// `text` with each ill-formed UTF-8 part replaced by U+FFFD (Python's errors="replace"); the
  /// text itself when it is valid.
  static std::string repair_utf8(std::string_view text) {
    size_t i = 0;
    while (i < text.size()) {
      const size_t at = i;
      if (utf8_next(text, i) == kReplacementChar && text.substr(at, i - at) != "\xEF\xBF\xBD") {
        return utf8_encode(utf8_decode(text));
      }
    }
    return std::string(text);
  }

 private:
  struct MergeValue {
    int32_t rank;
    int32_t id;
  };
  struct Special {
    SpecialToken token;
    int64_t id;
  };
  struct Cache {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<int64_t>> words;
  };
  static constexpr size_t kCacheCapacity = 10000;  // HF's default

  static uint64_t pair_key(int64_t a, int64_t b) { return (static_cast<uint64_t>(a) << 32) | static_cast<uint64_t>(b); }

  static std::string type_name(const nlohmann::json& j) { return j.type_name(); }

  static nlohmann::json read_json(const std::filesystem::path& path, const char* who) {
    std::ifstream in(path, std::ios::binary);
    TORCH_CHECK(in.good(), who, ": expected a JSON file, cannot open '", path.string(), "'");
    try {
      return nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      TORCH_CHECK(false, who, ": expected valid JSON in '", path.string(), "', got a parse error: ", e.what());
    }
    return {};
  }

  static std::unordered_map<std::string, int64_t> read_vocab(const nlohmann::json& j, const std::string& src) {
    TORCH_CHECK(j.is_object(), "ByteLevelBPE: ", src, ": expected the vocabulary as an object {token: id}, got ",
                j.type_name());
    std::unordered_map<std::string, int64_t> vocab;
    vocab.reserve(j.size());
    for (auto it = j.begin(); it != j.end(); ++it) {
      TORCH_CHECK(it.value().is_number_integer(), "ByteLevelBPE: ", src, ": expected an integer id for token '", it.key(),
                  "', got ", it.value().dump());
      vocab.emplace(it.key(), it.value().get<int64_t>());
    }
    return vocab;
  }

  static std::pair<std::string, std::string> split_merge(const std::string& line, const std::string& at) {
    const size_t sp = line.find(' ');
    TORCH_CHECK(sp != std::string::npos && sp > 0 && sp + 1 < line.size() && line.find(' ', sp + 1) == std::string::npos,
                "ByteLevelBPE: ", at, ": expected a merge \"a b\" (two tokens, one space), got '", line, "'");
    return {line.substr(0, sp), line.substr(sp + 1)};
  }

  static void read_template(const nlohmann::json& pp, ByteLevelBPEOptions& o, const std::string& where) {
    auto parse = [&](const char* key, std::vector<std::vector<std::string>>& parts) {
      TORCH_CHECK(pp.contains(key) && pp[key].is_array(), where, ": expected post_processor.", key, " to be an array, got ",
                  pp.dump());
      parts.assign(1, {});
      for (const auto& piece : pp[key]) {
        if (piece.contains("Sequence")) {
          parts.emplace_back();
        } else {
          TORCH_CHECK(piece.contains("SpecialToken") && piece["SpecialToken"].contains("id"), where,
                      ": expected post_processor.", key, " items {\"Sequence\": ...} or {\"SpecialToken\": ...}, got ",
                      piece.dump());
          const auto name = piece["SpecialToken"]["id"].get<std::string>();
          TORCH_CHECK(pp.contains("special_tokens") && pp["special_tokens"].contains(name), where,
                      ": expected post_processor.special_tokens to define '", name, "', it does not");
          const auto& st = pp["special_tokens"][name];
          TORCH_CHECK(st.contains("tokens") && st["tokens"].size() == 1, where, ": expected special token '", name,
                      "' of the template to be one token, got ", st.dump());
          parts.back().push_back(st["tokens"][0].get<std::string>());
        }
      }
    };
    std::vector<std::vector<std::string>> single, pair;
    parse("single", single);
    TORCH_CHECK(single.size() == 2, where, ": expected post_processor.single to hold one sequence $A, got ", pp["single"].dump());
    o.prefix = single[0];
    o.suffix = single[1];
    if (pp.contains("pair")) {
      parse("pair", pair);
      TORCH_CHECK(pair.size() == 3 && pair[0] == single[0] && pair[2] == single[1], where,
                  ": expected post_processor.pair to be `prefix $A middle $B suffix` with single's prefix and suffix, got ",
                  pp["pair"].dump());
      o.pair_middle = pair[1];
    }
  }

  int64_t id_in(const std::string& t, const std::string& source, const char* what) const {
    auto it = vocab_.find(t);
    TORCH_CHECK(it != vocab_.end(), source, ": expected the ", what, " '", t, "' in the vocabulary, it is missing");
    return it->second;
  }

  // Calls part(text) for each stretch between special tokens (leftmost, then longest match; with
  // lstrip / rstrip the adjacent whitespace goes to the token) and special(id) for each token.
  template <class Part, class SpecialF>
  void for_each_part(std::string_view raw, Part&& part, SpecialF&& special) const {
    std::string repaired = repair_utf8(raw);
    const std::string_view text = repaired;
    size_t start = 0;  // end of the previous match
    size_t pos = 0;
    while (!specials_.empty() && pos < text.size()) {
      if (!first_bytes_[static_cast<unsigned char>(text[pos])]) {
        ++pos;
        continue;
      }
      const Special* best = nullptr;
      for (const auto& s : specials_)
        if (text.substr(pos).starts_with(s.token.content) &&
            (best == nullptr || s.token.content.size() > best->token.content.size()))
          best = &s;
      if (best == nullptr) {
        ++pos;
        continue;
      }
      size_t b = pos, e = pos + best->token.content.size();
      if (best->token.lstrip) {
        while (b > start) {
          size_t k = b - 1;
          while (k > start && (static_cast<unsigned char>(text[k]) & 0xC0) == 0x80) --k;
          size_t kk = k;
          if (!is_whitespace(utf8_next(text, kk))) break;
          b = k;
        }
      }
      if (best->token.rstrip) {
        while (e < text.size()) {
          size_t k = e;
          if (!is_whitespace(utf8_next(text, k))) break;
          e = k;
        }
      }
      if (b > start) part(text.substr(start, b - start));
      special(best->id);
      start = pos = e;
    }
    if (start < text.size() || text.empty()) part(text.substr(start));
  }

  template <class F>
  void split_words(std::string_view part, F&& f) const {
    if (part.empty()) return;  // an empty text gets no prefix space either
    std::string buf;
    if (options_.add_prefix_space && !part.starts_with(' ')) {
      buf.reserve(part.size() + 1);
      buf.push_back(' ');
      buf.append(part);
      part = buf;
    }
    if (!options_.use_regex) {
      f(part);
      return;
    }
    gpt2_split(part, [&](size_t b, size_t e) { f(part.substr(b, e - b)); });
  }

  void encode_into(std::string_view text, std::vector<int64_t>& ids) const {
    for_each_part(
        text, [&](std::string_view part) { split_words(part, [&](std::string_view w) { encode_word(w, ids); }); },
        [&](int64_t id) { ids.push_back(id); });
  }

  void encode_word(std::string_view word, std::vector<int64_t>& ids) const {
    {
      std::lock_guard<std::mutex> lock(cache_->mutex);
      auto it = cache_->words.find(std::string(word));
      if (it != cache_->words.end()) {
        ids.insert(ids.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<int64_t> out = bpe(word);
    ids.insert(ids.end(), out.begin(), out.end());
    std::lock_guard<std::mutex> lock(cache_->mutex);
    if (cache_->words.size() >= kCacheCapacity) cache_->words.clear();
    cache_->words.emplace(std::string(word), std::move(out));
  }

  // HF tokenizers' Word::merge_all: a queue of (rank, position) of the mergeable pairs, lowest
  // rank then leftmost first; stale entries are skipped.
  std::vector<int64_t> bpe(std::string_view word) const {
    if (options_.ignore_merges) {
      std::string chars;
      const auto& b2u = byte_to_unicode();
      for (char ch : word) append_utf8(chars, b2u[static_cast<unsigned char>(ch)]);
      if (auto it = vocab_.find(chars); it != vocab_.end()) return {it->second};
    }
    struct Sym {
      int64_t id;
      int64_t prev, next;
      bool alive;
    };
    std::vector<Sym> syms;
    syms.reserve(word.size());
    for (char ch : word) {
      const int64_t id = byte_id_[static_cast<unsigned char>(ch)];
      if (id < 0) continue;  // a byte missing from the vocabulary is dropped, like HF without unk_token
      const auto n = static_cast<int64_t>(syms.size());
      syms.push_back({id, n - 1, n + 1, true});
    }
    if (syms.empty()) return {};
    syms.back().next = -1;
    struct Item {
      int32_t rank;
      int64_t pos;
      int32_t id;
      bool operator>(const Item& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Item, std::vector<Item>, std::greater<Item>> queue;
    auto push = [&](int64_t p) {
      const int64_t q = syms[static_cast<size_t>(p)].next;
      if (q < 0) return;
      auto it = merges_.find(pair_key(syms[static_cast<size_t>(p)].id, syms[static_cast<size_t>(q)].id));
      if (it != merges_.end()) queue.push({it->second.rank, p, it->second.id});
    };
    for (size_t p = 0; p + 1 < syms.size(); ++p) push(static_cast<int64_t>(p));
    while (!queue.empty()) {
      const Item top = queue.top();
      queue.pop();
      Sym& s = syms[static_cast<size_t>(top.pos)];
      if (!s.alive || s.next < 0) continue;
      Sym& right = syms[static_cast<size_t>(s.next)];
      auto it = merges_.find(pair_key(s.id, right.id));
      if (it == merges_.end() || it->second.id != top.id) continue;  // stale
      s.id = top.id;
      right.alive = false;
      s.next = right.next;
      if (s.next >= 0) syms[static_cast<size_t>(s.next)].prev = top.pos;
      if (s.prev >= 0) push(s.prev);
      push(top.pos);
    }
    std::vector<int64_t> out;
    for (int64_t p = 0; p >= 0; p = syms[static_cast<size_t>(p)].next) out.push_back(syms[static_cast<size_t>(p)].id);
    return out;
  }

  ByteLevelBPEOptions options_;
  std::unordered_map<std::string, int64_t> vocab_;
  std::vector<std::string> tokens_;
  std::unordered_map<uint64_t, MergeValue> merges_;
  std::array<int64_t, 256> byte_id_{};
  std::vector<Special> specials_;
  std::array<bool, 256> first_bytes_{};
  std::vector<int64_t> special_ids_;
  std::vector<int64_t> prefix_, suffix_, middle_;
  std::shared_ptr<Cache> cache_;
};

}  // namespace ssl::text
