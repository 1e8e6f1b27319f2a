#pragma once
/// \file target/views.hpp
/// Targets of the two-view joint-embedding methods without a separate teacher network: each
/// view's output is compared with the other view's, as `PairedEmbeddings` (`views[i]` goes with
/// `pred.views[i]`, so two views give `{z1, z0}`; loss/pairwise.hpp).
///  - `OtherView`: with gradient through both (SimCLR, Barlow Twins, VICReg: the two branches
///    are one network and both are trained).
///  - `StopGradient`: the other view's *projection* (`HeadOutput::projection`, before the predictor),
///    detached (SimSiam: the "teacher" is the student itself with the gradient stopped; the
///    method's teacher update is `teacher::None`).
#include <ssl/core/check.hpp>
#include <ssl/core/types.hpp>

#include <vector>

namespace ssl::target {

namespace detail {
inline void check_two_views(const Prediction& p, const char* who) {
  TORCH_CHECK(p.views.size() == 2, who, ": expected exactly two student views (a TwoViews augmenter), got ",
              p.views.size());
}
}  // namespace detail

/// Example: `target::OtherView{}` (SimCLR).
struct OtherView {
  /// `{z1, z0}`: each view's output is compared with the other's.
  PairedEmbeddings operator()(const Views& /*views*/, const Prediction& p) const {
    detail::check_two_views(p, "target::OtherView");
    return {{p.views[1], p.views[0]}};
  }
};

/// Example: `target::StopGradient{}` with a `heads::ProjectPredict` head (SimSiam).
struct StopGradient {
  /// `{stop_grad(projection(v1)), stop_grad(projection(v0))}`.
  PairedEmbeddings operator()(const Views& /*views*/, const Prediction& p) const {
    constexpr const char* who = "target::StopGradient";
    detail::check_two_views(p, who);
    for (size_t i = 0; i < 2; ++i)
      TORCH_CHECK(p.extra.size() == 2 && p.extra[i].projection.defined(), who,
                  ": expected the head to return its projection as HeadOutput::projection (a projector + ",
                  "predictor head such as heads::ProjectPredict); view ", i, " has none");
    return {{p.extra[1].projection.detach(), p.extra[0].projection.detach()}};
  }
};

}  // namespace ssl::target
