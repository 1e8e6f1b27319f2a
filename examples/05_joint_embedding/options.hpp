// Example 05's command line: its arguments and their defaults (the per-method ones are in
// main.cpp's table of methods).
#pragma once
#include <CLI/CLI.hpp>

#include "../common/cli.hpp"
#include "../common/image_data.hpp"

#include <string>
#include <vector>

namespace ex05 {

/// The command line of example 05.
struct Args : ex::RunArgs, ex::VitArgs, ex::ProbeArgs, ex::DistillationArgs, ex::MonitorArgs, ex::FinetuneArgs {
  // epochs, batch, lr: -1, the method's default; procs: -1, the method's (1 with --device cuda);
  // threads: in all, split over the processes; ViT: 4 x 4 patches of 7 px; DINO's local crops:
  // 2 x 2 patches each; fine-tuning only when --finetune-labels is given; layer decay: -1, 0.75
  // for a ViT and none (1) for a ResNet
  Args()
      : ex::RunArgs{.epochs = -1, .batch = -1, .lr = -1}, ex::VitArgs{.dim = 64, .patch = 7},
        ex::FinetuneArgs{.finetune_labels = {}, .layer_decay = -1} {}
  std::string method = "simclr";
  std::string backbone = "";  // default per method (main.cpp's table): vit for dino, resnet18 otherwise
  ex::ImageDataOptions data{.data = ex::fashion_mnist_dir()};
  torch::Device on = torch::kCPU;  // --device resolved once for this process (run())
  double weight_decay = -1;
  std::string optimizer = "adamw";
  int64_t width = 16;                         // ResNet base width
  bool mean_pool = false;                             // ViT: pooled = mean patch token instead of CLS
  int64_t proj_hidden = -1, proj_out = -1;    // heads (defaults per method)
  int64_t freeze_last_layer = 0;              // DINO: epochs with the head's last layer frozen
  double clip = 0.0;                          // gradient-norm clipping (0: none)
  std::vector<double> global_scale{0.4, 1.0}, local_scale{0.05, 0.4};  // DINO: crop area fractions
  std::string features;  // frozen features: tokens | pooled | blocks (default: blocks for the ViT, tokens for the ResNet)
  bool teacher = false;              // evaluate the momentum teacher's backbone (BYOL, MoCo v3, DINO)
  double lambda = -1, momentum = -1, temperature = -1;  // method knobs (-1: the defaults 5e-3, 0.99, 0.2; a given value is checked)
  std::string views;                                     // two-view augmentation preset (default: the method's)
};

/// The options of `a` (`methods`: the names --method accepts).
inline void add_options(CLI::App& app, Args& a, const std::vector<std::string>& methods) {
  app.add_option("--method", a.method, "dino | byol | simclr | barlow_twins | mocov3 | vicreg | simsiam")->check(CLI::IsMember(methods));
  app.add_option("--backbone", a.backbone, "resnet18 | resnet50 | vit (default: vit for dino, resnet18 otherwise)")
      ->check(CLI::IsMember({"resnet18", "resnet50", "vit"}));
  ex::add_image_data_options(app, a.data);
  ex::add_run_options(app, a, {.out = "output folder (default out/<method>): metrics.json, train.jsonl, attention.png",
                               .epochs = "pretraining epochs (default: the method's 10-minute budget)",
                               .batch = "batch size per process (default: the method's in all, split over the processes: 256; BYOL and DINO 128)",
                               .lr = "peak learning rate (cosine schedule with warm-up; LARS default 0.3 x batch / 256)",
                               .max_steps = "stop after this many steps (the schedule still spans --epochs)",
                               .resume = "<method>.ckpt", .device = true,
                               .procs = "default: 2 for DINO (its ViT) on the CPU, 1 otherwise", .skip_non_finite = true});
  app.add_option("--optimizer", a.optimizer, "adamw | lars")->check(CLI::IsMember({"adamw", "lars"}));
  app.add_option("--weight-decay", a.weight_decay, "weight decay (LARS default 1e-6)")->check(ex::non_negative());
  app.add_option("--width", a.width, "ResNet base width (64 = the standard ResNet)")->check(ex::at_least(1));
  ex::add_vit_options(app, a, "ViT width", "ViT patch size (the image size and the local crop size must be multiples)");
  app.add_option("--mean-pool", a.mean_pool, "ViT: the pooled vector (what the heads see) is the mean patch token instead of CLS");
  app.add_option("--proj-hidden", a.proj_hidden, "projector / head hidden width")->check(ex::at_least(1));
  app.add_option("--proj-out", a.proj_out, "projector / head output width")->check(ex::at_least(1));
  ex::add_distillation_options(app, a, "DINO", "side of the local crops (global crops: the image size)");
  app.add_option("--global-scale", a.global_scale, "DINO: area fraction range of the global crops")
      ->expected(2)
      ->check(ex::in_range(0, 1, true));
  app.add_option("--local-scale", a.local_scale, "DINO: area fraction range of the local crops")
      ->expected(2)
      ->check(ex::in_range(0, 1, true));
  app.add_option("--clip", a.clip, "clip the gradient norm to this value (0: no clipping; DINO's reference uses 3)")
      ->check(ex::non_negative());
  app.add_option("--freeze-last-layer", a.freeze_last_layer, "DINO: epochs during which the head's last layer is frozen")
      ->check(ex::at_least(0));
  ex::add_probe_options(app, a);
  ex::add_finetune_options(app, a, "; none (the default): no fine-tuning",
                           " (default: 0.75 with --backbone vit; a ResNet has no blocks to decay by: 1)");
  ex::add_monitor_option(app, a);
  app.add_option("--features", a.features, "frozen features: tokens (the whole output map: ResNet H' x W' x C, ViT every token; the ResNet's default) | "
                                            "blocks (ViT: the token maps of the last 4 blocks, each normed, DINO's evaluation features; the ViT's default) | pooled (ResNet average / ViT CLS)")
      ->check(CLI::IsMember({"pooled", "tokens", "blocks"}));
  app.add_option("--teacher", a.teacher, "evaluate the momentum teacher's backbone instead of the student's (BYOL, MoCo v3, DINO)");
  app.add_option("--lambda", a.lambda, "Barlow Twins: off-diagonal weight (default 5e-3)")->check(ex::positive());
  app.add_option("--momentum", a.momentum, "BYOL / MoCo v3 / DINO: base EMA momentum (default 0.99; the DINO paper's is 0.996)")
      ->check(ex::in_range(0, 1));
  app.add_option("--temperature", a.temperature, "SimCLR / MoCo v3: contrastive temperature (default 0.2)")->check(ex::positive());
  app.add_option("--views", a.views, "two-view augmentation preset instead of the method's own")
      ->check(CLI::IsMember({"simclr", "byol", "vicreg", "simsiam"}));
}

}  // namespace ex05
