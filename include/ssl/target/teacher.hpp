#pragma once
/// \file target/teacher.hpp
/// A momentum teacher as a Target (BYOL, MoCo v3, DINO, iBOT): a copy of the student's backbone
/// and of the part of its head the method gives the teacher (BYOL / MoCo v3: the projector, not
/// the predictor; DINO: the whole head). The teacher encodes the *global* views without
/// gradient; its parameters never require gradient (so the optimizer skips them) and move only
/// through the recipe's `TeacherUpdate` (`teacher::Ema`), which `Compose` calls with
/// `student_parameters()` and `teacher_parameters()` of this target, in the same order.
///
/// With a head that has extra outputs (iBOT's patch head), each global view's first extra output
/// follows the main ones: `{t(g0), t(g1), patch(g0), patch(g1)}`, the patch outputs taken at the
/// positions the student's masker hid in the same view (the teacher itself sees the whole view).
///
/// Pairing (`TeacherOptions::cross`):
///  - `cross = true` (BYOL, MoCo v3): two global views, `targets = {t(v1), t(v0)}`: each
///    student view is compared with the teacher's output of the *other* view
///    (loss/pairwise.hpp's convention).
///  - `cross = false` (DINO): `targets = {t(g0), t(g1), ...}`, one per global view; the loss
///    pairs every student view with every teacher view except itself.
///
/// The student modules are held (shared, not registered: they are registered once, in the
/// recipe) to read their parameters for the update; the copy is registered as `backbone` and
/// `head`, so checkpoints carry it. Cloning the whole recipe would leave the clone's teacher
/// following the original student: build a new recipe instead.
#include <ssl/concepts.hpp>
#include <ssl/core/types.hpp>
#include <ssl/core/view_batches.hpp>

#include <memory>
#include <vector>

namespace ssl::target {

struct TeacherOptions {
  bool cross = false;
};

template <class B, class H>
class TeacherImpl : public torch::nn::Cloneable<TeacherImpl<B, H>> {
  static_assert(Backbone<B>, "target::Teacher: the 1st template argument must satisfy ssl::Backbone");
  static_assert(ssl::detail::module_holder<H>, "target::Teacher: the 2nd template argument must be a module holder");

 public:
  /// `student_backbone` and `student_head` are the student's modules the teacher copies and follows.
  TeacherImpl(B student_backbone, H student_head, TeacherOptions options = {})
      : options(options), student_backbone_(std::move(student_backbone)), student_head_(std::move(student_head)) {
    reset();
  }

  void reset() override {
    backbone = B(std::dynamic_pointer_cast<typename B::ContainedType>(student_backbone_->clone()));
    head = H(std::dynamic_pointer_cast<typename H::ContainedType>(student_head_->clone()));
    this->register_module("backbone", backbone.ptr());
    this->register_module("head", head.ptr());
    for (auto& p : this->parameters()) p.requires_grad_(false);
  }

  /// The teacher's output of one view: `[B, D]` (the head applied to the backbone's features).
  torch::Tensor encode(const torch::Tensor& x) {
    Masked m{.input = x};
    return head_output(head->forward(backbone->forward(m), m)).out;
  }

  std::vector<torch::Tensor> operator()(const Views& views, const Prediction& pred) { return forward(views, pred); }

  /// The targets of the global views (see the file comment). A head with extra outputs (iBOT's
  /// patch head) sees the whole view through the backbone and the student's mask of the same
  /// view in its `Masked` (which patches to predict); its first extra output per global view
  /// follows the main outputs: `{out(g0), ..., out(gk), aux(g0), ..., aux(gk)}`.
  std::vector<torch::Tensor> forward(const Views& views, const Prediction& pred = {}) {
    torch::NoGradGuard g;
    TORCH_CHECK(!views.global.empty(), "target::Teacher: expected at least one global view, got none");
    std::vector<torch::Tensor> out, aux;
    out.reserve(views.global.size());
    std::vector<Masked> whole, for_head;
    for (size_t i = 0; i < views.global.size(); ++i) {
      whole.push_back(Masked{.input = views.global[i]});
      for_head.push_back(Masked{.input = views.global[i], .mask = i < pred.masked.size() ? pred.masked[i].mask : Tensor()});
    }
    for (auto& o : encode_views(backbone, head, whole, for_head, views.batch_same_size)) {
      auto h = head_output(std::move(o));
      out.push_back(std::move(h.out));
      if (!h.aux.empty()) aux.push_back(std::move(h.aux[0]));
    }
    TORCH_CHECK(aux.empty() || aux.size() == out.size(), "target::Teacher: the head gave extra outputs for ", aux.size(),
                " of ", out.size(), " global views: the student's masker must mask every global view");
    if (options.cross) {
      TORCH_CHECK(out.size() == 2 && views.local.empty() && aux.empty(), "target::Teacher: cross pairing expects exactly two ",
                  "global views, no local ones and a head without extra outputs, got ", views.global.size(), " global and ",
                  views.local.size(), " local views");
      std::swap(out[0], out[1]);
    }
    out.insert(out.end(), aux.begin(), aux.end());
    return out;
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

  TeacherOptions options;
  B backbone{nullptr};
  H head{nullptr};

 private:
  B student_backbone_;
  H student_head_;

  static HeadOutput head_output(torch::Tensor t) { return {std::move(t), {}}; }
  static HeadOutput head_output(HeadOutput o) { return o; }
};

/// The module holder. Example: `target::Teacher<resnet::Encoder, heads::Mlp>(enc, head->projector, {.cross = true})`.
template <class B, class H>
class Teacher : public torch::nn::ModuleHolder<TeacherImpl<B, H>> {
 public:
  using torch::nn::ModuleHolder<TeacherImpl<B, H>>::ModuleHolder;
  using Impl = TeacherImpl<B, H>;
  std::vector<torch::Tensor> operator()(const Views& v, const Prediction& p) { return this->get()->forward(v, p); }
};

}  // namespace ssl::target
