#pragma once
/// \file teacher/none.hpp
/// No teacher (MAE, BERT, SimCLR): the update does nothing.
#include <ssl/core/types.hpp>

#include <vector>

namespace ssl::teacher {

/// The teacher update of the methods without a teacher. Models `ssl::TeacherUpdate`.
struct None {
  /// Does nothing.
  void operator()(const std::vector<torch::Tensor>& /*student*/,
                  const std::vector<torch::Tensor>& /*teacher*/, const StepInfo&) const {}
};

}  // namespace ssl::teacher
