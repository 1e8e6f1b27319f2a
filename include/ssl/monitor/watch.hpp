#pragma once
/// \file monitor/watch.hpp
/// Opting into monitors: `monitor::watch(loss, monitors...)` wraps a recipe's loss in a
/// `monitor::Monitored` loss that scores exactly as the wrapped one and, every `every` steps of
/// each monitor, adds the monitor's parts (`mon_*`, `alert_*`) to the loss's logged parts. The
/// trainer logs them as any part (train.jsonl, TensorBoard), and shows a nonzero `alert_*` part on
/// its progress line; nothing in the trainer knows about monitors.
///
///     auto r = ssl::byol::recipe(backbone, o);
///     auto watched = ssl::monitor::watched(r, /*every=*/50);  // the standard monitors of BYOL's loss
///     auto custom = r.replace<ssl::slot::loss>(
///         ssl::monitor::watch(r->loss(), ssl::monitor::EmbeddingStd{.every = 10, .collapse_factor = 0.1}));
///
/// The wrapper scores the Target type the wrapped loss scores (`target_type`), so it pairs with the
/// recipe's Target as the loss did. It is a module; a wrapped module loss (DINO's, with its centre)
/// keeps its parameters, buffers and submodules under their own names, so a recipe's checkpoint has
/// the same tensors with monitors on or off (the wrapped module itself is not a child, so its own
/// `is_training()` flag does not follow `train()`/`eval()`; no loss here reads it). Step: learnt
/// from the trainer (`set_step`, which is passed on to the wrapped loss); a loss called alone
/// counts its calls.
#include <ssl/compose.hpp>
#include <ssl/concepts.hpp>
#include <ssl/core/types.hpp>
#include <ssl/monitor/monitors.hpp>

#include <torch/torch.h>

#include <concepts>
#include <optional>
#include <tuple>
#include <type_traits>
#include <utility>

namespace ssl::monitor {

namespace detail {
template <class M, class X, class L>
concept measures = requires(M m, const Seen<X, L>& s) {
  { m.measure(s) } -> std::same_as<Parts>;
};
template <class M>
concept has_every = requires(M m) {
  { m.every } -> std::convertible_to<int64_t>;
};
/// Whether monitor `M` is measured before the loss runs (`static constexpr bool before_loss`).
template <class M>
constexpr bool before_loss() {
  if constexpr (requires { M::before_loss; }) return M::before_loss;
  else return false;
}
}  // namespace detail

/// A monitor of the loss `L`: a value with `int64_t every` and `Parts measure(const Seen<X, L>&)`
/// for the target type X that `L` scores. Smallest model:
///     struct Norm { int64_t every = 1; template <class X, class L> Parts measure(const Seen<X, L>& s) {
///       return {{"mon_norm", s.pred.views[0].detach().norm()}}; } };
template <class M, class L>
concept Monitor = Loss<L> && detail::has_every<M> && detail::measures<M, loss_target_t<L>, L>;

/// The module of a monitored loss (held by `monitor::Monitored`): the wrapped loss and its
/// monitors. See the file comment.
template <class L, class... Ms>
class MonitoredImpl : public torch::nn::Module {
  static_assert(Loss<L>, "monitor::Monitored: the wrapped loss (1st template argument) must satisfy ssl::Loss: "
                         "`LossOutput operator()(const Prediction&, const X& target)`");
  static_assert((Monitor<Ms, L> && ...),
                "monitor::Monitored: every monitor must satisfy monitor::Monitor for the wrapped loss: an `int64_t "
                "every` and `monitor::Parts measure(const monitor::Seen<X, L>&)` for the target type X it scores");

 public:
  /// The step reaches the monitors and, when it is StepAware, the wrapped loss.
  static constexpr unsigned hooks = hook::step;
  /// What the wrapped loss scores, hence what this one scores.
  using target_type = loss_target_t<L>;

  /// Wraps `inner` with `monitors`; a module `inner` lends its tensors and submodules to this
  /// module under their own names (see the file comment).
  explicit MonitoredImpl(L inner, Ms... monitors) : inner_(std::move(inner)), monitors_(std::move(monitors)...) {
    if constexpr (ssl::detail::module_holder<L>) {
      for (auto& p : inner_->named_parameters(/*recurse=*/false)) register_parameter(p.key(), p.value(), p.value().requires_grad());
      for (auto& b : inner_->named_buffers(/*recurse=*/false)) register_buffer(b.key(), b.value());
      for (auto& c : inner_->named_children()) register_module(c.key(), c.value());
    }
  }

  /// The wrapped loss's output, plus the parts of every monitor due at this step (measured
  /// without gradient; a `before_loss` monitor before the wrapped loss runs).
  LossOutput forward(const Prediction& pred, const target_type& target) {
    const int64_t step = step_ ? *step_ : calls_;
    ++calls_;
    Parts extra;
    const auto due = [&](const auto& m) { return m.every > 0 && (step + 1) % int64_t(m.every) == 0; };
    {
      torch::NoGradGuard g;
      std::apply([&](auto&... m) { (measure_one<true>(m, due(m), pred, target, step, nullptr, extra), ...); }, monitors_);
    }
    LossOutput out = inner_(pred, target);
    {
      torch::NoGradGuard g;
      std::apply([&](auto&... m) { (measure_one<false>(m, due(m), pred, target, step, &out, extra), ...); }, monitors_);
    }
    for (auto& p : extra) out.parts.push_back(std::move(p));
    return out;
  }

