#pragma once
/// \file data/token_store.hpp
/// A corpus tokenized once into one memory-mapped file, and the text datasets read from it by
/// random access (each a `SampleDataset`, data/dataset.hpp):
///
///     ssl::text::WordPiece tok(vocab);
///     auto store = ssl::data::build_token_store("corpus/", {.format = ssl::data::CorpusFormat::jsonl},
///         [&](std::string_view s) { return tok.encode(s); }, "out/corpus.tokens", {.vocab_size = vocab.size()});
///     ssl::data::PackedSequences train(store, {.cls = cls, .sep = sep, .pad = pad}, 128);
///     ssl::data::Loader loader(train, ssl::data::trim_padding(pad), {.batch_size = 32, .lengths = train.lengths()});
///
/// File layout (little-endian, what the machine writes), all in one file so that one rename
/// publishes it:
///  - a 64-byte header (`TokenStoreHeader`: magic "SSLTOKS", version, bytes per token, counts,
///    the caller's key);
///  - the tokens of every sentence, in corpus order: uint16 when the vocabulary fits, else int32;
///    padded to a multiple of 8 bytes;
///  - sentence offsets, uint64 `[sentences + 1]`: sentence s is tokens `[off[s], off[s+1])`;
///  - document records, `{first sentence, non-empty documents before}` uint64 pairs
///    `[documents + 1]`: document d is sentences `[first[d], first[d+1])`, hence tokens
///    `[off[first[d]], off[first[d+1]])` (its sentences are contiguous).
/// Every corpus document has its record (one with no token has no sentence), so document d of
/// the store is document d of the corpus and per-document labels line up.
#include <ssl/core/types.hpp>
#include <ssl/data/corpus.hpp>
#include <ssl/data/dataset.hpp>
#include <ssl/data/text.hpp>

#include <torch/torch.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <vector>

namespace ssl::data {

/// The first 64 bytes of a token store file.
struct TokenStoreHeader {
  char magic[8];           ///< "SSLTOKS" and a NUL
  uint32_t version;        ///< kTokenStoreVersion
  uint32_t token_bytes;    ///< 2 (uint16 ids) or 4 (int32 ids)
  uint64_t vocab_size;     ///< every id is in [0, vocab_size)
  uint64_t tokens;  ///< token ids in the store
  uint64_t sentences;  ///< sentences (offsets into the tokens)
  uint64_t documents;  ///< documents (offsets into the sentences)
  uint64_t key;            ///< TokenStoreOptions::key: what the store was built from
  uint64_t reserved;  ///< zero; for later versions of the format
};
static_assert(sizeof(TokenStoreHeader) == 64);

/// The format version this header writes and reads.
inline constexpr uint32_t kTokenStoreVersion = 1;
/// The first 8 bytes of every token store file.
inline constexpr char kTokenStoreMagic[8] = {'S', 'S', 'L', 'T', 'O', 'K', 'S', '\0'};

/// FNV-1a hash of `bytes`, continuing from `h`: a building block for TokenStoreOptions::key.
inline uint64_t hash_bytes(std::string_view bytes, uint64_t h = 14695981039346656037ull) {
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ull;
  return h;
}

/// A key for a corpus as it is now: its files' paths, sizes and modification times, and the
/// reading options. Mix in the tokenizer's (e.g. `hash_bytes(vocab_text, corpus_fingerprint(...))`)
/// to detect a store built from another corpus or tokenizer.
inline uint64_t corpus_fingerprint(const std::vector<std::filesystem::path>& files, const CorpusOptions& o) {
  uint64_t h = hash_bytes(std::string(corpus_format_name(o.format)) + "/" + corpus_format_name(o.plain) + "/" +
                          o.field + "/" + o.label_field);
  for (const auto& f : files) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(f, ec);
    const auto time = std::filesystem::last_write_time(f, ec).time_since_epoch().count();
    h = hash_bytes(f.string() + "|" + std::to_string(size) + "|" + std::to_string(time), h);
  }
  return h;
}

/// Options of build_token_store. Example: `TokenStoreOptions{.vocab_size = vocab.size(), .threads = 4}`.
struct TokenStoreOptions {
  /// Required: ids are checked to be in [0, vocab_size); <= 65536 stores uint16, else int32.
  int64_t vocab_size = 0;
  /// Split documents with data::split_sentences and tokenize each sentence (sentence offsets
  /// for next-sentence pairs); false: one tokenizer call per document, stored as one sentence.
  bool sentences = true;
  /// Tokenizing threads (0: the hardware's). The file is the same for any count.
  int64_t threads = 0;
  /// Documents a thread tokenizes per round (a round reads threads x this many documents).
  int64_t chunk_documents = 256;
  /// Bytes buffered per output stream before a write: memory stays bounded on any corpus size.
  int64_t write_buffer_bytes = int64_t(4) << 20;
  /// Stored in the header, compared by TokenStore(path, key) (e.g. corpus_fingerprint).
  uint64_t key = 0;
};

