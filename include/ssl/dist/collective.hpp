#pragma once
/// \file dist/collective.hpp
/// The collectives through which losses see the other processes of a data-parallel run
/// (NT-Xent's negatives, DINO's centre, ...).
///
/// On one process (the default) every function is the exact identity: `world_size() == 1`,
/// `rank() == 0`, `all_gather_with_grad(x)` and `all_reduce_*(x)` return `x` itself, so
/// single-process results are bit-identical to code that never calls them. `dist::init`
/// (dist/c10d.hpp) installs a c10d process group (Gloo on CPU, NCCL on CUDA) as the `Backend`;
/// the losses do not change.
///
/// Random draws of a data-parallel run (`dist::rand`, used by the augmenters and maskers): every
/// process draws the whole global batch's numbers from the same generator state and keeps its
/// own rows, so W processes with B samples each draw exactly what one process with W * B samples
/// draws, and every process keeps the same generator state (one checkpoint serves all).
///
/// `dist::LocalOnly` makes the calling thread see a world of one (rank-0-only evaluation after a
/// data-parallel run: no collective, nothing waits for peers).
#include <torch/torch.h>

#include <memory>
#include <utility>
#include <vector>

namespace ssl::dist {

using torch::Tensor;

/// What a multi-process transport provides (`C10dBackend` in dist/c10d.hpp). Calls are
/// collective: every process makes the same calls in the same order with same-shaped tensors.
struct Backend {
  virtual ~Backend() = default;
  /// Processes in the run.
  [[nodiscard]] virtual int64_t world_size() const = 0;
  /// This process, in [0, world_size()).
  [[nodiscard]] virtual int64_t rank() const = 0;
  /// `t` of every process, concatenated along dim 0 in rank order. No autograd.
  virtual Tensor all_gather(const Tensor& t) = 0;
  /// Element-wise sum of `t` over the processes. No autograd.
  virtual Tensor all_reduce_sum(const Tensor& t) = 0;

  /// A collective in flight; `wait()` returns when its result is in place.
  struct Pending {
    virtual ~Pending() = default;
    /// Blocks until the collective's result is in place.
    virtual void wait() = 0;
  };
  /// Starts summing `t` (contiguous) over the processes in place. Collectives start in the
  /// same order on every process. Default: synchronous.
  virtual std::unique_ptr<Pending> all_reduce_sum_async(Tensor& t) {
    t.copy_(all_reduce_sum(t));
    struct Done : Pending {
      void wait() override {}
    };
    return std::make_unique<Done>();
  }
  /// Overwrites `t` with process `root`'s `t`.
  virtual void broadcast(Tensor& t, int64_t root) {
    t.copy_(all_gather(t.contiguous().unsqueeze(0))[root]);
  }
  /// Returns when every process has called it.
  virtual void barrier() { (void)all_reduce_sum(torch::zeros({1})); }
};

namespace detail {
inline std::shared_ptr<Backend>& installed_backend() {
  static std::shared_ptr<Backend> b;
  return b;
}
inline int& local_only_depth() {
  thread_local int depth = 0;
  return depth;
}
/// The backend in effect for this thread (none inside `LocalOnly`).
inline const std::shared_ptr<Backend>& backend_slot() {
  static const std::shared_ptr<Backend> none;
  return local_only_depth() > 0 ? none : installed_backend();
}

/// Sum over processes whose backward is the sum of the gradients over processes (every
/// process's output depends on every process's input): synchronised BatchNorm's statistics.
struct AllReduceWithGrad : torch::autograd::Function<AllReduceWithGrad> {
  static Tensor forward(torch::autograd::AutogradContext*, const Tensor& x) {
    return backend_slot()->all_reduce_sum(x.contiguous());
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext*,
                                                 torch::autograd::variable_list g) {
    return {backend_slot()->all_reduce_sum(g[0].contiguous())};
  }
};

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
inline void set_backend(std::shared_ptr<Backend> b) { detail::installed_backend() = std::move(b); }
/// The transport in effect for this thread (`nullptr` on one process or inside `LocalOnly`).
[[nodiscard]] inline std::shared_ptr<Backend> backend() { return detail::backend_slot(); }

/// While alive, this thread sees a world of one process: rank-0-only work after a data-parallel
/// run (evaluation, pictures) runs without collectives. Nests.
struct LocalOnly {
  LocalOnly() { ++detail::local_only_depth(); }   ///< enters the one-process world
  ~LocalOnly() { --detail::local_only_depth(); }  ///< leaves it (the enclosing `LocalOnly`, if any, still holds)
  LocalOnly(const LocalOnly&) = delete;
  LocalOnly& operator=(const LocalOnly&) = delete;
};

/// Processes of the installed backend; 1 without one (or inside a `LocalOnly` scope).
[[nodiscard]] inline int64_t world_size() {
  const auto& b = detail::backend_slot();
  return b ? b->world_size() : 1;
}
/// This process's rank in the installed backend; 0 without one.
[[nodiscard]] inline int64_t rank() {
  const auto& b = detail::backend_slot();
  return b ? b->rank() : 0;
}

/// Process 0 writes checkpoints, logs and the progress bar.
[[nodiscard]] inline bool is_main() { return rank() == 0; }

/// Element-wise sum over processes, differentiable (backward: the gradients summed over
/// processes). `x` itself on one process.
[[nodiscard]] inline Tensor all_reduce_sum_with_grad(const Tensor& x) {
  if (world_size() == 1) return x;
  return detail::AllReduceWithGrad::apply(x);
}

/// `torch::rand(sizes, o)` for this process's rows of a global batch: `sizes[0]` is the local
/// batch B (the same on every process); the generator draws `[world_size * B, ...]` and this
/// process keeps rows `[rank * B, (rank + 1) * B)`. On one process exactly `torch::rand`.
[[nodiscard]] inline Tensor rand(at::IntArrayRef sizes, const torch::TensorOptions& o) {
  const int64_t w = world_size();
  if (w == 1 || sizes.empty()) return torch::rand(sizes, o);
  std::vector<int64_t> global(sizes.begin(), sizes.end());
  global[0] *= w;
  return torch::rand(global, o).narrow(0, rank() * sizes[0], sizes[0]);
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

/// The denominator of a mean whose terms are spread over the processes: `count` (this
/// process's number of terms) becomes the global count / world size, so that
/// `local_sum / mean_count(count)`, averaged over processes by the data-parallel gradient
/// average (and by the reported loss), is the mean over all terms: BERT's masked tokens differ in
/// number between processes. `count` itself on one process.
[[nodiscard]] inline Tensor mean_count(const Tensor& count) {
  const int64_t n = world_size();
  if (n == 1) return count;
  return all_reduce_sum(count) / double(n);
}

}  // namespace ssl::dist
