// Google Benchmark of the image-data path on a folder of photos (pretraining on your
// own data): decoding, the `data::Loader<data::ImageFolder>` pipeline, and SimCLR trained end to end
// from the folder, on the CPU.
//
//   .venv/bin/python scripts/make_photo_folder.py --out /tmp/photos        # 2000 JPEG/PNG photos, 12 classes
//   SSL_PHOTOS=/tmp/photos SSL_BENCH_THREADS=2 build/benchmarks/bench_data [--benchmark_format=json]
//
// Cases (items = images; images/s is `items_per_second`, from wall-clock manual time):
//   BM_ReadImage        io::read_image(path, 3, 256) of every file, one thread, nothing else: the
//                       decode alone (a JPEG at 1/2 scale in the DCT domain when its shorter side
//                       stays >= 256; 500x375 photos decode at full size, 375 / 2 < 256).
//   BM_Sample           ImageFolder::get of every file, one thread: decode + resize of the
//                       shorter side to 256 (bilinear, antialiased) + center crop 224.
//   BM_Sample/uint8_resize  the same with the resize done on the uint8 image (see below).
//   BM_Loader/workers:W Loader<ImageFolder> (same sample: 256 -> 224, uint8) over one epoch,
//                       batch 64, prefetch 4, W worker threads, SSL_BENCH_THREADS intra-op
//                       threads: what torchvision's ImageFolder + Resize(256) + CenterCrop(224) +
//                       PILToTensor in a DataLoader does (benchmarks/data_side_by_side.py).
//   BM_SimclrFolder/S   SimCLR trained from the folder: Loader<ImageFolder> (shorter side S,
//                       center crop S, uint8 -> [0,1] float in the workers; 2 workers, prefetch 4,
//                       batch SSL_BENCH_E2E_BATCH = 128), the recipe's batched augmentation
//                       `TwoViews::simclr(S, 3)` with ImageNet normalisation, ResNet-18 width 16
//                       (small stem, 3 channels), projection head 128-512-128, NT-Xent (T 0.2),
//                       ssl::optim::AdamW (lr 2e-3, wd 1e-4): SSL_BENCH_WARMUP steps untimed,
//                       then SSL_BENCH_STEPS (12) timed steps.
// For the per-image cases each timed iteration is one pass over the folder (SSL_BENCH_ITERS
// passes, default 1, after an untimed pass over the first 256 files); for the loader, one epoch,
// timed from its first batch (so worker start-up and the first batch's latency are left out,
// as on the Python side). Counters: images, batch, workers, torch_threads; BM_SimclrFolder also
// step_ms (median step: augmentation + forward + backward + AdamW), wait_ms (median wait for
// the next batch, the data path the step did not hide), params and loss.
//
// SSL_PHOTOS unset or not a folder of images: every case is skipped with a message.
#include <benchmark/benchmark.h>
#include <ssl/data/image_folder.hpp>
#include <ssl/data/loader.hpp>
#include <ssl/io/image.hpp>
#include <ssl/simclr.hpp>
#include <ssl/ssl.hpp>
#include <torch/torch.h>

#include "bench_common.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/// The folder of $SSL_PHOTOS scanned with `opt`, or a skip message.
std::optional<ssl::data::ImageFolder> photos(benchmark::State& state, ssl::data::ImageFolderOptions opt) {
  const char* root = std::getenv("SSL_PHOTOS");
  if (root == nullptr || *root == '\0') {
    state.SkipWithError("SSL_PHOTOS is not set: .venv/bin/python scripts/make_photo_folder.py --out /tmp/photos");
    return std::nullopt;
  }
  try {
    return ssl::data::ImageFolder(root, opt);
  } catch (const c10::Error& e) {
    state.SkipWithError(e.what_without_backtrace());
    return std::nullopt;
  }
}

/// One thread: `per_file(i)` for every file, one pass per timed iteration.
template <class F>
void per_image(benchmark::State& state, F&& per_file) {
  at::set_num_threads(1);
  auto folder = photos(state, {.image_size = 224, .resize = 256, .channels = 3});
  if (!folder) return;
  const int64_t n = folder->size();
  for (int64_t i = 0; i < std::min<int64_t>(n, 256); ++i) per_file(*folder, i);  // page cache, allocator
  for (auto _ : state) {
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < n; ++i) per_file(*folder, i);
    state.SetIterationTime(since(t0));
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["images"] = double(n);
  state.counters["torch_threads"] = 1;
}

void BM_ReadImage(benchmark::State& state) {
  per_image(state, [](const ssl::data::ImageFolder& f, int64_t i) {
    auto img = ssl::io::read_image(f.path(i), 3, 256);
    benchmark::DoNotOptimize(img.data_ptr());
  });
}

void BM_Sample(benchmark::State& state) {
  per_image(state, [](const ssl::data::ImageFolder& f, int64_t i) {
    auto s = f.get(i);
    benchmark::DoNotOptimize(s.input.data_ptr());
  });
}

/// BM_Sample with the resize on the uint8 image (ATen's uint8 antialiased bilinear kernel, what
/// torchvision's Resize on a uint8 tensor runs) instead of a float copy: what io::resize_shorter
/// would cost that way (its rounding differs from the float path's by at most 1 level).
void BM_SampleUint8Resize(benchmark::State& state) {
  per_image(state, [](const ssl::data::ImageFolder& f, int64_t i) {
    auto img = ssl::io::read_image(f.path(i), 3, 256);
    const int64_t h = img.size(1), w = img.size(2);
    const int64_t nh = h <= w ? 256 : int64_t(256.0 * double(h) / double(w));
    const int64_t nw = h <= w ? int64_t(256.0 * double(w) / double(h)) : 256;
    namespace F = torch::nn::functional;
    auto y = F::interpolate(img.unsqueeze(0), F::InterpolateFuncOptions()
                                                  .size(std::vector<int64_t>{nh, nw})
                                                  .mode(torch::kBilinear)
                                                  .align_corners(false)
                                                  .antialias(true));
    auto s = ssl::io::center_crop(y.squeeze(0), 224, 224).contiguous();
    benchmark::DoNotOptimize(s.data_ptr());
  });
}

