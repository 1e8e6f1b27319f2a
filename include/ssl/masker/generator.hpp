#pragma once
/// \file masker/generator.hpp
/// ELECTRA's corruption (Clark et al., 2020): BERT-mask the tokens, let a small masked-LM
/// generator predict the masked positions, and put a token sampled from its distribution in
/// each. The discriminator (the recipe's backbone) then sees the sampled sequence. The
/// generator is trained by the loss through its logits (`Masked::proposal_logits`); the sampling itself
/// carries no gradient.
#include <ssl/text/encoder.hpp>
#include <ssl/heads/lm.hpp>
#include <ssl/masker/bert.hpp>

#include <torch/torch.h>

#include <limits>

namespace ssl::masker {

/// How ELECTRA's generator turns its logits into replacements (google-research/electra's
/// `configure_pretraining.py` knobs, all off by default there).
struct GeneratorSampling {
  /// Softmax temperature of the samples (`temperature`, 1.0): above 1 flattens them.
  double temperature = 1.0;
  /// Never sample the original token, so every masked token is replaced (`disallow_correct`).
  bool disallow_correct = false;
  /// Sample uniformly over the non-special tokens instead of from the generator
  /// (`uniform_generator`; the generator still trains, its samples are unused).
  bool uniform = false;
};

/// ELECTRA's generator as a `Masker` (see the file comment): BERT's masking, then a small
/// masked-LM's sample at each selected position. A module: its parameters train with the
/// recipe's (registered as `masker.encoder.*`, `masker.head.*`).
class GeneratorImpl : public torch::nn::Cloneable<GeneratorImpl> {
 public:
  /// `encoder`: the generator's encoder (typically sharing the discriminator's embeddings);
  /// `head`: its MLM head (tied to the same embeddings, `only_masked` or not).
  GeneratorImpl(text::Encoder encoder, heads::LmHead head, Bert masking, GeneratorSampling sampling = {})
      : encoder(std::move(encoder)), head(std::move(head)), masking(std::move(masking)), sampling(sampling) {
    TORCH_CHECK(sampling.temperature > 0, "masker::Generator: temperature must be > 0, got ", sampling.temperature);
    reset();
  }
  /// Registers the encoder and the head as submodules (`clone()` calls it too).
  void reset() override {
    register_module("encoder", encoder.ptr());
    register_module("head", head.ptr());
  }

  /// Token ids `[B,N]` -> `Masked{input = sampled sequence, mask = selected,
  /// proposal_logits = generator logits}` (`[M,V]` at the selected positions, or `[B,N,V]`).
  Masked forward(const torch::Tensor& ids) {
    Masked m = masking(ids);
    auto logits = head->forward(encoder->forward(m), m).out;
    torch::Tensor sampled;
    {
      torch::NoGradGuard g;
      auto at_mask = (logits.dim() == 3 ? logits.index({m.mask}) : logits).to(torch::kFloat32);
      if (sampling.uniform) {
        // zero logits on the non-special tokens, -inf on the special ones
        auto z = torch::full({at_mask.size(-1)}, -std::numeric_limits<float>::infinity(), at_mask.options());
        z.index_fill_(0, masking.replacement_pool(at_mask.device()), 0.0);
        at_mask = z.expand_as(at_mask).clone();
      } else if (sampling.temperature != 1.0) {
        at_mask = at_mask / sampling.temperature;
      }
      if (sampling.disallow_correct) {
        auto original = ids.index({m.mask});
        at_mask = at_mask.scatter(-1, original.unsqueeze(-1), -std::numeric_limits<float>::infinity());
      }
      sampled = torch::multinomial(torch::softmax(at_mask, -1), 1).squeeze(-1);
    }
    auto corrupted = ids.clone();
    corrupted.index_put_({m.mask}, sampled);
    return Masked{.input = corrupted, .mask = m.mask, .proposal_logits = logits};
  }

  text::Encoder encoder;  ///< the generator's encoder
  heads::LmHead head;     ///< the generator's MLM head (its logits are the proposal distribution)
  Bert masking;           ///< selects the positions the generator fills
  GeneratorSampling sampling;  ///< temperature, disallow_correct, uniform
};
TORCH_MODULE(Generator);

}  // namespace ssl::masker
