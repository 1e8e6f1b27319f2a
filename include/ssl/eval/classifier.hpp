#pragma once
/// \file eval/classifier.hpp
/// Fine-tuning: any `Backbone` plus a linear head on its pooled features, trained end to end by
/// the same `ssl::Trainer` as pretraining (it is a `Recipe` whose loss is cross-entropy).
#include <ssl/concepts.hpp>
#include <ssl/core/types.hpp>

#include <torch/torch.h>

namespace ssl::eval {

template <Backbone B>
class ClassifierImpl : public torch::nn::Module {
 public:
  ClassifierImpl(B backbone, int64_t classes) : backbone(std::move(backbone)) {
    register_module("backbone", this->backbone.ptr());
    head = register_module("head", torch::nn::Linear(this->backbone->dim(), classes));
    torch::NoGradGuard g;
    torch::nn::init::normal_(head->weight, 0.0, 2e-5);
    head->bias.zero_();
  }
  torch::Tensor logits(const torch::Tensor& x) { return head(backbone->forward(Masked{.input = x}).pooled); }
  LossOutput forward(const Batch& b) {
    TORCH_CHECK(b.target.defined(), "eval::Classifier: the batch has no labels");
    auto z = logits(b.input);
    auto loss = torch::cross_entropy_loss(z, b.target);
    auto acc = (z.argmax(1) == b.target).to(torch::kFloat32).mean();
    return {loss, {{"acc", acc.detach()}}};
  }

  B backbone;
  torch::nn::Linear head{nullptr};
};

template <Backbone B>
class Classifier : public torch::nn::ModuleHolder<ClassifierImpl<B>> {
 public:
  using torch::nn::ModuleHolder<ClassifierImpl<B>>::ModuleHolder;
};
template <Backbone B>
Classifier(B, int64_t) -> Classifier<B>;

/// Top-1 accuracy in [0,1] of `model->logits` on raw `inputs` (transformed batch by batch).
template <class M>
double accuracy(M& model, const torch::Tensor& inputs, const torch::Tensor& labels,
                const std::function<torch::Tensor(const torch::Tensor&)>& transform, int64_t batch = 512,
                torch::Device device = torch::kCPU) {
  torch::NoGradGuard g;
  model->eval();
  int64_t correct = 0;
  for (int64_t s = 0; s < inputs.size(0); s += batch) {
    const auto n = std::min(batch, inputs.size(0) - s);
    auto x = transform(inputs.narrow(0, s, n)).to(device);
    correct += (model->logits(x).argmax(1).cpu() == labels.narrow(0, s, n)).sum().template item<int64_t>();
  }
  model->train();
  return double(correct) / double(inputs.size(0));
}

}  // namespace ssl::eval
