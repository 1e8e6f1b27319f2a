#pragma once
/// \file text/unicode.hpp
/// The Unicode needed by BERT's text normalizer and GPT-2's pre-tokenizer: UTF-8 decoding (invalid input becomes U+FFFD,
/// exactly like Python's `bytes.decode("utf-8", errors="replace")`) and encoding, character
/// classes (whitespace, control, punctuation, CJK ideograph, nonspacing mark, letter, number), the full lowercase
/// mapping and canonical decomposition (NFD). Tables are generated from Python's `unicodedata`
/// by scripts/gen_unicode_tables.py (see tables::kUnicodeVersion) and searched by binary search.
#include <ssl/text/unicode_tables.hpp>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <string>
#include <string_view>

namespace ssl::text {

/// U+FFFD, what ill-formed UTF-8 decodes to.
inline constexpr char32_t kReplacementChar = 0xFFFD;

namespace detail {

template <size_t N>
constexpr bool in_ranges(const tables::Range (&table)[N], char32_t c) {
  // First range whose hi >= c; c is in the table iff that range starts at or before c.
  const auto* it = std::lower_bound(std::begin(table), std::end(table), c,
                                    [](const tables::Range& r, char32_t v) { return r.hi < v; });
  return it != std::end(table) && it->lo <= c;
}

}  // namespace detail

// ---- UTF-8 ------------------------------------------------------------------------------------

/// Appends the UTF-8 encoding of `c` to `out`. Code points above U+10FFFF and surrogates are
/// encoded as U+FFFD.
inline void append_utf8(std::string& out, char32_t c) {
  if (c > 0x10FFFF || (c >= 0xD800 && c < 0xE000)) c = kReplacementChar;
  if (c < 0x80) {
    out.push_back(static_cast<char>(c));
  } else if (c < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (c >> 6)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else if (c < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (c >> 12)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (c >> 18)));
    out.push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
  }
}

/// UTF-8 encoding of a code point sequence.
inline std::string utf8_encode(std::u32string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char32_t c : s) append_utf8(out, c);
  return out;
}

/// Decodes one code point starting at `s[i]` and advances `i`. Ill-formed input gives U+FFFD for
/// each maximal subpart of an ill-formed sequence (the Unicode "best practice", which is what
/// Python's errors="replace" does): e.g. "\xE2\x82" at the end is one U+FFFD, "\xFF\x41" is
/// U+FFFD then 'A', an overlong "\xC0\xAF" is two U+FFFD, a surrogate "\xED\xA0\x80" three.
inline char32_t utf8_next(std::string_view s, size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  char32_t c;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    need = 1, c = b0 & 0x1F;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    need = 2, c = b0 & 0x0F;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    need = 3, c = b0 & 0x07;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    ++i;
    return kReplacementChar;
  }
  size_t j = i + 1;
  for (int k = 0; k < need; ++k, ++j) {
    if (j >= s.size()) {
      i = j;
      return kReplacementChar;
    }
    const auto b = static_cast<unsigned char>(s[j]);
    const unsigned char l = k == 0 ? lo : 0x80, h = k == 0 ? hi : 0xBF;
    if (b < l || b > h) {
      i = j;  // the maximal subpart ends before the offending byte, which is decoded afresh
      return kReplacementChar;
    }
    c = (c << 6) | (b & 0x3F);
  }
  i = j;
  return c;
}

/// Decodes UTF-8; ill-formed input never throws (see utf8_next).
inline std::u32string utf8_decode(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) out.push_back(utf8_next(s, i));
  return out;
}

/// Number of code points of valid UTF-8 (counts lead bytes; exact for well-formed input).
inline size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (char ch : s) n += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
  return n;
}

// ---- Character classes ------------------------------------------------------------------------

/// Unicode White_Space (Rust's char::is_whitespace, which Hugging Face tokenizers use):
/// U+0009..U+000D, space, U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028/9, U+202F, U+205F, U+3000.
inline bool is_whitespace(char32_t c) {
  if (c < 0x80) return c == ' ' || (c >= 0x09 && c <= 0x0D);
  return detail::in_ranges(tables::kWhitespace, c);
}

/// BERT's control characters: general categories Cc, Cf, Co, Cs, except tab, LF and CR (which BERT
/// counts as whitespace). Unassigned code points (Cn) are not control, as in HF tokenizers.
inline bool is_control(char32_t c) {
  if (c == '\t' || c == '\n' || c == '\r') return false;
  if (c < 0x80) return c < 0x20 || c == 0x7F;
  return detail::in_ranges(tables::kControl, c);
}

/// BERT's punctuation: general categories P*, plus every ASCII non-alphanumeric printable symbol
/// (33-47, 58-64, 91-96, 123-126: `$`, `+`, `^`, ... are symbols in Unicode, punctuation for BERT).
inline bool is_punctuation(char32_t c) {
  if (c < 0x80)
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) || (c >= 123 && c <= 126);
  return detail::in_ranges(tables::kPunctuation, c);
}

