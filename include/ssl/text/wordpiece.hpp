#pragma once
/// \file text/wordpiece.hpp
/// BERT's WordPiece tokenizer, id for id equal to Hugging Face `BertTokenizerFast` (tokenizers'
/// BertNormalizer + BertPreTokenizer + WordPiece model + WordPiece decoder) on the same vocab.txt:
///
///     auto tok = ssl::text::WordPiece(ssl::text::Vocab::load("vocab.txt"), {.lowercase = true});
///     auto ids = tok.encode_pair("How are you?", "Fine.");   // [CLS] how are you ? [SEP] fine . [SEP]
///     auto text = tok.decode(ids);                           // "how are you? fine."
///     auto same = ssl::text::WordPiece::from_tokenizer_json("tokenizer.json");   // HF's saved tokenizer
#include <ssl/text/unicode.hpp>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ssl::text {

/// Hash of std::string usable with std::string_view keys (heterogeneous lookup, no allocation).
struct StringHash {
  using is_transparent = void;  ///< enables heterogeneous lookup
  /// The hash of `s` (that of std::string_view).
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

/// The names of BERT's special tokens.
///@{
inline constexpr std::string_view kPadToken = "[PAD]";
inline constexpr std::string_view kUnkToken = "[UNK]";
inline constexpr std::string_view kClsToken = "[CLS]";
inline constexpr std::string_view kSepToken = "[SEP]";
inline constexpr std::string_view kMaskToken = "[MASK]";
///@}

// ---- Vocab ------------------------------------------------------------------------------------

/// A WordPiece vocabulary: token <-> id, where id = position (line number of vocab.txt).
class Vocab {
 public:
  /// An empty vocabulary (no token, no special token).
  Vocab() = default;

  /// Token i gets id i. A repeated token keeps its position in token(), and id() gives its last
  /// position (like transformers' load_vocab, which builds a dict).
  explicit Vocab(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
    ids_.reserve(tokens_.size());
    for (size_t i = 0; i < tokens_.size(); ++i) {
      ids_.insert_or_assign(tokens_[i], static_cast<int64_t>(i));
      max_token_bytes_ = std::max(max_token_bytes_, tokens_[i].size());
    }
    for (auto name : {kPadToken, kUnkToken, kClsToken, kSepToken, kMaskToken}) {
      if (auto i = find(name)) specials_.push_back(*i);
    }
  }

  /// Loads a Hugging Face vocab.txt: one token per line ('\n' or "\r\n"), id = line number (from 0).
  static Vocab load(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    TORCH_CHECK(in.good(), "Vocab::load: expected a vocab.txt (one token per line), cannot open '", path.string(),
                "'");
    std::vector<std::string> tokens;
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      tokens.push_back(std::move(line));
    }
    TORCH_CHECK(!tokens.empty(), "Vocab::load: expected at least one token in '", path.string(), "', got an empty file");
    return Vocab(std::move(tokens));
  }

