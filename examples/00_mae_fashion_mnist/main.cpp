// 00 — MAE on Fashion-MNIST: pretrain a ViT by masked reconstruction, then evaluate it with a
// k-NN classifier, a linear probe and fine-tuning (against the same ViT fine-tuned from scratch),
// and draw reconstructions of test images; the pretrained MAE is also written as a Hugging Face
// ViTMAEForPreTraining directory (<out>/hf).
// --hf DIR: the article's lab 2 instead: a published ViT-MAE (a Hugging Face ViTMAEForPreTraining
// directory) masks the patches of 8 images and reconstructs them (no training).
#include <ssl/io/hf_checkpoint.hpp>
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
#include <optional>
#include <tuple>
#include <vector>

namespace {
struct Args : ex::RunArgs, ex::VitArgs, ex::ProbeArgs, ex::FinetuneArgs {
  Args() : ex::RunArgs{.out = "out/mae", .epochs = 4, .batch = 256, .lr = 1.5e-3}, ex::VitArgs{.dim = 128, .patch = 4} {}
  ex::ImageDataOptions data{.data = ex::fashion_mnist_dir()};
  double mask_ratio = 0.75;
  bool mask_ratio_given = false;  // --mask-ratio was given (--hf: else the checkpoint's mask_ratio)
  int64_t decoder_dim = 64, decoder_depth = 2;
  std::string features = "tokens";
  std::string hf;  // --hf: a ViTMAEForPreTraining directory to reconstruct with (the lab)
};

/// The command line of this example into `a`.
void add_options(CLI::App& app, Args& a) {
  ex::add_run_options(app, a, {.out = "output folder (metrics.json, reconstruction.png, train.jsonl, TensorBoard events)",
                               .epochs = "pretraining epochs over the 60k training images",
                               .lr = "pretraining peak learning rate", .resume = "mae.ckpt", .device = true,
                               .skip_non_finite = true});
  ex::add_image_data_options(app, a.data);
  ex::add_vit_options(app, a, "encoder width", "ViT patch side (must divide the image size)");
  app.add_option("--mask-ratio", a.mask_ratio, "fraction of patches hidden (--hf: default the checkpoint's mask_ratio)")
      ->check(ex::in_range(0, 1, true, true))
      ->each([&a](const std::string&) { a.mask_ratio_given = true; });
  app.add_option("--decoder-dim", a.decoder_dim, "decoder width")->check(ex::at_least(1));
  app.add_option("--decoder-depth", a.decoder_depth, "decoder blocks")->check(ex::at_least(1));
  ex::add_finetune_options(app, a);
  ex::add_probe_options(app, a);
  app.add_option("--features", a.features, "frozen features: tokens (every output token) | pooled (CLS + mean)")
      ->check(CLI::IsMember({"tokens", "pooled"}));
  auto* hf = app.add_option("--hf", a.hf,
                            "the MAE lab instead of pretraining: a Hugging Face ViTMAEForPreTraining directory (config.json + "
                            "model.safetensors) masks the patches of 8 images of --data (its image_size and num_channels: "
                            "Fashion-MNIST for 28 px x 1 channel, else an image folder) and writes reconstruction.png and the "
                            "mask statistics and loss (metrics.json, lab.safetensors)");
  for (const char* o : {"--epochs", "--batch", "--lr", "--resume", "--dist", "--dim", "--depth", "--heads", "--patch",
                        "--decoder-dim", "--decoder-depth", "--finetune-labels", "--finetune-epochs", "--finetune-min-steps",
                        "--features"})
    hf->excludes(app.get_option(o));
}

/// `preprocessor_config.json`'s `image_mean` / `image_std` in checkpoint `dir` (`channels` values
/// each), or nothing when the file or the fields are absent. Errors name the file and field.
std::optional<std::pair<std::vector<double>, std::vector<double>>> preprocessor_normalization(const std::string& dir,
                                                                                            int64_t channels) {
  const auto p = std::filesystem::path(dir) / "preprocessor_config.json";
  if (!std::filesystem::exists(p)) return std::nullopt;
  std::ifstream in(p);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    TORCH_CHECK(false, "--hf: ", p.string(), ": expected valid JSON, got a parse error: ", e.what());
  }
  if (!j.contains("image_mean") || !j.contains("image_std")) return std::nullopt;
  auto values = [&](const char* key) {
    const auto& v = j[key];
    TORCH_CHECK(v.is_array() && int64_t(v.size()) == channels, "--hf: ", p.string(), ": expected '", key, "' to be ",
                channels, " numbers (one per channel), got ", v.dump());
    std::vector<double> out;
    for (const auto& x : v) {
      TORCH_CHECK(x.is_number(), "--hf: ", p.string(), ": expected '", key, "' to hold numbers, got ", v.dump());
      out.push_back(x.get<double>());
    }
    return out;
  };
  return std::pair{values("image_mean"), values("image_std")};
}

