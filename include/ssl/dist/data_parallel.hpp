#pragma once
/// \file dist/data_parallel.hpp
/// Data-parallel gradients: `GradSync` all-reduces the gradients of a parameter list in
/// buckets (about `bucket_bytes` each, filled in reverse order of the list: the order backward
/// produces them), each bucket started asynchronously the moment its last gradient is ready, so
/// communication overlaps the rest of the backward pass (PyTorch DDP's reducer, in small).
/// `finish()` waits and leaves every gradient averaged over the processes.
///
/// Buckets start in index order on every process (a ready bucket waits for its predecessors), so
/// every process issues the same collectives in the same order. A parameter may get no
/// gradient in a step (a frozen layer): each bucket carries one flag per parameter, summed with
/// the gradients, and a parameter no process gave a gradient keeps none (the optimizer skips
/// it, as on one process).
#include <ssl/dist/collective.hpp>

#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/torch.h>

#include <map>
#include <memory>
#include <vector>

namespace ssl::dist {

/// Overwrites every parameter and buffer of `m` with process 0's (start of a data-parallel run).
inline void broadcast_module(torch::nn::Module& m) {
  auto b = backend();
  if (!b) return;
  torch::NoGradGuard g;
  for (auto t : m.parameters()) b->broadcast(t, 0);
  for (auto t : m.buffers())
    if (t.defined() && t.numel() > 0) b->broadcast(t, 0);
}

/// All-reduces the gradients of a parameter list in buckets while backward runs (see the file
/// comment); `finish()` leaves them averaged over the processes.
class GradSync {
 public:
  /// `params`: the trainable parameters (each once). No-op on one process.
  explicit GradSync(std::vector<torch::Tensor> params, int64_t bucket_bytes = 25 << 20)
      : state_(std::make_shared<State>()) {
    auto& s = *state_;
    s.backend = backend();
    if (!s.backend) return;
    s.params = std::move(params);
    // Reverse order, split by size cap and by (device, dtype).
    std::map<std::pair<std::string, c10::ScalarType>, size_t> open;  // key -> bucket being filled
    for (size_t k = s.params.size(); k-- > 0;) {
      const auto& p = s.params[k];
      TORCH_CHECK(p.requires_grad(), "dist::GradSync: parameter ", k, " does not require a gradient");
      const auto key = std::make_pair(p.device().str(), p.scalar_type());
      auto it = open.find(key);
      if (it == open.end() || s.buckets[it->second].bytes + p.numel() * p.element_size() > bucket_bytes) {
        s.buckets.push_back(Bucket{});
        s.buckets.back().options = p.options();
        it = open.insert_or_assign(key, s.buckets.size() - 1).first;
      }
      auto& b = s.buckets[it->second];
      b.members.push_back(k);
      b.bytes += p.numel() * p.element_size();
      s.where.resize(s.params.size());
      s.where[k] = {it->second, b.members.size() - 1};
    }
    s.got.assign(s.params.size(), false);
    // Called after the gradient is accumulated into `.grad` (the hook slot Python's
    // register_post_accumulate_grad_hook uses; one per tensor).
    struct Hook : torch::autograd::PostAccumulateGradHook {
      std::weak_ptr<State> state;
      size_t k = 0;
      void operator()(const torch::autograd::Variable&) override {
        if (auto st = state.lock()) st->on_grad(k);
      }
    };
    for (size_t k = 0; k < s.params.size(); ++k) {
      auto h = std::make_unique<Hook>();
      h->state = state_;
      h->k = k;
      torch::autograd::impl::set_post_acc_grad_hooks(s.params[k], std::move(h));
    }
  }
  ~GradSync() {
    if (!state_->backend) return;
    for (auto& p : state_->params) torch::autograd::impl::set_post_acc_grad_hooks(p, nullptr);
  }
  GradSync(const GradSync&) = delete;
  GradSync& operator=(const GradSync&) = delete;

  /// Whether the next backward pass reduces (false: a gradient-accumulation micro-step; the
  /// gradients only add up locally).
  void arm(bool on) {
    if (!state_->backend) return;
    state_->armed = on;
    state_->reset();
  }
  /// After the armed backward: starts what did not start, waits, writes the averaged gradients.
  void finish() {
    auto& s = *state_;
    if (!s.backend || !s.armed) return;
    while (s.next < s.buckets.size()) s.launch(s.next++);
    const double w = double(s.backend->world_size());
    torch::NoGradGuard g;
    for (auto& b : s.buckets) {
      b.work->wait();
      int64_t off = 0;
      const auto n = int64_t(b.members.size());
      const auto flags = b.flat.narrow(0, b.flat.numel() - n, n).to(torch::kCPU, torch::kFloat32);
      const auto has_grad = flags.accessor<float, 1>();
      for (size_t i = 0; i < b.members.size(); ++i) {
        auto& p = s.params[b.members[i]];
        const auto numel = p.numel();
        if (has_grad[int64_t(i)] > 0) {
          auto avg = b.flat.narrow(0, off, numel).view(p.sizes()).div_(w);
          if (p.grad().defined()) p.mutable_grad().copy_(avg);
          else p.mutable_grad() = avg.clone();
        }
        off += numel;
      }
      b.work.reset();
      b.flat = torch::Tensor();
    }
    s.reset();
  }
  /// Buckets the parameters were split into (0 on one process).
  [[nodiscard]] size_t num_buckets() const { return state_->buckets.size(); }

 private:
  struct Bucket {
    std::vector<size_t> members;  // parameter indices, in bucket order
    int64_t bytes = 0;
    torch::TensorOptions options;
    size_t ready = 0;
    torch::Tensor flat;  // gradients, then one flag per member
    std::unique_ptr<Backend::Pending> work;
  };
  struct State {
    std::shared_ptr<Backend> backend;
    std::vector<torch::Tensor> params;
    std::vector<Bucket> buckets;
    std::vector<std::pair<size_t, size_t>> where;  // parameter -> (bucket, slot)
    std::vector<bool> got;                         // gradient accumulated in this backward
    size_t next = 0;                               // first bucket not started
    bool armed = true;

    void reset() {
      got.assign(got.size(), false);
      for (auto& b : buckets) b.ready = 0;
      next = 0;
    }
    void on_grad(size_t k) {
      if (!armed || got[k]) return;
      got[k] = true;
      auto& b = buckets[where[k].first];
      ++b.ready;
      while (next < buckets.size() && buckets[next].ready == buckets[next].members.size()) launch(next++);
    }
    /// Flattens bucket `i`'s accumulated gradients (all micro-steps) and starts its all-reduce.
    void launch(size_t i) {
      torch::NoGradGuard g;
      auto& b = buckets[i];
      std::vector<torch::Tensor> parts;
      std::vector<float> flags;  // built on the host: one tensor, not one indexing op per parameter
      for (const size_t k : b.members) {
        const auto& p = params[k];
        const auto& grad = p.grad();
        flags.push_back(grad.defined() ? 1.0f : 0.0f);
        parts.push_back(grad.defined() ? grad.detach().reshape({-1}) : torch::zeros({p.numel()}, b.options));
      }
      parts.push_back(torch::tensor(flags).to(b.options));
      b.flat = torch::cat(parts);
      b.work = backend->all_reduce_sum_async(b.flat);
    }
  };

  std::shared_ptr<State> state_;
};

}  // namespace ssl::dist