  /// The trainer's hook (through `Compose::before_step`): the step of the coming call, passed on
  /// to the wrapped loss when it is StepAware (DINO's temperature schedule).
  void set_step(const StepInfo& info) {
    step_ = info.step;
    if constexpr (ssl::detail::step_by_holder<L>) inner_->set_step(info);
    else if constexpr (ssl::detail::step_by_value<L>) inner_.set_step(info);
  }

  /// The wrapped loss.
  L& inner() { return inner_; }
  /// The monitors, in the order given.
  std::tuple<Ms...>& monitors() { return monitors_; }

 private:
  template <bool Before, class M>
  void measure_one(M& m, bool due, const Prediction& pred, const target_type& target, int64_t step,
                   const LossOutput* out, Parts& extra) {
    if (!due || detail::before_loss<M>() != Before) return;
    for (auto& p : m.measure(Seen<target_type, L>{pred, target, inner_, step, out})) extra.push_back(std::move(p));
  }

  L inner_;
  std::tuple<Ms...> monitors_;
  std::optional<int64_t> step_;
  int64_t calls_ = 0;
};

/// A loss with monitors (module holder of `MonitoredImpl`): `Monitored<L, Ms...>(loss, ms...)`, or
/// `monitor::watch(loss, ms...)`. Models `ssl::Loss` for what `L` scores.
template <class L, class... Ms>
class Monitored : public torch::nn::ModuleHolder<MonitoredImpl<L, Ms...>> {
 public:
  using torch::nn::ModuleHolder<MonitoredImpl<L, Ms...>>::ModuleHolder;
  /// What the wrapped loss scores.
  using target_type = loss_target_t<L>;
};

/// `loss` with the monitors `ms` (each with its own `every`).
/// Example: `monitor::watch(loss::NegCosine{}, monitor::EmbeddingStd{.every = 50}, monitor::EffectiveRank{.every = 50})`.
template <class L, class... Ms>
  requires(sizeof...(Ms) > 0 && (Monitor<Ms, L> && ...))
Monitored<L, Ms...> watch(L loss, Ms... ms) {
  return Monitored<L, Ms...>(std::move(loss), std::move(ms)...);
}

/// The standard monitors of a loss, by what it scores, each every `every` steps (0 = never):
///  - `PairedEmbeddings` (SimCLR, BYOL, SimSiam, Barlow Twins, VICReg, MoCo v3): `EmbeddingStd`, `EffectiveRank`;
///  - `TeacherOutputs`, `TeacherTokenOutputs` (DINO, iBOT, I-JEPA: over its predicted tokens):
///    those two and, when the loss has a `sharpening` overload (DINOLoss, IBOTLoss), `TeacherEntropy`;
///  - `TokenLabels` (BERT, RoBERTa, GPT, BEiT): `MlmAccuracy`;
///  - `ReplacedTokenLabels` (ELECTRA): `DiscriminatorGain`.
/// Any other target type has none (a compile error naming it: pass the monitors to `watch`).
template <class L>
auto standard_monitors(int64_t every) {
  using X = loss_target_t<L>;
  if constexpr (std::is_same_v<X, PairedEmbeddings>) {
    return std::tuple{EmbeddingStd{.every = every}, EffectiveRank{.every = every}};
  } else if constexpr (std::is_same_v<X, TeacherOutputs> || std::is_same_v<X, TeacherTokenOutputs>) {
    if constexpr (requires(const L& l) { { sharpening(l) } -> std::same_as<Sharpening>; })
      return std::tuple{EmbeddingStd{.every = every}, EffectiveRank{.every = every}, TeacherEntropy{.every = every}};
    else
      return std::tuple{EmbeddingStd{.every = every}, EffectiveRank{.every = every}};
  } else if constexpr (std::is_same_v<X, TokenLabels>) {
    return std::tuple{MlmAccuracy{.every = every}};
  } else if constexpr (std::is_same_v<X, ReplacedTokenLabels>) {
    return std::tuple{DiscriminatorGain{.every = every}};
  } else {
    static_assert(!std::is_same_v<X, X>, "monitor::standard_monitors: no standard monitors for the target type `X` "
                                         "this loss scores: pass the monitors to monitor::watch(loss, ms...)");
  }
}

/// `loss` with its standard monitors (`standard_monitors`), each every `every` steps (0 = never).
/// Example: `monitor::watch(loss::NegCosine{}, 50)`.
template <class L>
  requires Loss<L>
auto watch(L loss, int64_t every) {
  return std::apply([&](auto... ms) { return watch(std::move(loss), std::move(ms)...); }, standard_monitors<L>(every));
}

/// `recipe` with its loss wrapped in its standard monitors, each every `every` steps (0 = never):
/// the same recipe type but for the loss slot (`Recipe::with_loss<Monitored<...>>`), sharing the
/// other parts' modules with `recipe`. Example: `auto r = monitor::watched(byol::recipe(b, o), 50);`.
template <class R>
  requires requires(R r) { r->loss(); }
auto watched(R recipe, int64_t every) {
  return recipe.template replace<slot::loss>(watch(recipe->loss(), every));
}

}  // namespace ssl::monitor
