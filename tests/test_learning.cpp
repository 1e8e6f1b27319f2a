// Learning outcomes on reduced runs of the examples' protocols: after pretraining (MAE and BEiT
// on Fashion-MNIST, RoBERTa-style MLM on fortunes), fine-tuning on few labels beats the same model
// fine-tuned from scratch with the same budget; ELECTRA's discriminator and data2vec 2.0 on text
// learn their objectives on held-out text; the joint-embedding recipes learn (held-out view gap)
// and SimCLR's k-NN beats the raw-pixel floor.
#include "data2vec_health.hpp"
#include "datasets.hpp"

#include <doctest/doctest.h>
#include <ssl/barlow_twins.hpp>
#include <ssl/byol.hpp>
#include <ssl/data2vec2.hpp>
#include <ssl/dino.hpp>
#include <ssl/mocov3.hpp>
#include <ssl/simclr.hpp>
#include <ssl/simsiam.hpp>
#include <ssl/ssl.hpp>
#include <ssl/vicreg.hpp>

#include <optional>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_learning {

namespace {
/// Fashion-MNIST, read once per process, and the image examples' normalisation.
struct FashionMnist {
  ssl::data::ImageSet train = ssl::data::fashion_mnist("train", test_data::fashion_mnist_dir()),
                      test = ssl::data::fashion_mnist("test", test_data::fashion_mnist_dir());
  ssl::data::Transform norm = ssl::data::normalize(0.2860, 0.3530);
};
const FashionMnist& fashion_mnist() {
  static const FashionMnist data;
  return data;
}

/// The ViT of both image cases (MAE, BEiT): the MAE example's encoder, 128-d x 4 blocks, patch 4,
/// on Fashion-MNIST's 28 x 28 grayscale images.
ssl::vit::Options example_vit() {
  auto o = ssl::mae::Options{}.encoder;
  return o.image(28).channels(1);
}

/// Fine-tunes `pretrained` (an `example_vit()`) and the same architecture from scratch on the
/// first 5000 labelled training images (4 epochs; layer decay 0.75 for the pretrained encoder
/// only) and returns both top-1 accuracies on the first 5000 test images. The scratch run is the
/// same computation for every pretrained encoder (architecture, data, budget and seed), so it is
/// run once per process and shared by the MAE and BEiT cases.
std::pair<double, double> finetune_vs_scratch(ssl::vit::Encoder pretrained) {
  const auto& [train, test, norm] = fashion_mnist();
  const auto labelled = train.images.narrow(0, 0, 5000), labels = train.labels.narrow(0, 0, 5000);
  const auto ti = test.images.narrow(0, 0, 5000), tl = test.labels.narrow(0, 0, 5000);
  ssl::eval::FinetuneOptions fo{.epochs = 4, .lr = 1e-3, .seed = 1};
  pretrained->options.mean_pool(true);
  fo.layer_decay = 0.75;
  fo.label = "fine-tune (pretrained)";
  const double pre = ssl::eval::finetune(pretrained, labelled, labels, ti, tl, norm, fo);
  static std::optional<double> base;
  if (!base) {
    torch::manual_seed(1);
    ssl::vit::Encoder scratch(example_vit());
    scratch->options.mean_pool(true);
    fo.layer_decay = 1.0;
    fo.label = "fine-tune (scratch)";
    base = ssl::eval::finetune(scratch, labelled, labels, ti, tl, norm, fo);
  }
  return {pre, *base};
}

// The fortunes as examples 02 and 04 read them: documents split 90/10 by a fixed permutation,
// a 4000-piece WordPiece trained on the training part, and both parts packed into L-token
// sequences. Built once, shared by the text cases.
struct FortunesText {
  static constexpr int64_t L = 64;
  std::vector<ssl::data::Document> train, held;
  std::optional<ssl::text::WordPiece> tok;
  std::vector<std::vector<int64_t>> train_ids, held_ids;
  ssl::data::TextSpecials sp;
  ssl::data::TextSet packed, held_packed;
  FortunesText() {
    auto docs = ssl::data::read_fortunes(test_data::fortunes_dir());
    auto perm = torch::randperm(int64_t(docs.size()), at::make_generator<at::CPUGeneratorImpl>(0), torch::kInt64);
    for (int64_t i = 0; i < perm.size(0); ++i)
      (i < perm.size(0) / 10 ? held : train).push_back(docs[size_t(perm[i].item<int64_t>())]);
    std::vector<std::string> texts;
    for (const auto& d : train) texts.push_back(d.text);
    tok.emplace(ssl::text::train_wordpiece(texts, {.vocab_size = 4000}));
    for (const auto& d : train) train_ids.push_back(tok->encode(d.text));
    for (const auto& d : held) held_ids.push_back(tok->encode(d.text));
    const auto& v = tok->vocab();
    sp = {.cls = v.cls_id(), .sep = v.sep_id(), .pad = v.pad_id()};
    packed = ssl::data::pack(train_ids, sp, L), held_packed = ssl::data::pack(held_ids, sp, L);
  }
};
const FortunesText& fortunes_text() {
  static const FortunesText data;
  return data;
}
}  // namespace

