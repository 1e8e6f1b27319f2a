// 07 — wav2vec 2.0 on speech: pretrain on unlabelled spoken words (raw 16 kHz audio), then
// recognise spoken digits from few labels, against the same encoder at initialisation (frozen
// features: k-NN and a linear probe) and trained from scratch (fine-tuning). The data is a
// folder as scripts/make_speech_corpus.sh writes it (espeak-ng voices with noise), or your own:
//   <data>/pretrain/...          audio files for pretraining (any layout AudioFolder reads)
//   <data>/digits/train/<class>/ the labelled training clips (also used for pretraining, unlabelled)
//   <data>/digits/test/<class>/  the test clips (the corpus script's: voices heard nowhere else)
#include <ssl/data/audio_folder.hpp>
#include <ssl/eval/classifier.hpp>
#include <ssl/eval/frozen.hpp>
#include <ssl/data/loader.hpp>
#include <ssl/train/trainer.hpp>
#include <ssl/wav2vec2.hpp>

#include <CLI/CLI.hpp>

#include "../common/cli.hpp"
#include "../common/guard.hpp"
#include "../common/report.hpp"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

namespace {
struct Args : ex::RunArgs, ex::ProbeArgs {
  Args() : ex::RunArgs{.out = "out/wav2vec2", .epochs = 10, .batch = 32, .lr = 1e-3} {}
  std::string data = "data/speech";
  int64_t length = 16000;  // samples per clip: 1 s at 16 kHz
  int64_t dim = 128, depth = 4, heads = 4, conv_dim = 64;
  int64_t negatives = 100;
  double mask_p = 0.065;
  int64_t span = 10;
  int64_t finetune_labels = 4, finetune_epochs = 30;
  double finetune_lr = 1e-3;
};

/// The command line of this example into `a`.
void add_options(CLI::App& app, Args& a) {
  ex::add_run_options(app, a, {.out = "output folder (metrics.json, train.jsonl, TensorBoard events, wav2vec2.ckpt)",
                               .epochs = "pretraining epochs over the unlabelled clips",
                               .lr = "pretraining peak learning rate (AdamW, 8 % warm-up, cosine)",
                               .max_steps = "stop pretraining after this many steps (0: the epochs decide)",
                               .resume = "wav2vec2.ckpt", .skip_non_finite = true});
  app.add_option("--data", a.data, "the corpus folder: pretrain/, digits/train/, digits/test/ (scripts/make_speech_corpus.sh)");
  app.add_option("--length", a.length, "samples per clip (16 kHz; longer clips are center-cropped, shorter ones padded)")
      ->check(ex::at_least(400));
  app.add_option("--dim", a.dim, "the Transformer's width")->check(ex::at_least(1));
  app.add_option("--depth", a.depth, "the Transformer's blocks")->check(ex::at_least(1));
  app.add_option("--heads", a.heads, "its attention heads")->check(ex::at_least(1));
  app.add_option("--conv-dim", a.conv_dim, "channels of the 7 convolutions")->check(ex::at_least(1));
  app.add_option("--negatives", a.negatives, "distractors per masked frame (the paper: 100)")->check(ex::at_least(1));
  app.add_option("--mask-p", a.mask_p, "probability that a frame starts a masked span (the paper: 0.065)")
      ->check(ex::in_range(0, 1, true, true));
  app.add_option("--span", a.span, "frames per masked span (the paper: 10)")->check(ex::at_least(1));
  app.add_option("--finetune-labels", a.finetune_labels,
                 "labelled clips per digit for the probes and fine-tuning: the first of each digit's folder in file "
                 "order (the corpus script's names sort by voice: up to 4, the repetitions of one voice)")
      ->check(ex::at_least(1));
  app.add_option("--finetune-epochs", a.finetune_epochs, "fine-tuning epochs (pretrained and scratch alike)")->check(ex::at_least(1));
  app.add_option("--finetune-lr", a.finetune_lr, "fine-tuning peak learning rate")->check(ex::positive());
  ex::add_probe_options(app, a, /*budgets=*/false);  // its probes are its own (below)
}

/// The first `per_class` clips of each class of `labels` (the labelled budget), in file order: with
/// the corpus script's names (`<voice>-r<k>.wav`), up to 4 per class are one voice's repetitions.
torch::Tensor first_per_class(const torch::Tensor& labels, int64_t per_class) {
  std::vector<int64_t> keep, seen(size_t(labels.max().item<int64_t>() + 1), 0);
  for (int64_t i = 0; i < labels.size(0); ++i) {
    const auto c = labels[i].item<int64_t>();
    if (seen[size_t(c)]++ < per_class) keep.push_back(i);
  }
  return torch::tensor(keep, torch::kInt64);
}
}  // namespace

