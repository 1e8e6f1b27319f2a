#pragma once
/// \file eval/finetune.hpp
/// Fine-tuning a pretrained encoder against the same architecture from scratch, with the same
/// labels, epochs and schedule (MAE's protocol for "does pretraining help"): the first `labels`
/// training images, the whole test split, the pooled features (a ViT's mean patch token, a
/// ResNet's global average) into a new linear head, layer-wise lr decay for a pretrained ViT only.
/// `finetune_sweep` repeats it at several label budgets from the same pretrained weights.
#include <ssl/concepts.hpp>
#include <ssl/data/idx.hpp>
#include <ssl/data/loader.hpp>
#include <ssl/eval/budget.hpp>
#include <ssl/eval/classifier.hpp>
#include <ssl/train/checkpoint.hpp>
#include <ssl/vit/encoder.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <vector>

namespace ssl::eval {

/// Example: `FinetuneVsScratchOptions{.labels = 5000, .epochs = 5, .layer_decay = 0.75}`.
struct FinetuneVsScratchOptions {
  /// Labelled training images: the first `labels` of the training split (all when fewer).
  int64_t labels = 5000;
  /// Fine-tuning epochs, the pretrained and the scratch encoder alike.
  int64_t epochs = 5;
  /// At least this many optimizer steps: with few labels the epochs are raised to reach it
  /// (`finetune_epochs_for`), so that a small budget is not also a short run. 0: `epochs` exactly.
  int64_t min_steps = 0;
  /// Peak learning rate (cosine schedule with warm-up), both encoders.
  double lr = 1e-3;
  /// Layer-wise lr decay for the pretrained encoder (the scratch encoder: 1, none); 1 for an
  /// encoder without ViT blocks (a ResNet).
  double layer_decay = 0.75;
  /// The loaders shuffle with `seed + 1`; each arm starts from `seed_everything(seed + 2)` (the
  /// pretrained arm's new head and its random draws; the scratch encoder, its head and draws), so
  /// a score does not depend on what drew from the global generator before.
  uint64_t seed = 0;
  /// Where both encoders train and are scored.
  torch::Device device = torch::kCPU;
};

/// What `finetune_vs_scratch` measured: top-1 test accuracies in [0, 1], the labelled images
/// used and the seconds both runs took.
struct FinetuneScores {
  /// Test accuracy of the fine-tuned pretrained encoder, of the one trained from scratch (-1:
  /// not measured), and the wall-clock seconds of both runs.
  ///@{
  double pretrained = -1, scratch = -1, seconds = 0;
  ///@}
  int64_t labels = 0;  ///< labelled training images used (`o.labels`, at most the split's size)
  int64_t epochs = 0;  ///< fine-tuning epochs run (`o.epochs`, or more to reach `o.min_steps`)
};

/// The epochs a fine-tune of `labels` images runs: `epochs`, raised until the run takes at least
/// `min_steps` optimizer steps of `batch` images (the last incomplete batch of an epoch is left
/// out, as `FinetuneOptions` trains). Example: 100 labels, 5 epochs, 200 steps: 200 epochs.
inline int64_t finetune_epochs_for(int64_t labels, int64_t epochs, int64_t min_steps,
                                   int64_t batch = FinetuneOptions{}.batch) {
  TORCH_CHECK(labels >= 1 && epochs >= 1 && min_steps >= 0 && batch >= 1, "eval::finetune_epochs_for: expected labels, ",
              "epochs and batch >= 1 and min_steps >= 0, got ", labels, ", ", epochs, ", ", batch, " and ", min_steps);
  return epochs_for_steps(labels / std::min(batch, labels), epochs, min_steps);
}

/// Fine-tunes `pretrained` (in place: a ViT's pooled output becomes its mean patch token) and
/// `make_scratch()` (a new encoder of the same architecture), each arm after
/// `seed_everything(o.seed + 2)`, on the first `o.labels` images of `train`, and scores both on
/// `test`; `transform` maps the uint8 images to the model's input.
/// Example: `finetune_vs_scratch(resnet, [&] { return resnet::Encoder(arch); }, train, test, norm,
/// {.layer_decay = 1})`.
template <Backbone E, class MakeScratch>
  requires std::is_invocable_r_v<E, MakeScratch&>
FinetuneScores finetune_vs_scratch(E pretrained, MakeScratch make_scratch, const data::ImageSet& train,
                                   const data::ImageSet& test, const data::Transform& transform,
                                   const FinetuneVsScratchOptions& o = {}) {
  const auto t0 = std::chrono::steady_clock::now();
  FinetuneScores s;
  TORCH_CHECK(o.labels >= 1, "eval::finetune_vs_scratch: expected labels >= 1, got ", o.labels);
  s.labels = std::min<int64_t>(o.labels, train.size());
  s.epochs = finetune_epochs_for(s.labels, o.epochs, o.min_steps);
  auto images = train.images.narrow(0, 0, s.labels), targets = train.labels.narrow(0, 0, s.labels);
  const int64_t classes = std::max(train.labels.max().item<int64_t>(), test.labels.max().item<int64_t>()) + 1;
  auto run = [&](E enc, double decay, const char* label) {
    if constexpr (requires { enc->options.mean_pool(true); }) enc->options.mean_pool(true);
    return finetune(enc, images, targets, test.images, test.labels, transform,
                    {.classes = classes, .epochs = s.epochs, .lr = o.lr, .layer_decay = decay, .seed = o.seed + 1,
                     .label = label, .device = o.device});
  };
  ssl::train::seed_everything(o.seed + 2);
  s.pretrained = run(std::move(pretrained), o.layer_decay, "fine-tune (pretrained)");
  ssl::train::seed_everything(o.seed + 2);
  s.scratch = run(make_scratch(), 1.0, "fine-tune (scratch)");
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

/// `finetune_vs_scratch` of a ViT against `vit::Encoder(arch)`.
inline FinetuneScores finetune_vs_scratch(vit::Encoder pretrained, const vit::Options& arch,
                                          const data::ImageSet& train, const data::ImageSet& test,
                                          const data::Transform& transform, const FinetuneVsScratchOptions& o = {}) {
  return finetune_vs_scratch(std::move(pretrained), [&] { return vit::Encoder(arch); }, train, test, transform, o);
}

/// The label-budget sweep: `finetune_vs_scratch` at each of `labels` (`o.labels` ignored), each
/// from a copy of `pretrained` (left as it is) and a scratch encoder built with the same seed;
/// `on_budget(scores)` after each budget, e.g. to print it. Example: `{100, 1000, 5000, 60000}`
/// with `o.min_steps = 195` (the steps of 5 epochs of 5 000 labels at batch 128).
template <Backbone E, class MakeScratch, class OnBudget = void (*)(const FinetuneScores&)>
  requires std::is_invocable_r_v<E, MakeScratch&> && std::is_invocable_v<OnBudget&, const FinetuneScores&>
std::vector<FinetuneScores> finetune_sweep(
    const E& pretrained, MakeScratch make_scratch, const std::vector<int64_t>& labels, const data::ImageSet& train,
    const data::ImageSet& test, const data::Transform& transform, FinetuneVsScratchOptions o = {},
    OnBudget on_budget = [](const FinetuneScores&) {}) {
  using Impl = typename E::ContainedType;
  static_assert(std::is_base_of_v<torch::nn::Cloneable<Impl>, Impl>,
                "eval::finetune_sweep: the encoder's module must be torch::nn::Cloneable, so that each budget "
                "starts from a copy of the pretrained weights");
  std::vector<FinetuneScores> out;
  for (const int64_t n : labels) {
    o.labels = n;
    out.push_back(finetune_vs_scratch(E(std::dynamic_pointer_cast<Impl>(pretrained->clone())), make_scratch, train,
                                      test, transform, o));
    on_budget(out.back());
  }
  return out;
}

}  // namespace ssl::eval
