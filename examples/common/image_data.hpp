// Shared by the image examples 00, 05 and 06 (not part of the library): what `--data` names.
//  - An IDX folder (Fashion-MNIST's four files, Debian's dataset-fashion-mnist): the 60k / 10k split
//    in memory, as before.
//  - An image folder (JPEG / PNG), torchvision's layout: `DIR/train/<class>/...` with
//    `DIR/val/<class>/...` (or `test/`) for evaluation, or one folder `DIR/<class>/...` (no
//    evaluation split: the run pretrains, evaluates nothing it has trained on, and says so), or a
//    flat folder of unlabelled images. Pretraining streams the files through worker threads
//    (decode, resize of the shorter side, centre crop to `--image-size`); the evaluation splits
//    are decoded once into memory, since the k-NN and the probe need every feature at once.
// Mean and std (per channel) are computed from the training images when not given, rounded to 4
// decimals (Fashion-MNIST: 0.2860 / 0.3530, its usual constants).
#pragma once
#include <ssl/data/idx.hpp>
#include <ssl/data/loader.hpp>
#include <ssl/train/metrics_log.hpp>
#if defined(SSL_WITH_IMAGES)
#include <ssl/data/image_folder.hpp>
#endif

#include "checks.hpp"
#include "datasets.hpp"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace ex {

struct ImageDataOptions {
  std::string data;              ///< --data: an IDX folder or an image folder
  int64_t image_size = 0;        ///< --image-size: 0 = the data's (IDX) / required for folders
  int64_t channels = 0;          ///< --channels: 0 = the data's (IDX: 1; folders: 3)
  std::vector<double> mean, std; ///< --mean / --std; empty: computed from the training images
  int64_t workers = 2;           ///< --workers: decoding threads for image folders
  bool skip_bad = false;         ///< --skip-bad: skip unreadable files (counted) instead of stopping
};

/// The data of an image example.
struct ImageData {
  std::string kind;                          ///< "idx" or "folder"
  ssl::data::ImageSet train, test;           ///< in memory (folders: decoded once); test empty: none
  int64_t image_size = 0, channels = 0, classes = 0;
  std::vector<double> mean, std;
#if defined(SSL_WITH_IMAGES)
  std::optional<ssl::data::ImageFolder> train_files;  ///< folders: what pretraining streams
#endif
  int64_t workers = 2;

  [[nodiscard]] bool has_test() const { return test.images.defined() && test.size() > 0; }
  /// Whether the evaluations (k-NN, linear probe, fine-tuning) can run: labelled training images
  /// and an evaluation split.
  [[nodiscard]] bool evaluable() const { return has_test() && train.labels.defined(); }
  /// The end of a run that cannot evaluate: writes `m` to `<out>/metrics.json` and says why
  /// nothing was evaluated (`wrote`: what the run wrote, for the message). Returns 0.
  static int pretraining_only(const std::string& out, const ssl::train::Json& m,
                              const std::string& wrote = "metrics.json") {
    std::ofstream(out + "/metrics.json") << ssl::train::dump(m, 2) << "\n";
    std::printf("no labelled evaluation split (train/ + val/ or test/ class folders): pretraining only; wrote %s/%s\n",
                out.c_str(), wrote.c_str());
    return 0;
  }
  [[nodiscard]] ssl::data::Transform normalize() const { return ssl::data::normalize(mean, std); }
  /// Pixels in [0, 1] (the two-view and multi-crop augmentations take these).
  [[nodiscard]] static ssl::data::Transform unit() {
    return [](const torch::Tensor& x) { return x.to(torch::kFloat32).div(255.0); };
  }
  /// `f(loader)` with the pretraining loader: in-memory tensors (IDX) or the streamed folder.
  template <class F>
  auto with_loader(const ssl::data::Transform& t, ssl::data::LoaderOptions o, F&& f) const {
#if defined(SSL_WITH_IMAGES)
    if (train_files) {
      o.workers = workers;
      o.prefetch = std::max<int64_t>(o.prefetch, 2 * workers);
      ssl::data::Loader loader(*train_files, t, o);
      return f(loader);
    }
#endif
    ssl::data::Loader loader(train.images, {}, t, o);
    return f(loader);
  }
  /// The value a normalised image has where the pixels are mid-gray (0.5), channel 0.
  [[nodiscard]] double gray() const { return (0.5 - mean[0]) / std[0]; }
  /// Normalised images back to [0, 1] pixels.
  [[nodiscard]] torch::Tensor pixels(const torch::Tensor& x) const {
    auto m = torch::tensor(mean, torch::kFloat32).view({1, -1, 1, 1}).to(x.device());
    auto s = torch::tensor(std, torch::kFloat32).view({1, -1, 1, 1}).to(x.device());
    return (x * s + m).clamp(0, 1).cpu();
  }
};

