// Google Benchmark of one BERT pretraining step (recipe forward with dynamic 15 % masking, MLM +
// next-sentence loss, backward, AdamW step).
//
//   SSL_BENCH_THREADS=2 build/benchmarks/bench_text [--benchmark_format=json]
//
// Configuration (the same as benchmarks/bert_side_by_side.py builds with Hugging Face
// BertForPreTraining): BERT-small (Turc et al. 2019): vocab 30522, dim 512, depth 4, heads 8,
// MLP 2048, 128 tokens, batch 8, no padding, dropout 0.1.
//   /all:    MLM logits at every position (what BertForPreTraining computes)
//   /masked: MLM logits at the selected 15 % only (libssl's default: the same loss)
#include <benchmark/benchmark.h>
#include <ssl/bert.hpp>
#include <torch/torch.h>

#include "bench_common.hpp"

#include <cstdlib>
#include <string>

namespace {
constexpr int64_t kVocab = 30522, kLen = 128, kBatch = 8;

void BM_BertTrainStep(benchmark::State& state, bool only_masked) {
  at::set_num_threads(bench::threads());
  torch::manual_seed(0);
  auto enc = ssl::text::EncoderOptions(kVocab, 512, 4, 8).max_len(kLen).pad_id(0).sep_id(102);
  auto bert = ssl::bert::recipe({.encoder = enc,
                                 .masking = {.vocab_size = kVocab, .mask_id = 103, .special_ids = {0, 100, 101, 102, 103}},
                                 .next_sentence = true,
                                 .only_masked = only_masked});
  bert->train(true);
  ssl::optim::AdamW opt(bert->named_parameters().pairs(), {.lr = 1e-4, .weight_decay = 0.01});
  auto ids = torch::randint(1000, kVocab, {kBatch, kLen});
  ids.select(1, 0).fill_(101);
  ids.select(1, kLen / 2).fill_(102);
  ids.select(1, kLen - 1).fill_(102);
  const ssl::Batch batch{.input = ids, .target = torch::randint(0, 2, {kBatch})};
  auto step = [&] {
    auto out = bert->forward(batch);
    opt.zero_grad();
    out.loss.backward();
    opt.step();
    return out.loss.item<double>();
  };
  double loss = 0;
  for (int i = 0; i < bench::warmup(); ++i) loss = step();
  for (auto _ : state) loss = step();
  state.counters["loss"] = loss;
  // After reading it: libbenchmark 1.7's DoNotOptimize ("+m,r") can clobber a double under GCC.
  benchmark::DoNotOptimize(loss);
  int64_t params = 0;
  for (const auto& p : opt.parameters()) params += p.numel();
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["batch"] = double(kBatch);
  state.counters["params"] = double(params);
  state.counters["torch_threads"] = double(at::get_num_threads());
}
}  // namespace

int main(int argc, char** argv) {
  const bool min_time_flag = bench::min_time_given(argc, argv);
  const int iters = bench::env_int("SSL_BENCH_ITERS", 30);
  for (auto [name, only] : {std::pair{"BM_BertTrainStep/all", false}, std::pair{"BM_BertTrainStep/masked", true}}) {
    auto* b = benchmark::RegisterBenchmark(name, BM_BertTrainStep, only);
    b->Unit(benchmark::kMillisecond)->UseRealTime();
    if (!min_time_flag) b->Iterations(iters);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
