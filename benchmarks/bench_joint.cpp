// Google Benchmark of one training step of each joint-embedding recipe on fixed, pre-made views
// (augmentation excluded: bench_augment times it), on the CPU.
//
//   SSL_BENCH_THREADS=2 [SSL_BENCH_BATCH=256] build/benchmarks/bench_joint [--benchmark_format=json]
//
// The step, as ssl::Trainer runs it (without the data path and the lr schedule):
//   recipe->before_step(info); pred = recipe->predict(views)      (student: every view)
//   targets = recipe->target()(views, pred)                       (BYOL, MoCo v3, DINO: teacher forward)
//   loss = recipe->loss()(pred, targets); loss.item()
//   opt.zero_grad(); loss.backward(); opt.step()                  (ssl::optim::AdamW, named params)
//   recipe->after_optimizer_step(info)                            (teacher EMA, one _foreach_lerp_)
// StepInfo has epoch 1, so DINO's last layer (frozen in epoch 0) is trained, as in most steps.
//
// Configurations: examples/05_joint_embedding's defaults (items = images per step = batch):
//   simclr, byol, barlow_twins, vicreg, mocov3, simsiam: ResNet-18, base width 16 (feature 128),
//     small stem, 1 channel; two 28x28 views of the batch; projector widths hidden/out:
//     simclr 512/128 (T 0.2), byol 512/128 (predictor 512/128), barlow_twins 512/512,
//     vicreg 512/512, mocov3 512/128 (ResNet build: 2-layer projector, predictor without last
//     BN; T 0.2), simsiam 512/512 (predictor 128); AdamW lr 2e-3, wd 1e-4.
//   dino: ViT 128-d, 4 blocks, 4 heads, patch 4, learned position embedding; 2 global 28x28 +
//     6 local 12x12 views; head hidden 512, bottleneck 128, out 1024, no BN; teacher temp 0.04;
//     AdamW lr 1e-3, wd 0.04.
//   dino_example/{per_view,together}: example 05's DINO default per process (ViT 64-d, patch 7,
//     2 x 28 px + 4 x 14 px views, head 512/128/1024, teacher temp 0.07, AdamW 2e-3 / 0.04; the
//     example's batch per process is 64): one backbone forward per view, or the views of one
//     size as one batch (`Views::batch_same_size`, what MultiCrop gives).
// Counters: batch, views, params (trainable), loss (last step), torch_threads, median_ms (median
// step time; real_time is the mean). benchmarks/joint_side_by_side.py runs the same steps with
// lightly / torchvision / timm in Python.
#include <benchmark/benchmark.h>
#include <ssl/barlow_twins.hpp>
#include <ssl/byol.hpp>
#include <ssl/dino.hpp>
#include <ssl/mocov3.hpp>
#include <ssl/simclr.hpp>
#include <ssl/simsiam.hpp>
#include <ssl/ssl.hpp>
#include <ssl/vicreg.hpp>
#include <torch/torch.h>

#include "bench_step.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

