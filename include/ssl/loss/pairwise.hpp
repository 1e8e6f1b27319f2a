#pragma once
/// \file loss/pairwise.hpp
/// The convention shared by the joint-embedding losses (NT-Xent, negative cosine, Barlow Twins,
/// VICReg): `targets[i]` is what `pred.views[i]` is compared against, and the loss is the mean
/// of the criterion over these pairs. For two views the Target gives the other view's output:
/// `targets = {z1, z0}` (SimCLR, Barlow Twins, VICReg: the student's own projections, with
/// gradient; BYOL: the teacher's projections; SimSiam: the detached projections). For a
/// symmetric criterion the two orderings have the same value, so the mean is that value.
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>

#include <vector>

namespace ssl::loss::detail {

/// The mean over the `n` pairs of every term of `fn(i)` (a `std::vector<Tensor>` of the same
/// length for every i): how each loss turns per-pair criteria into its value and logged parts.
template <class F>
std::vector<torch::Tensor> mean_over_pairs(size_t n, F&& fn) {
  std::vector<torch::Tensor> sum;
  for (size_t i = 0; i < n; ++i) {
    std::vector<torch::Tensor> t = fn(i);
    if (i == 0) {
      sum = std::move(t);
      continue;
    }
    TORCH_CHECK(t.size() == sum.size(), "mean_over_pairs: pair ", i, " gave ", t.size(), " terms, pair 0 gave ",
                sum.size());
    for (size_t k = 0; k < sum.size(); ++k) sum[k] = sum[k] + t[k];
  }
  for (auto& s : sum) s = s / double(n);
  return sum;
}

inline void check_pairs(const char* who, const Prediction& pred, const std::vector<torch::Tensor>& targets) {
  TORCH_CHECK(!targets.empty() && pred.views.size() == targets.size(), who, ": expected one target per ",
              "predicted view (at least one), got ", pred.views.size(), " predictions and ", targets.size(),
              " targets");
}

/// Checks a `[B, D]` embedding (2-D, defined).
inline void check_embedding(const torch::Tensor& t, const char* who, const char* name) {
  TORCH_CHECK(t.defined() && t.dim() == 2, who, ": expected ", name, " of shape [B, D], got ",
              ssl::detail::shape_str(t));
}

inline void check_same_shape(const torch::Tensor& a, const torch::Tensor& b, const char* who) {
  TORCH_CHECK(a.sizes() == b.sizes(), who, ": the two embeddings must have the same shape, got ",
              ssl::detail::shape_str(a), " and ", ssl::detail::shape_str(b));
}

}  // namespace ssl::loss::detail
