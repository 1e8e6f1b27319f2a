#pragma once
/// \file data/text.hpp
/// The text corpus pipeline: documents -> sentences -> token ids -> fixed-length sequences,
/// as the text methods consume them (`[S,N]` int64 ids, right-padded; labels `[S]` where the
/// sequences have them). The attention mask is implied by the padding id, and segment ids by
/// the `[SEP]` positions (text::Encoder derives both).
///  - `sentence_pairs`: BERT's `[CLS] A [SEP] B [SEP]` with B the true continuation of A half the
///    time (label 0, Hugging Face's convention) and a span of another document otherwise (1).
///  - `pack`: RoBERTa's FULL-SENTENCES / GPT's contiguous stream: documents one after another,
///    `[SEP]` after each, cut into full-length sequences.
///  - `single`: one document per sequence (`[CLS] text [SEP]`, truncated), for classification.
#include <ssl/core/check.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace ssl::data {

/// Token ids of a sequence layout.
struct TextSpecials {
  int64_t cls = -1;  ///< first token of each sequence (-1: none, GPT)
  int64_t sep = -1;  ///< after each segment / document
  /// Padding after the sequence's end; -1: none (GPT-2's tokenizer has no padding id): then every
  /// sequence must be full, and `pack` / `PackedSequences` drop the last, partial one, as
  /// transformers' `run_clm` drops the remainder of its concatenated blocks.
  int64_t pad = 0;
};

/// Sequences and, when the layout has them, one label per sequence.
struct TextSet {
  torch::Tensor ids;     ///< `[S,N]` int64
  torch::Tensor labels;  ///< `[S]` int64 or undefined
};

/// Splits prose into sentences. A sentence ends after `.`, `!` or `?` (and closing quotes or
/// brackets) followed by white space, and at blank lines. Trimmed; empty pieces dropped.
inline std::vector<std::string> split_sentences(std::string_view text) {
  std::vector<std::string> out;
  auto flush = [&](size_t from, size_t to) {
    while (from < to && std::isspace(static_cast<unsigned char>(text[from]))) ++from;
    while (to > from && std::isspace(static_cast<unsigned char>(text[to - 1]))) --to;
    if (to > from) out.emplace_back(text.substr(from, to - from));
  };
  size_t start = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n' && i + 1 < text.size() && text[i + 1] == '\n') {  // paragraph break
      flush(start, i);
      start = i + 1;
    } else if (c == '.' || c == '!' || c == '?') {
      size_t j = i + 1;
      while (j < text.size() && (text[j] == '"' || text[j] == '\'' || text[j] == ')' || text[j] == ']' || text[j] == c)) ++j;
      if (j == text.size() || std::isspace(static_cast<unsigned char>(text[j]))) {
        flush(start, j);
        start = j;
        i = j - 1;
      }
    }
  }
  flush(start, text.size());
  return out;
}

namespace detail {
inline void check_len(int64_t max_len, int64_t room, const char* what) {
  TORCH_CHECK(max_len > room, what, ": max_len must leave room for content beyond the ", room,
              " special tokens, got max_len ", max_len);
}
inline torch::Tensor to_tensor(const std::vector<std::vector<int64_t>>& rows, int64_t max_len, int64_t pad,
                               const char* what) {
  if (pad < 0)
    for (const auto& r : rows)
      TORCH_CHECK(int64_t(r.size()) == max_len, what, ": a sequence of ", r.size(), " tokens, shorter than max_len ",
                  max_len, ", needs a padding id: expected TextSpecials::pad >= 0, got ", pad);
  auto t = torch::full({static_cast<int64_t>(rows.size()), max_len}, pad, torch::kInt64);
  auto* p = t.data_ptr<int64_t>();
  for (size_t r = 0; r < rows.size(); ++r) std::copy(rows[r].begin(), rows[r].end(), p + int64_t(r) * max_len);
  return t;
}
}  // namespace detail

