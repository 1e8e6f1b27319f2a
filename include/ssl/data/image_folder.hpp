#pragma once
/// \file data/image_folder.hpp
/// Images on disk as a `SampleDataset`: JPEG and PNG files, decoded in the loader's workers
/// (io/image.hpp), resized and center-cropped to one square size, uint8 `[C,S,S]`.
#include <ssl/data/dataset.hpp>
#include <ssl/io/image.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace ssl::data {

/// How `ImageFolder` turns a file into a sample. `image_size` is required.
/// Example: `ssl::data::ImageFolderOptions{.image_size = 96, .resize = 110, .channels = 1}`.
struct ImageFolderOptions {
  /// Output side S: each sample is the central S x S crop (required, > 0).
  int64_t image_size = 0;
  /// Shorter side after resizing, before the crop (>= image_size); 0: `image_size`.
  int64_t resize = 0;
  /// 3 (RGB) or 1 (luminance, as Pillow's `convert("L")`).
  int64_t channels = 3;
  /// A file that fails to decode is replaced by the next good one (i+1, i+2, ... wrapping), with
  /// a one-line warning per bad file on stderr; false: the error propagates.
  bool skip_bad = false;
};

/// Images as a labelled or unlabelled `SampleDataset` of uint8 `[channels, image_size, image_size]`.
/// Smallest use: `ssl::data::ImageFolder photos("my/photos", {.image_size = 96});`
///
/// `source` is one of:
///  - a folder of class folders (torchvision's `ImageFolder` layout): sorted class names are the
///    labels 0..K-1, and each class's images are found recursively inside its folder;
///  - a flat folder of images (no sub-folders): unlabelled (target -1);
///  - a text file listing image paths, one a line, relative ones resolved against the list's
///    folder (blank lines ignored): unlabelled.
/// In folders, files ending .jpg, .jpeg or .png (any case) are images, other files and names
/// starting with '.' are ignored; a listed file is always read whatever its name. Files are
/// in torchvision's order: by folder, then by name. A sample is: decode (a JPEG at 1/2, 1/4 or
/// 1/8 scale in the DCT domain when its shorter side stays >= `resize`), resize the shorter side
/// to `resize` (bilinear, antialiased), center-crop. `get` is safe from several threads; copies
/// share the record of bad files.
class ImageFolder {
 public:
  /// Scans `source` (a folder or a list file, see above); throws, naming the path, on a missing
  /// source, a missing listed file, an empty set, a folder mixing images and class folders, an
  /// empty class folder, or bad options.
  ImageFolder(const std::filesystem::path& source, ImageFolderOptions options)
      : root_(source), opt_(checked(options)) {
    namespace fs = std::filesystem;
    TORCH_CHECK(fs::exists(source), "ImageFolder: expected a folder of images or a list file at '", source.string(),
                "', got nothing there");
    if (fs::is_directory(source))
      scan_folder(source);
    else
      read_list(source);
    TORCH_CHECK(!files_.empty(), "ImageFolder: expected at least one image in '", source.string(),
                "', got none (images end .jpg, .jpeg or .png)");
  }

  /// Unlabelled set of the given image files, in the given order.
  ImageFolder(std::vector<std::filesystem::path> files, ImageFolderOptions options)
      : opt_(checked(options)), files_(std::move(files)) {
    TORCH_CHECK(!files_.empty(), "ImageFolder: expected at least one image file, got an empty list");
  }

  /// Number of images.
  int64_t size() const { return int64_t(files_.size()); }

  /// Image `i` as uint8 `[channels, image_size, image_size]` with its class (-1 if unlabelled).
  /// A bad file throws naming it, or with `skip_bad` is replaced by the next good file.
  Sample get(int64_t i) const {
    TORCH_CHECK(i >= 0 && i < size(), "ImageFolder::get: expected an index in [0, ", size(), "), got ", i);
    if (!opt_.skip_bad) return load(i);
    for (int64_t k = 0; k < size(); ++k) {
      const int64_t j = (i + k) % size();
      {
        std::lock_guard<std::mutex> lock(bad_->mutex);
        if (bad_->files.count(j)) continue;
      }
      try {
        return load(j);
      } catch (const c10::Error& e) {
        std::lock_guard<std::mutex> lock(bad_->mutex);
        if (bad_->files.insert(j).second) {
          std::string msg = e.what_without_backtrace();
          msg = msg.substr(0, msg.find('\n'));
          std::cerr << "ImageFolder: skipping a bad image: " << msg << "\n";  // msg names the file
        }
      }
    }
    TORCH_CHECK(false, "ImageFolder: all ", size(), " images of '", root_.string(), "' failed to decode");
    return {};
  }

