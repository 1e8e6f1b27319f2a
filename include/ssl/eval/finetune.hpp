#pragma once
/// \file eval/finetune.hpp
/// Fine-tuning a pretrained ViT against the same architecture from scratch, with the same
/// labels, epochs and schedule (MAE's protocol for "does pretraining help"): the first `labels`
/// training images, the whole test split, mean-pooled tokens into a new linear head, layer-wise
/// lr decay for the pretrained encoder only.
#include <ssl/data/idx.hpp>
#include <ssl/data/loader.hpp>
#include <ssl/eval/classifier.hpp>
#include <ssl/train/checkpoint.hpp>
#include <ssl/vit/encoder.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

namespace ssl::eval {

/// Example: `FinetuneVsScratchOptions{.labels = 5000, .epochs = 5, .layer_decay = 0.75}`.
struct FinetuneVsScratchOptions {
  /// Labelled training images: the first `labels` of the training split (all when fewer).
  int64_t labels = 5000;
  /// Fine-tuning epochs, the pretrained and the scratch encoder alike.
  int64_t epochs = 5;
  /// Peak learning rate (cosine schedule with warm-up), both encoders.
  double lr = 1e-3;
  /// Layer-wise lr decay for the pretrained encoder (the scratch encoder: 1, none).
  double layer_decay = 0.75;
  /// The loaders shuffle with `seed + 1`; the scratch encoder is initialised after
  /// `seed_everything(seed + 2)`.
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
};

/// Fine-tunes `pretrained` (in place: its pooled output becomes the mean patch token) and a new
/// `vit::Encoder(arch)` (the same architecture, from scratch) on the first `o.labels` images of
/// `train`, and scores both on `test`; `transform` maps the uint8 images to the model's input.
inline FinetuneScores finetune_vs_scratch(vit::Encoder pretrained, const vit::Options& arch,
                                          const data::ImageSet& train, const data::ImageSet& test,
                                          const data::Transform& transform, const FinetuneVsScratchOptions& o = {}) {
  const auto t0 = std::chrono::steady_clock::now();
  FinetuneScores s;
  s.labels = std::min<int64_t>(o.labels, train.size());
  auto images = train.images.narrow(0, 0, s.labels), targets = train.labels.narrow(0, 0, s.labels);
  const int64_t classes = std::max(train.labels.max().item<int64_t>(), test.labels.max().item<int64_t>()) + 1;
  auto run = [&](vit::Encoder enc, double decay, const char* label) {
    enc->options.mean_pool(true);
    return finetune(enc, images, targets, test.images, test.labels, transform,
                    {.classes = classes, .epochs = o.epochs, .lr = o.lr, .layer_decay = decay, .seed = o.seed + 1,
                     .label = label, .device = o.device});
  };
  s.pretrained = run(std::move(pretrained), o.layer_decay, "fine-tune (pretrained)");
  ssl::train::seed_everything(o.seed + 2);
  s.scratch = run(vit::Encoder(arch), 1.0, "fine-tune (scratch)");
  s.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return s;
}

}  // namespace ssl::eval
