// Example 06's command line: its arguments and their defaults (the per-method ones are in
// main.cpp's table of methods).
#pragma once
#include <CLI/CLI.hpp>

#include "../common/dist.hpp"
#include "../common/image_data.hpp"

#include <string>
#include <vector>

namespace ex06 {

/// The command line of example 06.
struct Args {
  std::string method = "beit";
  std::string tokenizer = "kmeans";
  std::string out;
  std::string dist;  // --dist (or torchrun's environment)
  std::string features;  // default per method: BEiT pooled, iBOT blocks
  ex::ImageDataOptions data{.data = ex::fashion_mnist_dir()};
  std::string device = "cpu";
  torch::Device on = torch::kCPU;  // --device resolved once for this process (run())
  int threads = 2;     // in all: split over the processes while training
  int64_t procs = -1;  // processes on this machine (default: iBOT 2 on the CPU, ~1.6x the images/s here; else 1)
  uint64_t seed = 0;
  int64_t epochs = -1, batch = -1;  // batch: per process; default 256 in all, split over the processes
  double lr = -1;
  // Defaults per method (-1; main.cpp's table): BEiT the MAE example's ViT (128-d, patch 4); iBOT
  // 64-d with 7-px patches (16 tokens: 7 epochs on 2 processes fit in the 10 minutes) and 14-px
  // local crops.
  int64_t dim = -1, depth = 4, heads = 4, patch = -1;
  int64_t codes = 256, tokenizer_epochs = 2;
  int64_t local_crops = 4, local_size = -1;
  double momentum = 0.99;      // iBOT: the teacher's base EMA momentum (cosine to 1; the paper's 0.996 lags in 7 epochs)
  double teacher_temp = 0.07;  // iBOT: the teacher's softmax temperature (CLS and patches; from 0.04 in epoch 1)
  int64_t finetune_labels = 5000, finetune_epochs = 5;
  double finetune_lr = 1e-3, layer_decay = 0.75;
  int64_t probe_epochs = 30;
  bool floors = true;
  bool teacher = false;  // iBOT: score the EMA teacher's backbone (the iBOT/DINO evaluation default)
  bool resume = false;
};

/// The options of `a` (`methods`: the names --method accepts).
inline void add_options(CLI::App& app, Args& a, const std::vector<std::string>& methods) {
  app.add_option("--method", a.method, "beit | ibot")->check(CLI::IsMember(methods));
  app.add_option("--tokenizer", a.tokenizer, "BEiT's tokenizer: kmeans | vqvae")->check(CLI::IsMember({"kmeans", "vqvae"}));
  app.add_option("--out", a.out, "output folder (default out/<method>)");
  ex::add_image_data_options(app, a.data);
  app.add_option("--threads", a.threads, "CPU threads in all (split over the processes while training)");
  ex::add_device_option(app, a.device);
  app.add_option("--seed", a.seed, "random seed");
  app.add_option("--epochs", a.epochs, "pretraining epochs (default: BEiT 3, iBOT 7: ~9 minutes each here)");
  app.add_option("--batch", a.batch, "batch size per process (default: 256 in all, split over the processes)");
  app.add_option("--lr", a.lr, "peak learning rate (BEiT 1.5e-3, iBOT 2e-3)");
  app.add_option("--dim", a.dim, "ViT width (default: BEiT 128, iBOT 64)");
  app.add_option("--depth", a.depth, "ViT blocks");
  app.add_option("--heads", a.heads, "ViT attention heads");
  app.add_option("--patch", a.patch, "ViT patch size (= the tokenizer's; default: BEiT 4, iBOT 7)");
  app.add_option("--codes", a.codes, "BEiT: codebook size");
  app.add_option("--tokenizer-epochs", a.tokenizer_epochs, "BEiT: VQ-VAE training epochs");
  app.add_option("--local-crops", a.local_crops, "iBOT: number of local crops");
  app.add_option("--momentum", a.momentum, "iBOT: the teacher's base EMA momentum (cosine schedule to 1; default 0.99)");
  app.add_option("--teacher-temp", a.teacher_temp, "iBOT: teacher temperature (default 0.07; warm-up from 0.04 over the first epoch if different)");
  app.add_option("--local-size", a.local_size, "iBOT: side of the local crops (a multiple of the patch; default 2 patches)");
  app.add_option("--finetune-labels", a.finetune_labels, "labelled training images used for fine-tuning");
  app.add_option("--finetune-epochs", a.finetune_epochs, "fine-tuning epochs (pretrained and scratch alike)");
  app.add_option("--finetune-lr", a.finetune_lr, "fine-tuning peak learning rate");
  app.add_option("--layer-decay", a.layer_decay, "layer-wise lr decay when fine-tuning the pretrained ViT");
  app.add_option("--probe-epochs", a.probe_epochs, "linear-probe epochs");
  app.add_option("--floors", a.floors, "also measure the raw-pixel k-NN / linear floors");
  app.add_flag("--resume", a.resume, "continue from <out>/<method>.ckpt if it exists");
  app.add_option("--teacher", a.teacher, "iBOT: evaluate the EMA teacher's backbone instead of the student's");
  app.add_option("--features", a.features, "frozen features: pooled (CLS + mean patch; BEiT's default) | tokens (every output token) | "
                                            "blocks (the token maps of the last 4 blocks, each normed: DINO's evaluation features; iBOT's default)")
      ->check(CLI::IsMember({"pooled", "tokens", "blocks"}));
  ex::add_dist_option(app, a.dist);
  ex::add_procs_option(app, a.procs, "default: 2 for iBOT on the CPU (its ViT's small steps do not go faster on a second thread), 1 otherwise");
}

}  // namespace ex06
