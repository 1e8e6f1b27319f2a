#pragma once
/// \file tokenizer/usage.hpp
/// How much of a visual codebook is in use: the perplexity `exp(H(p))` of the code histogram `p`
/// (K when every code is equally frequent, 1 when one code takes everything) and the fraction
/// of codes that occur at all. Shared by the tokenizers and the BEiT example's report.
#include <torch/torch.h>

#include <cmath>

namespace ssl::tokenizer {

/// How well a tokenizer uses its codebook on some images.
struct CodebookUsage {
  double perplexity = 0;  ///< exp(entropy of the code histogram), in [1, K]
  double used = 0;        ///< fraction of the K codes that occur
};

/// From the histogram `counts` `[K]` of the codes (any device, any number type).
inline CodebookUsage codebook_usage_of_counts(const torch::Tensor& counts) {
  TORCH_CHECK(counts.dim() == 1 && counts.numel() > 0, "tokenizer::codebook_usage: expected code counts [K], got ",
              counts.sizes());
  torch::NoGradGuard g;
  auto c = counts.to(torch::kCPU, torch::kFloat64);
  TORCH_CHECK(c.sum().item<double>() > 0, "tokenizer::codebook_usage: expected at least one code");
  auto p = c / c.sum();
  const double entropy = -(p * (p + 1e-300).log()).sum().item<double>();
  return {std::exp(entropy), (c > 0).to(torch::kFloat64).mean().item<double>()};
}

/// `codes`: integer codes in [0, K) of any shape.
inline CodebookUsage codebook_usage(const torch::Tensor& codes, int64_t K) {
  TORCH_CHECK(K > 0, "tokenizer::codebook_usage: expected a codebook size > 0, got ", K);
  TORCH_CHECK(codes.numel() > 0, "tokenizer::codebook_usage: expected at least one code");
  return codebook_usage_of_counts(torch::bincount(codes.reshape({-1}).to(torch::kInt64), {}, K));
}

/// The row of `codebook` `[K, D]` nearest (squared Euclidean) to each row of `x` `[M, D]`: `[M]`.
inline torch::Tensor nearest_code(const torch::Tensor& x, const torch::Tensor& codebook) {
  // |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 does not change the argmin.
  auto d = codebook.pow(2).sum(1).unsqueeze(0) - 2 * torch::matmul(x, codebook.t());
  return d.argmin(1);
}

}  // namespace ssl::tokenizer
