#pragma once
/// \file data/files.hpp
/// The files behind a folder dataset (`ImageFolder`, `AudioFolder`): found in a folder of class
/// folders, a flat folder or a list file, with their labels. Needs no decoding library.
#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace ssl::data {

/// Which files a folder dataset takes, and the words its messages use for them.
/// Example: `ssl::data::FileKind{"AudioFolder", "audio file", "audio files", "audio file", {".wav", ".flac", ".ogg"}}`.
struct FileKind {
  std::string owner;                    ///< the dataset's name, first in its messages, e.g. "ImageFolder"
  std::string noun;                     ///< one file, e.g. "image"
  std::string plural;                   ///< several files, e.g. "images"
  std::string file;                     ///< one file as a file, e.g. "image file"
  std::vector<std::string> extensions;  ///< the extensions taken in folders, lower case with the dot

  /// Whether `p` ends with one of `extensions`, in any case.
  bool matches(const std::filesystem::path& p) const {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return std::find(extensions.begin(), extensions.end(), ext) != extensions.end();
  }
  /// The extensions as a list, joined by `sep` and the last one by `last`: ".jpg, .jpeg or .png".
  std::string list(const char* sep = ", ", const char* last = " or ") const {
    std::string s;
    for (size_t k = 0; k < extensions.size(); ++k)
      s += (k == 0 ? "" : k + 1 == extensions.size() ? last : sep) + extensions[k];
    return s;
  }
};

/// The files of a dataset, in a fixed order, each with its class (or none), found from one source:
///  - a folder of class folders (torchvision's `ImageFolder` layout): sorted class names are the
///    labels 0..K-1, and each class's files are found recursively inside its folder;
///  - a flat folder of files (no sub-folders): unlabelled (target -1);
///  - a text file listing paths, one a line, relative ones resolved against the list's folder
///    (blank lines and surrounding blanks ignored): unlabelled.
/// In folders, files ending with one of the kind's extensions (any case) are taken, other files
/// and names starting with '.' are ignored; a listed file is always taken whatever its name.
/// Files are in torchvision's order: by folder, then by name. `ImageFolder` and `AudioFolder`
/// are file sets that also decode.
class FileSet {
 public:
  /// Finds the files of `source` (a folder or a list file, see above); throws, naming the path,
  /// on a missing source, a missing listed file, an empty set, a folder mixing files and class
  /// folders, or an empty class folder.
  FileSet(const std::filesystem::path& source, FileKind kind) : kind_(std::move(kind)) { scan(source); }

  /// Unlabelled set of the given files, in the given order; throws on an empty list.
  FileSet(std::vector<std::filesystem::path> files, FileKind kind) : kind_(std::move(kind)) {
    assign(std::move(files));
  }

  /// Number of files.
  int64_t size() const { return int64_t(files_.size()); }
  /// Path of file `i`.
  const std::filesystem::path& path(int64_t i) const {
    check_index(i, "path");
    return files_[size_t(i)];
  }
  /// Class names (sorted; label k is `classes()[k]`); empty when unlabelled.
  const std::vector<std::string>& classes() const { return classes_; }
  /// Whether the files carry class labels (the class-folder layout).
  bool labelled() const { return !classes_.empty(); }
  /// Label of file `i` (-1 when unlabelled).
  int64_t target(int64_t i) const {
    check_index(i, "target");
    return labels_.empty() ? -1 : labels_[size_t(i)];
  }
  /// The folder or list file the files were found from (empty for a given list of files).
  const std::filesystem::path& source() const { return source_; }
  /// What files are taken, and the words of the messages.
  const FileKind& kind() const { return kind_; }

 protected:
  /// An empty set, filled by `scan` or `assign`: for a derived dataset that checks its options first.
  explicit FileSet(FileKind kind) : kind_(std::move(kind)) {}

  /// Throws "<owner>::<fn>: expected an index in [0, size()), got i" unless `i` is in range.
  void check_index(int64_t i, const char* fn) const {
    TORCH_CHECK(i >= 0 && i < size(), kind_.owner, "::", fn, ": expected an index in [0, ", size(), "), got ", i);
  }

