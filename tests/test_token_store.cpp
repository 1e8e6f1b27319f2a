// Text from the user's files (data/corpus.hpp) and the memory-mapped token store with its
// random-access datasets (data/token_store.hpp).
#include <doctest/doctest.h>
#include <ssl/data/corpus.hpp>
#include <ssl/data/loader.hpp>
#include <ssl/gpt.hpp>
#include <ssl/train/trainer.hpp>
#include <ssl/data/fortunes.hpp>
#include <ssl/data/text.hpp>
#include <ssl/data/token_store.hpp>
#include <ssl/text/wordpiece.hpp>
#include <ssl/text/wordpiece_trainer.hpp>

#include "datasets.hpp"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_token_store {

namespace {

namespace fs = std::filesystem;
using ssl::data::CorpusFormat;
using Ids = std::vector<int64_t>;

struct ScratchDir {
  fs::path path;
  explicit ScratchDir(const std::string& name) : path(fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void put_file(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}
std::string file_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::pair<std::string, std::string>> read_all(const fs::path& p, const ssl::data::CorpusOptions& o) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& d : ssl::data::read_corpus(p, o)) out.emplace_back(d.text, d.topic);
  return out;
}

/// The fortunes and a small WordPiece vocabulary trained on a part of them (once per process).
struct Fortunes {
  std::vector<ssl::data::Document> docs;
  ssl::text::WordPiece tok;
  static const Fortunes& get() {
    static const Fortunes f = [] {
      auto docs = ssl::data::read_fortunes(test_data::fortunes_dir());
      std::vector<std::string> texts;
      for (size_t i = 0; i < docs.size(); i += 8) texts.push_back(docs[i].text);
      return Fortunes{std::move(docs), ssl::text::WordPiece(ssl::text::train_wordpiece(texts, {.vocab_size = 600}))};
    }();
    return f;
  }
  [[nodiscard]] auto source(size_t n = SIZE_MAX) const {
    return [this, n](auto&& emit) {
      for (size_t i = 0; i < std::min(n, docs.size()); ++i) emit(docs[i].text);
    };
  }
  [[nodiscard]] auto tokenize() const {
    return [this](std::string_view s) { return tok.encode(s); };
  }
  [[nodiscard]] ssl::data::TokenStoreOptions options() const { return {.vocab_size = tok.vocab().size()}; }
  [[nodiscard]] ssl::data::TextSpecials specials(bool framed) const {
    const auto& v = tok.vocab();
    return {.cls = framed ? v.cls_id() : -1, .sep = v.sep_id(), .pad = v.pad_id()};
  }
};

Ids row(const torch::Tensor& t) {
  auto c = t.contiguous();
  return {c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel()};
}

}  // namespace