namespace detail {
inline bool is_idx_folder(const std::filesystem::path& d) {
  return std::filesystem::exists(d / "train-images-idx3-ubyte.gz") || std::filesystem::exists(d / "train-images-idx3-ubyte");
}
inline double round4(double v) { return std::round(v * 1e4) / 1e4; }
}  // namespace detail

/// Opens `--data` (see the file comment). Errors name the path and the option.
inline ImageData open_image_data(const ImageDataOptions& o) {
  namespace fs = std::filesystem;
  TORCH_CHECK(!o.data.empty(), "--data: expected an IDX folder or an image folder, got an empty path");
  TORCH_CHECK(fs::exists(o.data), "--data: '", o.data, "' does not exist");
  TORCH_CHECK(o.image_size >= 0, "--image-size: expected a side in pixels > 0, got ", o.image_size);
  TORCH_CHECK(o.channels == 0 || o.channels == 1 || o.channels == 3, "--channels: expected 1 or 3, got ", o.channels);
  TORCH_CHECK(o.mean.size() == o.std.size(), "--mean / --std: expected as many values in both, got ", o.mean.size(),
              " and ", o.std.size());
  TORCH_CHECK(o.workers >= 1, "--workers: expected at least 1, got ", o.workers);
  ImageData d;
  d.workers = o.workers;
  const fs::path root(o.data);
  if (detail::is_idx_folder(root)) {
    d.kind = "idx";
    d.train = ssl::data::fashion_mnist("train", o.data);
    d.test = ssl::data::fashion_mnist("test", o.data);
    const int64_t side = d.train.images.size(2);
    TORCH_CHECK(o.image_size == 0 || o.image_size == side, "--image-size: the IDX images in '", o.data, "' are ",
                side, " px; resizing them is not supported (got --image-size ", o.image_size, ")");
    TORCH_CHECK(o.channels == 0 || o.channels == 1, "--channels: the IDX images in '", o.data,
                "' have 1 channel, got --channels ", o.channels);
    d.image_size = side;
    d.channels = 1;
  } else {
#if defined(SSL_WITH_IMAGES)
    d.kind = "folder";
    TORCH_CHECK(o.image_size > 0, "--image-size is required with an image folder (--data '", o.data,
                "'): the side the images are resized and cropped to, e.g. --image-size 64");
    d.image_size = o.image_size;
    d.channels = o.channels > 0 ? o.channels : 3;
    const ssl::data::ImageFolderOptions fo{.image_size = d.image_size, .channels = d.channels, .skip_bad = o.skip_bad};
    fs::path train_dir = root, test_dir;
    if (fs::is_directory(root / "train")) {
      train_dir = root / "train";
      for (const char* name : {"val", "test"})
        if (fs::is_directory(root / name)) {
          test_dir = root / name;
          break;
        }
    }
    d.train_files.emplace(train_dir, fo);
    // Everything the evaluation needs, decoded once with the loader's workers, in file order.
    auto decode = [&](const ssl::data::ImageFolder& f) {
      ssl::data::Loader all(f, nullptr, {.batch_size = 256, .shuffle = false, .drop_last = false,
                                         .prefetch = 2 * o.workers, .shard = false, .workers = o.workers});
      std::vector<torch::Tensor> xs, ys;
      all.run(0, 0, [&](const ssl::Batch& b, int64_t) {
        xs.push_back(b.input);
        if (b.target.defined()) ys.push_back(b.target);
        return true;
      });
      return ssl::data::ImageSet{torch::cat(xs), ys.empty() ? torch::Tensor() : torch::cat(ys)};
    };
    d.train = decode(*d.train_files);
    if (!test_dir.empty()) {
      ssl::data::ImageFolder test_files(test_dir, fo);
      TORCH_CHECK(test_files.labelled() && d.train_files->labelled() && test_files.classes() == d.train_files->classes(),
                  "--data '", o.data, "': the evaluation folder '", test_dir.string(),
                  "' must have the same class sub-folders as '", train_dir.string(), "'");
      d.test = decode(test_files);
    }
    if (d.train_files->skipped() > 0)
      std::printf("--data: %lld unreadable file(s) skipped (--skip-bad)\n", (long long)d.train_files->skipped());
#else
    TORCH_CHECK(false, "--data '", o.data, "' is not an IDX folder, and this build of libssl has no image decoding ",
                "(install libjpeg62-turbo-dev libspng-dev and rebuild) to read an image folder");
#endif
  }
  if (d.train.labels.defined()) d.classes = d.train.labels.max().item<int64_t>() + 1;
  if (o.mean.empty()) {
    auto x = d.train.images.to(torch::kFloat32).div(255.0).transpose(0, 1).reshape({d.channels, -1});
    for (int64_t c = 0; c < d.channels; ++c) {
      d.mean.push_back(detail::round4(x[c].mean().item<double>()));
      d.std.push_back(detail::round4(x[c].std(/*unbiased=*/false).item<double>()));
    }
  } else {
    TORCH_CHECK(int64_t(o.mean.size()) == d.channels || o.mean.size() == 1, "--mean: expected 1 or ", d.channels,
                " values (one per channel), got ", o.mean.size());
    d.mean = o.mean.size() == 1 ? std::vector<double>(size_t(d.channels), o.mean[0]) : o.mean;
    d.std = o.std.size() == 1 ? std::vector<double>(size_t(d.channels), o.std[0]) : o.std;
  }
  std::printf("data: %s '%s': %lld training images%s, %lld px, %lld channel(s), mean", d.kind.c_str(), o.data.c_str(),
              (long long)d.train.size(), d.has_test() ? "" : " (no evaluation split)", (long long)d.image_size,
              (long long)d.channels);
  for (double m : d.mean) std::printf(" %.4f", m);
  std::printf(" std");
  for (double s : d.std) std::printf(" %.4f", s);
  std::printf("%s\n", o.mean.empty() ? " (computed)" : "");
  return d;
}

