// Google Benchmark of one MAE training step (recipe forward with random masking, backward,
// AdamW step), of the forward alone, and of an fp32 matmul (the machine's dense peak).
//
//   SSL_BENCH_THREADS=2 build/benchmarks/bench_mae [--benchmark_format=json]
//
// Configurations (the same as benchmarks/mae_step.py builds with Hugging Face ViTMAE):
//   tiny224: ViT-tiny (MAE / timm): 224 px, patch 16, 3 ch, dim 192, depth 12, heads 3, MLP 768;
//            decoder 128 x 2, heads 4, MLP 512; batch 8.
//   fmnist:  examples/00_mae_fashion_mnist: 28 px, patch 4, 1 ch, dim 128, depth 4, heads 4,
//            MLP 512; decoder 64 x 2, heads 4, MLP 256; batch 256.
#include <benchmark/benchmark.h>
#include <ssl/ssl.hpp>
#include <torch/torch.h>

#include "bench_common.hpp"

#include <algorithm>
#include <cstdlib>
#include <string>

namespace {

struct Config {
  const char* name;
  int64_t image, patch, channels, dim, depth, heads, mlp;
  int64_t decoder_dim, decoder_depth, decoder_heads, decoder_mlp;
  int64_t batch;
};

constexpr Config kTiny224{"tiny224", 224, 16, 3, 192, 12, 3, 768, 128, 2, 4, 512, 8};
constexpr Config kFmnist{"fmnist", 28, 4, 1, 128, 4, 4, 512, 64, 2, 4, 256, 256};

ssl::mae::Options options(const Config& c) {
  ssl::mae::Options o;
  o.encoder = ssl::vit::Options{}
                  .image(c.image)
                  .patch(c.patch)
                  .channels(c.channels)
                  .dim(c.dim)
                  .depth(c.depth)
                  .heads(c.heads)
                  .mlp_hidden(c.mlp)
                  .eps(1e-6);
  o.decoder_dim = c.decoder_dim;
  o.decoder_depth = c.decoder_depth;
  o.decoder_heads = c.decoder_heads;
  o.decoder_mlp_hidden = c.decoder_mlp;
  o.mask_ratio = 0.75;
  o.norm_pix = true;
  return o;
}

int64_t trainable_parameters(torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters())
    if (p.requires_grad()) n += p.numel();
  return n;
}

void set_common_counters(benchmark::State& state, const Config& c, int64_t params) {
  state.SetItemsProcessed(state.iterations() * c.batch);
  state.counters["batch"] = double(c.batch);
  state.counters["params"] = double(params);
  state.counters["torch_threads"] = double(at::get_num_threads());
}

void BM_MaeTrainStep(benchmark::State& state, Config c) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto mae = ssl::mae::recipe(options(c));
  mae->train(true);
  ssl::optim::AdamW opt(mae->named_parameters().pairs(),
                        {.lr = 1.5e-4, .weight_decay = 0.05, .beta1 = 0.9, .beta2 = 0.95});
  const ssl::Batch batch{.input = torch::randn({c.batch, c.channels, c.image, c.image}), .target = {}};
  auto step = [&] {
    auto out = mae->forward(batch);
    opt.zero_grad();
    out.loss.backward();
    opt.step();
    return out.loss.item<double>();  // synchronises like a real loop that logs the loss
  };
  double loss = 0.0;
  for (int i = 0; i < bench::warmup(); ++i) loss = step();
  for (auto _ : state) loss = step();
  state.counters["loss"] = loss;
  // After reading it: libbenchmark 1.7's DoNotOptimize ("+m,r") can clobber a double under GCC.
  benchmark::DoNotOptimize(loss);
  set_common_counters(state, c, trainable_parameters(*mae));
}

void BM_MaeForward(benchmark::State& state, Config c) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto mae = ssl::mae::recipe(options(c));
  mae->train(true);  // masking and dropout-free training path, as in the step
  const ssl::Batch batch{.input = torch::randn({c.batch, c.channels, c.image, c.image}), .target = {}};
  torch::NoGradGuard g;
  double loss = 0.0;
  for (int i = 0; i < bench::warmup(); ++i) loss = mae->forward(batch).loss.item<double>();
  for (auto _ : state) loss = mae->forward(batch).loss.item<double>();
  benchmark::DoNotOptimize(loss);
  set_common_counters(state, c, trainable_parameters(*mae));
}

void BM_Matmul(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  const int64_t n = state.range(0);
  torch::manual_seed(0);
  auto a = torch::randn({n, n}), b = torch::randn({n, n}), out = torch::empty({n, n});
  for (auto _ : state) {
    torch::mm_out(out, a, b);
    benchmark::ClobberMemory();
  }
  state.counters["FLOP/s"] = benchmark::Counter(2.0 * double(n) * n * n * double(state.iterations()),
                                                benchmark::Counter::kIsRate);
  state.counters["torch_threads"] = double(at::get_num_threads());
}

}  // namespace

// Each MAE case runs `SSL_BENCH_WARMUP` (3) untimed steps, then a fixed number of timed
// iterations (`SSL_BENCH_ITERS` overrides them all), chosen to keep the whole binary's run short
// on a 2-core machine; matmuls run for 2 s each.
// `--benchmark_min_time=<s>` on the command line replaces all of these with Google Benchmark's
// own minimum time (quick smoke run: --benchmark_min_time=0.01). Times are wall clock:
// libtorch's own threads do the work, not the benchmark thread.
int main(int argc, char** argv) {
  const bool min_time_flag = bench::min_time_given(argc, argv);
  const int iters = bench::env_int("SSL_BENCH_ITERS", 0);
  auto fixed = [&](benchmark::internal::Benchmark* b, int n) {
    b->Unit(benchmark::kMillisecond)->UseRealTime();
    if (!min_time_flag) b->Iterations(iters > 0 ? iters : n);
  };
  fixed(benchmark::RegisterBenchmark("BM_MaeTrainStep/tiny224", BM_MaeTrainStep, kTiny224), 50);
  fixed(benchmark::RegisterBenchmark("BM_MaeTrainStep/fmnist", BM_MaeTrainStep, kFmnist), 40);
  fixed(benchmark::RegisterBenchmark("BM_MaeForward/tiny224", BM_MaeForward, kTiny224), 50);
  fixed(benchmark::RegisterBenchmark("BM_MaeForward/fmnist", BM_MaeForward, kFmnist), 50);
  auto* mm = benchmark::RegisterBenchmark("BM_Matmul", BM_Matmul)->Arg(1024)->Arg(2048);
  mm->Unit(benchmark::kMillisecond)->UseRealTime();
  if (!min_time_flag) mm->MinTime(2.0);

  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
