#pragma once
/// \file core/check.hpp
/// Small helpers for boundary checks whose message says what was expected and what came.
#include <torch/torch.h>

#include <sstream>
#include <string>
#include <vector>

namespace ssl::detail {

inline std::string shape_str(const torch::Tensor& t) {
  if (!t.defined()) return "<undefined>";
  std::ostringstream os;
  os << t.sizes();
  return os.str();
}

/// Checks `t.dim() == dim`, naming `what` and the expected layout in the error.
inline void check_dim(const torch::Tensor& t, int64_t dim, const char* what, const char* layout) {
  TORCH_CHECK(t.defined(), what, ": expected a tensor ", layout, ", got an undefined tensor");
  TORCH_CHECK(t.dim() == dim, what, ": expected ", dim, "-D tensor ", layout, ", got shape ",
              shape_str(t));
}

}  // namespace ssl::detail
