#pragma once
/// \file loss/cross_entropy.hpp
/// Cross-entropy of logits against integer labels, ignoring label -100: BERT's masked LM,
/// GPT's next-token loss, BEiT's masked visual tokens, fine-tuning classifiers.
///
/// `loss::CrossEntropy` scores the first view's head output against `TokenLabels::tokens` and the
/// head's next-sentence logits (`HeadOutput::sentence`), when it gives them, against `TokenLabels::sentence`,
/// and sums them: BERT's pretraining loss is MLM + next-sentence prediction.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>
#include <ssl/dist/collective.hpp>

#include <torch/torch.h>

#include <string>
#include <vector>

namespace ssl::loss {

/// Mean cross-entropy and top-1 accuracy over the labels that are not -100. `logits` is
/// `[..., C]` with `labels` `[...]`, or `[M, C]` for the M non-ignored entries of `labels` in
/// row-major order (a head that predicts only the masked positions). No label at all gives 0.
struct CrossEntropyResult {
  /// The 0-D mean cross-entropy (with gradient) and the 0-D top-1 accuracy in [0, 1] (detached).
  ///@{
  torch::Tensor loss, accuracy;
  ///@}
};
/// The `CrossEntropyResult` of `logits` against `labels` (int64, -100 = ignored). In a
/// data-parallel run the mean is over every process's labels (`dist::mean_count`). `what` names
/// the caller in error messages.
inline CrossEntropyResult masked_cross_entropy(const torch::Tensor& logits, const torch::Tensor& labels,
                                               const char* what = "loss::CrossEntropy") {
  TORCH_CHECK(logits.defined() && labels.defined() && logits.dim() >= 2, what,
              ": expected logits [..., C] and integer labels, got ", ssl::detail::shape_str(logits), " and ",
              ssl::detail::shape_str(labels));
  TORCH_CHECK(labels.scalar_type() == torch::kInt64, what, ": labels must be int64, got ", labels.scalar_type());
  const auto C = logits.size(-1);
  auto flat_labels = labels.reshape({-1});
  torch::Tensor flat_logits;
  if (logits.numel() / C == flat_labels.numel() && logits.sizes().slice(0, logits.dim() - 1) == labels.sizes()) {
    flat_logits = logits.reshape({-1, C});
  } else {
    TORCH_CHECK(logits.dim() == 2, what, ": logits ", ssl::detail::shape_str(logits), " match neither labels ",
                ssl::detail::shape_str(labels), " position by position nor their non-ignored entries");
    flat_labels = flat_labels.index({flat_labels != -100});
    TORCH_CHECK(flat_labels.size(0) == logits.size(0), what, ": ", logits.size(0),
                " rows of logits for the masked positions, but ", flat_labels.size(0), " labels are not -100");
    flat_logits = logits;
  }
  auto valid = flat_labels != -100;
  // Data-parallel: divided by the global number of labels / world size (dist::mean_count).
  auto n = dist::mean_count(valid.sum().to(flat_logits.scalar_type())).clamp_min(1.0 / double(dist::world_size()));
  auto loss = torch::nn::functional::cross_entropy(
                  flat_logits, flat_labels,
                  torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-100).reduction(torch::kSum)) /
              n;
  torch::NoGradGuard g;
  auto acc = ((flat_logits.argmax(-1) == flat_labels) & valid).sum().to(torch::kFloat32) / n.to(torch::kFloat32);
  return {loss, acc};
}

/// Example: `loss::CrossEntropy{.name = "mlm"}`. Scores the head's main output against
/// `TokenLabels::tokens` and, when the head also gives next-sentence logits
/// (`HeadOutput::sentence`, BERT), those against `TokenLabels::sentence`. Logged parts: `<name>`
/// and `<name>_acc` for each scored output.
struct CrossEntropy {
  std::string name = "ce";           ///< log name of the main output's loss
  std::string sentence_name = "nsp";  ///< log name of the next-sentence loss (with such a head)

  /// The sum of `masked_cross_entropy` of the first view's prediction against `labels.tokens`
  /// and, when the head gives next-sentence logits (`HeadOutput::sentence`), of those against
  /// `labels.sentence` (which must then be defined).
  LossOutput operator()(const Prediction& pred, const TokenLabels& labels) const {
    TORCH_CHECK(!pred.views.empty() && labels.tokens.defined(), "loss::CrossEntropy: expected a prediction and ",
                "token labels, got ", pred.views.size(), " predictions and ", labels.tokens.defined() ? "" : "no ",
                "labels");
    LossOutput out;
    const auto score = [&](const torch::Tensor& logits, const torch::Tensor& target, const std::string& part) {
      auto r = masked_cross_entropy(logits, target);
      out.loss = out.loss.defined() ? out.loss + r.loss : r.loss;
      out.parts.emplace_back(part, r.loss.detach());
      out.parts.emplace_back(part + "_acc", r.accuracy);
    };
    score(pred.views[0], labels.tokens, name);
    if (!pred.extra.empty() && pred.extra[0].sentence.defined()) {
      TORCH_CHECK(labels.sentence.defined(), "loss::CrossEntropy: the head gives next-sentence logits but the "
                  "target has no sentence labels (a next-sentence head needs batches with labels)");
      score(pred.extra[0].sentence, labels.sentence, sentence_name);
    }
    return out;
  }
};

