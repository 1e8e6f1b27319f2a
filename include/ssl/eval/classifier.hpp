#pragma once
/// \file eval/classifier.hpp
/// Fine-tuning: any `Backbone` plus a linear head on its pooled features, trained end to end by
/// the same `ssl::Trainer` as pretraining (it is a `Recipe` whose loss is cross-entropy).
#include <ssl/concepts.hpp>
#include <ssl/core/types.hpp>
#include <ssl/data/loader.hpp>
#include <ssl/eval/knn.hpp>
#include <ssl/loss/cross_entropy.hpp>
#include <ssl/train/trainer.hpp>

#include <torch/torch.h>

#include <algorithm>
#include <string>

namespace ssl::eval {

namespace detail {
/// A new linear classification head: weights normal(0, init_std), zero bias.
inline torch::nn::Linear new_head(int64_t dim, int64_t classes, double init_std) {
  torch::nn::Linear head(dim, classes);
  torch::NoGradGuard g;
  torch::nn::init::normal_(head->weight, 0.0, init_std);
  head->bias.zero_();
  return head;
}
}  // namespace detail

/// Image or sequence classification: a linear head on the backbone's pooled features
/// (`Features::pooled`), trained end to end with cross-entropy on `Batch::target` (`[B]` class
/// ids). A `Trainable` like the recipes: the trainer drives it unchanged. Parameter names:
/// `backbone.*`, `head.weight`, `head.bias`.
template <Backbone B>
class ClassifierImpl : public torch::nn::Module {
 public:
  /// `init_std`: the head's initial weights are normal(0, init_std) (MAE's fine-tuning: 2e-5;
  /// BERT's: 0.02).
  ClassifierImpl(B backbone, int64_t classes, double init_std = 2e-5) : backbone(std::move(backbone)) {
    register_module("backbone", this->backbone.ptr());
    head = register_module("head", detail::new_head(this->backbone->dim(), classes, init_std));
  }
  /// `[B, classes]` class logits of the inputs `x` (nothing masked).
  torch::Tensor logits(const torch::Tensor& x) { return head(backbone->forward(Masked{.input = x}).pooled); }
  /// Cross-entropy of the logits against `b.target` (required); logs the batch accuracy as `acc`.
  LossOutput forward(const Batch& b) {
    TORCH_CHECK(b.target.defined(), "eval::Classifier: the batch has no labels");
    auto z = logits(b.input);
    auto loss = torch::cross_entropy_loss(z, b.target);
    auto acc = (z.argmax(1) == b.target).to(torch::kFloat32).mean();
    return {loss, {{"acc", acc.detach()}}};
  }

  B backbone;                       ///< the encoder being fine-tuned (registered as `backbone`)
  torch::nn::Linear head{nullptr};  ///< backbone dim -> classes
};

/// The module holder of `ClassifierImpl`. Example: `eval::Classifier clf(encoder, 10)`.
template <Backbone B>
class Classifier : public torch::nn::ModuleHolder<ClassifierImpl<B>> {
 public:
  using torch::nn::ModuleHolder<ClassifierImpl<B>>::ModuleHolder;
};
/// Deduces `Classifier<B>` from the backbone: `Classifier(backbone, classes)`.
template <Backbone B>
Classifier(B, int64_t) -> Classifier<B>;
/// Deduces `Classifier<B>` from the backbone: `Classifier(backbone, classes, init_std)`.
template <Backbone B>
Classifier(B, int64_t, double) -> Classifier<B>;

/// Token classification (tagging): a linear head on every token state of any `Backbone`;
/// labels `[B,N]` with -100 where nothing is scored (padding, special tokens, word pieces after
/// the first). Driven by the same trainer as everything else.
template <Backbone B>
class TokenClassifierImpl : public torch::nn::Module {
 public:
  /// A head from `backbone->dim()` to `classes`, initial weights normal(0, init_std) (BERT's 0.02),
  /// zero bias.
  TokenClassifierImpl(B backbone, int64_t classes, double init_std = 0.02) : backbone(std::move(backbone)) {
    register_module("backbone", this->backbone.ptr());
    head = register_module("head", detail::new_head(this->backbone->dim(), classes, init_std));
  }
  /// `[B,N,classes]`.
  torch::Tensor logits(const torch::Tensor& x) { return head(backbone->forward(Masked{.input = x}).tokens); }
  /// Cross-entropy over the scored tokens of `b.target` (`[B,N]`, -100 = not scored, required);
  /// logs their accuracy as `acc`.
  LossOutput forward(const Batch& b) {
    TORCH_CHECK(b.target.defined() && b.target.sizes() == b.input.sizes(), "eval::TokenClassifier: expected labels ",
                "of the input's shape ", b.input.sizes(), " (-100 = not scored), got ", ssl::detail::shape_str(b.target));
    auto r = loss::masked_cross_entropy(logits(b.input), b.target, "eval::TokenClassifier");
    return {r.loss, {{"acc", r.accuracy}}};
  }

