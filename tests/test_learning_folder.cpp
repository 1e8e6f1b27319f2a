// A method end to end from an image folder: the 10k Fashion-MNIST test images written out as PNG
// files in class folders (torchvision's layout), decoded by the loader's worker threads, and MAE
// pretrained from them. The folder gives exactly the IDX pixels, so the first steps equal those of
// the in-memory loader on the same seed; the run then learns (its loss falls well below the
// score of predicting each patch's mean).
#include <doctest/doctest.h>
#include <ssl/data/image_folder.hpp>
#include <ssl/ssl.hpp>

#include "datasets.hpp"

#include <filesystem>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_learning_folder {

namespace {
/// Writes `images` `[N,1,H,W]` uint8 as `<dir>/<label>/<i>.png`, the class folders named so that
/// their sorted order is the label order.
void write_folder(const std::filesystem::path& dir, const torch::Tensor& images, const torch::Tensor& labels) {
  for (int64_t i = 0; i < images.size(0); ++i) {
    const auto cls = dir / ("class" + std::to_string(labels[i].item<int64_t>()));
    std::filesystem::create_directories(cls);
    char name[32];
    std::snprintf(name, sizeof name, "%05lld.png", (long long)i);
    ssl::io::write_png((cls / name).string(), images[i]);
  }
}
}  // namespace

TEST_SUITE("learning_folder") {
TEST_CASE("MAE trains from a folder of PNG files: the IDX pixels, the in-memory run's first steps, then a falling loss") {
  const auto test = ssl::data::fashion_mnist("test", test_data::fashion_mnist_dir());
  const auto dir = std::filesystem::temp_directory_path() / ("ssl_learning_folder_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  write_folder(dir, test.images, test.labels);
  ssl::data::ImageFolder folder(dir, {.image_size = 28, .channels = 1});
  REQUIRE(folder.size() == test.size());
  CHECK(folder.classes().size() == 10);

  // The folder, read back by the loader in file order (class, then name), is the IDX set in that order.
  const auto by_file = (test.labels * test.size() + torch::arange(test.size())).argsort();
  ssl::data::Loader all(folder, nullptr, {.batch_size = 500, .shuffle = false, .prefetch = 4, .workers = 2});
  all.run(0, 0, [&](const ssl::Batch& b, int64_t i) {
    const auto idx = by_file.narrow(0, i * 500, 500);
    CHECK(torch::equal(b.input, test.images.index_select(0, idx)));
    CHECK(torch::equal(b.target, test.labels.index_select(0, idx)));
    return true;
  });

  const auto norm = ssl::data::normalize(0.2860, 0.3530);
  const auto arch = ssl::vit::Options{}.image(28).patch(4).channels(1).dim(128).depth(4).heads(4);
  auto train = [&](const auto& loader, int64_t epochs, int64_t max_steps) {
    torch::manual_seed(0);
    auto mae = ssl::mae::recipe({.encoder = arch});
    ssl::Trainer trainer(mae, ssl::optim::AdamWOptions{.lr = 1.5e-3, .weight_decay = 0.05, .beta2 = 0.95},
                         ssl::schedule::cosine_warmup(0.5));
    return trainer.fit(loader, {.epochs = epochs, .max_steps = max_steps, .clip_grad_norm = 1.0, .label = "MAE (folder)"});
  };
  // Same seed, same order: the folder's loader (2 workers) and the in-memory one take the same steps.
  // The folder's sample order differs from the IDX order, so the in-memory set is put in file order.
  const auto in_file_order = test.images.index_select(0, by_file);
  ssl::data::Loader memory(in_file_order, {}, norm, {.batch_size = 256, .seed = 3});
  ssl::data::Loader files(folder, norm, {.batch_size = 256, .seed = 3, .prefetch = 4, .workers = 2});
  {  // a run resumed at batch 30 of an epoch sees the batches 30.. of the uninterrupted one
    std::vector<torch::Tensor> full, rest;
    files.run(1, 0, [&](const ssl::Batch& b, int64_t) { full.push_back(b.input); return true; });
    files.run(1, 30, [&](const ssl::Batch& b, int64_t) { rest.push_back(b.input); return true; });
    REQUIRE(full.size() == 39);
    REQUIRE(rest.size() == 9);
    for (size_t i = 0; i < rest.size(); ++i) CHECK(torch::equal(rest[i], full[30 + i]));
  }
  const double first_memory = train(memory, 2, 3), first_files = train(files, 2, 3);
  MESSAGE("mean loss of the first 3 steps: in memory ", first_memory, ", from files ", first_files);
  CHECK(first_files == first_memory);

  const double loss = train(files, 3, -1);
  MESSAGE("MAE from the folder, mean loss of its 3rd epoch (39 steps of 256): ", loss);
  // Normalised-pixel MSE: predicting each patch's mean scores 1, the first steps score ~2.
  CHECK(loss < 0.8);
  std::filesystem::remove_all(dir);
}
}

}  // namespace test_learning_folder
