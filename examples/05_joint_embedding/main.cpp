// 05 — Joint-embedding methods on Fashion-MNIST (or your images, --data): pretrain a ResNet or a ViT with DINO, BYOL,
// SimCLR, Barlow Twins, MoCo v3, VICReg or SimSiam (one recipe header each), then evaluate the
// frozen features (a ResNet's last feature map; a ViT's token maps of its last 4 blocks, as DINO's
// evaluation) with a k-NN classifier and a linear probe beside the raw-pixel floors measured in
// the same run, and with --finetune-labels fine-tunes the backbone against the same network from
// scratch. DINO with a ViT also draws the last layer's CLS attention of every head.
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
#include <type_traits>
#include <vector>

namespace {
using ex05::Args;

/// What differs between the methods in this example: the defaults of a 10-minute run, and the
/// recipe (`train`: builds it on the run's backbone, then trains and evaluates it).
struct Run;
struct Method {
  int64_t epochs, batch;  // batch: in all, split over the processes
  double lr, weight_decay;
  int64_t proj_hidden, proj_out;
  int64_t procs;  // on the CPU: the ViT's small steps do not go faster on a second thread, a second process does
  const char* backbone;
  bool teacher;  // a momentum teacher whose backbone --teacher scores
  int (*train)(const Run&);
};

/// One run: the arguments, the method, the data, the heads' widths and the knobs' values.
struct Run {
  const Args& a;
  const Method& m;
  const ex::ImageData& data;
  int64_t S = data.image_size, C = data.channels;
  int64_t hidden = a.proj_hidden > 0 ? a.proj_hidden : m.proj_hidden, out = a.proj_out > 0 ? a.proj_out : m.proj_out;
  double temperature = a.temperature > 0 ? a.temperature : 0.2, lambda = a.lambda > 0 ? a.lambda : 5e-3;
  double momentum = a.momentum > 0 ? a.momentum : 0.99;  // DINO: the paper's 0.996 lags behind in a 5-epoch run
  /// The method's two-view augmentation `own`, or the preset --views names.
  [[nodiscard]] ssl::augment::TwoViews views(ssl::augment::TwoViews own) const {
    using V = ssl::augment::TwoViews;
    static const std::map<std::string, V (*)(int64_t, int64_t)> presets = {
        {"simclr", V::simclr}, {"byol", V::byol}, {"vicreg", V::vicreg}, {"simsiam", V::simsiam}};
    return a.views.empty() ? own : presets.at(a.views)(S, C);
  }
  /// Trains and evaluates the recipe `build(backbone)` makes on the backbone --backbone names.
  template <class Build>
  int train(const Build& build) const;
};

/// Pretrains `recipe`, then scores its frozen features (k-NN, linear probe) beside the raw-pixel floors.
template <class R>
int train_and_evaluate(R recipe, const Run& r) {
  const Args& a = r.a;  // (references, not a structured binding: the lambdas below capture them)
  const Method& d = r.m;
  const ex::ImageData& data = r.data;
  const auto t0 = std::chrono::steady_clock::now();
  const auto to_unit = ex::ImageData::unit();  // the two-view and multi-crop augmentations take pixels in [0, 1]
  const int64_t epochs = a.epochs > 0 ? a.epochs : d.epochs;
  const int64_t world = ssl::dist::world_size(), batch = ex::batch_per_process(a.batch, d.batch, a.method);
  const auto device = a.on;  // --device cuda: the model and the batches on the GPU; the augmentations run where the batch is
  recipe->to(device);
  const auto ckpt = a.out + "/" + a.method + ".ckpt";
  const auto tp = std::chrono::steady_clock::now();
  // One trainer, whichever optimizer: AdamW (the default here) or LARS (the papers' choice for
  // SimCLR, BYOL and Barlow Twins at large batch; lr default 0.3 x batch / 256).
  int64_t steps = 0;  // the trainer's step at the end (the attention picture's TensorBoard step)
  auto train_with = [&](auto optimizer) {
    // The trainer runs the recipe with its loss watched by the standard monitors (--monitor-every):
    // the same modules, so `recipe` below is the trained one.
    ssl::Trainer trainer(ssl::monitor::watched(recipe, a.monitor_every), std::move(optimizer),
                         ssl::schedule::cosine_warmup(std::min<double>(1.0, epochs / 10.0)));
    ex::resume_if(a.resume, trainer, ckpt);
    const double loss = data.with_loader(to_unit, {.batch_size = batch, .seed = a.seed, .device = device}, [&](auto& loader) {
      return trainer.fit(loader, {.epochs = epochs, .max_steps = a.max_steps, .clip_grad_norm = a.clip,
                                  .metrics_path = a.out + "/train.jsonl", .tensorboard_dir = a.out, .checkpoint_path = ckpt,
                                  .checkpoint_every = ex::checkpoint_every, .non_finite = a.non_finite(),
                                  .config = {{"method", a.method}, {"backbone", a.backbone}, {"optimizer", a.optimizer},
                                             {"seed", std::to_string(a.seed)},
                                             {"heads", std::to_string(a.heads)}},
                                  .label = a.method + " pretrain"});
    });
    steps = trainer.step();
    return loss;
  };
  const bool lars = a.optimizer == "lars";
  const double lr = a.lr > 0 ? a.lr : lars ? 0.3 * double(batch) / 256.0 : d.lr;
  const double wd = a.weight_decay >= 0 ? a.weight_decay : lars ? 1e-6 : d.weight_decay;
  // --random-init: no pretraining, the same evaluations (the random-init baseline).
  const double final_loss =
      a.random_init ? std::nan("")
      : lars        ? train_with(ssl::optim::Lars(recipe->named_parameters().pairs(), {.lr = lr, .weight_decay = wd}))
                    : train_with(ssl::optim::AdamW(recipe->named_parameters().pairs(), {.lr = lr, .weight_decay = wd}));
  const double train_seconds = ex::seconds_since(tp);
  if (a.random_init) std::printf("pretraining: none (--random-init): the backbone is evaluated as initialised\n");
  else std::printf("pretraining: %lld epochs, %.1f s, final epoch loss %s\n", (long long)epochs, train_seconds,
                   ex::loss_text(final_loss).c_str());
  if (!ssl::dist::is_main()) return 0;  // process 0 evaluates alone, on all the threads
  ssl::dist::LocalOnly local;
  at::set_num_threads(a.threads);
  // The scored backbone, `f(backbone, whose)`: the momentum teacher's with --teacher, else the
  // student's. It is written for other tools (<out>/hf), evaluated frozen and fine-tuned.
  auto scored = [&](auto&& f) {
    if constexpr (requires { recipe->target()->backbone; })
      if (a.teacher) return f(recipe->target()->backbone, "teacher");
    return f(recipe->backbone(), "student");
  };
  scored([&](auto& b, const char* whose) { ex::write_pretrained(a.out + "/hf", b, whose); });
  if (!data.evaluable())
    return ex::ImageData::pretraining_only(a.out, {{"method", a.method}, {"backbone", a.backbone}, {"data", a.data.data},
                                                   {"epochs", epochs}, {"train_seconds", train_seconds},
                                                   {"final_loss", final_loss}, {"total_seconds", ex::seconds_since(t0)}});

  // Frozen features (--features): the backbone's pooled vector (ResNet: global average; ViT:
  // CLS), its whole output map flattened, or a ViT's last 4 blocks' token maps (DINO's evaluation).
  recipe->eval();
  const auto kind = ssl::eval::feature_kind(a.features);
  const auto frozen = ex::frozen_report(a.method, a.features, [&](const torch::Tensor& x) {
    return scored([&](auto& b, const char*) { return ssl::eval::frozen_features(b, x, kind); });
  }, data, to_unit, a, device);
  const auto& [s, raw] = frozen;
  recipe->train();
  if constexpr (requires { ssl::dino::attention_maps(recipe, data.train.images); }) {
    const auto picture = ex::write_attention_png(recipe, data.test.images.narrow(0, 0, 8), to_unit, a.out + "/attention.png");
    ssl::train::TensorBoard(a.out).image(a.method + "/attention", picture, steps);
    std::printf("attention.png: 8 test images, then the last block's CLS attention of each head\n");
  }
  // Fine-tune vs scratch (--finetune-labels: each budget from a copy of the scored backbone).
  std::vector<ssl::eval::FinetuneScores> finetuned;
  if (!a.finetune_labels.empty()) finetuned = scored([&](auto& enc, const char*) {
    using E = std::remove_cvref_t<decltype(enc)>;
    return ex::finetune_report(enc, [arch = enc->options] { return E(arch); }, data, to_unit, a, a.layer_decay, a.seed,
                               device);
  });
  ssl::train::Json m = {
      {"method", a.method}, {"backbone", a.backbone}, {"feature_dim", s.dim}, {"features", a.features},
      {"scored_network", a.teacher ? "teacher" : "student"}, {"knn_top1", s.knn}, {"linear_top1", s.linear},
      {"raw_pixels_knn_top1", raw.knn}, {"raw_pixels_linear_top1", raw.linear}, {"epochs", a.random_init ? 0 : epochs},
      {"random_init", a.random_init}, {"batch", batch * world}, {"processes", world}, {"device", device.str()},
      {"seed", a.seed},
      {"train_seconds", train_seconds}, {"optimizer", a.optimizer}, {"lr", lr}, {"final_loss", final_loss},
      {"eval_seconds", s.seconds}, {"threads", a.threads}, {"total_seconds", ex::seconds_since(t0)},
      {"data", a.data.data}, {"image_size", data.image_size}, {"channels", data.channels}};
  m.update(ex::probe_json(frozen));
  m.update(ex::finetune_json(finetuned));
  std::ofstream(a.out + "/metrics.json") << ssl::train::dump(m, 2) << "\n";
  std::printf("wrote %s/metrics.json\n", a.out.c_str());
  return 0;
}

template <class Build>
int Run::train(const Build& build) const {
  if (a.backbone == "vit") {
    TORCH_CHECK(S % a.patch == 0, "--patch ", a.patch, " does not divide the image size ", S);
    return train_and_evaluate(build(ssl::vit::Encoder(ssl::vit::Options{}.image(S).channels(C).dim(a.dim).depth(a.depth)
                                                          .heads(a.heads).patch(a.patch).learned_pos(true).mean_pool(a.mean_pool))),
                              *this);
  }
  auto o = a.backbone == "resnet50" ? ssl::resnet::resnet50() : ssl::resnet::resnet18();
  return train_and_evaluate(build(ssl::resnet::Encoder(o.channels(C).width(a.width).small_stem(true).channels_last(true))), *this);
}

/// The methods: the defaults of a 10-minute run here, and the recipe on a backbone `b`.
const std::map<std::string, Method>& methods() {
  using V = ssl::augment::TwoViews;
  static const std::map<std::string, Method> table = {
      // epochs, batch, lr, weight decay, projector hidden and output widths, processes, backbone, teacher
      {"simclr", {5, 256, 2e-3, 1e-4, 512, 128, 1, "resnet18", false, [](const Run& r) { return r.train([&](auto b) {
         return ssl::simclr::recipe(b, {.augment = r.views(V::simclr(r.S, r.C)), .hidden = r.hidden, .out = r.out,
                                        .temperature = r.temperature}); }); }}},
      {"barlow_twins", {5, 256, 2e-3, 1e-4, 512, 512, 1, "resnet18", false, [](const Run& r) { return r.train([&](auto b) {
         return ssl::barlow_twins::recipe(b, {.augment = r.views(V::barlow_twins(r.S, r.C)), .hidden = r.hidden,
                                              .out = r.out, .lambda = r.lambda}); }); }}},
      {"vicreg", {5, 256, 2e-3, 1e-4, 512, 512, 1, "resnet18", false, [](const Run& r) { return r.train([&](auto b) {
         return ssl::vicreg::recipe(b, {.augment = r.views(V::vicreg(r.S, r.C)), .hidden = r.hidden, .out = r.out}); }); }}},
      {"simsiam", {5, 256, 5e-4, 1e-4, 512, 512, 1, "resnet18", false, [](const Run& r) { return r.train([&](auto b) {
         return ssl::simsiam::recipe(b, {.augment = r.views(V::simsiam(r.S, r.C)), .proj_hidden = r.hidden, .out = r.out,
                                         .pred_hidden = r.hidden / 4}); }); }}},
      {"byol", {3, 128, 2e-3, 1e-4, 512, 128, 1, "resnet18", true, [](const Run& r) { return r.train([&](auto b) {
         return ssl::byol::recipe(b, {.augment = r.views(V::byol(r.S, r.C)), .hidden = r.hidden, .out = r.out,
                                      .ema = {.base = r.momentum, .final = 1.0}}); }); }}},
      {"mocov3", {3, 256, 2e-3, 1e-4, 512, 128, 1, "resnet18", true, [](const Run& r) { return r.train([&](auto b) {
         return ssl::mocov3::recipe(b, {.augment = r.views(V::mocov3(r.S, r.C)), .hidden = r.hidden, .out = r.out,
                                        .temperature = r.temperature, .ema = {.base = r.momentum, .final = 1.0}}); }); }}},
      {"dino", {8, 128, 2e-3, 0.04, 512, 1024, 2, "vit", true, [](const Run& r) { return r.train([&](auto b) {
         const auto& a = r.a;
         ssl::dino::Options o;
         o.head = ssl::heads::DINOHeadOptions(b->dim()).hidden_dim(r.hidden).bottleneck_dim(128).output_dim(r.out)
                      .freeze_last_layer(a.freeze_last_layer);
         o.loss = ssl::loss::DINOLossOptions(r.out);
         ex::set_teacher_temperature(o.loss, a.teacher_temp);
         o.augment = ssl::augment::MultiCrop::dino({.global_size = r.S, .local_size = a.local_size, .n_local = a.local_crops,
                                                    .global_scale = {a.global_scale[0], a.global_scale[1]},
                                                    .local_scale = {a.local_scale[0], a.local_scale[1]}, .channels = r.C});
         o.ema.base = r.momentum;
         return ssl::dino::recipe(b, o); }); }}},
  };
  return table;
}

int run(Args a) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const auto& m = methods().at(a.method);
  if (a.backbone.empty()) a.backbone = m.backbone;
  if (a.out.empty()) a.out = "out/" + a.method;
  if (a.features.empty()) a.features = a.backbone == "vit" ? "blocks" : "tokens";
  if (a.layer_decay < 0) a.layer_decay = a.backbone == "vit" ? 0.75 : 1.0;
  TORCH_CHECK(a.layer_decay == 1.0 || a.backbone == "vit", "--layer-decay ", a.layer_decay, ": the lr decays by ViT ",
              "block, and --backbone ", a.backbone, " has none (leave the option out, or give 1)");
  TORCH_CHECK(a.features != "blocks" || a.backbone == "vit", "--features blocks: the token maps of the last blocks ",
              "are a ViT's (--backbone vit), got --backbone ", a.backbone, " (use tokens or pooled)");
  TORCH_CHECK(!a.teacher || m.teacher, "--teacher: ", a.method, " has no momentum teacher to score (BYOL, MoCo v3 and DINO have one)");
  for (const auto& [name, range] : {std::pair{"--global-scale", a.global_scale}, std::pair{"--local-scale", a.local_scale}})
    TORCH_CHECK(range[0] <= range[1], name, ": expected a range lo hi with lo <= hi, got ", range[0], " ", range[1]);
  std::filesystem::create_directories(a.out);
  ssl::train::seed_everything(a.seed);  // the same seed on every process of a data-parallel run
  a.on = ex::training_device(a.device, a.dist);
  const auto session = ex::join(a.dist, a.on);
  ex::set_training_threads(a.threads);
  const auto data = ex::open_image_data(a.data);
  std::printf("%s with a %s backbone, %lld process(es) x %d thread(s) on %s\n", a.method.c_str(), a.backbone.c_str(),
              (long long)ssl::dist::world_size(), at::get_num_threads(), a.device.c_str());
  return m.train(Run{a, m, data});
}

}  // namespace

int main(int argc, char** argv) {
  return ex::methods_main<Args>(
      argc, argv, "libssl 05: joint-embedding pretraining on Fashion-MNIST or your images (k-NN, linear probe, fine-tune, DINO attention maps)",
      methods(), ex05::add_options, run);
}
