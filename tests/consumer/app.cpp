#include <ssl/mae.hpp>

#include <cstdio>

int main() {
  at::set_num_threads(1);
  torch::manual_seed(0);
  ssl::mae::Options o;
  o.encoder = ssl::vit::Options{}.image(8).patch(4).channels(1).dim(16).depth(1).heads(2);
  o.decoder_dim = 8;
  o.decoder_depth = 1;
  o.decoder_heads = 2;
  auto mae = ssl::mae::recipe(o);
  auto out = mae->forward(ssl::Batch{.input = torch::randn({2, 1, 8, 8})});
  out.loss.backward();
  std::printf("consumer ok: loss %.4f\n", out.loss.item<double>());
  return std::isfinite(out.loss.item<double>()) ? 0 : 1;
}
