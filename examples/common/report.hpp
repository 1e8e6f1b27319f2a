// Shared by the image examples (not part of the library): the clock their reports use, and the
// library's frozen-feature evaluation (ssl/eval/frozen.hpp) run and printed the examples' way.
#pragma once
#include <ssl/data/loader.hpp>
#include <ssl/eval/frozen.hpp>

#include "image_data.hpp"

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

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
/// `transform`, then, with `floors`, `ssl::eval::raw_pixel_floors`; each printed on one line
/// (`name`: the method; `what`: the features).
inline FrozenReport frozen_report(const std::string& name, const std::string& what,
                                  const std::function<torch::Tensor(const torch::Tensor&)>& encode, const ImageData& data,
                                  const ssl::data::Transform& transform, int64_t probe_epochs, bool floors,
                                  torch::Device device) {
  FrozenReport r;
  r.model = ssl::eval::frozen_eval(encode, data.train, data.test, transform, {.probe = {.epochs = probe_epochs}, .device = device});
  std::printf("frozen %s features (%lld-d, %s): k-NN %.2f %%, linear %.2f %% (%.0f s)\n", name.c_str(),
              (long long)r.model.dim, what.c_str(), 100 * r.model.knn, 100 * r.model.linear, r.model.seconds);
  if (floors) {
    r.raw = ssl::eval::raw_pixel_floors(data.train, data.test, {.probe = {.epochs = probe_epochs}});
    std::printf("raw pixels (floors):            k-NN %.2f %%, linear %.2f %%\n", 100 * r.raw.knn, 100 * r.raw.linear);
  }
  return r;
}

}  // namespace ex