int run(const Args& a) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  at::set_num_threads(a.threads);
  std::filesystem::create_directories(a.out);
  ssl::train::seed_everything(a.seed);
  const auto t0 = std::chrono::steady_clock::now();
  namespace fs = std::filesystem;
  const fs::path root(a.data);
  for (const char* sub : {"pretrain", "digits/train", "digits/test"})
    TORCH_CHECK(fs::is_directory(root / sub), "--data '", a.data, "': expected a folder '", (root / sub).string(),
                "' (make the corpus with scripts/make_speech_corpus.sh ", a.data, "), got none");

  // ---- data: every clip in memory (the corpus is small) -------------------------------------
  const ssl::data::AudioFolderOptions ao{.rate = 16000, .length = a.length};
  const ssl::data::AudioFolder pre(root / "pretrain", ao), train(root / "digits/train", ao), test(root / "digits/test", ao);
  TORCH_CHECK(train.classes() == test.classes(), "--data '", a.data, "': digits/train and digits/test have other classes");
  const auto pre_x = ssl::data::gather_all(pre).input;
  const auto [train_x, train_y] = ssl::data::gather_all(train);
  const auto [test_x, test_y] = ssl::data::gather_all(test);
  const auto unlabelled = torch::cat({pre_x, train_x});
  const auto few = first_per_class(train_y, a.finetune_labels);
  const auto few_x = train_x.index_select(0, few), few_y = train_y.index_select(0, few);
  const int64_t classes = int64_t(train.classes().size());
  std::printf("%lld unlabelled clips (pretrain/ + digits/train/), %lld labelled of %lld (%lld per digit), %lld test; "
              "%lld samples each (%.2f s), %d threads\n",
              (long long)unlabelled.size(0), (long long)few.size(0), (long long)train_x.size(0), (long long)a.finetune_labels,
              (long long)test_x.size(0), (long long)a.length, double(a.length) / 16000.0, a.threads);

  // ---- 1. Pretrain ----------------------------------------------------------------------
  ssl::wav2vec2::Options wo;
  wo.encoder = ssl::audio::small()
                   .conv_dim(std::vector<int64_t>(7, a.conv_dim))
                   .dim(a.dim)
                   .depth(a.depth)
                   .heads(a.heads)
                   .mlp_hidden(4 * a.dim);
  wo.masker.p = a.mask_p;
  wo.masker.span = a.span;
  wo.distractors.negatives = a.negatives;
  auto w2v = ssl::wav2vec2::recipe(wo);
  ssl::train::seed_everything(a.seed);
  auto w2v0 = ssl::wav2vec2::recipe(wo);  // the same initialisation, kept: the baselines
  ssl::Trainer trainer(w2v, ssl::optim::AdamWOptions{.lr = a.lr, .weight_decay = 0.01, .beta2 = 0.98},
                       ssl::schedule::cosine_warmup(0.08 * double(a.epochs)));
  ex::resume_if(a.resume, trainer, a.out + "/wav2vec2.ckpt");
  const auto tp = std::chrono::steady_clock::now();
  double final_loss = std::nan("");
  if (!a.random_init) {
    ssl::data::Loader loader(unlabelled, torch::Tensor(), nullptr, {.batch_size = a.batch, .seed = a.seed});
    final_loss = trainer.fit(loader, {.epochs = a.epochs, .max_steps = a.max_steps > 0 ? a.max_steps : -1,
                                      .clip_grad_norm = 10.0, .metrics_path = a.out + "/train.jsonl",
                                      .tensorboard_dir = a.out, .checkpoint_path = a.out + "/wav2vec2.ckpt",
                                      .checkpoint_every = ex::checkpoint_every, .non_finite = a.non_finite(),
                                      .config = {{"seed", std::to_string(a.seed)}}, .label = "wav2vec 2.0 pretrain"});
  }
  const double train_seconds = ex::seconds_since(tp);
  if (a.random_init) std::printf("pretraining: none (--random-init)\n");
  else std::printf("pretraining: %lld steps, %.1f s, final epoch loss %s\n", (long long)trainer.step(), train_seconds,
                   ex::loss_text(final_loss).c_str());

  // ---- 2. The objective on the test clips (voices never heard), trained and at initialisation ----
  // Evaluation mode (the quantiser's argmax), the same masks and distractors for both.
  const auto ev = ssl::wav2vec2::evaluate(w2v, test_x, a.seed + 7);
  const auto ev0 = ssl::wav2vec2::evaluate(w2v0, test_x, a.seed + 7);
  std::printf("test clips, the true code among %lld distractors (chance %.2f %%): pretrained %.2f %% (codebook "
              "perplexity %.1f of %lld), at initialisation %.2f %% (%.1f)\n",
              (long long)a.negatives, 100 * ev.chance, 100 * ev.accuracy, ev.perplexity,
              (long long)(wo.groups * wo.entries), 100 * ev0.accuracy, ev0.perplexity);

  // ---- 3. Frozen features: k-NN and linear probe, pretrained and at initialisation -----------
  auto frozen = [&, &test_x = test_x, &test_y = test_y](ssl::audio::Encoder enc) {
    enc->eval();
    const auto r = ssl::eval::frozen_eval(
        [&](const torch::Tensor& b) { return enc->forward({.input = b}).pooled; }, few_x, few_y, test_x, test_y, nullptr,
        {.knn = {.k = std::min<int64_t>(20, a.finetune_labels)},
         .probe = {.epochs = a.probe_epochs * 10, .batch = 64, .seed = a.seed},
         .batch = 128});
    enc->train();
    return std::pair{r.knn, r.linear};
  };
  const auto [knn, linear] = frozen(w2v->backbone());
  const auto [knn0, linear0] = frozen(w2v0->backbone());
  std::printf("frozen features (%lld-d mean context, %lld labels): pretrained k-NN %.2f %%, linear %.2f %%; "
              "at initialisation k-NN %.2f %%, linear %.2f %%\n",
              (long long)a.dim, (long long)few.size(0), 100 * knn, 100 * linear, 100 * knn0, 100 * linear0);

  // ---- 4. Fine-tune vs scratch on the few labels -------------------------------------------
  const auto tf = std::chrono::steady_clock::now();
  const ssl::eval::FinetuneOptions fo{.classes = classes, .epochs = a.finetune_epochs, .batch = 16, .lr = a.finetune_lr,
                                      .weight_decay = 0.01, .warmup_epochs = 0.1 * double(a.finetune_epochs),
                                      .head_init_std = 0.02, .seed = a.seed, .progress = 0};
  const double ft = ssl::eval::finetune(w2v->backbone(), few_x, few_y, test_x, test_y, nullptr, fo);
  const double scratch = ssl::eval::finetune(w2v0->backbone(), few_x, few_y, test_x, test_y, nullptr, fo);
  const double finetune_seconds = ex::seconds_since(tf);
  std::printf("fine-tune on %lld labels, %lld epochs: pretrained %.2f %% vs scratch %.2f %% (%.0f s)\n",
              (long long)few.size(0), (long long)a.finetune_epochs, 100 * ft, 100 * scratch, finetune_seconds);

  const ssl::train::Json m = {
      {"test_contrastive_acc", ev.accuracy}, {"init_test_contrastive_acc", ev0.accuracy}, {"chance", ev.chance},
      {"test_perplexity", ev.perplexity}, {"init_test_perplexity", ev0.perplexity}, {"test_loss", ev.loss},
      {"init_test_loss", ev0.loss}, {"negatives", a.negatives},
      {"knn_top1", knn}, {"linear_top1", linear}, {"init_knn_top1", knn0}, {"init_linear_top1", linear0},
      {"finetune_top1", ft}, {"scratch_finetune_top1", scratch}, {"labels", few.size(0)},
      {"labels_per_class", a.finetune_labels}, {"test_clips", test_x.size(0)}, {"unlabelled_clips", unlabelled.size(0)},
      {"final_loss", final_loss}, {"steps", trainer.step()}, {"epochs", a.random_init ? 0 : a.epochs},
      {"random_init", a.random_init}, {"train_seconds", train_seconds}, {"finetune_seconds", finetune_seconds},
      {"finetune_epochs", a.finetune_epochs}, {"dim", a.dim}, {"depth", a.depth}, {"conv_dim", a.conv_dim},
      {"length", a.length}, {"threads", a.threads}, {"seed", a.seed}, {"data", a.data},
      {"total_seconds", ex::seconds_since(t0)}};
  std::ofstream(a.out + "/metrics.json") << ssl::train::dump(m, 2) << "\n";
  std::printf("wrote %s/metrics.json (%.0f s in all)\n", a.out.c_str(), ex::seconds_since(t0));
  return 0;
}

int main(int argc, char** argv) {
  return ex::example_main<Args>(argc, argv,
                                "libssl 07: wav2vec 2.0 on speech (pretrain on raw audio, then few-label spoken digits: "
                                "k-NN, linear probe, fine-tune vs scratch)",
                                add_options, run);
}
