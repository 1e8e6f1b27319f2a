// Learning outcome on a reduced run of the example's protocol: after MAE pretraining, fine-tuning
// on few labels beats the same ViT fine-tuned from scratch with the same budget.
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
