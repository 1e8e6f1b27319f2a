#pragma once
/// \file data/loader.hpp
/// `data::Loader<D>`: batches of any dataset (data/dataset.hpp), made by worker threads ahead
/// of the training step. A loader is a pipeline of fixed stages, each a small piece of this file:
///
///     dataset (random access) -> order(epoch) -> shard -> batch -> transform -> device -> prefetch
///
///  - order: epoch `e`'s permutation is drawn from its own generator seeded with `seed + e`, so
///    batch `b` of epoch `e` is a pure function of `(e, b)`: a run resumed at (epoch, batch) sees
///    exactly the batches it would have seen, and the global RNG is untouched.
///  - shard: in a data-parallel run (`dist::world_size() == W > 1`, `shard` on) `batch_size` is
///    the per-process batch; global batch b is rows `[b * W * B, (b + 1) * W * B)` of the epoch's
///    order (the same on every process) and process r takes its r-th block of B. The shards never
///    overlap and together are the batches of one process with batch `W * B` (PyTorch's
///    distributed sampler, without padding: `drop_last` is required so that every process runs
///    the same number of steps).
///  - batch: a `BatchDataset` gives the batch at once (in-memory tensors: one `index_select`); a
///    `SampleDataset`'s samples (decoded images, sequences of a token store) are stacked.
///  - transform: a function of the whole batch (e.g. uint8 -> normalised float), then the move
///    to `device`.
///  - prefetch: `workers` threads make batches `b, b + workers, ...` in parallel, at most
///    `prefetch` batches ahead of the consumer (a bounded queue); the consumer takes them in
///    order. Worker count never changes what a batch holds, only when it is ready.
/// The random augmentations of the recipes run after this, on the batch's device.
///
/// Why the stages are not range-v3 views: views are lazy single-pass sequences pulled by one
/// thread, while a batch here is made by a pool of threads ahead of the consumer and must be
/// addressable by its index (resume). The per-batch index arithmetic is where ranges would sit;
/// it is three lines (`indices`).
#include <ssl/core/types.hpp>
#include <ssl/data/dataset.hpp>
#include <ssl/dist/collective.hpp>

#include <torch/torch.h>

#include <dlfcn.h>

#include <cmath>
#include <concepts>
#include <condition_variable>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace ssl::data {

/// Maps a raw batch (e.g. uint8 images) to model input (e.g. normalised float).
using Transform = std::function<torch::Tensor(const torch::Tensor&)>;

/// uint8 `[B,C,H,W]` -> float `(x/255 - mean) / std`.
inline Transform normalize(double mean, double std) {
  return [=](const torch::Tensor& x) { return (x.to(torch::kFloat32).div(255.0) - mean) / std; };
}
/// uint8 `[B,C,H,W]` -> float `(x/255 - mean[c]) / std[c]` per channel (`mean`, `std` of size C).
inline Transform normalize(std::vector<double> mean, std::vector<double> std) {
  TORCH_CHECK(!mean.empty() && mean.size() == std.size(), "data::normalize: expected as many means as stds (one per ",
              "channel), got ", mean.size(), " and ", std.size());
  for (double s : std) TORCH_CHECK(s > 0 && std::isfinite(s), "data::normalize: expected std > 0, got ", s);
  auto m = torch::tensor(mean, torch::kFloat32).view({1, -1, 1, 1});
  auto s = torch::tensor(std, torch::kFloat32).view({1, -1, 1, 1});
  return [m, s](const torch::Tensor& x) {
    TORCH_CHECK(x.dim() == 4 && x.size(1) == m.size(1), "data::normalize: made for ", m.size(1),
                " channels, got a batch of shape ", x.sizes());
    return (x.to(torch::kFloat32).div(255.0) - m.to(x.device())) / s.to(x.device());
  };
}