TEST_SUITE("learning") {
TEST_CASE("MAE pretraining beats scratch when fine-tuning on 5000 labels (reduced run)") {
  torch::manual_seed(0);
  const auto& [train, test, norm] = fashion_mnist();
  auto mae = ssl::mae::recipe({.encoder = example_vit()});  // the example's model, decoder 64-d x 2
  ssl::data::Loader loader(train.images, {}, norm, {.batch_size = 256});
  ssl::Trainer trainer(mae, ssl::optim::AdamWOptions{.lr = 1.5e-3, .weight_decay = 0.05, .beta2 = 0.95},
                       ssl::schedule::cosine_warmup(0.5));
  const double loss = trainer.fit(loader, {.epochs = 1, .clip_grad_norm = 1.0, .label = "MAE (reduced)"});
  MESSAGE("MAE loss over its epoch on 60k images: ", loss);
  // Normalised-pixel MSE: predicting the mean scores 1 (2.2 at the first step); the mean over
  // this only epoch includes its first steps (measured 0.64; 0.53 over its last steps).
  CHECK(loss < 0.7);

  const auto [pre, base] = finetune_vs_scratch(mae->backbone());
  MESSAGE("fine-tune accuracy: pretrained ", pre, " vs scratch ", base);
  CHECK(pre > base + 0.01);
}
}

// BEiT: a reduced run of example 06's default (k-means tokenizer, 256 codes, the MAE
// example's ViT 128-d x 4, blockwise 40 % masking), 1 epoch instead of 3: pretraining must beat
// the same ViT from scratch when fine-tuning on 5000 labels with the same budget.
TEST_SUITE("learning") {
TEST_CASE("BEiT with a k-means tokenizer beats scratch when fine-tuning on 5000 labels (reduced run)") {
  torch::manual_seed(0);
  const auto& [train, test, norm] = fashion_mnist();
  auto km = ssl::tokenizer::fit_kmeans(norm(train.images.narrow(0, 0, 20000)), {.patch = 4, .codes = 256});
  auto beit = ssl::beit::recipe(km, {.encoder = example_vit()});
  ssl::data::Loader loader(train.images, {}, norm, {.batch_size = 256});
  ssl::Trainer trainer(beit, ssl::optim::AdamWOptions{.lr = 1.5e-3, .weight_decay = 0.05}, ssl::schedule::cosine_warmup(0.1));
  const double loss = trainer.fit(loader, {.epochs = 1, .clip_grad_norm = 3.0, .label = "BEiT (reduced)"});
  MESSAGE("BEiT masked-token cross-entropy after 1 epoch: ", loss, " (uniform over 256 codes: ", std::log(256.0), ")");
  CHECK(loss < std::log(256.0) - 1.0);

  const auto [pre, base] = finetune_vs_scratch(beit->backbone());
  MESSAGE("fine-tune accuracy: BEiT-pretrained ", pre, " vs scratch ", base);
  CHECK(pre > base + 0.01);
}
}

// Text: a reduced run of examples 02 + 04 on the fortunes corpus. RoBERTa-style MLM on the
// documents not held out; the held-out MLM accuracy must clear the unigram baseline, and the
// pretrained encoder must fine-tune to a better topic accuracy than the same encoder from
// random initialisation, on the same budget.