  /// Path of image `i`.
  const std::filesystem::path& path(int64_t i) const {
    TORCH_CHECK(i >= 0 && i < size(), "ImageFolder::path: expected an index in [0, ", size(), "), got ", i);
    return files_[size_t(i)];
  }
  /// Class names (sorted; label k is `classes()[k]`); empty when unlabelled.
  const std::vector<std::string>& classes() const { return classes_; }
  /// Whether samples carry class labels (the class-folder layout).
  bool labelled() const { return !classes_.empty(); }
  /// Label of image `i` (-1 when unlabelled).
  int64_t target(int64_t i) const {
    path(i);  // checks i
    return labels_.empty() ? -1 : labels_[size_t(i)];
  }
  /// Number of distinct files found bad so far (with `skip_bad`).
  int64_t skipped() const {
    std::lock_guard<std::mutex> lock(bad_->mutex);
    return int64_t(bad_->files.size());
  }
  /// The options, `resize` filled in.
  const ImageFolderOptions& options() const { return opt_; }

 private:
  struct BadFiles {
    std::mutex mutex;
    std::set<int64_t> files;
  };

  static ImageFolderOptions checked(ImageFolderOptions o) {
    TORCH_CHECK(o.image_size > 0, "ImageFolderOptions: expected image_size > 0 (the output side), got ", o.image_size);
    if (o.resize == 0) o.resize = o.image_size;
    TORCH_CHECK(o.resize >= o.image_size, "ImageFolderOptions: expected resize >= image_size (", o.image_size,
                ") or 0, got ", o.resize);
    TORCH_CHECK(o.channels == 1 || o.channels == 3, "ImageFolderOptions: expected channels 1 or 3, got ", o.channels);
    return o;
  }

  static bool is_image(const std::filesystem::path& p) {
    std::string ext = p.extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
    return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
  }
  static bool hidden(const std::filesystem::path& p) { return p.filename().string().starts_with('.'); }

  /// Images under `dir`, recursively, sorted by (folder, name) like torchvision's sorted os.walk.
  static std::vector<std::filesystem::path> images_under(const std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    std::vector<fs::path> out;
    for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::follow_directory_symlink);
         it != fs::recursive_directory_iterator(); ++it) {
      if (hidden(it->path())) {
        if (it->is_directory()) it.disable_recursion_pending();
        continue;
      }
      if (!it->is_directory() && is_image(it->path())) out.push_back(it->path());
    }
    std::sort(out.begin(), out.end(), [](const fs::path& a, const fs::path& b) {
      return std::pair(a.parent_path().string(), a.filename().string()) <
             std::pair(b.parent_path().string(), b.filename().string());
    });
    return out;
  }

  void scan_folder(const std::filesystem::path& root) {
    namespace fs = std::filesystem;
    std::vector<fs::path> dirs, images;
    for (const auto& e : fs::directory_iterator(root)) {
      if (hidden(e.path())) continue;
      if (e.is_directory())
        dirs.push_back(e.path());
      else if (is_image(e.path()))
        images.push_back(e.path());
    }
    std::sort(dirs.begin(), dirs.end());
    std::sort(images.begin(), images.end());
    TORCH_CHECK(dirs.empty() || images.empty(), "ImageFolder: expected '", root.string(),
                "' to hold either class folders or images, got both (e.g. folder '", dirs.front().filename().string(),
                "' and image '", images.front().filename().string(), "')");
    if (dirs.empty()) {
      files_ = std::move(images);
      return;
    }
    for (const auto& d : dirs) {
      auto found = images_under(d);
      TORCH_CHECK(!found.empty(), "ImageFolder: expected images (.jpg, .jpeg, .png) in class folder '", d.string(),
                  "', got none");
      for (auto& f : found) {
        files_.push_back(std::move(f));
        labels_.push_back(int64_t(classes_.size()));
      }
      classes_.push_back(d.filename().string());
    }
  }

  void read_list(const std::filesystem::path& list) {
    namespace fs = std::filesystem;
    std::ifstream in(list);
    TORCH_CHECK(in.good(), "ImageFolder: cannot open list file '", list.string(), "'");
    const fs::path base = list.parent_path();
    std::string line;
    for (int64_t n = 1; std::getline(in, line); ++n) {
      const auto b = line.find_first_not_of(" \t\r");
      if (b == std::string::npos) continue;
      const auto e = line.find_last_not_of(" \t\r");
      fs::path p = line.substr(b, e - b + 1);
      if (p.is_relative()) p = base / p;
      TORCH_CHECK(fs::is_regular_file(p), "ImageFolder: '", list.string(), "' line ", n,
                  ": expected an existing image file, got '", p.string(), "'");
      files_.push_back(std::move(p));
    }
  }

  Sample load(int64_t i) const {
    auto img = io::read_image(files_[size_t(i)], opt_.channels, opt_.resize);
    img = io::center_crop(io::resize_shorter(img, opt_.resize), opt_.image_size, opt_.image_size);
    return {img.contiguous(), labels_.empty() ? -1 : labels_[size_t(i)]};
  }

  std::filesystem::path root_;
  ImageFolderOptions opt_;
  std::vector<std::filesystem::path> files_;
  std::vector<int64_t> labels_;
  std::vector<std::string> classes_;
  std::shared_ptr<BadFiles> bad_ = std::make_shared<BadFiles>();
};

}  // namespace ssl::data
