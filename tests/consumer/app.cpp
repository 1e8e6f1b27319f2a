#include <ssl/mae.hpp>
#include <ssl/io/png.hpp>
// And the front door: every header of the library, compiled by the compiler this project is
// configured with (the system's default, GCC here: the test tree may be built with clang).
#include <ssl/ssl.hpp>
#if defined(SSL_WITH_IMAGES)
#include <ssl/data/image_folder.hpp>
#endif
#if defined(SSL_WITH_AUDIO)
#include <ssl/data/audio_folder.hpp>
#endif

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

/// Removes `dir`, says whether `component` gave back what was written there, and returns the exit
/// code that says it.
inline int verdict(const char* component, const std::filesystem::path& dir, bool same) {
  std::filesystem::remove_all(dir);
  std::printf("consumer %s: %s\n", component, same ? "ok" : "not what was written");
  return same ? 0 : 1;
}

/// The components as this build asked for them, and the audio one at work: a 16-bit WAV written
/// here comes back through an audio folder (0 when fine or off).
static int check_audio() {
#if defined(SSL_WITH_AUDIO) != defined(EXPECT_AUDIO)
  std::printf("consumer: the audio component is not as this build asked for (SSL_WITH_AUDIO vs EXPECT_AUDIO)\n");
  return 1;
#elif defined(SSL_WITH_AUDIO)
  const auto dir = std::filesystem::temp_directory_path() / "ssl_consumer_audio";
  std::filesystem::create_directories(dir);
  auto le = [](uint32_t v, int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s.push_back(char((v >> (8 * i)) & 0xFF));
    return s;
  };
  const std::string data = le(16384, 2) + le(uint16_t(-8192), 2);  // 0.5, -0.25
  std::ofstream(dir / "a.wav", std::ios::binary)
      << "RIFF" + le(36 + 4, 4) + "WAVEfmt " + le(16, 4) + le(1, 2) + le(1, 2) + le(16000, 4) + le(32000, 4) +
             le(2, 2) + le(16, 2) + "data" + le(4, 4) + data;
  ssl::data::AudioFolder folder(dir, {.length = 3, .normalize = false});
  return verdict("audio", dir, torch::equal(folder.get(0).input, torch::tensor({0.5f, -0.25f, 0.0f})));
#else
  std::printf("consumer: built without the audio component\n");
  return 0;
#endif
}

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
  if (check_audio() != 0) return 1;
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
  return verdict("images", dir, torch::equal(folder.get(0).input, img));
#else
  std::printf("consumer: built without the images component\n");
  return 0;
#endif
}
