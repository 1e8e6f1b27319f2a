#pragma once
/// \file nn/batch_norm.hpp
/// BatchNorm that a data-parallel run can synchronise, and the one call that does it at setup.
///
/// `nn::BatchNorm1d` / `nn::BatchNorm2d` are LibTorch's `torch::nn::BatchNorm{1,2}d` (same
/// options, parameter and buffer names, same forward), plus a `sync` flag. With `sync` on, in
/// training mode and in a run of more than one process, the layer normalises with the statistics
/// of the global batch (`dist::sync_batch_norm`, PyTorch's `SyncBatchNorm`); otherwise it is
/// LibTorch's own BatchNorm. The library's ResNet and heads use these layers;
/// `nn::convert_sync_batch_norm(model)` turns `sync` on in every one of them, once, before
/// training (PyTorch's `SyncBatchNorm.convert_sync_batchnorm`). `ssl::Trainer` calls it when a
/// data-parallel run starts (`FitOptions::sync_batch_norm`); the parts themselves never call a
/// collective for it.
#include <ssl/dist/sync_batch_norm.hpp>

#include <torch/torch.h>

#include <cstddef>
#include <ostream>
#include <string>
#include <utility>

namespace ssl::nn {

/// BatchNorm over dimension 1 of `[B, C]` / `[B, C, L]` (D = 1) or `[B, C, H, W]` (D = 2) input,
/// synchronised over the processes when `sync` is on (see the file comment).
template <size_t D>
class BatchNormImpl : public torch::nn::BatchNormImplBase<D, BatchNormImpl<D>> {
  using Base = torch::nn::BatchNormImplBase<D, BatchNormImpl<D>>;

 public:
  /// A layer as `options` says (LibTorch's `BatchNormOptions`: features, eps, momentum, affine).
  explicit BatchNormImpl(const torch::nn::BatchNormOptions& options) : Base(options) {}
  /// A layer over `features` channels with PyTorch's defaults.
  explicit BatchNormImpl(int64_t features) : Base(torch::nn::BatchNormOptions(features)) {}

  /// LibTorch's BatchNorm forward; with `sync`, in training mode and with more than one process,
  /// the global batch's statistics (`dist::sync_batch_norm`).
  torch::Tensor forward(const torch::Tensor& x) {
    if (sync && this->is_training() && dist::world_size() > 1) {
      _check_input_dim(x);
      return dist::sync_batch_norm(*this, x);
    }
    return Base::forward(x);
  }

  /// `torch::nn::BatchNorm<D>d(...)` as LibTorch prints it, and whether the layer is synchronised.
  void pretty_print(std::ostream& stream) const override {
    stream << "ssl::nn::";
    Base::pretty_print(stream);
    if (sync) stream << " [sync]";
  }

  /// Normalise with the global batch's statistics in a data-parallel run (off by default; set
  /// by `nn::convert_sync_batch_norm`). Kept by `clone()`.
  bool sync = false;

 protected:
  /// Refuses input of the wrong rank, naming the layer and the shape it got.
  void _check_input_dim(const torch::Tensor& x) override {
    const bool ok = D == 1 ? (x.dim() == 2 || x.dim() == 3) : x.dim() == int64_t(D) + 2;
    TORCH_CHECK(ok, "nn::BatchNorm", D, "d: expected ", D == 1 ? "2-D or 3-D" : std::to_string(D + 2) + "-D",
                " input [B, C, ...], got ", x.dim(), "-D input of shape ", x.sizes());
  }
};

/// `[B, C]` or `[B, C, L]` input (the projection heads).
using BatchNorm1dImpl = BatchNormImpl<1>;
/// `[B, C, H, W]` input (the ResNet).
using BatchNorm2dImpl = BatchNormImpl<2>;
/// Holder of a `BatchNorm1dImpl`.
TORCH_MODULE(BatchNorm1d);
/// Holder of a `BatchNorm2dImpl`.
TORCH_MODULE(BatchNorm2d);

/// Turns `sync` on in every `nn::BatchNorm1d` / `nn::BatchNorm2d` of `model` (itself and its
/// submodules, a momentum teacher's included) and returns how many. Call it once, before the
/// first step of a data-parallel run. A LibTorch `torch::nn::BatchNorm{1,2,3}d` found in `model`
/// cannot be synchronised: it is left as it is (per-process statistics, as PyTorch DDP without
/// SyncBatchNorm), and a warning names it.
inline int64_t convert_sync_batch_norm(torch::nn::Module& model) {
  int64_t n = 0;
  std::string plain;
  for (const auto& item : model.named_modules("", /*include_self=*/true)) {
    auto& m = *item.value();
    if (auto* bn = m.as<BatchNorm1dImpl>()) bn->sync = true, ++n;
    else if (auto* bn2 = m.as<BatchNorm2dImpl>()) bn2->sync = true, ++n;
    else if (m.as<torch::nn::BatchNorm1dImpl>() || m.as<torch::nn::BatchNorm2dImpl>() || m.as<torch::nn::BatchNorm3dImpl>())
      plain += (plain.empty() ? "" : ", ") + (item.key().empty() ? std::string("(the model itself)") : item.key());
  }
  if (!plain.empty())
    TORCH_WARN("nn::convert_sync_batch_norm: LibTorch BatchNorm layers cannot be synchronised and keep per-process ",
               "statistics: ", plain, " (use ssl::nn::BatchNorm1d / BatchNorm2d to synchronise them)");
  return n;
}

}  // namespace ssl::nn
