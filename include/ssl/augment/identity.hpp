#pragma once
/// \file augment/identity.hpp
/// The identity augmenter: one global view, the batch itself (MAE, BERT, BEiT).
#include <ssl/core/types.hpp>

namespace ssl::augment {

struct Identity {
  Views operator()(const torch::Tensor& x) const { return Views{.global = {x}, .local = {}}; }
};

}  // namespace ssl::augment
