#pragma once
/// \file dist/collective.hpp
/// The collectives through which losses see the other processes of a data-parallel run
/// (NT-Xent's negatives, DINO's centre, ...).
///
/// On one process (the default, and the only case this issue implements) every function is the
/// exact identity: `world_size() == 1`, `rank() == 0`, `all_gather_with_grad(x)` and
/// `all_reduce_*(x)` return `x` itself, so single-process results are bit-identical to code that
/// never calls them. A later issue plugs c10d in by installing a `Backend` with `set_backend`;
/// the losses do not change.
#include <torch/torch.h>

#include <memory>
#include <utility>

namespace ssl::dist {

using torch::Tensor;

/// What a multi-process transport provides (implemented over c10d in a later issue). Calls are
/// collective: every process makes the same calls in the same order with same-shaped tensors.
struct Backend {
  virtual ~Backend() = default;
  [[nodiscard]] virtual int64_t world_size() const = 0;
  [[nodiscard]] virtual int64_t rank() const = 0;
  /// `t` of every process, concatenated along dim 0 in rank order. No autograd.
  virtual Tensor all_gather(const Tensor& t) = 0;
  /// Element-wise sum of `t` over the processes. No autograd.
  virtual Tensor all_reduce_sum(const Tensor& t) = 0;
};

namespace detail {
inline std::shared_ptr<Backend>& backend_slot() {
  static std::shared_ptr<Backend> b;
  return b;
}

/// Gather along dim 0; backward sums the gradient of the gathered tensor over the processes
/// and keeps this process's slice (each process's loss depends on everyone's samples).
struct GatherWithGrad : torch::autograd::Function<GatherWithGrad> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& x) {
    ctx->saved_data["n"] = x.size(0);
    return backend_slot()->all_gather(x.contiguous());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list g) {
    const int64_t n = ctx->saved_data["n"].toInt();
    auto& b = *backend_slot();
    auto total = b.all_reduce_sum(g[0].contiguous());
    return {total.narrow(0, b.rank() * n, n)};
  }
};
}  // namespace detail

/// Installs the transport (`nullptr`: back to a single process).
inline void set_backend(std::shared_ptr<Backend> b) { detail::backend_slot() = std::move(b); }
[[nodiscard]] inline std::shared_ptr<Backend> backend() { return detail::backend_slot(); }

[[nodiscard]] inline int64_t world_size() {
  const auto& b = detail::backend_slot();
  return b ? b->world_size() : 1;
}
[[nodiscard]] inline int64_t rank() {
  const auto& b = detail::backend_slot();
  return b ? b->rank() : 0;
}

/// `[world_size * B, ...]`: `x` (`[B, ...]`, same B on every process) of every process in rank
/// order, differentiable w.r.t. this process's `x`. Returns `x` itself on one process.
[[nodiscard]] inline Tensor all_gather_with_grad(const Tensor& x) {
  if (world_size() == 1) return x;
  return detail::GatherWithGrad::apply(x);
}

/// Element-wise sum over processes (not differentiable: for statistics). `x` itself on one process.
[[nodiscard]] inline Tensor all_reduce_sum(const Tensor& x) {
  if (world_size() == 1) return x;
  torch::NoGradGuard g;
  return detail::backend_slot()->all_reduce_sum(x);
}

/// Element-wise mean over processes (not differentiable). `x` itself on one process.
[[nodiscard]] inline Tensor all_reduce_mean(const Tensor& x) {
  const int64_t n = world_size();
  if (n == 1) return x;
  return all_reduce_sum(x) / double(n);
}

}  // namespace ssl::dist