/// A run of token ids inside a TokenStore (uint16 or int32 underneath), read as int64.
class TokenSpan {
 public:
  /// An empty span (no ids).
  TokenSpan() = default;
  /// `n` ids of `bytes` (2 or 4) each from `data`.
  TokenSpan(const void* data, int bytes, int64_t n) : p_(static_cast<const char*>(data)), bytes_(bytes), n_(n) {}
  /// Number of ids.
  [[nodiscard]] int64_t size() const { return n_; }
  /// Whether there is none.
  [[nodiscard]] bool empty() const { return n_ == 0; }
  /// Id i (unchecked).
  int64_t operator[](int64_t i) const {
    return bytes_ == 2 ? int64_t(reinterpret_cast<const uint16_t*>(p_)[i]) : int64_t(reinterpret_cast<const int32_t*>(p_)[i]);
  }
  /// Ids [from, from + n) (clamped to the span).
  [[nodiscard]] TokenSpan subspan(int64_t from, int64_t n) const {
    from = std::clamp<int64_t>(from, 0, n_);
    return {p_ + from * bytes_, bytes_, std::clamp<int64_t>(n, 0, n_ - from)};
  }
  /// Writes the ids to `out[0..size())`.
  void copy_to(int64_t* out) const {
    if (bytes_ == 2) std::copy_n(reinterpret_cast<const uint16_t*>(p_), n_, out);
    else std::copy_n(reinterpret_cast<const int32_t*>(p_), n_, out);
  }
  /// The ids as a vector.
  [[nodiscard]] std::vector<int64_t> to_vector() const {
    std::vector<int64_t> v(static_cast<size_t>(n_));
    copy_to(v.data());
    return v;
  }

 private:
  const char* p_ = nullptr;
  int bytes_ = 2;
  int64_t n_ = 0;
};

/// A token store file, memory-mapped read-only. The constructor checks the header (magic,
/// version, token width, the file size the counts imply, the key when one is expected) and that
/// every offset stays in bounds and in order, so a foreign, stale, truncated or corrupt file is
/// rejected with an error naming it. Copies share the mapping; all accessors are const and
/// thread-safe. Token ids are not re-checked against vocab_size (build_token_store did).
class TokenStore {
 public:
  /// Opens `file`; with `key`, also rejects a store built with another TokenStoreOptions::key.
  explicit TokenStore(const std::filesystem::path& file, std::optional<uint64_t> key = std::nullopt)
      : map_(std::make_shared<Mapping>(file)) {
    const std::string name = file.string();
    const auto size = map_->size;
    TORCH_CHECK(size >= sizeof(TokenStoreHeader), "data::TokenStore: '", name, "' is truncated: expected a ",
                sizeof(TokenStoreHeader), "-byte header, got a file of ", size, " bytes");
    std::memcpy(&h_, map_->data, sizeof h_);
    TORCH_CHECK(std::memcmp(h_.magic, kTokenStoreMagic, 8) == 0, "data::TokenStore: '", name,
                "' is not a token store: expected the magic bytes \"SSLTOKS\", got \"",
                std::string(h_.magic, strnlen(h_.magic, 8)), "\"");
    TORCH_CHECK(h_.version == kTokenStoreVersion, "data::TokenStore: '", name, "' is stale: expected format version ",
                kTokenStoreVersion, ", got version ", h_.version, " (rebuild it)");
    TORCH_CHECK(h_.token_bytes == 2 || h_.token_bytes == 4, "data::TokenStore: '", name,
                "' is corrupt: expected 2 or 4 bytes per token, got ", h_.token_bytes);
    TORCH_CHECK(!key || *key == h_.key, "data::TokenStore: '", name, "' is stale: it was built with key ", h_.key,
                ", expected key ", *key, " (another corpus or tokenizer: rebuild it)");
    constexpr uint64_t big = uint64_t(1) << 56;
    TORCH_CHECK(h_.tokens < big && h_.sentences < big && h_.documents < big, "data::TokenStore: '", name,
                "' is corrupt: implausible counts (", h_.tokens, " tokens, ", h_.sentences, " sentences, ",
                h_.documents, " documents)");
    sent_at_ = sizeof(TokenStoreHeader) + (h_.tokens * h_.token_bytes + 7) / 8 * 8;
    doc_at_ = sent_at_ + (h_.sentences + 1) * 8;
    const uint64_t expected = doc_at_ + (h_.documents + 1) * 16;
    TORCH_CHECK(size == expected, "data::TokenStore: '", name, "' is ", size < expected ? "truncated" : "corrupt",
                ": its header (", h_.tokens, " tokens, ", h_.sentences, " sentences, ", h_.documents,
                " documents) implies ", expected, " bytes, got ", size);
    const uint64_t* off = sentence_offsets();
    TORCH_CHECK(off[0] == 0 && off[h_.sentences] == h_.tokens, "data::TokenStore: '", name,
                "' is corrupt: sentence offsets out of bounds: expected 0 .. ", h_.tokens, ", got ", off[0], " .. ",
                off[h_.sentences]);
    for (uint64_t s = 0; s < h_.sentences; ++s)
      TORCH_CHECK(off[s] < off[s + 1], "data::TokenStore: '", name, "' is corrupt: sentence ", s,
                  " has offsets out of order (", off[s], " then ", off[s + 1], ")");
    const uint64_t* doc = records();
    TORCH_CHECK(doc[0] == 0 && doc[1] == 0 && doc[2 * h_.documents] == h_.sentences, "data::TokenStore: '", name,
                "' is corrupt: document offsets out of bounds: expected sentences 0 .. ", h_.sentences, ", got ",
                doc[0], " .. ", doc[2 * h_.documents]);
    for (uint64_t d = 0; d < h_.documents; ++d) {
      const uint64_t a = doc[2 * d], b = doc[2 * d + 2];
      TORCH_CHECK(a <= b && b <= h_.sentences, "data::TokenStore: '", name, "' is corrupt: document ", d,
                  " has sentence offsets out of bounds or order (", a, " then ", b, ", of ", h_.sentences, ")");
      TORCH_CHECK(doc[2 * d + 3] == doc[2 * d + 1] + (a < b ? 1 : 0), "data::TokenStore: '", name,
                  "' is corrupt: document ", d, "'s count of non-empty documents is inconsistent");
    }
  }