TEST_SUITE("learning_text") {
TEST_CASE("RoBERTa-style MLM on fortunes: held-out accuracy above unigram, pretrained beats scratch on topics (reduced run)") {
  const auto& ft = fortunes_text();  // its data path draws from no torch generator
  torch::manual_seed(0);
  const auto& tok = *ft.tok;
  const auto& vocab = tok.vocab();
  const auto &train = ft.train, &held = ft.held;
  const auto &train_ids = ft.train_ids, &held_ids = ft.held_ids;
  const auto& sp = ft.sp;
  const auto &packed = ft.packed, &held_packed = ft.held_packed;
  const int64_t L = FortunesText::L;

  const auto eo = ssl::text::bert_tiny(vocab.size()).max_len(L).norm_first(true).pad_id(vocab.pad_id()).sep_id(vocab.sep_id());
  auto recipe = ssl::bert::recipe(ssl::bert::roberta({.encoder = eo, .masking = ssl::masker::Bert::for_vocab(vocab)}));
  ssl::data::Loader loader(packed.ids, {}, ssl::data::trim_padding(vocab.pad_id()), {.batch_size = 32});
  ssl::Trainer trainer(recipe, ssl::optim::AdamWOptions{.lr = 2e-3, .weight_decay = 0.01, .beta2 = 0.98},
                       ssl::schedule::cosine_warmup(1.0));
  trainer.fit(loader, {.epochs = 3, .clip_grad_norm = 1.0, .label = "RoBERTa-style MLM (reduced)"});
  auto h = ssl::eval::loss_on(recipe, held_packed.ids, {}, ssl::data::trim_padding(vocab.pad_id()));
  auto u = ssl::eval::unigram_baseline(train_ids, held_ids, vocab.size(), vocab.special_ids());
  MESSAGE("held-out MLM accuracy ", h.at("mlm_acc"), " (loss ", h.at("mlm"), ") vs unigram ", u.accuracy, " (",
          u.cross_entropy, ")");
  CHECK(h.at("mlm_acc") > u.accuracy + 0.05);
  CHECK(h.at("mlm") < u.cross_entropy - 0.3);

  // Topics: 5 classes, 400 training documents each, test on the held-out documents.
  const std::vector<std::string> topics = {"computers", "politics", "science", "songs-poems", "work"};
  auto pick = [&](const std::vector<ssl::data::Document>& ds, int64_t per_topic) {
    std::vector<std::vector<int64_t>> ids;
    std::vector<int64_t> labels;
    std::map<int64_t, int64_t> taken;
    for (const auto& d : ds) {
      auto it = std::find(topics.begin(), topics.end(), d.topic);
      const auto l = int64_t(it - topics.begin());
      if (it == topics.end() || (per_topic > 0 && taken[l] >= per_topic)) continue;
      ++taken[l];
      ids.push_back(tok.encode(d.text));
      labels.push_back(l);
    }
    return ssl::data::single(ids, labels, sp, L);
  };
  auto ft_train = pick(train, 400), ft_test = pick(held, 0);
  const ssl::eval::FinetuneOptions fo{.classes = 5, .epochs = 3, .batch = 32, .lr = 3e-4, .weight_decay = 0.01,
                                      .warmup_epochs = 0.0, .head_init_std = 0.02,
                                      .group_by_length_pad = vocab.pad_id(), .label = "fine-tune"};
  const auto tf = ssl::data::trim_padding(vocab.pad_id());
  auto enc = recipe->backbone();
  enc->options.mean_pool(true);
  const double pre = ssl::eval::finetune(enc, ft_train.ids, ft_train.labels, ft_test.ids, ft_test.labels, tf, fo);
  torch::manual_seed(1);
  ssl::text::Encoder scratch(ssl::text::EncoderOptions(eo).mean_pool(true));
  ssl::text::init_bert_weights(*scratch, 0.02, vocab.pad_id());
  const double base = ssl::eval::finetune(scratch, ft_train.ids, ft_train.labels, ft_test.ids, ft_test.labels, tf, fo);
  MESSAGE("topic accuracy (", ft_test.ids.size(0), " held-out documents): pretrained ", pre, " vs scratch ", base);
  CHECK(pre > base + 0.03);
}

TEST_CASE("ELECTRA's discriminator learns to detect replaced tokens on held-out text (reduced run, uniform replacements)") {
  // The discriminator path alone: replacements drawn uniformly from the vocabulary (electra.md's
  // experiment 1), 120 steps of the example's BERT-tiny discriminator. At initialisation the
  // held-out ROC-AUC of its logits is chance (0.5) and its accuracy the all-original prior.
  const auto& ft = fortunes_text();
  torch::manual_seed(0);
  const auto& vocab = ft.tok->vocab();
  const int64_t L = FortunesText::L;
  const auto& packed = ft.packed;
  const auto& held_packed = ft.held_packed;
  const auto eo = ssl::text::bert_tiny(vocab.size()).max_len(L).norm_first(true).embedding_dim(64).pad_id(vocab.pad_id())
                      .sep_id(vocab.sep_id());
  auto recipe = ssl::electra::recipe(
      {.discriminator = eo, .masking = ssl::masker::Bert::for_vocab(vocab, /*dynamic=*/true), .uniform_generator = true});
  const auto tf = ssl::data::trim_padding(vocab.pad_id());
  const auto held_out = held_packed.ids.narrow(0, 0, 512);
  const auto before = ssl::eval::loss_on(recipe, held_out, {}, tf);
  ssl::data::Loader loader(packed.ids, {}, tf, {.batch_size = 32});
  ssl::Trainer trainer(recipe, ssl::optim::AdamWOptions{.lr = 2e-3, .weight_decay = 0.01, .beta2 = 0.98},
                       ssl::schedule::cosine_warmup(0.3));
  trainer.fit(loader, {.epochs = 1, .max_steps = 120, .clip_grad_norm = 1.0, .label = "ELECTRA, uniform replacements (reduced)"});
  const auto after = ssl::eval::loss_on(recipe, held_out, {}, tf);
  MESSAGE("held-out discriminator: AUC ", before.at("disc_auc"), " -> ", after.at("disc_auc"), ", accuracy ",
          before.at("disc_acc"), " -> ", after.at("disc_acc"), " (all-original prior ", after.at("disc_prior"), ")");
  // Measured (AVX-512 host, 1 thread, 2026-12-05): AUC 0.500 -> 0.867; accuracy 0.377 -> 0.862
  // against a prior of 0.860, a margin too thin to check at this budget (the 2-epoch runs of
  // docs/03_text.md reach 1 to 1.2 points above the prior).
  CHECK(before.at("disc_auc") < 0.6);
  CHECK(after.at("disc_auc") > 0.75);
}

// data2vec 2.0 on text: a reduced run of example 02's --method data2vec2 (its BERT-tiny,
// pre-norm, the recipe's defaults: 48 % hidden, 4 masks per sequence, EMA 0.996 -> 1; its
// 1-block decoder), 250 steps of 32 sequences of the fortunes (~100 s on one thread). On 256
// held-out sequences it must show the objective learnt from the visible tokens and without
// collapse, as the image case (test_data2vec.cpp): the decoder beats the best context-blind
// guess, each hidden token's target as the mean target at its position over the sequences, and
// the teacher's targets keep at least half their spread across sequences. On text that guess
// is strong: the targets are mostly a function of the position (their spread across sequences is
// a quarter of their variance at initialisation, and shrinks while training). Measured (AVX-512
// host, 1 thread): loss 65.7 -> 16.7 against the guess's 31.7 -> 20.1, i.e. 0.83x (0.87x after
// 150 steps, too thin a margin); spread 0.248 -> 0.157 (0.63x).
TEST_CASE("data2vec 2.0 on text learns its objective from the visible tokens without collapse, on held-out text (reduced run)") {
  const auto& ft = fortunes_text();
  torch::manual_seed(0);
  const auto& vocab = ft.tok->vocab();
  const auto eo = ssl::text::bert_tiny(vocab.size()).max_len(FortunesText::L).norm_first(true).pad_id(vocab.pad_id())
                      .sep_id(vocab.sep_id());
  auto r = ssl::data2vec2::text_recipe({.encoder = eo, .decoder_layers = 1});  // example 02's
  const auto tf = ssl::data::trim_padding(vocab.pad_id());
  const auto held = tf(ft.held_packed.ids.narrow(0, 0, 256));
  const auto before = ssl_test::data2vec_health(r, held);
  const int64_t steps = 250;
  ssl::data::Loader loader(ft.packed.ids.narrow(0, 0, steps * 32), {}, tf, {.batch_size = 32});
  ssl::Trainer trainer(r, ssl::optim::AdamWOptions{.lr = 2e-3, .weight_decay = 0.01, .beta2 = 0.98}, ssl::schedule::cosine_warmup(0.1));
  trainer.fit(loader, {.epochs = 1, .clip_grad_norm = 1.0, .label = "data2vec 2.0 text (reduced)"});
  const auto after = ssl_test::data2vec_health(r, held);
  MESSAGE("before: loss ", before.loss, ", by position ", before.position_baseline, ", target spread ", before.spread);
  MESSAGE("after:  loss ", after.loss, ", by position ", after.position_baseline, ", target spread ", after.spread);
  CHECK(before.loss > 1.5 * before.position_baseline);  // where the decoder starts (measured 2.1x)
  CHECK(after.loss < 0.9 * after.position_baseline);    // measured 0.83x
  CHECK(after.spread > 0.5 * before.spread);            // measured 0.63x; a collapse goes to 0
}
}

