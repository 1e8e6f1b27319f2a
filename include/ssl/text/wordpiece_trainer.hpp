#pragma once
/// \file text/wordpiece_trainer.hpp
/// Learns a WordPiece vocabulary from raw texts, like Hugging Face tokenizers' WordPieceTrainer
/// (which is its BPE trainer with the "##" continuing-subword prefix):
///
///     auto vocab = ssl::text::train_wordpiece(texts, {.vocab_size = 8000});
///     ssl::text::WordPiece tok(vocab);   // or vocab.save("vocab.txt") for transformers
#include <ssl/text/wordpiece.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cstdint>
#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

namespace ssl::text {

/// Options of `train_wordpiece`.
struct WordPieceTrainerOptions {
  /// Target size, specials and alphabet included (the alphabet is never cut, so a corpus with
  /// more characters than this gives a larger vocabulary; fewer merges can also end it earlier).
  int64_t vocab_size = 8000;
  /// A pair seen fewer times than this (counted over the corpus) is never merged.
  int64_t min_frequency = 2;
  /// Ids 0, 1, ... in this order.
  std::vector<std::string> special_tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  /// The normalizer and word splitter whose words are counted (use the same for the WordPiece).
  BasicTokenizerOptions basic;
};

/// Trains a WordPiece vocabulary on `texts`:
///  1. the words of every text (BasicTokenizer with options.basic) are counted;
///  2. the vocabulary starts with the special tokens, then every character seen as a word start
///     (sorted by code point), then its "##" continuation form (sorted by code point; not for
///     the characters that are always a word on their own: punctuation, and CJK ideographs when
///     tokenize_chinese_chars), so that every word of the corpus can be tokenized;
///  3. words are split into those symbols, and the most frequent adjacent pair (ties: the pair of
///     smaller ids) is merged into a new token a + b (b's "##" removed), over and over, until the
///     vocabulary has vocab_size tokens or no pair is seen min_frequency times.
/// Pair counts are updated incrementally (pair -> words index, lazy max-heap), so a corpus of a
/// few MB trains in seconds. Deterministic. Throws when no word is found or the specials repeat.
inline Vocab train_wordpiece(const std::vector<std::string>& texts, const WordPieceTrainerOptions& options = {}) {
  TORCH_CHECK(options.vocab_size > 0, "train_wordpiece: expected vocab_size > 0, got ", options.vocab_size);
  TORCH_CHECK(options.min_frequency >= 1, "train_wordpiece: expected min_frequency >= 1, got ", options.min_frequency);
  const BasicTokenizer basic(options.basic);

  // 1. Word counts.
  std::unordered_map<std::string, int64_t, StringHash, std::equal_to<>> word_counts;
  for (const auto& t : texts) {
    basic.for_each_word(t, [&](std::string_view w) {
      auto it = word_counts.find(w);
      if (it == word_counts.end()) {
        word_counts.emplace(std::string(w), 1);
      } else {
        ++it->second;
      }
    });
  }
  TORCH_CHECK(!word_counts.empty(), "train_wordpiece: expected texts with at least one word, got ", texts.size(),
              " text(s) and no word");
  std::vector<std::pair<std::string, int64_t>> words(word_counts.begin(), word_counts.end());
  std::sort(words.begin(), words.end());

  // 2. Specials and alphabet.
  std::vector<std::string> tokens;
  std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>> token_ids;
  auto add_token = [&](const std::string& t) -> int32_t {
    auto it = token_ids.find(t);
    if (it != token_ids.end()) return it->second;
    const auto id = static_cast<int32_t>(tokens.size());
    tokens.push_back(t);
    token_ids.emplace(t, id);
    return id;
  };
  for (const auto& s : options.special_tokens) {
    TORCH_CHECK(!token_ids.contains(s), "train_wordpiece: expected distinct special tokens, got '", s, "' twice");
    add_token(s);
  }
  std::vector<char32_t> alphabet;
  {
    std::unordered_set<char32_t> seen;
    for (const auto& [w, n] : words)
      for (char32_t c : utf8_decode(w)) seen.insert(c);
    alphabet.assign(seen.begin(), seen.end());
    std::sort(alphabet.begin(), alphabet.end());
  }
  std::unordered_map<char32_t, int32_t> initial_id, continuation_id;
  for (char32_t c : alphabet) {
    std::string s;
    append_utf8(s, c);
    initial_id[c] = add_token(s);
  }
  const bool cjk_isolated = options.basic.tokenize_chinese_chars;
  for (char32_t c : alphabet) {
    if (is_punctuation(c) || (cjk_isolated && is_cjk(c))) continue;
    std::string s = "##";
    append_utf8(s, c);
    continuation_id[c] = add_token(s);
  }

  // 3. Words as symbol ids; pair counts and the pair -> words index.
  const size_t n_words = words.size();
  std::vector<std::vector<int32_t>> symbols(n_words);
  std::vector<int64_t> counts(n_words);
  auto key = [](int32_t a, int32_t b) { return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b); };
  std::unordered_map<uint64_t, int64_t> pair_count;
  std::unordered_map<uint64_t, std::vector<int32_t>> pair_words;
  for (size_t w = 0; w < n_words; ++w) {
    const auto cps = utf8_decode(words[w].first);
    counts[w] = words[w].second;
    auto& sym = symbols[w];
    sym.reserve(cps.size());
    for (size_t i = 0; i < cps.size(); ++i) sym.push_back(i == 0 ? initial_id.at(cps[i]) : continuation_id.at(cps[i]));
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      const uint64_t k = key(sym[i], sym[i + 1]);
      pair_count[k] += counts[w];
      auto& ws = pair_words[k];
      if (ws.empty() || ws.back() != static_cast<int32_t>(w)) ws.push_back(static_cast<int32_t>(w));
    }
  }

  // Max-heap on (count, then smaller pair); entries go stale and are checked when popped.
  struct Entry {
    int64_t count;
    uint64_t pair;
    bool operator<(const Entry& o) const { return count != o.count ? count < o.count : pair > o.pair; }
  };
  std::priority_queue<Entry> heap;
  for (const auto& [k, n] : pair_count) heap.push({n, k});

  std::vector<int64_t> visited(n_words, -1);  // merge step that last touched a word
  std::unordered_map<uint64_t, int64_t> delta;
  for (int64_t step = 0; static_cast<int64_t>(tokens.size()) < options.vocab_size && !heap.empty(); ++step) {
    const Entry top = heap.top();
    heap.pop();
    auto pc = pair_count.find(top.pair);
    const int64_t current = pc == pair_count.end() ? 0 : pc->second;
    if (current != top.count) {
      if (current > 0) heap.push({current, top.pair});
      continue;
    }
    if (current < options.min_frequency || current <= 0) break;
    const auto a = static_cast<int32_t>(top.pair >> 32), b = static_cast<int32_t>(top.pair & 0xFFFFFFFFu);
    std::string merged = tokens[static_cast<size_t>(a)];
    const std::string& tb = tokens[static_cast<size_t>(b)];
    merged += tb.starts_with("##") ? tb.substr(2) : tb;
    const int32_t m = add_token(merged);

    // Merge (a, b) -> m in every word holding it; collect the pair count changes.
    delta.clear();
    std::vector<int32_t> holders = std::move(pair_words[top.pair]);
    pair_words.erase(top.pair);
    pair_count.erase(pc);
    std::vector<std::pair<uint64_t, int32_t>> new_pairs;
    for (int32_t w : holders) {
      if (visited[static_cast<size_t>(w)] == step) continue;
      visited[static_cast<size_t>(w)] = step;
      auto& sym = symbols[static_cast<size_t>(w)];
      const int64_t n = counts[static_cast<size_t>(w)];
      std::vector<int32_t> out;
      out.reserve(sym.size());
      bool changed = false;
      for (size_t i = 0; i < sym.size();) {
        if (i + 1 < sym.size() && sym[i] == a && sym[i + 1] == b) {
          changed = true;
          out.push_back(m);
          i += 2;
        } else {
          out.push_back(sym[i]);
          ++i;
        }
      }
      if (!changed) continue;
      // Recount this word's pairs: subtract the old ones, add the new ones.
      for (size_t i = 0; i + 1 < sym.size(); ++i) delta[key(sym[i], sym[i + 1])] -= n;
      for (size_t i = 0; i + 1 < out.size(); ++i) {
        const uint64_t k = key(out[i], out[i + 1]);
        delta[k] += n;
        if (out[i] == m || out[i + 1] == m) new_pairs.emplace_back(k, w);
      }
      sym = std::move(out);
    }
    for (const auto& [k, d] : delta) {
      if (d == 0 || k == top.pair) continue;
      auto& c = pair_count[k];
      c += d;
      if (d > 0) heap.push({c, k});
      if (c <= 0) pair_count.erase(k);
    }
    for (const auto& [k, w] : new_pairs) {
      auto& ws = pair_words[k];
      if (ws.empty() || ws.back() != w) ws.push_back(w);
    }
  }
  return Vocab(std::move(tokens));
}

}  // namespace ssl::text
