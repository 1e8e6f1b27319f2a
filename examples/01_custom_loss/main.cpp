// 01 — A custom objective by swapping one piece: MAE with a masked smooth-L1 loss instead of
// MSE, written here, outside the library, and composed with the library's other parts. The
// trainer, the masker, the ViT and the decoder are untouched.
#include "../common/datasets.hpp"

#include <ssl/data/idx.hpp>
#include <ssl/dist/c10d.hpp>
#include <ssl/mae.hpp>

#include <cstdio>

// A Loss: `LossOutput operator()(const Prediction&, const std::vector<Tensor>& targets)`.
struct MaskedSmoothL1 {
  double beta = 0.5;
  ssl::LossOutput operator()(const ssl::Prediction& pred, const std::vector<torch::Tensor>& target) const {
    auto per_patch = torch::smooth_l1_loss(pred.views[0], target[0], at::Reduction::None, beta).mean(-1);
    auto m = pred.masked[0].mask.to(per_patch.dtype());
    auto loss = (per_patch * m).sum() / m.sum();
    return {loss, {{"smooth_l1", loss.detach()}}};
  }
};
static_assert(ssl::Loss<MaskedSmoothL1>);

// The MAE composition with the loss swapped: one line differs from ssl::mae::Recipe.
using MyRecipe = ssl::Compose<ssl::vit::Encoder, ssl::masker::RandomPatches, ssl::augment::Identity,
                              ssl::target::Pixels, MaskedSmoothL1, ssl::teacher::None, ssl::heads::MaeDecoder>;

int main(int argc, char** argv) {
  at::set_num_threads(2);
  torch::manual_seed(0);
  ssl::dist::Session session;  // torchrun's environment: data-parallel; none: one process
  const int64_t images = argc > 1 ? std::atoll(argv[1]) : 4096;
  auto enc = ssl::vit::Options{}.image(28).patch(4).channels(1).dim(64).depth(2).heads(4);
  MyRecipe recipe(MyRecipe::Impl::PartsType{
      .backbone = ssl::vit::Encoder(enc),
      .masker = {.patch = 4, .ratio = 0.75},
      .augment = {},
      .target = {.patch = 4, .norm_pix = true},
      .loss = {.beta = 0.5},
      .teacher_update = {},
      .head = ssl::heads::MaeDecoder(ssl::heads::MaeDecoderOptions(enc).dim(32).depth(1).heads(4)),
  });
  auto train = ssl::data::fashion_mnist("train", ex::fashion_mnist_dir());
  ssl::data::Loader loader(train.images.narrow(0, 0, images), {}, ssl::data::normalize(0.2860, 0.3530),
                           {.batch_size = 128});
  ssl::Trainer trainer(recipe, ssl::optim::AdamWOptions{.lr = 1e-3, .beta2 = 0.95}, ssl::schedule::cosine_warmup(0.2));
  auto probe = loader.make(loader.order(0), 0);
  auto loss_on_probe = [&] {
    torch::NoGradGuard g;
    torch::manual_seed(1);  // the same masks before and after
    return recipe->forward(probe).loss.item<double>();
  };
  const double before = loss_on_probe();
  trainer.fit(loader, {.epochs = 2, .label = "MAE + smooth-L1"});
  const double after = loss_on_probe();
  std::printf("masked smooth-L1 on a fixed batch: %.4f before training, %.4f after 2 epochs\n", before, after);
  return after < 0.9 * before ? 0 : 1;
}