/// The `--data`, `--image-size`, `--channels`, `--mean`, `--std`, `--workers` and `--skip-bad`
/// options of an example.
template <class App>
void add_image_data_options(App& app, ImageDataOptions& o) {
  app.add_option("--data", o.data, "an IDX folder (Fashion-MNIST's files) or an image folder (class sub-folders, "
                                   "optionally train/ + val/ or test/)")
      ->capture_default_str();
  app.add_option("--image-size", o.image_size, "side the images are resized (shorter side) and cropped to; "
                                               "required for an image folder, the data's own for IDX")
      ->capture_default_str()
      ->check(at_least(1));
  app.add_option("--channels", o.channels, "1 or 3 (0: the data's; image folders: 3)")
      ->capture_default_str()
      ->check(CLI::IsMember({0, 1, 3}));
  app.add_option("--mean", o.mean, "per-channel mean of the pixels in [0,1] (default: computed from the data)")
      ->check(in_range(0, 1));
  app.add_option("--std", o.std, "per-channel std (default: computed from the data)")->check(positive());
  app.add_option("--workers", o.workers, "threads decoding an image folder")->capture_default_str()->check(at_least(1));
  app.add_flag("--skip-bad", o.skip_bad, "skip unreadable image files (counted in the log) instead of stopping");
}

}  // namespace ex