/// The CJK ideograph blocks BERT isolates (CJK Unified Ideographs and extensions A-E, the
/// compatibility ideographs and their supplement); not Hangul, Hiragana or Katakana.
inline bool is_cjk(char32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
         (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/// General category Mn (nonspacing mark: the accents NFD splits off).
inline bool is_nonspacing_mark(char32_t c) {
  return c >= 0x300 && detail::in_ranges(tables::kNonspacingMark, c);
}

/// General category L* (letter: Lu, Ll, Lt, Lm, Lo), the regex class `\p{L}`.
inline bool is_letter(char32_t c) {
  if (c < 0x80) return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return detail::in_ranges(tables::kLetter, c);
}

/// General category N* (number: Nd, Nl, No), the regex class `\p{N}`.
inline bool is_number(char32_t c) {
  if (c < 0x80) return c >= '0' && c <= '9';
  return detail::in_ranges(tables::kNumber, c);
}

/// Canonical combining class (0 for starters).
inline uint8_t combining_class(char32_t c) {
  if (c < 0x300) return 0;
  const auto* it = std::lower_bound(std::begin(tables::kCombiningClass), std::end(tables::kCombiningClass), c,
                                    [](const tables::CccRun& r, char32_t v) { return r.hi < v; });
  return it != std::end(tables::kCombiningClass) && it->lo <= c ? it->ccc : 0;
}

// ---- Mappings ---------------------------------------------------------------------------------

/// Appends the full lowercase mapping of `c` (Python's `chr(c).lower()`, Rust's
/// `char::to_lowercase`: one to three code points, e.g. U+0130 -> "i\u0307").
inline void append_lower(std::u32string& out, char32_t c) {
  if (c < 0x80) {
    out.push_back(c >= 'A' && c <= 'Z' ? c + 32 : c);
    return;
  }
  const auto* it = std::lower_bound(std::begin(tables::kLower), std::end(tables::kLower), c,
                                    [](const tables::LowerRun& r, char32_t v) { return r.hi < v; });
  if (it != std::end(tables::kLower) && it->lo <= c && (c - it->lo) % it->stride == 0) {
    out.push_back(static_cast<char32_t>(static_cast<int64_t>(c) + it->delta));
    return;
  }
  for (const auto& s : tables::kLowerSpecial) {
    if (s.cp == c) {
      out.append(s.to, s.n);
      return;
    }
  }
  out.push_back(c);
}

/// Lowercase code point of `c` when the mapping is 1:1, else `c` itself.
inline char32_t to_lower(char32_t c) {
  std::u32string tmp;
  append_lower(tmp, c);
  return tmp.size() == 1 ? tmp[0] : c;
}

/// Appends the full canonical decomposition of `c` (Hangul syllables algorithmically), without
/// reordering; see nfd() for the canonical ordering.
inline void append_decomposition(std::u32string& out, char32_t c) {
  if (c < 0xC0) {
    out.push_back(c);
    return;
  }
  constexpr char32_t SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
  constexpr char32_t TCount = 28, NCount = 21 * 28, SCount = 19 * 21 * 28;
  if (c >= SBase && c < SBase + SCount) {
    const char32_t s = c - SBase;
    out.push_back(LBase + s / NCount);
    out.push_back(VBase + (s % NCount) / TCount);
    if (s % TCount != 0) out.push_back(TBase + s % TCount);
    return;
  }
  const auto* it = std::lower_bound(std::begin(tables::kDecomp), std::end(tables::kDecomp), c,
                                    [](const tables::Decomp& d, char32_t v) { return d.cp < v; });
  if (it != std::end(tables::kDecomp) && it->cp == c) {
    out.append(tables::kDecompData + it->offset, it->n);
  } else {
    out.push_back(c);
  }
}

/// Puts every run of non-starters (combining class != 0) in `s[from, end)` into canonical order
/// (a stable sort by combining class).
inline void canonical_order(std::u32string& s, size_t from = 0) {
  size_t i = from;
  while (i < s.size()) {
    if (combining_class(s[i]) == 0) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && combining_class(s[j]) != 0) ++j;
    if (j - i > 1)
      std::stable_sort(s.begin() + i, s.begin() + j,
                       [](char32_t a, char32_t b) { return combining_class(a) < combining_class(b); });
    i = j;
  }
}

/// Normalization form D (canonical decomposition + canonical ordering), like
/// `unicodedata.normalize("NFD", s)`.
inline std::u32string nfd(std::u32string_view s) {
  std::u32string out;
  out.reserve(s.size());
  for (char32_t c : s) append_decomposition(out, c);
  canonical_order(out);
  return out;
}

/// BERT's accent stripping: NFD, then every nonspacing mark (Mn) removed ("Café" -> "Cafe").
inline std::u32string strip_accents(std::u32string_view s) {
  std::u32string d = nfd(s);
  std::erase_if(d, [](char32_t c) { return is_nonspacing_mark(c); });
  return d;
}

}  // namespace ssl::text
