#pragma once
/// \file data/corpus.hpp
/// Documents from the user's own text files, streamed (never the whole corpus in memory):
///
///     ssl::data::CorpusOptions o{.format = ssl::data::CorpusFormat::jsonl, .field = "text"};
///     ssl::data::for_each_document("data/", o, [](const ssl::data::CorpusDocument& d) { use(d.text); });
///
/// A corpus is a file or a folder (its regular files, recursively, in path order; names starting
/// with '.' are skipped, files and folders alike). Each file is read in one of three formats:
///  - `lines`: one document per line;
///  - `paragraphs`: documents separated by blank lines (the lines of one joined by '\n');
///  - `jsonl`: JSON Lines, one object per line, the document in a string field (`field`).
/// Blank lines never make a document; documents are trimmed of ASCII white space; "\r\n" line
/// ends are accepted. Bytes are passed through (invalid UTF-8 included: the tokenizer copes).
#include <ssl/data/fortunes.hpp>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <algorithm>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace ssl::data {

/// How a corpus file is split into documents (see the file comment).
enum class CorpusFormat {
  automatic,   ///< by extension: `.jsonl` / `.json` -> jsonl, any other -> `CorpusOptions::plain`
  lines,       ///< one document per line
  paragraphs,  ///< documents separated by blank lines
  jsonl,       ///< JSON Lines with the document in `CorpusOptions::field`
};

/// Parses "auto" | "lines" | "paragraphs" | "jsonl" (e.g. a command-line option).
inline CorpusFormat parse_corpus_format(std::string_view name) {
  if (name == "auto") return CorpusFormat::automatic;
  if (name == "lines") return CorpusFormat::lines;
  if (name == "paragraphs") return CorpusFormat::paragraphs;
  if (name == "jsonl") return CorpusFormat::jsonl;
  TORCH_CHECK(false, "data::parse_corpus_format: expected auto, lines, paragraphs or jsonl, got '", std::string(name), "'");
}

/// The name parse_corpus_format reads back.
inline const char* corpus_format_name(CorpusFormat f) {
  switch (f) {
    case CorpusFormat::automatic: return "auto";
    case CorpusFormat::lines: return "lines";
    case CorpusFormat::paragraphs: return "paragraphs";
    case CorpusFormat::jsonl: return "jsonl";
  }
  return "?";
}

/// How to read a corpus. Example: `CorpusOptions{.format = CorpusFormat::jsonl, .field = "text"}`.
struct CorpusOptions {
  CorpusFormat format = CorpusFormat::automatic;  ///< lines, paragraphs, jsonl or automatic (detects JSON Lines)
  /// The format of the files that `automatic` does not recognise as JSON Lines.
  CorpusFormat plain = CorpusFormat::lines;
  /// jsonl: the string field that holds a document's text.
  std::string field = "text";
  /// jsonl: a field giving each document a label (a string, or an integer read as its decimal
  /// text), required in every line when set; empty: no label.
  std::string label_field;
};

/// One document as for_each_document hands it over: views valid during the call only.
struct CorpusDocument {
  std::string_view text;  ///< the document's text (UTF-8)
  std::string_view label;              ///< `CorpusOptions::label_field`'s value; empty without one
  const std::filesystem::path* file;   ///< the file it came from
  int64_t line;                        ///< its first line in that file (from 1)
};

/// The files of a corpus: `path` itself if it is a file; if a folder, its regular files found
/// recursively, in path order, skipping names that start with '.'. Throws when `path` does not
/// exist or the folder holds no file.
inline std::vector<std::filesystem::path> corpus_files(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  TORCH_CHECK(fs::exists(path, ec), "data::corpus_files: expected a text file or a folder of text files, got '",
              path.string(), "', which does not exist");
  if (!fs::is_directory(path, ec)) return {path};
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::follow_directory_symlink);
       it != fs::recursive_directory_iterator(); ++it) {
    if (it->path().filename().string().starts_with('.')) {
      if (it->is_directory()) it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file()) files.push_back(it->path());
  }
  TORCH_CHECK(!files.empty(), "data::corpus_files: expected text files in the folder '", path.string(),
              "', got none");
  std::sort(files.begin(), files.end());
  return files;
}

/// The format `options` gives to `file` (automatic resolved by its extension).
inline CorpusFormat corpus_format_of(const std::filesystem::path& file, const CorpusOptions& options) {
  if (options.format != CorpusFormat::automatic) return options.format;
  const auto ext = file.extension().string();
  if (ext == ".jsonl" || ext == ".json") return CorpusFormat::jsonl;
  TORCH_CHECK(options.plain != CorpusFormat::automatic && options.plain != CorpusFormat::jsonl,
              "data::CorpusOptions: expected `plain` to be lines or paragraphs, got ", corpus_format_name(options.plain));
  return options.plain;
}

