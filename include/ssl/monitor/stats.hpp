#pragma once
/// \file monitor/stats.hpp
/// The statistics the monitors log (monitor/monitors.hpp), as plain functions of tensors: each
/// takes what a step already has (embeddings, teacher outputs, logits), computes in float32 or
/// float64 without gradient, and returns a 0-D float32 tensor on the input's device.
///  - `std_of_l2_normalized(z)`: lightly's collapse signal. Each row of `z` `[B, D]` is
///    l2-normalised, the (unbiased) std over the batch is taken per dimension and averaged over
///    the dimensions. Rows spread uniformly over the sphere give about `1/sqrt(D)`; a collapsed
///    batch (every row the same direction) gives 0.
///  - `effective_rank(z)`: Roy & Vetterli's effective rank (EUSIPCO 2007) of the centred batch:
///    `exp(H(p))`, `p = s / sum(s)` over the singular values `s`. A rank-k matrix with k equal
///    singular values gives k; embeddings on a line give 1; a constant batch gives 0.
///  - `teacher_entropy(t, center, tt)`: the mean entropy (nats) of DINO's teacher targets
///    `softmax((t - center) / tt)`: log K for a uniform target (the centring's failure mode), 0 for
///    a one-hot one (the sharpening's).
///  - `teacher_student_kl(...)`: KL(teacher || student) averaged over the pairs DINO's loss scores
///    (teacher view i, student view j != i): DINO's cross-entropy is this KL plus the teacher
///    entropy, so the KL is the part of the loss the student can still reduce.
#include <ssl/core/check.hpp>

#include <torch/torch.h>

#include <cmath>
#include <vector>

