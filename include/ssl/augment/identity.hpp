#pragma once
/// \file augment/identity.hpp
/// The identity augmenter: one global view, the batch itself (MAE, BERT, BEiT).
#include <ssl/core/types.hpp>

namespace ssl::augment {

/// The identity augmenter (an Augmenter, concepts.hpp): one global view, the batch itself.
struct Identity {
  /// `Views{.global = {x}}`: no copy, no local views.
  Views operator()(const torch::Tensor& x) const { return Views{.global = {x}, .local = {}}; }
};

}  // namespace ssl::augment
