#pragma once
/// \file tokenizer/kmeans.hpp
/// A visual tokenizer without a training loop: k-means over normalised patch pixels. Each
/// `patch x patch` patch of an image is flattened (`vit::patchify`'s layout) and normalised
/// (per patch to zero mean and unit variance, MAE's `norm_pix`, by default; or by the pixel
/// statistics of the fitting set), and its token is the nearest of `codes` centroids. `fit`
/// runs k-means++ seeding and Lloyd iterations on a random sample of the images' patches
/// (empty clusters are re-seeded at the points farthest from their centroid). The codebook is a
/// buffer; `save_safetensors` / `load_safetensors` write and read a safetensors file. This stands in for BEiT's DALL-E dVAE, which users
/// here cannot download.
#include <ssl/vit/encoder.hpp>
#include <ssl/core/check.hpp>
#include <ssl/io/safetensors.hpp>
#include <ssl/tokenizer/usage.hpp>

#include <torch/torch.h>

#include <string>

namespace ssl::tokenizer {

/// Example: `KMeansOptions{.patch = 4, .codes = 256}`.
struct KMeansOptions {
  int64_t patch = 4;  ///< patch side in pixels
  int64_t codes = 256;  ///< codebook size (the visual vocabulary)
  int64_t iterations = 30;  ///< Lloyd iterations when fitting
  int64_t max_patches = 200000;  ///< patches sampled from the images for fitting
  bool patch_norm = true;        ///< per-patch normalisation (else the fitting set's pixel statistics)
};

/// A visual tokenizer: every patch becomes the id of its nearest codebook entry (k-means
/// centroids of normalised patches, fitted offline by `fit_kmeans`).
class KMeansImpl : public torch::nn::Cloneable<KMeansImpl> {
 public:
  /// An empty (unfitted) tokenizer with `options`.
  explicit KMeansImpl(KMeansOptions options = {}) : options(options) { reset(); }

  /// Empties the codebook (`fit_kmeans` or `load_safetensors` fills it).
  void reset() override {
    TORCH_CHECK(options.patch > 0 && options.codes > 1, "tokenizer::KMeans: expected patch > 0 and codes > 1, got ",
                options.patch, " and ", options.codes);
    codebook = register_buffer("codebook", torch::zeros({options.codes, 0}));
    pixel_stats = register_buffer("pixel_stats", torch::tensor({0.0f, 1.0f}));
  }

  /// The normalised patches of `[B,C,H,W]` images: `[B, N, patch^2 * C]`.
  [[nodiscard]] torch::Tensor features(const torch::Tensor& images) const {
    auto p = vit::patchify(images.to(torch::kFloat32), options.patch);
    if (options.patch_norm) return (p - p.mean(-1, true)) / (p.var(-1, true, true) + 1e-6).sqrt();
    return (p - pixel_stats[0]) / pixel_stats[1];
  }

  /// The token of every patch: `[B, N]` int64, row-major over the patch grid.
  torch::Tensor encode(const torch::Tensor& images) {
    TORCH_CHECK(fitted(), "tokenizer::KMeans: the codebook is empty: call tokenizer::fit_kmeans or load one");
    torch::NoGradGuard g;
    auto f = features(images);
    TORCH_CHECK(f.size(2) == codebook.size(1), "tokenizer::KMeans: the codebook holds patches of ", codebook.size(1),
                " values (patch ", options.patch, "), but these images give ", f.size(2), " per patch (",
                ssl::detail::shape_str(images), ")");
    return nearest_code(f.reshape({-1, f.size(2)}), codebook.to(f.device())).reshape({f.size(0), f.size(1)});
  }

  /// Whether the codebook holds centroids.
  [[nodiscard]] bool fitted() const { return codebook.size(1) > 0; }
  /// Number of codes.
  [[nodiscard]] int64_t vocab_size() const { return options.codes; }
  /// Patch side in pixels.
  [[nodiscard]] int64_t patch() const { return options.patch; }