namespace detail {
/// Makes the calling thread's ATen operations single-threaded, as PyTorch's DataLoader workers do
/// (`torch.set_num_threads(1)` in each worker process): a worker that decoded, resized or
/// normalised with the intra-op thread count of the training step would put two OpenMP teams on
/// every core. Only this thread changes (OpenMP's per-thread setting); without OpenMP, nothing.
inline void single_threaded_ops() {
  (void)at::get_num_threads();  // ATen's per-thread initialisation first: it would undo the line below
  using SetThreads = void (*)(int);
  static const auto set = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set != nullptr) set(1);
}
}  // namespace detail

/// Example: `LoaderOptions{.batch_size = 256, .seed = 0, .workers = 2}`.
struct LoaderOptions {
  int64_t batch_size = 256;  ///< samples per batch of this process
  bool shuffle = true;  ///< a new random order each epoch (else the dataset's order)
  bool drop_last = true;  ///< leave out the last, incomplete batch of an epoch
  uint64_t seed = 0;  ///< the order of epoch e is a permutation drawn from seed + e
  /// Batches ready ahead of the consumer (the bounded queue); 0 = every batch is made in the
  /// caller's thread when it is needed (no worker threads).
  int64_t prefetch = 2;
  torch::Device device = torch::kCPU;  ///< where batches are moved (non-blocking) before they are handed over
  /// Per-sample lengths `[S]` (e.g. non-padding tokens). When given, each batch holds samples of
  /// similar length (Hugging Face's group_by_length): the epoch's permutation is cut into
  /// chunks of 50 batches, each chunk sorted by length, and the batches' order shuffled. With
  /// a padding-trimming transform (data::trim_padding) that is less work for the same data.
  torch::Tensor lengths;
  /// Shard the batches over the processes of a data-parallel run (see the file comment); off:
  /// every process iterates over all of the data (e.g. rank-0-only evaluation).
  bool shard = true;
  /// Threads that make batches (decode, stack, transform) when `prefetch > 0`, each running its
  /// ATen operations on one thread.
  int64_t workers = 1;
};

/// In-memory tensors as a `BatchDataset`: `inputs` `[S,...]` and optional `targets` `[S,...]`.
class TensorDataset {
 public:
  /// The samples along dim 0 of `inputs` and of `targets` (undefined: unlabelled).
  TensorDataset(torch::Tensor inputs, torch::Tensor targets = {})
      : inputs_(std::move(inputs)), targets_(std::move(targets)) {
    TORCH_CHECK(inputs_.defined() && inputs_.dim() >= 1 && inputs_.size(0) > 0, "data::Loader: empty input set");
    TORCH_CHECK(!targets_.defined() || targets_.size(0) == inputs_.size(0), "data::Loader: ", inputs_.size(0),
                " inputs but ", targets_.size(0), " targets");
  }
  /// Number of samples S.
  [[nodiscard]] int64_t size() const { return inputs_.size(0); }
  /// The samples at `idx` (int64 `[n]`): `{inputs[idx], targets[idx]}`.
  [[nodiscard]] Batch batch(const torch::Tensor& idx) const {
    return {inputs_.index_select(0, idx), targets_.defined() ? targets_.index_select(0, idx) : torch::Tensor{}};
  }
  /// All inputs `[S,...]`.
  [[nodiscard]] const torch::Tensor& inputs() const { return inputs_; }
  /// All targets `[S,...]`, or undefined.
  [[nodiscard]] const torch::Tensor& targets() const { return targets_; }

 private:
  torch::Tensor inputs_, targets_;
};

