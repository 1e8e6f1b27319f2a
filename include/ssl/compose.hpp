#pragma once
/// \file compose.hpp
/// `ssl::Compose`: a recipe is one model of each concept plus a head, put together at compile
/// time. It is the only "training step" of the library; the trainer drives it without knowing
/// which method it is.
///
/// A recipe's parts are checked when it is composed: each part against its concept, the Target
/// against the Loss (`ssl::LossAccepts`: the Loss must score the type the Target produces), and
/// each part's optional hooks (`ssl::StepAware`, `ssl::OwnsTeacher`, `ssl::MasksByViewKind`).
/// One slot of a recipe can be swapped for another part, the rest kept:
///
///     auto r = mae::recipe(o).replace<slot::loss>(MyLoss{.beta = 0.5});  // a mae::Recipe::with_loss<MyLoss>
#include <ssl/concepts.hpp>
#include <ssl/core/types.hpp>
#include <ssl/core/view_batches.hpp>

#include <torch/torch.h>

#include <type_traits>
#include <utility>
#include <vector>

namespace ssl {

/// The seven slots of a recipe, by name (`Compose::replace<slot::loss>(...)`, compile errors).
namespace slot {
struct backbone {};        ///< the `Backbone` (1st part)
struct masker {};          ///< the `Masker` (2nd part)
struct augment {};         ///< the `Augmenter` (3rd part)
struct target {};          ///< the `Target` (4th part)
struct loss {};            ///< the `Loss` (5th part)
struct teacher_update {};  ///< the `TeacherUpdate` (6th part)
struct head {};            ///< the head module (7th part)
}  // namespace slot

/// The parts of a recipe, by name. Example:
///     Parts<vit::Encoder, masker::RandomPatches, ...>{.backbone = enc, .masker = {.patch = 4}, ...}
template <class B, class M, class A, class T, class L, class U, class H>
struct Parts {
  B backbone;        ///< encodes each masked view into `Features` (`ssl::Backbone`)
  M masker;          ///< hides part of each view (`ssl::Masker`)
  A augment;         ///< makes the views of a batch (`ssl::Augmenter`)
  T target;          ///< what the predictions are compared with (`ssl::Target`)
  L loss;            ///< scores the predictions against the target (`ssl::Loss`)
  U teacher_update;  ///< moves the teacher after each optimizer step (`ssl::TeacherUpdate`)
  H head;            ///< turns a view's features into its prediction (`ssl::Head`)
};

namespace detail {
template <class P>
void register_if_module(torch::nn::Module& self, const char* name, P& part) {
  if constexpr (module_holder<P>) self.register_module(name, part.ptr());
}

/// The Target (4th part) must produce what the Loss (5th part) scores. Instantiated with both
/// types, so the compiler's message names them: `target_feeds_loss<Produced, Scored>`.
template <class Produced, class Scored>
struct target_feeds_loss {
  static_assert(std::is_same_v<Produced, Scored>,
                "ssl::Compose: the Target (4th part) and the Loss (5th part) do not agree: the Target produces "
                "`Produced` and the Loss scores `Scored` (the two template arguments of this check). Pair the "
                "Loss with a Target that produces what it scores (ssl::LossAccepts)");
  static constexpr bool value = std::is_same_v<Produced, Scored>;
};

/// Whether Target `T` produces what Loss `L` scores (true when either is not a model of its
/// concept: that is reported on its own).
template <class T, class L>
constexpr bool target_loss_agree() {
  if constexpr (Target<T> && Loss<L>) return target_feeds_loss<target_output_t<T>, loss_target_t<L>>::value;
  else return true;
}

/// A part's optional hooks: a declared hook must be implemented, and a member with a hook's name
/// must have its signature. Instantiated with the part and its slot, so the message names both.
template <class Part, class Slot>
struct check_hooks {
  static constexpr unsigned declared = declared_hooks<Part>();
  static_assert(!(declared & hook::step) || StepAware<Part>,
                "ssl::Compose: a part (the `Part` of this check, in slot `Slot`) declares ssl::hook::step but is "
                "not ssl::StepAware: it needs `void set_step(const ssl::StepInfo&)` (is the name misspelt?)");
  static_assert(!step_named<Part> || StepAware<Part>,
                "ssl::Compose: a part (the `Part` of this check, in slot `Slot`) has a member `set_step` that is not "
                "callable as `set_step(const ssl::StepInfo&)` (ssl::StepAware): fix its signature");
  static_assert(!(declared & hook::teacher) || (std::is_same_v<Slot, slot::target> && OwnsTeacher<Part>),
                "ssl::Compose: a part (the `Part` of this check, in slot `Slot`) declares ssl::hook::teacher but is "
                "not an ssl::OwnsTeacher Target: it needs `std::vector<Tensor> teacher_parameters()` and "
                "`std::vector<Tensor> student_parameters()` (is a name misspelt?)");
  static_assert(!std::is_same_v<Slot, slot::target> || !teacher_named<Part> || OwnsTeacher<Part>,
                "ssl::Compose: the Target (the `Part` of this check) has a member `teacher_parameters` or "
                "`student_parameters` but is not ssl::OwnsTeacher: it needs both, as module members returning "
                "`std::vector<Tensor>`");
  static_assert(!(declared & hook::view_kind) || (std::is_same_v<Slot, slot::masker> && MasksByViewKind<Part>),
                "ssl::Compose: a part (the `Part` of this check, in slot `Slot`) declares ssl::hook::view_kind but is "
                "not an ssl::MasksByViewKind Masker: it needs `Masked operator()(const Tensor& view, bool is_global)`");
  static constexpr bool value = true;
};

/// The part of slot `Field` in a recipe whose slot `Replaced` is being replaced: the replacement
/// there, else (a copy of) the old part.
template <class Replaced, class Field, class Old, class New>
auto pick(const Old& old, const New& replacement) {
  if constexpr (std::is_same_v<Replaced, Field>) return New(replacement);
  else return Old(old);
}
}  // namespace detail

/// The module of a composed recipe (held by `ssl::Compose`): the seven parts, each checked
/// against its concept at compile time, and the training step over them. Registers the backbone,
/// the head and every part that is a module, so `parameters()`, `to()` and checkpoints see them.
template <class B, class M, class A, class T, class L, class U, class H>
class ComposeImpl : public torch::nn::Module {
  static_assert(Backbone<B>, "ssl::Compose: the 1st part must satisfy the ssl::Backbone concept: a "
                             "TORCH_MODULE with `Features forward(const Masked&)` and `int64_t dim()`");
  static_assert(Masker<M>, "ssl::Compose: the 2nd part must satisfy the ssl::Masker concept: "
                           "`Masked operator()(const Tensor& batch)`");
  static_assert(Augmenter<A>, "ssl::Compose: the 3rd part must satisfy the ssl::Augmenter concept: "
                              "`Views operator()(const Tensor& batch)`");
  static_assert(Target<T>, "ssl::Compose: the 4th part must satisfy the ssl::Target concept: "
                           "`X operator()(const Views&, const Prediction&)` for a target type X (core/types.hpp)");
  static_assert(Loss<L>, "ssl::Compose: the 5th part must satisfy the ssl::Loss concept: "
                         "`LossOutput operator()(const Prediction&, const X& target)` for the target type X it scores");
  static_assert(TeacherUpdate<U>,
                "ssl::Compose: the 6th part must satisfy the ssl::TeacherUpdate concept: `void "
                "operator()(const std::vector<Tensor>& student, const std::vector<Tensor>& "
                "teacher, const StepInfo&)`");
  static_assert(Head<H>, "ssl::Compose: the 7th part must satisfy the ssl::Head concept: a TORCH_MODULE with "
                         "`Tensor forward(const Features&, const Masked&)` or `HeadOutput forward(...)`");
  static_assert(detail::target_loss_agree<T, L>(),
                "ssl::Compose: the Target (4th part) and the Loss (5th part) do not agree (see target_feeds_loss)");
  static_assert(detail::check_hooks<B, slot::backbone>::value && detail::check_hooks<M, slot::masker>::value &&
                detail::check_hooks<A, slot::augment>::value && detail::check_hooks<T, slot::target>::value &&
                detail::check_hooks<L, slot::loss>::value && detail::check_hooks<U, slot::teacher_update>::value &&
                detail::check_hooks<H, slot::head>::value);

