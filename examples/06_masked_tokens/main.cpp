// 06 — Masked image modelling with tokens on Fashion-MNIST:
//   --method beit: train a visual tokenizer offline (k-means over normalised patches, or a small
//                  VQ-VAE trained by ssl::Trainer), then pretrain a ViT to predict the tokens of
//                  blockwise-masked patches (ssl/beit.hpp); writes tokens.png.
//   --method ibot: DINO's multi-crop self-distillation plus masked patch self-distillation with
//                  the EMA teacher as an online tokenizer (ssl/ibot.hpp); writes attention.png.
// Both end like the MAE example: k-NN and linear probe on frozen features, fine-tuning against
// the same ViT from scratch with the same budget, the raw-pixel floors from the same run.
#include <ssl/beit.hpp>
#include <ssl/ibot.hpp>
#include <ssl/ssl.hpp>

#include <CLI/CLI.hpp>

#include "../common/dist.hpp"
#include "../common/guard.hpp"
#include "../common/image_data.hpp"
#include "../common/image_eval.hpp"
#include "../common/pictures.hpp"

#include <filesystem>
#include <fstream>

namespace {

struct Args {
  std::string method = "beit";
  std::string tokenizer = "kmeans";
  std::string out;
  std::string dist;  // --dist (or torchrun's environment)
  std::string features;  // default per method: BEiT pooled, iBOT blocks
  ex::ImageDataOptions data{.data = ex::fashion_mnist_dir()};
  ssl::data::Transform to_model;  // pixels -> the model's input (normalised with the data's mean and std; run())
  std::string device = "cpu";
  torch::Device on = torch::kCPU;  // --device resolved once for this process (run())
  int threads = 2;     // in all: split over the processes while training
  int64_t procs = -1;  // processes on this machine (default: iBOT 2 on the CPU, ~1.6x the images/s here; else 1)
  uint64_t seed = 0;
  int64_t epochs = -1, batch = -1;  // batch: per process; default 256 in all, split over the processes
  double lr = -1;
  // Defaults per method (-1): BEiT the MAE example's ViT (128-d, patch 4); iBOT 64-d with 7-px patches
  // (16 tokens: 7 epochs on 2 processes fit in the 10 minutes) and 14-px local crops.
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

/// `--batch`, or the default of 256 images in all split over the processes.
int64_t batch_per_process(const Args& a) { return ex::batch_per_process(a.batch, 256, a.method); }

torch::Tensor to_unit(const torch::Tensor& im) { return im.to(torch::kFloat32).div(255); }

/// A colour per code: a fixed pseudo-random palette (the same code, the same colour).
torch::Tensor palette(int64_t K) {
  auto i = torch::arange(K, torch::kFloat64);
  auto c = torch::stack({(i * 0.618034).frac(), (i * 0.414214 + 0.3).frac(), (i * 0.732051 + 0.6).frac()}, 1);
  return (0.15 + 0.85 * c).to(torch::kFloat32);  // [K, 3]
}

/// `<out>/tokens.png`: per test image, the image and its token map (a colour per code,
/// each patch's colour over the patch).
template <class Tok>
void write_tokens_png(Tok& tok, const torch::Tensor& images, const ssl::data::Transform& to_model, const std::string& path) {
  auto x = to_model(images);
  auto t = tok->encode(x);  // [B, N]
  const auto B = x.size(0), S = x.size(2), g = S / tok->patch();
  auto colours = palette(tok->vocab_size()).index_select(0, t.reshape({-1})).view({B, g, g, 3}).permute({0, 3, 1, 2});
  namespace F = torch::nn::functional;
  auto up = F::interpolate(colours, F::InterpolateFuncOptions().size(std::vector<int64_t>{S, S}).mode(torch::kNearest));
  auto gray = images.to(torch::kFloat32).div(255).expand({B, 3, S, S});
  ssl::io::write_png(path, ssl::io::grid(torch::stack({gray, up}, 1), /*scale=*/4));
}

/// Pretrains `recipe`, then the frozen-feature and fine-tuning evaluations of its backbone.
template <class R>
int pretrain_and_evaluate(R recipe, const Args& a, int64_t epochs, double lr, const ssl::vit::Options& arch,
                          const ex::ImageData& data, ssl::train::JsonObject m,
                          std::chrono::steady_clock::time_point t0) {
  const auto& train = data.train;
  const auto& test = data.test;
  const auto& to_model = a.to_model;
  // BEiT sees the normalised images; iBOT's multi-crop augments pixels in [0, 1] and normalises.
  constexpr bool multi_crop = std::is_same_v<R, ssl::ibot::Recipe>;
  const int64_t world = ssl::dist::world_size(), batch = batch_per_process(a);
  const auto device = a.on;
  recipe->to(device);
  ssl::Trainer trainer(recipe, ssl::optim::AdamWOptions{.lr = lr, .weight_decay = multi_crop ? 0.04 : 0.05},
                       ssl::schedule::cosine_warmup(std::min<double>(1.0, epochs / 10.0)));
  const auto ckpt = a.out + "/" + a.method + ".ckpt";
  ex::resume_if(a.resume, trainer, ckpt);
  const auto tp = std::chrono::steady_clock::now();
  const double final_loss = data.with_loader(multi_crop ? ssl::data::Transform(to_unit) : to_model,
                                             {.batch_size = batch, .seed = a.seed, .device = device}, [&](auto& loader) {
    return trainer.fit(loader, {.epochs = epochs, .clip_grad_norm = 3.0, .metrics_path = a.out + "/train.jsonl",
                                .checkpoint_path = ckpt, .label = a.method + " pretrain"});
  });
  const double train_seconds = ex::seconds_since(tp);
  std::printf("pretraining: %lld epochs, %.1f s, final epoch loss %.4f\n", (long long)epochs, train_seconds, final_loss);
  if (!ssl::dist::is_main()) return 0;  // process 0 evaluates alone, on all the threads
  ssl::dist::LocalOnly local;
  at::set_num_threads(a.threads);
  if (!data.evaluable()) {
    m.str("method", a.method).str("data", a.data.data).num("epochs", double(epochs)).num("train_seconds", train_seconds);
    m.num("final_loss", final_loss).num("total_seconds", ex::seconds_since(t0));
    return ex::ImageData::pretraining_only(a.out, m);
  }

  // Frozen features: the CLS token and the mean patch token concatenated (pooled), every
  // output token (tokens: the MAE example's default), or the token maps of the last 4 blocks
  // (blocks: DINO's evaluation features).
  recipe->eval();
  const bool tokens = a.features == "tokens";
  auto s = ex::frozen_eval([&](const torch::Tensor& x) {
                             auto net = recipe->backbone();
                             if constexpr (std::is_same_v<R, ssl::ibot::Recipe>)
                               if (a.teacher) net = recipe->target()->backbone;
                             return ex::frozen_features(net, x, a.features, [](const ssl::Features& f) {
                               return ex::token_features(f.tokens, "pooled");  // CLS ‖ mean patch
                             });
                           },
                           train, test, to_model, a.probe_epochs, device);
  recipe->train();
  std::printf("frozen %s features (%lld-d, %s): k-NN %.2f %%, linear %.2f %% (%.0f s)\n", a.method.c_str(),
              (long long)s.dim, tokens ? "every token" : a.features == "blocks" ? "last 4 blocks' tokens" : "CLS + mean patch", 100 * s.knn, 100 * s.linear, s.seconds);
  ex::FrozenScores raw;
  if (a.floors) {
    raw = ex::raw_pixel_floors(train, test, a.probe_epochs);
    std::printf("raw pixels (floors):            k-NN %.2f %%, linear %.2f %%\n", 100 * raw.knn, 100 * raw.linear);
  }

  // Fine-tune vs scratch with the same budget (the MAE example's protocol), on a copy of the encoder.
  auto enc = ssl::vit::Encoder(std::dynamic_pointer_cast<ssl::vit::EncoderImpl>(recipe->backbone()->clone()));
  const auto f = ex::finetune_vs_scratch(enc, arch, train, test, to_model, a.finetune_labels, a.finetune_epochs,
                                         a.finetune_lr, a.layer_decay, a.seed, device);
  const double ft = f.pretrained, scratch = f.scratch, finetune_seconds = f.seconds;
  const auto nl = f.labels;
  std::printf("fine-tune on %lld labels, %lld epochs: pretrained %.2f %% vs scratch %.2f %% (%.0f s)\n", (long long)nl,
              (long long)a.finetune_epochs, 100 * ft, 100 * scratch, finetune_seconds);

  if constexpr (std::is_same_v<R, ssl::ibot::Recipe>) {
    ex::write_attention_png(recipe, test.images.narrow(0, 0, 8), to_model, a.out + "/attention.png");
    std::printf("attention.png: 8 test images, then the teacher's last-block CLS attention of each head\n");
  }
  m.str("scored_network", a.teacher ? "teacher" : "student");
  m.str("method", a.method).num("feature_dim", double(s.dim)).str("features", a.features == "pooled" ? "cls+mean_patch" : a.features);
  m.num("knn_top1", s.knn).num("linear_top1", s.linear).num("finetune_top1", ft).num("scratch_finetune_top1", scratch);
  m.num("raw_pixels_knn_top1", raw.knn).num("raw_pixels_linear_top1", raw.linear);
  m.num("epochs", double(epochs)).num("batch", double(batch * world)).num("processes", double(world));
  m.str("device", device.str()).num("seed", double(a.seed)).num("train_seconds", train_seconds);
  m.num("final_loss", final_loss).num("eval_seconds", s.seconds).num("finetune_seconds", finetune_seconds);
  m.num("finetune_labels", double(nl)).num("finetune_epochs", double(a.finetune_epochs)).num("threads", a.threads);
  m.num("total_seconds", ex::seconds_since(t0));
  std::ofstream(a.out + "/metrics.json") << m.dump(true) << "\n";
  std::printf("wrote %s/metrics.json (%.0f s in all)\n", a.out.c_str(), ex::seconds_since(t0));
  return 0;
}

/// BEiT with a tokenizer trained here, on the training images, and saved as safetensors.
template <class Tok>
int run_beit(Tok tok, double fit_seconds, const Args& a, const ssl::vit::Options& arch, const ex::ImageData& data,
             ssl::train::JsonObject m, std::chrono::steady_clock::time_point t0) {
  const auto& train = data.train;
  const auto& shown = data.has_test() ? data.test : data.train;  // what the tokenizer is scored and drawn on
  const auto& to_model = a.to_model;
  const auto tt = std::chrono::steady_clock::now();
  if constexpr (std::is_same_v<Tok, ssl::tokenizer::VQVAE>) {
    tok->to(a.on);
    ssl::data::Loader loader(train.images, {}, to_model, {.batch_size = batch_per_process(a), .seed = a.seed, .device = a.on});
    ssl::Trainer t(tok, ssl::optim::AdamWOptions{.lr = 2e-3, .weight_decay = 0.0});
    t.fit(loader, {.epochs = a.tokenizer_epochs, .metrics_path = a.out + "/tokenizer.jsonl", .label = "VQ-VAE"});
    tok->eval();
    tok->to(torch::kCPU);  // encoded, saved and drawn here; the recipe takes it to the device again
  }
  const double tokenizer_seconds = fit_seconds + ex::seconds_since(tt);  // k-means fit or VQ-VAE training
  tok->save_safetensors(a.out + "/tokenizer.safetensors");
  auto test_tokens = tok->encode(to_model(shown.images));
  auto usage = ssl::tokenizer::codebook_usage(test_tokens, tok->vocab_size());
  std::printf("tokenizer (%s, %lld codes, %.0f s): perplexity %.1f on the test images, %.1f %% of the codes used; "
              "wrote %s/tokenizer.safetensors\n",
              a.tokenizer.c_str(), (long long)tok->vocab_size(), tokenizer_seconds, usage.perplexity, 100 * usage.used,
              a.out.c_str());
  write_tokens_png(tok, shown.images.narrow(0, 0, std::min<int64_t>(8, shown.size())), to_model, a.out + "/tokens.png");
  std::printf("tokens.png: 8 test images beside their token maps (a colour per code)\n");
  m.str("tokenizer", a.tokenizer).num("codes", double(tok->vocab_size())).num("codebook_perplexity", usage.perplexity);
  m.num("codebook_used", usage.used).num("tokenizer_seconds", tokenizer_seconds);
  const int64_t epochs = a.epochs > 0 ? a.epochs : 3;
  return pretrain_and_evaluate(ssl::beit::recipe(tok, {.encoder = arch}), a, epochs, a.lr > 0 ? a.lr : 1.5e-3, arch, data,
                               std::move(m), t0);
}

int run(Args a) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (a.out.empty()) a.out = "out/" + a.method;
  std::filesystem::create_directories(a.out);
  ssl::train::seed_everything(a.seed);  // the same seed on every process of a data-parallel run
  a.on = ex::training_device(a.device, a.dist);
  const auto session = ex::join(a.dist, a.on);
  ex::set_training_threads(a.threads);
  const auto t0 = std::chrono::steady_clock::now();
  const auto data = ex::open_image_data(a.data);
  const auto& train = data.train;
  a.to_model = data.normalize();
  const auto& to_model = a.to_model;
  std::printf("%s, %lld process(es) x %d thread(s) on %s\n", a.method.c_str(), (long long)ssl::dist::world_size(),
              at::get_num_threads(), a.device.c_str());
  const bool beit = a.method == "beit";
  if (a.dim <= 0) a.dim = beit ? 128 : 64;
  if (a.features.empty()) a.features = beit ? "pooled" : "blocks";
  TORCH_CHECK(!a.teacher || !beit, "--teacher: BEiT has no teacher network to score (its targets come from a fixed tokenizer); iBOT has one");
  if (a.patch <= 0) a.patch = beit ? 4 : 7;
  if (a.local_size <= 0) a.local_size = 2 * a.patch;
  TORCH_CHECK(data.image_size % a.patch == 0, "--patch ", a.patch, " does not divide the image size ", data.image_size);
  const auto arch = ssl::vit::Options{}.image(data.image_size).patch(a.patch).channels(data.channels).dim(a.dim).depth(a.depth).heads(a.heads)
                        .learned_pos(a.method == "ibot");
  ssl::train::JsonObject m;
  m.num("dim", double(a.dim)).num("depth", double(a.depth)).num("patch", double(a.patch));
  if (a.method == "beit") {
    if (a.tokenizer == "kmeans") {
      const auto tt = std::chrono::steady_clock::now();
      auto km = ssl::tokenizer::fit_kmeans(to_model(train.images), {.patch = a.patch, .codes = a.codes});
      return run_beit(km, ex::seconds_since(tt), a, arch, data, std::move(m), t0);
    }
    ssl::tokenizer::VQVAE vq(ssl::tokenizer::VQVAEOptions{.channels = data.channels, .patch = a.patch, .codes = a.codes});
    return run_beit(vq, 0.0, a, arch, data, std::move(m), t0);
  }
  ssl::ibot::Options o;
  o.encoder = arch;
  o.augment = ssl::augment::MultiCrop::dino({.global_size = data.image_size, .local_size = a.local_size, .n_local = a.local_crops,
                                             .channels = data.channels, .mean = data.mean, .std = data.std});
  o.ema.base = a.momentum;
  ex::set_teacher_temperature(o.loss, a.teacher_temp);
  m.num("ema_base", a.momentum).num("teacher_temp", a.teacher_temp);
  const int64_t epochs = a.epochs > 0 ? a.epochs : 7;
  return pretrain_and_evaluate(ssl::ibot::recipe(o), a, epochs, a.lr > 0 ? a.lr : 2e-3, arch, data, std::move(m), t0);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"libssl 06: BEiT (visual tokens) and iBOT (self-distillation + masked patches) on Fashion-MNIST"};
  app.add_option("--method", a.method, "beit | ibot")->check(CLI::IsMember({"beit", "ibot"}));
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
  CLI11_PARSE(app, argc, argv);
  return ex::guarded([&] {
    ex::Launch launch(a.procs > 0 ? a.procs : a.method == "ibot" && a.device != "cuda" ? 2 : 1, a.dist, argv);
    return launch.wait(run(a));
  });
}