void BM_Loader(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  const int64_t workers = state.range(0), batch = 64;
  auto folder = photos(state, {.image_size = 224, .resize = 256, .channels = 3});
  if (!folder) return;
  ssl::data::Loader loader(*folder, nullptr, {.batch_size = batch, .seed = 0, .prefetch = 4, .workers = workers});
  int64_t images = 0, epoch = 0;
  for (auto _ : state) {
    Clock::time_point t0;
    int64_t timed = 0;
    loader.run(epoch++, 0, [&](const ssl::Batch& b, int64_t i) {
      if (i == 0) {
        t0 = Clock::now();  // from the first batch on, as the Python side
      } else {
        timed += b.input.size(0);
      }
      benchmark::DoNotOptimize(b.input.data_ptr());
      return true;
    });
    state.SetIterationTime(since(t0));
    images += timed;
  }
  state.SetItemsProcessed(images);
  state.counters["batch"] = double(batch);
  state.counters["workers"] = double(workers);
  state.counters["torch_threads"] = double(at::get_num_threads());
}

ssl::resnet::Encoder resnet18_w16_rgb() {
  return ssl::resnet::Encoder(ssl::resnet::resnet18().channels(3).width(16).small_stem(true));
}

void BM_SimclrFolder(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  const int64_t size = state.range(0), batch = bench::env_int("SSL_BENCH_E2E_BATCH", 128);
  const int64_t steps = bench::env_int("SSL_BENCH_STEPS", 12), warm = bench::warmup();
  auto folder = photos(state, {.image_size = size, .resize = size, .channels = 3});
  if (!folder) return;
  ssl::data::Loader loader(*folder, [](const torch::Tensor& x) { return x.to(torch::kFloat32).div_(255.0); },
                           {.batch_size = batch, .seed = 0, .prefetch = 4, .workers = 2});
  // lightly's SimCLRTransform(input_size = size) on both views, ImageNet's normalisation as lightly.
  auto views = ssl::augment::TwoViews::symmetric(
      {.size = size, .channels = 3, .mean = {0.485, 0.456, 0.406}, .std = {0.229, 0.224, 0.225}});
  auto recipe = ssl::simclr::recipe(resnet18_w16_rgb(),
                                    {.augment = views, .hidden = 512, .out = 128, .temperature = 0.2});
  recipe->train(true);
  ssl::optim::AdamW opt(recipe->named_parameters().pairs(), {.lr = 2e-3, .weight_decay = 1e-4});
  int64_t params = 0;
  for (const auto& p : recipe->parameters())
    if (p.requires_grad()) params += p.numel();

  double loss = 0.0;
  std::vector<double> step_s, wait_s;
  for (auto _ : state) {
    int64_t done = 0;
    Clock::time_point t0, back = Clock::now();
    for (int64_t epoch = 0; done < warm + steps; ++epoch) {
      loader.run(epoch, 0, [&](const ssl::Batch& b, int64_t) {
        const double waited = since(back);
        if (done == warm) t0 = Clock::now();
        const auto s0 = Clock::now();
        const ssl::StepInfo info{.step = done, .total_steps = 100000, .epoch = 0, .steps_per_epoch = 100000};
        recipe->before_step(info);
        auto out = recipe->forward(b);
        loss = out.loss.item<double>();
        opt.zero_grad();
        out.loss.backward();
        opt.step();
        recipe->after_optimizer_step(info);
        if (done >= warm) {
          step_s.push_back(since(s0));
          if (done > warm) wait_s.push_back(waited);  // the first timed step's wait is in no timed interval
        }
        ++done;
        back = Clock::now();
        return done < warm + steps;
      });
    }
    state.SetIterationTime(since(t0));
  }
  state.SetItemsProcessed(state.iterations() * steps * batch);
  state.counters["batch"] = double(batch);
  state.counters["size"] = double(size);
  state.counters["steps"] = double(steps);
  state.counters["params"] = double(params);
  state.counters["torch_threads"] = double(at::get_num_threads());
  state.counters["step_ms"] = 1e3 * median(step_s);
  state.counters["wait_ms"] = 1e3 * median(wait_s);
  state.counters["loss"] = loss;
  benchmark::DoNotOptimize(loss);
}

}  // namespace

// Fixed iteration counts (SSL_BENCH_ITERS, default 1: each iteration is a pass over the folder
// or a whole run); `--benchmark_min_time=<s>` replaces them with Google Benchmark's minimum time.
int main(int argc, char** argv) {
  const bool min_time_flag = bench::min_time_given(argc, argv);
  const int iters = bench::env_int("SSL_BENCH_ITERS", 1);
  auto reg = [&](const char* name, void (*fn)(benchmark::State&)) {
    auto* b = benchmark::RegisterBenchmark(name, fn)->Unit(benchmark::kMillisecond)->UseManualTime();
    if (!min_time_flag) b->Iterations(iters);
    return b;
  };
  reg("BM_ReadImage", BM_ReadImage);
  reg("BM_Sample", BM_Sample);
  reg("BM_Sample/uint8_resize", BM_SampleUint8Resize);
  reg("BM_Loader", BM_Loader)->ArgName("workers")->Arg(1)->Arg(2);
  reg("BM_SimclrFolder", BM_SimclrFolder)->ArgName("size")->Arg(32)->Arg(64);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
