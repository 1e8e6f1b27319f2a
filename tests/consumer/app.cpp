#include <ssl/mae.hpp>
#include <ssl/io/png.hpp>
#if defined(SSL_WITH_IMAGES)
#include <ssl/data/image_folder.hpp>
#endif

#include <cstdio>
#include <filesystem>

int main() {
  at::set_num_threads(1);
  torch::manual_seed(0);
  ssl::mae::Options o;
  o.encoder = ssl::vit::Options{}.image(8).patch(4).channels(1).dim(16).depth(1).heads(2);
  o.decoder_dim = 8;
  o.decoder_depth = 1;
  o.decoder_heads = 2;
  auto mae = ssl::mae::recipe(o);
  auto out = mae->forward(ssl::Batch{.input = torch::randn({2, 1, 8, 8})});
  out.loss.backward();
  std::printf("consumer ok: loss %.4f\n", out.loss.item<double>());
  if (!std::isfinite(out.loss.item<double>())) return 1;
#if defined(SSL_WITH_IMAGES) != defined(EXPECT_IMAGES)
  std::printf("consumer: the image component is not as this build asked for (SSL_WITH_IMAGES vs EXPECT_IMAGES)\n");
  return 1;
#endif
#if defined(SSL_WITH_IMAGES)
  // The images component: a PNG written by the library comes back through an image folder.
  const auto dir = std::filesystem::temp_directory_path() / "ssl_consumer_images";
  std::filesystem::create_directories(dir);
  auto img = torch::arange(3 * 8 * 8, torch::kInt64).remainder(256).to(torch::kUInt8).view({3, 8, 8});
  ssl::io::write_png((dir / "a.png").string(), img);
  ssl::data::ImageFolder folder(dir, {.image_size = 8});
  const bool same = torch::equal(folder.get(0).input, img);
  std::filesystem::remove_all(dir);
  std::printf("consumer images: %s\n", same ? "ok" : "pixels differ");
  return same ? 0 : 1;
#else
  std::printf("consumer: built without the images component\n");
  return 0;
#endif
}
