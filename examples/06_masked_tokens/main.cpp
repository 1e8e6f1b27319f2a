// 06 — Masked image modelling with tokens on Fashion-MNIST:
//   --method beit: train a visual tokenizer offline (k-means over normalised patches, or a small
//                  VQ-VAE trained by ssl::Trainer), then pretrain a ViT to predict the tokens of
//                  blockwise-masked patches (ssl/beit.hpp); writes tokens.png.
//   --method ibot: DINO's multi-crop self-distillation plus masked patch self-distillation with
//                  the EMA teacher as an online tokenizer (ssl/ibot.hpp); writes attention.png.
//   --method ijepa: from one context block, predict the EMA teacher's representations of four
//                  target blocks, in latent space, without augmentations (ssl/ijepa.hpp).
//   --method data2vec2: from the patches of inverse block masks (4 per image), a conv decoder
//                  predicts the EMA teacher's averaged block outputs at the hidden patches
//                  (ssl/data2vec2.hpp).
// All end like the MAE example: k-NN and linear probe on frozen features, fine-tuning against
// the same ViT from scratch with the same budget, the raw-pixel floors from the same run.
#include <ssl/beit.hpp>
#include <ssl/data2vec2.hpp>
#include <ssl/ibot.hpp>
#include <ssl/ijepa.hpp>
#include <ssl/monitor/stats.hpp>
#include <ssl/ssl.hpp>

#include "../common/dist.hpp"
#include "../common/guard.hpp"
#include "../common/hf_out.hpp"
#include "../common/image_data.hpp"
#include "../common/pictures.hpp"
#include "../common/report.hpp"
#include "../common/settings.hpp"
#include "options.hpp"

#include <filesystem>
#include <fstream>
#include <map>