// ---- Joint-embedding methods --------------------------------------------------------------

namespace {
/// What every joint-embedding objective trains for, measured on held-out images with the
/// backbone's pooled features: two augmentations of the same image must be closer (cosine) than
/// augmentations of different images, without collapse. Returns mean cos(positive pairs) minus
/// mean cos(all pairs) over 512 test images, two views drawn by `augment` with a fixed seed.
template <class R, class A>
double view_gap(R& recipe, const A& augment, const torch::Tensor& images) {
  torch::NoGradGuard g;
  auto x = images.to(torch::kFloat32).div(255);
  torch::manual_seed(123);
  ssl::Views v = augment(x);
  recipe->eval();
  namespace F = torch::nn::functional;
  auto a = F::normalize(recipe->encode(v.global[0]).pooled, F::NormalizeFuncOptions().dim(1));
  auto b = F::normalize(recipe->encode(v.global[1]).pooled, F::NormalizeFuncOptions().dim(1));
  recipe->train();
  return ((a * b).sum(1).mean() - a.mm(b.t()).mean()).template item<double>();
}

/// Trains `recipe` for `steps` steps of 256 images (the example's optimiser) and returns the
/// view gap before and after.
template <class R>
std::pair<double, double> gap_before_after(R recipe, int64_t steps, double lr, double wd, const char* label) {
  const auto& [train, test, norm] = fashion_mnist();
  const auto held_out = test.images.narrow(0, 0, 512);
  const auto augment = ssl::augment::TwoViews::simclr(28, 1);
  const double before = view_gap(recipe, augment, held_out);
  auto unit = [](const torch::Tensor& im) { return im.to(torch::kFloat32).div(255); };
  ssl::data::Loader loader(train.images, {}, unit, {.batch_size = 256});
  ssl::Trainer trainer(recipe, ssl::optim::AdamWOptions{.lr = lr, .weight_decay = wd}, ssl::schedule::cosine_warmup(0.1));
  trainer.fit(loader, {.epochs = 1, .max_steps = steps, .label = label});
  const double after = view_gap(recipe, augment, held_out);
  MESSAGE(std::string(label), ": held-out view gap ", before, " at initialisation -> ", after, " after ", steps, " steps");
  return {before, after};
}

ssl::resnet::Encoder example_resnet() {  // the example's backbone: ResNet-18, base width 16, small stem
  return ssl::resnet::Encoder(ssl::resnet::resnet18().channels(1).width(16).small_stem(true).channels_last(true));
}
}  // namespace

