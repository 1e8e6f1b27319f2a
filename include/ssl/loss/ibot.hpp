#pragma once
/// \file loss/ibot.hpp
/// iBOT's loss (Zhou et al., 2022), in DINOv2's form (lightly's `DINOLoss` + `IBOTPatchLoss`):
///
///     loss = lambda_cls * DINO(CLS outputs)  +  lambda_patch * patch loss
///
/// - CLS: `loss::DINOLoss` unchanged (every student view against every teacher global view but
///   itself, centred and sharpened teacher, its own centre and temperature schedule).
/// - Patch: at the patches the student's masker hid in each global view, the cross-entropy
///   between the teacher's patch distribution `softmax((t - c_patch) / T_t)` (the teacher saw the
///   whole view) and the student's `log_softmax(s / T_s)`, averaged per image over its hidden
///   patches, then summed over images and divided by the number of images over all global views
///   (an image with nothing hidden counts with 0). The patch centre `c_patch` follows the mean of
///   the teacher's patch outputs at the hidden positions (all processes), momentum 0.9, after
///   the loss; the teacher temperature is the CLS schedule's.
///
/// Convention (what `target::Teacher` and `heads::IBOTHead` produce): `pred.views` the student's
/// CLS outputs of every view, globals first; `pred.extra[i].patches` the student's patch outputs at the
/// hidden positions of global view i (`[M_i, K]`) and `pred.masked[i].mask` its mask `[B, N]`;
/// `targets = {cls(g0) .. cls(gk), patch(g0) .. patch(gk)}` from the teacher.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/dist/collective.hpp>
#include <ssl/loss/dino.hpp>

#include <vector>

namespace ssl::loss {

/// Example: `IBOTLossOptions(DINOLossOptions(1024).warmup_teacher_temp_epochs(0), 1024)`.
struct IBOTLossOptions {
  /// The CLS term's options and the width of the patch head's outputs.
  IBOTLossOptions(DINOLossOptions cls, int64_t patch_out_dim) : cls_(std::move(cls)), patch_out_dim_(patch_out_dim) {}
  /// The CLS term: a `loss::DINOLoss` of these options (its temperatures and schedule are the
  /// patch term's too).
  TORCH_ARG(DINOLossOptions, cls);
  TORCH_ARG(int64_t, patch_out_dim);  ///< K of the patch outputs `[M, K]`: the patch centre's width
  TORCH_ARG(double, patch_center_momentum) = 0.9;  ///< momentum of the patch centre's moving average
  TORCH_ARG(double, lambda_cls) = 1.0;  ///< weight of the CLS (DINO) term
  TORCH_ARG(double, lambda_patch) = 1.0;  ///< weight of the patch term
};

/// iBOT's loss (see the file comment): a module holding the CLS term's `DINOLoss` and the patch
/// centre buffer. Models `ssl::Loss` for `TeacherTokenOutputs`.
class IBOTLossImpl : public torch::nn::Cloneable<IBOTLossImpl> {
 public:
  /// Its teacher-temperature schedule follows the run (ssl::StepAware): Compose must call `set_step`.
  static constexpr unsigned hooks = hook::step;
  /// The loss of `options`, both centres at zero.
  explicit IBOTLossImpl(IBOTLossOptions options) : options(std::move(options)) { reset(); }

  /// Registers the CLS loss `cls` and the patch centre buffer `[patch_out_dim]`, zeros (`clone()`
  /// calls it too).
  void reset() override {
    TORCH_CHECK(options.patch_out_dim() > 0, "loss::IBOTLoss: expected patch_out_dim > 0, got ", options.patch_out_dim());
    cls = register_module("cls", DINOLoss(options.cls()));
    patch_center = register_buffer("patch_center", torch::zeros({options.patch_out_dim()}));
  }