namespace {
using ex06::Args;

/// What differs between the methods here: the defaults of a ~9-minute run, and the recipe
/// (`train`: builds it, then pretrains and evaluates it).
struct Run;
struct Method {
  int64_t epochs;
  double lr, weight_decay;
  int64_t dim, patch;    // the ViT's width and patch side (iBOT's local crops: 2 patches)
  const char* features;  // the frozen features scored by default
  bool teacher;          // a teacher network whose backbone --teacher scores
  bool learned_pos;      // the ViT's position embeddings are learned
  int64_t procs;         // on the CPU (iBOT: its ViT's small steps do not go faster on a second thread)
  int (*train)(Run&);
};

/// One run: the arguments (defaults resolved), the method, the data, the ViT and the metrics so far.
struct Run {
  const Args& a;
  const Method& m;
  const ex::ImageData& data;
  std::chrono::steady_clock::time_point t0;
  ssl::data::Transform to_model = data.normalize();  // pixels -> the model's input
  ssl::vit::Options arch = ssl::vit::Options{}.image(data.image_size).patch(a.patch).channels(data.channels).dim(a.dim)
                               .depth(a.depth).heads(a.heads).learned_pos(m.learned_pos);
  ssl::train::Json metrics = {{"dim", a.dim}, {"depth", a.depth}, {"patch", a.patch}};
  int64_t epochs = a.epochs > 0 ? a.epochs : m.epochs;
  double lr = a.lr > 0 ? a.lr : m.lr;
  /// `--batch`, or the default of 256 images in all split over the processes.
  [[nodiscard]] int64_t batch() const { return ex::batch_per_process(a.batch, 256, a.method); }
};

/// Pretrains `recipe`, then the frozen-feature and fine-tuning evaluations of its backbone.
template <class R>
int pretrain_and_evaluate(R recipe, Run& r) {
  const Args& a = r.a;  // (references, not a structured binding: the lambdas below capture them)
  const ex::ImageData& data = r.data;
  const auto& to_model = r.to_model;
  // BEiT sees the normalised images; iBOT's multi-crop augments pixels in [0, 1] and normalises.
  constexpr bool multi_crop = std::is_same_v<R, ssl::ibot::Recipe>;
  constexpr bool has_teacher =  // scored with --teacher
      multi_crop || std::is_same_v<R, ssl::ijepa::Recipe> || std::is_same_v<R, ssl::data2vec2::Recipe>;
  const int64_t world = ssl::dist::world_size(), batch = r.batch();
  const auto device = a.on;
  recipe->to(device);
  // The loss watched by its standard monitors (--monitor-every), on the same modules as `recipe`.
  ssl::Trainer trainer(ssl::monitor::watched(recipe, a.monitor_every), ssl::optim::AdamWOptions{.lr = r.lr, .weight_decay = r.m.weight_decay},
                       ssl::schedule::cosine_warmup(std::min<double>(1.0, r.epochs / 10.0)));
  const auto ckpt = a.out + "/" + a.method + ".ckpt";
  ex::resume_if(a.resume, trainer, ckpt);
  const auto tp = std::chrono::steady_clock::now();
  // --random-init: no pretraining, the same evaluations (the random-init baseline).
  const double final_loss = a.random_init ? std::nan("")
                                           : data.with_loader(multi_crop ? ex::ImageData::unit() : to_model,
                                                              {.batch_size = batch, .seed = a.seed, .device = device},
                                                              [&](auto& loader) {
    return trainer.fit(loader, {.epochs = r.epochs, .clip_grad_norm = 3.0, .metrics_path = a.out + "/train.jsonl",
                                .tensorboard_dir = a.out, .checkpoint_path = ckpt, .checkpoint_every = ex::checkpoint_every,
                                .non_finite = a.non_finite(),
                                .config = {{"method", a.method}, {"seed", std::to_string(a.seed)}, {"heads", std::to_string(a.heads)}},
                                .label = a.method + " pretrain"});
  });
  const double train_seconds = ex::seconds_since(tp);
  if (a.random_init) std::printf("pretraining: none (--random-init): the backbone is evaluated as initialised\n");
  else std::printf("pretraining: %lld epochs, %.1f s, final epoch loss %s\n", (long long)r.epochs, train_seconds,
                   ex::loss_text(final_loss).c_str());
  if (!ssl::dist::is_main()) return 0;  // process 0 evaluates alone, on all the threads
  ssl::dist::LocalOnly local;
  at::set_num_threads(a.threads);
  // The scored ViT: the student's, or with --teacher the EMA teacher's (iBOT, I-JEPA, data2vec 2.0).
  auto scored = [&] {
    if constexpr (has_teacher)
      if (a.teacher) return recipe->target()->backbone;
    return recipe->backbone();
  };
  // It is written as a Hugging Face ViTModel: <out>/hf.
  ex::write_pretrained(a.out + "/hf", scored(), a.teacher ? "teacher" : "student");
  auto& j = r.metrics;
  if (!data.evaluable()) {
    j.update(ssl::train::Json{{"method", a.method}, {"data", a.data.data}, {"epochs", r.epochs}, {"train_seconds", train_seconds},
                              {"final_loss", final_loss}, {"total_seconds", ex::seconds_since(r.t0)}});
    return ex::ImageData::pretraining_only(a.out, j);
  }

  // Frozen features (--features): the CLS token and the mean patch token concatenated (pooled),
  // every output token (tokens: the MAE example's default), or the token maps of the last 4
  // blocks (blocks: DINO's evaluation features).
  recipe->eval();
  const auto kind = ssl::eval::feature_kind(a.features);
  const char* what = a.features == "tokens" ? "every token" : a.features == "blocks" ? "last 4 blocks' tokens" : "CLS + mean patch";
  const auto frozen = ex::frozen_report(a.method, what, [&](const torch::Tensor& x) {
    auto net = scored();
    return ssl::eval::frozen_features(net, x, kind, [](const ssl::Features& f) { return ssl::eval::cls_mean_patch(f.tokens); });
  }, data, to_model, a, device);
  const auto& [s, raw] = frozen;
  // The effective rank of the scored encoder's patch tokens over (at most) 256 test images, every
  // token a row: a dimensional collapse of the encoder itself, which the monitors (on the head's
  // output) do not see, shows here (docs/08: I-JEPA's student).
  const int64_t rank_images = std::min<int64_t>(256, data.test.size());
  const double token_rank = [&] {
    torch::NoGradGuard no_grad;
    auto net = scored();
    const auto x = to_model(data.test.images.narrow(0, 0, rank_images)).to(device);
    const auto t = net->forward(x).tokens;
    return ssl::monitor::effective_rank(t.narrow(1, 1, t.size(1) - 1).reshape({-1, t.size(2)})).template item<double>();
  }();
  std::printf("encoder tokens of %lld test images: effective rank %.1f (of %lld dimensions)\n", (long long)rank_images,
              token_rank, (long long)a.dim);
  recipe->train();

  // Fine-tune vs scratch with the same budget (the MAE example's protocol; each --finetune-labels),
  // on copies of the scored encoder.
  auto enc = ssl::vit::Encoder(std::dynamic_pointer_cast<ssl::vit::EncoderImpl>(scored()->clone()));
  enc->options.layer_outputs(false);  // data2vec 2.0's teacher gives its blocks' outputs; the fine-tune needs none
  const auto finetuned = ex::finetune_report(enc, [&] { return ssl::vit::Encoder(r.arch); }, data, to_model, a,
                                             a.layer_decay, a.seed, device);
  if constexpr (multi_crop) {
    const auto picture = ex::write_attention_png(recipe, data.test.images.narrow(0, 0, 8), to_model, a.out + "/attention.png");
    ssl::train::TensorBoard(a.out).image(a.method + "/attention", picture, trainer.step());
    std::printf("attention.png: 8 test images, then the teacher's last-block CLS attention of each head\n");
  }
  j.update(ssl::train::Json{
      {"scored_network", a.teacher ? "teacher" : "student"}, {"random_init", a.random_init}, {"method", a.method},
      {"feature_dim", s.dim}, {"token_effective_rank", token_rank},
      {"features", a.features == "pooled" ? "cls+mean_patch" : a.features}, {"knn_top1", s.knn}, {"linear_top1", s.linear},
      {"raw_pixels_knn_top1", raw.knn},
      {"raw_pixels_linear_top1", raw.linear}, {"epochs", a.random_init ? 0 : r.epochs}, {"batch", batch * world},
      {"processes", world},
      {"device", device.str()}, {"seed", a.seed}, {"train_seconds", train_seconds}, {"final_loss", final_loss},
      {"eval_seconds", s.seconds}, {"threads", a.threads}, {"total_seconds", ex::seconds_since(r.t0)}});
  j.update(ex::probe_json(frozen));
  j.update(ex::finetune_json(finetuned));
  std::ofstream(a.out + "/metrics.json") << ssl::train::dump(j, 2) << "\n";
  std::printf("wrote %s/metrics.json (%.0f s in all)\n", a.out.c_str(), ex::seconds_since(r.t0));
  return 0;
}

/// BEiT with a tokenizer trained here, on the training images, and saved as safetensors.
template <class Tok>
int beit_with(Tok tok, double fit_seconds, Run& r) {
  const auto& [a, data, to_model] = std::tie(r.a, r.data, r.to_model);
  const auto& shown = data.has_test() ? data.test : data.train;  // what the tokenizer is scored and drawn on
  const auto tt = std::chrono::steady_clock::now();
  if constexpr (std::is_same_v<Tok, ssl::tokenizer::VQVAE>) {
    tok->to(a.on);
    ssl::data::Loader loader(data.train.images, {}, to_model, {.batch_size = r.batch(), .seed = a.seed, .device = a.on});
    ssl::Trainer t(tok, ssl::optim::AdamWOptions{.lr = 2e-3, .weight_decay = 0.0});
    t.fit(loader, {.epochs = a.tokenizer_epochs, .metrics_path = a.out + "/tokenizer.jsonl",
                   .tensorboard_dir = a.out + "/tokenizer", .label = "VQ-VAE"});  // its own TensorBoard run
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
  const auto picture =
      ex::write_tokens_png(tok, shown.images.narrow(0, 0, std::min<int64_t>(8, shown.size())), to_model, a.out + "/tokens.png");
  if (ssl::dist::is_main()) ssl::train::TensorBoard(a.out).image("beit/tokens", picture, 0);  // before pretraining: step 0
  std::printf("tokens.png: 8 test images beside their token maps (a colour per code)\n");
  r.metrics.update(ssl::train::Json{{"tokenizer", a.tokenizer}, {"codes", tok->vocab_size()},
                                    {"codebook_perplexity", usage.perplexity}, {"codebook_used", usage.used},
                                    {"tokenizer_seconds", tokenizer_seconds}});
  return pretrain_and_evaluate(ssl::beit::recipe(tok, {.encoder = r.arch}), r);
}

/// BEiT: a k-means tokenizer fitted here, or a VQ-VAE trained here (--tokenizer).
int beit(Run& r) {
  if (r.a.tokenizer == "kmeans") {
    const auto tt = std::chrono::steady_clock::now();
    auto km = ssl::tokenizer::fit_kmeans(r.to_model(r.data.train.images), {.patch = r.a.patch, .codes = r.a.codes});
    return beit_with(km, ex::seconds_since(tt), r);
  }
  ssl::tokenizer::VQVAE vq(ssl::tokenizer::VQVAEOptions{.channels = r.data.channels, .patch = r.a.patch, .codes = r.a.codes});
  return beit_with(vq, 0.0, r);
}

/// iBOT: DINO's multi-crop self-distillation plus masked patch self-distillation.
int ibot(Run& r) {
  const auto& [a, data] = std::tie(r.a, r.data);
  ssl::ibot::Options o;
  o.encoder = r.arch;
  o.augment = ssl::augment::MultiCrop::dino({.global_size = data.image_size, .local_size = a.local_size, .n_local = a.local_crops,
                                             .channels = data.channels, .mean = data.mean, .std = data.std});
  o.ema.base = a.momentum >= 0 ? a.momentum : 0.99;
  ex::set_teacher_temperature(o.loss, a.teacher_temp);
  r.metrics.update(ssl::train::Json{{"ema_base", o.ema.base}, {"teacher_temp", a.teacher_temp}});
  return pretrain_and_evaluate(ssl::ibot::recipe(o), r);
}

/// I-JEPA: predict the EMA teacher's layer-normed tokens of four target blocks from one context
/// block (the paper's masking; min_keep 4 on the 7 x 7 grid), no augmentations.
int ijepa(Run& r) {
  ssl::ijepa::Options o;
  o.encoder = r.arch;
  if (r.a.momentum >= 0) o.ema.base = r.a.momentum;  // else the recipe's (the paper's 0.996)
  // 4 predictor blocks (the recipe's default: 2) and lr 5e-4: with 2 blocks at lr 1.5e-3 the
  // encoder's tokens collapsed onto a few directions and fine-tuned below initialisation (docs/08).
  o.predictor_depth = r.a.predictor_depth > 0 ? r.a.predictor_depth : 4;
  r.metrics.update(ssl::train::Json{{"ema_base", o.ema.base}, {"predictor_depth", o.predictor_depth}});
  return pretrain_and_evaluate(ssl::ijepa::recipe(o), r);
}

/// data2vec 2.0: from inverse block masks (--masks per image, 9 of 49 patches visible), regress the EMA
/// teacher's averaged, normalised block outputs at the hidden patches.
int data2vec2(Run& r) {
  ssl::data2vec2::Options o;
  o.encoder = r.arch;
  o.masker.clones = r.a.masks;
  if (r.a.momentum >= 0) o.ema.base = r.a.momentum;  // else the recipe's 0.996
  r.metrics.update(ssl::train::Json{{"ema_base", o.ema.base}, {"masks_per_image", o.masker.clones}});
  return pretrain_and_evaluate(ssl::data2vec2::recipe(o), r);
}

/// The methods: the defaults of a ~9-minute run here, and how each trains.
const std::map<std::string, Method>& methods() {
  static const std::map<std::string, Method> table = {
      // epochs, lr, weight decay, ViT width, patch, frozen features, teacher, learned positions, processes, train
      {"beit", {3, 1.5e-3, 0.05, 128, 4, "pooled", false, false, 1, beit}},
      {"data2vec2", {4, 1.5e-3, 0.05, 128, 4, "tokens", true, false, 1, data2vec2}},
      {"ibot", {7, 2e-3, 0.04, 64, 7, "blocks", true, true, 2, ibot}},
      {"ijepa", {4, 5e-4, 0.05, 128, 4, "pooled", true, false, 1, ijepa}},
  };
  return table;
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
  std::printf("%s, %lld process(es) x %d thread(s) on %s\n", a.method.c_str(), (long long)ssl::dist::world_size(),
              at::get_num_threads(), a.device.c_str());
  const auto& m = methods().at(a.method);
  if (a.dim <= 0) a.dim = m.dim;
  if (a.features.empty()) a.features = m.features;
  TORCH_CHECK(!a.teacher || m.teacher, "--teacher: BEiT has no teacher network to score (its targets come from a fixed tokenizer); "
                                       "iBOT, I-JEPA and data2vec 2.0 have one");
  if (a.patch <= 0) a.patch = m.patch;
  if (a.local_size <= 0) a.local_size = 2 * a.patch;
  TORCH_CHECK(data.image_size % a.patch == 0, "--patch ", a.patch, " does not divide the image size ", data.image_size);
  Run r{a, m, data, t0};
  return m.train(r);
}

}  // namespace

int main(int argc, char** argv) {
  return ex::methods_main<Args>(
      argc, argv, "libssl 06: BEiT (visual tokens), iBOT (self-distillation + masked patches), I-JEPA (latent block prediction) "
                  "and data2vec 2.0 (contextualised targets) on Fashion-MNIST",
      methods(), ex06::add_options, run);
}
