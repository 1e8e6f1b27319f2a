// 01 — A custom objective by swapping one piece: MAE with a masked smooth-L1 loss instead of
// MSE, written here, outside the library, and composed with the library's other parts. The
// trainer, the masker, the ViT and the decoder are untouched.
#include "../common/datasets.hpp"

#include <ssl/data/idx.hpp>
#include <ssl/dist/c10d.hpp>
#include <ssl/mae.hpp>

#include <cstdio>

// A Loss scores one kind of target: MAE's target, `ssl::target::Pixels`, gives `ssl::PixelPatches`
// (each view's patches), so this loss takes `const ssl::PixelPatches&`. Paired with a target that
// gives something else, the recipe does not compile (ssl::LossAccepts).
struct MaskedSmoothL1 {
  double beta = 0.5;
  ssl::LossOutput operator()(const ssl::Prediction& pred, const ssl::PixelPatches& target) const {
    auto per_patch = torch::smooth_l1_loss(pred.views[0], target.views[0], at::Reduction::None, beta).mean(-1);
    auto m = pred.masked[0].mask.to(per_patch.dtype());
    auto loss = (per_patch * m).sum() / m.sum();
    return {loss, {{"smooth_l1", loss.detach()}}};
  }
};
static_assert(ssl::LossAccepts<MaskedSmoothL1, ssl::target::Pixels>);

int main(int argc, char** argv) {  // LibTorch's threads: the machine's cores, or OMP_NUM_THREADS
  torch::manual_seed(0);
  ssl::dist::Session session;  // torchrun's environment: data-parallel; none: one process
  const int64_t images = argc > 1 ? std::atoll(argv[1]) : 4096;
  const ssl::mae::Options mae{.encoder = ssl::vit::Options{}.image(28).patch(4).channels(1).dim(64).depth(2).heads(4),
                              .decoder_dim = 32,
                              .decoder_depth = 1};
  // MAE with its loss swapped: the one line that differs from `auto recipe = ssl::mae::recipe(mae);`.
  auto recipe = ssl::mae::recipe(mae).replace<ssl::slot::loss>(MaskedSmoothL1{.beta = 0.5});
  static_assert(std::same_as<decltype(recipe), ssl::mae::Recipe::with_loss<MaskedSmoothL1>>);
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
