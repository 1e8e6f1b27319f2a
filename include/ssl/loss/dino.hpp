#pragma once
/// \file loss/dino.hpp
/// DINO's loss (Caron et al., 2021): cross-entropy between the teacher's centred, sharpened
/// distribution `softmax((t - center) / teacher_temp)` and the student's
/// `log_softmax(s / student_temp)`, for every (teacher view i, student view j) pair with
/// i != j, summed over the batch and averaged over the `n_pairs * B` terms. After the loss the
/// centre moves towards the batch mean of the teacher outputs (all views, all processes):
/// `center = m * center + (1 - m) * mean`, so a call uses the centre left by the previous one.
///
/// The teacher temperature follows lightly's schedule: epochs `0 .. warmup_epochs-1` step
/// linearly from `warmup_teacher_temp` to `teacher_temp` (the last warm-up epoch is already at
/// `teacher_temp`), then `teacher_temp`; with no epoch set it is `teacher_temp`. Equals
/// `lightly.loss.DINOLoss(out_dim, ...)(teacher, student, epoch=e)`, including its defaults.
///
/// Convention: `pred.views` are the student outputs of every view, globals first (as
/// `Views::all()`); `targets` are the teacher outputs of the global views (so teacher view i and
/// student view i are the same crop, and that pair is skipped). The loss does not detach the
/// teacher outputs: the Target computes them without gradient. Inside a recipe the trainer sets
/// the epoch before each step (`set_step`); alone, call `set_epoch`.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/dist/collective.hpp>

#include <optional>
#include <vector>

namespace ssl::loss {

/// Example: `DINOLossOptions(65536).teacher_temp(0.07).warmup_teacher_temp_epochs(30)`.
struct DINOLossOptions {
  /// Options without `out_dim` (a recipe sets it from its head).
  DINOLossOptions() = default;
  /// Options for a head of `out_dim` outputs.
  explicit DINOLossOptions(int64_t out_dim) : out_dim_(out_dim) {}
  /// The head's output width: required to build the loss; a recipe sets it from its head (and
  /// refuses a different one).
  TORCH_ARG(std::optional<int64_t>, out_dim);
  TORCH_ARG(double, warmup_teacher_temp) = 0.04;  ///< teacher temperature at epoch 0
  TORCH_ARG(double, teacher_temp) = 0.04;  ///< teacher temperature after the warm-up
  /// Epochs over which the teacher temperature rises linearly to `teacher_temp` (0 = none).
  TORCH_ARG(int64_t, warmup_teacher_temp_epochs) = 30;
  TORCH_ARG(double, student_temp) = 0.1;  ///< temperature of the student's softmax
  TORCH_ARG(double, center_momentum) = 0.9;  ///< momentum m of the centre's moving average
};

/// DINO's loss (see the file comment): a module, because the centre is a buffer that moves with
/// every call and is saved with the recipe. Models `ssl::Loss` for `TeacherOutputs`.
class DINOLossImpl : public torch::nn::Cloneable<DINOLossImpl> {
 public:
  /// Its teacher-temperature schedule follows the run (ssl::StepAware): Compose must call `set_step`.
  static constexpr unsigned hooks = hook::step;
  /// The loss of `options` (`out_dim` required), its centre at zero.
  explicit DINOLossImpl(DINOLossOptions options) : options(std::move(options)) { reset(); }

  /// Registers the centre buffer `[out_dim]`, zeros (`clone()` calls it too).
  void reset() override {
    TORCH_CHECK(options.out_dim().has_value(), "loss::DINOLoss: DINOLossOptions::out_dim is required (the head's output width)");
    TORCH_CHECK(*options.out_dim() > 0, "loss::DINOLoss: expected out_dim > 0, got ", *options.out_dim());
    center = register_buffer("center", torch::zeros({*options.out_dim()}));
  }

  /// The teacher temperature at `epoch` (lightly's schedule, see the file comment).
  [[nodiscard]] double teacher_temp_at(std::optional<int64_t> epoch) const {
    const auto& o = options;
    const int64_t E = o.warmup_teacher_temp_epochs();
    if (!epoch || *epoch >= E) return o.teacher_temp();
    TORCH_CHECK(*epoch >= 0, "loss::DINOLoss: expected an epoch >= 0, got ", *epoch);
    if (E == 1) return o.warmup_teacher_temp();
    return o.warmup_teacher_temp() +
           (o.teacher_temp() - o.warmup_teacher_temp()) * double(*epoch) / double(E - 1);
  }