  /// Whether `file` is a valid token store built with `key` (false rather than an error).
  static bool matches(const std::filesystem::path& file, uint64_t key) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) return false;
    try {
      TokenStore s(file, key);
      return true;
    } catch (const c10::Error&) {
      return false;
    }
  }

  /// The file.
  [[nodiscard]] const std::filesystem::path& path() const { return map_->path; }
  /// The header as read.
  [[nodiscard]] const TokenStoreHeader& header() const { return h_; }
  /// Documents, as many as the corpus had (some may hold no token).
  [[nodiscard]] int64_t documents() const { return int64_t(h_.documents); }
  /// Sentences (each at least one token).
  [[nodiscard]] int64_t sentences() const { return int64_t(h_.sentences); }
  /// Tokens in all.
  [[nodiscard]] int64_t tokens() const { return int64_t(h_.tokens); }
  /// The vocabulary size the ids were checked against.
  [[nodiscard]] int64_t vocab_size() const { return int64_t(h_.vocab_size); }
  /// TokenStoreOptions::key of the build.
  [[nodiscard]] uint64_t key() const { return h_.key; }

  /// Sentences `[first, end)` of document d.
  [[nodiscard]] std::pair<int64_t, int64_t> document_sentences(int64_t d) const {
    check_doc(d);
    return {int64_t(records()[2 * d]), int64_t(records()[2 * d + 2])};
  }
  /// Offset of document d's first token (d == documents(): tokens()).
  [[nodiscard]] int64_t document_begin(int64_t d) const {
    TORCH_CHECK(d >= 0 && d <= documents(), "data::TokenStore: document ", d, " outside [0, ", documents(), "]");
    return int64_t(sentence_offsets()[records()[2 * d]]);
  }
  /// Documents before d that hold at least one token (d == documents(): all of them).
  [[nodiscard]] int64_t nonempty_before(int64_t d) const {
    TORCH_CHECK(d >= 0 && d <= documents(), "data::TokenStore: document ", d, " outside [0, ", documents(), "]");
    return int64_t(records()[2 * d + 1]);
  }
  /// The tokens of document d.
  [[nodiscard]] TokenSpan document(int64_t d) const {
    check_doc(d);
    return span(document_begin(d), document_begin(d + 1));
  }
  /// The tokens of sentence s.
  [[nodiscard]] TokenSpan sentence(int64_t s) const {
    TORCH_CHECK(s >= 0 && s < sentences(), "data::TokenStore: sentence ", s, " outside [0, ", sentences(), ")");
    return span(int64_t(sentence_offsets()[s]), int64_t(sentence_offsets()[s + 1]));
  }
  /// Tokens `[from, to)` of the whole stream.
  [[nodiscard]] TokenSpan span(int64_t from, int64_t to) const {
    TORCH_CHECK(0 <= from && from <= to && to <= tokens(), "data::TokenStore: tokens [", from, ", ", to,
                ") outside [0, ", tokens(), ")");
    return {map_->data + sizeof(TokenStoreHeader) + from * h_.token_bytes, int(h_.token_bytes), to - from};
  }
  /// Token offset of sentence s's start (s == sentences(): tokens()).
  [[nodiscard]] int64_t sentence_begin(int64_t s) const { return int64_t(sentence_offsets()[s]); }

 private:
  struct Mapping {
    std::filesystem::path path;
    const char* data = nullptr;
    uint64_t size = 0;
    explicit Mapping(std::filesystem::path p) : path(std::move(p)) {
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      TORCH_CHECK(fd >= 0, "data::TokenStore: cannot open '", path.string(), "': ", std::strerror(errno));
      struct stat st {};
      if (::fstat(fd, &st) != 0) {
        ::close(fd);
        TORCH_CHECK(false, "data::TokenStore: cannot stat '", path.string(), "'");
      }
      size = uint64_t(st.st_size);
      if (size > 0) {
        void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
        ::close(fd);
        TORCH_CHECK(m != MAP_FAILED, "data::TokenStore: cannot map '", path.string(), "': ", std::strerror(errno));
        data = static_cast<const char*>(m);
      } else {
        ::close(fd);
      }
    }
    ~Mapping() {
      if (data != nullptr) ::munmap(const_cast<char*>(data), size);
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
  };
  void check_doc(int64_t d) const {
    TORCH_CHECK(d >= 0 && d < documents(), "data::TokenStore: document ", d, " outside [0, ", documents(), ")");
  }
  [[nodiscard]] const uint64_t* sentence_offsets() const { return reinterpret_cast<const uint64_t*>(map_->data + sent_at_); }
  [[nodiscard]] const uint64_t* records() const { return reinterpret_cast<const uint64_t*>(map_->data + doc_at_); }

  std::shared_ptr<const Mapping> map_;
  TokenStoreHeader h_{};
  uint64_t sent_at_ = 0, doc_at_ = 0;
};