  /// Writes vocab.txt (one token per line, in id order), loadable by load() and by transformers.
  void save(const std::filesystem::path& path) const {
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary);
    TORCH_CHECK(out.good(), "Vocab::save: cannot write '", path.string(), "'");
    for (const auto& t : tokens_) {
      TORCH_CHECK(t.find('\n') == std::string::npos, "Vocab::save: token ", t.size() > 40 ? t.substr(0, 40) : t,
                  " contains a newline and cannot be written to vocab.txt");
      out << t << '\n';
    }
    TORCH_CHECK(out.good(), "Vocab::save: error while writing '", path.string(), "'");
  }

  /// Number of tokens.
  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  /// The tokens in id order.
  const std::vector<std::string>& tokens() const { return tokens_; }
  /// Length in bytes of the longest token.
  size_t max_token_bytes() const { return max_token_bytes_; }

  /// The id of `token`, or nullopt when it is not in the vocabulary.
  std::optional<int64_t> find(std::string_view token) const {
    auto it = ids_.find(token);
    if (it == ids_.end()) return std::nullopt;
    return it->second;
  }
  /// Whether `token` is in the vocabulary.
  bool contains(std::string_view token) const { return ids_.find(token) != ids_.end(); }

  /// The id of `token`; throws when it is not in the vocabulary.
  int64_t id(std::string_view token) const {
    auto i = find(token);
    TORCH_CHECK(i.has_value(), "Vocab: expected a token of the vocabulary (", size(), " tokens), got '", token,
                "', which is not in it");
    return *i;
  }

  /// The token of `id`; throws when id is outside [0, size()).
  const std::string& token(int64_t id) const {
    TORCH_CHECK(id >= 0 && id < size(), "Vocab: expected a token id in [0, ", size(), "), got ", id);
    return tokens_[static_cast<size_t>(id)];
  }

  /// Ids of [PAD] [UNK] [CLS] [SEP] [MASK]; each throws when the token is missing.
  ///@{
  int64_t pad_id() const { return special(kPadToken); }
  int64_t unk_id() const { return special(kUnkToken); }
  int64_t cls_id() const { return special(kClsToken); }
  int64_t sep_id() const { return special(kSepToken); }
  int64_t mask_id() const { return special(kMaskToken); }
  ///@}

  /// Whether `id` is one of the five special tokens (those present in the vocabulary).
  bool is_special(int64_t id) const { return std::find(specials_.begin(), specials_.end(), id) != specials_.end(); }
  /// Ids of the special tokens present, in the order [PAD] [UNK] [CLS] [SEP] [MASK].
  const std::vector<int64_t>& special_ids() const { return specials_; }

 private:
  int64_t special(std::string_view name) const {
    auto i = find(name);
    TORCH_CHECK(i.has_value(), "Vocab: expected the special token ", name, " in the vocabulary (", size(),
                " tokens), it is missing");
    return *i;
  }

  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> ids_;
  std::vector<int64_t> specials_;
  size_t max_token_bytes_ = 0;
};

// ---- Basic tokenizer (normalizer + pre-tokenizer) ---------------------------------------------

/// Options of BERT's normalizer (HF `BertNormalizer` / transformers' `BertTokenizer` arguments).
struct BasicTokenizerOptions {
  bool lowercase = true;  ///< lowercase the text (uncased models)
  /// nullopt: strip accents iff lowercase (like HF and the original BERT).
  std::optional<bool> strip_accents;
  /// Surround CJK ideographs with spaces, so that each is its own word.
  bool tokenize_chinese_chars = true;
};

/// BERT's text normalization and word splitting, equal to HF tokenizers' `BertNormalizer`
/// (clean_text = true) followed by `BertPreTokenizer`:
///  1. clean: drop U+0000, U+FFFD and control characters (is_control), map whitespace to ' ';
///  2. if tokenize_chinese_chars: put ' ' around each CJK ideograph;
///  3. if strip_accents (default: = lowercase): NFD, then drop nonspacing marks (Mn);
///  4. if lowercase: full lowercase mapping, character by character;
///  5. split on whitespace; every punctuation character (is_punctuation) is a word of its own.
/// Input is UTF-8; ill-formed bytes decode to U+FFFD (and are dropped by step 1).
class BasicTokenizer {
 public:
  /// A tokenizer with `options`.
  explicit BasicTokenizer(BasicTokenizerOptions options = {}) : options_(options) {}
  /// The options it was made with.
  const BasicTokenizerOptions& options() const { return options_; }
  /// Whether step 3 runs: `strip_accents`, or `lowercase` when unset.
  bool strips_accents() const { return options_.strip_accents.value_or(options_.lowercase); }

  /// Steps 1-4: the normalized text.
  std::u32string normalize(std::string_view text) const {
    std::u32string out;
    normalize_into(text, out);
    return out;
  }

