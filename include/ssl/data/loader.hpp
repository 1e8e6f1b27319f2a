#pragma once
/// \file data/loader.hpp
/// Shuffling batcher over in-memory tensors with background prefetch. The order of epoch `e` is
/// a permutation drawn from its own generator seeded with `seed + e`, so a run resumed at
/// (epoch, batch) sees exactly the batches it would have seen, and the global RNG is untouched.
///
/// Data-parallel runs (`dist::world_size() == W > 1`, and `shard` on): `batch_size` is the
/// per-process batch; global batch b is rows `[b * W * B, (b + 1) * W * B)` of the epoch's
/// permutation (the same on every process) and process r takes its r-th block of B. The shards
/// never overlap, every epoch reshuffles, and the W processes together see exactly the batches
/// of one process with batch `W * B` (the distributed sampler of PyTorch, without padding:
/// `drop_last` is required so that every process runs the same number of steps).
#include <ssl/core/types.hpp>
#include <ssl/dist/collective.hpp>

#include <torch/torch.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

namespace ssl::data {

/// Maps a raw batch (e.g. uint8 images) to model input (e.g. normalised float).
using Transform = std::function<torch::Tensor(const torch::Tensor&)>;

/// uint8 `[B,C,H,W]` -> float `(x/255 - mean) / std`.
inline Transform normalize(double mean, double std) {
  return [=](const torch::Tensor& x) { return (x.to(torch::kFloat32).div(255.0) - mean) / std; };
}

/// Example: `LoaderOptions{.batch_size = 256, .seed = 0}`.
struct LoaderOptions {
  int64_t batch_size = 256;
  bool shuffle = true;
  bool drop_last = true;
  uint64_t seed = 0;
  /// Batches prepared ahead in a background thread; 0 = prepare in the caller's thread.
  int64_t prefetch = 2;
  torch::Device device = torch::kCPU;
  /// Per-sample lengths `[S]` (e.g. non-padding tokens). When given, each batch holds samples of
  /// similar length (Hugging Face's group_by_length): the epoch's permutation is cut into
  /// chunks of 50 batches, each chunk sorted by length, and the batches' order shuffled. With
  /// a padding-trimming transform (data::trim_padding) that is less work for the same data.
  torch::Tensor lengths;
  /// Shard the batches over the processes of a data-parallel run (see the file comment); off:
  /// every process iterates over all of the data (e.g. rank-0-only evaluation).
  bool shard = true;
};

class Loader {
 public:
  Loader(torch::Tensor inputs, torch::Tensor targets, Transform transform, LoaderOptions o = {})
      : inputs_(std::move(inputs)), targets_(std::move(targets)), transform_(std::move(transform)), o_(o) {
    TORCH_CHECK(inputs_.defined() && inputs_.dim() >= 1 && inputs_.size(0) > 0, "data::Loader: empty input set");
    TORCH_CHECK(!targets_.defined() || targets_.size(0) == inputs_.size(0), "data::Loader: ", inputs_.size(0),
                " inputs but ", targets_.size(0), " targets");
    TORCH_CHECK(o_.batch_size > 0, "data::Loader: batch_size must be positive, got ", o_.batch_size);
    TORCH_CHECK(!o_.drop_last || inputs_.size(0) >= o_.batch_size, "data::Loader: batch_size ", o_.batch_size,
                " with drop_last leaves no batch of ", inputs_.size(0), " samples");
    TORCH_CHECK(!o_.lengths.defined() || (o_.lengths.dim() == 1 && o_.lengths.size(0) == inputs_.size(0)),
                "data::Loader: expected lengths [", inputs_.size(0), "], got ", o_.lengths.sizes());
    if (o_.lengths.defined()) o_.lengths = o_.lengths.to(torch::kCPU);
  }

  [[nodiscard]] int64_t size() const { return inputs_.size(0); }
  /// Samples per batch of this process.
  [[nodiscard]] int64_t batch_size() const { return o_.batch_size; }
  /// Processes the batches are sharded over (1 unless a data-parallel run is in effect).
  [[nodiscard]] int64_t shards() const {
    const int64_t w = o_.shard ? dist::world_size() : 1;
    TORCH_CHECK(w == 1 || o_.drop_last, "data::Loader: a data-parallel run over ", w,
                " processes needs drop_last (every process must run the same number of steps)");
    TORCH_CHECK(w == 1 || size() >= w * o_.batch_size, "data::Loader: ", size(), " samples make no global batch of ",
                w, " processes x ", o_.batch_size);
    return w;
  }
  /// Samples per step over all processes.
  [[nodiscard]] int64_t global_batch_size() const { return shards() * o_.batch_size; }
  [[nodiscard]] int64_t batches_per_epoch() const {
    const int64_t g = global_batch_size();
    return o_.drop_last ? size() / g : (size() + g - 1) / g;
  }