namespace detail {

/// An output file written through a fixed-size buffer.
class BufferedFile {
 public:
  BufferedFile(std::filesystem::path path, int64_t buffer, const char* mode = "wb")
      : path_(std::move(path)), f_(std::fopen(path_.c_str(), mode)) {
    TORCH_CHECK(f_ != nullptr, "data::build_token_store: cannot write '", path_.string(), "': ", std::strerror(errno));
    buf_.reserve(static_cast<size_t>(std::max<int64_t>(buffer, 16)));
  }
  ~BufferedFile() {
    if (f_ != nullptr) std::fclose(f_);
  }
  BufferedFile(const BufferedFile&) = delete;
  BufferedFile& operator=(const BufferedFile&) = delete;
  void write(const void* p, size_t n) {
    const char* c = static_cast<const char*>(p);
    while (n > 0) {
      const size_t k = std::min(n, buf_.capacity() - buf_.size());
      buf_.insert(buf_.end(), c, c + k);
      c += k;
      n -= k;
      if (buf_.size() == buf_.capacity()) flush();
    }
  }
  template <class T>
  void put(T v) { write(&v, sizeof v); }
  void flush() {
    TORCH_CHECK(buf_.empty() || std::fwrite(buf_.data(), 1, buf_.size(), f_) == buf_.size(),
                "data::build_token_store: cannot write '", path_.string(), "' (disk full?)");
    buf_.clear();
  }
  /// Appends the whole of `other` (closed) through this buffer.
  void append_file(const std::filesystem::path& other) {
    flush();
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> in(std::fopen(other.c_str(), "rb"), &std::fclose);
    TORCH_CHECK(in != nullptr, "data::build_token_store: cannot read back '", other.string(), "'");
    buf_.resize(buf_.capacity());
    size_t k;
    while ((k = std::fread(buf_.data(), 1, buf_.size(), in.get())) > 0)
      TORCH_CHECK(std::fwrite(buf_.data(), 1, k, f_) == k, "data::build_token_store: cannot write '", path_.string(), "'");
    buf_.clear();
  }
  void close() {
    flush();
    TORCH_CHECK(std::fflush(f_) == 0 && ::fsync(::fileno(f_)) == 0, "data::build_token_store: cannot write '",
                path_.string(), "'");
    std::fclose(f_);
    f_ = nullptr;
  }
  std::FILE* file() { return f_; }

 private:
  std::filesystem::path path_;
  std::FILE* f_;
  std::vector<char> buf_;
};

/// Removes the temporary files unless released.
struct RemoveOnExit {
  std::vector<std::filesystem::path> paths;
  ~RemoveOnExit() {
    std::error_code ec;
    for (const auto& p : paths) std::filesystem::remove(p, ec);
  }
};

}  // namespace detail

