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
///     auto targets = target(views, pred)                 // Target: a typed value (PixelPatches, ...)
///     LossOutput out = loss(pred, targets)               // Loss: scores that type, and only it
///     ... optimizer step ...
///     teacher_update(student params, teacher params, info)  // TeacherUpdate
///
/// Optional hooks (`set_step`, a target's teacher, a masker told which views are global) are
/// concepts too (`StepAware`, `OwnsTeacher`, `MasksByViewKind`, at the end of this file).
///
/// Each concept is written in two layers: one `detail::` check per requirement, and the public
/// concept that combines them, so a failed constraint names the requirement that broke.
#include <ssl/core/types.hpp>

#include <torch/torch.h>

#include <concepts>
#include <type_traits>
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

/// `p(a...)` for a part `P`, probed so that a call that does not fit is `false` on every
/// compiler: a module holder's `operator()` computes its return type from `forward` outside the
/// immediate context, where clang makes a failed probe a hard error, so a holder is probed
/// through `p->forward(a...)`, anything else through `p(a...)`.
template <class P, class... A>
concept holder_call = module_holder<P> && requires(P p, A&&... a) { p->forward(static_cast<A&&>(a)...); };
template <class P, class... A>
concept value_call = !module_holder<P> && std::invocable<P&, A...>;
template <class P, class... A>
concept part_callable = value_call<P, A...> || holder_call<P, A...>;
/// What `p(a...)` returns (a holder's `operator()` returns what its `forward` does).
template <class P, class... A>
  requires part_callable<P, A...>
using part_result_t = std::invoke_result_t<P&, A...>;

template <class B>
concept encodes_masked = requires(B b, const Masked& m) {
  { b->forward(m) } -> std::same_as<Features>;
};
template <class B>
concept reports_dim = requires(B b) {
  { b->dim() } -> std::convertible_to<int64_t>;
};
template <class M>
concept masks_batch = part_callable<M, const torch::Tensor&> && std::same_as<part_result_t<M, const torch::Tensor&>, Masked>;
template <class A>
concept makes_views = part_callable<A, const torch::Tensor&> && std::same_as<part_result_t<A, const torch::Tensor&>, Views>;
template <class T>
concept targets_views = part_callable<T, const Views&, const Prediction&> &&
                        !std::is_void_v<part_result_t<T, const Views&, const Prediction&>>;

/// The parameter types of a (member) function: the second one is what a Loss scores.
template <class F>
struct second_parameter {};
template <class R, class C, class A1, class A2>
struct second_parameter<R (C::*)(A1, A2)> { using type = std::remove_cvref_t<A2>; };
template <class R, class C, class A1, class A2>
struct second_parameter<R (C::*)(A1, A2) const> { using type = std::remove_cvref_t<A2>; };
template <class R, class C, class A1, class A2>
struct second_parameter<R (C::*)(A1, A2) noexcept> { using type = std::remove_cvref_t<A2>; };
template <class R, class C, class A1, class A2>
struct second_parameter<R (C::*)(A1, A2) const noexcept> { using type = std::remove_cvref_t<A2>; };

/// What a loss scores: its `target_type` when it names one; else the type of the second
/// parameter of its `operator()` (a plain struct) or of its `forward` (a module holder).
template <class L>
struct loss_target {};
template <class L>
  requires requires { typename L::target_type; }
struct loss_target<L> { using type = typename L::target_type; };
template <class L>
  requires(!requires { typename L::target_type; } && !module_holder<L> &&
           requires { typename second_parameter<decltype(&L::operator())>::type; })
struct loss_target<L> { using type = typename second_parameter<decltype(&L::operator())>::type; };
template <class L>
  requires(!requires { typename L::target_type; } && module_holder<L> &&
           requires { typename L::ContainedType::target_type; })
struct loss_target<L> { using type = typename L::ContainedType::target_type; };
template <class L>
  requires(!requires { typename L::target_type; } && module_holder<L> &&
           !requires { typename L::ContainedType::target_type; } &&
           requires { typename second_parameter<decltype(&L::ContainedType::forward)>::type; })
struct loss_target<L> { using type = typename second_parameter<decltype(&L::ContainedType::forward)>::type; };

template <class L>
concept names_its_target = requires { typename loss_target<L>::type; };
template <class L, class X>
concept scores_prediction = part_callable<L, const Prediction&, const X&> &&
                            std::same_as<part_result_t<L, const Prediction&, const X&>, LossOutput>;
template <class U>
concept updates_teacher =
    part_callable<U, const std::vector<torch::Tensor>&, const std::vector<torch::Tensor>&, const StepInfo&> &&
    std::same_as<part_result_t<U, const std::vector<torch::Tensor>&, const std::vector<torch::Tensor>&, const StepInfo&>,
                 void>;
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
/// Smallest model: `struct Input { ssl::PixelPatches operator()(const ssl::Views& v,
///                  const ssl::Prediction&) const { return {v.all()}; } };`
/// Contract: returns one of the target types (core/types.hpp: `PairedEmbeddings`, `PixelPatches`,
/// `TeacherOutputs`, `TeacherTokenOutputs`, `TokenLabels`, `ReplacedTokenLabels`, or a type of
/// your own): the type says what the tensors mean, and only a `Loss` that scores that type
/// composes with it. Gradient flows through it only where the method wants it to (teacher
/// targets are computed without).
template <class T>
concept Target = detail::targets_views<T>;

