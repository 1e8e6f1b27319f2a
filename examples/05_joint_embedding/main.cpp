// 05 — Joint-embedding methods on Fashion-MNIST (or your images, --data): pretrain a ResNet or a ViT with DINO, BYOL,
// SimCLR, Barlow Twins, MoCo v3, VICReg or SimSiam (one recipe header each), then evaluate the
// frozen features (a ResNet's last feature map; a ViT's token maps of its last 4 blocks, as DINO's
// evaluation) with a k-NN classifier and a linear probe beside the raw-pixel floors measured in
// the same run. DINO with a ViT also draws the last layer's CLS attention of every head.
// DINO trains on two processes of this machine by default (`--procs 2`: the example starts its
// second process itself, ssl/dist/launch.hpp): its small ViT's steps are not shortened by a
// second thread, a second process nearly doubles the images/s (docs/04_joint_embedding.md).
#include <ssl/barlow_twins.hpp>
#include <ssl/byol.hpp>
#include <ssl/dino.hpp>
#include <ssl/mocov3.hpp>
#include <ssl/simclr.hpp>
#include <ssl/simsiam.hpp>
#include <ssl/ssl.hpp>
#include <ssl/vicreg.hpp>
#include <ssl/resnet/encoder.hpp>

#include <CLI/CLI.hpp>

#include "../common/dist.hpp"
#include "../common/guard.hpp"
#include "../common/image_data.hpp"
#include "../common/image_eval.hpp"
#include "../common/pictures.hpp"

#include <filesystem>
#include <fstream>
#include <map>