  /// The patch loss alone (no centre update): teacher / student `[M, K]` rows at the hidden
  /// positions of `mask` `[B, N]` (row-major), centre `[K]`.
  [[nodiscard]] static torch::Tensor patch_of(const torch::Tensor& teacher, const torch::Tensor& student,
                                              const torch::Tensor& mask, const torch::Tensor& center, double teacher_temp,
                                              double student_temp) {
    constexpr const char* who = "loss::IBOTLoss";
    TORCH_CHECK(mask.defined() && mask.dim() == 2 && mask.scalar_type() == torch::kBool, who,
                ": expected a bool mask [B, N], got ", ssl::detail::shape_str(mask));
    TORCH_CHECK(teacher.dim() == 2 && teacher.sizes() == student.sizes(), who,
                ": expected teacher and student patch outputs of the same shape [M, K], got ",
                ssl::detail::shape_str(teacher), " and ", ssl::detail::shape_str(student));
    const auto M = mask.sum().item<int64_t>();
    TORCH_CHECK(teacher.size(0) == M, who, ": the mask hides ", M, " patches but there are ", teacher.size(0),
                " rows of patch outputs");
    TORCH_CHECK(center.numel() == teacher.size(1), who, ": expected a patch centre of ", teacher.size(1),
                " values, got ", ssl::detail::shape_str(center));
    TORCH_CHECK(teacher_temp > 0 && student_temp > 0, who, ": expected temperatures > 0, got teacher ", teacher_temp,
                " and student ", student_temp);
    auto p_teacher = torch::softmax((teacher - center.reshape({1, -1})) / teacher_temp, -1);
    auto ce = -(p_teacher * torch::log_softmax(student / student_temp, -1)).sum(-1);  // [M]
    auto per_image = mask.sum(1, /*keepdim=*/true).clamp_min(1).to(ce.dtype());     // [B, 1]
    auto weight = (1.0 / per_image).expand(mask.sizes()).index({mask});              // [M]
    return (ce * weight).sum() / double(mask.size(0));
  }

  /// `lambda_cls * CLS loss + lambda_patch * patch loss` with the current centres and epoch's
  /// teacher temperature, then both centre updates. Logged parts: `cls`, `patch`, `teacher_temp`.
  LossOutput forward(const Prediction& pred, const TeacherTokenOutputs& teacher) {
    constexpr const char* who = "loss::IBOTLoss";
    TORCH_CHECK(!teacher.global.empty() && teacher.patches.size() == teacher.global.size(), who,
                ": expected the teacher's CLS and patch outputs of each global view, got ", teacher.global.size(),
                " CLS and ", teacher.patches.size(), " patch outputs");
    const auto G = teacher.global.size();
    TORCH_CHECK(pred.views.size() >= G && pred.extra.size() >= G && pred.masked.size() >= G, who, ": expected the ",
                "student's outputs of at least the ", G, " global views, got ", pred.views.size());
    const auto& t_cls = teacher.global;
    const auto& t_patch = teacher.patches;
    std::vector<torch::Tensor> s_patch, masks;
    for (size_t i = 0; i < G; ++i) {
      TORCH_CHECK(pred.extra[i].patches.defined() && pred.masked[i].mask.defined(), who, ": global view ", i,
                  " has no patch output or no mask: the masker must mask every global view (masker::Blockwise)");
      s_patch.push_back(pred.extra[i].patches);
      masks.push_back(pred.masked[i].mask);
    }
    const double tt = cls->teacher_temp_at(cls->epoch()), st = options.cls().student_temp();
    auto cls_loss = DINOLossImpl::of(t_cls, pred.views, cls->center, tt, st);
    auto t_p = torch::cat(t_patch), s_p = torch::cat(s_patch);
    auto patch_loss = patch_of(t_p, s_p, torch::cat(masks), patch_center, tt, st);
    cls->update_center(t_cls);
    update_patch_center(t_p);
    auto loss = options.lambda_cls() * cls_loss + options.lambda_patch() * patch_loss;
    return {loss, {{"cls", cls_loss.detach()}, {"patch", patch_loss.detach()}, {"teacher_temp", torch::tensor(tt)}}};
  }

  /// `patch_center <- m * patch_center + (1 - m) * mean of the teacher's hidden-patch outputs`.
  void update_patch_center(const torch::Tensor& teacher_patches) {
    torch::NoGradGuard g;
    if (teacher_patches.size(0) == 0) return;  // nothing hidden in this batch: no statistics
    const auto batch_center = dist::all_reduce_mean(teacher_patches.mean(0));
    const double m = options.patch_center_momentum();
    patch_center.mul_(m).add_(batch_center.to(patch_center.dtype()), 1.0 - m);
  }

  /// The trainer's hook: the epoch of the coming step (teacher-temperature schedule).
  void set_step(const StepInfo& i) { cls->set_step(i); }

  IBOTLossOptions options;  ///< what the loss was built from
  DINOLoss cls{nullptr};    ///< the CLS term, with its centre and temperature schedule
  torch::Tensor patch_center;  ///< `[patch_out_dim]`, buffer
};
TORCH_MODULE(IBOTLoss);

}  // namespace ssl::loss
