// Example 06's command line: its arguments and their defaults (the per-method ones are in
// main.cpp's table of methods).
#pragma once
#include <CLI/CLI.hpp>

#include "../common/cli.hpp"
#include "../common/image_data.hpp"

#include <string>
#include <vector>

namespace ex06 {

/// The command line of example 06.
struct Args : ex::RunArgs, ex::VitArgs, ex::ProbeArgs, ex::FinetuneArgs, ex::DistillationArgs, ex::MonitorArgs {
  // -1: the method's default (main.cpp's table): epochs, lr; dim and patch (BEiT: the MAE example's
  // ViT, 128-d, patch 4; iBOT: 64-d with 7-px patches, 16 tokens: 7 epochs on 2 processes fit in
  // the 10 minutes); procs (iBOT 2 on the CPU, ~1.6x the images/s here; else 1). local_size -1:
  // 2 patches (iBOT: 14-px local crops). batch: per process, default 256 in all, split over the
  // processes; threads: in all, split over the processes while training; teacher_temp: iBOT's
  // teacher, CLS and patches.
  Args() : ex::RunArgs{.epochs = -1, .batch = -1, .lr = -1}, ex::VitArgs{.dim = -1, .patch = -1},
           ex::DistillationArgs{.local_size = -1} {}
  std::string method = "beit";
  std::string tokenizer = "kmeans";
  std::string features;  // default per method: BEiT and I-JEPA pooled, iBOT blocks, data2vec 2.0 tokens
  ex::ImageDataOptions data{.data = ex::fashion_mnist_dir()};
  torch::Device on = torch::kCPU;  // --device resolved once for this process (run())
  int64_t codes = 256, tokenizer_epochs = 2;
  // The teacher's base EMA momentum (cosine to 1); -1: the method's (iBOT 0.99: the paper's 0.996
  // lags in 7 epochs; I-JEPA 0.996, the paper's: at 0.99 its targets collapsed here, docs/08;
  // data2vec 2.0 0.996 too).
  double momentum = -1;
  int64_t masks = 4;     // data2vec 2.0: masks per image (the reference's clone_batch)
  int64_t predictor_depth = -1;  // I-JEPA: the predictor's blocks; -1: 4 (the recipe's default: 2)
  bool teacher = false;  // iBOT, I-JEPA, data2vec 2.0: score the EMA teacher's backbone (the iBOT/DINO evaluation default)
};

/// The options of `a` (`methods`: the names --method accepts).
inline void add_options(CLI::App& app, Args& a, const std::vector<std::string>& methods) {
  app.add_option("--method", a.method, "beit | ibot | ijepa | data2vec2")->check(CLI::IsMember(methods));
  app.add_option("--tokenizer", a.tokenizer, "BEiT's tokenizer: kmeans | vqvae")->check(CLI::IsMember({"kmeans", "vqvae"}));
  ex::add_image_data_options(app, a.data);
  ex::add_run_options(app, a, {.out = "output folder (default out/<method>)",
                               .epochs = "pretraining epochs (default: BEiT 3, iBOT 7: ~9 minutes each here; I-JEPA and data2vec 2.0 4, the MAE example's)",
                               .batch = "batch size per process (default: 256 in all, split over the processes)",
                               .lr = "peak learning rate (BEiT and data2vec 2.0 1.5e-3, iBOT 2e-3, I-JEPA 5e-4)",
                               .resume = "<method>.ckpt", .device = true,
                               .procs = "default: 2 for iBOT on the CPU (its ViT's small steps do not go faster on a second thread), 1 otherwise",
                               .skip_non_finite = true});
  ex::add_vit_options(app, a, "ViT width (default: BEiT 128, iBOT 64)", "ViT patch size (= the tokenizer's; default: BEiT 4, iBOT 7)");
  app.add_option("--codes", a.codes, "BEiT: codebook size")->check(ex::at_least(2));
  app.add_option("--tokenizer-epochs", a.tokenizer_epochs, "BEiT: VQ-VAE training epochs")->check(ex::at_least(1));
  app.add_option("--momentum", a.momentum, "iBOT, I-JEPA and data2vec 2.0: the teacher's base EMA momentum (cosine schedule to 1; default: iBOT 0.99, I-JEPA and data2vec 2.0 0.996)")
      ->check(ex::in_range(0, 1));
  app.add_option("--masks", a.masks, "data2vec 2.0: masks per image, sharing one teacher pass (the reference: 16)")
      ->check(ex::at_least(1));
  app.add_option("--predictor-depth", a.predictor_depth, "I-JEPA: the predictor's Transformer blocks (default 4; the recipe's default: 2)")
      ->check(ex::at_least(1));
  ex::add_distillation_options(app, a, "iBOT", "side of the local crops (a multiple of the patch; default 2 patches)");
  ex::add_finetune_options(app, a);
  ex::add_probe_options(app, a);
  ex::add_monitor_option(app, a);
  app.add_option("--teacher", a.teacher, "iBOT, I-JEPA and data2vec 2.0: evaluate (frozen features and fine-tuning) and write the EMA teacher's "
                                         "backbone instead of the student's");
  app.add_option("--features", a.features, "frozen features: pooled (CLS + mean patch; BEiT's default) | tokens (every output token) | "
                                            "blocks (the token maps of the last 4 blocks, each normed: DINO's evaluation features; iBOT's default)")
      ->check(CLI::IsMember({"pooled", "tokens", "blocks"}));
}

}  // namespace ex06
