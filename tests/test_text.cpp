// Tokenizer and corpus tests (suites: text, text_vocab, tokenizer_parity).
//   text:             closed-form unit tests (UTF-8, Unicode classes, normalizer, WordPiece, fortunes)
//   text_vocab:       trains WordPiece vocabularies on all fortunes into $SSL_REFS (CTest fixture)
//   tokenizer_parity: C++ ids == Hugging Face BertTokenizerFast ids (tests/python/make_tokenizer_references.py)
#include "datasets.hpp"

#include <doctest/doctest.h>

#include "util.hpp"
#include <ssl/data/fortunes.hpp>
#include <ssl/text/unicode.hpp>
#include <ssl/text/wordpiece.hpp>
#include <ssl/text/wordpiece_trainer.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <unistd.h>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_text {

namespace {

namespace fs = std::filesystem;
using ssl::text::BasicTokenizer;
using ssl::text::BasicTokenizerOptions;
using ssl::text::Vocab;
using ssl::text::WordPiece;
using Strings = std::vector<std::string>;
using Ids = std::vector<int64_t>;

// Tiny hand-written vocabulary: ids are the positions.
const Strings kTiny = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",                       // 0-4
                       "un",    "##aff", "##able", "want",  "##want", "##ed",   "runn",  // 5-11
                       "##ing", ",",     ".",      "a",     "##a",    "aa",     "##aa",  // 12-18
                       "abc",   "ab",    "##cde",  "cafe",  "café",   "中",     "文",    // 19-25
                       "é",     "##é",   "!",      "hello", "world",  "?",      "'",     // 26-32
                       "s",     "##s"};                                                  // 33-34

WordPiece tiny(BasicTokenizerOptions o = {}) { return WordPiece(Vocab(kTiny), o); }

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

using ssl_test::TempDir;

void write_file(const fs::path& p, const std::string& content) {
  std::ofstream(p, std::ios::binary) << content;
}

std::string refs_dir() {
  const char* d = std::getenv("SSL_REFS");
  REQUIRE_MESSAGE(d != nullptr, "SSL_REFS is not set: run this suite through ctest");
  return d;
}

Strings read_lines(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing reference file ", p.string(),
                  " (made by the CTest fixtures text_vocab and python_references: make_tokenizer_references.py)");
  Strings lines;
  std::string line;
  while (std::getline(in, line)) lines.push_back(line);
  return lines;
}

Ids parse_ids(const std::string& line) {
  Ids ids;
  std::istringstream is(line);
  int64_t x;
  while (is >> x) ids.push_back(x);
  return ids;
}

using ssl_test::join;