TEST_SUITE("learning_joint") {
// Every two-view recipe with the example's configuration, 30 steps of 256 images: on held-out
// images the backbone must have become more invariant to the augmentations than at initialisation
// while still telling images apart (the gap between positive-pair and all-pair cosine grows by a
// margin). k-NN after so few steps is no test: it first drops below the random network's
// (measured: SimCLR 78.8 % -> 78.2 % after 120 steps on a 10k/2k subset) before rising above the
// raw-pixel floor after a few epochs. SimCLR is not in this list: the floor case below trains it
// for a whole epoch and checks its k-NN (docs/04_joint_embedding.md).
TEST_CASE("every two-view recipe learns: held-out views of an image move together (reduced runs)") {
  using namespace ssl;
  constexpr int64_t kSteps = 30;
  constexpr double kMargin = 0.05;
  torch::manual_seed(0);
  // Fashion-MNIST's 28 x 28 grayscale images: each method's views at 28 px, 1 channel.
  {
    auto [b, a] = gap_before_after(
        barlow_twins::recipe(example_resnet(), {.augment = augment::TwoViews::barlow_twins(28, 1), .hidden = 512, .out = 512}),
        kSteps, 2e-3, 1e-4, "Barlow Twins (reduced)");
    CHECK(a > b + kMargin);
  }
  {
    auto [b, a] = gap_before_after(
        vicreg::recipe(example_resnet(), {.augment = augment::TwoViews::vicreg(28, 1), .hidden = 512, .out = 512}), kSteps,
        2e-3, 1e-4, "VICReg (reduced)");
    CHECK(a > b + kMargin);
  }
  {
    auto [b, a] = gap_before_after(
        simsiam::recipe(example_resnet(),
                        {.augment = augment::TwoViews::simsiam(28, 1), .proj_hidden = 512, .out = 512, .pred_hidden = 128}),
        kSteps, 2e-3, 1e-4, "SimSiam (reduced)");
    CHECK(a > b + kMargin);
  }
  {
    auto [b, a] = gap_before_after(
        byol::recipe(example_resnet(), {.augment = augment::TwoViews::byol(28, 1), .hidden = 512, .out = 128}), kSteps, 2e-3,
        1e-4, "BYOL (reduced)");
    CHECK(a > b + kMargin);
  }
  {
    auto [b, a] = gap_before_after(
        mocov3::recipe(example_resnet(),
                       {.augment = augment::TwoViews::mocov3(28, 1), .hidden = 512, .out = 128, .temperature = 0.2}),
        kSteps, 2e-3, 1e-4, "MoCo v3 (reduced)");
    CHECK(a > b + kMargin);
  }
}

// The floor itself on a reduced run: SimCLR with the example's configuration for one epoch (a
// fifth of the default run), evaluated as the example does (k-NN, k = 20, cosine, T = 0.07, on the
// frozen token map of the 60k training images; top-1 on the 10k test images): above the raw-pixel
// k-NN measured here (its measured margin: docs/04_joint_embedding.md). The same network at
// initialisation (seed 0) scores under the floor, so passing takes learning; the test does not
// re-measure that (one more feature extraction of the 60k images).
TEST_CASE("SimCLR's token map beats the raw-pixel k-NN floor after one epoch (reduced run)") {
  using namespace ssl;
  torch::manual_seed(0);
  const auto& [train, test, norm] = fashion_mnist();
  const auto unit = [](const torch::Tensor& im) { return im.to(torch::kFloat32).div(255); };
  const auto knn = [&, &train = train, &test = test](const std::function<torch::Tensor(const torch::Tensor&)>& features) {
    const auto ftr = eval::extract(features, train.images, unit), fte = eval::extract(features, test.images, unit);
    return eval::knn_top1(ftr, train.labels, fte, test.labels);
  };
  auto recipe = simclr::recipe(example_resnet(),
                               {.augment = augment::TwoViews::simclr(28, 1), .hidden = 512, .out = 128, .temperature = 0.2});
  const auto token_map = [&](const torch::Tensor& x) { return recipe->encode(x).tokens.flatten(1); };
  const double raw = knn([](const torch::Tensor& x) { return x.flatten(1); });
  data::Loader loader(train.images, {}, unit, {.batch_size = 256});
  Trainer trainer(recipe, optim::AdamWOptions{.lr = 2e-3, .weight_decay = 1e-4}, schedule::cosine_warmup(0.1));
  trainer.fit(loader, {.epochs = 1, .label = "SimCLR (1 epoch)"});
  recipe->eval();
  const double after = knn(token_map);
  MESSAGE("SimCLR token-map k-NN: ", after, " after 1 epoch; raw pixels ", raw);
  CHECK(after > raw);
}

// DINO's ViT learns more slowly than the ResNets of the other recipes at the start (its
// sharpened, centred teacher targets are near uniform for the first hundreds of steps):
// more steps and a smaller margin, measured on this machine (0.025 -> 0.034 after 60 steps,
// 0.042 -> 0.077 after 150; the ResNet recipes: +0.13 to +0.19 after 60).
TEST_CASE("DINO with a ViT learns: held-out views of an image move together (reduced run)") {
  using namespace ssl;
  torch::manual_seed(0);
  dino::Options o;
  o.head = heads::DINOHeadOptions().hidden_dim(512).bottleneck_dim(128).output_dim(1024);
  o.loss = loss::DINOLossOptions(1024).warmup_teacher_temp(0.04).teacher_temp(0.04).warmup_teacher_temp_epochs(0);
  o.augment = augment::MultiCrop::dino({.global_size = 28, .local_size = 12, .n_local = 4, .channels = 1});
  auto vit = vit::Encoder(vit::Options{}.image(28).patch(4).channels(1).dim(64).depth(4).heads(4).learned_pos(true));
  auto [b, a] = gap_before_after(dino::recipe(vit, o), 150, 1e-3, 0.04, "DINO ViT (reduced)");
  CHECK(a > b + 0.02);
}
}

}  // namespace test_learning