  B backbone;                       ///< the encoder being fine-tuned (registered as `backbone`)
  torch::nn::Linear head{nullptr};  ///< backbone dim -> classes, applied to every token
};
/// The module holder of `TokenClassifierImpl`. Example: `eval::TokenClassifier tagger(encoder, 9)`.
template <Backbone B>
class TokenClassifier : public torch::nn::ModuleHolder<TokenClassifierImpl<B>> {
 public:
  using torch::nn::ModuleHolder<TokenClassifierImpl<B>>::ModuleHolder;
};
/// Deduces `TokenClassifier<B>` from the backbone: `TokenClassifier(backbone, classes)`.
template <Backbone B>
TokenClassifier(B, int64_t) -> TokenClassifier<B>;
/// Deduces `TokenClassifier<B>` from the backbone: `TokenClassifier(backbone, classes, init_std)`.
template <Backbone B>
TokenClassifier(B, int64_t, double) -> TokenClassifier<B>;

/// Top-1 accuracy in [0,1] of `model->logits` on raw `inputs` (transformed batch by batch).
template <class M>
double accuracy(M& model, const torch::Tensor& inputs, const torch::Tensor& labels,
                const std::function<torch::Tensor(const torch::Tensor&)>& transform, int64_t batch = 512,
                torch::Device device = torch::kCPU) {
  model->eval();
  auto logits = extract([&](const torch::Tensor& x) { return model->logits(x); }, inputs, transform, batch, device);
  model->train();
  return (logits.argmax(1) == labels).to(torch::kFloat64).mean().template item<double>();
}

/// Example: `FinetuneOptions{.epochs = 5, .lr = 1e-3, .layer_decay = 0.75}`.
struct FinetuneOptions {
  int64_t classes = 10;        ///< classes of the new head (labels in [0, classes))
  int64_t epochs = 5;          ///< training epochs over `inputs`
  int64_t batch = 128;         ///< batch size (capped at the number of inputs)
  double lr = 1e-3;            ///< AdamW's peak learning rate (after warm-up, then a cosine to 0)
  double weight_decay = 0.05;  ///< AdamW's decoupled weight decay
  /// Layer-wise lr decay over the ViT's blocks (1 = off; 0.65-0.75 for pretrained weights).
  double layer_decay = 1.0;
  double warmup_epochs = 1.0;   ///< epochs of linear lr warm-up (fractions allowed; at most `epochs`)
  double clip_grad_norm = 1.0;  ///< clip the global gradient norm to this value (0 = off)
  /// Initial weights of the new linear head: normal(0, head_init_std).
  double head_init_std = 2e-5;
  /// Token inputs: when >= 0, the padding id, and batches group sequences of similar length
  /// (data::LoaderOptions::lengths); pair it with a padding-trimming transform.
  int64_t group_by_length_pad = -1;
  uint64_t seed = 0;                ///< the loader's shuffling seed (epoch e's order: seed + e)
  std::string label = "fine-tune";  ///< progress-bar label
  int progress = -1;                ///< progress bar: -1 auto (a terminal), 0 off, 1 on
  /// Where the classifier and the batches live (the encoder is moved there).
  torch::Device device = torch::kCPU;
};

/// Fine-tunes `encoder` (a ViT or a text encoder; its pooled output feeds a new linear head) on
/// raw `inputs` / `labels` with the library's trainer, and returns the trained classifier.
template <class Encoder>
Classifier<Encoder> finetune_model(Encoder encoder, const torch::Tensor& inputs, const torch::Tensor& labels,
                                   const data::Transform& transform, const FinetuneOptions& o = {}) {
  Classifier clf(encoder, o.classes, o.head_init_std);
  clf->to(o.device);
  data::Loader loader(inputs, labels, transform,
                      {.batch_size = std::min<int64_t>(o.batch, inputs.size(0)), .seed = o.seed, .device = o.device,
                       .lengths = o.group_by_length_pad >= 0 ? (inputs != o.group_by_length_pad).sum(1) : torch::Tensor()});
  const int64_t depth = encoder->options.depth();
  if (o.layer_decay != 1.0) {  // decayed by ViT block: an encoder without blocks would silently get none
    const auto named = encoder->named_parameters();
    TORCH_CHECK(std::any_of(named.begin(), named.end(),
                            [](const auto& p) { return p.key().find("blocks.") != std::string::npos; }),
                "eval::finetune: layer_decay ", o.layer_decay, " decays the lr by ViT block (parameters named ",
                "blocks.<i>.), and this encoder has none: give layer_decay 1");
  }
  optim::AdamW opt(clf->named_parameters().pairs(),
                   {.lr = o.lr, .weight_decay = o.weight_decay, .beta2 = 0.999, .layer_decay = o.layer_decay},
                   [depth](const std::string& n) { return optim::vit_layer_of(n, depth); }, depth + 1);
  Trainer trainer(clf, std::move(opt), schedule::cosine_warmup(std::min<double>(o.warmup_epochs, o.epochs)));
  trainer.fit(loader, {.epochs = o.epochs, .clip_grad_norm = o.clip_grad_norm, .label = o.label, .progress = o.progress});
  return clf;
}

/// `finetune_model`, then the top-1 accuracy on `test_inputs`.
template <class Encoder>
double finetune(Encoder encoder, const torch::Tensor& inputs, const torch::Tensor& labels,
                const torch::Tensor& test_inputs, const torch::Tensor& test_labels, const data::Transform& transform,
                const FinetuneOptions& o = {}) {
  auto clf = finetune_model(std::move(encoder), inputs, labels, transform, o);
  return accuracy(clf, test_inputs, test_labels, transform, 512, o.device);
}

}  // namespace ssl::eval