 public:
  /// The parts of this recipe, by name.
  using PartsType = Parts<B, M, A, T, L, U, H>;

  /// Takes the parts and registers those that are modules as submodules.
  explicit ComposeImpl(PartsType parts) : p_(std::move(parts)) {
    detail::register_if_module(*this, "backbone", p_.backbone);
    detail::register_if_module(*this, "head", p_.head);
    detail::register_if_module(*this, "masker", p_.masker);
    detail::register_if_module(*this, "augment", p_.augment);
    detail::register_if_module(*this, "target", p_.target);
    detail::register_if_module(*this, "loss", p_.loss);
  }

  /// Student forward for every view of the batch: the prediction and the masking of each. A
  /// masker that is `MasksByViewKind` learns which views are global (iBOT masks only those).
  /// Every view is masked first; then the backbone encodes the views (same-shape views as one
  /// batch when the augmenter allows it: core/view_batches.hpp), and the head sees each view.
  Prediction predict(const Views& views) {
    Prediction pred;
    const auto all = views.all();
    for (size_t i = 0; i < all.size(); ++i) pred.masked.push_back(mask_view(all[i], i < views.global.size()));
    auto outs = encode_views(p_.backbone, p_.head, pred.masked, pred.masked, views.batch_same_size);
    for (auto& out : outs) {
      if constexpr (std::is_same_v<std::decay_t<decltype(out)>, HeadOutput>) {
        pred.views.push_back(std::move(out.out));
        pred.extra.push_back(std::move(out));
      } else {
        pred.views.push_back(std::move(out));
        pred.extra.emplace_back();
      }
    }
    return pred;
  }

