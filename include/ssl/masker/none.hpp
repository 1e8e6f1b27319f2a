#pragma once
/// \file masker/none.hpp
/// The masker of the methods that hide nothing.
#include <ssl/core/types.hpp>

#include <torch/torch.h>

namespace ssl::masker {

/// Hides nothing: the backbone sees the whole input (SimCLR, BYOL, DINO, GPT, fine-tuning).
struct None {
  /// `{.input = x}`: no mask, every position kept.
  Masked operator()(const torch::Tensor& x) const { return Masked{.input = x}; }
};

}  // namespace ssl::masker
