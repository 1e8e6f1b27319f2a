#pragma once
/// \file electra.hpp
/// ELECTRA: Pre-training Text Encoders as Discriminators Rather Than Generators (Clark et al.,
/// 2020).
///
/// A small masked-LM generator fills BERT-masked positions with samples from its predictions;
/// the discriminator (the model that is kept) reads the resulting sequence and says, for every
/// token, whether it was replaced. Generator and discriminator share the token and position
/// embeddings; loss = generator MLM + 50 x replaced-token binary cross-entropy over all
/// non-padding positions. Learning from every token, not 15 % of them, is what makes ELECTRA
/// sample-efficient.
#include <ssl/augment/identity.hpp>
#include <ssl/text/encoder.hpp>
#include <ssl/compose.hpp>
#include <ssl/heads/lm.hpp>
#include <ssl/loss/cross_entropy.hpp>
#include <ssl/masker/generator.hpp>
#include <ssl/target/tokens.hpp>
#include <ssl/teacher/none.hpp>
#include <ssl/train/trainer.hpp>

#include <algorithm>
#include <functional>
#include <string>

namespace ssl::electra {

/// ELECTRA's parts: the discriminator's text encoder, a generator that BERT-masks and fills the
/// hidden tokens, the batch as its only view, the generator's and discriminator's labels as
/// targets, replaced-token detection, no teacher, a per-token replaced/original head.
using Recipe = Compose<text::Encoder, masker::Generator, augment::Identity, target::ReplacedTokens,
                       loss::ReplacedTokenDetection, teacher::None, heads::ReplacedTokenHead>;

/// Example: `electra::recipe({.discriminator = text::bert_mini(V).embedding_dim(128).pooler(false),
///                            .masking = masker::Bert::for_vocab(vocab)})`.
struct Options {
  /// The discriminator's architecture and vocabulary size (the recipe's backbone, the one kept).
  text::EncoderOptions discriminator;
  /// Which tokens the generator's masking selects (its vocabulary and special ids are required).
  masker::Bert masking;
  /// Generator width as a fraction of the discriminator's (ELECTRA: 1/4 to 1/2).
  double generator_scale = 0.25;
  /// Generator blocks (the reference's `generator_layers`); 0 = the discriminator's depth.
  int64_t generator_depth = 0;
  /// Softmax temperature of the generator's samples (the reference's `temperature`, 1.0).
  double temperature = 1.0;
  /// Never sample the original token: every masked token is replaced (`disallow_correct`, off).
  bool disallow_correct = false;
  /// Replacements drawn uniformly over the non-special tokens (`uniform_generator`, off).
  bool uniform_generator = false;
  /// Weight of the discriminator's loss (lambda = 50 in the paper).
  double weight = 50.0;
  /// Standard deviation of the normal initialisation of every weight (`text::init_bert_weights`).
  double init_std = 0.02;
};

/// The generator's encoder options derived from the discriminator's.
inline text::EncoderOptions generator_options(const Options& o) {
  auto g = o.discriminator;
  const auto dim = std::max<int64_t>(1, static_cast<int64_t>(double(g.dim()) * o.generator_scale));
  const auto heads = std::max<int64_t>(1, static_cast<int64_t>(double(g.heads()) * o.generator_scale));
  if (o.generator_depth > 0) g.depth(o.generator_depth);
  return g.embedding_dim(g.embedding_width()).dim(dim).heads(heads).mlp_hidden(4 * dim).pooler(false);
}

/// `lr_scale_of` for `optim::AdamW`: `factor` for the generator's own parameters (the names
/// that start with "masker."), 1 for the rest (the shared embeddings are stepped under their
/// "backbone." names). A factor below 1 holds the generator back while the discriminator starts.
inline std::function<double(const std::string&)> generator_lr_scale(double factor) {
  return [factor](const std::string& name) { return name.starts_with("masker.") ? factor : 1.0; };
}

/// ELECTRA: the discriminator, a generator of `generator_options(o)` sharing its embeddings, the
/// generator's MLM head tied to the token embedding, and the discriminator's replaced-token head,
/// all initialised as BERT.
inline Recipe recipe(const Options& o) {
  text::Encoder disc(o.discriminator);
  const auto go = generator_options(o);
  text::Encoder gen(go, disc->embeddings);
  heads::LmHead gen_head(heads::LmHeadOptions(go.dim(), go.vocab())
                             .embedding_dim(go.embedding_width())
                             .eps(go.eps())
                             .only_masked(true),
                         disc->embeddings->tok);
  heads::ReplacedTokenHead head(o.discriminator.dim());
  text::init_bert_weights(*disc, o.init_std, o.discriminator.pad_id());
  text::init_bert_weights(*gen, o.init_std, o.discriminator.pad_id());  // re-draws the shared embeddings once more: fine
  text::init_bert_weights(*gen_head, o.init_std);
  text::init_bert_weights(*head, o.init_std);
  return Recipe({.backbone = disc,
                 .masker = masker::Generator(gen, gen_head, o.masking,
                                             masker::GeneratorSampling{.temperature = o.temperature,
                                                                       .disallow_correct = o.disallow_correct,
                                                                       .uniform = o.uniform_generator}),
                 .target = {.pad_id = o.discriminator.pad_id()},
                 .loss = {.weight = o.weight},
                 .head = head});
}

}  // namespace ssl::electra
