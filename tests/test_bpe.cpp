// Byte-level BPE tests (suites: bpe, bpe_parity).
//   bpe:        closed-form unit tests (byte table, GPT-2's pre-tokenizer, merges, loaders' errors)
//   bpe_parity: C++ ids == Hugging Face GPT2TokenizerFast / RobertaTokenizerFast / tokenizers ids on
//               every fortune and a Unicode stress set, WordPiece from tokenizer.json ==
//               BertTokenizerFast (tests/python/make_bpe_references.py)
#include "datasets.hpp"

#include <doctest/doctest.h>

#include "util.hpp"
#include <nlohmann/json.hpp>
#include <ssl/data/fortunes.hpp>
#include <ssl/text/bpe.hpp>
#include <ssl/text/wordpiece.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

// Each test file in its own namespace (unity builds).
namespace test_bpe {

namespace {

namespace fs = std::filesystem;
using ssl::text::ByteLevelBPE;
using ssl::text::ByteLevelBPEOptions;
using Strings = std::vector<std::string>;
using Ids = std::vector<int64_t>;

using ssl_test::TempDir;

void write_file(const fs::path& p, const std::string& content) { std::ofstream(p, std::ios::binary) << content; }

Strings split(std::string_view text) {
  Strings out;
  ssl::text::gpt2_split(text, [&](size_t b, size_t e) { out.emplace_back(text.substr(b, e - b)); });
  return out;
}

std::string bytes_token(std::string_view raw) {  // raw bytes -> GPT-2 byte characters
  std::string out;
  for (char ch : raw) ssl::text::append_utf8(out, ssl::text::byte_to_unicode()[static_cast<unsigned char>(ch)]);
  return out;
}

// A tiny byte-level model: every byte, plus the merges given.
ByteLevelBPE tiny(const std::vector<std::pair<std::string, std::string>>& merges, ByteLevelBPEOptions o = {}) {
  std::unordered_map<std::string, int64_t> vocab;
  for (int b = 0; b < 256; ++b) vocab.emplace(bytes_token(std::string(1, static_cast<char>(b))), b);
  for (const auto& s : o.special_tokens) vocab.emplace(s.content, static_cast<int64_t>(vocab.size()));
  for (const auto& [a, b] : merges) vocab.emplace(a + b, static_cast<int64_t>(vocab.size()));
  return ByteLevelBPE(std::move(vocab), merges, std::move(o), "tiny");
}

std::string refs_dir() {
  const char* d = std::getenv("SSL_REFS");
  REQUIRE_MESSAGE(d != nullptr, "SSL_REFS is not set: run this suite through ctest");
  return d;
}

std::string unhex(std::string_view h) {
  std::string out;
  for (size_t i = 0; i + 1 < h.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(h.substr(i, 2)), nullptr, 16)));
  return out;
}

nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "missing reference file ", p.string(), " (made by the CTest fixture python_references: make_bpe_references.py)");
  return nlohmann::json::parse(in);
}

using ssl_test::join;

bool lossless(const ByteLevelBPEOptions& o) {
  for (const auto& s : o.special_tokens)
    if (s.lstrip || s.rstrip) return false;
  return !o.add_prefix_space;
}

// The references of make_bpe_references.py, parsed once (40 MB of JSON).
const nlohmann::json& cases() {
  static const nlohmann::json j = read_json(fs::path(refs_dir()) / "bpe" / "bpe_cases.json");
  return j;
}

std::string shorten(const std::string& s) { return s.size() > 300 ? s.substr(0, 300) + "..." : s; }

}  // namespace