namespace {

int64_t batch() { return bench::env_int("SSL_BENCH_BATCH", 256); }

ssl::resnet::Encoder resnet18_w16() {
  return ssl::resnet::Encoder(ssl::resnet::resnet18().channels(1).width(16).small_stem(true));
}

ssl::Views two_views(int64_t b) { return {.global = {torch::randn({b, 1, 28, 28}), torch::randn({b, 1, 28, 28})}}; }

ssl::Views multi_crop(int64_t b) {
  ssl::Views v{.global = {torch::randn({b, 1, 28, 28}), torch::randn({b, 1, 28, 28})}};
  for (int i = 0; i < 6; ++i) v.local.push_back(torch::randn({b, 1, 12, 12}));
  return v;
}

/// Example 05's DINO views (2 x 28 px + 4 x 14 px), one backbone forward per view, or the views
/// of one size together (`Views::batch_same_size`, what `MultiCrop` gives since 2026-11-26).
ssl::Views example_crops_per_view(int64_t b) {
  ssl::Views v{.global = {torch::randn({b, 1, 28, 28}), torch::randn({b, 1, 28, 28})}};
  for (int i = 0; i < 4; ++i) v.local.push_back(torch::randn({b, 1, 14, 14}));
  return v;
}
ssl::Views example_crops_together(int64_t b) {
  auto v = example_crops_per_view(b);
  v.batch_same_size = true;
  return v;
}

/// Times the step of the recipe `make()` builds on `views_of(batch)` (see the file comment).
template <class Make>
void joint_step(benchmark::State& state, Make make, ssl::Views (*views_of)(int64_t), ssl::optim::AdamWOptions o) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  const int64_t b = batch();
  auto recipe = make();
  recipe->train(true);
  ssl::optim::AdamW opt(recipe->named_parameters().pairs(), o);
  const ssl::Views views = views_of(b);
  int64_t step_no = 0;
  auto step = [&] {
    const ssl::StepInfo info{.step = step_no++, .total_steps = 100000, .epoch = 1, .steps_per_epoch = 100000};
    recipe->before_step(info);
    auto pred = recipe->predict(views);
    auto out = recipe->loss()(pred, recipe->target()(views, pred));
    const double loss = out.loss.template item<double>();  // synchronises, as the trainer
    opt.zero_grad();
    out.loss.backward();
    opt.step();
    recipe->after_optimizer_step(info);
    return loss;
  };
  double loss = 0.0;
  const double median = 1e3 * bench::timed(state, [&] { loss = step(); });
  bench::report_mfu(state, median / 1e3, [&] { loss = step(); });
  int64_t params = 0;
  for (const auto& p : recipe->parameters())
    if (p.requires_grad()) params += p.numel();
  state.SetItemsProcessed(state.iterations() * b);
  state.counters["batch"] = double(b);
  state.counters["views"] = double(views.all().size());
  state.counters["params"] = double(params);
  state.counters["torch_threads"] = double(at::get_num_threads());
  state.counters["median_ms"] = median;
  state.counters["loss"] = loss;
  // After reading it: libbenchmark 1.7's DoNotOptimize ("+m,r") can clobber a double under GCC.
  benchmark::DoNotOptimize(loss);
}

constexpr ssl::optim::AdamWOptions kResNetOpt{.lr = 2e-3, .weight_decay = 1e-4};
constexpr ssl::optim::AdamWOptions kDinoOpt{.lr = 1e-3, .weight_decay = 0.04};

void BM_Simclr(benchmark::State& s) {
  joint_step(s, [] {
    return ssl::simclr::recipe(resnet18_w16(),
                               {.augment = ssl::augment::TwoViews::simclr(28, 1), .hidden = 512, .out = 128, .temperature = 0.2});
  }, two_views, kResNetOpt);
}
void BM_Byol(benchmark::State& s) {
  joint_step(s, [] {
    return ssl::byol::recipe(resnet18_w16(), {.augment = ssl::augment::TwoViews::byol(28, 1), .hidden = 512, .out = 128});
  }, two_views, kResNetOpt);
}
void BM_BarlowTwins(benchmark::State& s) {
  joint_step(s, [] {
    return ssl::barlow_twins::recipe(resnet18_w16(),
                                     {.augment = ssl::augment::TwoViews::barlow_twins(28, 1), .hidden = 512, .out = 512});
  }, two_views, kResNetOpt);
}
void BM_Vicreg(benchmark::State& s) {
  joint_step(s, [] {
    return ssl::vicreg::recipe(resnet18_w16(), {.augment = ssl::augment::TwoViews::vicreg(28, 1), .hidden = 512, .out = 512});
  }, two_views, kResNetOpt);
}
void BM_Mocov3(benchmark::State& s) {
  joint_step(s, [] {
    return ssl::mocov3::recipe(resnet18_w16(),
                               {.augment = ssl::augment::TwoViews::mocov3(28, 1), .hidden = 512, .out = 128, .temperature = 0.2});
  }, two_views, kResNetOpt);
}
void BM_Simsiam(benchmark::State& s) {
  joint_step(
      s, [] {
        return ssl::simsiam::recipe(resnet18_w16(), {.augment = ssl::augment::TwoViews::simsiam(28, 1), .proj_hidden = 512,
                                                     .out = 512, .pred_hidden = 128});
      },
      two_views, kResNetOpt);
}
void BM_Dino(benchmark::State& s) {
  joint_step(
      s,
      [] {
        ssl::dino::Options o;
        o.augment = ssl::augment::MultiCrop::dino({.global_size = 28, .local_size = 12, .channels = 1});
        o.head = ssl::heads::DINOHeadOptions(128).hidden_dim(512).bottleneck_dim(128).output_dim(1024)
                     .freeze_last_layer(1);
        o.loss = ssl::loss::DINOLossOptions(1024).warmup_teacher_temp(0.04).teacher_temp(0.04)
                     .warmup_teacher_temp_epochs(0);
        return ssl::dino::recipe(ssl::vit::Encoder(ssl::vit::Options{}.image(28).patch(4).channels(1).dim(128).depth(4)
                                                       .heads(4).learned_pos(true)),
                                 o);
      },
      multi_crop, kDinoOpt);
}