/// The samples `idx` (`[n]` int64, on the CPU) of `data` as one batch: a `BatchDataset`'s own
/// `batch`, or a `SampleDataset`'s samples stacked (they must share one shape, and be labelled all
/// or none: each breach is refused naming the sample).
template <Dataset D>
[[nodiscard]] Batch gather(const D& data, const torch::Tensor& idx) {
  if constexpr (BatchDataset<D>) {
    return data.batch(idx);
  } else {
    const auto n = idx.size(0);
    const auto* ids = idx.template data_ptr<int64_t>();
    std::vector<torch::Tensor> inputs;
    inputs.reserve(size_t(n));
    std::vector<int64_t> targets;
    targets.reserve(size_t(n));
    for (int64_t i = 0; i < n; ++i) {
      Sample s = data.get(ids[i]);
      TORCH_CHECK(inputs.empty() || s.input.sizes() == inputs.front().sizes(), "data::Loader: sample ", ids[i],
                  " has shape ", s.input.sizes(), ", the batch's first sample ", inputs.front().sizes(),
                  " (every sample of a dataset must have the same shape)");
      TORCH_CHECK(targets.empty() || (s.target >= 0) == (targets.front() >= 0), "data::Loader: sample ", ids[i],
                  (s.target >= 0 ? " has a label and" : " has no label and"),
                  " the batch's first sample does not (a dataset is labelled in all its samples or in none)");
      inputs.push_back(std::move(s.input));
      targets.push_back(s.target);
    }
    return {torch::stack(inputs), targets.front() >= 0 ? torch::tensor(targets, torch::kInt64) : torch::Tensor{}};
  }
}

/// Every sample of `data`, in order, as one batch in memory (`gather` of them all): for a small
/// dataset that is read many times (a labelled evaluation split, a short corpus).
template <Dataset D>
[[nodiscard]] Batch gather_all(const D& data) {
  return gather(data, torch::arange(data.size(), torch::kInt64));
}

/// Batches of a dataset; what `Trainer::fit` iterates (it models `ssl::DataSource`).
/// Examples:
///     ssl::data::Loader images(train.images, {}, ssl::data::normalize(0.286, 0.353), {.batch_size = 256});
///     ssl::data::Loader photos(ssl::data::ImageFolder("photos", {.image_size = 96}), to_unit,
///                              {.batch_size = 256, .workers = 2});
template <Dataset D>
class Loader {
 public:
  /// Batches of `dataset`, each passed through `transform` (none: as stacked) as `o` says.
  Loader(D dataset, Transform transform = nullptr, LoaderOptions o = {})
      : data_(std::move(dataset)), transform_(std::move(transform)), o_(std::move(o)) {
    TORCH_CHECK(data_.size() > 0, "data::Loader: the dataset is empty");
    TORCH_CHECK(o_.batch_size > 0, "data::Loader: batch_size must be positive, got ", o_.batch_size);
    TORCH_CHECK(!o_.drop_last || size() >= o_.batch_size, "data::Loader: batch_size ", o_.batch_size,
                " with drop_last leaves no batch of ", size(), " samples");
    TORCH_CHECK(o_.prefetch >= 0, "data::Loader: prefetch must be >= 0, got ", o_.prefetch);
    TORCH_CHECK(o_.workers >= 1, "data::Loader: workers must be >= 1, got ", o_.workers);
    TORCH_CHECK(!o_.lengths.defined() || (o_.lengths.dim() == 1 && o_.lengths.size(0) == size()),
                "data::Loader: expected lengths [", size(), "], got ", o_.lengths.sizes());
    if (o_.lengths.defined()) o_.lengths = o_.lengths.to(torch::kCPU);
  }
  /// In-memory tensors: `inputs` `[S,...]`, `targets` `[S,...]` or undefined.
  Loader(torch::Tensor inputs, torch::Tensor targets, Transform transform, LoaderOptions o = {})
    requires std::same_as<D, TensorDataset>
      : Loader(TensorDataset(std::move(inputs), std::move(targets)), std::move(transform), std::move(o)) {}

  /// The dataset.
  [[nodiscard]] const D& dataset() const { return data_; }
  /// Samples in the dataset.
  [[nodiscard]] int64_t size() const { return data_.size(); }
  /// Samples per batch of this process.
  [[nodiscard]] int64_t batch_size() const { return o_.batch_size; }
  /// The options it was made with.
  [[nodiscard]] const LoaderOptions& options() const { return o_; }
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
  /// Steps per epoch: batches of this process (the same on every process).
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