TEST_SUITE("bpe") {
  TEST_CASE("GPT-2's byte table") {
    const auto& t = ssl::text::byte_to_unicode();
    CHECK(t[' '] == 0x120);
    CHECK(t['\n'] == 0x10A);
    CHECK(t['!'] == '!');
    CHECK(t[0xAD] == 0x143);
    CHECK(t[0xFF] == 0xFF);
    for (int b = 0; b < 256; ++b) CHECK(ssl::text::unicode_to_byte(t[static_cast<size_t>(b)]) == b);
    CHECK(ssl::text::unicode_to_byte(0x20) == -1);
    CHECK(ssl::text::unicode_to_byte(0x4E2D) == -1);
  }

  TEST_CASE("GPT-2's pre-tokenizer") {
    CHECK(split("Hello world") == Strings{"Hello", " world"});
    CHECK(split("DON'T don't I'm we'll you've they're he'd it's") ==
          Strings{"DON", "'", "T", " don", "'t", " I", "'m", " we", "'ll", " you", "'ve", " they", "'re", " he", "'d", " it", "'s"});
    CHECK(split("a   b") == Strings{"a", "  ", " b"});
    CHECK(split("a\t\tb") == Strings{"a", "\t", "\t", "b"});
    CHECK(split("x  ") == Strings{"x", "  "});
    CHECK(split("abc123def 4th") == Strings{"abc", "123", "def", " 4", "th"});
    CHECK(split("hi!! ?? 中文 x²") == Strings{"hi", "!!", " ??", " 中文", " x", "²"});
    CHECK(split("e\xCC\x81") == Strings{"e", "\xCC\x81"});  // a combining mark is not a letter (Mn)
    CHECK(split("\xC2\xA0nbsp") == Strings{"\xC2\xA0", "nbsp"});  // NBSP is \s, not ' '
    CHECK(split("") == Strings{});
    CHECK(ssl::text::is_letter(U'é'));
    CHECK(ssl::text::is_letter(U'中'));
    CHECK(!ssl::text::is_letter(U'1'));
    CHECK(ssl::text::is_number(U'²'));
    CHECK(ssl::text::is_number(U'Ⅻ'));
    CHECK(!ssl::text::is_number(U'x'));
  }

  TEST_CASE("merges: lowest rank first, leftmost among equals; cache; decode") {
    auto tok = tiny({{"a", "a"}, {"b", "c"}, {"aa", "a"}});
    const auto aa = tok.id("aa"), aaa = tok.id("aaa"), bc = tok.id("bc");
    CHECK(tok.encode("aaa") == Ids{aaa});
    CHECK(tok.encode("aaaa") == Ids{aa, aa});
    CHECK(tok.encode("aaaaa") == Ids{aa, aaa});  // (a a) at 0 and 2 first, then (aa a)
    CHECK(tok.encode("abc") == Ids{'a', bc});
    CHECK(tok.encode("abc") == Ids{'a', bc});  // from the cache
    CHECK(tok.encode("a bc") == Ids{'a', tok.id(bytes_token(" ")), bc});
    CHECK(tok.tokenize("a bc") == Strings{"a", "\xC4\xA0", "bc"});
    CHECK(tok.decode(tok.encode("a bc\n\xE4\xB8\xAD")) == "a bc\n\xE4\xB8\xAD");
    CHECK(tok.decode({0xE4, 0xB8}) == "\xEF\xBF\xBD");  // a cut character: U+FFFD, like from_utf8_lossy
    CHECK(tok.decode({'a', 0xFF, 'b'}) == "a\xEF\xBF\xBD" "b");
    CHECK_THROWS_WITH_AS(tok.decode({100000}), doctest::Contains("expected a token id in [0, "), c10::Error);
  }

  TEST_CASE("special tokens, prefix space, post-processing") {
    ByteLevelBPEOptions o = ByteLevelBPEOptions::roberta();
    auto rob = tiny({{"\xC4\xA0", "b"}}, o);
    const auto s = rob.id("<s>"), e = rob.id("</s>"), m = rob.id("<mask>"), sp_b = rob.id("\xC4\xA0" "b");
    CHECK(rob.encode("a<mask>b") == Ids{s, 'a', m, 'b', e});
    CHECK(rob.encode("a <mask> b") == Ids{s, 'a', rob.id("\xC4\xA0"), m, sp_b, e});
    CHECK(rob.encode("a<mask>b", false) == Ids{'a', m, 'b'});
    CHECK(rob.encode_pair("a", "b") == Ids{s, 'a', e, e, 'b', e});
    CHECK(rob.encode("") == Ids{s, e});
    CHECK(rob.decode(rob.encode("a <mask> b"), true) == "a  b");
    CHECK(rob.decode(rob.encode("a <mask> b")) == "<s>a <mask> b</s>");
    o.special_tokens[4].lstrip = true;
    auto lstrip = tiny({{"\xC4\xA0", "b"}}, o);
    CHECK(lstrip.encode("a \t<mask> b", false) == Ids{'a', m, sp_b});
    o.add_prefix_space = true;
    auto prefix = tiny({{"\xC4\xA0", "b"}}, o);
    CHECK(prefix.encode("b", false) == Ids{sp_b});
    CHECK(prefix.encode(" b", false) == Ids{sp_b});
    CHECK(prefix.encode("", false) == Ids{});
    CHECK(prefix.encode("<mask>b", false) == Ids{m, sp_b});  // each part between special tokens
    auto gpt2 = tiny({}, ByteLevelBPEOptions::gpt2());
    CHECK(gpt2.encode("x<|endoftext|>") == Ids{'x', gpt2.id("<|endoftext|>")});
    CHECK(gpt2.encode("<s>").size() == 3);  // not special for GPT-2
  }

  TEST_CASE("invalid UTF-8 is read as with errors='replace'") {
    auto tok = tiny({});
    CHECK(ByteLevelBPE::repair_utf8("a\xFF" "b") == "a\xEF\xBF\xBD" "b");
    CHECK(ByteLevelBPE::repair_utf8("ok \xEF\xBF\xBD") == "ok \xEF\xBF\xBD");
    CHECK(tok.encode("a\xFF" "b\xE2\x82") == tok.encode("a\xEF\xBF\xBD" "b\xEF\xBF\xBD"));
    CHECK(tok.decode(tok.encode("\xC0\xAF")) == "\xEF\xBF\xBD\xEF\xBF\xBD");
  }

  TEST_CASE("loaders: errors name the file and the bad entry") {
    TempDir dir("ssl_bpe_loaders");
    const auto v = dir.path / "vocab.json", mt = dir.path / "merges.txt", tj = dir.path / "tokenizer.json";
    write_file(v, R"({"a": 0, "b": 1, "ab": 2, "<|endoftext|>": 3})");
    write_file(mt, "#version: 0.2\na b\n");
    auto ok = ByteLevelBPE::from_files(v, mt);
    CHECK(ok.encode("ab") == Ids{2});
    CHECK(ok.encode("ab<|endoftext|>") == Ids{2, 3});
    write_file(mt, "#version: 0.2\na b\na c\n");
    CHECK_THROWS_WITH_AS(ByteLevelBPE::from_files(v, mt), doctest::Contains("merge 2 'a c': expected tokens of the vocabulary, 'c' is not in it"),
                         c10::Error);
    write_file(mt, "a b\nb a\n");
    CHECK_THROWS_WITH_AS(ByteLevelBPE::from_files(v, mt), doctest::Contains("merged token 'ba'"), c10::Error);
    write_file(mt, "a b c\n");
    CHECK_THROWS_WITH_AS(ByteLevelBPE::from_files(v, mt), doctest::Contains("merges.txt line 1: expected a merge \"a b\""),
                         c10::Error);
    write_file(mt, "a b\n");
    write_file(v, R"(["a", "b"])");
    CHECK_THROWS_WITH_AS(ByteLevelBPE::from_files(v, mt), doctest::Contains("expected the vocabulary as an object"), c10::Error);
    write_file(v, R"({"a": 0, "b": "one"})");
    CHECK_THROWS_WITH_AS(ByteLevelBPE::from_files(v, mt), doctest::Contains("expected an integer id for token 'b'"), c10::Error);
    write_file(v, R"({"a": 0, "b": 0})");
    CHECK_THROWS_WITH_AS(ByteLevelBPE::from_files(v, mt), doctest::Contains("expected one token per id"), c10::Error);
    write_file(v, R"({"a": 0, "b": 1, "ab": 2})");
    CHECK_THROWS_WITH_AS(ByteLevelBPE::from_files(v, mt), doctest::Contains("special token '<|endoftext|>'"), c10::Error);
    write_file(v, R"({"a": 0,)");
    CHECK_THROWS_WITH_AS(ByteLevelBPE::from_files(v, mt), doctest::Contains("parse error"), c10::Error);
    CHECK_THROWS_WITH_AS(ByteLevelBPE::from_files(dir.path / "none.json", mt), doctest::Contains("none.json"), c10::Error);

    const std::string pre = R"("pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true})";
    write_file(tj, R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}, )" + pre + "}");
    CHECK(ByteLevelBPE::from_tokenizer_json(tj).encode("ab") == Ids{2});
    write_file(tj, R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}, )" + pre + "}");
    CHECK(ByteLevelBPE::from_tokenizer_json(tj).encode("ab") == Ids{2});
    write_file(tj, R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b", ["a", "x"]]}, )" + pre + "}");
    CHECK_THROWS_WITH_AS(ByteLevelBPE::from_tokenizer_json(tj), doctest::Contains("'x' is not in it"), c10::Error);
    write_file(tj, R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [7]}, )" + pre + "}");
    CHECK_THROWS_WITH_AS(ByteLevelBPE::from_tokenizer_json(tj), doctest::Contains("model.merges[0]: expected a merge"), c10::Error);
    write_file(tj, R"({"model": {"type": "BPE", "vocab": [], "merges": []}, )" + pre + "}");
    CHECK_THROWS_WITH_AS(ByteLevelBPE::from_tokenizer_json(tj), doctest::Contains("model.vocab: expected the vocabulary as an object"),
                         c10::Error);
    write_file(tj, R"({"model": {"type": "WordPiece", "vocab": {}}})");
    CHECK_THROWS_WITH_AS(ByteLevelBPE::from_tokenizer_json(tj), doctest::Contains("expected model.type \"BPE\", got \"WordPiece\""),
                         c10::Error);
    write_file(tj, R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "byte_fallback": true}, )" + pre + "}");
    CHECK_THROWS_WITH_AS(ByteLevelBPE::from_tokenizer_json(tj), doctest::Contains("model.byte_fallback = true is not supported"),
                         c10::Error);
    write_file(tj, R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Whitespace"}})");
    CHECK_THROWS_WITH_AS(ByteLevelBPE::from_tokenizer_json(tj), doctest::Contains("expected pre_tokenizer {\"type\": \"ByteLevel\""),
                         c10::Error);
    // WordPiece's loader.
    write_file(tj, R"({"model": {"type": "BPE", "vocab": {}}})");
    CHECK_THROWS_WITH_AS(ssl::text::WordPiece::from_tokenizer_json(tj), doctest::Contains("expected model.type \"WordPiece\""),
                         c10::Error);
    const std::string norm = R"("normalizer": {"type": "BertNormalizer", "lowercase": true, "strip_accents": null})";
    write_file(tj, R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 2}}, )" + norm + "}");
    CHECK_THROWS_WITH_AS(ssl::text::WordPiece::from_tokenizer_json(tj), doctest::Contains("got id 2 for token 'a'"), c10::Error);
    write_file(tj, R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0, "a": 1, "##b": 2}}, )" + norm + "}");
    auto wp = ssl::text::WordPiece::from_tokenizer_json(tj);
    CHECK(wp.encode("AB c") == Ids{1, 2, 0});
  }
}