/// BERT's next-sentence pairs. `docs[d]` are the tokenised sentences of document d. Each
/// document gives one pair per `pairs_per_doc`: A = its first k sentences (k random), B = the
/// rest (label 0, "is next") or, with probability `random_next`, a random other document from a
/// random sentence on (label 1). A one-sentence document is cut at a random token instead. A and B are cut
/// longest-first to fit `[CLS] A [SEP] B [SEP]` into `max_len`. Deterministic given `seed`.
inline TextSet sentence_pairs(const std::vector<std::vector<std::vector<int64_t>>>& docs, const TextSpecials& sp,
                              int64_t max_len, uint64_t seed, double random_next = 0.5, int64_t pairs_per_doc = 1) {
  detail::check_len(max_len, 3, "data::sentence_pairs");
  TORCH_CHECK(docs.size() >= 2, "data::sentence_pairs: expected at least 2 documents, got ", docs.size());
  TORCH_CHECK(sp.cls >= 0 && sp.sep >= 0, "data::sentence_pairs: [CLS] and [SEP] ids are required");
  std::mt19937_64 rng(seed);
  auto uniform = [&](size_t n) { return std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  auto flat = [](const std::vector<std::vector<int64_t>>& s, size_t from, size_t to) {
    std::vector<int64_t> v;
    for (size_t i = from; i < to; ++i) v.insert(v.end(), s[i].begin(), s[i].end());
    return v;
  };
  std::vector<std::vector<int64_t>> rows;
  std::vector<int64_t> labels;
  const auto budget = static_cast<size_t>(max_len - 3);
  for (int64_t rep = 0; rep < pairs_per_doc; ++rep) {
    for (size_t d = 0; d < docs.size(); ++d) {
      const auto& s = docs[d];
      std::vector<int64_t> a, b;
      if (s.size() >= 2) {
        const size_t k = 1 + uniform(s.size() - 1);
        a = flat(s, 0, k);
        b = flat(s, k, s.size());
      } else {
        auto all = s.empty() ? std::vector<int64_t>{} : s[0];
        if (all.size() < 2) continue;
        const size_t k = 1 + uniform(all.size() - 1);
        a.assign(all.begin(), all.begin() + long(k));
        b.assign(all.begin() + long(k), all.end());
      }
      int64_t label = 0;
      if (std::uniform_real_distribution<double>(0, 1)(rng) < random_next) {
        size_t o = uniform(docs.size() - 1);
        if (o >= d) ++o;  // any document but this one
        if (!docs[o].empty()) {
          auto other = flat(docs[o], uniform(docs[o].size()), docs[o].size());  // from a random sentence on
          if (!other.empty()) {
            b = std::move(other);
            label = 1;
          }
        }
      }
      while (a.size() + b.size() > budget) (a.size() > b.size() ? a : b).pop_back();
      if (a.empty() || b.empty()) continue;
      std::vector<int64_t> row{sp.cls};
      row.insert(row.end(), a.begin(), a.end());
      row.push_back(sp.sep);
      row.insert(row.end(), b.begin(), b.end());
      row.push_back(sp.sep);
      rows.push_back(std::move(row));
      labels.push_back(label);
    }
  }
  TORCH_CHECK(!rows.empty(), "data::sentence_pairs: no document gave a pair");
  return {detail::to_tensor(rows, max_len, sp.pad, "data::sentence_pairs"), torch::tensor(labels, torch::kInt64)};
}

/// Documents one after another, `[SEP]` after each, cut into sequences of `max_len` tokens
/// (`[CLS]` first and `[SEP]` last in each when `sp.cls >= 0`, else a plain stream: GPT). The
/// last, partial sequence is padded, or dropped when there is no padding id (`sp.pad < 0`: GPT-2).
inline TextSet pack(const std::vector<std::vector<int64_t>>& docs, const TextSpecials& sp, int64_t max_len) {
  const bool framed = sp.cls >= 0;
  detail::check_len(max_len, framed ? 2 : 0, "data::pack");
  TORCH_CHECK(sp.sep >= 0, "data::pack: a [SEP] (document separator) id is required");
  const auto room = static_cast<size_t>(framed ? max_len - 2 : max_len);
  std::vector<std::vector<int64_t>> rows;
  std::vector<int64_t> cur;
  auto emit = [&] {
    std::vector<int64_t> row;
    if (framed) row.push_back(sp.cls);
    row.insert(row.end(), cur.begin(), cur.end());
    if (framed) row.push_back(sp.sep);
    rows.push_back(std::move(row));
    cur.clear();
  };
  for (const auto& d : docs) {
    if (d.empty()) continue;
    for (size_t i = 0; i <= d.size(); ++i) {
      cur.push_back(i < d.size() ? d[i] : sp.sep);
      if (cur.size() == room) emit();
    }
  }
  if (!cur.empty() && sp.pad >= 0) emit();
  TORCH_CHECK(!rows.empty(), "data::pack: the documents hold no token",
              sp.pad < 0 ? " or fewer than max_len (without a padding id the last, partial sequence is dropped)" : "");
  return {detail::to_tensor(rows, max_len, sp.pad, "data::pack"), {}};
}

/// One document per sequence: `[CLS] doc [SEP]` cut to `max_len` (GPT: `doc [SEP]`), with the
/// documents' labels.
inline TextSet single(const std::vector<std::vector<int64_t>>& docs, const std::vector<int64_t>& labels,
                      const TextSpecials& sp, int64_t max_len) {
  TORCH_CHECK(labels.empty() || labels.size() == docs.size(), "data::single: ", docs.size(), " documents but ",
              labels.size(), " labels");
  const bool framed = sp.cls >= 0;
  detail::check_len(max_len, framed ? 2 : 1, "data::single");
  std::vector<std::vector<int64_t>> rows;
  for (const auto& d : docs) {
    std::vector<int64_t> row;
    if (framed) row.push_back(sp.cls);
    const auto n = std::min<size_t>(d.size(), static_cast<size_t>(max_len - (framed ? 2 : 1)));
    row.insert(row.end(), d.begin(), d.begin() + long(n));
    row.push_back(sp.sep);
    rows.push_back(std::move(row));
  }
  return {detail::to_tensor(rows, max_len, sp.pad, "data::single"),
          labels.empty() ? torch::Tensor() : torch::tensor(labels, torch::kInt64)};
}

/// A loader transform that drops the trailing columns that are padding in every row of the
/// batch (dynamic padding): the same result for any model that ignores padding, for less work.
inline std::function<torch::Tensor(const torch::Tensor&)> trim_padding(int64_t pad) {
  return [pad](const torch::Tensor& x) {
    auto used = (x != pad).any(0);
    const auto nz = used.nonzero();
    const int64_t len = nz.numel() == 0 ? 1 : nz.max().item<int64_t>() + 1;
    return len == x.size(1) ? x : x.narrow(1, 0, len).contiguous();
  };
}

}  // namespace ssl::data