  /// The masking of one view (`is_global`: whether it is one of the global views).
  Masked mask_view(const torch::Tensor& v, bool global) {
    if constexpr (detail::masks_view_kind_by_value<M>) return p_.masker(v, global);
    else if constexpr (detail::masks_view_kind_by_holder<M>) return p_.masker->forward(v, global);
    else return p_.masker(v);
  }

  /// One step's loss on a clean batch. The batch's labels, if any, reach the target as
  /// `Views::labels` (BERT's next-sentence labels); most targets ignore them.
  LossOutput forward(const Batch& batch) {
    Views views = p_.augment(batch.input);
    views.labels = batch.target;
    Prediction pred = predict(views);
    return p_.loss(pred, p_.target(views, pred));
  }

  /// Called by the trainer before each step: every `StepAware` part learns where the run is
  /// (DINO's teacher-temperature schedule, its head's frozen first epoch, ...).
  void before_step(const StepInfo& info) {
    set_step(p_.backbone, info);
    set_step(p_.masker, info);
    set_step(p_.augment, info);
    set_step(p_.target, info);
    set_step(p_.loss, info);
    set_step(p_.head, info);
  }

  /// Called by the trainer after each optimizer step.
  void after_optimizer_step(const StepInfo& info) {
    torch::NoGradGuard g;
    p_.teacher_update(followed_parameters(), teacher_parameters(), info);
  }

  /// Backbone + head parameters (what the optimizer trains).
  std::vector<torch::Tensor> student_parameters() {
    auto v = p_.backbone->parameters();
    auto h = p_.head->parameters();
    v.insert(v.end(), h.begin(), h.end());
    return v;
  }
  /// The teacher's parameters, when the target owns a teacher (`OwnsTeacher`), else none.
  std::vector<torch::Tensor> teacher_parameters() {
    if constexpr (OwnsTeacher<T>) return p_.target->teacher_parameters();
    else return {};
  }
  /// The student parameters the teacher follows, in the teacher's order: the target's
  /// `student_parameters()` when it owns a teacher (BYOL's teacher has no predictor), else all.
  std::vector<torch::Tensor> followed_parameters() {
    if constexpr (OwnsTeacher<T>) return p_.target->student_parameters();
    else return student_parameters();
  }

  /// Frozen features of a batch for evaluation (no masking, no augmentation).
  Features encode(const torch::Tensor& x) { return p_.backbone->forward(Masked{.input = x}); }

