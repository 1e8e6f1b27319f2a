// Shared by the image examples (not part of the library): DINO-style attention pictures and
// BEiT-style token maps.
#pragma once
#include <ssl/data/loader.hpp>
#include <ssl/dino.hpp>
#include <ssl/io/png.hpp>

#include <string>
#include <vector>

namespace ex {

/// Writes `path`: per image, the image and each head's last-block CLS-to-patch attention of the
/// recipe's teacher (normalised per map, nearest-upsampled, a heat colour over the image).
/// `images`: uint8 `[B, 1, S, S]`; `transform`: to the model's input space. Returns the picture
/// (uint8 `[3, H, W]`: for TensorBoard too).
template <class R, class T>
torch::Tensor write_attention_png(R& recipe, const torch::Tensor& images, const T& transform, const std::string& path) {
  auto x = transform(images);
  // The model's device in, CPU out (the picture is drawn on the CPU).
  auto maps = ssl::dino::attention_maps(recipe, x.to(recipe->parameters().front().device())).cpu();  // [B, H, g, g]
  const auto B = x.size(0), H = maps.size(1), S = x.size(2);
  auto lo = maps.flatten(2).amin(2).view({B, H, 1, 1}), hi = maps.flatten(2).amax(2).view({B, H, 1, 1});
  namespace F = torch::nn::functional;
  auto a = F::interpolate((maps - lo) / (hi - lo + 1e-12),
                          F::InterpolateFuncOptions().size(std::vector<int64_t>{S, S}).mode(torch::kNearest));
  auto gray = images.to(torch::kFloat32).div(255).expand({B, 3, S, S});
  auto heat = torch::stack({(a * 1.5).clamp(0, 1), (a * 1.5 - 0.5).clamp(0, 1), (a * 3 - 2).clamp(0, 1)}, 2);  // [B,H,3,S,S]
  auto tiles = torch::cat({gray.unsqueeze(1), 0.35 * gray.unsqueeze(1) + 0.65 * heat}, 1);  // [B, 1+H, 3, S, S]
  auto picture = ssl::io::grid(tiles, /*scale=*/4);
  ssl::io::write_png(path, picture);
  return picture;
}

/// A colour per code: a fixed pseudo-random palette (the same code, the same colour).
inline torch::Tensor palette(int64_t K) {
  auto i = torch::arange(K, torch::kFloat64);
  auto c = torch::stack({(i * 0.618034).frac(), (i * 0.414214 + 0.3).frac(), (i * 0.732051 + 0.6).frac()}, 1);
  return (0.15 + 0.85 * c).to(torch::kFloat32);  // [K, 3]
}

/// Writes `path` (06: `<out>/tokens.png`): per image, the image and the token map `tok` gives it (a
/// colour per code, each patch's colour over the patch). `images`: uint8 `[B, 1, S, S]`;
/// `to_model`: to the tokenizer's input space. Returns the picture (uint8 `[3, H, W]`).
template <class Tok>
torch::Tensor write_tokens_png(Tok& tok, const torch::Tensor& images, const ssl::data::Transform& to_model, const std::string& path) {
  auto x = to_model(images);
  auto t = tok->encode(x);  // [B, N]
  const auto B = x.size(0), S = x.size(2), g = S / tok->patch();
  auto colours = palette(tok->vocab_size()).index_select(0, t.reshape({-1})).view({B, g, g, 3}).permute({0, 3, 1, 2});
  namespace F = torch::nn::functional;
  auto up = F::interpolate(colours, F::InterpolateFuncOptions().size(std::vector<int64_t>{S, S}).mode(torch::kNearest));
  auto gray = images.to(torch::kFloat32).div(255).expand({B, 3, S, S});
  auto picture = ssl::io::grid(torch::stack({gray, up}, 1), /*scale=*/4);
  ssl::io::write_png(path, picture);
  return picture;
}

}  // namespace ex
