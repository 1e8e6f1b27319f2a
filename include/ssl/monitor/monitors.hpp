#pragma once
/// \file monitor/monitors.hpp
/// The monitors: parts a recipe opts into by wrapping its loss (`monitor::watch`, monitor/watch.hpp),
/// each measuring one health signal of the run every `every` steps and adding it to the loss's
/// logged parts (so to `train.jsonl` and TensorBoard). None changes the loss or its gradient.
///
/// | monitor            | parts                                 | for                                   |
/// |--------------------|---------------------------------------|---------------------------------------|
/// | `EmbeddingStd`     | `mon_emb_std`, `alert_collapse`        | any recipe (SimCLR ... DINO): head output |
/// | `EffectiveRank`    | `mon_eff_rank`                         | any recipe: head output               |
/// | `TeacherEntropy`   | `mon_teacher_entropy`, `mon_kl`        | DINO, iBOT (`loss::DINOLoss`, `loss::IBOTLoss`) |
/// | `MlmAccuracy`      | `mon_mlm_acc`                          | a loss scoring `TokenLabels` (BERT, RoBERTa) |
/// | `DiscriminatorGain`| `mon_disc_gain`                        | ELECTRA (`loss::ReplacedTokenDetection`) |
///
/// A monitor is a value with an `int64_t every` (0 = never) and `Parts measure(const Seen<X, L>&)`;
/// one that reads loss state the loss call changes (DINO's centre) says
/// `static constexpr bool before_loss = true;` and is measured before the loss runs, the others
/// after it (they may read the loss's own parts: `Seen::out`).
#include <ssl/core/types.hpp>
#include <ssl/dist/collective.hpp>
#include <ssl/loss/dino.hpp>
#include <ssl/loss/ibot.hpp>
#include <ssl/monitor/stats.hpp>

#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace ssl::monitor {

/// Named scalars a monitor adds to the loss's parts (detached, 0-D).
using Parts = std::vector<std::pair<std::string, torch::Tensor>>;

/// What a monitor sees of one step: the student's prediction, the target the loss scores, the
/// (inner) loss itself, the step, and the loss's output (`nullptr` for a `before_loss` monitor).
template <class X, class L>
struct Seen {
  const Prediction& pred;           ///< the student's prediction of every view
  const X& target;                  ///< what the loss scores
  const L& loss;                    ///< the monitored loss (its state: DINO's centre, ...)
  int64_t step = 0;                 ///< optimizer steps done before this one
  const LossOutput* out = nullptr;  ///< the loss's output (after the loss ran), else null
};

/// The first student view's head output as embeddings `[N, D]`: a `[B, D]` output as it is, an
/// output of several tokens per sample (`[..., D]`, I-JEPA's predicted tokens `[G*B, M, D]`) with
/// every token a row (what the embedding monitors look at).
inline torch::Tensor first_embedding(const Prediction& pred, const char* who) {
  TORCH_CHECK(!pred.views.empty() && pred.views[0].defined() && pred.views[0].dim() >= 2, who,
              ": expected the head's output of the first view as embeddings [B, D] (or [..., D]), got ",
              pred.views.empty() ? std::string("no view") : ssl::detail::shape_str(pred.views[0]));
  const auto& z = pred.views[0];
  return z.dim() == 2 ? z : z.reshape({-1, z.size(-1)});
}

/// The std of the l2-normalised embeddings (`std_of_l2_normalized` of the first view's head
/// output `[B, D]`, or of its tokens, `first_embedding`): healthy about `1/sqrt(D)`, 0 when collapsed. Below
/// `collapse_factor / sqrt(D)` (default a fifth of the healthy value) the step is flagged:
/// part `alert_collapse` = 1 (else 0; the trainer's progress line shows `!collapse`), and the
/// first time a line on stderr names the step and the value.
/// Example: `monitor::EmbeddingStd{.every = 50, .collapse_factor = 0.2}`.
struct EmbeddingStd {
  int64_t every = 50;            ///< measure every `every` steps (0 = never)
  double collapse_factor = 0.2;  ///< collapse below `collapse_factor / sqrt(D)`
  bool warned = false;           ///< whether the stderr warning was given (once per run)

  /// `mon_emb_std` and `alert_collapse` of the step.
  template <class X, class L>
  Parts measure(const Seen<X, L>& s) {
    const auto& z = first_embedding(s.pred, "monitor::EmbeddingStd");
    auto spread = std_of_l2_normalized(z);
    const double d = double(z.size(1)), threshold = collapse_factor / std::sqrt(d), v = spread.template item<double>();
    const bool collapsed = v < threshold;
    if (collapsed && !warned) {
      warned = true;
      if (dist::is_main())
        std::fprintf(stderr,
                     "\nssl::monitor: collapse at step %lld: the std of the l2-normalised embeddings is %.3g, below "
                     "%.3g = %.2g/sqrt(%lld) (healthy: about 1/sqrt(%lld) = %.3g)\n",
                     (long long)s.step + 1, v, threshold, collapse_factor, (long long)d, (long long)d, 1.0 / std::sqrt(d));
    }
    return {{"mon_emb_std", spread}, {"alert_collapse", torch::full({}, collapsed ? 1.0 : 0.0, spread.options())}};
  }
};

/// The effective rank (Roy & Vetterli) of the first view's centred head output `[B, D]` (or of
/// its tokens, `first_embedding`): how many directions the batch spreads over, between 0 and
/// `min(B - 1, D)`. A dimensional
/// collapse shows as a rank far below `min(B - 1, D)`; a full collapse as 0 or 1.
/// Example: `monitor::EffectiveRank{.every = 50}`.
struct EffectiveRank {
  int64_t every = 50;  ///< measure every `every` steps (0 = never)

