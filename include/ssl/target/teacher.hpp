#pragma once
/// \file target/teacher.hpp
/// A momentum teacher as a Target (BYOL, MoCo v3, DINO, iBOT): a copy of the student's backbone
/// and of the part of its head the method gives the teacher (BYOL / MoCo v3: the projector, not
/// the predictor; DINO: the whole head). The teacher encodes the *global* views without
/// gradient; its parameters never require gradient (so the optimizer skips them) and move only
/// through the recipe's `TeacherUpdate` (`teacher::Ema`), which `Compose` calls with
/// `student_parameters()` and `teacher_parameters()` of this target, in the same order
/// (`ssl::OwnsTeacher`).
///
/// Two holders over one module, by the pairing of teacher and student views (the type each
/// produces says which, so the Loss that scores it is checked at compile time):
///  - `Teacher<B, H>` (DINO, iBOT): `TeacherOutputs{t(g0), t(g1), ...}`, one per global view; the
///    loss pairs every student view with every teacher view except itself. With a head that has
///    extra outputs (iBOT's patch head: `HeadOutput`), `TeacherTokenOutputs`: also each global
///    view's first extra output, taken at the positions the student's masker hid in the same view
///    (the teacher itself sees the whole view).
///    The head also learns the student's target blocks (`Masked::blocks`, I-JEPA: the teacher's
///    `heads::BlockTokens` gives its tokens there).
///  - `CrossTeacher<B, H>` (BYOL, MoCo v3): two global views, `PairedEmbeddings{t(v1), t(v0)}`:
///    each student view is compared with the teacher's output of the *other* view
///    (loss/pairwise.hpp's convention).
///
/// The student modules are held (shared, not registered: they are registered once, in the
/// recipe) to read their parameters for the update; the copy is registered as `backbone` and
/// `head`, so checkpoints carry it. Cloning the whole recipe would leave the clone's teacher
/// following the original student: build a new recipe instead.
#include <ssl/concepts.hpp>
#include <ssl/core/types.hpp>
#include <ssl/core/view_batches.hpp>

#include <torch/torch.h>

#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace ssl::target {

namespace detail {
/// Whether head `H` returns extra outputs (`HeadOutput`) besides its main one.
template <class H>
inline constexpr bool has_extra_outputs =
    std::is_same_v<decltype(std::declval<H&>()->forward(std::declval<const Features&>(), std::declval<const Masked&>())),
                   HeadOutput>;
}  // namespace detail

/// The momentum teacher's module (held by `Teacher` and `CrossTeacher`, see the file comment): a
/// gradient-free copy of the student's backbone `B` and head part `H`, and the student modules it follows.
template <class B, class H>
class TeacherImpl : public torch::nn::Cloneable<TeacherImpl<B, H>> {
  static_assert(Backbone<B>, "target::Teacher: the 1st template argument must satisfy ssl::Backbone");
  static_assert(ssl::detail::module_holder<H>, "target::Teacher: the 2nd template argument must be a module holder");

 public:
  /// It owns a teacher (ssl::OwnsTeacher): `Compose` updates it after each optimizer step.
  static constexpr unsigned hooks = hook::teacher;
  /// What the teacher gives for `Teacher`'s pairing: with its head's extra outputs or without.
  using output_type = std::conditional_t<detail::has_extra_outputs<H>, TeacherTokenOutputs, TeacherOutputs>;

  /// `student_backbone` and `student_head` are the student's modules the teacher copies and follows.
  TeacherImpl(B student_backbone, H student_head)
      : student_backbone_(std::move(student_backbone)), student_head_(std::move(student_head)) {
    reset();
  }

  /// Copies the student's backbone and head (`clone()`), registers the copies as `backbone` and
  /// `head`, and turns their gradient off (`clone()` of this module calls it too).
  void reset() override {
    backbone = B(std::dynamic_pointer_cast<typename B::ContainedType>(student_backbone_->clone()));
    head = H(std::dynamic_pointer_cast<typename H::ContainedType>(student_head_->clone()));
    this->register_module("backbone", backbone.ptr());
    this->register_module("head", head.ptr());
    for (auto& p : this->parameters()) p.requires_grad_(false);
  }

  /// The teacher's output of one view: `[B, D]` (the head applied to the backbone's features).
  torch::Tensor encode(const torch::Tensor& x) {
    ModeGuard mode(*this);
    Masked m{.input = x};
    return head_output(head->forward(backbone->forward(m), m)).out;
  }

