// Must NOT compile: the loss returns a Tensor instead of ssl::LossOutput. The error must name
// the ssl::Loss concept (checked by CTest's PASS_REGULAR_EXPRESSION).
#include <ssl/mae.hpp>

struct BadLoss {
  torch::Tensor operator()(const ssl::Prediction& p, const std::vector<torch::Tensor>& t) const {
    return (p.views[0] - t[0]).abs().mean();
  }
};

int main() {
  using Bad = ssl::Compose<ssl::vit::Encoder, ssl::masker::RandomPatches, ssl::augment::Identity,
                           ssl::target::Pixels, BadLoss, ssl::teacher::None, ssl::heads::MaeDecoder>;
  Bad::Impl* p = nullptr;
  (void)p;
  return sizeof(Bad::Impl) > 0 ? 0 : 1;
}
