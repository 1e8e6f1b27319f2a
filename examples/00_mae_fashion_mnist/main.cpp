// 00 — MAE on Fashion-MNIST: pretrain a ViT by masked reconstruction, then evaluate it with a
// k-NN classifier, a linear probe and fine-tuning (against the same ViT fine-tuned from scratch),
// and draw reconstructions of test images.
#include <ssl/mae.hpp>
#include <ssl/ssl.hpp>

#include <CLI/CLI.hpp>

#include "../common/cli.hpp"
#include "../common/dist.hpp"
#include "../common/guard.hpp"
#include "../common/image_data.hpp"
#include "../common/report.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

namespace {
struct Args : ex::RunArgs, ex::VitArgs, ex::ProbeArgs, ex::FinetuneArgs {
  Args() : ex::RunArgs{.out = "out/mae", .epochs = 4, .batch = 256, .lr = 1.5e-3}, ex::VitArgs{.dim = 128, .patch = 4} {}
  ex::ImageDataOptions data{.data = ex::fashion_mnist_dir()};
  double mask_ratio = 0.75;
  int64_t decoder_dim = 64, decoder_depth = 2;
  std::string features = "tokens";
};

/// The command line of this example into `a`.
void add_options(CLI::App& app, Args& a) {
  ex::add_run_options(app, a, {.out = "output folder (metrics.json, reconstruction.png, train.jsonl, TensorBoard events)",
                               .epochs = "pretraining epochs over the 60k training images",
                               .lr = "pretraining peak learning rate", .resume = "mae.ckpt", .device = true,
                               .skip_non_finite = true});
  ex::add_image_data_options(app, a.data);
  ex::add_vit_options(app, a, "encoder width", "ViT patch side (must divide the image size)");
  app.add_option("--mask-ratio", a.mask_ratio, "fraction of patches hidden")->check(ex::in_range(0, 1, true, true));
  app.add_option("--decoder-dim", a.decoder_dim, "decoder width")->check(ex::at_least(1));
  app.add_option("--decoder-depth", a.decoder_depth, "decoder blocks")->check(ex::at_least(1));
  ex::add_finetune_options(app, a);
  ex::add_probe_options(app, a);
  app.add_option("--features", a.features, "frozen features: tokens (every output token) | pooled (CLS + mean)")
      ->check(CLI::IsMember({"tokens", "pooled"}));
}

}  // namespace