  /// Calls `f(std::string_view word)` for each word (UTF-8) of `text`, in order (steps 1-5).
  template <class F>
  void for_each_word(std::string_view text, F&& f) const {
    std::u32string norm;
    normalize_into(text, norm);
    std::string word;
    auto flush = [&] {
      if (!word.empty()) {
        f(std::string_view(word));
        word.clear();
      }
    };
    for (char32_t c : norm) {
      if (is_whitespace(c)) {
        flush();
      } else if (is_punctuation(c)) {
        flush();
        append_utf8(word, c);
        flush();
      } else {
        append_utf8(word, c);
      }
    }
    flush();
  }

  /// Steps 1-5: the words of `text`.
  std::vector<std::string> split(std::string_view text) const {
    std::vector<std::string> words;
    for_each_word(text, [&](std::string_view w) { words.emplace_back(w); });
    return words;
  }

 private:
  void normalize_into(std::string_view text, std::u32string& out) const {
    out.clear();
    out.reserve(text.size());
    bool non_ascii = false;
    for (size_t i = 0; i < text.size();) {
      char32_t c = utf8_next(text, i);
      if (c == 0 || c == kReplacementChar || is_control(c)) continue;
      if (is_whitespace(c)) c = ' ';
      non_ascii |= c >= 0x80;
      if (options_.tokenize_chinese_chars && c >= 0x3400 && is_cjk(c)) {
        out.push_back(' ');
        out.push_back(c);
        out.push_back(' ');
      } else {
        out.push_back(c);
      }
    }
    if (non_ascii && strips_accents()) out = strip_accents(out);
    if (options_.lowercase) {
      if (!non_ascii) {
        for (auto& c : out)
          if (c >= 'A' && c <= 'Z') c += 32;
      } else {
        std::u32string low;
        low.reserve(out.size());
        for (char32_t c : out) append_lower(low, c);
        out = std::move(low);
      }
    }
  }

  BasicTokenizerOptions options_;
};

// ---- WordPiece --------------------------------------------------------------------------------

/// BERT's WordPiece tokenizer; see the file comment. Thread-safe for concurrent const use.
class WordPiece {
 public:
  /// `max_input_chars_per_word`: longer words become one [UNK] (HF's default: 100).
  explicit WordPiece(Vocab vocab, BasicTokenizerOptions options = {}, int64_t max_input_chars_per_word = 100)
      : vocab_(std::move(vocab)), basic_(options), max_chars_(max_input_chars_per_word) {
    unk_ = vocab_.unk_id();  // required: throws a clear error when missing
    for (int64_t id : vocab_.special_ids()) specials_.push_back({vocab_.token(id), id});
  }