  /// Writes the codebook and pixel statistics to `path` (safetensors).
  void save_safetensors(const std::string& path) const {
    io::save_safetensors(path, {{"codebook", codebook}, {"pixel_stats", pixel_stats}},
                         {{"tokenizer", "kmeans"}, {"patch", std::to_string(options.patch)},
                          {"patch_norm", options.patch_norm ? "1" : "0"}});
  }
  /// Replaces the codebook by the one in `path` (written by `save_safetensors`).
  void load_safetensors(const std::string& path) {
    auto t = io::load_safetensors(path);
    TORCH_CHECK(t.count("codebook") && t.count("pixel_stats"), "tokenizer::KMeans: '", path,
                "' holds no k-means codebook (expected tensors 'codebook' and 'pixel_stats')");
    const auto& c = t.at("codebook");
    TORCH_CHECK(c.dim() == 2 && c.size(0) == options.codes, "tokenizer::KMeans: '", path, "' holds a codebook of shape ",
                ssl::detail::shape_str(c), ", expected ", options.codes, " codes");
    io::check_load_dtype(c, codebook, "tokenizer::KMeans: '" + path + "'", "codebook");
    io::check_load_dtype(t.at("pixel_stats"), pixel_stats, "tokenizer::KMeans: '" + path + "'", "pixel_stats");
    codebook.set_data(c.to(codebook.device(), codebook.scalar_type()));
    pixel_stats.set_data(t.at("pixel_stats").to(pixel_stats.device(), pixel_stats.scalar_type()));
  }

  KMeansOptions options;  ///< what the tokenizer was made with
  torch::Tensor codebook;     ///< `[codes, patch^2 * C]`
  torch::Tensor pixel_stats;  ///< `{mean, std}` of the fitting set (used when `patch_norm` is off)
};
TORCH_MODULE(KMeans);

/// Fits a k-means tokenizer on `images` `[B,C,H,W]` (in the space the recipe's views are in).
/// Random draws (the patch sample, the seeding) use the default generator of the images' device.
inline KMeans fit_kmeans(const torch::Tensor& images, KMeansOptions o = {}) {
  TORCH_CHECK(o.iterations >= 1 && o.max_patches >= o.codes, "tokenizer::fit_kmeans: expected iterations >= 1 and ",
              "max_patches >= codes, got ", o.iterations, " and ", o.max_patches);
  torch::NoGradGuard g;
  KMeans km(o);
  auto x = images.to(torch::kFloat32);
  km->pixel_stats.set_data(torch::stack({x.mean(), x.std()}).to(torch::kFloat32).to(x.device()));
  auto f = km->features(x);
  f = f.reshape({-1, f.size(2)});
  TORCH_CHECK(f.size(0) >= o.codes, "tokenizer::fit_kmeans: ", f.size(0), " patches cannot fill ", o.codes, " codes");
  if (f.size(0) > o.max_patches) f = f.index_select(0, torch::randperm(f.size(0), f.options().dtype(torch::kLong)).narrow(0, 0, o.max_patches));
  const auto M = f.size(0);
  // k-means++: each new centre drawn with probability proportional to the squared distance to
  // the nearest centre so far.
  auto centres = torch::empty({o.codes, f.size(1)}, f.options());
  centres[0] = f[torch::randint(M, {1}, f.options().dtype(torch::kLong)).item<int64_t>()];
  auto d2 = (f - centres[0]).pow(2).sum(1);
  for (int64_t k = 1; k < o.codes; ++k) {
    auto w = d2.clamp_min(0);
    const int64_t pick = w.sum().item<double>() > 0 ? torch::multinomial(w, 1).item<int64_t>()
                                                     : torch::randint(M, {1}, f.options().dtype(torch::kLong)).item<int64_t>();
    centres[k] = f[pick];
    d2 = torch::minimum(d2, (f - centres[k]).pow(2).sum(1));
  }
  // Lloyd iterations.
  for (int64_t it = 0; it < o.iterations; ++it) {
    auto assign = nearest_code(f, centres);
    auto sums = torch::zeros_like(centres).index_add_(0, assign, f);
    auto counts = torch::bincount(assign, {}, o.codes).to(f.dtype());
    auto empty = counts == 0;
    centres = torch::where(empty.unsqueeze(1), centres, sums / counts.clamp_min(1).unsqueeze(1));
    if (const auto n_empty = empty.sum().item<int64_t>(); n_empty > 0) {
      // Re-seed empty clusters at the points farthest from their centroid.
      auto dist = (f - centres.index_select(0, assign)).pow(2).sum(1);
      auto far = std::get<1>(dist.topk(n_empty));
      centres.index_put_({empty.nonzero().squeeze(1)}, f.index_select(0, far));
    }
  }
  km->codebook.set_data(centres.contiguous());
  return km;
}

}  // namespace ssl::tokenizer