namespace ssl::monitor {

/// lightly's `std_of_l2_normalized`: the mean over the dimensions of the std over the batch of
/// the l2-normalised rows of `z` `[B, D]` (B >= 2). About `1/sqrt(D)` for rows spread over the
/// sphere, 0 for a collapsed batch.
inline torch::Tensor std_of_l2_normalized(const torch::Tensor& z) {
  torch::NoGradGuard g;
  TORCH_CHECK(z.defined() && z.dim() == 2 && z.size(0) >= 2, "monitor::std_of_l2_normalized: expected embeddings ",
              "[B, D] with B >= 2, got ", ssl::detail::shape_str(z));
  const auto n = torch::nn::functional::normalize(z.detach().to(torch::kFloat32),
                                                  torch::nn::functional::NormalizeFuncOptions().dim(1));
  return n.std(0).mean();
}

/// Roy & Vetterli's effective rank of the centred `z` `[B, D]`: `exp(-sum p log p)` with
/// `p = s / sum(s)` over its singular values (float64). Singular values under `1e-6` times the
/// Frobenius norm of the uncentred `z` count as zero (rounding of a constant batch), so a
/// constant batch gives 0. Between 0 and `min(B - 1, D)`.
inline torch::Tensor effective_rank(const torch::Tensor& z) {
  torch::NoGradGuard g;
  TORCH_CHECK(z.defined() && z.dim() == 2 && z.size(0) >= 2, "monitor::effective_rank: expected embeddings [B, D] ",
              "with B >= 2, got ", ssl::detail::shape_str(z));
  const auto x = z.detach().to(torch::kFloat64);
  const auto s = torch::linalg_svdvals(x - x.mean(0, /*keepdim=*/true));
  const double floor = 1e-6 * x.norm().item<double>();
  const auto kept = s * (s > floor).to(s.dtype());
  const double total = kept.sum().item<double>();
  if (total <= 0) return torch::zeros({}, z.options().dtype(torch::kFloat32));
  const auto p = kept / total;
  const auto entropy = -torch::special_xlogy(p, p).sum();
  return entropy.exp().to(torch::kFloat32);
}

/// The mean entropy (nats) of the teacher targets `softmax((t - center) / teacher_temp)` over the
/// rows of every view in `teacher` (each `[B, K]`; `center` `[K]`). log K for uniform targets,
/// 0 for one-hot ones.
inline torch::Tensor teacher_entropy(const std::vector<torch::Tensor>& teacher, const torch::Tensor& center,
                                     double teacher_temp) {
  torch::NoGradGuard g;
  TORCH_CHECK(!teacher.empty() && teacher[0].dim() == 2, "monitor::teacher_entropy: expected teacher outputs [B, K], got ",
              teacher.empty() ? std::string("none") : ssl::detail::shape_str(teacher[0]));
  TORCH_CHECK(teacher_temp > 0, "monitor::teacher_entropy: expected a teacher temperature > 0, got ", teacher_temp);
  const auto t = torch::stack(teacher).detach().to(torch::kFloat32);
  const auto c = center.defined() ? center.detach().to(torch::kFloat32).reshape({-1}) : torch::zeros({t.size(-1)}, t.options());
  TORCH_CHECK(c.numel() == t.size(-1), "monitor::teacher_entropy: expected a centre of ", t.size(-1), " values, got ",
              ssl::detail::shape_str(center));
  const auto log_p = torch::log_softmax((t - c) / teacher_temp, -1);
  return -(log_p.exp() * log_p).sum(-1).mean();
}

/// KL(teacher || student) over DINO's pairs: teacher view i (`softmax((t_i - center) /
/// teacher_temp)`) against student view j (`softmax(s_j / student_temp)`) for j != i, averaged
/// over the pairs and the batch. `teacher` `t x [B, K]`, `student` `s x [B, K]`, t <= s, s >= 2.
/// DINO's loss equals this KL plus `teacher_entropy` of the same teacher outputs.
inline torch::Tensor teacher_student_kl(const std::vector<torch::Tensor>& teacher, const std::vector<torch::Tensor>& student,
                                        const torch::Tensor& center, double teacher_temp, double student_temp) {
  torch::NoGradGuard g;
  constexpr const char* who = "monitor::teacher_student_kl";
  TORCH_CHECK(!teacher.empty() && teacher.size() <= student.size() && student.size() >= 2, who,
              ": expected 1 to (number of student views) teacher views and at least 2 student views, got ",
              teacher.size(), " teacher and ", student.size(), " student views");
  TORCH_CHECK(teacher_temp > 0 && student_temp > 0, who, ": expected temperatures > 0, got ", teacher_temp, " and ",
              student_temp);
  const auto t = torch::stack(teacher).detach().to(torch::kFloat32);
  const auto s = torch::stack(student).detach().to(torch::kFloat32);
  TORCH_CHECK(t.dim() == 3 && s.dim() == 3 && t.size(1) == s.size(1) && t.size(2) == s.size(2), who,
              ": expected teacher and student views of the same shape [B, K], got ", ssl::detail::shape_str(teacher[0]),
              " and ", ssl::detail::shape_str(student[0]));
  const auto c = center.defined() ? center.detach().to(torch::kFloat32).reshape({-1}) : torch::zeros({t.size(-1)}, t.options());
  TORCH_CHECK(c.numel() == t.size(-1), who, ": expected a centre of ", t.size(-1), " values, got ",
              ssl::detail::shape_str(center));
  const auto log_pt = torch::log_softmax((t - c) / teacher_temp, -1), log_ps = torch::log_softmax(s / student_temp, -1);
  const auto pt = log_pt.exp();
  const auto nt = t.size(0), ns = s.size(0), B = t.size(1);
  // kl[i][j] = sum_{b,k} pt[i,b,k] * (log pt[i,b,k] - log ps[j,b,k])
  const auto neg_entropy = (pt * log_pt).sum(torch::IntArrayRef{1, 2});                    // [t]
  const auto kl = neg_entropy.unsqueeze(1) - torch::einsum("tbk,sbk->ts", {pt, log_ps});  // [t, s]
  const auto same = torch::eye(nt, ns, kl.options().dtype(torch::kBool));
  return kl.masked_fill(same, 0).sum() / double((nt * ns - nt) * B);
}

/// The argmax accuracy of `logits` against `labels` at the positions whose label is not -100
/// (BERT's masked positions), with `loss::masked_cross_entropy`'s shape rules: `logits` `[..., C]`
/// for `labels` `[...]`, or `[M, C]` for the M scored labels. 0 when no label is scored.
inline torch::Tensor masked_accuracy(const torch::Tensor& logits, const torch::Tensor& labels) {
  torch::NoGradGuard g;
  constexpr const char* who = "monitor::masked_accuracy";
  TORCH_CHECK(logits.defined() && labels.defined() && logits.dim() >= 2, who, ": expected logits [..., C] and labels, got ",
              ssl::detail::shape_str(logits), " and ", ssl::detail::shape_str(labels));
  auto flat = labels.reshape({-1});
  const auto scored = flat != -100;
  torch::Tensor predicted;
  if (logits.sizes().slice(0, logits.dim() - 1) == labels.sizes()) {
    predicted = logits.detach().reshape({-1, logits.size(-1)}).argmax(-1).index({scored});
  } else {
    TORCH_CHECK(logits.dim() == 2 && logits.size(0) == scored.sum().item<int64_t>(), who, ": logits ",
                ssl::detail::shape_str(logits), " match neither labels ", ssl::detail::shape_str(labels),
                " position by position nor their scored (not -100) entries");
    predicted = logits.detach().argmax(-1);
  }
  const auto target = flat.index({scored});
  if (target.numel() == 0) return torch::zeros({}, logits.options().dtype(torch::kFloat32));
  return (predicted == target).to(torch::kFloat32).mean();
}

}  // namespace ssl::monitor