  /// The teacher's outputs of the global views and, with a head that has extra outputs, each
  /// global view's first extra output (see the file comment).
  TeacherTokenOutputs outputs(const Views& views, const Prediction& pred = {}) {
    torch::NoGradGuard g;
    ModeGuard mode(*this);
    TORCH_CHECK(!views.global.empty(), "target::Teacher: expected at least one global view, got none");
    TeacherTokenOutputs out;
    out.global.reserve(views.global.size());
    std::vector<Masked> whole, for_head;
    for (size_t i = 0; i < views.global.size(); ++i) {
      whole.push_back(Masked{.input = views.global[i]});
      const bool masked = i < pred.masked.size();
      for_head.push_back(Masked{.input = views.global[i],
                                .mask = masked ? pred.masked[i].mask : Tensor(),
                                .blocks = masked ? pred.masked[i].blocks : Tensor()});
    }
    for (auto& o : encode_views(backbone, head, whole, for_head, views.batch_same_size)) {
      auto h = head_output(std::move(o));
      out.global.push_back(std::move(h.out));
      if (h.patches.defined()) out.patches.push_back(std::move(h.patches));
    }
    TORCH_CHECK(out.patches.empty() || out.patches.size() == out.global.size(), "target::Teacher: the head gave extra ",
                "outputs for ", out.patches.size(), " of ", out.global.size(),
                " global views: the student's masker must mask every global view");
    return out;
  }

  /// `Teacher`'s pairing: one output per global view (and the patch outputs, with such a head).
  output_type forward(const Views& views, const Prediction& pred = {}) {
    auto out = outputs(views, pred);
    if constexpr (std::is_same_v<output_type, TeacherTokenOutputs>) return out;
    else return {std::move(out.global)};
  }

  /// `CrossTeacher`'s pairing: two global views, each student view against the other's output.
  PairedEmbeddings cross(const Views& views, const Prediction& pred = {}) {
    TORCH_CHECK(views.global.size() == 2 && views.local.empty(), "target::CrossTeacher: cross pairing expects exactly ",
                "two global views and no local ones, got ", views.global.size(), " global and ", views.local.size(),
                " local views");
    auto out = outputs(views, pred);
    return {{std::move(out.global[1]), std::move(out.global[0])}};
  }

  /// The student parameters the teacher follows (backbone, then head part), the teacher's order.
  std::vector<torch::Tensor> student_parameters() {
    auto v = student_backbone_->parameters();
    auto h = student_head_->parameters();
    v.insert(v.end(), h.begin(), h.end());
    return v;
  }
  /// The teacher's parameters, same order.
  std::vector<torch::Tensor> teacher_parameters() {
    auto v = backbone->parameters();
    auto h = head->parameters();
    v.insert(v.end(), h.begin(), h.end());
    return v;
  }

  B backbone{nullptr};  ///< the teacher's backbone: a copy of the student's
  H head{nullptr};      ///< the teacher's head: a copy of the student's head part
  /// Encode in evaluation mode (no dropout; BatchNorm's running statistics) whatever the
  /// module's mode, as data2vec's teacher does (`tm.eval()`); off (the default): the teacher
  /// follows the module's mode, as BYOL's, MoCo v3's, DINO's and iBOT's do.
  bool eval_mode = false;

 private:
  B student_backbone_;
  H student_head_;

  /// Puts the teacher in evaluation mode for one call when `eval_mode` asks, then back.
  struct ModeGuard {
    explicit ModeGuard(TeacherImpl& t) : t(t), backbone(t.backbone->is_training()), head(t.head->is_training()) {
      if (t.eval_mode) {
        t.backbone->eval();
        t.head->eval();
      }
    }
    ~ModeGuard() {
      if (t.eval_mode) {
        t.backbone->train(backbone);
        t.head->train(head);
      }
    }
    ModeGuard(const ModeGuard&) = delete;
    ModeGuard& operator=(const ModeGuard&) = delete;
    TeacherImpl& t;
    bool backbone, head;  // the modes to restore
  };

  static HeadOutput head_output(torch::Tensor t) { return {.out = std::move(t)}; }
  static HeadOutput head_output(HeadOutput o) { return o; }
};

/// The teacher with DINO's pairing. Example: `target::Teacher<vit::Encoder, heads::DINOHead>(enc, head)`.
template <class B, class H>
class Teacher : public torch::nn::ModuleHolder<TeacherImpl<B, H>> {
 public:
  using torch::nn::ModuleHolder<TeacherImpl<B, H>>::ModuleHolder;
  using Impl = TeacherImpl<B, H>;  ///< the module it holds
  /// The teacher's outputs of the global views (`TeacherImpl::forward`); `p` gives the student's masks.
  typename Impl::output_type operator()(const Views& v, const Prediction& p) { return this->get()->forward(v, p); }
};

/// The teacher with BYOL's and MoCo v3's cross pairing. Example:
/// `target::CrossTeacher<resnet::Encoder, heads::Mlp>(enc, head->projector)`.
template <class B, class H>
class CrossTeacher : public torch::nn::ModuleHolder<TeacherImpl<B, H>> {
  static_assert(!detail::has_extra_outputs<H>, "target::CrossTeacher: the head must not have extra outputs (HeadOutput): "
                                               "cross pairing compares one embedding per view; use target::Teacher");

 public:
  using torch::nn::ModuleHolder<TeacherImpl<B, H>>::ModuleHolder;
  using Impl = TeacherImpl<B, H>;  ///< the module it holds
  /// `{t(v1), t(v0)}`: the teacher's output of the other global view (`TeacherImpl::cross`).
  PairedEmbeddings operator()(const Views& v, const Prediction& p) { return this->get()->cross(v, p); }
};

}  // namespace ssl::target