TEST_SUITE("bpe_parity") {
  TEST_CASE("ByteLevelBPE ids equal GPT2TokenizerFast / RobertaTokenizerFast on every fortune and the stress set") {
    const fs::path dir = fs::path(refs_dir()) / "bpe";
    const auto& refs = cases();
    Strings strings;
    for (const auto& h : refs["strings_hex"]) strings.push_back(unhex(h.get<std::string>()));
    const size_t n_fortunes = refs["fortunes"].get<size_t>();
    REQUIRE(n_fortunes == ssl::data::read_fortunes(test_data::fortunes_dir()).size());
    REQUIRE(strings.size() > n_fortunes + 40);

    ByteLevelBPEOptions prefix = ByteLevelBPEOptions::gpt2();
    prefix.add_prefix_space = true;
    ByteLevelBPEOptions lstrip = ByteLevelBPEOptions::roberta();
    for (auto& s : lstrip.special_tokens)
      if (s.content == "<mask>") s.lstrip = true;
    const auto v = dir / "vocab.json", m = dir / "merges.txt";
    struct Config {
      std::string name, ref;
      ByteLevelBPE tok;
    };
    std::vector<Config> configs;
    configs.push_back({"gpt2 (vocab.json + merges.txt)", "gpt2", ByteLevelBPE::from_files(v, m)});
    configs.push_back({"gpt2 add_prefix_space", "gpt2_prefix", ByteLevelBPE::from_files(v, m, prefix)});
    configs.push_back({"roberta (vocab.json + merges.txt)", "roberta", ByteLevelBPE::from_files(v, m, ByteLevelBPEOptions::roberta())});
    configs.push_back({"roberta <mask> lstrip", "roberta_lstrip", ByteLevelBPE::from_files(v, m, lstrip)});
    configs.push_back({"tokenizer.json (merges \"a b\")", "trained", ByteLevelBPE::from_tokenizer_json(dir / "tokenizer.json")});
    configs.push_back({"tokenizer.json (merges [a, b])", "trained", ByteLevelBPE::from_tokenizer_json(dir / "tokenizer_pairs.json")});
    configs.push_back({"GPT2TokenizerFast's tokenizer.json", "gpt2", ByteLevelBPE::from_tokenizer_json(dir / "gpt2_tokenizer.json")});
    configs.push_back({"RobertaTokenizerFast's tokenizer.json", "roberta", ByteLevelBPE::from_tokenizer_json(dir / "roberta_tokenizer.json")});
    size_t compared = 0;
    for (const auto& c : configs) {
      CAPTURE(c.name);
      const auto& expected = refs["configs"][c.ref];
      const auto& decoded = refs["decoded"][c.ref];
      REQUIRE(expected.size() == strings.size());
      size_t bad_ids = 0, bad_text = 0, bad_round = 0, tokens = 0;
      for (size_t i = 0; i < strings.size(); ++i) {
        const auto want = expected[i].get<Ids>();
        const auto got = c.tok.encode(strings[i]);
        tokens += got.size();
        if (got != want && bad_ids++ == 0)
          FAIL_CHECK("first mismatch: string ", i, (i < n_fortunes ? " (a fortune)" : " (stress set)"), ":\n",
                     shorten(strings[i]), "\nexpected (HF): ", shorten(join(want)), "\ngot (C++):     ", shorten(join(got)));
        const auto text = c.tok.decode(got, true);
        if (text != decoded[i].get<std::string>() && bad_text++ == 0)
          FAIL_CHECK("first decode mismatch: string ", i, ":\n", shorten(strings[i]), "\nHF:  ", shorten(decoded[i].get<std::string>()),
                     "\nC++: ", shorten(text));
        // Byte-level BPE is lossless: without the post-processor's tokens, decoding gives the text.
        // (Not where a prefix space is added or <mask> takes the whitespace before it.)
        if (lossless(c.tok.options())) {
          const auto back = c.tok.decode(c.tok.encode(strings[i], false));
          if (back != strings[i] && bad_round++ == 0)
            FAIL_CHECK("decode(encode(text)) != text for string ", i, ":\n", shorten(strings[i]), "\ngot: ", shorten(back));
        }
        ++compared;
      }
      CHECK_MESSAGE(bad_ids == 0, bad_ids, " of ", strings.size(), " strings give other ids");
      CHECK_MESSAGE(bad_text == 0, bad_text, " of ", strings.size(), " strings decode differently");
      CHECK_MESSAGE(bad_round == 0, bad_round, " of ", strings.size(), " strings do not decode back to the text");
      MESSAGE(c.name, ": ", strings.size(), " strings (", n_fortunes, " fortunes), ", tokens, " tokens, all equal: ",
              bad_ids + bad_text + bad_round == 0);
    }
    MESSAGE(compared, " encodings compared");
  }

  TEST_CASE("ill-formed UTF-8 encodes as its errors='replace' decoding") {
    const fs::path dir = fs::path(refs_dir()) / "bpe";
    const auto refs = read_json(dir / "invalid_utf8.json");
    REQUIRE(refs.size() >= 5);
    const auto tok = ByteLevelBPE::from_files(dir / "vocab.json", dir / "merges.txt");
    for (const auto& r : refs) {
      const auto text = unhex(r["hex"].get<std::string>());
      CAPTURE(r["hex"].get<std::string>());
      CHECK(tok.encode(text) == r["ids"].get<Ids>());
      CHECK(tok.decode(tok.encode(text)) == ByteLevelBPE::repair_utf8(text));
    }
  }

  TEST_CASE("WordPiece from tokenizer.json equals BertTokenizerFast and the vocab.txt tokenizer") {
    const fs::path dir = fs::path(refs_dir()) / "bpe";
    const auto refs = read_json(dir / "bpe_cases.json");
    const auto wp_refs = read_json(dir / "wordpiece_cases.json");
    Strings strings;
    for (const auto& h : refs["strings_hex"]) strings.push_back(unhex(h.get<std::string>()));
    struct Config {
      const char* name;
      const char* vocab_txt;
      ssl::text::BasicTokenizerOptions options;
    };
    for (const Config& c : {Config{"lower", "fortunes_vocab.txt", {.lowercase = true}},
                            Config{"cased", "fortunes_vocab_cased.txt", {.lowercase = false}}}) {
      const std::string name = c.name;
      CAPTURE(name);
      const auto tok = ssl::text::WordPiece::from_tokenizer_json(dir / (std::string("wordpiece_") + c.name + ".json"));
      CHECK(tok.basic().options().lowercase == c.options.lowercase);
      const ssl::text::WordPiece from_txt(ssl::text::Vocab::load(fs::path(refs_dir()) / c.vocab_txt), c.options);
      REQUIRE(tok.vocab().tokens() == from_txt.vocab().tokens());
      const auto& expected = wp_refs[c.name];
      REQUIRE(expected.size() == strings.size());
      size_t bad = 0;
      for (size_t i = 0; i < strings.size(); ++i) {
        const auto want = expected[i].get<Ids>();
        const auto got = tok.encode(strings[i]);
        if (got != want && bad++ == 0)
          FAIL_CHECK("first mismatch: string ", i, ":\n", shorten(strings[i]), "\nexpected (HF): ", shorten(join(want)),
                     "\ngot (C++):     ", shorten(join(got)));
      }
      CHECK_MESSAGE(bad == 0, bad, " of ", strings.size(), " strings give other ids");
      MESSAGE("wordpiece ", std::string(c.name), ": ", strings.size(), " strings, all equal: ", bad == 0);
    }
  }
}

}  // namespace test_bpe
