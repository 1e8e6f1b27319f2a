#pragma once
/// \file core/check.hpp
/// Small helpers for boundary checks whose message says what was expected and what came.
#include <torch/torch.h>

#include <array>
#include <exception>
#include <optional>
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

/// The patch grid `{rows, cols}` of an `[B,C,H,W]` batch for a masker (`who`) whose `patch` (the
/// encoder's patch size) is required and must divide both image sides.
inline std::array<int64_t, 2> patch_grid(const torch::Tensor& x, const std::optional<int64_t>& patch, const char* who) {
  check_dim(x, 4, who, "[B,C,H,W]");
  TORCH_CHECK(patch.has_value(), who, ": patch is required (the encoder's patch size)");
  const int64_t p = *patch;
  TORCH_CHECK(p > 0 && x.size(2) % p == 0 && x.size(3) % p == 0, who, ": image ", x.size(2), "x", x.size(3),
              " is not divisible by the patch size ", p);
  return {x.size(2) / p, x.size(3) / p};
}

/// A recipe's derived option: what the recipe's other parts fix (`derived`, from `from`) fills
/// `opt` when the user left it unset, and a different value the user set is an error naming the
/// option: a recipe never overwrites a choice silently.
template <class T, class U>
void derive(std::optional<T>& opt, const U& derived, const char* who, const char* name, const char* from) {
  if (opt.has_value()) {
    TORCH_CHECK(*opt == static_cast<T>(derived), who, ": ", name, " is ", *opt, " but ", from, " gives ", derived,
                ": leave it unset or set it to ", derived);
  } else {
    opt = static_cast<T>(derived);
  }
}

/// The text of a caught error, to quote as the cause in a new error's message: a `c10::Error`'s
/// message alone (`msg()`: without the C++ backtrace and source location that its `what()` adds,
/// which would land, frame by frame, inside the new message), any other exception's `what()`.
/// Also cheap: `what()` symbolises the backtrace (a `dladdr` per frame).
inline std::string cause(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->msg();
  return e.what();
}

}  // namespace ssl::detail