/// Tokenizes every document of `source` once and writes a token store to `file` (see the file
/// comment for the layout), atomically: the data goes to temporary files beside `file`
/// (`file.tmp<pid>*`, removed on failure) and a rename publishes it, so a reader never sees half
/// a store. `source(emit)` calls `emit(std::string_view text)` once per document, in order;
/// `tokenize(std::string_view)` gives the ids of a text without special tokens (e.g.
/// WordPiece::encode) and is called from several threads at once (it must be thread-safe).
/// Documents are tokenized in rounds of `threads x chunk_documents`, each thread taking a
/// contiguous chunk; the output is in corpus order and byte-identical for any thread count.
/// Memory stays bounded by a round's documents and the write buffers. `what` names the source in
/// errors. Returns the opened store.
template <class Source, class Tokenize>
TokenStore build_token_store(Source&& source, Tokenize&& tokenize, const std::filesystem::path& file,
                             const TokenStoreOptions& o, const std::string& what = "the document source") {
  namespace fs = std::filesystem;
  TORCH_CHECK(o.vocab_size > 0 && o.vocab_size <= (int64_t(1) << 31), "data::build_token_store: expected a vocab_size in ",
              "[1, 2^31], got ", o.vocab_size);
  TORCH_CHECK(o.chunk_documents > 0 && o.write_buffer_bytes > 0 && o.threads >= 0,
              "data::build_token_store: expected chunk_documents > 0, write_buffer_bytes > 0 and threads >= 0, got ",
              o.chunk_documents, ", ", o.write_buffer_bytes, ", ", o.threads);
  const int64_t threads = o.threads > 0 ? o.threads : std::max<int64_t>(1, std::thread::hardware_concurrency());
  const uint32_t bytes = o.vocab_size <= 65536 ? 2 : 4;
  if (file.has_parent_path()) fs::create_directories(file.parent_path());
  // Per-process names: processes building the same store side by side do not collide.
  const std::string stem = file.string() + ".tmp" + std::to_string(::getpid());
  const fs::path tmp = stem, tmp_sent = stem + ".sentences", tmp_doc = stem + ".documents";
  detail::RemoveOnExit cleanup{{tmp, tmp_sent, tmp_doc}};
  detail::BufferedFile out(tmp, o.write_buffer_bytes), sent(tmp_sent, o.write_buffer_bytes),
      doc(tmp_doc, o.write_buffer_bytes);
  TokenStoreHeader h{};
  out.put(h);  // placeholder, rewritten at the end
  uint64_t n_tokens = 0, n_sentences = 0, n_docs = 0, n_nonempty = 0;
  sent.put(uint64_t(0));
  doc.put(uint64_t(0));
  doc.put(uint64_t(0));

  const size_t round = static_cast<size_t>(threads * o.chunk_documents);
  std::vector<std::string> texts;
  std::vector<std::vector<std::vector<int64_t>>> ids;  // per document of the round: its sentences
  auto tokenize_doc = [&](const std::string& text, std::vector<std::vector<int64_t>>& out_sentences) {
    out_sentences.clear();
    auto add = [&](std::string_view s) {
      auto v = tokenize(s);
      if (!v.empty()) out_sentences.push_back(std::move(v));
    };
    if (o.sentences) {
      for (const auto& s : split_sentences(text)) add(s);
    } else {
      add(text);
    }
  };
  auto run_round = [&] {
    ids.resize(texts.size());
    const size_t per = static_cast<size_t>(o.chunk_documents);
    const size_t chunks = (texts.size() + per - 1) / per;
    std::vector<std::exception_ptr> errors(chunks);
    auto work = [&](size_t c) {
      try {
        for (size_t i = c * per; i < std::min(texts.size(), (c + 1) * per); ++i) tokenize_doc(texts[i], ids[i]);
      } catch (...) {
        errors[c] = std::current_exception();
      }
    };
    if (chunks <= 1) {
      if (chunks == 1) work(0);
    } else {
      std::vector<std::thread> pool;
      for (size_t c = 1; c < chunks; ++c) pool.emplace_back(work, c);
      work(0);
      for (auto& t : pool) t.join();
    }
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
    std::vector<uint16_t> narrow;
    std::vector<int32_t> wide;
    for (size_t i = 0; i < texts.size(); ++i) {
      for (const auto& s : ids[i]) {
        for (auto t : s)
          TORCH_CHECK(t >= 0 && t < o.vocab_size, "data::build_token_store: document ", n_docs, " of ", what,
                      " gave token id ", t, ", expected ids in [0, ", o.vocab_size, ")");
        if (bytes == 2) {
          narrow.assign(s.begin(), s.end());
          out.write(narrow.data(), narrow.size() * 2);
        } else {
          wide.assign(s.begin(), s.end());
          out.write(wide.data(), wide.size() * 4);
        }
        n_tokens += s.size();
        sent.put(n_tokens);
        ++n_sentences;
      }
      n_nonempty += ids[i].empty() ? 0 : 1;
      ++n_docs;
      doc.put(n_sentences);
      doc.put(n_nonempty);
    }
    texts.clear();
  };
  source([&](std::string_view text) {
    texts.emplace_back(text);
    if (texts.size() == round) run_round();
  });
  run_round();
  TORCH_CHECK(n_docs > 0, "data::build_token_store: expected documents in ", what, ", got none");
  const uint64_t pad = (8 - (n_tokens * bytes) % 8) % 8;
  for (uint64_t i = 0; i < pad; ++i) out.put(char(0));
  sent.close();
  doc.close();
  out.append_file(tmp_sent);
  out.append_file(tmp_doc);
  std::memcpy(h.magic, kTokenStoreMagic, 8);
  h.version = kTokenStoreVersion;
  h.token_bytes = bytes;
  h.vocab_size = uint64_t(o.vocab_size);
  h.tokens = n_tokens;
  h.sentences = n_sentences;
  h.documents = n_docs;
  h.key = o.key;
  out.flush();
  TORCH_CHECK(std::fseek(out.file(), 0, SEEK_SET) == 0 && std::fwrite(&h, sizeof h, 1, out.file()) == 1,
              "data::build_token_store: cannot write the header of '", tmp.string(), "'");
  out.close();
  fs::rename(tmp, file);
  return TokenStore(file, o.key);
}

/// build_token_store over the documents of a corpus (data/corpus.hpp): a file or a folder.
template <class Tokenize>
TokenStore build_token_store(const std::filesystem::path& corpus, const CorpusOptions& corpus_options,
                             Tokenize&& tokenize, const std::filesystem::path& file, const TokenStoreOptions& o) {
  const auto files = corpus_files(corpus);
  return build_token_store([&](auto&& emit) { for_each_document(files, corpus_options, emit); }, tokenize, file, o,
                           "'" + corpus.string() + "'");
}

/// Documents `[begin, end)` of a store (end = -1: to the last), e.g. a training / held-out split.
struct DocumentRange {
  int64_t begin = 0;  ///< first document
  int64_t end = -1;  ///< one past the last document; -1: the store's end
};

namespace detail {
inline std::pair<int64_t, int64_t> store_range(const TokenStore& s, DocumentRange r, const char* what) {
  const int64_t e = r.end < 0 ? s.documents() : r.end;
  TORCH_CHECK(0 <= r.begin && r.begin <= e && e <= s.documents(), what, ": expected a document range within [0, ",
              s.documents(), "], got [", r.begin, ", ", r.end, ")");
  return {r.begin, e};
}
/// A `[max_len]` int64 row of `pad`.
inline torch::Tensor padded_row(int64_t max_len, int64_t pad) { return torch::full({max_len}, pad, torch::kInt64); }
/// splitmix64: a well-mixed 64-bit value of (seed, i).
inline uint64_t pair_seed(uint64_t seed, uint64_t i) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
}  // namespace detail