  /// Reads a Hugging Face tokenizer.json whose model is BERT's WordPiece (as saved by
  /// `BertTokenizerFast(...).backend_tokenizer.save(path)`): model.type "WordPiece", model.vocab
  /// an object token -> id with the ids 0..n-1, model.unk_token "[UNK]", model.max_input_chars_per_word,
  /// continuing_subword_prefix "##"; normalizer BertNormalizer (its lowercase, strip_accents and
  /// handle_chinese_chars options; clean_text true); pre_tokenizer BertPreTokenizer. Like HF, the
  /// added tokens written literally in the text are found first (the five BERT special tokens).
  /// Anything else is an error naming the file and the field.
  static WordPiece from_tokenizer_json(const std::filesystem::path& path) {
    const std::string where = "WordPiece::from_tokenizer_json: '" + path.string() + "'";
    std::ifstream in(path, std::ios::binary);
    TORCH_CHECK(in.good(), where, ": expected a tokenizer.json, cannot open it");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      TORCH_CHECK(false, where, ": expected valid JSON, got a parse error: ", e.what());
    }
    TORCH_CHECK(j.is_object() && j.contains("model") && j["model"].is_object(), where,
                ": expected an object with a \"model\" object, got ", j.type_name());
    const auto& m = j["model"];
    const std::string type = m.value("type", std::string());
    TORCH_CHECK(type == "WordPiece", where, ": expected model.type \"WordPiece\", got \"", type, "\"");
    TORCH_CHECK(m.contains("vocab") && m["vocab"].is_object(), where, ": expected model.vocab to be an object {token: id}, got ",
                m.contains("vocab") ? m["vocab"].type_name() : "nothing");
    const auto& v = m["vocab"];
    std::vector<std::string> tokens(v.size());
    std::vector<bool> seen(v.size(), false);
    for (auto it = v.begin(); it != v.end(); ++it) {
      TORCH_CHECK(it.value().is_number_integer(), where, ": model.vocab: expected an integer id for token '", it.key(),
                  "', got ", it.value().dump());
      const auto id = it.value().get<int64_t>();
      TORCH_CHECK(id >= 0 && id < static_cast<int64_t>(v.size()) && !seen[static_cast<size_t>(id)], where,
                  ": model.vocab: expected the ids 0..", v.size() - 1, " once each, got id ", id, " for token '", it.key(), "'",
                  id >= 0 && id < static_cast<int64_t>(v.size()) ? " (a repeated id)" : "");
      seen[static_cast<size_t>(id)] = true;
      tokens[static_cast<size_t>(id)] = it.key();
    }
    const auto unk = m.value("unk_token", std::string(kUnkToken));
    TORCH_CHECK(unk == kUnkToken, where, ": expected model.unk_token \"", kUnkToken, "\", got \"", unk, "\"");
    const auto prefix = m.value("continuing_subword_prefix", std::string("##"));
    TORCH_CHECK(prefix == "##", where, ": expected model.continuing_subword_prefix \"##\", got \"", prefix, "\"");
    const int64_t max_chars = m.value("max_input_chars_per_word", int64_t{100});
    BasicTokenizerOptions o;
    {
      TORCH_CHECK(j.contains("normalizer") && j["normalizer"].is_object(), where,
                  ": expected a normalizer {\"type\": \"BertNormalizer\", ...}, got ",
                  j.contains("normalizer") ? j["normalizer"].dump() : std::string("nothing"));
      const auto& n = j["normalizer"];
      const std::string nt = n.value("type", std::string());
      TORCH_CHECK(nt == "BertNormalizer", where, ": expected normalizer BertNormalizer, got ", n.dump());
      TORCH_CHECK(n.value("clean_text", true), where, ": normalizer.clean_text = false is not supported");
      o.lowercase = n.value("lowercase", true);
      o.tokenize_chinese_chars = n.value("handle_chinese_chars", true);
      if (n.contains("strip_accents") && !n["strip_accents"].is_null()) o.strip_accents = n["strip_accents"].get<bool>();
    }
    if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null()) {
      const std::string pt = j["pre_tokenizer"].value("type", std::string());
      TORCH_CHECK(pt == "BertPreTokenizer", where, ": expected pre_tokenizer BertPreTokenizer, got ",
                  j["pre_tokenizer"].dump());
    }
    return WordPiece(Vocab(std::move(tokens)), o, max_chars);
  }

  /// The vocabulary.
  const Vocab& vocab() const { return vocab_; }
  /// The normalizer and word splitter.
  const BasicTokenizer& basic() const { return basic_; }

  /// Token ids of `text` without special tokens ([CLS]/[SEP] are not added). Like HF, the
  /// special tokens written literally in the raw text ("[MASK]", case-sensitive) are recognized
  /// first and give their ids; the text between them is normalized, split into words and each
  /// word into the greedy longest-match-first pieces (continuations prefixed "##"). A word longer
  /// than max_input_chars_per_word characters, or with a part that no piece matches, gives a
  /// single [UNK].
  std::vector<int64_t> encode(std::string_view text) const {
    std::vector<int64_t> ids;
    ids.reserve(text.size() / 3 + 1);
    encode_into(text, ids);
    return ids;
  }

  /// The pieces of `text` (the tokens of encode(text)).
  std::vector<std::string> tokenize(std::string_view text) const {
    std::vector<std::string> out;
    for (int64_t id : encode(text)) out.push_back(vocab_.token(id));
    return out;
  }

  /// [CLS] a [SEP]. With max_length > 0, the pieces of `a` are cut to max_length - 2.
  std::vector<int64_t> encode_with_specials(std::string_view a, int64_t max_length = 0) const {
    auto ea = encode(a);
    if (max_length > 0) {
      TORCH_CHECK(max_length >= 2, "WordPiece::encode_with_specials: expected max_length >= 2 (room for [CLS] and ",
                  "[SEP]) or 0 (no truncation), got ", max_length);
      if (static_cast<int64_t>(ea.size()) > max_length - 2) ea.resize(static_cast<size_t>(max_length - 2));
    }
    std::vector<int64_t> ids;
    ids.reserve(ea.size() + 2);
    ids.push_back(vocab_.cls_id());
    ids.insert(ids.end(), ea.begin(), ea.end());
    ids.push_back(vocab_.sep_id());
    return ids;
  }

  /// [CLS] a [SEP] b [SEP]. With max_length > 0, the pieces are cut like HF's "longest_first"
  /// truncation to fit max_length: the longer sequence is cut first, to no less than the shorter;
  /// when both must be cut, a keeps (max_length - 3) / 2 rounded down if it was the shorter.
  std::vector<int64_t> encode_pair(std::string_view a, std::string_view b, int64_t max_length = 0) const {
    auto ea = encode(a);
    auto eb = encode(b);
    if (max_length > 0) {
      TORCH_CHECK(max_length >= 3, "WordPiece::encode_pair: expected max_length >= 3 (room for [CLS] and two [SEP]) ",
                  "or 0 (no truncation), got ", max_length);
      const auto [na, nb] = longest_first(static_cast<int64_t>(ea.size()), static_cast<int64_t>(eb.size()),
                                          max_length - 3);
      ea.resize(static_cast<size_t>(na));
      eb.resize(static_cast<size_t>(nb));
    }
    std::vector<int64_t> ids;
    ids.reserve(ea.size() + eb.size() + 3);
    ids.push_back(vocab_.cls_id());
    ids.insert(ids.end(), ea.begin(), ea.end());
    ids.push_back(vocab_.sep_id());
    ids.insert(ids.end(), eb.begin(), eb.end());
    ids.push_back(vocab_.sep_id());
    return ids;
  }

  /// Segment ids (BERT's token_type_ids) of an encode_pair / encode_with_specials result: 0 up to
  /// and including the first [SEP], 1 after it.
  std::vector<int64_t> type_ids(const std::vector<int64_t>& ids) const {
    std::vector<int64_t> out(ids.size(), 0);
    const int64_t sep = vocab_.sep_id();
    auto it = std::find(ids.begin(), ids.end(), sep);
    if (it != ids.end()) std::fill(out.begin() + (it - ids.begin()) + 1, out.end(), 1);
    return out;
  }

  /// Text of `ids` like HF's `tokenizer.decode` for BERT: special tokens ([UNK] included) are
  /// dropped when skip_special; the tokens are joined by ' ', except that a "##" continuation is
  /// glued to the previous token (prefix removed); with clean_up (HF's WordPiece decoder default,
  /// applied token by token), the tokens ".", "?", "!" and "," are glued to the previous one too.
  /// Lowercasing and stripped accents are not undone; ids outside the vocabulary throw.
  std::string decode(const std::vector<int64_t>& ids, bool skip_special = true, bool clean_up = true) const {
    std::string out;
    bool first = true;
    for (int64_t id : ids) {
      const std::string& tok = vocab_.token(id);
      if (skip_special && vocab_.is_special(id)) continue;
      std::string piece;
      if (!first && tok.starts_with("##")) {
        piece = tok.substr(2);
      } else {
        piece = first ? tok : " " + tok;
      }
      first = false;
      if (clean_up) piece = cleanup(std::move(piece));
      out += piece;
    }
    return out;
  }

 private:
  static std::pair<int64_t, int64_t> longest_first(int64_t n1, int64_t n2, int64_t max_len) {
    if (n1 + n2 <= max_len) return {n1, n2};
    const bool swap = n1 > n2;
    if (swap) std::swap(n1, n2);
    n2 = n1 > max_len ? n1 : std::max(n1, max_len - n1);
    if (n1 + n2 > max_len) {
      n1 = max_len / 2;
      n2 = n1 + max_len % 2;
    }
    if (swap) std::swap(n1, n2);
    return {n1, n2};
  }

  // HF tokenizers' decoders::wordpiece::cleanup, applied to one (space-prefixed) token.
  static std::string cleanup(std::string s) {
    static const std::pair<std::string_view, std::string_view> kRules[] = {
        {" .", "."},         {" ?", "?"},     {" !", "!"},     {" ,", ","},     {" ' ", "'"},   {" n't", "n't"},
        {" 'm", "'m"},       {" do not", " don't"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
    for (const auto& [from, to] : kRules) {
      for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
        s.replace(pos, from.size(), to);
    }
    return s;
  }

  void encode_into(std::string_view text, std::vector<int64_t>& ids) const {
    // Split at literal special tokens (leftmost, longest), then encode the pieces in between.
    size_t begin = 0, pos = 0;
    while (!specials_.empty() && (pos = text.find('[', pos)) != std::string_view::npos) {
      const Special* best = nullptr;
      for (const auto& s : specials_)
        if (text.substr(pos).starts_with(s.text) && (best == nullptr || s.text.size() > best->text.size())) best = &s;
      if (best == nullptr) {
        ++pos;
        continue;
      }
      encode_plain(text.substr(begin, pos - begin), ids);
      ids.push_back(best->id);
      pos += best->text.size();
      begin = pos;
    }
    encode_plain(text.substr(begin), ids);
  }

  void encode_plain(std::string_view text, std::vector<int64_t>& ids) const {
    if (text.empty()) return;
    std::string buf;
    basic_.for_each_word(text, [&](std::string_view word) { wordpiece(word, ids, buf); });
  }

  // Greedy longest-match-first, exactly HF tokenizers' WordPiece::tokenize.
  void wordpiece(std::string_view word, std::vector<int64_t>& ids, std::string& buf) const {
    if (static_cast<int64_t>(utf8_length(word)) > max_chars_) {
      ids.push_back(unk_);
      return;
    }
    const size_t before = ids.size();
    const size_t max_bytes = vocab_.max_token_bytes();
    size_t start = 0;
    while (start < word.size()) {
      // Longest candidate first; a piece longer than the longest token cannot match.
      size_t end = word.size();
      const size_t cap = start + max_bytes;  // "##" only makes the candidate longer
      if (end > cap) {
        end = cap;
        while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80) --end;
      }
      std::optional<int64_t> hit;
      while (end > start) {
        if (start == 0) {
          hit = vocab_.find(word.substr(0, end));
        } else {
          buf.assign("##");
          buf.append(word.substr(start, end - start));
          hit = vocab_.find(buf);
        }
        if (hit) break;
        do --end;  // to the previous character boundary
        while (end > start && (static_cast<unsigned char>(word[end]) & 0xC0) == 0x80);
      }
      if (!hit) {
        ids.resize(before);
        ids.push_back(unk_);
        return;
      }
      ids.push_back(*hit);
      start = end;
    }
  }

  struct Special {
    std::string text;
    int64_t id;
  };

  Vocab vocab_;
  BasicTokenizer basic_;
  int64_t max_chars_;
  int64_t unk_ = 0;
  std::vector<Special> specials_;
};

}  // namespace ssl::text
