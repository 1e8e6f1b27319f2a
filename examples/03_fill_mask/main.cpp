// 03 — Fill-mask: what a masked language model learned. Loads a BERT or RoBERTa-style model
// pretrained by example 02 and prints, for sentences with [MASK], the five most likely tokens
// and their probabilities (the article's lab 1, part A, on our own model).
//
//   02_text_pretrain --method bert --out out/bert && 03_fill_mask --model out/bert
#include "../common/checks.hpp"
#include "../common/guard.hpp"
#include "../common/text_common.hpp"

#include <ssl/ssl.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>

int main(int argc, char** argv) {
  std::string model = "out/bert", out;
  int threads = 2;
  std::vector<std::string> sentences = {
      // the article's sentences
      "The capital of France is [MASK].",
      "Artificial [MASK] is transforming every industry.",
      "The cat sat on the [MASK].",
      "Self-supervised learning uses [MASK] data for pre-training.",
      // and some in the corpus's own voice
      "A bird in the hand is worth two in the [MASK].",
      "Never put off until tomorrow what you can do [MASK].",
      "The [MASK] crashed and I lost all my files.",
      "Love is [MASK].",
  };
  CLI::App app{"libssl 03: fill-mask with a BERT / RoBERTa-style model from example 02"};
  app.option_defaults()->always_capture_default();  // --help shows every option's default
  app.add_option("--model", model, "model folder written by 02_text_pretrain (--method bert or roberta)");
  app.add_option("--out", out, "output folder for metrics.json (default <model>/fill_mask)");
  app.add_option("--threads", threads, "CPU threads")->check(ex::at_least(1));
  app.add_option("--sentence", sentences, "sentences with [MASK] (replace the defaults)");
  CLI11_PARSE(app, argc, argv);
  if (out.empty()) out = model + "/fill_mask";
  return ex::guarded([&] {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    at::set_num_threads(threads);
    const auto t0 = std::chrono::steady_clock::now();
    auto cfg = ex::ModelConfig::load(model);
    TORCH_CHECK(cfg.method == "bert" || cfg.method == "roberta", "03_fill_mask: expected a masked language model ",
                "(method bert or roberta), got a '", cfg.method, "' model in ", model);
    auto tok = ex::tokenizer(model);
    const auto& vocab = tok.vocab();
    auto recipe = ssl::bert::recipe({.encoder = ex::encoder_options(cfg, vocab),
                                     .masking = ssl::masker::Bert::for_vocab(vocab),
                                     .next_sentence = cfg.next_sentence});
    ssl::io::load_into(*recipe, ssl::io::load_safetensors(model + "/model.safetensors"), /*strict=*/true, model);
    ex::json results = ex::json::array();
    for (const auto& s : sentences) {
      auto ids = tok.encode_with_specials(s, cfg.max_len);
      std::printf("\n%s\n", s.c_str());
      auto top = ssl::bert::fill_mask(recipe, torch::tensor(ids, torch::kInt64), vocab.mask_id(), 5);
      ex::json masks = ex::json::array();
      for (size_t m = 0; m < top.size(); ++m) {
        ex::json cands = ex::json::array();
        if (top.size() > 1) std::printf("  [MASK] #%zu\n", m + 1);
        for (size_t r = 0; r < top[m].size(); ++r) {
          const auto& [id, p] = top[m][r];
          std::printf("  %zu. %-14s %.4f\n", r + 1, vocab.token(id).c_str(), p);
          cands.push_back({{"token", vocab.token(id)}, {"probability", p}});
        }
        masks.push_back(cands);
      }
      results.push_back({{"sentence", s}, {"top5", masks}});
    }
    std::filesystem::create_directories(out);
    ex::write_json(std::filesystem::path(out) / "metrics.json",
                   {{"model", model}, {"method", cfg.method}, {"fill_mask", results}, {"seconds", ex::seconds_since(t0)}});
    std::printf("\nwrote %s/metrics.json\n", out.c_str());
    return 0;
  });
}