  /// `mon_eff_rank` of the step.
  template <class X, class L>
  Parts measure(const Seen<X, L>& s) {
    return {{"mon_eff_rank", effective_rank(first_embedding(s.pred, "monitor::EffectiveRank"))}};
  }
};

/// How a self-distillation loss turns teacher outputs into targets: the centre subtracted, the
/// teacher's and the student's temperatures at the current step. A loss of your own works with
/// `TeacherEntropy` once it has a `sharpening(const YourLoss&)` overload beside it (found by ADL).
struct Sharpening {
  torch::Tensor center;       ///< `[K]` subtracted from the teacher's outputs (undefined: none)
  double teacher_temp = 1.0;  ///< the teacher's temperature at this step
  double student_temp = 1.0;  ///< the student's temperature
};
/// DINO's: its centre, its teacher-temperature schedule at its epoch, its student temperature.
inline Sharpening sharpening(const loss::DINOLoss& l) {
  return {l->center, l->teacher_temp_at(l->epoch()), l->options.student_temp()};
}
/// iBOT's CLS term (a `DINOLoss`): the image-level targets.
inline Sharpening sharpening(const loss::IBOTLoss& l) { return sharpening(l->cls); }

/// DINO's and iBOT's teacher: the mean entropy of the teacher's targets of the global views
/// (`mon_teacher_entropy`, nats: log K when the targets are uniform, 0 when one-hot; a healthy run
/// sits in between, falling as training sharpens) and KL(teacher || student) over the loss's view
/// pairs (`mon_kl`: 0 when the student matches the teacher; DINO's loss = `mon_kl` +
/// `mon_teacher_entropy`). Measured before the loss call, with the centre and temperature that
/// call uses. Needs `sharpening(loss)` (DINOLoss, IBOTLoss) and a target with the teacher's
/// `global` outputs (TeacherOutputs, TeacherTokenOutputs).
/// Example: `monitor::TeacherEntropy{.every = 50}`.
struct TeacherEntropy {
  int64_t every = 50;  ///< measure every `every` steps (0 = never)
  /// Measured before the loss, which moves its centre.
  static constexpr bool before_loss = true;

  /// `mon_teacher_entropy` and `mon_kl` of the step.
  template <class X, class L>
  Parts measure(const Seen<X, L>& s) {
    static_assert(requires { s.target.global; }, "monitor::TeacherEntropy: the loss's target must hold the teacher's "
                                                 "outputs of the global views as `global` (TeacherOutputs, TeacherTokenOutputs)");
    static_assert(requires { { sharpening(s.loss) } -> std::same_as<Sharpening>; },
                  "monitor::TeacherEntropy: the loss needs a `monitor::Sharpening sharpening(const Loss&)` overload "
                  "(DINOLoss and IBOTLoss have one): its centre and temperatures");
    const Sharpening sh = sharpening(s.loss);
    const auto& t = s.target.global;
    return {{"mon_teacher_entropy", teacher_entropy(t, sh.center, sh.teacher_temp)},
            {"mon_kl", teacher_student_kl(t, s.pred.views, sh.center, sh.teacher_temp, sh.student_temp)}};
  }
};

/// BERT's and RoBERTa's masked-LM accuracy: the argmax accuracy of the first view's logits at
/// the positions `TokenLabels::tokens` scores (`mon_mlm_acc`, in [0, 1]; 1 / vocabulary for a
/// guessing model). `loss::CrossEntropy` logs the same number every step as `<name>_acc`: this
/// monitor gives it to a loss of your own that scores `TokenLabels` without logging it.
/// Example: `monitor::MlmAccuracy{.every = 50}`.
struct MlmAccuracy {
  int64_t every = 50;  ///< measure every `every` steps (0 = never)

  /// `mon_mlm_acc` of the step.
  template <class X, class L>
  Parts measure(const Seen<X, L>& s) {
    static_assert(std::is_same_v<X, TokenLabels>, "monitor::MlmAccuracy: the loss must score ssl::TokenLabels");
    TORCH_CHECK(!s.pred.views.empty(), "monitor::MlmAccuracy: expected the logits of a view");
    return {{"mon_mlm_acc", masked_accuracy(s.pred.views[0], s.target.tokens)}};
  }
};

/// ELECTRA's discriminator against the prior: its accuracy minus that of always answering
/// "original" (`mon_disc_gain`; > 0: it beats the prior, 0: it has learnt nothing the replacement
/// rate does not tell). Reads the `disc_acc` and `disc_prior` parts that
/// `loss::ReplacedTokenDetection` logs (with `disc_auc`: 0.5 = chance).
/// Example: `monitor::DiscriminatorGain{.every = 50}`.
struct DiscriminatorGain {
  int64_t every = 50;  ///< measure every `every` steps (0 = never)

  /// `mon_disc_gain` of the step.
  template <class X, class L>
  Parts measure(const Seen<X, L>& s) {
    TORCH_CHECK(s.out != nullptr, "monitor::DiscriminatorGain: measured after the loss (no before_loss)");
    torch::Tensor acc, prior;
    for (const auto& [k, v] : s.out->parts) {
      if (k == "disc_acc") acc = v;
      if (k == "disc_prior") prior = v;
    }
    TORCH_CHECK(acc.defined() && prior.defined(), "monitor::DiscriminatorGain: the loss logs no `disc_acc` and ",
                "`disc_prior` parts (loss::ReplacedTokenDetection does)");
    return {{"mon_disc_gain", (acc.detach() - prior.detach()).to(torch::kFloat32)}};
  }
};

}  // namespace ssl::monitor
