#pragma once
/// \file data/image_folder.hpp
/// Images on disk as a `SampleDataset`: JPEG and PNG files, decoded in the loader's workers
/// (io/image.hpp), resized and center-cropped to one square size, uint8 `[C,S,S]`.
#include <ssl/data/dataset.hpp>
#include <ssl/data/files.hpp>
#include <ssl/io/image.hpp>

#include <torch/torch.h>

#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <string>
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
class ImageFolder : public FileSet {
 public:
  /// Scans `source` (a folder or a list file, see above); throws, naming the path, on a missing
  /// source, a missing listed file, an empty set, a folder mixing images and class folders, an
  /// empty class folder, or bad options.
  ImageFolder(const std::filesystem::path& source, ImageFolderOptions options)
      : FileSet(image_files()), opt_(checked(options)) {
    scan(source);
  }

  /// Unlabelled set of the given image files, in the given order.
  ImageFolder(std::vector<std::filesystem::path> files, ImageFolderOptions options)
      : FileSet(image_files()), opt_(checked(options)) {
    assign(std::move(files));
  }

  /// Image `i` as uint8 `[channels, image_size, image_size]` with its class (-1 if unlabelled).
  /// A bad file throws naming it, or with `skip_bad` is replaced by the next good file.
  Sample get(int64_t i) const {
    check_index(i, "get");
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
    TORCH_CHECK(false, "ImageFolder: all ", size(), " images of '", source().string(), "' failed to decode");
    return {};
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

  static FileKind image_files() { return {"ImageFolder", "image", "images", "image file", {".jpg", ".jpeg", ".png"}}; }

  static ImageFolderOptions checked(ImageFolderOptions o) {
    TORCH_CHECK(o.image_size > 0, "ImageFolderOptions: expected image_size > 0 (the output side), got ", o.image_size);
    if (o.resize == 0) o.resize = o.image_size;
    TORCH_CHECK(o.resize >= o.image_size, "ImageFolderOptions: expected resize >= image_size (", o.image_size,
                ") or 0, got ", o.resize);
    TORCH_CHECK(o.channels == 1 || o.channels == 3, "ImageFolderOptions: expected channels 1 or 3, got ", o.channels);
    return o;
  }

  Sample load(int64_t i) const {
    auto img = io::read_image(path(i), opt_.channels, opt_.resize);
    img = io::center_crop(io::resize_shorter(img, opt_.resize), opt_.image_size, opt_.image_size);
    return {img.contiguous(), target(i)};
  }

  ImageFolderOptions opt_;
  std::shared_ptr<BadFiles> bad_ = std::make_shared<BadFiles>();
};

}  // namespace ssl::data
