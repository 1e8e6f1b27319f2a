#pragma once
/// \file compose.hpp
/// `ssl::Compose`: a recipe is one model of each concept plus a head, put together at compile
/// time. It is the only "training step" of the library; the trainer drives it without knowing
/// which method it is.
#include <ssl/concepts.hpp>
#include <ssl/core/types.hpp>
#include <ssl/core/view_batches.hpp>

#include <torch/torch.h>

#include <type_traits>
#include <utility>
#include <vector>

namespace ssl {

namespace detail {
template <class P>
void register_if_module(torch::nn::Module& self, const char* name, P& part) {
  if constexpr (module_holder<P>) self.register_module(name, part.ptr());
}
/// A plain masker (not a module) that takes `(view, is_global)`. The module-holder check comes
/// first: a holder's `operator()` is not substitution-friendly.
template <class M>
concept masks_by_view_kind = !module_holder<M> && requires(M m, const torch::Tensor& x, bool global) {
  { m(x, global) } -> std::same_as<Masked>;
};
template <class P>
void set_step_if(P& part, const StepInfo& info) {
  if constexpr (requires { part->set_step(info); }) part->set_step(info);
  else if constexpr (requires { part.set_step(info); }) part.set_step(info);
}
}  // namespace detail

/// The parts of a recipe, by name. Example:
///     Parts<vit::Encoder, masker::RandomPatches, ...>{.backbone = enc, .masker = {.patch = 4}, ...}
template <class B, class M, class A, class T, class L, class U, class H>
struct Parts {
  B backbone;
  M masker;
  A augment;
  T target;
  L loss;
  U teacher_update;
  H head;
};

template <class B, class M, class A, class T, class L, class U, class H>
class ComposeImpl : public torch::nn::Module {
  static_assert(Backbone<B>, "ssl::Compose: the 1st part must satisfy the ssl::Backbone concept: a "
                             "TORCH_MODULE with `Features forward(const Masked&)` and `int64_t dim()`");
  static_assert(Masker<M>, "ssl::Compose: the 2nd part must satisfy the ssl::Masker concept: "
                           "`Masked operator()(const Tensor& batch)`");
  static_assert(Augmenter<A>, "ssl::Compose: the 3rd part must satisfy the ssl::Augmenter concept: "
                              "`Views operator()(const Tensor& batch)`");
  static_assert(Target<T>, "ssl::Compose: the 4th part must satisfy the ssl::Target concept: "
                           "`std::vector<Tensor> operator()(const Views&, const Prediction&)`");
  static_assert(Loss<L>, "ssl::Compose: the 5th part must satisfy the ssl::Loss concept: "
                         "`LossOutput operator()(const Prediction&, const std::vector<Tensor>&)`");
  static_assert(TeacherUpdate<U>,
                "ssl::Compose: the 6th part must satisfy the ssl::TeacherUpdate concept: `void "
                "operator()(const std::vector<Tensor>& student, const std::vector<Tensor>& "
                "teacher, const StepInfo&)`");
  static_assert(Head<H>, "ssl::Compose: the 7th part must satisfy the ssl::Head concept: a "
                         "TORCH_MODULE with `Tensor forward(const Features&, const Masked&)`");

 public:
  using PartsType = Parts<B, M, A, T, L, U, H>;

  explicit ComposeImpl(PartsType parts) : p(std::move(parts)) {
    detail::register_if_module(*this, "backbone", p.backbone);
    detail::register_if_module(*this, "head", p.head);
    detail::register_if_module(*this, "masker", p.masker);
    detail::register_if_module(*this, "augment", p.augment);
    detail::register_if_module(*this, "target", p.target);
    detail::register_if_module(*this, "loss", p.loss);
  }