/// The article's lab 2 (--hf): the ViT-MAE of a Hugging Face directory hides --mask-ratio (default:
/// its config's mask_ratio) of the patches of 8 images, then reconstructs them. Writes
/// reconstruction.png, metrics.json (mask ratio requested and measured, visible patches per image,
/// the loss on the hidden patches as transformers computes it, with the config's norm_pix_loss)
/// and lab.safetensors (the images in the model's input space, the noise, the logits and the mask:
/// transformers' ViTMAEForPreTraining given the same noise gives the same loss).
int hf_lab(const Args& a) {
  namespace hf = ssl::io::hf;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  at::set_num_threads(a.threads);
  std::filesystem::create_directories(a.out);
  const auto t0 = std::chrono::steady_clock::now();
  auto mae = hf::load_vit_mae(a.hf);
  const auto& vo = mae->backbone->options;
  const double config_ratio = mae->mask_ratio;
  if (a.mask_ratio_given) mae->mask_ratio = a.mask_ratio;
  std::printf("hf: %s: ViTMAEForPreTraining, %lld px x %lld channel(s), patch %lld (%lld patches), %lld-d x %lld "
              "blocks, decoder %lld-d x %lld; mask ratio %.2f (%s), norm_pix_loss %s\n",
              a.hf.c_str(), (long long)vo.image(), (long long)vo.channels(), (long long)vo.patch(),
              (long long)vo.num_patches(), (long long)vo.dim(), (long long)vo.depth(), (long long)mae->head->options.dim(),
              (long long)mae->head->options.depth(), mae->mask_ratio, a.mask_ratio_given ? "--mask-ratio" : "config.json",
              mae->norm_pix_loss ? "true" : "false");

  // The images the checkpoint takes: its side and channels; its normalisation where it ships one.
  auto opts = a.data;
  for (auto [given, want, name] : {std::tuple{&opts.image_size, vo.image(), "--image-size"},
                                   std::tuple{&opts.channels, vo.channels(), "--channels"}}) {
    TORCH_CHECK(*given == 0 || *given == want, name, " ", *given, ": the checkpoint '", a.hf, "/config.json' takes ",
                want, " (", name == std::string("--channels") ? "num_channels" : "image_size", "); leave it out");
    *given = want;
  }
  std::string normalization = "given by --mean / --std";
  if (opts.mean.empty()) {
    normalization = "computed from the images";
    if (auto pre = preprocessor_normalization(a.hf, vo.channels())) {
      std::tie(opts.mean, opts.std) = *pre;
      normalization = "of its preprocessor_config.json";
    }
  }
  const auto d = [&] {
    try {
      return ex::open_image_data(opts);
    } catch (const c10::Error& e) {
      throw std::runtime_error("--hf '" + a.hf + "' takes " + std::to_string(vo.image()) + " px images with " +
                               std::to_string(vo.channels()) + " channel(s) (config.json), --data '" + opts.data +
                               "' cannot give them: " + e.msg());
    }
  }();
  const auto& shown = d.has_test() ? d.test : d.train;
  const int64_t B = std::min<int64_t>(8, shown.size()), N = vo.num_patches(), P = vo.patch(), C = vo.channels();
  const auto x = d.normalize()(shown.images.narrow(0, 0, B));

  // Mask and reconstruct, as ViTMAEForPreTraining(pixel_values=x, noise=noise).
  torch::NoGradGuard no_grad;
  torch::manual_seed(a.seed);
  const auto noise = torch::rand({B, N});
  const auto out = hf::mae_forward(*mae, x, noise);
  auto pred = out.logits;
  if (mae->norm_pix_loss) {  // predictions of normalised patches: back with each true patch's mean and std
    const auto t = ssl::vit::patchify(x, P);
    pred = pred * (t.var(-1, /*unbiased=*/true, /*keepdim=*/true) + 1e-6).sqrt() + t.mean(-1, true);
  }
  const auto predicted = ssl::vit::unpatchify(pred, P, C);
  const auto hidden_px = ssl::vit::unpatchify(out.mask.unsqueeze(-1).expand({-1, -1, P * P * C}).to(x.dtype()), P, C);
  auto gray = (0.5 - torch::tensor(d.mean, torch::kFloat32)) / torch::tensor(d.std, torch::kFloat32);  // mid-gray
  const auto masked = x * (1 - hidden_px) + gray.view({1, C, 1, 1}) * hidden_px;
  const auto pasted = x * (1 - hidden_px) + predicted * hidden_px;
  const auto tiles = torch::stack({d.pixels(x), d.pixels(masked), d.pixels(predicted), d.pixels(pasted)}, 1);
  ssl::io::write_png(a.out + "/reconstruction.png", ssl::io::grid(tiles, std::max<int64_t>(1, 96 / vo.image())));

  const auto hidden = out.mask.sum(1).to(torch::kInt64);
  std::vector<int64_t> visible_per_image, hidden_per_image;
  for (int64_t i = 0; i < B; ++i) {
    hidden_per_image.push_back(hidden[i].item<int64_t>());
    visible_per_image.push_back(N - hidden_per_image.back());
  }
  const double measured = out.mask.to(torch::kFloat64).mean().item<double>(), loss = out.loss.item<double>();
  std::printf("%lld images (%s '%s', normalised with the mean / std %s): %lld of %lld patches hidden in each "
              "(ratio requested %.4f, measured %.4f), %lld visible\n",
              (long long)B, d.kind.c_str(), opts.data.c_str(), normalization.c_str(), (long long)hidden_per_image[0],
              (long long)N, mae->mask_ratio, measured, (long long)visible_per_image[0]);
  std::printf("reconstruction loss on the hidden patches: %.6f (norm_pix_loss %s)\n", loss,
              mae->norm_pix_loss ? "true: each target patch normalised" : "false: the patches as given");
  ssl::io::save_safetensors(a.out + "/lab.safetensors", {{"pixel_values", x}, {"noise", noise}, {"logits", out.logits},
                                                         {"mask", out.mask.to(torch::kFloat32)}});
  const ssl::train::Json m = {
      {"hf", a.hf}, {"architecture", "ViTMAEForPreTraining"}, {"images", B}, {"data", opts.data},
      {"image_size", vo.image()}, {"channels", C}, {"patch_size", P}, {"num_patches", N},
      {"mask_ratio_config", config_ratio}, {"mask_ratio_requested", mae->mask_ratio}, {"mask_ratio_measured", measured},
      {"hidden_patches_per_image", hidden_per_image}, {"visible_patches_per_image", visible_per_image},
      {"norm_pix_loss", mae->norm_pix_loss}, {"loss", loss}, {"normalization", normalization}, {"mean", d.mean},
      {"std", d.std}, {"seed", a.seed}, {"total_seconds", ex::seconds_since(t0)}};
  std::ofstream(a.out + "/metrics.json") << ssl::train::dump(m, 2) << "\n";
  std::printf("wrote %s/reconstruction.png (original | masked | reconstruction | reconstruction + visible), "
              "%s/metrics.json and %s/lab.safetensors\n",
              a.out.c_str(), a.out.c_str(), a.out.c_str());
  return 0;
}

}  // namespace

