// Learning outcomes on reduced runs of the examples' protocols: after pretraining (MAE on
// Fashion-MNIST, RoBERTa-style MLM on fortunes), fine-tuning on few labels beats the same model
// fine-tuned from scratch with the same budget.
#include <doctest/doctest.h>
#include <ssl/ssl.hpp>

TEST_SUITE("learning") {
TEST_CASE("MAE pretraining beats scratch when fine-tuning on 5000 labels (reduced run)") {
  torch::manual_seed(0);
  auto train = ssl::data::fashion_mnist("train");
  auto test = ssl::data::fashion_mnist("test");
  auto norm = ssl::data::normalize(0.2860, 0.3530);
  ssl::mae::Options o;  // the example's model: ViT 128-d x 4 blocks, patch 4, decoder 64-d x 2
  auto mae = ssl::mae::recipe(o);
  ssl::data::Loader loader(train.images, {}, norm, {.batch_size = 256});
  ssl::Trainer trainer(mae, ssl::optim::AdamWOptions{.lr = 1.5e-3, .weight_decay = 0.05, .beta2 = 0.95},
                       ssl::schedule::cosine_warmup(0.5));
  const double loss = trainer.fit(loader, {.epochs = 2, .clip_grad_norm = 1.0, .label = "MAE (reduced)"});
  MESSAGE("MAE loss after 2 epochs on 60k images: ", loss);
  CHECK(loss < 0.6);  // normalised-pixel MSE starts near 1

  const auto labelled = train.images.narrow(0, 0, 5000), labels = train.labels.narrow(0, 0, 5000);
  const auto ti = test.images.narrow(0, 0, 5000), tl = test.labels.narrow(0, 0, 5000);
  ssl::eval::FinetuneOptions fo{.epochs = 4, .lr = 1e-3, .seed = 1};
  auto enc = mae->backbone();
  enc->options.mean_pool(true);
  fo.layer_decay = 0.75;
  fo.label = "fine-tune (pretrained)";
  const double pre = ssl::eval::finetune(enc, labelled, labels, ti, tl, norm, fo);
  torch::manual_seed(1);
  ssl::vit::Encoder scratch(o.encoder);
  scratch->options.mean_pool(true);
  fo.layer_decay = 1.0;
  fo.label = "fine-tune (scratch)";
  const double base = ssl::eval::finetune(scratch, labelled, labels, ti, tl, norm, fo);
  MESSAGE("fine-tune accuracy: pretrained ", pre, " vs scratch ", base);
  CHECK(pre > base + 0.01);
}
}

// Text: a reduced run of examples 02 + 04 on the fortunes corpus. RoBERTa-style MLM on the
// documents not held out; the held-out MLM accuracy must clear the unigram baseline, and the
// pretrained encoder must fine-tune to a better topic accuracy than the same encoder from
// random initialisation, on the same budget.

TEST_SUITE("learning") {
TEST_CASE("RoBERTa-style MLM on fortunes: held-out accuracy above unigram, pretrained beats scratch on topics (reduced run)") {
  torch::manual_seed(0);
  auto docs = ssl::data::read_fortunes();
  auto perm = torch::randperm(int64_t(docs.size()), at::make_generator<at::CPUGeneratorImpl>(0), torch::kInt64);
  std::vector<ssl::data::Document> train, held;
  for (int64_t i = 0; i < perm.size(0); ++i) (i < perm.size(0) / 10 ? held : train).push_back(docs[size_t(perm[i].item<int64_t>())]);
  std::vector<std::string> texts;
  for (const auto& d : train) texts.push_back(d.text);
  ssl::text::WordPiece tok(ssl::text::train_wordpiece(texts, {.vocab_size = 4000}));
  const auto& vocab = tok.vocab();
  auto encode = [&](const std::vector<ssl::data::Document>& ds) {
    std::vector<std::vector<int64_t>> out;
    for (const auto& d : ds) out.push_back(tok.encode(d.text));
    return out;
  };
  const auto train_ids = encode(train), held_ids = encode(held);
  const ssl::data::TextSpecials sp{.cls = vocab.cls_id(), .sep = vocab.sep_id(), .pad = vocab.pad_id()};
  const int64_t L = 64;
  auto packed = ssl::data::pack(train_ids, sp, L), held_packed = ssl::data::pack(held_ids, sp, L);

  const auto eo = ssl::text::bert_tiny(vocab.size()).max_len(L).norm_first(true).pad_id(vocab.pad_id()).sep_id(vocab.sep_id());
  auto recipe = ssl::bert::recipe(ssl::bert::roberta({.encoder = eo, .masking = ssl::masker::Bert::for_vocab(vocab)}));
  ssl::data::Loader loader(packed.ids, {}, ssl::data::trim_padding(vocab.pad_id()), {.batch_size = 32});
  ssl::Trainer trainer(recipe, ssl::optim::AdamWOptions{.lr = 2e-3, .weight_decay = 0.01, .beta2 = 0.98},
                       ssl::schedule::cosine_warmup(1.0));
  trainer.fit(loader, {.epochs = 6, .clip_grad_norm = 1.0, .label = "RoBERTa-style MLM (reduced)"});
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
}
