#pragma once
/// \file data/fortunes.hpp
/// The BSD `fortune` corpus (Debian package fortunes / fortunes-min) as a list of text documents
/// with a topic each: a small, always-available, real English corpus for the text methods.
#include <torch/torch.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

namespace ssl::data {

/// One fortune: UTF-8 text (inner newlines kept, may contain control characters such as the
/// backspaces of "overstriking") and its topic (the name of the file it came from).
struct Document {
  std::string text;  ///< the fortune, UTF-8
  std::string topic;  ///< the name of its file
};

namespace detail {

inline std::string_view trim_ascii_space(std::string_view s) {
  constexpr std::string_view ws = " \t\n\r\f\v";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

/// Splits one fortune file's content into documents (see read_fortunes).
inline void split_fortunes(std::string_view content, const std::string& topic, std::vector<Document>& out) {
  size_t doc_begin = 0, pos = 0;
  auto flush = [&](size_t end) {
    const auto text = trim_ascii_space(content.substr(doc_begin, end - doc_begin));
    if (!text.empty()) out.push_back({std::string(text), topic});
  };
  while (pos < content.size()) {
    size_t eol = content.find('\n', pos);
    if (eol == std::string_view::npos) eol = content.size();
    if (content.substr(pos, eol - pos) == "%") {
      flush(pos);
      doc_begin = std::min(eol + 1, content.size());
    }
    pos = eol + 1;
  }
  flush(content.size());
}

}  // namespace detail

/// Reads every fortune file of `dir`: the regular files that are not symlinks and whose names do
/// not end in ".dat" or ".u8" (the strfile indexes and the UTF-8 aliases), in file-name order;
/// subdirectories (e.g. the offensive `off/`) are not read. A file is split into documents at the
/// lines that are exactly "%"; a document is the text between two such lines (lines joined by
/// '\n') with leading and trailing ASCII whitespace trimmed; empty documents are dropped. Bytes
/// are kept as they are (the files are UTF-8). Throws when `dir` is not a directory or holds no
/// fortune. `dir`: e.g. /usr/share/games/fortunes of Debian's `fortunes` package.
inline std::vector<Document> read_fortunes(const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  TORCH_CHECK(fs::is_directory(dir, ec), "read_fortunes: expected a directory of fortune files (e.g. ",
              "/usr/share/games/fortunes of the Debian package `fortunes`), got '", dir.string(), "', which ",
              fs::exists(dir, ec) ? "is not a directory" : "does not exist");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_symlink() || !entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    auto ends_with = [&](std::string_view suffix) { return std::string_view(name).ends_with(suffix); };
    if (ends_with(".dat") || ends_with(".u8")) continue;
    files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename().string() < b.filename().string(); });
  std::vector<Document> docs;
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    TORCH_CHECK(in.good(), "read_fortunes: cannot open '", path.string(), "'");
    const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    detail::split_fortunes(content, path.filename().string(), docs);
  }
  TORCH_CHECK(!docs.empty(), "read_fortunes: expected fortune files (text with '%' separator lines) in '",
              dir.string(), "', got ", files.size(), " candidate file(s) and no document");
  return docs;
}

/// The distinct topics of `docs`, sorted.
inline std::vector<std::string> topics(const std::vector<Document>& docs) {
  std::vector<std::string> out;
  out.reserve(docs.size());
  for (const auto& d : docs) out.push_back(d.topic);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

}  // namespace ssl::data
