// Data-parallel scaling: step time of one method on 1 or N processes (c10d Gloo on CPU), same
// global batch. Launched by benchmarks/scaling.py through torchrun (or by hand with RANK /
// WORLD_SIZE / MASTER_ADDR / MASTER_PORT); process 0 prints one JSON line.
//
//   torchrun --standalone --nproc_per_node=2 --no-python ./build/benchmarks/bench_dist --method mae
#include "bench_common.hpp"

#include <CLI/CLI.hpp>
#include <ssl/mae.hpp>
#include <ssl/simclr.hpp>
#include <ssl/ssl.hpp>

#include <chrono>
#include <cstdio>

int main(int argc, char** argv) {
  CLI::App app{"libssl data-parallel step time"};
  std::string method = "mae";
  int64_t global_batch = 256, steps = 10, warmup = 3;
  int threads = 0;
  app.add_option("--method", method, "mae | simclr")->check(CLI::IsMember({"mae", "simclr"}));
  app.add_option("--global-batch", global_batch, "samples per step over all processes");
  app.add_option("--steps", steps, "timed steps");
  app.add_option("--warmup", warmup, "untimed steps first");
  app.add_option("--threads", threads, "intra-op threads per process (0: SSL_BENCH_THREADS / world size)");
  CLI11_PARSE(app, argc, argv);

  ssl::dist::Session session(ssl::dist::from_env());
  const int64_t world = ssl::dist::world_size();
  if (threads <= 0) threads = std::max(1, bench::threads() / int(world));
  at::set_num_threads(threads);
  TORCH_CHECK(global_batch % world == 0, "bench_dist: global batch ", global_batch, " is not divisible by ", world);
  torch::manual_seed(0);
  const auto images = torch::randn({global_batch * (warmup + steps), 1, 28, 28});
  ssl::data::Loader loader(images, {}, nullptr, {.batch_size = global_batch / world, .seed = 1});
  auto run = [&](auto recipe, auto opt) {
    ssl::Trainer trainer(recipe, std::move(opt), ssl::schedule::Constant{});
    trainer.fit(loader, {.epochs = 1, .max_steps = warmup, .log_every = 0, .progress = 0});
    const auto t0 = std::chrono::steady_clock::now();
    trainer.fit(loader, {.epochs = 1, .max_steps = warmup + steps, .log_every = 0, .progress = 0});
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / double(steps);
  };
  double s = 0;
  if (method == "mae") {
    auto r = ssl::mae::recipe({.encoder = ssl::vit::Options{}.image(28).patch(4).channels(1).dim(128).depth(4).heads(4)});
    s = run(r, ssl::optim::AdamW(r->named_parameters().pairs(), {.lr = 1.5e-4, .weight_decay = 0.05, .beta2 = 0.95}));
  } else {
    auto r = ssl::simclr::recipe(
        ssl::resnet::Encoder(ssl::resnet::resnet18().channels(1).width(16).small_stem(true)),
        {.augment = ssl::augment::TwoViews::simclr(28, 1), .hidden = 512, .out = 128, .temperature = 0.2});
    s = run(r, ssl::optim::Lars(r->named_parameters().pairs(), {.lr = 0.3, .weight_decay = 1e-6}));
  }
  if (ssl::dist::is_main())
    std::printf("{\"method\": \"%s\", \"world\": %lld, \"threads_per_process\": %d, \"global_batch\": %lld, "
                "\"ms_per_step\": %.2f, \"samples_per_s\": %.1f}\n",
                method.c_str(), (long long)world, threads, (long long)global_batch, 1e3 * s, double(global_batch) / s);
  return 0;
}