/// What a `Target` produces (the return type of `t(views, prediction)`).
template <Target T>
using target_output_t = std::remove_cvref_t<std::invoke_result_t<T&, const Views&, const Prediction&>>;

/// Scores the prediction against the target.
/// Smallest model: `struct L1 { ssl::LossOutput operator()(const ssl::Prediction& p,
///                  const ssl::PixelPatches& t) const { auto l = (p.views[0] - t.views[0]).abs().mean(); return {l, {}}; } };`
/// Contract: names what it scores, as the type of its second parameter (or `using target_type`
/// when its call operator is a template or overloaded); `loss` is a 0-D tensor; `parts` are
/// detached named scalars for logging.
template <class L>
concept Loss = detail::names_its_target<L> && detail::scores_prediction<L, typename detail::loss_target<L>::type>;

/// What a `Loss` scores.
template <Loss L>
using loss_target_t = typename detail::loss_target<L>::type;

/// A Loss that scores what the Target `T` produces: the pairing `ssl::Compose` requires.
template <class L, class T>
concept LossAccepts = Loss<L> && Target<T> && std::same_as<loss_target_t<L>, target_output_t<T>>;

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
/// MLM head, projector/predictor, DINO head). The seventh part of a recipe, beside the six
/// concepts: `forward(f, m)` returns a tensor, or a `HeadOutput` when it has extra outputs
/// (BERT's next-sentence logits, SimSiam's projection, iBOT's patch outputs).
template <class H>
concept Head = detail::module_holder<H> && detail::predicts_from_features<H>;

// ---- Optional hooks -----------------------------------------------------------------------------
// `ssl::Compose` calls these when a part implements them. A part says which it implements with
// `static constexpr unsigned hooks = ssl::hook::step | ...;` (in the `Impl` of a module): then a
// hook it declares but does not implement (a misspelt `set_step`) is a compile error that names
// the hook, and so is a member with a hook's name but not its signature, declared or not.

// The flags themselves (`ssl::hook::step`, ...) are in core/types.hpp, so that a part declares
// them without including this file.

namespace detail {
template <class P>
concept step_by_value = requires(P p, const StepInfo& i) { p.set_step(i); };
template <class P>
concept step_by_holder = module_holder<P> && requires(P p, const StepInfo& i) { p->set_step(i); };
template <class P>
concept step_named = requires { &P::set_step; } || (module_holder<P> && requires { &P::ContainedType::set_step; });

template <class T>
concept teacher_by_holder = module_holder<T> && requires(T t) {
  { t->teacher_parameters() } -> std::same_as<std::vector<torch::Tensor>>;
  { t->student_parameters() } -> std::same_as<std::vector<torch::Tensor>>;
};
template <class T>
concept teacher_named = (module_holder<T> && (requires { &T::ContainedType::teacher_parameters; } ||
                                              requires { &T::ContainedType::student_parameters; })) ||
                        requires { &T::teacher_parameters; } || requires { &T::student_parameters; };

/// The module-holder check comes first: a holder's `operator()` is not substitution-friendly.
template <class M>
concept masks_view_kind_by_value = !module_holder<M> && requires(M m, const torch::Tensor& x, bool global) {
  { m(x, global) } -> std::same_as<Masked>;
};
template <class M>
concept masks_view_kind_by_holder = module_holder<M> && requires(M m, const torch::Tensor& x, bool global) {
  { m->forward(x, global) } -> std::same_as<Masked>;
};

/// The hooks a part declares (0 when it declares none).
template <class P>
constexpr unsigned declared_hooks() {
  if constexpr (requires { P::hooks; }) return P::hooks;
  else if constexpr (module_holder<P> && requires { P::ContainedType::hooks; }) return P::ContainedType::hooks;
  else return hook::none;
}
}  // namespace detail

/// A part that learns where the run is before each step: `void set_step(const ssl::StepInfo&)`
/// (DINO's teacher-temperature schedule, its head's frozen last layer in the first epoch).
/// Smallest model: `struct Sched { void set_step(const ssl::StepInfo& i) { epoch = i.epoch; } int64_t epoch = 0; };`
template <class P>
concept StepAware = detail::step_by_value<P> || detail::step_by_holder<P>;

/// A Target that owns a momentum teacher (module holder): `teacher_parameters()` and the
/// `student_parameters()` the teacher follows, in the same order; `Compose` hands both to the
/// recipe's `TeacherUpdate` after each optimizer step. Model: `target::Teacher`.
template <class T>
concept OwnsTeacher = Target<T> && detail::teacher_by_holder<T>;

/// A Masker told whether each view is global: `Masked m(view, is_global)` for a plain masker,
/// `forward(view, is_global)` for a module (iBOT masks only the global crops). Model:
/// `masker::Blockwise`.
template <class M>
concept MasksByViewKind = Masker<M> && (detail::masks_view_kind_by_value<M> || detail::masks_view_kind_by_holder<M>);

}  // namespace ssl