  /// Sample order of `epoch` (the same on every process).
  [[nodiscard]] torch::Tensor order(int64_t epoch) const {
    if (!o_.shuffle) return torch::arange(size(), torch::kInt64);
    auto gen = at::make_generator<at::CPUGeneratorImpl>(o_.seed + static_cast<uint64_t>(epoch));
    auto perm = torch::randperm(size(), gen, torch::TensorOptions().dtype(torch::kInt64));
    if (!o_.lengths.defined()) return perm;
    const auto gb = global_batch_size();
    const auto chunk = 50 * gb;
    std::vector<torch::Tensor> sorted;
    for (int64_t s = 0; s < size(); s += chunk) {
      auto idx = perm.narrow(0, s, std::min(chunk, size() - s));
      auto by_len = std::get<1>(o_.lengths.index_select(0, idx).sort(/*stable=*/true, 0, /*descending=*/true));
      sorted.push_back(idx.index_select(0, by_len));
    }
    auto grouped = torch::cat(sorted);
    const auto full = size() / gb;
    auto batches = grouped.narrow(0, 0, full * gb).view({full, gb});
    auto shuffled = batches.index_select(0, torch::randperm(full, gen, torch::kInt64)).reshape({-1});
    return torch::cat({shuffled, grouped.narrow(0, full * gb, size() - full * gb)});
  }

  /// The `b`-th batch of `epoch` (given its order) for this process.
  [[nodiscard]] Batch make(const torch::Tensor& order, int64_t b) const {
    return make(order, b, shards(), o_.shard ? dist::rank() : 0);
  }
  /// The `b`-th batch of process `rank` of `world`.
  [[nodiscard]] Batch make(const torch::Tensor& order, int64_t b, int64_t world, int64_t rank) const {
    const auto start = b * o_.batch_size * world + rank * o_.batch_size;
    const auto n = std::min(o_.batch_size, size() - start);
    auto idx = order.narrow(0, start, n);
    Batch batch{transform_ ? transform_(inputs_.index_select(0, idx)) : inputs_.index_select(0, idx),
                targets_.defined() ? targets_.index_select(0, idx) : torch::Tensor{}};
    if (o_.device != torch::kCPU) {
      batch.input = batch.input.to(o_.device, /*non_blocking=*/true);
      if (batch.target.defined()) batch.target = batch.target.to(o_.device, true);
    }
    return batch;
  }

  /// Calls `f(batch, index)` for batches `start..` of `epoch` until it returns false.
  template <class F>
  void run(int64_t epoch, int64_t start, F&& f) const {
    const auto ord = order(epoch);
    const auto n = batches_per_epoch();
    // Read here: the prefetch thread does not see the caller's dist::LocalOnly.
    const int64_t world = shards(), rank = o_.shard ? dist::rank() : 0;
    if (o_.prefetch <= 0) {
      for (int64_t b = start; b < n; ++b) if (!f(make(ord, b, world, rank), b)) return;
      return;
    }
    std::mutex mu;
    std::condition_variable cv;
    std::deque<std::pair<int64_t, Batch>> queue;
    std::exception_ptr error;
    bool stop = false;
    std::thread producer([&] {
      try {
        for (int64_t b = start; b < n; ++b) {
          Batch batch = make(ord, b, world, rank);
          std::unique_lock lk(mu);
          cv.wait(lk, [&] { return stop || int64_t(queue.size()) < o_.prefetch; });
          if (stop) return;
          queue.emplace_back(b, std::move(batch));
          cv.notify_all();
        }
      } catch (...) {
        std::lock_guard lk(mu);
        error = std::current_exception();
        cv.notify_all();
      }
    });
    auto finish = [&] {
      { std::lock_guard lk(mu); stop = true; }
      cv.notify_all();
      producer.join();
    };
    try {
      for (int64_t b = start; b < n; ++b) {
        std::pair<int64_t, Batch> item;
        {
          std::unique_lock lk(mu);
          cv.wait(lk, [&] { return !queue.empty() || error; });
          if (queue.empty() && error) std::rethrow_exception(error);
          item = std::move(queue.front());
          queue.pop_front();
          cv.notify_all();
        }
        if (!f(item.second, item.first)) break;
      }
    } catch (...) {
      finish();
      throw;
    }
    finish();
  }

 private:
  torch::Tensor inputs_, targets_;
  Transform transform_;
  LoaderOptions o_;
};

}  // namespace ssl::data
