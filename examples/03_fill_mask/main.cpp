// 03 — Fill-mask: what a masked language model learned. Loads a BERT or RoBERTa-style model
// pretrained by example 02, or a Hugging Face BertForMaskedLM / RobertaForMaskedLM directory
// (config.json, model.safetensors and its tokenizer files), and prints, for sentences with
// [MASK], the five most likely tokens and their probabilities (the article's lab 1, part A).
//
//   02_text_pretrain --method bert --out out/bert && 03_fill_mask --model out/bert
//   03_fill_mask --model bert-base-uncased/   (a directory saved by transformers' save_pretrained)
#include "../common/checks.hpp"
#include "../common/guard.hpp"
#include "../common/hf_text.hpp"
#include "../common/text_common.hpp"

#include <ssl/io/hf_checkpoint.hpp>
#include <ssl/ssl.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <functional>
#include <optional>

namespace {
/// What fill-mask needs of a tokenizer: the ids of a sentence (its `[MASK]` included), the mask
/// id, and a token's text.
struct MaskTokenizer {
  std::function<std::vector<int64_t>(const std::string&)> encode;
  int64_t mask_id = -1;
  std::function<std::string(int64_t)> token;
  ssl::masker::Bert masking;  ///< the recipe's masker (unused by fill-mask, required by the recipe)
};

/// The tokenizer of a Hugging Face directory: WordPiece (BERT: tokenizer.json, or vocab.txt with
/// tokenizer_config.json's do_lower_case) or byte-level BPE (RoBERTa: tokenizer.json, or
/// vocab.json + merges.txt, with the hub's `<mask>` that takes the space before it). `[MASK]` in
/// a sentence is the model's mask token.
MaskTokenizer hf_tokenizer(const std::filesystem::path& dir, ssl::io::hf::Arch arch, int64_t max_len) {
  MaskTokenizer t;
  auto fits = [max_len, dir](std::vector<int64_t> ids) {
    TORCH_CHECK(int64_t(ids.size()) <= max_len, "03_fill_mask: a sentence has ", ids.size(), " tokens, more than the ",
                max_len, " positions of the model in ", dir.string());
    return ids;
  };
  if (arch == ssl::io::hf::Arch::bert_mlm) {
    auto wp = std::make_shared<ssl::text::WordPiece>(ex::hf_wordpiece(dir));
    t.encode = [wp, fits](const std::string& s) { return fits(wp->encode_with_specials(s)); };
    t.mask_id = wp->vocab().mask_id();
    t.token = [wp](int64_t id) { return wp->vocab().token(id); };
    t.masking = ssl::masker::Bert::for_vocab(wp->vocab());
    return t;
  }
  auto bpe = std::make_shared<ssl::text::ByteLevelBPE>(ex::hf_bpe(dir));
  t.encode = [bpe, fits](std::string s) {
    for (size_t at; (at = s.find("[MASK]")) != std::string::npos;) s.replace(at, 6, "<mask>");
    return fits(bpe->encode(s));
  };
  t.mask_id = bpe->id("<mask>");
  t.token = [bpe](int64_t id) { return bpe->decode({id}); };
  t.masking = ssl::masker::Bert{.vocab_size = bpe->size(), .mask_id = t.mask_id, .special_ids = bpe->special_ids()};
  return t;
}
}  // namespace

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
  app.add_option("--model", model,
                 "model folder written by 02_text_pretrain (--method bert or roberta), or a Hugging Face "
                 "BertForMaskedLM / RobertaForMaskedLM directory with its tokenizer files");
  app.add_option("--out", out, "output folder for metrics.json (default <model>/fill_mask)");
  app.add_option("--threads", threads, "CPU threads")->check(ex::at_least(1));
  app.add_option("--sentence", sentences, "sentences with [MASK] (replace the defaults)");
  CLI11_PARSE(app, argc, argv);
  if (out.empty()) out = model + "/fill_mask";
  return ex::guarded([&] {
    std::setvbuf(stdout, nullptr, _IOLBF, 0);
    at::set_num_threads(threads);
    const auto t0 = std::chrono::steady_clock::now();
    // The model (a recipe with its MLM head) and its tokenizer, from either kind of folder.
    namespace hf = ssl::io::hf;
    std::string method;
    std::optional<ssl::text::EncoderOptions> eo;  // the model's architecture, from its config
    MaskTokenizer tok;
    bool next_sentence = false;
    const bool from_hf = ex::is_hf_dir(model);
    if (from_hf) {
      const auto hc = hf::read_config(model);
      const auto arch = hf::arch_of(hc);
      TORCH_CHECK(arch == hf::Arch::bert_mlm || arch == hf::Arch::roberta_mlm, "03_fill_mask: expected a ",
                  "BertForMaskedLM or RobertaForMaskedLM directory, got ", hf::architecture_name(arch), " in ", model);
      method = hf::model_type_name(arch);
      eo = hf::text_options(hc);
      tok = hf_tokenizer(model, arch, eo->max_len() - (eo->padding_positions() ? eo->pad_id() + 1 : 0));
    } else {
      auto cfg = ex::ModelConfig::load(model);
      TORCH_CHECK(cfg.method == "bert" || cfg.method == "roberta", "03_fill_mask: expected a masked language model ",
                  "(method bert or roberta), got a '", cfg.method, "' model in ", model);
      method = cfg.method;
      next_sentence = cfg.next_sentence;
      if (cfg.tokenizer == "bpe") {  // continued from a Hugging Face RoBERTa by 02: its byte-level BPE
        const auto t = ex::folder_tokenizer(model, cfg);
        eo = ex::encoder_options(cfg, t.size, t.pad, t.sep);
        tok = hf_tokenizer(model, hf::Arch::roberta_mlm, cfg.max_len);
      } else {
        auto wp = std::make_shared<ssl::text::WordPiece>(ex::tokenizer(model));
        eo = ex::encoder_options(cfg, wp->vocab());
        tok = {.encode = [wp, n = cfg.max_len](const std::string& s) { return wp->encode_with_specials(s, n); },
               .mask_id = wp->vocab().mask_id(),
               .token = [wp](int64_t id) { return wp->vocab().token(id); },
               .masking = ssl::masker::Bert::for_vocab(wp->vocab())};
      }
    }
    auto recipe = ssl::bert::recipe({.encoder = *eo, .masking = tok.masking, .next_sentence = next_sentence});
    if (from_hf) hf::load_into(*recipe, model);
    else ssl::io::load_into(*recipe, ssl::io::load_safetensors(model + "/model.safetensors"), /*strict=*/true, model);
    ex::json results = ex::json::array();
    for (const auto& s : sentences) {
      auto ids = tok.encode(s);
      std::printf("\n%s\n", s.c_str());
      auto top = ssl::bert::fill_mask(recipe, torch::tensor(ids, torch::kInt64), tok.mask_id, 5);
      ex::json masks = ex::json::array();
      for (size_t m = 0; m < top.size(); ++m) {
        ex::json cands = ex::json::array();
        if (top.size() > 1) std::printf("  [MASK] #%zu\n", m + 1);
        for (size_t r = 0; r < top[m].size(); ++r) {
          const auto& [id, p] = top[m][r];
          const auto text = tok.token(id);
          std::printf("  %zu. %-14s %.4f\n", r + 1, text.c_str(), p);
          cands.push_back({{"token", text}, {"id", id}, {"probability", p}});
        }
        masks.push_back(cands);
      }
      results.push_back({{"sentence", s}, {"top5", masks}});
    }
    std::filesystem::create_directories(out);
    ex::write_json(std::filesystem::path(out) / "metrics.json",
                   {{"model", model}, {"method", method}, {"fill_mask", results}, {"seconds", ex::seconds_since(t0)}});
    std::printf("\nwrote %s/metrics.json\n", out.c_str());
    return 0;
  });
}