  /// The sample indices of batch `b` of process `rank` of `world`, given the epoch's order.
  [[nodiscard]] torch::Tensor indices(const torch::Tensor& order, int64_t b, int64_t world, int64_t rank) const {
    const auto start = b * o_.batch_size * world + rank * o_.batch_size;
    return order.narrow(0, start, std::min(o_.batch_size, size() - start));
  }

  /// The `b`-th batch of `epoch` (given its order) for this process.
  [[nodiscard]] Batch make(const torch::Tensor& order, int64_t b) const {
    return make(order, b, shards(), o_.shard ? dist::rank() : 0);
  }
  /// The `b`-th batch of process `rank` of `world`.
  [[nodiscard]] Batch make(const torch::Tensor& order, int64_t b, int64_t world, int64_t rank) const {
    Batch batch = gather(indices(order, b, world, rank));
    if (transform_) batch.input = transform_(batch.input);
    if (o_.device != torch::kCPU) {
      batch.input = batch.input.to(o_.device, /*non_blocking=*/true);
      if (batch.target.defined()) batch.target = batch.target.to(o_.device, true);
    }
    return batch;
  }

  /// Calls `f(batch, index)` for batches `start..` of `epoch`, in order, until it returns false.
  template <class F>
  void run(int64_t epoch, int64_t start, F&& f) const {
    const auto ord = order(epoch);
    const auto n = batches_per_epoch();
    // Read here: the worker threads do not see the caller's dist::LocalOnly.
    const int64_t world = shards(), rank = o_.shard ? dist::rank() : 0;
    if (o_.prefetch <= 0) {
      for (int64_t b = start; b < n; ++b)
        if (!f(make(ord, b, world, rank), b)) return;
      return;
    }
    // Worker w makes batches start + w, start + w + W, ...; batch b may be made once the
    // consumer has taken every batch before b - depth (at most `depth` made and not yet taken).
    const int64_t W = o_.workers, depth = std::max(o_.prefetch, W);
    std::mutex mu;
    std::condition_variable cv;
    std::map<int64_t, Batch> ready;
    std::exception_ptr error;
    int64_t next = start;  // the batch the consumer waits for
    bool stop = false;
    std::vector<std::thread> pool;
    auto finish = [&] {
      { std::lock_guard lk(mu); stop = true; }
      cv.notify_all();
      for (auto& t : pool) t.join();
    };
    for (int64_t w = 0; w < std::min(W, n - start); ++w) {
      pool.emplace_back([&, w] {
        detail::single_threaded_ops();
        try {
          for (int64_t b = start + w; b < n; b += W) {
            {
              std::unique_lock lk(mu);
              cv.wait(lk, [&] { return stop || b < next + depth; });
              if (stop) return;
            }
            Batch batch = make(ord, b, world, rank);
            std::lock_guard lk(mu);
            ready.emplace(b, std::move(batch));
            cv.notify_all();
          }
        } catch (...) {
          std::lock_guard lk(mu);
          if (!error) error = std::current_exception();
          cv.notify_all();
        }
      });
    }
    try {
      for (int64_t b = start; b < n; ++b) {
        Batch batch;
        {
          std::unique_lock lk(mu);
          cv.wait(lk, [&] { return ready.count(b) > 0 || error; });
          auto it = ready.find(b);
          if (it == ready.end()) std::rethrow_exception(error);
          batch = std::move(it->second);
          ready.erase(it);
          next = b + 1;
        }
        cv.notify_all();
        if (!f(batch, b)) break;
      }
    } catch (...) {
      finish();
      throw;
    }
    finish();
  }

 private:
  [[nodiscard]] Batch gather(const torch::Tensor& idx) const { return data::gather(data_, idx); }

  D data_;
  Transform transform_;
  LoaderOptions o_;
};

/// Deduction guide: a `Loader` over in-memory tensors is a `Loader<TensorDataset>`.
Loader(torch::Tensor, torch::Tensor, Transform, LoaderOptions) -> Loader<TensorDataset>;
/// Deduction guide: as above, with the default options.
Loader(torch::Tensor, torch::Tensor, Transform) -> Loader<TensorDataset>;

}  // namespace ssl::data
