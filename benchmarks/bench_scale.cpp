// Google Benchmarks of the speed features: the optimizer step (ATen's fused AdamW, the `_foreach_*` chain,
// LibTorch's own per-parameter torch::optim::AdamW; LARS) and the EMA update (one
// `_foreach_lerp_` against the per-tensor loop a teacher would otherwise run) over a ViT-tiny
// encoder's parameters (192-d x 12 blocks, 149 tensors, 5.5 M values, random gradients); the MAE
// training step with and without activation checkpointing; the steps of the methods the other
// binaries do not time (BEiT, iBOT, RoBERTa-style MLM, ELECTRA, GPT). Each step reports its model
// FLOPs and MFU against the matmul peak of this run. Times are wall clock (manual timing).
//
//   SSL_BENCH_THREADS=2 ./build/benchmarks/bench_scale
#include "bench_step.hpp"

#include <benchmark/benchmark.h>
#include <ssl/beit.hpp>
#include <ssl/bert.hpp>
#include <ssl/electra.hpp>
#include <ssl/gpt.hpp>
#include <ssl/ibot.hpp>
#include <ssl/mae.hpp>
#include <ssl/ssl.hpp>
#include <torch/torch.h>

#include <chrono>
#include <vector>

namespace {

ssl::vit::Encoder vit_tiny() {
  return ssl::vit::Encoder(ssl::vit::Options{}.image(224).patch(16).channels(3).dim(192).depth(12).heads(3));
}

std::vector<std::pair<std::string, torch::Tensor>> with_grads(ssl::vit::Encoder& enc) {
  auto named = enc->named_parameters().pairs();
  for (auto& [n, p] : named) p.mutable_grad() = torch::randn_like(p) * 1e-3;
  return named;
}

void counters(benchmark::State& state, const std::vector<std::pair<std::string, torch::Tensor>>& named) {
  int64_t n = 0;
  for (const auto& [k, p] : named) n += p.numel();
  state.counters["tensors"] = double(named.size());
  state.counters["values"] = double(n);
  state.counters["torch_threads"] = double(at::get_num_threads());
}

void BM_AdamW(benchmark::State& state, bool fused) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto enc = vit_tiny();
  auto named = with_grads(enc);
  ssl::optim::AdamW opt(named, {.lr = 1e-4, .weight_decay = 0.05});
  opt.use_fused(fused);
  opt.set_lr_factor(1.0);
  bench::timed(state, [&] { opt.step(); });
  counters(state, named);
  state.counters["fused"] = double(opt.fused());
}
void BM_AdamW_libtorch_loop(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto enc = vit_tiny();
  auto named = with_grads(enc);
  std::vector<torch::Tensor> params;
  for (auto& [n, p] : named) params.push_back(p);
  torch::optim::AdamW opt(params, torch::optim::AdamWOptions(1e-4).weight_decay(0.05));
  bench::timed(state, [&] { opt.step(); });
  counters(state, named);
}
void BM_Lars_foreach(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto enc = vit_tiny();
  auto named = with_grads(enc);
  ssl::optim::Lars opt(named, {.lr = 0.3, .weight_decay = 1e-6});
  bench::timed(state, [&] { opt.step(); });
  counters(state, named);
}
void BM_Ema_foreach(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto student = vit_tiny(), teacher = vit_tiny();
  const auto s = student->parameters(), t = teacher->parameters();
  const ssl::teacher::Ema ema{.base = 0.996};
  int64_t step = 0;
  bench::timed(state, [&] { ema(s, t, {.step = step++, .total_steps = 1000000}); });
  counters(state, student->named_parameters().pairs());
}
void BM_Ema_loop(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto student = vit_tiny(), teacher = vit_tiny();
  const auto s = student->parameters(), t = teacher->parameters();
  bench::timed(state, [&] {
    torch::NoGradGuard g;
    for (size_t i = 0; i < s.size(); ++i) t[i].mul_(0.996).add_(s[i].detach(), 0.004);
  });
  counters(state, student->named_parameters().pairs());
}

/// One training step of `recipe` on `batch` (forward with the recipe's own augmentation and
/// masking, backward, AdamW, the teacher update): ms/step, model GFLOP/step and MFU against the
/// matmul peak of this run. `checkpoint(bool)` switches activation checkpointing (for the FLOP
/// count: model FLOPs exclude the recomputation).
template <class R, class Ckpt>
void recipe_step(benchmark::State& state, R recipe, const ssl::Batch& batch, ssl::optim::AdamWOptions o, Ckpt checkpoint,
                 bool ckpt_on) {
  recipe->train(true);
  ssl::optim::AdamW opt(recipe->named_parameters().pairs(), o);
  opt.set_lr_factor(1.0);
  int64_t step_no = 0;
  checkpoint(ckpt_on);
  auto step = [&] {
    const ssl::StepInfo info{.step = step_no++, .total_steps = 100000, .epoch = 1, .steps_per_epoch = 100000};
    if constexpr (requires { recipe->before_step(info); }) recipe->before_step(info);
    auto out = recipe->forward(batch);
    (void)out.loss.template item<double>();  // synchronises, as the trainer
    opt.zero_grad();
    out.loss.backward();
    opt.step();
    if constexpr (requires { recipe->after_optimizer_step(info); }) recipe->after_optimizer_step(info);
  };
  const double median = bench::timed(state, step);
  checkpoint(false);  // model FLOPs exclude the recomputation
  bench::report_mfu(state, median, step);
  checkpoint(ckpt_on);
  int64_t params = 0;
  for (const auto& p : opt.parameters()) params += p.numel();
  state.counters["params"] = double(params);
  state.counters["torch_threads"] = double(at::get_num_threads());
  state.SetItemsProcessed(state.iterations() * batch.input.size(0));
}