std::string unhex(std::string_view h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

Strings split_tabs(const std::string& s) {
  Strings out(1);
  for (char c : s) {
    if (c == '\t') {
      out.emplace_back();
    } else {
      out.back().push_back(c);
    }
  }
  return out;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_SUITE("text") {
  TEST_CASE("UTF-8 decoding replaces ill-formed input like Python's errors='replace'") {
    using ssl::text::utf8_decode;
    CHECK(utf8_decode("a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80") == std::u32string{U'a', 0xE9, 0x4E2D, 0x1F600});
    CHECK(utf8_decode("\xE2\x82") == std::u32string{0xFFFD});
    CHECK(utf8_decode("\xFF" "A") == std::u32string{0xFFFD, U'A'});
    CHECK(utf8_decode("\xC0\xAF") == std::u32string{0xFFFD, 0xFFFD});
    CHECK(utf8_decode("\xED\xA0\x80") == std::u32string{0xFFFD, 0xFFFD, 0xFFFD});
    CHECK(utf8_decode("\xF0\x9F\x98" "A") == std::u32string{0xFFFD, U'A'});
    CHECK(utf8_decode("\xE0\x80\x80") == std::u32string{0xFFFD, 0xFFFD, 0xFFFD});
    CHECK(utf8_decode("\xF4\x90\x80\x80") == std::u32string(4, 0xFFFD));
    CHECK(utf8_decode("a\xC3") == std::u32string{U'a', 0xFFFD});
    const std::string s = "Grüße, 世界 😀";
    CHECK(ssl::text::utf8_encode(utf8_decode(s)) == s);
    CHECK(ssl::text::utf8_length(s) == 11);
  }

  TEST_CASE("Unicode classes and maps") {
    using namespace ssl::text;
    CHECK(is_whitespace(U' '));
    CHECK(is_whitespace(U'\n'));
    CHECK(is_whitespace(0x3000));
    CHECK(is_whitespace(0xA0));
    CHECK_FALSE(is_whitespace(0x1C));
    CHECK_FALSE(is_whitespace(U'x'));
    CHECK(is_control(0x08));
    CHECK(is_control(0x7F));
    CHECK(is_control(0x85));
    CHECK(is_control(0x200B));  // Cf
    CHECK_FALSE(is_control(U'\t'));
    CHECK_FALSE(is_control(U'a'));
    CHECK_FALSE(is_control(0x0378));  // unassigned (Cn): not control, like HF
    for (char32_t c : std::u32string(U"!/:@[`{~$+^")) CHECK(is_punctuation(c));
    CHECK(is_punctuation(0x3002));  // 。
    CHECK(is_punctuation(0x2014));  // em dash
    CHECK_FALSE(is_punctuation(U'a'));
    CHECK_FALSE(is_punctuation(0xA9));  // © is So
    CHECK(is_cjk(0x4E2D));
    CHECK(is_cjk(0x20000));
    CHECK_FALSE(is_cjk(0xAC00));  // Hangul
    CHECK_FALSE(is_cjk(0x3042));  // Hiragana
    CHECK(is_nonspacing_mark(0x301));
    CHECK_FALSE(is_nonspacing_mark(U'e'));
    CHECK(to_lower(U'Ä') == U'ä');
    CHECK(to_lower(0x3A3) == 0x3C3);  // Σ -> σ (no final-sigma rule, character by character)
    CHECK(to_lower(0x10400) == 0x10428);
    std::u32string l;
    append_lower(l, 0x130);
    CHECK(l == std::u32string{U'i', 0x307});
    CHECK(nfd(U"é") == std::u32string{U'e', 0x301});
    CHECK(nfd(std::u32string{0xD55C}) == std::u32string{0x1112, 0x1161, 0x11AB});  // 한
    CHECK(nfd(std::u32string{0x1E69}) == std::u32string{U's', 0x323, 0x307});      // ṩ, full + ordered
    CHECK(nfd(std::u32string{U'a', 0x301, 0x323}) == std::u32string{U'a', 0x323, 0x301});
    CHECK(strip_accents(U"Ångström façade") == U"Angstrom facade");
    CHECK(strip_accents(U"ﬁ") == U"ﬁ");  // compatibility decompositions are not applied
  }

  TEST_CASE("basic tokenizer: BERT normalizer and pre-tokenizer") {
    const BasicTokenizer lower;
    CHECK(lower.split("Hello, World!") == Strings{"hello", ",", "world", "!"});
    CHECK(lower.split("Café") == Strings{"cafe"});
    CHECK(lower.split("  don't\tstop\n") == Strings{"don", "'", "t", "stop"});
    CHECK(lower.split("$5.00 (a+b)") == Strings{"$", "5", ".", "00", "(", "a", "+", "b", ")"});
    CHECK(lower.split("中文abc字") == Strings{"中", "文", "abc", "字"});
    CHECK(lower.split("a\x08" "b\x07" "c" + std::string(1, '\0') + "d\xEF\xBF\xBD" "e") == Strings{"abcde"});
    CHECK(lower.split("one\xC2\xA0two\xE3\x80\x80three") == Strings{"one", "two", "three"});
    CHECK(lower.split("İ") == Strings{"i"});
    CHECK(lower.split("") == Strings{});
    const BasicTokenizer cased({.lowercase = false});
    CHECK(cased.split("Café Noir") == Strings{"Café", "Noir"});
    const BasicTokenizer cased_strip({.lowercase = false, .strip_accents = true});
    CHECK(cased_strip.split("Café") == Strings{"Cafe"});
    const BasicTokenizer lower_keep({.lowercase = true, .strip_accents = false});
    CHECK(lower_keep.split("CAFÉ") == Strings{"café"});
    const BasicTokenizer no_cjk({.tokenize_chinese_chars = false});
    CHECK(no_cjk.split("中文abc") == Strings{"中文abc"});
  }

  TEST_CASE("WordPiece: greedy longest match first, ## continuations, [UNK] rules") {
    const auto tok = tiny();
    CHECK(tok.tokenize("unaffable") == Strings{"un", "##aff", "##able"});
    CHECK(tok.encode("unaffable") == Ids{5, 6, 7});
    CHECK(tok.tokenize("UNwanted running,") == Strings{"un", "##want", "##ed", "runn", "##ing", ","});
    CHECK(tok.tokenize("aaaaa") == Strings{"aa", "##aa", "##a"});
    // Greedy, not optimal: "abc" matches first, then neither "##de" nor "##d" exists, so the whole
    // word is one [UNK] although "ab ##cde" would cover it.
    CHECK(tok.tokenize("abcde") == Strings{"[UNK]"});
    CHECK(tok.tokenize("abc unknownword a") == Strings{"abc", "[UNK]", "a"});
    // A word with one unmatched piece is a single [UNK], not partial pieces.
    CHECK(tok.tokenize("aab") == Strings{"[UNK]"});
    // Words longer than 100 characters (not bytes) are [UNK].
    CHECK(tok.encode(repeat("a", 100)).size() == 50);
    CHECK(tok.encode(repeat("a", 101)) == Ids{1});
    const auto cased = tiny({.lowercase = false});
    CHECK(cased.encode(repeat("é", 100)).size() == 100);
    CHECK(cased.encode(repeat("é", 101)) == Ids{1});
    CHECK(cased.tokenize("café Café") == Strings{"café", "[UNK]"});
    CHECK(tok.tokenize("Café") == Strings{"cafe"});
    CHECK(tok.tokenize("中文") == Strings{"中", "文"});
    CHECK(tok.tokenize("hello\x08world") == Strings{"[UNK]"});  // control removed: "helloworld"
    CHECK(tok.tokenize("hello\tworld!?") == Strings{"hello", "world", "!", "?"});
    // Special tokens written in the text are recognized (case-sensitive, before normalization).
    CHECK(tok.tokenize("hello [MASK]world[SEP]") == Strings{"hello", "[MASK]", "world", "[SEP]"});
    CHECK(tok.tokenize("[mask]") == Strings{"[UNK]", "[UNK]", "[UNK]"});
    CHECK(tok.encode("") == Ids{});
  }

  TEST_CASE("WordPiece: specials, pairs, truncation, type ids, decode") {
    const auto tok = tiny();
    CHECK(tok.encode_with_specials("hello world") == Ids{2, 29, 30, 3});
    const auto pair = tok.encode_pair("hello world", "unaffable!");
    CHECK(pair == Ids{2, 29, 30, 3, 5, 6, 7, 28, 3});
    CHECK(tok.type_ids(pair) == Ids{0, 0, 0, 0, 1, 1, 1, 1, 1});
    // longest_first: a = 5 pieces, b = 2, max_length 8 leaves 5: the longer a is cut to 3.
    CHECK(tok.encode_pair("a a a a a", "hello world", 8) == Ids{2, 15, 15, 15, 3, 29, 30, 3});
    // Both cut: 5 and 5 pieces into 7 - 3 = 4: 2 and 2.
    CHECK(tok.encode_pair("a a a a a", "aa aa aa aa aa", 7) == Ids{2, 15, 15, 3, 17, 17, 3});
    CHECK(tok.encode_with_specials("a a a a a", 4) == Ids{2, 15, 15, 3});
    CHECK_THROWS_WITH_AS(tok.encode_pair("a", "b", 2), doctest::Contains("expected max_length >= 3"), c10::Error);

    CHECK(tok.decode(tok.encode("UNaffable, hello world!")) == "unaffable, hello world!");
    CHECK(tok.decode(pair) == "hello world unaffable!");
    CHECK(tok.decode(pair, /*skip_special=*/false) == "[CLS] hello world [SEP] unaffable! [SEP]");
    CHECK(tok.decode(pair, true, /*clean_up=*/false) == "hello world unaffable !");
    CHECK(tok.decode({6, 7}) == "##affable");  // like HF: the first token keeps its "##"
    CHECK(tok.decode({29, 32, 33}) == "hello ' s");  // cleanup is per token, as in HF
    CHECK(tok.decode({29, 1, 30}) == "hello world");   // [UNK] is special: skipped
    CHECK_THROWS_WITH_AS(tok.decode({999}), doctest::Contains("expected a token id in [0, 35), got 999"), c10::Error);
  }

  TEST_CASE("Vocab: load, save, lookups, errors") {
    TempDir dir("ssl_text_vocab");
    write_file(dir.path / "vocab.txt", "[PAD]\r\n[UNK]\r\nhello\r\n##lo\r\n");
    auto v = Vocab::load(dir.path / "vocab.txt");
    CHECK(v.size() == 4);
    CHECK(v.id("hello") == 2);
    CHECK(v.find("##lo") == std::optional<int64_t>(3));
    CHECK_FALSE(v.find("nope").has_value());
    CHECK(v.token(3) == "##lo");
    CHECK(v.pad_id() == 0);
    CHECK(v.unk_id() == 1);
    CHECK(v.is_special(1));
    CHECK_FALSE(v.is_special(2));
    CHECK_THROWS_WITH_AS(v.mask_id(), doctest::Contains("expected the special token [MASK] in the vocabulary (4 tokens)"),
                         c10::Error);
    CHECK_THROWS_WITH_AS(v.id("nope"), doctest::Contains("got 'nope', which is not in it"), c10::Error);
    CHECK_THROWS_WITH_AS(v.token(4), doctest::Contains("expected a token id in [0, 4), got 4"), c10::Error);
    CHECK_THROWS_WITH_AS(WordPiece(Vocab({"a", "b"})), doctest::Contains("[UNK]"), c10::Error);
    CHECK_THROWS_WITH_AS(Vocab::load(dir.path / "missing.txt"), doctest::Contains("cannot open"), c10::Error);
    v.save(dir.path / "sub" / "out.txt");
    const auto w = Vocab::load(dir.path / "sub" / "out.txt");
    CHECK(w.tokens() == v.tokens());
    const Vocab t(kTiny);
    CHECK(t.cls_id() == 2);
    CHECK(t.sep_id() == 3);
    CHECK(t.mask_id() == 4);
  }

  TEST_CASE("trainer: closed-form merges on a tiny corpus") {
    // Words: "ab" x3, "abc" x2, "b" x1. Specials, the alphabet a b c, its ## forms, then merges.
    const auto v = ssl::text::train_wordpiece({"ab ab ab abc abc b"}, {.vocab_size = 100, .min_frequency = 2});
    const Strings expect = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a",  "b", "c",
                            "##a",   "##b",   "##c",   "ab",    "abc"};
    CHECK(v.tokens() == expect);  // (a, ##b) x5 -> "ab"; (ab, ##c) x2 -> "abc"; nothing else >= 2
    const auto small = ssl::text::train_wordpiece({"ab ab ab abc abc b"}, {.vocab_size = 12});
    CHECK(small.size() == 12);
    CHECK(small.tokens().back() == "ab");
    CHECK_THROWS_WITH_AS(ssl::text::train_wordpiece({" ", ""}), doctest::Contains("no word"), c10::Error);
    CHECK_THROWS_WITH_AS(ssl::text::train_wordpiece({"a"}, {.special_tokens = {"[UNK]", "[UNK]"}}),
                         doctest::Contains("'[UNK]' twice"), c10::Error);
  }

  TEST_CASE("fortunes reader on a temporary directory") {
    TempDir dir("ssl_text_fortunes");
    write_file(dir.path / "zeta", "one\n%\n  two  \n\n%\n%\nthree\n  lines\n%\n%%\n % \n");
    write_file(dir.path / "alpha", "\xC3\xA9t\xC3\xA9\n%\nbold\x08" "b\n");
    write_file(dir.path / "alpha.dat", "binary index");
    fs::create_symlink(dir.path / "alpha", dir.path / "alpha.u8");
    fs::create_symlink(dir.path / "zeta", dir.path / "link");
    fs::create_directories(dir.path / "off");
    write_file(dir.path / "off" / "rude", "not read\n%\n");
    const auto docs = ssl::data::read_fortunes(dir.path);
    REQUIRE(docs.size() == 6);
    CHECK(docs[0].text == "été");
    CHECK(docs[0].topic == "alpha");
    CHECK(docs[1].text == "bold\bb");
    CHECK(docs[2].text == "one");
    CHECK(docs[3].text == "two");
    CHECK(docs[4].text == "three\n  lines");
    CHECK(docs[5].text == "%%\n %");
    CHECK(docs[5].topic == "zeta");
    CHECK(ssl::data::topics(docs) == Strings{"alpha", "zeta"});

    CHECK_THROWS_WITH_AS(ssl::data::read_fortunes(dir.path / "nope"),
                         doctest::Contains("expected a directory of fortune files"), c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::read_fortunes(dir.path / "alpha"), doctest::Contains("is not a directory"),
                         c10::Error);
    TempDir empty("ssl_text_fortunes_empty");
    write_file(empty.path / "x.dat", "");
    write_file(empty.path / "blank", "\n%\n  \n%\n");
    CHECK_THROWS_WITH_AS(ssl::data::read_fortunes(empty.path), doctest::Contains("got 1 candidate file(s) and no document"),
                         c10::Error);
  }
}

TEST_SUITE("text_vocab") {
  TEST_CASE("train WordPiece vocabularies on all fortunes") {
    const fs::path out = refs_dir();
    fs::create_directories(out);
    const auto docs = ssl::data::read_fortunes(test_data::fortunes_dir());
    Strings texts;
    size_t bytes = 0;
    for (const auto& d : docs) {
      texts.push_back(d.text);
      bytes += d.text.size();
    }
    const auto n_topics = ssl::data::topics(docs).size();
    MESSAGE("fortunes: ", docs.size(), " documents, ", n_topics, " topics, ", bytes, " bytes");
    CHECK(docs.size() > 10000);
    CHECK(n_topics > 30);

    for (bool lowercase : {true, false}) {
      const ssl::text::WordPieceTrainerOptions opts{.vocab_size = 8000, .basic = {.lowercase = lowercase}};
      auto t0 = std::chrono::steady_clock::now();
      const auto vocab = ssl::text::train_wordpiece(texts, opts);
      const double train_s = seconds_since(t0);
      vocab.save(out / (lowercase ? "fortunes_vocab.txt" : "fortunes_vocab_cased.txt"));

      CHECK(vocab.size() <= 8000);
      CHECK(vocab.size() > 7000);
      for (int64_t i = 0; i < 5; ++i) CHECK(vocab.token(i) == opts.special_tokens[static_cast<size_t>(i)]);
      CHECK(vocab.pad_id() == 0);
      CHECK(vocab.mask_id() == 4);
      // Every character of the normalized corpus is in the vocabulary (both forms unless always
      // a word of its own), so that no fortune word is [UNK] unless longer than 100 characters.
      const BasicTokenizer basic(opts.basic);
      int64_t missing = 0;
      for (const auto& t : texts) {
        for (char32_t c : basic.normalize(t)) {
          if (ssl::text::is_whitespace(c)) continue;
          std::string s;
          ssl::text::append_utf8(s, c);
          missing += !vocab.contains(s);
          if (!ssl::text::is_punctuation(c) && !ssl::text::is_cjk(c)) missing += !vocab.contains("##" + s);
        }
      }
      CHECK(missing == 0);

      const WordPiece tok(vocab, opts.basic);
      t0 = std::chrono::steady_clock::now();
      int64_t n_tokens = 0, n_unk = 0;
      for (const auto& t : texts) {
        for (int64_t id : tok.encode(t)) {
          ++n_tokens;
          n_unk += id == vocab.unk_id();
        }
      }
      const double encode_s = seconds_since(t0);
      int64_t long_words = 0;
      for (const auto& t : texts)
        for (const auto& w : basic.split(t)) long_words += ssl::text::utf8_length(w) > 100;
      CHECK(n_unk == long_words);
      MESSAGE(std::string(lowercase ? "lowercase" : "cased"), " vocab: ", vocab.size(), " tokens, trained in ", train_s,
              " s; corpus = ", n_tokens, " tokens (", n_unk, " [UNK]), encoded in ", encode_s, " s");
    }
  }
}

TEST_SUITE("tokenizer_parity") {
  TEST_CASE("WordPiece ids equal BertTokenizerFast on every fortune") {
    const fs::path dir = refs_dir();
    const auto docs = ssl::data::read_fortunes(test_data::fortunes_dir());
    struct Config {
      const char* ids_file;
      const char* vocab_file;
      BasicTokenizerOptions basic;
    };
    for (const Config& c : {Config{"fortunes_wordpiece_ids.txt", "fortunes_vocab.txt", {.lowercase = true}},
                            Config{"fortunes_wordpiece_ids_cased.txt", "fortunes_vocab_cased.txt", {.lowercase = false}}}) {
      const std::string ids_file = c.ids_file;
      CAPTURE(ids_file);
      const auto lines = read_lines(dir / c.ids_file);
      REQUIRE(!lines.empty());
      REQUIRE(lines[0] == "documents " + std::to_string(docs.size()));
      REQUIRE(lines.size() == docs.size() + 1);
      const WordPiece tok(Vocab::load(dir / c.vocab_file), c.basic);
      size_t mismatches = 0, tokens = 0;
      for (size_t i = 0; i < docs.size(); ++i) {
        const auto expected = parse_ids(lines[i + 1]);
        const auto got = tok.encode(docs[i].text);
        tokens += got.size();
        if (got != expected) {
          if (mismatches == 0)
            FAIL_CHECK("first mismatch: document ", i, " (topic ", docs[i].topic, "):\n", docs[i].text,
                       "\nexpected (HF): ", join(expected), "\ngot (C++):     ", join(got));
          ++mismatches;
        }
      }
      CHECK_MESSAGE(mismatches == 0, mismatches, " of ", docs.size(), " documents differ");
      MESSAGE(ids_file, ": ", docs.size(), " documents, ", tokens, " tokens, all equal: ", mismatches == 0);
    }
  }

  TEST_CASE("decode equals BertTokenizerFast.decode on every fortune") {
    const fs::path dir = refs_dir();
    const auto ids = read_lines(dir / "fortunes_wordpiece_ids.txt");
    const auto text = read_lines(dir / "fortunes_wordpiece_decoded.txt");
    REQUIRE(ids.size() == text.size());
    REQUIRE(text[0] == ids[0]);
    const WordPiece tok(Vocab::load(dir / "fortunes_vocab.txt"));
    size_t mismatches = 0;
    for (size_t i = 1; i < ids.size(); ++i) {
      const auto got = tok.decode(parse_ids(ids[i]));
      if (got != text[i]) {
        if (mismatches == 0) FAIL_CHECK("first mismatch: document ", i - 1, "\nexpected (HF): ", text[i], "\ngot (C++):     ", got);
        ++mismatches;
      }
    }
    CHECK_MESSAGE(mismatches == 0, mismatches, " decoded documents differ");
  }

  TEST_CASE("normalizer, pre-tokenizer and ids equal HF on Unicode cases in 5 configurations") {
    const fs::path dir = refs_dir();
    const auto lines = read_lines(dir / "tokenizer_unicode_cases.txt");
    REQUIRE(!lines.empty());
    REQUIRE(lines[0] == "cases " + std::to_string(lines.size() - 1));
    const auto vocab = Vocab::load(dir / "fortunes_vocab.txt");
    const std::map<std::string, BasicTokenizerOptions> configs = {
        {"lower", {.lowercase = true}},
        {"cased", {.lowercase = false}},
        {"cased_strip", {.lowercase = false, .strip_accents = true}},
        {"lower_nostrip", {.lowercase = true, .strip_accents = false}},
        {"lower_nochinese", {.lowercase = true, .tokenize_chinese_chars = false}}};
    std::map<std::string, WordPiece> toks;
    for (const auto& [name, o] : configs) toks.emplace(name, WordPiece(vocab, o));
    size_t mismatches = 0;
    for (size_t i = 1; i < lines.size(); ++i) {
      const auto f = split_tabs(lines[i]);
      REQUIRE(f.size() == 5);
      REQUIRE(toks.contains(f[0]));
      const auto& tok = toks.at(f[0]);
      const std::string input = unhex(f[1]);
      const std::string norm = ssl::text::utf8_encode(tok.basic().normalize(input));
      std::string words;
      for (const auto& w : tok.basic().split(input)) {
        if (!words.empty()) words += ' ';
        words += w;
      }
      const auto ids = tok.encode(input);
      const bool ok = norm == unhex(f[2]) && words == unhex(f[3]) && ids == parse_ids(f[4]);
      if (!ok && mismatches++ < 5)
        FAIL_CHECK("config ", f[0], ", input ", input, " (hex ", f[1], ")\nnormalized: HF '", unhex(f[2]), "' C++ '", norm,
                   "'\nwords: HF '", unhex(f[3]), "' C++ '", words, "'\nids: HF ", f[4], " C++ ", join(ids));
    }
    CHECK_MESSAGE(mismatches == 0, mismatches, " of ", lines.size() - 1, " cases differ");
  }
}

}  // namespace test_text
