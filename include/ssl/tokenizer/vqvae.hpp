#pragma once
/// \file tokenizer/vqvae.hpp
/// A small VQ-VAE visual tokenizer (van den Oord et al., 2017), trained by the library's own
/// `ssl::Trainer` (it is a recipe in the trainer's sense: `forward(Batch)` gives the loss).
///
/// The encoder maps each `patch x patch` patch to a `dim`-d vector (3x3 conv, a strided
/// `patch x patch` conv, 1x1 conv), the quantiser replaces it by the nearest of `codes` codebook
/// vectors, the decoder (1x1 conv, transposed `patch x patch` conv, 3x3 conv) rebuilds the image.
/// Gradients pass the quantiser straight through (`z + (e - z).detach()`). Loss:
///
///     |x - decode(q)|^2 + |sg(z) - e|^2 + beta |z - sg(e)|^2        (beta = 0.25)
///
/// (reconstruction, codebook, commitment; means over elements). Against codebook collapse (a
/// few codes taking every patch, the usual failure of a plain VQ-VAE): the codebook starts at
/// encoder outputs of the first training batch, and every `restart_every` training steps each
/// code that no patch chose in that window is moved to a random encoder output of the current
/// batch (the "dead code restart" of Jukebox and later VQ models). Every training step reports
/// the codebook's perplexity and the fraction of codes used.
/// `encode(images)` gives one token per patch, `[B, N]`, as `tokenizer::KMeans`; `save_safetensors` / `load_safetensors`
/// use safetensors (the module's state dict).
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/io/safetensors.hpp>
#include <ssl/tokenizer/usage.hpp>

#include <torch/torch.h>

#include <string>

namespace ssl::tokenizer {

/// `channels` describes the data and has no default (0 = unset: the tokenizer refuses it).
/// Example (grayscale images): `VQVAEOptions{.channels = 1, .patch = 4, .codes = 256}`.
struct VQVAEOptions {
  int64_t channels = 0;  ///< of the images (1 grayscale, 3 RGB), required
  int64_t patch = 4;  ///< patch side in pixels (one token per patch)
  int64_t codes = 256;  ///< codebook size (the visual vocabulary)
  int64_t dim = 32;      ///< codebook vector width
  int64_t hidden = 64;   ///< convolution width
  double beta = 0.25;    ///< commitment weight
  int64_t restart_every = 20;  ///< steps between dead-code restarts (0 = never)
};

/// A visual tokenizer trained by `ssl::Trainer`: a convolutional encoder to one vector per patch,
/// vector quantisation against a learned codebook, and a decoder back to pixels (VQ-VAE with a
/// straight-through estimator, codebook initialised from data, dead codes restarted).
class VQVAEImpl : public torch::nn::Cloneable<VQVAEImpl> {
 public:
  /// An untrained VQ-VAE with `options` (channels required).
  explicit VQVAEImpl(VQVAEOptions options = {}) : options(options) { reset(); }