torch::Tensor fmnist_like(int64_t n) { return torch::randn({n, 1, 28, 28}); }
int64_t image_batch() { return bench::env_int("SSL_BENCH_BATCH", 256); }

/// The example's MAE step (28^2, patch 4, 128 x 4, decoder 64 x 2, batch 256), activations stored
/// or recomputed in backward.
void BM_MaeStep(benchmark::State& state, bool checkpoint) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto mae = ssl::mae::recipe({.encoder = ssl::vit::Options{}.image(28).patch(4).channels(1).dim(128).depth(4).heads(4)});
  recipe_step(state, mae, {fmnist_like(image_batch()), {}}, {.lr = 1.5e-4, .weight_decay = 0.05, .beta2 = 0.95},
              [&](bool on) { mae->backbone()->blocks->options.checkpoint(on); }, checkpoint);
}

/// The examples' BEiT (k-means tokenizer, 256 codes, ViT 128 x 4, patch 4) and iBOT (ViT 64 x 4,
/// patch 7, 2 global + 6 local 14-px crops) steps.
void BM_BeitStep(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto km = ssl::tokenizer::fit_kmeans(fmnist_like(512), {.iterations = 5});
  auto beit = ssl::beit::recipe(km, {.encoder = ssl::vit::Options{}.image(28).patch(4).channels(1).dim(128).depth(4).heads(4)});
  recipe_step(state, beit, {fmnist_like(image_batch()), {}}, {.lr = 1.5e-3, .weight_decay = 0.05},
              [&](bool on) { beit->backbone()->blocks->options.checkpoint(on); }, false);
}
void BM_IbotStep(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  ssl::ibot::Options o;
  o.encoder = o.encoder.image(28).patch(7).channels(1);
  o.augment = ssl::augment::MultiCrop::dino({.global_size = 28, .local_size = 14, .channels = 1});
  auto ibot = ssl::ibot::recipe(o);
  recipe_step(state, ibot, {fmnist_like(image_batch()).sigmoid(), {}}, {.lr = 1e-3, .weight_decay = 0.04},
              [&](bool on) { ibot->backbone()->blocks->options.checkpoint(on); }, false);
}

/// Text steps at the example's scale: 256-d x 4 encoders, 128 tokens, batch 16, vocabulary 8000.
constexpr int64_t kV = 8000, kLen = 128, kTextBatch = 16;
ssl::text::EncoderOptions text_encoder() { return ssl::text::EncoderOptions(kV, 256, 4, 4).max_len(kLen).pad_id(0).sep_id(3); }
ssl::masker::Bert text_masking(bool dynamic) {
  return {.vocab_size = kV, .mask_id = 4, .special_ids = {0, 1, 2, 3, 4}, .dynamic = dynamic};
}
ssl::Batch token_batch() { return {torch::randint(5, kV, {kTextBatch, kLen}), {}}; }
void BM_RobertaStep(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto r = ssl::bert::recipe(ssl::bert::roberta({.encoder = text_encoder(), .masking = text_masking(true)}));
  recipe_step(state, r, token_batch(), {.lr = 1e-4, .weight_decay = 0.01},
              [&](bool on) { r->backbone()->blocks->options.checkpoint(on); }, false);
}
void BM_ElectraStep(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto r = ssl::electra::recipe({.discriminator = text_encoder().embedding_dim(128), .masking = text_masking(true)});
  recipe_step(state, r, token_batch(), {.lr = 1e-4, .weight_decay = 0.01},
              [&](bool on) { r->backbone()->blocks->options.checkpoint(on); }, false);
}
void BM_GptStep(benchmark::State& state) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto r = ssl::gpt::recipe({.encoder = text_encoder(), .pad_id = 0});
  recipe_step(state, r, token_batch(), {.lr = 1e-4, .weight_decay = 0.01},
              [&](bool on) { r->backbone()->blocks->options.checkpoint(on); }, false);
}
}  // namespace

int main(int argc, char** argv) {
  const bool min_time_flag = bench::min_time_given(argc, argv);
  const int iters = bench::env_int("SSL_BENCH_ITERS", 10);
  auto reg = [&](const char* name, auto fn, int n) {
    auto* b = benchmark::RegisterBenchmark(name, fn)->Unit(benchmark::kMillisecond)->UseManualTime();
    if (!min_time_flag) b->Iterations(n);
  };
  reg("BM_OptimizerStep/adamw_fused", [](benchmark::State& s) { BM_AdamW(s, true); }, 5 * iters);
  reg("BM_OptimizerStep/adamw_foreach", [](benchmark::State& s) { BM_AdamW(s, false); }, 5 * iters);
  reg("BM_OptimizerStep/adamw_libtorch_loop", BM_AdamW_libtorch_loop, 5 * iters);
  reg("BM_OptimizerStep/lars_foreach", BM_Lars_foreach, 5 * iters);
  reg("BM_EmaUpdate/foreach", BM_Ema_foreach, 5 * iters);
  reg("BM_EmaUpdate/loop", BM_Ema_loop, 5 * iters);
  reg("BM_MaeStep/stored", [](benchmark::State& s) { BM_MaeStep(s, false); }, iters);
  reg("BM_MaeStep/checkpointed", [](benchmark::State& s) { BM_MaeStep(s, true); }, iters);
  reg("BM_Step/beit", BM_BeitStep, iters);
  reg("BM_Step/ibot", BM_IbotStep, iters);
  reg("BM_Step/roberta", BM_RobertaStep, iters);
  reg("BM_Step/electra", BM_ElectraStep, iters);
  reg("BM_Step/gpt", BM_GptStep, iters);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
}
