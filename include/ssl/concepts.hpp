#pragma once
/// \file concepts.hpp
/// The six concepts of libssl and the values that flow between them (core/types.hpp).
///
/// One training step of any recipe (`ssl::Compose`, compose.hpp) is:
///
///     Views views = augmenter(batch)                     // Augmenter
///     for each student view v in views.all():
///       Masked m   = masker(v)                           // Masker
///       Features f = backbone(m)                         // Backbone
///       pred.views += head(f, m); pred.masked += m       // the recipe's head module
///     targets = target(views, pred)                      // Target
///     LossOutput out = loss(pred, targets)               // Loss
///     ... optimizer step ...
///     teacher_update(student params, teacher params, info)  // TeacherUpdate
///
/// Each concept is written in two layers: one `detail::` check per requirement, and the public
/// concept that combines them, so a failed constraint names the requirement that broke.
#include <ssl/core/types.hpp>

#include <torch/torch.h>

#include <concepts>
#include <vector>

namespace ssl {

namespace detail {
/// A LibTorch module holder (`TORCH_MODULE(Foo)`): has `->`, `.ptr()`, parameters, `.to()`.
template <class M>
concept module_holder = requires(M m) {
  typename M::ContainedType;
  requires std::derived_from<typename M::ContainedType, torch::nn::Module>;
  { m.ptr() };
};

template <class B>
concept encodes_masked = requires(B b, const Masked& m) {
  { b->forward(m) } -> std::same_as<Features>;
};
template <class B>
concept reports_dim = requires(B b) {
  { b->dim() } -> std::convertible_to<int64_t>;
};
template <class M>
concept masks_batch = requires(M m, const torch::Tensor& x) {
  { m(x) } -> std::same_as<Masked>;
};
template <class A>
concept makes_views = requires(A a, const torch::Tensor& x) {
  { a(x) } -> std::same_as<Views>;
};
template <class T>
concept targets_views = requires(T t, const Views& v, const Prediction& p) {
  { t(v, p) } -> std::same_as<std::vector<torch::Tensor>>;
};
template <class L>
concept scores_prediction = requires(L l, const Prediction& p,
                                     const std::vector<torch::Tensor>& t) {
  { l(p, t) } -> std::same_as<LossOutput>;
};
template <class U>
concept updates_teacher = requires(U u, const std::vector<torch::Tensor>& s,
                                   const std::vector<torch::Tensor>& t, const StepInfo& i) {
  { u(s, t, i) } -> std::same_as<void>;
};
/// The callback a data source calls once per batch: `false` stops the epoch early.
using BatchCallback = bool (*)(const Batch&, int64_t);
template <class S>
concept counts_batches = requires(const S& s) {
  { s.batches_per_epoch() } -> std::convertible_to<int64_t>;
  { s.global_batch_size() } -> std::convertible_to<int64_t>;
};
template <class S>
concept runs_from_position = requires(const S& s, int64_t epoch, int64_t batch, BatchCallback f) {
  s.run(epoch, batch, f);
};
template <class H>
concept predicts_from_features = requires(H h, const Features& f, const Masked& m) {
  requires std::convertible_to<decltype(h->forward(f, m)), torch::Tensor> ||
               std::same_as<decltype(h->forward(f, m)), HeadOutput>;
};
}  // namespace detail

/// Encodes a (masked) batch into features.
/// Smallest model:
///     struct TinyImpl : torch::nn::Cloneable<TinyImpl> {
///       void reset() override {}
///       ssl::Features forward(const ssl::Masked& m) { return {m.input.unsqueeze(1), m.input}; }
///       int64_t dim() const { return 1; }
///     };  TORCH_MODULE(Tiny);
/// Contract: `forward(m)` encodes `m.input`, only the positions of `m.ids_keep` when defined;
/// `tokens` is `[B,T,D]`, `pooled` `[B,D]` with `D == dim()`. Owns its parameters.
template <class B>
concept Backbone = detail::module_holder<B> && detail::encodes_masked<B> && detail::reports_dim<B>;

/// Decides what the model may not see.
/// Smallest model: `struct NoMask { ssl::Masked operator()(const torch::Tensor& x) const { return {x}; } };`
/// Contract: `m(x)` returns `Masked` whose `mask` is `[B,N]` bool (true = hidden) or undefined;
/// random draws use the batch's device and its default generator (so checkpoints replay them).
template <class M>
concept Masker = detail::masks_batch<M>;

/// Makes the views of a batch, on the batch's device.
/// Smallest model: `struct Same { ssl::Views operator()(const torch::Tensor& x) const { return {{x}, {}}; } };`
/// Contract: `global` views are seen by student and teacher, `local` ones by the student only.
template <class A>
concept Augmenter = detail::makes_views<A>;

/// Says what the prediction of each student view is compared against.
/// Smallest model: `struct Input { std::vector<torch::Tensor> operator()(const ssl::Views& v,
///                  const ssl::Prediction&) const { return v.all(); } };`
/// Contract: returns what the `Loss` expects, typically one tensor per student view; gradient
/// flows through it only where the method wants it to (teacher targets are computed without).
template <class T>
concept Target = detail::targets_views<T>;

/// Scores the prediction against the target.
/// Smallest model: `struct L1 { ssl::LossOutput operator()(const ssl::Prediction& p,
///                  const std::vector<torch::Tensor>& t) const { auto l = (p.views[0] - t[0]).abs().mean(); return {l, {}}; } };`
/// Contract: `loss` is a 0-D tensor; `parts` are detached named scalars for logging.
template <class L>
concept Loss = detail::scores_prediction<L>;

/// Updates the teacher's parameters from the student's after each optimizer step.
/// Smallest model: `ssl::teacher::None` (does nothing).
/// Contract: called under no-grad with the student's and the teacher's parameter lists (the
/// teacher's is empty when the recipe has none), in the same order.
template <class U>
concept TeacherUpdate = detail::updates_teacher<U>;

/// What the trainer iterates: a source of batches, beside the six concepts. Epoch-aware and
/// resumable: `run(epoch, b, f)` calls `f(batch, index)` for batches `b, b + 1, ...` of `epoch`
/// (until `f` returns false), and batch `b` of `epoch` is the same whether the epoch started at 0
/// or at `b` (the trainer's checkpoint records (epoch, batch) and resumes there). In a
/// data-parallel run each process iterates its own shard; `global_batch_size()` counts the
/// samples of one step over all processes.
/// Smallest model: `ssl::data::Loader` (data/loader.hpp) over in-memory tensors, an image folder
/// (data/image_folder.hpp) or a token store (data/token_store.hpp).
template <class S>
concept DataSource = detail::counts_batches<S> && detail::runs_from_position<S>;

/// The recipe's head: turns backbone features into the prediction of one view (MAE decoder,
/// MLM head, projector/predictor, DINO head). Not one of the six concepts: an ordinary module.
/// `forward(f, m)` returns a tensor, or a `HeadOutput` when it has extra outputs (BERT + NSP).
template <class H>
concept Head = detail::module_holder<H> && detail::predicts_from_features<H>;

}  // namespace ssl