namespace {

struct Args {
  std::string method = "simclr";
  std::string backbone = "";  // default per method: vit for dino, resnet18 otherwise
  std::string out;
  std::string dist;  // --dist (or torchrun's environment)
  ex::ImageDataOptions data{.data = ex::fashion_mnist_dir()};
  std::string device = "cpu";
  torch::Device on = torch::kCPU;  // --device resolved once for this process (run())
  int threads = 2;   // in all: split over the processes
  int64_t procs = -1;  // processes on this machine (default per method below; 1 with --device cuda)
  uint64_t seed = 0;
  int64_t epochs = -1, batch = -1, max_steps = -1;
  double lr = -1, weight_decay = -1;
  std::string optimizer = "adamw";
  int64_t width = 16;                         // ResNet base width
  int64_t dim = 64, depth = 4, heads = 4, patch = 7;  // ViT: 4 x 4 patches of 7 px
  bool mean_pool = false;                             // ViT: pooled = mean patch token instead of CLS
  int64_t proj_hidden = -1, proj_out = -1;    // heads (defaults per method below)
  int64_t local_crops = 4, local_size = 14;  // DINO: 2 x 2 patches each
  int64_t freeze_last_layer = 0;              // DINO: epochs with the head's last layer frozen
  double clip = 0.0;                          // gradient-norm clipping (0: none)
  std::vector<double> global_scale{0.4, 1.0}, local_scale{0.05, 0.4};  // DINO: crop area fractions
  double teacher_temp = 0.07;                 // DINO: the teacher's softmax temperature (from 0.04 in epoch 1)
  int64_t probe_epochs = 30;
  std::string features;  // frozen features: tokens | pooled | blocks (default: blocks for the ViT, tokens for the ResNet)
  bool teacher = false;              // evaluate the momentum teacher's backbone (BYOL, MoCo v3, DINO)
  double lambda = -1, momentum = -1, temperature = -1;  // method knobs (defaults per recipe below)
  std::string views;                                     // two-view augmentation preset (default: the method's)
  bool floors = true;
  bool resume = false;
};

/// What differs between the methods in this example: the defaults of a 10-minute run.
struct Defaults {
  int64_t epochs, batch;  // batch: in all, split over the processes
  double lr, weight_decay;
  int64_t proj_hidden, proj_out;
  int64_t procs = 1;  // the ViT's small steps do not go faster on a second thread; a second process does
};
const std::map<std::string, Defaults>& defaults() {
  static const std::map<std::string, Defaults> d = {
      {"simclr", {5, 256, 2e-3, 1e-4, 512, 128}},       {"byol", {3, 128, 2e-3, 1e-4, 512, 128}},
      {"barlow_twins", {5, 256, 2e-3, 1e-4, 512, 512}}, {"vicreg", {5, 256, 2e-3, 1e-4, 512, 512}},
      {"mocov3", {3, 256, 2e-3, 1e-4, 512, 128}},       {"simsiam", {5, 256, 5e-4, 1e-4, 512, 512}},
      {"dino", {8, 128, 2e-3, 0.04, 512, 1024, 2}},
  };
  return d;
}

torch::Tensor to_unit(const torch::Tensor& im) { return im.to(torch::kFloat32).div(255); }

template <class R>
int train_and_evaluate(R recipe, const Args& a, const Defaults& d, const ex::ImageData& data) {
  const auto& train = data.train;
  const auto& test = data.test;
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t epochs = a.epochs > 0 ? a.epochs : d.epochs;
  const int64_t world = ssl::dist::world_size(), batch = ex::batch_per_process(a.batch, d.batch, a.method);
  // --device cuda: the model and the batches on the GPU; the augmentations run where the batch is.
  const auto device = a.on;
  recipe->to(device);
  const auto ckpt = a.out + "/" + a.method + ".ckpt";
  const auto tp = std::chrono::steady_clock::now();
  // One trainer, whichever optimizer: AdamW (the default here) or LARS (the papers' choice for
  // SimCLR, BYOL and Barlow Twins at large batch; lr default 0.3 x batch / 256).
  auto train_with = [&](auto optimizer) {
    ssl::Trainer trainer(recipe, std::move(optimizer), ssl::schedule::cosine_warmup(std::min<double>(1.0, epochs / 10.0)));
    ex::resume_if(a.resume, trainer, ckpt);
    return data.with_loader(to_unit, {.batch_size = batch, .seed = a.seed, .device = device}, [&](auto& loader) {
      return trainer.fit(loader, {.epochs = epochs, .max_steps = a.max_steps, .clip_grad_norm = a.clip,
                                  .metrics_path = a.out + "/train.jsonl", .checkpoint_path = ckpt,
                                  .label = a.method + " pretrain"});
    });
  };
  const bool lars = a.optimizer == "lars";
  const double lr = a.lr > 0 ? a.lr : lars ? 0.3 * double(batch) / 256.0 : d.lr;
  const double wd = a.weight_decay >= 0 ? a.weight_decay : lars ? 1e-6 : d.weight_decay;
  const double final_loss =
      lars ? train_with(ssl::optim::Lars(recipe->named_parameters().pairs(), {.lr = lr, .weight_decay = wd}))
           : train_with(ssl::optim::AdamW(recipe->named_parameters().pairs(), {.lr = lr, .weight_decay = wd}));
  const double train_seconds = ex::seconds_since(tp);
  std::printf("pretraining: %lld epochs, %.1f s, final epoch loss %.4f\n", (long long)epochs, train_seconds, final_loss);
  if (!ssl::dist::is_main()) return 0;  // process 0 evaluates alone, on all the threads
  ssl::dist::LocalOnly local;
  at::set_num_threads(a.threads);
  if (!data.evaluable()) {
    ssl::train::JsonObject m;
    m.str("method", a.method).str("backbone", a.backbone).str("data", a.data.data).num("epochs", double(epochs));
    m.num("train_seconds", train_seconds).num("final_loss", final_loss).num("total_seconds", ex::seconds_since(t0));
    return ex::ImageData::pretraining_only(a.out, m);
  }

  recipe->eval();
  // Frozen features: the backbone's pooled vector (ResNet: global average; ViT: CLS), or its
  // whole output map flattened (ResNet: the last stage's H' x W' x C; ViT: every token).
  // --features blocks (the ViT): the token maps of its last 4 blocks, DINO's evaluation features.
  constexpr bool has_teacher = requires { recipe->target()->backbone; };
  auto s = ex::frozen_eval(
      [&](const torch::Tensor& x) {
        const auto pooled = [](const ssl::Features& f) { return f.pooled; };
        if constexpr (has_teacher)
          if (a.teacher) return ex::frozen_features(recipe->target()->backbone, x, a.features, pooled);
        return ex::frozen_features(recipe->backbone(), x, a.features, pooled);
      },
      train, test, to_unit, a.probe_epochs, device);
  recipe->train();
  std::printf("frozen %s features (%lld-d, %s): k-NN %.2f %%, linear %.2f %% (%.0f s)\n", a.method.c_str(),
              (long long)s.dim, a.features.c_str(), 100 * s.knn, 100 * s.linear, s.seconds);
  ex::FrozenScores raw;
  if (a.floors) {
    raw = ex::raw_pixel_floors(train, test, a.probe_epochs);
    std::printf("raw pixels (floors):            k-NN %.2f %%, linear %.2f %%\n", 100 * raw.knn, 100 * raw.linear);
  }
  if constexpr (requires { ssl::dino::attention_maps(recipe, train.images); }) {
    ex::write_attention_png(recipe, test.images.narrow(0, 0, 8), to_unit, a.out + "/attention.png");
    std::printf("attention.png: 8 test images, then the last block's CLS attention of each head\n");
  }
  ssl::train::JsonObject m;
  m.str("method", a.method).str("backbone", a.backbone).num("feature_dim", double(s.dim)).str("features", a.features);
  m.str("scored_network", a.teacher ? "teacher" : "student");
  m.num("knn_top1", s.knn).num("linear_top1", s.linear);
  m.num("raw_pixels_knn_top1", raw.knn).num("raw_pixels_linear_top1", raw.linear);
  m.num("epochs", double(epochs)).num("batch", double(batch * world)).num("processes", double(world));
  m.str("device", device.str()).num("seed", double(a.seed)).num("train_seconds", train_seconds);
  m.str("optimizer", a.optimizer).num("lr", lr);
  m.num("final_loss", final_loss).num("eval_seconds", s.seconds).num("threads", a.threads);
  m.num("total_seconds", ex::seconds_since(t0));
  m.str("data", a.data.data).num("image_size", double(data.image_size)).num("channels", double(data.channels));
  std::ofstream(a.out + "/metrics.json") << m.dump(true) << "\n";
  std::printf("wrote %s/metrics.json\n", a.out.c_str());
  return 0;
}

template <class B>
int run_method(B backbone, const Args& a, const ex::ImageData& data) {
  const auto& d = defaults().at(a.method);
  const int64_t S = data.image_size, C = data.channels;
  const auto views = [&](ssl::augment::TwoViews own) {
    if (a.views.empty()) return own;
    if (a.views == "simclr") return ssl::augment::TwoViews::simclr(S, C);
    if (a.views == "byol") return ssl::augment::TwoViews::byol(S, C);
    if (a.views == "vicreg") return ssl::augment::TwoViews::vicreg(S, C);
    return ssl::augment::TwoViews::simsiam(S, C);
  };
  const auto or_default = [](double v, double d) { return v > 0 ? v : d; };
  const int64_t hid = a.proj_hidden > 0 ? a.proj_hidden : d.proj_hidden;
  const int64_t out = a.proj_out > 0 ? a.proj_out : d.proj_out;
  if (a.method == "simclr")
    return train_and_evaluate(ssl::simclr::recipe(backbone, {.augment = views(ssl::augment::TwoViews::simclr(S, C)), .hidden = hid, .out = out,
                                                                 .temperature = or_default(a.temperature, 0.2)}), a, d, data);
  if (a.method == "barlow_twins")
    return train_and_evaluate(ssl::barlow_twins::recipe(backbone, {.augment = views(ssl::augment::TwoViews::barlow_twins(S, C)),
                                                                       .hidden = hid, .out = out, .lambda = or_default(a.lambda, 5e-3)}), a, d, data);
  if (a.method == "vicreg")
    return train_and_evaluate(ssl::vicreg::recipe(backbone, {.augment = views(ssl::augment::TwoViews::vicreg(S, C)), .hidden = hid, .out = out}), a, d, data);
  if (a.method == "simsiam")
    return train_and_evaluate(ssl::simsiam::recipe(backbone, {.augment = views(ssl::augment::TwoViews::simsiam(S, C)), .proj_hidden = hid,
                                                                  .out = out, .pred_hidden = hid / 4}),
                              a, d, data);
  if (a.method == "byol")
    return train_and_evaluate(ssl::byol::recipe(backbone, {.augment = views(ssl::augment::TwoViews::byol(S, C)), .hidden = hid, .out = out,
                                                               .ema = {.base = or_default(a.momentum, 0.99), .final = 1.0}}), a, d, data);
  if (a.method == "mocov3")
    return train_and_evaluate(ssl::mocov3::recipe(backbone, {.augment = views(ssl::augment::TwoViews::mocov3(S, C)), .hidden = hid, .out = out,
                                                                 .temperature = or_default(a.temperature, 0.2),
                                                                 .ema = {.base = or_default(a.momentum, 0.99), .final = 1.0}}), a, d,
                              data);
  ssl::dino::Options o;
  o.head = ssl::heads::DINOHeadOptions(backbone->dim()).hidden_dim(hid).bottleneck_dim(128).output_dim(out)
               .freeze_last_layer(a.freeze_last_layer);
  o.loss = ssl::loss::DINOLossOptions(out);
  ex::set_teacher_temperature(o.loss, a.teacher_temp);
  o.augment = ssl::augment::MultiCrop::dino({.global_size = S, .local_size = a.local_size, .n_local = a.local_crops,
                                             .global_scale = {a.global_scale[0], a.global_scale[1]},
                                             .local_scale = {a.local_scale[0], a.local_scale[1]}, .channels = C});
  o.ema.base = or_default(a.momentum, 0.99);  // the paper's 0.996 lags behind in a 5-epoch run
  return train_and_evaluate(ssl::dino::recipe(backbone, o), a, d, data);
}

int run(Args a) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (a.backbone.empty()) a.backbone = a.method == "dino" ? "vit" : "resnet18";
  if (a.out.empty()) a.out = "out/" + a.method;
  if (a.features.empty()) a.features = a.backbone == "vit" ? "blocks" : "tokens";
  TORCH_CHECK(a.features != "blocks" || a.backbone == "vit", "--features blocks: the token maps of the last blocks ",
              "are a ViT's (--backbone vit), got --backbone ", a.backbone, " (use tokens or pooled)");
  TORCH_CHECK(!a.teacher || a.method == "byol" || a.method == "mocov3" || a.method == "dino", "--teacher: ", a.method,
              " has no momentum teacher to score (BYOL, MoCo v3 and DINO have one)");
  std::filesystem::create_directories(a.out);
  ssl::train::seed_everything(a.seed);  // the same seed on every process of a data-parallel run
  a.on = ex::training_device(a.device, a.dist);
  const auto session = ex::join(a.dist, a.on);
  ex::set_training_threads(a.threads);
  const int64_t world = ssl::dist::world_size();
  const auto data = ex::open_image_data(a.data);
  std::printf("%s with a %s backbone, %lld process(es) x %d thread(s) on %s\n", a.method.c_str(), a.backbone.c_str(),
              (long long)world, at::get_num_threads(), a.device.c_str());
  if (a.backbone == "vit") {
    TORCH_CHECK(data.image_size % a.patch == 0, "--patch ", a.patch, " does not divide the image size ", data.image_size);
    return run_method(ssl::vit::Encoder(ssl::vit::Options{}.image(data.image_size).channels(data.channels).dim(a.dim).depth(a.depth)
                                            .heads(a.heads).patch(a.patch).learned_pos(true).mean_pool(a.mean_pool)),
                      a, data);
  }
  auto o = a.backbone == "resnet50" ? ssl::resnet::resnet50() : ssl::resnet::resnet18();
  return run_method(ssl::resnet::Encoder(o.channels(data.channels).width(a.width).small_stem(true).channels_last(true)), a,
                    data);
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"libssl 05: joint-embedding pretraining on Fashion-MNIST or your images (k-NN, linear probe, DINO attention maps)"};
  std::vector<std::string> methods;
  for (const auto& [k, v] : defaults()) methods.push_back(k);
  app.add_option("--method", a.method, "dino | byol | simclr | barlow_twins | mocov3 | vicreg | simsiam")
      ->check(CLI::IsMember(methods));
  app.add_option("--backbone", a.backbone, "resnet18 | resnet50 | vit (default: vit for dino, resnet18 otherwise)")
      ->check(CLI::IsMember({"resnet18", "resnet50", "vit"}));
  app.add_option("--out", a.out, "output folder (default out/<method>): metrics.json, train.jsonl, attention.png");
  ex::add_image_data_options(app, a.data);
  app.add_option("--threads", a.threads, "CPU threads in all (split over the processes while training)");
  ex::add_device_option(app, a.device);
  app.add_option("--seed", a.seed, "random seed");
  app.add_option("--epochs", a.epochs, "pretraining epochs (default: the method's 10-minute budget)");
  app.add_option("--batch", a.batch, "batch size per process (default: the method's in all, split over the processes: 256; BYOL and DINO 128)");
  app.add_option("--max-steps", a.max_steps, "stop after this many steps (the schedule still spans --epochs)");
  app.add_option("--optimizer", a.optimizer, "adamw | lars")->check(CLI::IsMember({"adamw", "lars"}));
  app.add_option("--lr", a.lr, "peak learning rate (cosine schedule with warm-up; LARS default 0.3 x batch / 256)");
  app.add_option("--weight-decay", a.weight_decay, "weight decay (LARS default 1e-6)");
  app.add_option("--width", a.width, "ResNet base width (64 = the standard ResNet)");
  app.add_option("--dim", a.dim, "ViT width");
  app.add_option("--depth", a.depth, "ViT blocks");
  app.add_option("--heads", a.heads, "ViT attention heads");
  app.add_option("--mean-pool", a.mean_pool, "ViT: the pooled vector (what the heads see) is the mean patch token instead of CLS");
  app.add_option("--proj-hidden", a.proj_hidden, "projector / head hidden width");
  app.add_option("--proj-out", a.proj_out, "projector / head output width");
  app.add_option("--patch", a.patch, "ViT patch size (the image size and the local crop size must be multiples)");
  app.add_option("--local-crops", a.local_crops, "DINO: number of local crops");
  app.add_option("--local-size", a.local_size, "DINO: side of the local crops (global crops: the image size)");
  app.add_option("--global-scale", a.global_scale, "DINO: area fraction range of the global crops")->expected(2);
  app.add_option("--local-scale", a.local_scale, "DINO: area fraction range of the local crops")->expected(2);
  app.add_option("--teacher-temp", a.teacher_temp, "DINO: teacher temperature (warm-up from 0.04 over the first epoch if different)");
  app.add_option("--clip", a.clip, "clip the gradient norm to this value (0: no clipping; DINO's reference uses 3)");
  app.add_option("--freeze-last-layer", a.freeze_last_layer, "DINO: epochs during which the head's last layer is frozen");
  app.add_option("--probe-epochs", a.probe_epochs, "linear-probe epochs");
  app.add_option("--features", a.features, "frozen features: tokens (the whole output map: ResNet H' x W' x C, ViT every token; the ResNet's default) | "
                                            "blocks (ViT: the token maps of the last 4 blocks, each normed, DINO's evaluation features; the ViT's default) | pooled (ResNet average / ViT CLS)")
      ->check(CLI::IsMember({"pooled", "tokens", "blocks"}));
  app.add_option("--teacher", a.teacher, "evaluate the momentum teacher's backbone instead of the student's (BYOL, MoCo v3, DINO)");
  app.add_option("--lambda", a.lambda, "Barlow Twins: off-diagonal weight (default 5e-3)");
  app.add_option("--momentum", a.momentum, "BYOL / MoCo v3 / DINO: base EMA momentum (default 0.99; the DINO paper's is 0.996)");
  app.add_option("--temperature", a.temperature, "SimCLR / MoCo v3: contrastive temperature (default 0.2)");
  app.add_option("--views", a.views, "two-view augmentation preset instead of the method's own")
      ->check(CLI::IsMember({"simclr", "byol", "vicreg", "simsiam"}));
  app.add_option("--floors", a.floors, "also measure the raw-pixel k-NN / linear floors");
  app.add_flag("--resume", a.resume, "continue from <out>/<method>.ckpt if it exists");
  ex::add_dist_option(app, a.dist);
  ex::add_procs_option(app, a.procs, "default: 2 for DINO (its ViT) on the CPU, 1 otherwise");
  CLI11_PARSE(app, argc, argv);
  return ex::guarded([&] {
    ex::Launch launch(a.procs > 0 ? a.procs : a.device == "cuda" ? 1 : defaults().at(a.method).procs, a.dist, argv);
    return launch.wait(run(a));
  });
}
