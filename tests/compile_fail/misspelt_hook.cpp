// Must NOT compile: a loss that declares the step hook (its schedule follows the run) but
// misspells `set_step`. Without the declaration Compose would skip it silently; with it the
// error names the hook and the part (checked by CTest's PASS_REGULAR_EXPRESSION).
#include <ssl/mae.hpp>

struct ScheduledLoss {
  static constexpr unsigned hooks = ssl::hook::step;
  double weight = 1.0;
  void set_steps(const ssl::StepInfo& i) { weight = 1.0 + double(i.epoch); }  // misspelt
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
