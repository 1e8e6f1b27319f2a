#pragma once
/// \file wav2vec2.hpp
/// wav2vec 2.0: A Framework for Self-Supervised Learning of Speech Representations (Baevski et
/// al., 2020). A convolutional encoder turns raw audio into local features, one frame per 20 ms;
/// spans of frames are masked (each frame starts a 10-frame span with probability 0.065) and a
/// Transformer contextualises the rest. At every masked frame the context vector must pick the
/// true quantised local feature of that frame (a product quantiser with Gumbel softmax, trained
/// jointly) among K distractors from other masked frames of the same clip, by cosine similarity
/// over a temperature; a diversity penalty keeps the codebooks' entries in use.
///
/// | part | here |
/// |---|---|
/// | backbone | `audio::Encoder`: 7 strided convolutions, a post-norm Transformer with convolutional relative positions |
/// | masker | `masker::Spans`: p = 0.065, spans of 10 frames |
/// | head | `heads::QuantizedContext`: G = 2 codebooks of V = 320 entries, Gumbel temperature 2 -> 0.5 |
/// | target | `target::Distractors`: K = 100 distractors per masked frame |
/// | loss | `loss::CodeContrastive`: kappa = 0.1, diversity weight 0.1 |
///
/// The parts and the loss match Hugging Face's `Wav2Vec2ForPreTraining` on the same weights and
/// inputs (tests/test_wav2vec2.cpp). Not here: see audio/encoder.hpp.
#include <ssl/audio/encoder.hpp>
#include <ssl/augment/identity.hpp>
#include <ssl/compose.hpp>
#include <ssl/heads/quantizer.hpp>
#include <ssl/loss/code_contrastive.hpp>
#include <ssl/masker/spans.hpp>
#include <ssl/target/distractors.hpp>
#include <ssl/teacher/none.hpp>

namespace ssl::wav2vec2 {

/// wav2vec 2.0's composition: no augmentation and no teacher; the head quantises the targets.
using Recipe = Compose<audio::Encoder, masker::Spans, augment::Identity, target::Distractors, loss::CodeContrastive,
                       teacher::None, heads::QuantizedContext>;

/// Example: `wav2vec2::recipe({.encoder = audio::small(), .distractors = {.negatives = 50}})`.
struct Options {
  audio::Options encoder = audio::small();  ///< the encoder (default: CPU-sized; `audio::Options{}`: the paper's base)
  masker::Spans masker{};                   ///< p 0.065, spans of 10 (`frames`: the encoder's, leave unset)
  int64_t groups = 2;                       ///< the quantiser's codebooks G
  int64_t entries = 320;                    ///< entries per codebook V
  int64_t code_dim = 256;                   ///< the quantised vectors' width
  int64_t proj_dim = 256;                   ///< the contrastive space's width
  double feature_dropout = 0.1;             ///< dropout on the quantiser's input
  double tau_start = 2.0;                   ///< the Gumbel temperature at step 0
  double tau_end = 0.5;                     ///< its floor
  double tau_decay = 0.999995;              ///< its factor per optimizer step
  target::Distractors distractors{};        ///< K = 100
  loss::CodeContrastive loss{};             ///< kappa 0.1, diversity weight 0.1
};

/// wav2vec 2.0 with `o`'s parts. Sets the masker's `frames` to the encoder's (a different value
/// is refused).
inline Recipe recipe(Options o) {
  const char* who = "wav2vec2::recipe";
  audio::check_options(o.encoder, who);
  if (o.masker.frames) {
    const auto& f = *o.masker.frames;
    TORCH_CHECK(f.conv_kernel() == o.encoder.conv_kernel() && f.conv_stride() == o.encoder.conv_stride(), who,
                ": Options::masker.frames has other convolutions than the encoder's; leave it unset");
  }
  o.masker.frames = o.encoder;
  o.masker.check();
  auto head = heads::QuantizedContext(heads::QuantizedContextOptions(o.encoder.dim(), o.encoder.conv_dim().back())
                                          .groups(o.groups)
                                          .entries(o.entries)
                                          .code_dim(o.code_dim)
                                          .proj_dim(o.proj_dim)
                                          .feature_dropout(o.feature_dropout)
                                          .tau_start(o.tau_start)
                                          .tau_end(o.tau_end)
                                          .tau_decay(o.tau_decay));
  return Recipe({.backbone = audio::Encoder(o.encoder),
                 .masker = o.masker,
                 .augment = {},
                 .target = o.distractors,
                 .loss = o.loss,
                 .teacher_update = {},
                 .head = head});
}

/// What `evaluate` measured on held-out clips.
struct Evaluation {
  double accuracy = 0;    ///< fraction of the hidden frames whose true code scores highest among its K + 1 candidates
  double chance = 0;      ///< that fraction for a model that cannot tell the candidates apart: 1 / (K + 1)
  double perplexity = 0;  ///< the codebook's perplexity over the hidden frames (of G x V), mean over batches
  double loss = 0;        ///< the loss (contrastive + weighted diversity), mean over batches
};

/// The objective of `r` on `clips` `[N, T]` (e.g. a held-out split): in evaluation mode (the
/// quantiser's argmax, no dropout), `batch` clips at a time on the device of `r`'s parameters,
/// with masks and distractors drawn after `torch::manual_seed(seed)`, so that two models (trained
/// and at initialisation) are scored on the same draws. Reseeds torch's generators; restores
/// `r`'s training mode.
inline Evaluation evaluate(Recipe& r, const torch::Tensor& clips, uint64_t seed = 0, int64_t batch = 32) {
  TORCH_CHECK(clips.dim() == 2 && clips.size(0) > 0 && batch > 0, "wav2vec2::evaluate: expected clips [N, T] (N > 0) and ",
              "batch > 0, got ", clips.sizes(), " and ", batch);
  const bool training = r->is_training();
  r->eval();
  torch::NoGradGuard g;
  torch::manual_seed(seed);
  const auto device = r->parameters().front().device();
  double correct = 0, frames = 0, perplexity = 0, loss = 0;
  int64_t batches = 0;
  const double entries = double(r->head()->options.groups() * r->head()->options.entries());
  for (int64_t s = 0; s < clips.size(0); s += batch, ++batches) {
    Views views;
    views.global = {clips.narrow(0, s, std::min(batch, clips.size(0) - s)).to(device)};
    const auto p = r->predict(views);  // the training step's masking, encoding and head
    const auto c = r->target()(views, p);
    const auto z = r->loss().logits(p.views[0], c);
    correct += (z.argmax(1) == 0).sum().item<double>();
    frames += double(z.size(0));
    perplexity += entries * (1.0 - p.extra[0].diversity.item<double>());
    loss += r->loss().score(z, c).loss.item<double>();
  }
  r->train(training);
  return {.accuracy = correct / frames, .chance = 1.0 / double(r->target().negatives + 1),
          .perplexity = perplexity / double(batches), .loss = loss / double(batches)};
}

}  // namespace ssl::wav2vec2