  /// The epoch the next calls are in (drives the teacher temperature); `nullopt`: none.
  void set_epoch(std::optional<int64_t> epoch) { epoch_ = epoch; }
  /// The epoch set by `set_epoch` or `set_step`; `nullopt` before any.
  [[nodiscard]] std::optional<int64_t> epoch() const { return epoch_; }
  /// The trainer's hook (through `Compose::before_step`): the epoch of the coming step.
  void set_step(const StepInfo& i) { set_epoch(i.epoch); }

  /// The loss alone (no centre update): `teacher` `t x [B, D]`, `student` `s x [B, D]`, t <= s,
  /// pairs (i, i) skipped; `center` `[D]`.
  [[nodiscard]] static torch::Tensor of(const std::vector<torch::Tensor>& teacher,
                                        const std::vector<torch::Tensor>& student, const torch::Tensor& center,
                                        double teacher_temp, double student_temp) {
    constexpr const char* who = "loss::DINOLoss";
    TORCH_CHECK(!teacher.empty() && teacher.size() <= student.size(), who,
                ": expected 1 to (number of student views) teacher views, got ", teacher.size(),
                " teacher and ", student.size(), " student views");
    const auto t = int64_t(teacher.size()), s = int64_t(student.size());
    const int64_t n_pairs = t * s - t;
    TORCH_CHECK(n_pairs > 0, who, ": expected at least two views in total (a view is not compared with ",
                "itself), got ", t, " teacher and ", s, " student views");
    TORCH_CHECK(teacher_temp > 0 && student_temp > 0, who, ": expected temperatures > 0, got teacher ",
                teacher_temp, " and student ", student_temp);
    const auto& ref = teacher[0];
    TORCH_CHECK(ref.defined() && ref.dim() == 2, who, ": expected teacher outputs of shape [B, D], got ",
                ssl::detail::shape_str(ref));
    for (const auto& v : teacher)
      TORCH_CHECK(v.sizes() == ref.sizes(), who, ": every view must have the shape of the first teacher view ",
                  ssl::detail::shape_str(ref), ", got a teacher view of shape ", ssl::detail::shape_str(v));
    for (const auto& v : student)
      TORCH_CHECK(v.sizes() == ref.sizes(), who, ": every view must have the shape of the first teacher view ",
                  ssl::detail::shape_str(ref), ", got a student view of shape ", ssl::detail::shape_str(v));
    TORCH_CHECK(center.numel() == ref.size(1), who, ": expected a center of ", ref.size(1), " values, got ",
                ssl::detail::shape_str(center));
    const auto p_teacher = torch::softmax((torch::stack(teacher) - center.reshape({-1})) / teacher_temp, -1);
    const auto log_p_student = torch::log_softmax(torch::stack(student) / student_temp, -1);
    // ce[i][j] = -sum_{b,d} p_teacher[i,b,d] * log_p_student[j,b,d]
    const auto ce = -torch::einsum("tbd,sbd->ts", {p_teacher, log_p_student});
    const auto same = torch::eye(t, s, ce.options().dtype(torch::kBool));
    return ce.masked_fill(same, 0).sum() / double(n_pairs * ref.size(0));
  }

  /// `center <- m * center + (1 - m) * mean of the teacher outputs` (over views, batch, processes).
  void update_center(const std::vector<torch::Tensor>& teacher) {
    torch::NoGradGuard g;
    const auto batch_center = dist::all_reduce_mean(torch::stack(teacher).mean(torch::IntArrayRef{0, 1}));
    const double m = options.center_momentum();
    center.mul_(m).add_(batch_center.to(center.dtype()), 1.0 - m);
  }

  /// Loss with the current centre and the current epoch's temperature, then the centre update.
  LossOutput forward(const Prediction& pred, const TeacherOutputs& teacher) {
    const double tt = teacher_temp_at(epoch_);
    auto loss = of(teacher.global, pred.views, center, tt, options.student_temp());
    update_center(teacher.global);
    return {loss, {{"dino", loss.detach()}, {"teacher_temp", torch::tensor(tt)}}};
  }

  DINOLossOptions options;  ///< what the loss was built from
  torch::Tensor center;  ///< `[out_dim]`, buffer (saved with the recipe)

 private:
  std::optional<int64_t> epoch_;
};

TORCH_MODULE(DINOLoss);

}  // namespace ssl::loss