  /// Student forward for every view of the batch: the prediction and the masking of each. A
  /// masker that takes `(view, is_global)` learns which views are global (iBOT masks only those).
  /// Every view is masked first; then the backbone encodes the views (same-shape views as one
  /// batch when the augmenter allows it: core/view_batches.hpp), and the head sees each view.
  Prediction predict(const Views& views) {
    Prediction pred;
    const auto all = views.all();
    for (size_t i = 0; i < all.size(); ++i) pred.masked.push_back(mask_view(all[i], i < views.global.size()));
    auto outs = encode_views(p.backbone, p.head, pred.masked, pred.masked, views.batch_same_size);
    for (auto& out : outs) {
      if constexpr (std::is_same_v<std::decay_t<decltype(out)>, HeadOutput>) {
        pred.views.push_back(std::move(out.out));
        pred.aux.push_back(std::move(out.aux));
      } else {
        pred.views.push_back(std::move(out));
        pred.aux.emplace_back();
      }
    }
    return pred;
  }

  Masked mask_view(const torch::Tensor& v, bool global) {
    if constexpr (detail::masks_by_view_kind<M>) return p.masker(v, global);
    else return p.masker(v);
  }

  /// One step's loss on a clean batch. The batch's labels, if any, reach the target as
  /// `Views::labels` (BERT's next-sentence labels); most targets ignore them.
  LossOutput forward(const Batch& batch) {
    Views views = p.augment(batch.input);
    views.labels = batch.target;
    Prediction pred = predict(views);
    return p.loss(pred, p.target(views, pred));
  }

  /// Called by the trainer before each step: every part with a `set_step(const StepInfo&)`
  /// learns where the run is (DINO's teacher-temperature schedule, its head's frozen first
  /// epoch, ...). Parts without one are skipped at compile time.
  void before_step(const StepInfo& info) {
    detail::set_step_if(p.backbone, info);
    detail::set_step_if(p.masker, info);
    detail::set_step_if(p.augment, info);
    detail::set_step_if(p.target, info);
    detail::set_step_if(p.loss, info);
    detail::set_step_if(p.head, info);
  }

  /// Called by the trainer after each optimizer step.
  void after_optimizer_step(const StepInfo& info) {
    torch::NoGradGuard g;
    p.teacher_update(followed_parameters(), teacher_parameters(), info);
  }

  /// Backbone + head parameters (what the optimizer trains).
  std::vector<torch::Tensor> student_parameters() {
    auto v = p.backbone->parameters();
    auto h = p.head->parameters();
    v.insert(v.end(), h.begin(), h.end());
    return v;
  }
  /// The teacher's parameters, when the target owns a teacher (`teacher_parameters()`).
  std::vector<torch::Tensor> teacher_parameters() {
    if constexpr (requires { p.target->teacher_parameters(); }) return p.target->teacher_parameters();
    else return {};
  }
  /// The student parameters the teacher follows, in the teacher's order: the target's
  /// `student_parameters()` when it has a teacher (BYOL's teacher has no predictor), else all.
  std::vector<torch::Tensor> followed_parameters() {
    if constexpr (requires { p.target->student_parameters(); }) return p.target->student_parameters();
    else return student_parameters();
  }

  /// Frozen features of a batch for evaluation (no masking, no augmentation).
  Features encode(const torch::Tensor& x) { return p.backbone->forward(Masked{.input = x}); }

  B& backbone() { return p.backbone; }
  H& head() { return p.head; }
  M& masker() { return p.masker; }
  T& target() { return p.target; }
  L& loss() { return p.loss; }

  PartsType p;
};

/// The module holder of a composed recipe (like `TORCH_MODULE`, for a template).
template <class B, class M, class A, class T, class L, class U, class H>
class Compose : public torch::nn::ModuleHolder<ComposeImpl<B, M, A, T, L, U, H>> {
 public:
  using torch::nn::ModuleHolder<ComposeImpl<B, M, A, T, L, U, H>>::ModuleHolder;
  using Impl = ComposeImpl<B, M, A, T, L, U, H>;
};

}  // namespace ssl