  /// Finds the files of `source`, as the constructor of the same arguments does.
  void scan(const std::filesystem::path& source) {
    namespace fs = std::filesystem;
    source_ = source;
    TORCH_CHECK(fs::exists(source), kind_.owner, ": expected a folder of ", kind_.plural, " or a list file at '",
                source.string(), "', got nothing there");
    if (fs::is_directory(source))
      scan_folder(source);
    else
      read_list(source);
    TORCH_CHECK(!files_.empty(), kind_.owner, ": expected at least one ", kind_.noun, " in '", source.string(),
                "', got none (", kind_.plural, " end ", kind_.list(), ")");
  }

  /// Takes `files` as an unlabelled set, in their order; throws on an empty list.
  void assign(std::vector<std::filesystem::path> files) {
    files_ = std::move(files);
    TORCH_CHECK(!files_.empty(), kind_.owner, ": expected at least one ", kind_.file, ", got an empty list");
  }

 private:
  static bool hidden(const std::filesystem::path& p) { return p.filename().string().starts_with('.'); }

  /// Files under `dir`, recursively, sorted by (folder, name) like torchvision's sorted os.walk.
  std::vector<std::filesystem::path> files_under(const std::filesystem::path& dir) const {
    namespace fs = std::filesystem;
    std::vector<fs::path> out;
    for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink);
         it != fs::recursive_directory_iterator(); ++it) {
      if (hidden(it->path())) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (!it->is_directory() && kind_.matches(it->path())) out.push_back(it->path());
    }
    std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
      return std::pair(a.parent_path().string(), a.filename().string()) <
             std::pair(b.parent_path().string(), b.filename().string());
    });
    return out;
  }

  void scan_folder(const std::filesystem::path& root) {
    namespace fs = std::filesystem;
    std::vector<fs::path> dirs, found;
    for (const auto& e : fs::directory_iterator(root)) {
      if (hidden(e.path())) continue;
      if (e.is_directory())
        dirs.push_back(e.path());
      else if (kind_.matches(e.path()))
        found.push_back(e.path());
    }
    std::sort(dirs.begin(), dirs.end());
    std::sort(found.begin(), found.end());
    TORCH_CHECK(dirs.empty() || found.empty(), kind_.owner, ": expected '", root.string(),
                "' to hold either class folders or ", kind_.plural, ", got both (e.g. folder '",
                dirs.front().filename().string(), "' and ", kind_.noun, " '", found.front().filename().string(), "')");
    if (dirs.empty()) {
      files_ = std::move(found);
      return;
    }
    for (const auto& d : dirs) {
      auto in_class = files_under(d);
      TORCH_CHECK(!in_class.empty(), kind_.owner, ": expected ", kind_.plural, " (", kind_.list(", ", ", "),
                  ") in class folder '", d.string(), "', got none");
      for (auto& f : in_class) {
        files_.push_back(std::move(f));
        labels_.push_back(int64_t(classes_.size()));
      }
      classes_.push_back(d.filename().string());
    }
  }

  void read_list(const std::filesystem::path& list) {
    namespace fs = std::filesystem;
    std::ifstream in(list);
    TORCH_CHECK(in.good(), kind_.owner, ": cannot open list file '", list.string(), "'");
    const fs::path base = list.parent_path();
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
      const auto b = line.find_first_not_of(" \t\r");
      if (b == std::string::npos) continue;
      const auto e = line.find_last_not_of(" \t\r");
      fs::path p = line.substr(b, e - b + 1);
      if (p.is_relative()) p = base / p;
      TORCH_CHECK(fs::is_regular_file(p), kind_.owner, ": '", list.string(), "' line ", n, ": expected an existing ",
                  kind_.file, ", got '", p.string(), "'");
      files_.push_back(std::move(p));
    }
  }

  FileKind kind_;
  std::filesystem::path source_;
  std::vector<std::filesystem::path> files_;
  std::vector<int64_t> labels_;
  std::vector<std::string> classes_;
};

}  // namespace ssl::data
