// Must NOT compile: the loss returns a Tensor instead of ssl::LossOutput. The error must name
// the ssl::Loss concept (checked by CTest's PASS_REGULAR_EXPRESSION).
#include <ssl/mae.hpp>

struct BadLoss {
  torch::Tensor operator()(const ssl::Prediction& p, const ssl::PixelPatches& t) const {
    return (p.views[0] - t.views[0]).abs().mean();
  }
};

int main() {
  using Bad = ssl::mae::Recipe::with_loss<BadLoss>;
  Bad::Impl* p = nullptr;
  (void)p;
  return sizeof(Bad::Impl) > 0 ? 0 : 1;
}