int run(const Args& a) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  at::set_num_threads(a.threads);
  std::filesystem::create_directories(a.out);
  ssl::train::seed_everything(a.seed);  // the same seed on every process of a data-parallel run
  const auto device = ex::training_device(a.device, a.dist);
  const auto session = ex::join(a.dist, device);
  const auto t0 = std::chrono::steady_clock::now();

  const auto d = ex::open_image_data(a.data);
  const auto& train = d.train;
  const auto& test = d.test;
  auto norm = d.normalize();
  TORCH_CHECK(d.image_size % a.patch == 0, "--patch ", a.patch, " does not divide the image size ", d.image_size);
  std::printf("%lld train / %lld test images, %d threads, on %s\n", (long long)train.size(),
              (long long)(d.has_test() ? test.size() : 0), a.threads, a.device.c_str());

  // ---- 1. Pretrain ----------------------------------------------------------------------
  ssl::mae::Options mo;
  mo.encoder = ssl::vit::Options{}.image(d.image_size).patch(a.patch).channels(d.channels).dim(a.dim).depth(a.depth).heads(a.heads);
  mo.decoder_dim = a.decoder_dim;
  mo.decoder_depth = a.decoder_depth;
  mo.mask_ratio = a.mask_ratio;
  auto mae = ssl::mae::recipe(mo);
  mae->to(device);
  ssl::Trainer trainer(mae, ssl::optim::AdamWOptions{.lr = a.lr, .weight_decay = 0.05, .beta2 = 0.95},
                       ssl::schedule::cosine_warmup(std::min<double>(1.0, a.epochs / 5.0)));
  ex::resume_if(a.resume, trainer, a.out + "/mae.ckpt");
  const auto tp = std::chrono::steady_clock::now();
  const double final_loss = d.with_loader(norm, {.batch_size = a.batch, .seed = a.seed, .device = device}, [&](auto& loader) {
    return trainer.fit(loader, {.epochs = a.epochs, .clip_grad_norm = 1.0, .metrics_path = a.out + "/train.jsonl",
                                .tensorboard_dir = a.out, .checkpoint_path = a.out + "/mae.ckpt", .checkpoint_every = ex::checkpoint_every,
                                .non_finite = a.non_finite(),
                                .config = {{"seed", std::to_string(a.seed)}, {"heads", std::to_string(a.heads)},
                                           {"mask_ratio", std::to_string(a.mask_ratio)}},
                                .label = "MAE pretrain"});
  });
  const double train_seconds = ex::seconds_since(tp);
  std::printf("pretraining: %lld epochs, %.1f s in this run, final epoch loss %.4f\n", (long long)a.epochs,
              train_seconds, final_loss);
  if (!ssl::dist::is_main()) return 0;  // process 0 evaluates alone
  ssl::dist::LocalOnly local;

  // ---- 2. Reconstructions ---------------------------------------------------------------
  int64_t num_patches = 0, masked_patches = 0;
  {
    const auto& shown = d.has_test() ? test : train;
    auto x = norm(shown.images.narrow(0, 0, std::min<int64_t>(8, shown.size()))).to(device);
    auto r = ssl::mae::reconstruct(mae, x, /*fill=*/d.gray());
    auto px = [&](const torch::Tensor& t) { return d.pixels(t); };
    auto tiles = torch::stack({px(x), px(r.masked), px(r.predicted), px(r.pasted)}, 1);
    const auto picture = ssl::io::grid(tiles, /*scale=*/std::max<int64_t>(1, 96 / d.image_size));
    ssl::io::write_png(a.out + "/reconstruction.png", picture);
    ssl::train::TensorBoard(a.out).image("mae/reconstruction", picture, trainer.step());  // beside the loss curves
    const auto N = r.mask.size(1), hidden = r.mask[0].sum().item<int64_t>();
    num_patches = N;
    masked_patches = hidden;
    std::printf("reconstruction.png: original | masked | reconstruction | pasted; %lld patches, %lld visible, "
                "%lld masked (ratio %.2f)\n",
                (long long)N, (long long)(N - hidden), (long long)hidden, double(hidden) / double(N));
  }

  if (!d.evaluable()) {
    const ssl::train::Json m = {{"train_seconds", train_seconds}, {"final_loss", final_loss}, {"epochs", a.epochs},
                                {"num_patches", num_patches}, {"masked_patches", masked_patches},
                                {"data", a.data.data}, {"total_seconds", ex::seconds_since(t0)}};
    return ex::ImageData::pretraining_only(a.out, m, "metrics.json and " + a.out + "/reconstruction.png");
  }

  // ---- 3. Frozen features: k-NN and linear probe -----------------------------------------
  mae->eval();
  const auto kind = ssl::eval::feature_kind(a.features);
  const auto frozen = ssl::eval::frozen_eval(
      [&](const torch::Tensor& x) { return ssl::eval::token_features(mae->encode(x).tokens, kind); }, train, test, norm,
      {.probe = {.epochs = a.probe_epochs}, .device = device});
  mae->train();
  const double knn = frozen.knn, linear = frozen.linear, eval_seconds = frozen.seconds;
  std::printf("frozen MAE features (%lld-d, %s): k-NN %.2f %%, linear %.2f %% (%.0f s)\n", (long long)frozen.dim,
              a.features.c_str(), 100 * knn, 100 * linear, eval_seconds);

  double knn_raw = -1, linear_raw = -1;
  if (a.floors) {
    const auto raw = ssl::eval::raw_pixel_floors(train, test, {.probe = {.epochs = a.probe_epochs}});
    knn_raw = raw.knn;
    linear_raw = raw.linear;
    std::printf("raw pixels (floors):           k-NN %.2f %%, linear %.2f %%\n", 100 * knn_raw, 100 * linear_raw);
  }

  // ---- 4. Fine-tune vs scratch with the same budget --------------------------------------
  const auto f = ssl::eval::finetune_vs_scratch(mae->backbone(), mo.encoder, train, test, norm,
                                                {.labels = a.finetune_labels, .epochs = a.finetune_epochs,
                                                 .lr = a.finetune_lr, .layer_decay = a.layer_decay, .seed = a.seed,
                                                 .device = device});
  const double ft = f.pretrained, scratch = f.scratch, finetune_seconds = f.seconds;
  const auto nl = f.labels;
  std::printf("fine-tune on %lld labels, %lld epochs: pretrained %.2f %% vs scratch %.2f %% (%.0f s)\n", (long long)nl,
              (long long)a.finetune_epochs, 100 * ft, 100 * scratch, finetune_seconds);

  const ssl::train::Json m = {
      {"knn_top1", knn}, {"linear_top1", linear}, {"finetune_top1", ft}, {"scratch_finetune_top1", scratch},
      // The raw-pixel floors: pixels in [0,1], the same k-NN and linear-probe protocol.
      {"raw_pixels_knn_top1", knn_raw}, {"raw_pixels_linear_top1", linear_raw},
      {"num_patches", num_patches}, {"visible_patches", num_patches - masked_patches}, {"masked_patches", masked_patches},
      {"mask_ratio", a.mask_ratio}, {"train_seconds", train_seconds}, {"final_loss", final_loss},
      {"epochs", a.epochs}, {"finetune_labels", nl}, {"finetune_epochs", a.finetune_epochs},
      {"eval_seconds", eval_seconds}, {"finetune_seconds", finetune_seconds}, {"features", a.features},
      {"threads", a.threads}, {"device", device.str()}, {"total_seconds", ex::seconds_since(t0)},
      {"data", a.data.data}, {"image_size", d.image_size}, {"channels", d.channels}};
  std::ofstream(a.out + "/metrics.json") << ssl::train::dump(m, 2) << "\n";
  std::printf("wrote %s/metrics.json and %s/reconstruction.png (%.0f s in all)\n", a.out.c_str(), a.out.c_str(),
              ex::seconds_since(t0));
  return 0;
}

int main(int argc, char** argv) {
  return ex::example_main<Args>(
      argc, argv, "libssl 00: MAE on Fashion-MNIST or your images (pretrain, k-NN, linear probe, fine-tune, reconstructions)",
      add_options, run);
}