  B& backbone() { return p_.backbone; }              ///< the backbone part
  M& masker() { return p_.masker; }                  ///< the masker part
  A& augment() { return p_.augment; }                ///< the augmenter part
  T& target() { return p_.target; }                  ///< the target part
  L& loss() { return p_.loss; }                      ///< the loss part
  U& teacher_update() { return p_.teacher_update; }  ///< the teacher-update part
  H& head() { return p_.head; }                      ///< the head part
  /// Every part (module parts are shared, not copied).
  [[nodiscard]] const PartsType& parts() const { return p_; }

 private:
  template <class P>
  static void set_step(P& part, const StepInfo& info) {
    if constexpr (detail::step_by_holder<P>) part->set_step(info);
    else if constexpr (detail::step_by_value<P>) part.set_step(info);
  }

  PartsType p_;
};

/// The module holder of a composed recipe (like `TORCH_MODULE`, for a template).
/// `Recipe::with_loss<L2>` (and `with_target`, ..., or `rebind<slot::loss, L2>`) is the type of
/// the same recipe with one slot changed; `recipe.replace<slot::loss>(value)` builds it, sharing
/// the other parts' modules with `recipe` (build a fresh recipe when both must train apart).
template <class B, class M, class A, class T, class L, class U, class H>
class Compose : public torch::nn::ModuleHolder<ComposeImpl<B, M, A, T, L, U, H>> {
 public:
  using Impl = ComposeImpl<B, M, A, T, L, U, H>;  ///< the module it holds
  using PartsType = typename Impl::PartsType;     ///< the parts of this recipe, by name
  using torch::nn::ModuleHolder<Impl>::ModuleHolder;
  /// Builds the recipe from its parts: `Recipe({.backbone = ..., .loss = {...}, .head = ...})`
  /// (a part left out is value-initialised).
  explicit Compose(PartsType parts) : torch::nn::ModuleHolder<Impl>(std::make_shared<Impl>(std::move(parts))) {}

  /// The same recipe type with the part in slot `S` of type `X`.
  template <class S, class X>
  using rebind = Compose<std::conditional_t<std::is_same_v<S, slot::backbone>, X, B>,
                         std::conditional_t<std::is_same_v<S, slot::masker>, X, M>,
                         std::conditional_t<std::is_same_v<S, slot::augment>, X, A>,
                         std::conditional_t<std::is_same_v<S, slot::target>, X, T>,
                         std::conditional_t<std::is_same_v<S, slot::loss>, X, L>,
                         std::conditional_t<std::is_same_v<S, slot::teacher_update>, X, U>,
                         std::conditional_t<std::is_same_v<S, slot::head>, X, H>>;
  template <class X> using with_backbone = rebind<slot::backbone, X>;              ///< `X` as the backbone
  template <class X> using with_masker = rebind<slot::masker, X>;                  ///< `X` as the masker
  template <class X> using with_augment = rebind<slot::augment, X>;                ///< `X` as the augmenter
  template <class X> using with_target = rebind<slot::target, X>;                  ///< `X` as the target
  template <class X> using with_loss = rebind<slot::loss, X>;                      ///< `X` as the loss
  template <class X> using with_teacher_update = rebind<slot::teacher_update, X>;  ///< `X` as the teacher update
  template <class X> using with_head = rebind<slot::head, X>;                      ///< `X` as the head

  /// This recipe's parts with slot `S` replaced by `part`.
  template <class S, class X>
  rebind<S, X> replace(X part) const {
    const auto& o = (*this)->parts();
    return rebind<S, X>({
        .backbone = detail::pick<S, slot::backbone>(o.backbone, part),
        .masker = detail::pick<S, slot::masker>(o.masker, part),
        .augment = detail::pick<S, slot::augment>(o.augment, part),
        .target = detail::pick<S, slot::target>(o.target, part),
        .loss = detail::pick<S, slot::loss>(o.loss, part),
        .teacher_update = detail::pick<S, slot::teacher_update>(o.teacher_update, part),
        .head = detail::pick<S, slot::head>(o.head, part),
    });
  }
};

}  // namespace ssl