namespace detail {

inline bool blank_line(std::string_view s) { return trim_ascii_space(s).empty(); }

/// Calls `f(doc)`; false from a bool-returning `f` stops the reading.
template <class F>
bool deliver(F& f, const CorpusDocument& doc) {
  auto call = [](auto&& r) -> bool {
    if constexpr (std::is_void_v<decltype(r())>) {
      r();
      return true;
    } else {
      return static_cast<bool>(r());
    }
  };
  if constexpr (std::is_invocable_v<F&, const CorpusDocument&>) {
    return call([&]() -> decltype(auto) { return f(doc); });
  } else {
    static_assert(std::is_invocable_v<F&, std::string_view>,
                  "data::for_each_document: expected f(const CorpusDocument&) or f(std::string_view), returning "
                  "void or bool (false: stop)");
    return call([&]() -> decltype(auto) { return f(doc.text); });
  }
}

/// A JSON Lines record's field as a string; throws naming file:line when absent or not a string.
inline std::string json_field(const nlohmann::json& j, const std::string& field, bool allow_integer,
                              const std::filesystem::path& file, int64_t line) {
  auto it = j.find(field);
  TORCH_CHECK(it != j.end(), "data::for_each_document: ", file.string(), ":", line, ": expected a field \"", field,
              "\", got an object without it");
  if (it->is_string()) return it->get<std::string>();
  TORCH_CHECK(allow_integer && it->is_number_integer(), "data::for_each_document: ", file.string(), ":", line,
              ": expected the field \"", field, "\" to be a string", allow_integer ? " or an integer" : "",
              ", got ", it->type_name());
  return std::to_string(it->get<int64_t>());
}

/// Streams the documents of one file; false when `f` asked to stop.
template <class F>
bool read_corpus_file(const std::filesystem::path& file, const CorpusOptions& options, F& f) {
  std::ifstream in(file, std::ios::binary);
  TORCH_CHECK(in.good(), "data::for_each_document: cannot open '", file.string(), "'");
  const auto format = corpus_format_of(file, options);
  std::string line, para;
  int64_t n = 0, para_line = 0;
  auto emit = [&](std::string_view text, std::string_view label, int64_t at) {
    text = trim_ascii_space(text);
    return text.empty() || deliver(f, CorpusDocument{text, label, &file, at});
  };
  while (std::getline(in, line)) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (format == CorpusFormat::lines) {
      if (!emit(line, {}, n)) return false;
    } else if (format == CorpusFormat::paragraphs) {
      if (blank_line(line)) {
        if (!emit(para, {}, para_line)) return false;
        para.clear();
      } else {
        if (para.empty()) para_line = n;
        else para += '\n';
        para += line;
      }
    } else {
      if (blank_line(line)) continue;
      auto j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
      TORCH_CHECK(!j.is_discarded(), "data::for_each_document: ", file.string(), ":", n,
                  ": expected a JSON object per line (JSON Lines), got invalid JSON: '",
                  line.substr(0, 80), line.size() > 80 ? "...'" : "'");
      TORCH_CHECK(j.is_object(), "data::for_each_document: ", file.string(), ":", n,
                  ": expected a JSON object per line (JSON Lines), got a ", j.type_name());
      const auto text = json_field(j, options.field, false, file, n);
      const auto label = options.label_field.empty() ? std::string()
                                                     : json_field(j, options.label_field, true, file, n);
      if (!emit(text, label, n)) return false;
    }
  }
  TORCH_CHECK(!in.bad(), "data::for_each_document: error reading '", file.string(), "' after line ", n);
  return format != CorpusFormat::paragraphs || emit(para, {}, para_line);
}

}  // namespace detail

/// Calls `f` on each non-blank document of `files`, in order: `f(const CorpusDocument&)` or
/// `f(std::string_view text)`; when `f` returns bool, false stops the reading. One line (or one
/// paragraph) is held in memory at a time. Throws, naming the file and line, on a line that is
/// not a JSON object or lacks the field (jsonl).
template <class F>
void for_each_document(const std::vector<std::filesystem::path>& files, const CorpusOptions& options, F&& f) {
  for (const auto& file : files)
    if (!detail::read_corpus_file(file, options, f)) return;
}

/// for_each_document over corpus_files(path).
template <class F>
void for_each_document(const std::filesystem::path& path, const CorpusOptions& options, F&& f) {
  for_each_document(corpus_files(path), options, f);
}

/// Reads a whole corpus into memory (for corpora that fit; large ones go through a token store,
/// data/token_store.hpp). A document's `topic` is its label when `options.label_field` is set,
/// else its file's path relative to the corpus folder (the file name for a single file), so that
/// a folder of one file per class reads as a labelled corpus. `max_documents` >= 0 stops after
/// that many. Throws when the corpus holds no document.
inline std::vector<Document> read_corpus(const std::filesystem::path& path, const CorpusOptions& options = {},
                                         int64_t max_documents = -1) {
  const auto files = corpus_files(path);
  std::vector<Document> docs;
  const bool folder = std::filesystem::is_directory(path);
  const std::filesystem::path* last_file = nullptr;
  std::string topic;
  for_each_document(files, options, [&](const CorpusDocument& d) {
    if (max_documents >= 0 && int64_t(docs.size()) >= max_documents) return false;
    if (d.file != last_file) {
      topic = folder ? d.file->lexically_relative(path).generic_string() : d.file->filename().string();
      last_file = d.file;
    }
    docs.push_back({std::string(d.text), options.label_field.empty() ? topic : std::string(d.label)});
    return true;
  });
  TORCH_CHECK(!docs.empty(), "data::read_corpus: expected documents in '", path.string(), "' (", files.size(),
              " file(s), format ", corpus_format_name(options.format), "), got none");
  return docs;
}

}  // namespace ssl::data
