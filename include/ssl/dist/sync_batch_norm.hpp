#pragma once
/// \file dist/sync_batch_norm.hpp
/// Synchronised BatchNorm (PyTorch's `SyncBatchNorm`): in a data-parallel run a training-mode
/// BatchNorm normalises with the mean and variance of the global batch (every process's
/// samples), computed through differentiable all-reduces, and updates its running statistics
/// with them, so W processes with B samples each compute what one process with W * B samples
/// computes. On one process, or in eval mode, it is the module's own forward. The layers that
/// call it are `nn::BatchNorm1d` / `nn::BatchNorm2d` (nn/batch_norm.hpp), once
/// `nn::convert_sync_batch_norm` has switched them on.
#include <ssl/dist/collective.hpp>

#include <torch/torch.h>

#include <vector>

namespace ssl::dist {

/// `bn` (a BatchNorm module: `options`, `weight`, `bias`, running statistics, as LibTorch's
/// `torch::nn::BatchNorm{1,2,3}dImpl`) applied to `x` (`[B, C, ...]`) with the global batch's
/// statistics.
template <class BN>
torch::Tensor sync_batch_norm(BN& bn, const torch::Tensor& x) {
  if (!bn.is_training() || world_size() == 1) return bn.forward(x);
  const auto& o = bn.options;
  TORCH_CHECK(x.dim() >= 2 && x.size(1) == o.num_features(), "dist::sync_batch_norm: expected [B, ",
              o.num_features(), ", ...], got ", x.sizes());
  std::vector<int64_t> dims{0}, shape(size_t(x.dim()), 1);
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  shape[1] = x.size(1);
  // Two passes, as one process's batch norm: the global mean, then the global mean square deviation.
  const auto local_n = torch::full({1}, double(x.numel() / x.size(1)), x.options());
  const auto s1 = all_reduce_sum_with_grad(torch::cat({x.sum(dims), local_n}));
  const auto n = s1[x.size(1)];
  const auto mean = s1.narrow(0, 0, x.size(1)) / n;
  const auto centred = x - mean.view(shape);
  const auto var = all_reduce_sum_with_grad(centred.pow(2).sum(dims)) / n;
  auto y = centred / (var + o.eps()).sqrt().view(shape);
  if (o.affine()) y = y * bn.weight.view(shape) + bn.bias.view(shape);
  if (o.track_running_stats()) {
    torch::NoGradGuard g;
    bn.num_batches_tracked += 1;
    const double m = o.momentum().has_value() ? *o.momentum() : 1.0 / bn.num_batches_tracked.template item<double>();
    const double count = n.template item<double>();
    bn.running_mean.mul_(1 - m).add_(mean.detach(), m);
    bn.running_var.mul_(1 - m).add_(var.detach() * (count / std::max(1.0, count - 1)), m);
  }
  return y;
}

}  // namespace ssl::dist
