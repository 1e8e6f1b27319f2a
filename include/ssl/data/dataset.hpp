#pragma once
/// \file data/dataset.hpp
/// What a loader reads from: a dataset is random access over samples, `size()` of them. Two
/// shapes are accepted (data/loader.hpp turns either into batches):
///  - `SampleDataset`: `get(i)` gives one `Sample` (an image decoded from its file, a sequence
///    cut from a token store). The loader stacks the samples of a batch; so every sample of a
///    dataset has the same shape.
///  - `BatchDataset`: `batch(indices)` gives a whole `Batch` at once (tensors already in memory:
///    one `index_select` instead of one copy per sample).
/// Both must be safe to call from several threads at once (the loader's workers).
#include <ssl/core/types.hpp>

#include <torch/torch.h>

#include <concepts>
#include <cstdint>

namespace ssl::data {

/// One sample: its input (any shape, the same for every sample of a dataset) and its label
/// (-1: none; a dataset is labelled in all its samples or in none).
struct Sample {
  torch::Tensor input;  ///< the input, e.g. an image `[C,H,W]`
  int64_t target = -1;  ///< the label; -1: none
};

namespace detail {
template <class D>
concept has_size = requires(const D& d) {
  { d.size() } -> std::convertible_to<int64_t>;
};
template <class D>
concept gets_sample = requires(const D& d, int64_t i) {
  { d.get(i) } -> std::same_as<Sample>;
};
template <class D>
concept gets_batch = requires(const D& d, const torch::Tensor& indices) {
  { d.batch(indices) } -> std::same_as<Batch>;
};
}  // namespace detail

/// Random access to single samples, callable from several threads.
/// Smallest model:
///     struct Ramp { int64_t size() const { return 10; }
///                   ssl::data::Sample get(int64_t i) const { return {torch::full({3}, double(i)), i % 2}; } };
template <class D>
concept SampleDataset = detail::has_size<D> && detail::gets_sample<D>;

/// Random access to whole batches by `[B]` int64 indices, callable from several threads.
/// Smallest model: `ssl::data::TensorDataset` (data/loader.hpp).
template <class D>
concept BatchDataset = detail::has_size<D> && detail::gets_batch<D>;

/// What a `data::Loader` can read.
template <class D>
concept Dataset = SampleDataset<D> || BatchDataset<D>;

}  // namespace ssl::data