/// data::pack by random access on a store: the documents of `docs` one after another, `[SEP]`
/// after each (documents without tokens skipped), cut into sequences of `max_len` tokens, with
/// `[CLS]` first and `[SEP]` last in each when `sp.cls >= 0` (RoBERTa's FULL-SENTENCES), else a
/// plain stream (GPT); the last sequence is right-padded (dropped without a padding id, `sp.pad <
/// 0`, unless it is full). Sample i is row i of data::pack on the
/// same documents, found by a binary search over the document offsets; target -1.
class PackedSequences {
 public:
  /// Throws when max_len leaves no room or the documents hold no token (no full sequence when
  /// `sp.pad < 0`).
  PackedSequences(TokenStore store, TextSpecials sp, int64_t max_len, DocumentRange docs = {})
      : s_(std::move(store)), sp_(sp), max_len_(max_len) {
    const bool framed = sp.cls >= 0;
    detail::check_len(max_len, framed ? 2 : 0, "data::PackedSequences");
    TORCH_CHECK(sp.sep >= 0, "data::PackedSequences: a [SEP] (document separator) id is required");
    std::tie(b_, e_) = detail::store_range(s_, docs, "data::PackedSequences");
    room_ = framed ? max_len - 2 : max_len;
    length_ = stream_at(e_);
    TORCH_CHECK(length_ > 0, "data::PackedSequences: documents [", b_, ", ", e_, ") of '", s_.path().string(),
                "' hold no token");
    TORCH_CHECK(size() > 0, "data::PackedSequences: documents [", b_, ", ", e_, ") of '", s_.path().string(),
                "' hold ", length_, " tokens with their separators, fewer than one sequence of ", room_,
                " (without a padding id the last, partial sequence is dropped)");
  }
  /// Number of sequences (the last, partial one dropped when there is no padding id, `pad < 0`).
  [[nodiscard]] int64_t size() const { return sp_.pad < 0 ? length_ / room_ : (length_ + room_ - 1) / room_; }
  /// Sequence i: `[max_len]` int64.
  [[nodiscard]] Sample get(int64_t i) const {
    TORCH_CHECK(i >= 0 && i < size(), "data::PackedSequences: sample ", i, " outside [0, ", size(), ")");
    auto row = detail::padded_row(max_len_, sp_.pad);
    int64_t* out = row.data_ptr<int64_t>();
    if (sp_.cls >= 0) *out++ = sp_.cls;
    int64_t p = i * room_;
    const int64_t end = std::min(p + room_, length_);
    // The document holding stream position p: the last d with stream_at(d) <= p (non-empty).
    int64_t lo = b_, hi = e_;  // stream_at(lo) <= p < stream_at(hi)
    while (hi - lo > 1) {
      const int64_t mid = lo + (hi - lo) / 2;
      (stream_at(mid) <= p ? lo : hi) = mid;
    }
    int64_t d = lo, o = p - stream_at(d);
    while (p < end) {
      const auto doc = s_.document(d);
      if (o < doc.size()) {
        const int64_t k = std::min(doc.size() - o, end - p);
        doc.subspan(o, k).copy_to(out);
        out += k;
        p += k;
        o += k;
      } else {
        *out++ = sp_.sep;
        ++p;
        o = 0;
        do ++d; while (d < e_ && s_.document_begin(d) == s_.document_begin(d + 1));
      }
    }
    if (sp_.cls >= 0) *out++ = sp_.sep;
    return {row, -1};
  }
  /// Non-padding tokens of each sequence, `[size()]` int64 (for LoaderOptions::lengths).
  [[nodiscard]] torch::Tensor lengths() const {
    auto l = torch::full({size()}, max_len_, torch::kInt64);
    const int64_t last = std::min(length_ - (size() - 1) * room_, room_);
    l[size() - 1] = last + (max_len_ - room_);
    return l;
  }
  /// The sequence length.
  [[nodiscard]] int64_t max_len() const { return max_len_; }
  /// The store read.
  [[nodiscard]] const TokenStore& store() const { return s_; }

 private:
  /// Position of document d's first token in the packed stream (tokens and separators).
  [[nodiscard]] int64_t stream_at(int64_t d) const {
    return s_.document_begin(d) - s_.document_begin(b_) + s_.nonempty_before(d) - s_.nonempty_before(b_);
  }
  TokenStore s_;
  TextSpecials sp_;
  int64_t max_len_, room_ = 0, b_ = 0, e_ = 0, length_ = 0;
};