int run(const Args& a) {
  if (!a.hf.empty()) return hf_lab(a);
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
  // --random-init: no pretraining, the same evaluations (the random-init baseline).
  const double final_loss = a.random_init ? std::nan("")
                                           : d.with_loader(norm, {.batch_size = a.batch, .seed = a.seed, .device = device},
                                                           [&](auto& loader) {
    return trainer.fit(loader, {.epochs = a.epochs, .clip_grad_norm = 1.0, .metrics_path = a.out + "/train.jsonl",
                                .tensorboard_dir = a.out, .checkpoint_path = a.out + "/mae.ckpt", .checkpoint_every = ex::checkpoint_every,
                                .non_finite = a.non_finite(),
                                .config = {{"seed", std::to_string(a.seed)}, {"heads", std::to_string(a.heads)},
                                           {"mask_ratio", std::to_string(a.mask_ratio)}},
                                .label = "MAE pretrain"});
  });
  const double train_seconds = ex::seconds_since(tp);
  if (a.random_init) std::printf("pretraining: none (--random-init): the MAE is evaluated as initialised\n");
  else std::printf("pretraining: %lld epochs, %.1f s in this run, final epoch loss %s\n", (long long)a.epochs,
                   train_seconds, ex::loss_text(final_loss).c_str());
  if (!ssl::dist::is_main()) return 0;  // process 0 evaluates alone
  ssl::dist::LocalOnly local;
  // The pretrained MAE (encoder, decoder, mask ratio, norm_pix_loss) for transformers.
  ssl::io::hf::save_pretrained(a.out + "/hf", *mae->backbone(), *mae->head(), mo.mask_ratio, mo.norm_pix);
  std::printf("wrote %s/hf: the MAE as a Hugging Face ViTMAEForPreTraining directory (config.json, model.safetensors; "
              "--hf %s/hf reconstructs with it)\n", a.out.c_str(), a.out.c_str());

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
  const auto frozen = ex::frozen_report("MAE", a.features, [&](const torch::Tensor& x) {
    return ssl::eval::token_features(mae->encode(x).tokens, kind);
  }, d, norm, a, device);
  mae->train();

  // ---- 4. Fine-tune vs scratch with the same budget (each --finetune-labels) ----------------
  const auto finetuned = ex::finetune_report(mae->backbone(), [&] { return ssl::vit::Encoder(mo.encoder); }, d, norm, a,
                                             a.layer_decay, a.seed, device);

  ssl::train::Json m = {
      {"knn_top1", frozen.model.knn}, {"linear_top1", frozen.model.linear},
      // The raw-pixel floors: pixels in [0,1], the same k-NN and linear-probe protocol.
      {"raw_pixels_knn_top1", frozen.raw.knn}, {"raw_pixels_linear_top1", frozen.raw.linear},
      {"num_patches", num_patches}, {"visible_patches", num_patches - masked_patches}, {"masked_patches", masked_patches},
      {"mask_ratio", a.mask_ratio}, {"train_seconds", train_seconds}, {"final_loss", final_loss},
      {"epochs", a.random_init ? 0 : a.epochs}, {"random_init", a.random_init}, {"seed", a.seed},
      {"eval_seconds", frozen.model.seconds}, {"features", a.features},
      {"threads", a.threads}, {"device", device.str()}, {"total_seconds", ex::seconds_since(t0)},
      {"data", a.data.data}, {"image_size", d.image_size}, {"channels", d.channels}};
  m.update(ex::probe_json(frozen));
  m.update(ex::finetune_json(finetuned));
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
