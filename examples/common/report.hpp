// Shared by the image examples (not part of the library): the clock their reports use, and the
// library's frozen-feature evaluation (ssl/eval/frozen.hpp) and fine-tuning against scratch
// (ssl/eval/finetune.hpp) run and printed the examples' way.
#pragma once
#include <ssl/data/loader.hpp>
#include <ssl/eval/finetune.hpp>
#include <ssl/eval/frozen.hpp>
#include <ssl/train/metrics_log.hpp>

#include "cli.hpp"
#include "image_data.hpp"

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace ex {

/// Seconds since `t`.
inline double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

/// The scores of `frozen_report`: the model's features and the raw-pixel floors (-1: not measured).
struct FrozenReport {
  ssl::eval::FrozenScores model, raw;
};

/// `ssl::eval::frozen_eval` of `encode` (features computed on `device`) on `data`'s splits through
/// `transform`, then, with `--floors`, `ssl::eval::raw_pixel_floors`, each also at every
/// `--probe-labels` budget; each printed on one line (`name`: the method; `what`: the features).
inline FrozenReport frozen_report(const std::string& name, const std::string& what,
                                  const std::function<torch::Tensor(const torch::Tensor&)>& encode, const ImageData& data,
                                  const ssl::data::Transform& transform, const ProbeArgs& a, torch::Device device) {
  FrozenReport r;
  const ssl::eval::FrozenEvalOptions o{.probe = {.epochs = a.probe_epochs}, .device = device,
                                       .label_budgets = a.probe_labels, .budget_min_steps = a.probe_min_steps};
  r.model = ssl::eval::frozen_eval(encode, data.train, data.test, transform, o);
  std::printf("frozen %s features (%lld-d, %s): k-NN %.2f %%, linear %.2f %% (%.0f s)\n", name.c_str(),
              (long long)r.model.dim, what.c_str(), 100 * r.model.knn, 100 * r.model.linear, r.model.seconds);
  if (a.floors) {
    auto raw = o;
    raw.device = torch::kCPU;
    r.raw = ssl::eval::raw_pixel_floors(data.train, data.test, raw);
    std::printf("raw pixels (floors):            k-NN %.2f %%, linear %.2f %%\n", 100 * r.raw.knn, 100 * r.raw.linear);
  }
  for (size_t i = 0; i < r.model.budgets.size(); ++i) {
    const auto& b = r.model.budgets[i];
    std::printf("frozen features on %lld labels (probe %lld epochs): k-NN %.2f %%, linear %.2f %%", (long long)b.labels,
                (long long)b.probe_epochs, 100 * b.knn, 100 * b.linear);
    if (a.floors)
      std::printf("; raw pixels %.2f %% / %.2f %%", 100 * r.raw.budgets[i].knn, 100 * r.raw.budgets[i].linear);
    std::printf("\n");
  }
  return r;
}

/// metrics.json's `probe_budgets` of a `frozen_report` with `--probe-labels` (`labels`,
/// `probe_epochs`, `knn_top1`, `linear_top1`, and the floors' `raw_pixels_knn_top1`,
/// `raw_pixels_linear_top1` when measured); none without a budget.
inline ssl::train::Json probe_json(const FrozenReport& r) {
  ssl::train::Json j = ssl::train::Json::object();
  if (r.model.budgets.empty()) return j;
  auto all = ssl::train::Json::array();
  for (size_t i = 0; i < r.model.budgets.size(); ++i) {
    const auto& b = r.model.budgets[i];
    ssl::train::Json e = {{"labels", b.labels}, {"probe_epochs", b.probe_epochs}, {"knn_top1", b.knn},
                          {"linear_top1", b.linear}};
    if (i < r.raw.budgets.size()) {
      e["raw_pixels_knn_top1"] = r.raw.budgets[i].knn;
      e["raw_pixels_linear_top1"] = r.raw.budgets[i].linear;
    }
    all.push_back(std::move(e));
  }
  j["probe_budgets"] = std::move(all);
  return j;
}

/// `ssl::eval::finetune_sweep` of `encoder` (left as it is) against `make_scratch()` at each
/// `--finetune-labels` of `a`, each budget printed on one line; `layer_decay`: the pretrained
/// encoder's (1 for a ResNet).
template <class E, class MakeScratch>
std::vector<ssl::eval::FinetuneScores> finetune_report(const E& encoder, MakeScratch make_scratch, const ImageData& data,
                                                       const ssl::data::Transform& transform, const FinetuneArgs& a,
                                                       double layer_decay, uint64_t seed, torch::Device device) {
  return ssl::eval::finetune_sweep(
      encoder, std::move(make_scratch), a.finetune_labels, data.train, data.test, transform,
      {.epochs = a.finetune_epochs, .min_steps = a.finetune_min_steps, .lr = a.finetune_lr, .layer_decay = layer_decay,
       .seed = seed, .device = device},
      [](const ssl::eval::FinetuneScores& f) {
        std::printf("fine-tune on %lld labels, %lld epochs: pretrained %.2f %% vs scratch %.2f %% (%.0f s)\n",
                    (long long)f.labels, (long long)f.epochs, 100 * f.pretrained, 100 * f.scratch, f.seconds);
      });
}

/// metrics.json's fine-tuning fields: the first budget as `finetune_top1`, `scratch_finetune_top1`,
/// `finetune_labels`, `finetune_epochs` and `finetune_seconds`, and every budget in
/// `finetune_budgets` (`labels`, `epochs`, `pretrained_top1`, `scratch_top1`, `seconds`); none
/// without a budget.
inline ssl::train::Json finetune_json(const std::vector<ssl::eval::FinetuneScores>& budgets) {
  ssl::train::Json j = ssl::train::Json::object();
  if (budgets.empty()) return j;
  const auto& f = budgets.front();
  j = {{"finetune_top1", f.pretrained}, {"scratch_finetune_top1", f.scratch}, {"finetune_labels", f.labels},
       {"finetune_epochs", f.epochs}, {"finetune_seconds", f.seconds}};
  auto all = ssl::train::Json::array();
  for (const auto& b : budgets)
    all.push_back({{"labels", b.labels}, {"epochs", b.epochs}, {"pretrained_top1", b.pretrained},
                   {"scratch_top1", b.scratch}, {"seconds", b.seconds}});
  j["finetune_budgets"] = std::move(all);
  return j;
}

}  // namespace ex