  /// Builds the parameters and submodules from the options, initialised (`clone()` calls it too).
  void reset() override {
    const auto& o = options;
    TORCH_CHECK(o.channels > 0, "tokenizer::VQVAE: VQVAEOptions::channels (of the images: 1 grayscale, 3 RGB) ",
                "is required, e.g. {.channels = 3}, got ", o.channels);
    TORCH_CHECK(o.channels > 0 && o.patch > 0 && o.codes > 1 && o.dim > 0 && o.hidden > 0,
                "tokenizer::VQVAE: expected positive channels, patch, dim, hidden and codes > 1");
    namespace nn = torch::nn;
    encoder = register_module("encoder", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(o.channels, o.hidden, 3).padding(1)),
                                                        nn::ReLU(),
                                                        nn::Conv2d(nn::Conv2dOptions(o.hidden, o.hidden, o.patch).stride(o.patch)),
                                                        nn::ReLU(), nn::Conv2d(nn::Conv2dOptions(o.hidden, o.dim, 1))));
    decoder = register_module(
        "decoder", nn::Sequential(nn::Conv2d(nn::Conv2dOptions(o.dim, o.hidden, 1)), nn::ReLU(),
                                  nn::ConvTranspose2d(nn::ConvTranspose2dOptions(o.hidden, o.hidden, o.patch).stride(o.patch)),
                                  nn::ReLU(), nn::Conv2d(nn::Conv2dOptions(o.hidden, o.channels, 3).padding(1))));
    codebook = register_parameter("codebook", torch::randn({o.codes, o.dim}) / std::sqrt(double(o.dim)));
    initialized = register_buffer("initialized", torch::zeros({1}));
    hits = register_buffer("hits", torch::zeros({o.codes}));
    steps = register_buffer("steps", torch::zeros({1}));
  }

  /// The encoder's vectors `[B, N, dim]` (patch grid row-major).
  torch::Tensor encode_vectors(const torch::Tensor& images) {
    ssl::detail::check_dim(images, 4, "tokenizer::VQVAE", "[B,C,H,W]");
    TORCH_CHECK(images.size(1) == options.channels && images.size(2) % options.patch == 0 &&
                    images.size(3) % options.patch == 0,
                "tokenizer::VQVAE: expected ", options.channels, "-channel images whose sides are multiples of ",
                options.patch, ", got ", ssl::detail::shape_str(images));
    return encoder->forward(images).flatten(2).transpose(1, 2);
  }

  /// The token of every patch: `[B, N]` int64.
  torch::Tensor encode(const torch::Tensor& images) {
    torch::NoGradGuard g;
    auto z = encode_vectors(images);
    return nearest_code(z.reshape({-1, z.size(2)}), codebook).reshape({z.size(0), z.size(1)});
  }

  /// Images rebuilt from tokens `[B, N]` of a square grid.
  torch::Tensor decode(const torch::Tensor& tokens) {
    const auto B = tokens.size(0), N = tokens.size(1);
    const auto g = static_cast<int64_t>(std::lround(std::sqrt(double(N))));
    TORCH_CHECK(g * g == N, "tokenizer::VQVAE::decode: expected a square grid of tokens, got ", N);
    auto e = codebook.index_select(0, tokens.reshape({-1})).reshape({B, g, g, -1}).permute({0, 3, 1, 2});
    return decoder->forward(e);
  }

  /// The trainer's step: loss = reconstruction + codebook + beta * commitment.
  LossOutput forward(const Batch& batch) {
    const auto& x = batch.input;
    auto z = encode_vectors(x);  // [B, N, d]
    auto flat = z.reshape({-1, z.size(2)});
    if (is_training() && initialized.item<float>() == 0) init_codebook(flat);
    if (is_training()) restart_dead_codes(flat.detach());  // before the codebook is used in this step
    auto codes = nearest_code(flat.detach(), codebook.detach());
    const auto counts = torch::bincount(codes, {}, options.codes);  // this step's code histogram
    if (is_training()) count_hits(counts);
    auto e = codebook.index_select(0, codes).view_as(z);
    auto q = z + (e - z).detach();  // straight-through
    const auto g = x.size(2) / options.patch, h = x.size(3) / options.patch;
    auto rec = decoder->forward(q.transpose(1, 2).reshape({x.size(0), options.dim, g, h}));
    auto recon = torch::mse_loss(rec, x);
    auto cb = torch::mse_loss(e, z.detach());
    auto commit = torch::mse_loss(z, e.detach());
    const auto usage = codebook_usage_of_counts(counts);
    return {recon + cb + options.beta * commit,
            {{"recon", recon.detach()},
             {"codebook", cb.detach()},
             {"commit", commit.detach()},
             {"perplexity", torch::tensor(usage.perplexity)},
             {"used", torch::tensor(usage.used)}}};
  }

  /// Number of codes.
  [[nodiscard]] int64_t vocab_size() const { return options.codes; }
  /// Patch side in pixels.
  [[nodiscard]] int64_t patch() const { return options.patch; }

  /// Writes the parameters and buffers to `path` (safetensors).
  void save_safetensors(const std::string& path) {
    io::TensorMap t;
    for (const auto& p : named_parameters()) t.emplace_back(p.key(), p.value());
    for (const auto& b : named_buffers()) t.emplace_back(b.key(), b.value());
    io::save_safetensors(path, t, {{"tokenizer", "vqvae"}, {"patch", std::to_string(options.patch)},
                                   {"codes", std::to_string(options.codes)}});
  }
  /// Loads what `save_safetensors` wrote (same options).
  void load_safetensors(const std::string& path) {
    auto t = io::load_safetensors(path);
    torch::NoGradGuard g;
    auto copy = [&](const std::string& k, torch::Tensor& v) {
      auto it = t.find(k);
      TORCH_CHECK(it != t.end(), "tokenizer::VQVAE: '", path, "' has no tensor '", k, "' (not a VQ-VAE saved with these options?)");
      TORCH_CHECK(it->second.sizes() == v.sizes(), "tokenizer::VQVAE: '", path, "' tensor '", k, "' has shape ",
                  ssl::detail::shape_str(it->second), ", expected ", ssl::detail::shape_str(v));
      io::check_load_dtype(it->second, v, "tokenizer::VQVAE: '" + path + "'", k);
      v.copy_(it->second);
    };
    for (auto& p : named_parameters()) copy(p.key(), p.value());
    for (auto& b : named_buffers()) copy(b.key(), b.value());
  }

  VQVAEOptions options;  ///< what it was built from
  torch::nn::Sequential encoder{nullptr};  ///< images -> `[B, dim, H/patch, W/patch]`
  torch::nn::Sequential decoder{nullptr};  ///< quantised vectors -> images
  torch::Tensor codebook;                  ///< `[codes, dim]` (a parameter)
  torch::Tensor initialized;               ///< 1 once the codebook was set from the first batch
  torch::Tensor hits;                      ///< code hits in the current restart window
  torch::Tensor steps;                     ///< training steps taken

 private:
  void init_codebook(const torch::Tensor& z) {
    torch::NoGradGuard g;
    TORCH_CHECK(z.size(0) >= options.codes, "tokenizer::VQVAE: the first batch gives ", z.size(0),
                " patch vectors, fewer than the ", options.codes, " codes to initialise from it");
    auto pick = torch::randperm(z.size(0), z.options().dtype(torch::kLong)).narrow(0, 0, options.codes);
    codebook.copy_(z.index_select(0, pick));
    initialized.fill_(1);
  }

  void count_hits(const torch::Tensor& counts) {
    torch::NoGradGuard g;
    hits.add_(counts.to(hits.dtype()));
    steps.add_(1);
  }
  /// At the end of a window of `restart_every` steps, moves the codes no patch chose onto
  /// encoder outputs `z` of the current batch.
  void restart_dead_codes(const torch::Tensor& z) {
    torch::NoGradGuard g;
    const auto done = int64_t(steps.item<float>());
    if (options.restart_every <= 0 || done == 0 || done % options.restart_every != 0) return;
    auto dead = (hits == 0).nonzero().squeeze(1);
    if (const auto n = dead.numel(); n > 0) {
      auto pick = torch::randint(z.size(0), {n}, z.options().dtype(torch::kLong));
      codebook.index_copy_(0, dead, z.index_select(0, pick));
    }
    hits.zero_();
  }
};
TORCH_MODULE(VQVAE);

}  // namespace ssl::tokenizer
