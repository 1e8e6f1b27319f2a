// Shared by the image examples (not part of the library): frozen-feature evaluation on
// Fashion-MNIST — k-NN and linear probe of a model's features on the 60k / 10k split — and the
// raw-pixel floors measured with the same protocol in the same run.
#pragma once
#include <ssl/ssl.hpp>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

namespace ex {

inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

/// Frozen features from a ViT's output tokens `[B, 1 + N, D]`: `"tokens"` flattens every token
/// (the MAE example's default), anything else gives the CLS token ‖ the mean patch token.
inline torch::Tensor token_features(const torch::Tensor& tokens, const std::string& kind) {
  if (kind == "tokens") return tokens.flatten(1);
  return torch::cat({tokens.select(1, 0), tokens.narrow(1, 1, tokens.size(1) - 1).mean(1)}, 1);
}

/// `--features blocks`: the token maps of a ViT's last `n` blocks (every block of a shallower
/// one), each after the final norm, flattened and concatenated — DINO's linear-evaluation
/// features (`get_intermediate_layers`, n_last_blocks = 4) over the whole token map.
template <class Encoder>
torch::Tensor block_features(Encoder& enc, const torch::Tensor& x, int64_t n = 4) {
  auto maps = enc->intermediate_layers(x, std::min<int64_t>(n, enc->options.depth()));
  for (auto& m : maps) m = m.flatten(1);
  return torch::cat(maps, 1);
}

/// `--features kind` of a backbone `net` (a student or its teacher) on `x`: `blocks` — a ViT's
/// last 4 blocks (`block_features`); `tokens` — the whole output map flattened; `pooled` —
/// `pooled(features)`, which each example defines (05: the backbone's pooled vector, 06: CLS ‖
/// mean patch).
template <class Net, class Pooled>
torch::Tensor frozen_features(Net& net, const torch::Tensor& x, const std::string& kind, const Pooled& pooled) {
  if constexpr (requires { net->intermediate_layers(x, 1); })
    if (kind == "blocks") return block_features(net, x);
  const auto f = net->forward(ssl::Masked{.input = x});
  return kind == "tokens" ? f.tokens.flatten(1) : pooled(f);
}

/// DINO's and iBOT's `--teacher-temp`: the teacher's temperature `t`, warmed up from 0.04 over
/// the first epoch when it differs from 0.04 (DINO's schedule, shortened to these runs).
inline void set_teacher_temperature(ssl::loss::DINOLossOptions& o, double t) {
  o.warmup_teacher_temp(0.04).teacher_temp(t).warmup_teacher_temp_epochs(t == 0.04 ? 0 : 1);
}

struct FrozenScores {
  double knn = -1, linear = -1, seconds = 0;
  int64_t dim = 0;
};

/// k-NN (k = 20, cosine, T = 0.07) and linear probe (standardised features, Adam, `probe_epochs`)
/// of `encode` (model-input batch on `device` -> `[B, D]`) applied to `transform(images)` of both
/// splits; the k-NN and the probe run on the CPU.
inline FrozenScores frozen_eval(const std::function<torch::Tensor(const torch::Tensor&)>& encode,
                                const ssl::data::ImageSet& train, const ssl::data::ImageSet& test,
                                const ssl::data::Transform& transform, int64_t probe_epochs,
                                torch::Device device = torch::kCPU) {
  const auto t0 = std::chrono::steady_clock::now();
  auto ftr = ssl::eval::extract(encode, train.images, transform, 512, device);
  auto fte = ssl::eval::extract(encode, test.images, transform, 512, device);
  FrozenScores s;
  s.dim = ftr.size(1);
  s.knn = ssl::eval::knn_top1(ftr, train.labels, fte, test.labels);
  s.linear = ssl::eval::linear_probe(ftr, train.labels, fte, test.labels, {.epochs = probe_epochs});
  s.seconds = seconds_since(t0);
  return s;
}

/// The raw-pixel floors: pixels in [0,1] as features, the same protocol.
inline FrozenScores raw_pixel_floors(const ssl::data::ImageSet& train, const ssl::data::ImageSet& test,
                                     int64_t probe_epochs) {
  return frozen_eval([](const torch::Tensor& x) { return x.flatten(1); }, train, test,
                     [](const torch::Tensor& im) { return im.to(torch::kFloat32).div(255); }, probe_epochs);
}

/// Fine-tuning a pretrained ViT against the same architecture from scratch, same labels, epochs
/// and schedule (the MAE example's protocol): the first `labels` training images, the whole test
/// set, mean-pooled tokens into a linear head; layer-wise lr decay for the pretrained encoder only;
/// both train on `device`.
struct FinetuneScores {
  double pretrained = -1, scratch = -1, seconds = 0;
  int64_t labels = 0;
};
inline FinetuneScores finetune_vs_scratch(ssl::vit::Encoder pretrained, const ssl::vit::Options& arch,
                                          const ssl::data::ImageSet& train, const ssl::data::ImageSet& test,
                                          const ssl::data::Transform& transform, int64_t labels, int64_t epochs,
                                          double lr, double layer_decay, uint64_t seed,
                                          torch::Device device = torch::kCPU) {
  const auto t0 = std::chrono::steady_clock::now();
  FinetuneScores s;
  s.labels = std::min<int64_t>(labels, train.size());
  auto images = train.images.narrow(0, 0, s.labels), targets = train.labels.narrow(0, 0, s.labels);
  const int64_t classes = std::max(train.labels.max().item<int64_t>(), test.labels.max().item<int64_t>()) + 1;
  auto finetune = [&](ssl::vit::Encoder enc, double decay, const char* label) {
    enc->options.mean_pool(true);
    return ssl::eval::finetune(enc, images, targets, test.images, test.labels, transform,
                               {.classes = classes, .epochs = epochs, .lr = lr, .layer_decay = decay, .seed = seed + 1, .label = label,
                                .device = device});
  };
  s.pretrained = finetune(pretrained, layer_decay, "fine-tune (pretrained)");
  ssl::train::seed_everything(seed + 2);
  s.scratch = finetune(ssl::vit::Encoder(arch), 1.0, "fine-tune (scratch)");
  s.seconds = seconds_since(t0);
  return s;
}

}  // namespace ex