TEST_SUITE("text_store") {
  TEST_CASE("corpus formats: lines, paragraphs, JSON Lines, folders") {
    ScratchDir dir("ssl_corpus_formats");
    using O = ssl::data::CorpusOptions;
    put_file(dir.path / "lines.txt", "first doc\r\n\n  second doc  \n\t\nthird");
    CHECK(read_all(dir.path / "lines.txt", O{}) ==
          std::vector<std::pair<std::string, std::string>>{{"first doc", "lines.txt"}, {"second doc", "lines.txt"},
                                                          {"third", "lines.txt"}});
    put_file(dir.path / "paras.txt", "\n\npara one\nline two\n\n\n  \npara two\r\n");
    CHECK(read_all(dir.path / "paras.txt", O{.format = CorpusFormat::paragraphs}) ==
          std::vector<std::pair<std::string, std::string>>{{"para one\nline two", "paras.txt"}, {"para two", "paras.txt"}});
    CHECK(read_all(dir.path / "paras.txt", O{.plain = CorpusFormat::paragraphs}).size() == 2);
    put_file(dir.path / "docs.jsonl",
             "{\"text\": \"alpha \\u00e9\", \"y\": \"pos\"}\n\n{\"body\": 1, \"text\": \"beta\\nmore\", \"y\": 3}\n");
    CHECK(read_all(dir.path / "docs.jsonl", O{.label_field = "y"}) ==  // automatic: by extension
          std::vector<std::pair<std::string, std::string>>{{"alpha \xc3\xa9", "pos"}, {"beta\nmore", "3"}});
    put_file(dir.path / "other.data", "{\"content\": \"gamma\"}\n");
    CHECK(read_all(dir.path / "other.data", O{.format = CorpusFormat::jsonl, .field = "content"}) ==
          std::vector<std::pair<std::string, std::string>>{{"gamma", "other.data"}});

    // A folder: regular files recursively, in path order, hidden ones skipped; topics are the
    // relative paths.
    const fs::path tree = dir.path / "tree";
    put_file(tree / "b.txt", "b1\nb2");
    put_file(tree / "a" / "z.txt", "z1");
    put_file(tree / "a" / "y.jsonl", "{\"text\": \"y1\"}");
    put_file(tree / ".hidden.txt", "nope");
    put_file(tree / ".git" / "x.txt", "nope");
    CHECK(ssl::data::corpus_files(tree) == std::vector<fs::path>{tree / "a" / "y.jsonl", tree / "a" / "z.txt", tree / "b.txt"});
    CHECK(read_all(tree, O{}) == std::vector<std::pair<std::string, std::string>>{
                                     {"y1", "a/y.jsonl"}, {"z1", "a/z.txt"}, {"b1", "b.txt"}, {"b2", "b.txt"}});
    CHECK(ssl::data::read_corpus(tree, O{}, 2).size() == 2);
    // Streaming: line numbers and early stop.
    std::vector<int64_t> lines;
    ssl::data::for_each_document(dir.path / "lines.txt", O{}, [&](const ssl::data::CorpusDocument& d) {
      lines.push_back(d.line);
      return lines.size() < 2;
    });
    CHECK(lines == std::vector<int64_t>{1, 3});
    CHECK(ssl::data::parse_corpus_format("paragraphs") == CorpusFormat::paragraphs);
  }

  TEST_CASE("corpus errors name the file, the line and what was expected") {
    ScratchDir dir("ssl_corpus_errors");
    using O = ssl::data::CorpusOptions;
    CHECK_THROWS_WITH_AS(ssl::data::read_corpus(dir.path / "nope"), doctest::Contains("nope', which does not exist"),
                         c10::Error);
    fs::create_directories(dir.path / "empty");
    CHECK_THROWS_WITH_AS(ssl::data::read_corpus(dir.path / "empty"),
                         doctest::Contains("expected text files in the folder"), c10::Error);
    put_file(dir.path / "blank.txt", "\n  \n");
    CHECK_THROWS_WITH_AS(ssl::data::read_corpus(dir.path / "blank.txt"), doctest::Contains("blank.txt' (1 file(s), format auto), got none"),
                         c10::Error);
    put_file(dir.path / "bad.jsonl", "{\"text\": \"ok\"}\n{\"text\": oops}\n");
    CHECK_THROWS_WITH_AS(ssl::data::read_corpus(dir.path / "bad.jsonl"),
                         doctest::Contains("bad.jsonl:2: expected a JSON object per line (JSON Lines), got invalid JSON"),
                         c10::Error);
    put_file(dir.path / "array.jsonl", "[1, 2]\n");
    CHECK_THROWS_WITH_AS(ssl::data::read_corpus(dir.path / "array.jsonl"), doctest::Contains("array.jsonl:1: expected a JSON object per line (JSON Lines), got a array"),
                         c10::Error);
    put_file(dir.path / "field.jsonl", "\n{\"body\": \"x\"}\n");
    CHECK_THROWS_WITH_AS(ssl::data::read_corpus(dir.path / "field.jsonl"),
                         doctest::Contains("field.jsonl:2: expected a field \"text\", got an object without it"), c10::Error);
    put_file(dir.path / "type.jsonl", "{\"text\": 5}\n");
    CHECK_THROWS_WITH_AS(ssl::data::read_corpus(dir.path / "type.jsonl"),
                         doctest::Contains("type.jsonl:1: expected the field \"text\" to be a string, got number"), c10::Error);
    put_file(dir.path / "label.jsonl", "{\"text\": \"a\", \"y\": [1]}\n");
    CHECK_THROWS_WITH_AS(ssl::data::read_corpus(dir.path / "label.jsonl", O{.label_field = "y"}),
                         doctest::Contains("label.jsonl:1: expected the field \"y\" to be a string or an integer, got array"),
                         c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::parse_corpus_format("csv"),
                         doctest::Contains("expected auto, lines, paragraphs or jsonl, got 'csv'"), c10::Error);
    const auto tokenize = [](std::string_view s) { return Ids(s.size(), 1); };
    CHECK_THROWS_WITH_AS(ssl::data::build_token_store(dir.path / "blank.txt", O{}, tokenize, dir.path / "s.tokens", {.vocab_size = 4}),
                         doctest::Contains("expected documents in '"), c10::Error);
    put_file(dir.path / "one.txt", "abc\nabcdef\n");
    CHECK_THROWS_WITH_AS(ssl::data::build_token_store(dir.path / "one.txt", O{}, [](std::string_view s) { return Ids{int64_t(s.size())}; },
                                                      dir.path / "s.tokens", {.vocab_size = 4}),
                         doctest::Contains(("document 1 of '" + (dir.path / "one.txt").string() +
                                            "' gave token id 6, expected ids in [0, 4)").c_str()),
                         c10::Error);
    CHECK_FALSE(fs::exists(dir.path / "s.tokens"));  // nothing published, temporaries removed
    for (const auto& e : fs::directory_iterator(dir.path)) CHECK_FALSE(e.path().filename().string().starts_with("s.tokens"));
  }

  TEST_CASE("the store holds exactly the direct tokenization of every fortune") {
    const auto& f = Fortunes::get();
    ScratchDir dir("ssl_store_fortunes");
    auto store = ssl::data::build_token_store(f.source(), f.tokenize(), dir.path / "f.tokens",
                                              {.vocab_size = f.tok.vocab().size(), .threads = 2});
    REQUIRE(store.documents() == int64_t(f.docs.size()));
    CHECK(store.header().token_bytes == 2);
    int64_t tokens = 0, sentences = 0, whole_equal = 0;
    for (size_t d = 0; d < f.docs.size(); ++d) {
      Ids expected;
      const auto [first, last] = store.document_sentences(int64_t(d));
      int64_t s = first;
      for (const auto& text : ssl::data::split_sentences(f.docs[d].text)) {
        const auto ids = f.tok.encode(text);
        if (ids.empty()) continue;
        REQUIRE(s < last);
        CHECK(store.sentence(s++).to_vector() == ids);
        expected.insert(expected.end(), ids.begin(), ids.end());
      }
      CHECK(s == last);
      const auto got = store.document(int64_t(d)).to_vector();
      CHECK(got == expected);
      whole_equal += got == f.tok.encode(f.docs[d].text) ? 1 : 0;
      tokens += int64_t(expected.size());
      sentences += last - first;
    }
    CHECK(store.tokens() == tokens);
    CHECK(store.sentences() == sentences);
    // WordPiece splits at the punctuation and white space where sentences end, so the document
    // is also its own direct tokenization.
    CHECK(whole_equal == int64_t(f.docs.size()));

    // Whole documents (no sentence split): one sentence each, the direct tokenization.
    auto whole = ssl::data::build_token_store(f.source(2000), f.tokenize(), dir.path / "w.tokens",
                                              {.vocab_size = f.tok.vocab().size(), .sentences = false});
    for (int64_t d = 0; d < 2000; ++d) CHECK(whole.document(d).to_vector() == f.tok.encode(f.docs[size_t(d)].text));
    CHECK(whole.sentences() == 2000);
  }

  TEST_CASE("thread count and write buffer size do not change the bytes") {
    const auto& f = Fortunes::get();
    ScratchDir dir("ssl_store_threads");
    const int64_t vocab = f.tok.vocab().size();
    ssl::data::build_token_store(f.source(3000), f.tokenize(), dir.path / "a.tokens", {.vocab_size = vocab, .threads = 1});
    // 3 threads, chunks of 7 documents, a 61-byte buffer: the corpus is thousands of times larger.
    auto b = ssl::data::build_token_store(f.source(3000), f.tokenize(), dir.path / "b.tokens",
                                          {.vocab_size = vocab, .threads = 3, .chunk_documents = 7, .write_buffer_bytes = 61});
    CHECK(b.tokens() * 2 > 1000 * 61);
    CHECK(file_bytes(dir.path / "a.tokens") == file_bytes(dir.path / "b.tokens"));
    // int32 storage when the vocabulary does not fit 16 bits: the same ids.
    auto wide = ssl::data::build_token_store(f.source(3000), f.tokenize(), dir.path / "c.tokens",
                                             {.vocab_size = 70000, .write_buffer_bytes = 100});
    CHECK(wide.header().token_bytes == 4);
    REQUIRE(wide.tokens() == b.tokens());
    for (int64_t d = 0; d < 3000; d += 7) CHECK(wide.document(d).to_vector() == b.document(d).to_vector());
  }

  TEST_CASE("packed sequences equal data::pack row for row") {
    const auto& f = Fortunes::get();
    ScratchDir dir("ssl_store_pack");
    // Empty documents (no token) in the corpus: skipped by both.
    std::vector<std::string> texts;
    for (size_t i = 0; i < 1500; ++i) {
      texts.push_back(f.docs[i].text);
      if (i % 97 == 0) texts.emplace_back("\x01\x02");  // control characters only: no token
    }
    auto store = ssl::data::build_token_store([&](auto&& emit) { for (const auto& t : texts) emit(t); }, f.tokenize(),
                                              dir.path / "p.tokens", f.options());
    // Without a padding id (GPT-2, pad -1) both drop the last, partial sequence: the padded
    // layout's rows but its last where that one holds padding (most cases here; one divides evenly).
    int64_t dropped = 0;
    for (bool framed : {true, false})
      for (int64_t max_len : {16, 61})
        for (bool padless : {false, true}) {
          for (ssl::data::DocumentRange r : {ssl::data::DocumentRange{}, ssl::data::DocumentRange{33, 1201}}) {
            const int64_t end = r.end < 0 ? store.documents() : r.end;
            std::vector<Ids> docs;
            for (int64_t d = r.begin; d < end; ++d) docs.push_back(store.document(d).to_vector());
            auto sp = f.specials(framed);
            const auto padded = ssl::data::pack(docs, sp, max_len).ids;
            if (padless) sp.pad = -1;
            const auto expected = ssl::data::pack(docs, sp, max_len).ids;
            ssl::data::PackedSequences packed(store, sp, max_len, r);
            CAPTURE(framed);
            CAPTURE(max_len);
            CAPTURE(padless);
            if (padless) {
              const bool partial = (padded[-1] == f.specials(framed).pad).any().item<bool>();
              REQUIRE(expected.size(0) == padded.size(0) - (partial ? 1 : 0));
              CHECK(torch::equal(expected, padded.narrow(0, 0, expected.size(0))));
              dropped += partial;
            } else {
              CHECK(torch::equal(expected, padded));
            }
            REQUIRE(packed.size() == expected.size(0));
            bool all = true;
            for (int64_t i = 0; i < packed.size(); ++i) {
              const auto s = packed.get(i);
              all = all && s.target == -1 && torch::equal(s.input, expected[i]);
            }
            CHECK(all);
            CHECK(torch::equal(packed.lengths(), (expected != sp.pad).sum(1)));
          }
        }
    CHECK(dropped >= 6);  // of the 8 padless cases
    // Direct tokenization of the same fortunes, packed, also matches.
    std::vector<Ids> direct;
    for (size_t i = 0; i < 300; ++i) direct.push_back(f.tok.encode(f.docs[i].text));
    auto s300 = ssl::data::build_token_store(f.source(300), f.tokenize(), dir.path / "q.tokens", f.options());
    const auto sp = f.specials(true);
    const auto expected = ssl::data::pack(direct, sp, 64).ids;
    ssl::data::PackedSequences packed(s300, sp, 64);
    REQUIRE(packed.size() == expected.size(0));
    CHECK(torch::equal(ssl::data::collect(packed).ids, expected));
    CHECK_FALSE(ssl::data::collect(packed).labels.defined());
    CHECK_THROWS_WITH_AS(packed.get(packed.size()), doctest::Contains("outside [0, "), c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::PackedSequences(s300, sp, 64, {.begin = 10, .end = 10}),
                         doctest::Contains("hold no token"), c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::PackedSequences(s300, sp, 64, {.begin = 10, .end = 301}),
                         doctest::Contains("expected a document range within [0, 300], got [10, 301)"), c10::Error);
    // No padding id: fewer tokens than one sequence is refused, and so is a short row where
    // padding would be needed.
    auto nopad = f.specials(false);
    nopad.pad = -1;
    CHECK_THROWS_WITH_AS(ssl::data::PackedSequences(s300, nopad, 4096, {.begin = 10, .end = 12}),
                         doctest::Contains("fewer than one sequence of 4096"), c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::pack({direct[0]}, nopad, 4096), doctest::Contains("or fewer than max_len"), c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::single({direct[0]}, {}, nopad, 4096),
                         doctest::Contains("data::single: a sequence of"), c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::SingleDocuments(s300, nopad, 64), doctest::Contains("[PAD] ids are required"), c10::Error);
  }

  TEST_CASE("sentence pairs: layout, continuation, label ratio, determinism") {
    const auto& f = Fortunes::get();
    ScratchDir dir("ssl_store_pairs");
    auto store = ssl::data::build_token_store(f.source(4000), f.tokenize(), dir.path / "s.tokens", f.options());
    const auto sp = f.specials(true);
    const int64_t max_len = 48;
    ssl::data::SentencePairs pairs(store, sp, max_len, /*seed=*/7, /*random_next=*/0.3, /*pairs_per_doc=*/2);
    CHECK(pairs.size() == 8000);
    const auto lengths = pairs.lengths();
    int64_t ones = 0, untruncated_next = 0;
    for (int64_t i = 0; i < pairs.size(); ++i) {
      const auto s = pairs.get(i);
      const auto r = row(s.input);
      REQUIRE(r[0] == sp.cls);
      // [CLS] A [SEP] B [SEP] pad...
      std::vector<int64_t> seps;
      for (size_t j = 0; j < r.size(); ++j)
        if (r[j] == sp.sep) seps.push_back(int64_t(j));
      REQUIRE(seps.size() == 2);
      const int64_t len = seps[1] + 1;
      CHECK(seps[0] >= 2);
      CHECK(seps[1] >= seps[0] + 2);
      CHECK(lengths[i].item<int64_t>() == len);
      for (size_t j = size_t(len); j < r.size(); ++j) REQUIRE(r[j] == sp.pad);
      const Ids a(r.begin() + 1, r.begin() + seps[0]), b(r.begin() + seps[0] + 1, r.begin() + seps[1]);
      const auto p = pairs.pair(i);
      CHECK(p.label == s.target);
      ones += s.target;
      const int64_t d = i % store.documents();
      const auto doc = store.document(d).to_vector();
      if (doc.size() < 2) continue;  // the pair came from a later document
      CHECK(std::equal(a.begin(), a.end(), doc.begin()));  // A: the document's beginning
      if (s.target == 0 && len < max_len) {
        CHECK(a.size() + b.size() == doc.size());  // untruncated: B is exactly the rest
        CHECK(std::equal(b.begin(), b.end(), doc.begin() + long(a.size())));
        ++untruncated_next;
      }
    }
    CHECK(untruncated_next > 1000);
    const double ratio = double(ones) / double(pairs.size());
    CHECK(ratio == doctest::Approx(0.3).epsilon(0.1));  // within 10 % of 0.3
    // Random access: the same sample whatever the order; another seed, other pairs.
    CHECK(torch::equal(pairs.get(4321).input, ssl::data::SentencePairs(store, sp, max_len, 7, 0.3, 2).get(4321).input));
    int64_t differ = 0;
    ssl::data::SentencePairs other(store, sp, max_len, 8, 0.3, 2);
    for (int64_t i = 0; i < 200; ++i) differ += torch::equal(pairs.get(i).input, other.get(i).input) ? 0 : 1;
    CHECK(differ > 50);
    CHECK(ssl::data::collect(pairs, 10, 5).labels.size(0) == 5);
    CHECK_THROWS_WITH_AS(ssl::data::SentencePairs(store, sp, max_len, 0, 0.5, 1, {.begin = 3, .end = 4}),
                         doctest::Contains("expected at least 2 documents, got 1"), c10::Error);
  }

  TEST_CASE("single documents equal data::single, with labels") {
    const auto& f = Fortunes::get();
    ScratchDir dir("ssl_store_single");
    auto store = ssl::data::build_token_store(f.source(500), f.tokenize(), dir.path / "d.tokens", f.options());
    std::vector<Ids> docs;
    std::vector<int64_t> labels;
    for (int64_t d = 100; d < 400; ++d) {
      docs.push_back(store.document(d).to_vector());
      labels.push_back(d % 5);
    }
    for (bool framed : {true, false}) {
      const auto sp = f.specials(framed);
      const auto expected = ssl::data::single(docs, labels, sp, 40);
      ssl::data::SingleDocuments single(store, sp, 40, labels, {.begin = 100, .end = 400});
      const auto got = ssl::data::collect(single);
      CHECK(torch::equal(got.ids, expected.ids));
      CHECK(torch::equal(got.labels, expected.labels));
      CHECK(torch::equal(single.lengths(), (expected.ids != sp.pad).sum(1)));
    }
    CHECK(ssl::data::SingleDocuments(store, f.specials(true), 40).get(3).target == -1);
    CHECK_THROWS_WITH_AS(ssl::data::SingleDocuments(store, f.specials(true), 40, {1, 2}),
                         doctest::Contains("500 documents but 2 labels"), c10::Error);
  }

  TEST_CASE("foreign, stale, truncated and corrupt store files are rejected, naming the file") {
    ScratchDir dir("ssl_store_errors");
    put_file(dir.path / "c.txt", "one two. three!\nfour\n\nfive six seven\n");
    const auto tokenize = [](std::string_view s) {
      Ids ids;
      for (char c : s)
        if (c != ' ') ids.push_back(c % 50);
      return ids;
    };
    const fs::path good = dir.path / "c.tokens";
    auto store = ssl::data::build_token_store(dir.path / "c.txt", {}, tokenize, good, {.vocab_size = 50, .key = 42});
    CHECK(store.documents() == 3);
    CHECK(store.sentences() == 4);
    CHECK(ssl::data::TokenStore::matches(good, 42));
    CHECK_FALSE(ssl::data::TokenStore::matches(good, 43));
    CHECK_FALSE(ssl::data::TokenStore::matches(dir.path / "none", 42));
    const std::string bytes = file_bytes(good);
    const auto name = good.string();
    auto variant = [&](const std::string& b) {
      const fs::path p = dir.path / "bad.tokens";
      put_file(p, b);
      return p;
    };
    auto patch64 = [&](size_t at, uint64_t v) {
      std::string b = bytes;
      std::memcpy(b.data() + at, &v, 8);
      return variant(b);
    };
    CHECK_THROWS_WITH_AS(ssl::data::TokenStore(dir.path / "none"), doctest::Contains("cannot open '"), c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::TokenStore(good, 41), doctest::Contains((name + "' is stale: it was built with key 42, expected key 41").c_str()),
                         c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::TokenStore(variant("hello")), doctest::Contains("is truncated: expected a 64-byte header, got a file of 5 bytes"),
                         c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::TokenStore(variant("GIF89a" + bytes)),
                         doctest::Contains("bad.tokens' is not a token store: expected the magic bytes \"SSLTOKS\", got \"GIF89a"), c10::Error);
    std::string v2 = bytes;
    v2[8] = 2;
    CHECK_THROWS_WITH_AS(ssl::data::TokenStore(variant(v2)), doctest::Contains("is stale: expected format version 1, got version 2"),
                         c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::TokenStore(variant(bytes.substr(0, bytes.size() - 8))),
                         doctest::Contains("bad.tokens' is truncated: its header (29 tokens, 4 sentences, 3 documents) implies"),
                         c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::TokenStore(variant(bytes + "x")), doctest::Contains("is corrupt: its header"), c10::Error);
    // Offsets: tokens at 64 (29 x 2 bytes, padded to 64), sentence offsets at 128, documents at 168.
    REQUIRE(store.tokens() == 29);
    const size_t sent = 64 + 64, doc = sent + 5 * 8;
    CHECK_THROWS_WITH_AS(ssl::data::TokenStore(patch64(sent + 4 * 8, 99)),
                         doctest::Contains("sentence offsets out of bounds: expected 0 .. 29, got 0 .. 99"), c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::TokenStore(patch64(sent + 2 * 8, 100)),
                         doctest::Contains("is corrupt: sentence 2 has offsets out of order"), c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::TokenStore(patch64(doc + 3 * 16, 9)),
                         doctest::Contains("document offsets out of bounds: expected sentences 0 .. 4, got 0 .. 9"), c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::TokenStore(patch64(doc + 2 * 16, 1)),
                         doctest::Contains("is corrupt: document 1 has sentence offsets out of bounds or order"), c10::Error);
    CHECK_THROWS_WITH_AS(ssl::data::TokenStore(patch64(doc + 2 * 16 + 8, 0)),
                         doctest::Contains("document 1's count of non-empty documents is inconsistent"), c10::Error);
    CHECK_THROWS_WITH_AS((void)store.document(3), doctest::Contains("document 3 outside [0, 3)"), c10::Error);
    // Rebuilding over an open store: the old mapping stays valid, the new file is published whole.
    auto again = ssl::data::build_token_store(dir.path / "c.txt", {}, tokenize, good, {.vocab_size = 50, .key = 43});
    CHECK(store.document(2).to_vector() == again.document(2).to_vector());
    CHECK(again.key() == 43);
  }

  TEST_CASE("a store written through a buffer far smaller than the corpus trains; a resumed epoch sees the same batches") {
    const auto& f = Fortunes::get();
    ScratchDir dir("ssl_store_train");
    // A 61-byte write buffer for ~1 MB of tokens, read back through the mmap.
    auto store = ssl::data::build_token_store(f.source(), f.tokenize(), dir.path / "t.tokens",
                                              {.vocab_size = f.tok.vocab().size(), .threads = 2, .write_buffer_bytes = 61});
    CHECK(store.tokens() * int64_t(store.header().token_bytes) > 10000 * 61);
    const auto sp = f.specials(/*framed=*/false);
    ssl::data::PackedSequences packed(store, sp, 32);
    ssl::data::Loader loader(packed, ssl::data::trim_padding(sp.pad),
                             {.batch_size = 16, .seed = 9, .prefetch = 4, .lengths = packed.lengths(), .workers = 2});
    std::vector<torch::Tensor> full, rest;
    loader.run(1, 0, [&](const ssl::Batch& b, int64_t) { full.push_back(b.input); return true; });
    loader.run(1, 5, [&](const ssl::Batch& b, int64_t) { rest.push_back(b.input); return true; });
    REQUIRE(full.size() == size_t(loader.batches_per_epoch()));
    REQUIRE(rest.size() + 5 == full.size());
    bool same = true;
    for (size_t i = 0; i < rest.size(); ++i) same = same && torch::equal(rest[i], full[i + 5]);
    CHECK(same);
    // GPT on the store: 20 steps, the loss falls from the uniform guess.
    torch::manual_seed(0);
    const int64_t V = f.tok.vocab().size();
    auto gpt = ssl::gpt::recipe({.encoder = ssl::text::EncoderOptions(V, 32, 1, 2).max_len(32), .pad_id = sp.pad});
    ssl::Trainer trainer(gpt, ssl::optim::AdamWOptions{.lr = 3e-3}, ssl::schedule::Constant{});
    const double loss = trainer.fit(loader, {.epochs = 1, .max_steps = 20, .progress = 0});
    MESSAGE("GPT on the token store: mean loss of 20 steps ", loss, " (uniform: ", std::log(double(V)), ")");
    CHECK(loss < std::log(double(V)));
  }
}

}  // namespace test_token_store