/// BERT's next-sentence pairs (data::sentence_pairs) by random access on a store. Pair i comes
/// from document `docs.begin + i % n` (n documents in the range; `pairs_per_doc` pairs each),
/// drawn with a generator seeded from (seed, i): A = its first k sentences (k random), B = the
/// rest (label 0, "is next") or, with probability `random_next`, another document of the range
/// from a random sentence on (label 1); a one-sentence document is cut at a random token. A and
/// B are cut longest-first to fit `[CLS] A [SEP] B [SEP]` in `max_len`. A document with fewer than
/// 2 tokens gives no pair: its pairs come from the next document that can (cyclically). The
/// same rules as data::sentence_pairs, but not its rows (another random stream).
class SentencePairs {
 public:
  /// Throws when max_len leaves no room for two segments, the range has fewer than 2 documents or
  /// none with 2 tokens, or [CLS] / [SEP] is missing.
  SentencePairs(TokenStore store, TextSpecials sp, int64_t max_len, uint64_t seed, double random_next = 0.5,
                int64_t pairs_per_doc = 1, DocumentRange docs = {})
      : s_(std::move(store)), sp_(sp), max_len_(max_len), seed_(seed), random_next_(random_next), reps_(pairs_per_doc) {
    detail::check_len(max_len, 4, "data::SentencePairs");
    TORCH_CHECK(sp.cls >= 0 && sp.sep >= 0 && sp.pad >= 0, "data::SentencePairs: [CLS], [SEP] and [PAD] ids are required");
    TORCH_CHECK(pairs_per_doc >= 1, "data::SentencePairs: expected pairs_per_doc >= 1, got ", pairs_per_doc);
    TORCH_CHECK(random_next >= 0 && random_next <= 1, "data::SentencePairs: expected random_next in [0, 1], got ",
                random_next);
    std::tie(b_, e_) = detail::store_range(s_, docs, "data::SentencePairs");
    TORCH_CHECK(e_ - b_ >= 2, "data::SentencePairs: expected at least 2 documents, got ", e_ - b_);
    bool any = false;
    for (int64_t d = b_; d < e_ && !any; ++d) any = doc_len(d) >= 2;
    TORCH_CHECK(any, "data::SentencePairs: no document of [", b_, ", ", e_, ") in '", s_.path().string(),
                "' has the 2 tokens a pair needs");
  }
  /// One pair: where its segments lie in the store (token offsets `[begin, end)`), and its label
  /// (0: B continues A; 1: B is from another document).
  struct Pair {
    int64_t a_begin;  ///< segment A's first token
    int64_t a_end;    ///< one past segment A's last token
    int64_t b_begin;  ///< segment B's first token
    int64_t b_end;    ///< one past segment B's last token
    int64_t label;    ///< 0: B continues A; 1: B is from another document
  };
  /// Number of pairs: documents x pairs_per_doc.
  [[nodiscard]] int64_t size() const { return (e_ - b_) * reps_; }
  /// Pair i's segments (token offsets into the store) and label, after truncation.
  [[nodiscard]] Pair pair(int64_t i) const {
    TORCH_CHECK(i >= 0 && i < size(), "data::SentencePairs: sample ", i, " outside [0, ", size(), ")");
    const int64_t n = e_ - b_;
    int64_t d = b_ + i % n;
    while (doc_len(d) < 2) d = d + 1 == e_ ? b_ : d + 1;
    std::mt19937_64 rng(detail::pair_seed(seed_, uint64_t(i)));
    auto uniform = [&](int64_t k) { return int64_t(std::uniform_int_distribution<uint64_t>(0, uint64_t(k) - 1)(rng)); };
    const auto [first, last] = s_.document_sentences(d);
    Pair p{};
    if (last - first >= 2) {
      const int64_t k = 1 + uniform(last - first - 1);
      p = {s_.sentence_begin(first), s_.sentence_begin(first + k), s_.sentence_begin(first + k), s_.sentence_begin(last), 0};
    } else {
      const int64_t begin = s_.document_begin(d), len = doc_len(d);
      const int64_t k = 1 + uniform(len - 1);
      p = {begin, begin + k, begin + k, begin + len, 0};
    }
    if (std::uniform_real_distribution<double>(0, 1)(rng) < random_next_) {
      int64_t o = b_ + uniform(n - 1);
      if (o >= d) ++o;  // any document but this one
      for (int64_t tries = 0; tries < n && (o == d || doc_len(o) == 0); ++tries) o = o + 1 == e_ ? b_ : o + 1;
      if (o != d && doc_len(o) > 0) {
        const auto [of, ol] = s_.document_sentences(o);
        const int64_t j = of + uniform(ol - of);  // from a random sentence on
        p.b_begin = s_.sentence_begin(j);
        p.b_end = s_.sentence_begin(ol);
        p.label = 1;
      }
    }
    const int64_t budget = max_len_ - 3;
    while ((p.a_end - p.a_begin) + (p.b_end - p.b_begin) > budget) {
      if (p.a_end - p.a_begin > p.b_end - p.b_begin) --p.a_end;
      else --p.b_end;
    }
    return p;
  }
  /// Pair i: `[CLS] A [SEP] B [SEP]`, right-padded to `[max_len]`, target = label.
  [[nodiscard]] Sample get(int64_t i) const {
    const auto p = pair(i);
    auto row = detail::padded_row(max_len_, sp_.pad);
    int64_t* out = row.data_ptr<int64_t>();
    *out++ = sp_.cls;
    s_.span(p.a_begin, p.a_end).copy_to(out);
    out += p.a_end - p.a_begin;
    *out++ = sp_.sep;
    s_.span(p.b_begin, p.b_end).copy_to(out);
    out += p.b_end - p.b_begin;
    *out = sp_.sep;
    return {row, p.label};
  }
  /// Non-padding tokens of each pair, `[size()]` int64 (computes every pair's layout: one pass).
  [[nodiscard]] torch::Tensor lengths() const {
    auto l = torch::empty({size()}, torch::kInt64);
    auto* q = l.data_ptr<int64_t>();
    for (int64_t i = 0; i < size(); ++i) {
      const auto p = pair(i);
      q[i] = 3 + (p.a_end - p.a_begin) + (p.b_end - p.b_begin);
    }
    return l;
  }
  /// The sequence length.
  [[nodiscard]] int64_t max_len() const { return max_len_; }
  /// The store read.
  [[nodiscard]] const TokenStore& store() const { return s_; }