/// ROC-AUC of `scores` (`[M]`) against binary `labels` (`[M]`, 1 = positive): the probability that a
/// random positive scores above a random negative (ties count one half), by the rank-sum
/// (Mann-Whitney) formula; 0.5 when either class is empty. 0-D float, no gradient.
inline torch::Tensor replaced_token_auc(const torch::Tensor& scores, const torch::Tensor& labels) {
  torch::NoGradGuard g;
  const auto s = scores.reshape({-1}).to(torch::kFloat64);
  const auto y = labels.reshape({-1}).to(torch::kFloat64);
  const double n_pos = y.sum().item<double>(), n_neg = double(y.numel()) - n_pos;
  if (n_pos == 0 || n_neg == 0) return torch::full({}, 0.5, torch::kFloat32);
  // Average ranks (1-based) with ties sharing the mean rank of their run.
  const auto [sorted, order] = s.sort();
  const auto n = s.numel();
  auto first = torch::ones({n}, torch::kBool);
  if (n > 1) first.narrow(0, 1, n - 1).copy_(sorted.narrow(0, 1, n - 1) != sorted.narrow(0, 0, n - 1));
  const auto run = first.to(torch::kInt64).cumsum(0) - 1;  // run index of each sorted entry
  const auto pos1 = torch::arange(1, n + 1, torch::kFloat64);
  const auto n_runs = run[-1].item<int64_t>() + 1;
  const auto run_sum = torch::zeros({n_runs}, torch::kFloat64).index_add_(0, run, pos1);
  const auto run_len = torch::zeros({n_runs}, torch::kFloat64).index_add_(0, run, torch::ones({n}, torch::kFloat64));
  const auto rank_sorted = (run_sum / run_len).index({run});
  const auto y_sorted = y.index({order});
  const double rank_pos = (rank_sorted * y_sorted).sum().item<double>();
  return torch::full({}, (rank_pos - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg), torch::kFloat32);
}

/// ELECTRA's loss: the generator's MLM cross-entropy (its logits come from the masker as
/// `Masked::proposal_logits`) plus `weight` times the discriminator's replaced-token binary cross-entropy,
/// averaged over the non-padding positions. Target: `target::ReplacedTokens`.
struct ReplacedTokenDetection {
  double weight = 50.0;  ///< weight of the discriminator's term (the paper's lambda = 50)

  /// Generator MLM loss + `weight` x discriminator loss on the first view. Logged parts: `gen`,
  /// `gen_acc` (the generator's argmax accuracy at the masked positions), `disc`, `disc_acc`
  /// (threshold 0.5), `replaced` (the fraction of scored tokens replaced), `disc_prior` (the
  /// accuracy of always answering "original", 1 - `replaced`), `disc_auc` (the discriminator's
  /// ROC-AUC over the batch's scored tokens: 0.5 = no better than the prior), `disc_recall` (the
  /// fraction of replaced tokens it flags) and `gen_sample_acc` (the fraction of the generator's
  /// samples at masked positions that equal the original token, labelled "original").
  LossOutput operator()(const Prediction& pred, const ReplacedTokenLabels& target) const {
    TORCH_CHECK(!pred.views.empty() && !pred.masked.empty() && pred.masked[0].proposal_logits.defined() &&
                    target.generator.defined() && target.replaced.defined() && target.valid.defined(),
                "loss::ReplacedTokenDetection: expected the discriminator's logits, the generator's logits as "
                "Masked::proposal_logits (masker::Generator), and the targets {generator labels, replaced, valid} of "
                "target::ReplacedTokens");
    auto gen = masked_cross_entropy(pred.masked[0].proposal_logits, target.generator, "loss::ReplacedTokenDetection");
    const auto& logits = pred.views[0];
    TORCH_CHECK(logits.sizes() == target.replaced.sizes(), "loss::ReplacedTokenDetection: discriminator logits ",
                ssl::detail::shape_str(logits), " must match the tokens ", ssl::detail::shape_str(target.replaced));
    const auto& valid = target.valid;
    const auto scored = logits.index({valid}), is_replaced = target.replaced.index({valid});
    auto disc = torch::binary_cross_entropy_with_logits(scored, is_replaced);
    torch::Tensor acc, replaced, auc, recall, sampled_orig;
    {
      torch::NoGradGuard g;
      const auto s = scored.detach().to(torch::kFloat32);
      acc = ((s > 0).to(torch::kFloat32) == is_replaced).to(torch::kFloat32).mean();
      replaced = is_replaced.mean();
      auc = replaced_token_auc(s, is_replaced);
      const auto pos = is_replaced.sum();
      recall = pos.item<double>() > 0 ? ((s > 0).to(torch::kFloat32) * is_replaced).sum() / pos
                                      : torch::zeros({}, torch::kFloat32);
      // How often the generator's sample at a masked position is the original token.
      const auto at_mask = (target.generator != -100) & valid;
      const auto n_mask = at_mask.sum().item<double>();
      sampled_orig = n_mask > 0 ? 1.0 - target.replaced.index({at_mask}).sum() / n_mask
                                : torch::zeros({}, torch::kFloat32);
    }
    return {gen.loss + weight * disc,
            {{"gen", gen.loss.detach()},
             {"gen_acc", gen.accuracy},
             {"disc", disc.detach()},
             {"disc_acc", acc},
             {"replaced", replaced},
             {"disc_prior", 1.0 - replaced},
             {"disc_auc", auc},
             {"disc_recall", recall},
             {"gen_sample_acc", sampled_orig}}};
  }
};

}  // namespace ssl::loss