/// Example 05's DINO default (per process): ViT 64-d x 4, patch 7, head 512/128/1024, teacher
/// temperature 0.07, lr 2e-3, weight decay 0.04; batch SSL_BENCH_BATCH (the example: 64 per
/// process on 2 processes).
auto example_dino() {
  ssl::dino::Options o;
  o.augment = ssl::augment::MultiCrop::dino({.global_size = 28, .local_size = 12, .channels = 1});
  o.head = ssl::heads::DINOHeadOptions(64).hidden_dim(512).bottleneck_dim(128).output_dim(1024);
  o.loss = ssl::loss::DINOLossOptions(1024).warmup_teacher_temp(0.07).teacher_temp(0.07).warmup_teacher_temp_epochs(0);
  o.ema.base = 0.99;
  return ssl::dino::recipe(
      ssl::vit::Encoder(ssl::vit::Options{}.image(28).patch(7).channels(1).dim(64).depth(4).heads(4).learned_pos(true)), o);
}
constexpr ssl::optim::AdamWOptions kExampleDinoOpt{.lr = 2e-3, .weight_decay = 0.04};
void BM_DinoExamplePerView(benchmark::State& s) { joint_step(s, example_dino, example_crops_per_view, kExampleDinoOpt); }
void BM_DinoExampleTogether(benchmark::State& s) { joint_step(s, example_dino, example_crops_together, kExampleDinoOpt); }

}  // namespace

// Each case runs `SSL_BENCH_WARMUP` (3) untimed steps, then `SSL_BENCH_ITERS` (10) timed ones;
// `--benchmark_min_time=<s>` replaces the fixed count with Google Benchmark's minimum time.
// Times are wall clock per step (manual timing: libtorch's threads do the work).
int main(int argc, char** argv) {
  const bool min_time_flag = bench::min_time_given(argc, argv);
  const int iters = bench::env_int("SSL_BENCH_ITERS", 10);
  auto reg = [&](const char* name, void (*fn)(benchmark::State&)) {
    auto* b = benchmark::RegisterBenchmark(name, fn)->Unit(benchmark::kMillisecond)->UseManualTime();
    if (!min_time_flag) b->Iterations(iters);
  };
  reg("BM_JointStep/simclr", BM_Simclr);
  reg("BM_JointStep/byol", BM_Byol);
  reg("BM_JointStep/barlow_twins", BM_BarlowTwins);
  reg("BM_JointStep/vicreg", BM_Vicreg);
  reg("BM_JointStep/mocov3", BM_Mocov3);
  reg("BM_JointStep/simsiam", BM_Simsiam);
  reg("BM_JointStep/dino", BM_Dino);
  reg("BM_JointStep/dino_example/per_view", BM_DinoExamplePerView);
  reg("BM_JointStep/dino_example/together", BM_DinoExampleTogether);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