 private:
  [[nodiscard]] int64_t doc_len(int64_t d) const { return s_.document_begin(d + 1) - s_.document_begin(d); }
  TokenStore s_;
  TextSpecials sp_;
  int64_t max_len_;
  uint64_t seed_;
  double random_next_;
  int64_t reps_, b_ = 0, e_ = 0;
};

/// data::single by random access on a store: one document per sequence, `[CLS] doc [SEP]` cut to
/// `max_len` (`doc [SEP]` when `sp.cls < 0`), right-padded; target = `labels[i]` when labels are
/// given (one per document of the range), else -1.
class SingleDocuments {
 public:
  /// Throws when max_len leaves no room or the label count is not the document count.
  SingleDocuments(TokenStore store, TextSpecials sp, int64_t max_len, std::vector<int64_t> labels = {},
                  DocumentRange docs = {})
      : s_(std::move(store)), sp_(sp), max_len_(max_len), labels_(std::move(labels)) {
    detail::check_len(max_len, sp.cls >= 0 ? 2 : 1, "data::SingleDocuments");
    TORCH_CHECK(sp.sep >= 0 && sp.pad >= 0, "data::SingleDocuments: [SEP] and [PAD] ids are required");
    std::tie(b_, e_) = detail::store_range(s_, docs, "data::SingleDocuments");
    TORCH_CHECK(e_ > b_, "data::SingleDocuments: expected documents, got the empty range [", b_, ", ", e_, ")");
    TORCH_CHECK(labels_.empty() || int64_t(labels_.size()) == e_ - b_, "data::SingleDocuments: ", e_ - b_,
                " documents but ", labels_.size(), " labels");
  }
  /// Number of documents.
  [[nodiscard]] int64_t size() const { return e_ - b_; }
  /// Document `docs.begin + i` as a `[max_len]` int64 row.
  [[nodiscard]] Sample get(int64_t i) const {
    TORCH_CHECK(i >= 0 && i < size(), "data::SingleDocuments: sample ", i, " outside [0, ", size(), ")");
    auto row = detail::padded_row(max_len_, sp_.pad);
    int64_t* out = row.data_ptr<int64_t>();
    if (sp_.cls >= 0) *out++ = sp_.cls;
    const auto doc = s_.document(b_ + i);
    const int64_t n = std::min(doc.size(), content());
    doc.subspan(0, n).copy_to(out);
    out[n] = sp_.sep;
    return {row, labels_.empty() ? -1 : labels_[size_t(i)]};
  }
  /// Non-padding tokens of each sequence, `[size()]` int64.
  [[nodiscard]] torch::Tensor lengths() const {
    auto l = torch::empty({size()}, torch::kInt64);
    auto* q = l.data_ptr<int64_t>();
    for (int64_t i = 0; i < size(); ++i)
      q[i] = std::min(s_.document_begin(b_ + i + 1) - s_.document_begin(b_ + i), content()) + (max_len_ - content());
    return l;
  }
  /// The sequence length.
  [[nodiscard]] int64_t max_len() const { return max_len_; }

 private:
  [[nodiscard]] int64_t content() const { return max_len_ - (sp_.cls >= 0 ? 2 : 1); }
  TokenStore s_;
  TextSpecials sp_;
  int64_t max_len_;
  std::vector<int64_t> labels_;
  int64_t b_ = 0, e_ = 0;
};

/// Samples `[first, first + count)` of a dataset stacked into a TextSet (count < 0: to the end;
/// clamped to the dataset), e.g. a held-out set for eval::loss_on. Labels are kept when the
/// samples have them (target >= 0).
template <SampleDataset D>
TextSet collect(const D& dataset, int64_t first = 0, int64_t count = -1) {
  const int64_t n = dataset.size();
  TORCH_CHECK(first >= 0 && first < n, "data::collect: expected a first sample in [0, ", n, "), got ", first);
  const int64_t last = count < 0 ? n : std::min(n, first + count);
  std::vector<torch::Tensor> rows;
  std::vector<int64_t> labels;
  for (int64_t i = first; i < last; ++i) {
    auto s = dataset.get(i);
    rows.push_back(std::move(s.input));
    labels.push_back(s.target);
  }
  const bool labelled = !labels.empty() && labels.front() >= 0;
  return {torch::stack(rows), labelled ? torch::tensor(labels, torch::kInt64) : torch::Tensor()};
}

static_assert(SampleDataset<PackedSequences> && SampleDataset<SentencePairs> && SampleDataset<SingleDocuments>);

}  // namespace ssl::data
