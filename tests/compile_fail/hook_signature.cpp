// Must NOT compile: a loss with a member named `set_step` that does not take the run's position
// (`const ssl::StepInfo&`). It declares no hook, and is still refused: a member with a hook's name
// but not its signature is an error, not a skip (checked by CTest's PASS_REGULAR_EXPRESSION).
#include <ssl/mae.hpp>

struct ScheduledLoss {
  double weight = 1.0;
  void set_step(int64_t epoch) { weight = 1.0 + double(epoch); }  // not the hook's signature
  ssl::LossOutput operator()(const ssl::Prediction& p, const ssl::PixelPatches& t) const {
    return {weight * (p.views[0] - t.views[0]).abs().mean(), {}};
  }
};

int main() {
  using Bad = ssl::mae::Recipe::with_loss<ScheduledLoss>;
  Bad::Impl* p = nullptr;
  (void)p;
  return sizeof(Bad::Impl) > 0 ? 0 : 1;
}
