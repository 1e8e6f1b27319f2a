// 04 — Pretraining -> fine-tuning (the article's lab 1, part B, on our own model and corpus):
// topic classification of fortunes (5 topics, 2000 training documents, 3 epochs, lr 2e-5, batch
// 32, weight decay 0.01) with the encoder pretrained by example 02 against the same encoder
// from random initialisation, both evaluated on documents never seen in pretraining; then an
// inference demo printing each topic's probability for new sentences.
//
// With --corpus (the corpus 02 pretrained on, read the same way), the documents and their labels
// come from your files: the JSON Lines field --label-field, or else each document's file (a
// folder of one file per class); the test documents are the corpus's last --heldout fraction, as
// in 02, and the classes every label found unless --topics names some.
//
// --model also takes a Hugging Face directory (BertForMaskedLM, BertModel, RobertaForMaskedLM,
// ElectraForPreTraining / ElectraForMaskedLM, GPT2LMHeadModel: config.json, the weights and the
// tokenizer files): the encoder from its config and weights (a head it has is not used; a pooler
// it lacks is new), the tokenizer from its files (WordPiece, or RoBERTa's or GPT-2's byte-level
// BPE); its held-out split is --heldout / --split-seed (02's defaults: 0.1, seed 0).
//
// A GPT reads each document left to right; its classifier reads the mean of the token states
// (--pool mean, the default) or, with --pool cls, the last token's state, as transformers'
// GPT2ForSequenceClassification. GPT-2's tokenizer has no padding id: documents are padded with
// <|endoftext|> (the usual `pad_token = eos_token`), which both poolings skip.
//
//   02_text_pretrain --method bert --out out/bert && 04_text_finetune --model out/bert
//   04_text_finetune --model out/wiki --corpus reviews.jsonl --label-field stars
//   04_text_finetune --model bert-base-uncased/ --split-seed 0
#include "../common/cli.hpp"
#include "../common/dist.hpp"
#include "../common/guard.hpp"
#include "../common/hf_text.hpp"
#include "../common/text_common.hpp"

#include <ssl/data/corpus.hpp>
#include <ssl/io/hf_checkpoint.hpp>
#include <ssl/ssl.hpp>

#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>

namespace {
struct Args : ex::RunArgs, ex::CorpusArgs {
  Args() : ex::RunArgs{.epochs = 3, .batch = 32, .lr = 3e-4} {}  // out: default <model>/finetune
  std::string model = "out/bert";
  std::vector<std::string> topics = {"computers", "politics", "science", "songs-poems", "work"};
  bool topics_given = false;
  std::string label_field;
  int64_t per_topic = 400;
  double heldout = 0.1;  ///< a Hugging Face --model's held-out split (02's folders carry theirs)
  int64_t split_seed = 0;
  double weight_decay = 0.01;
  std::string pool = "mean";
  bool probe = false;  ///< --probe: also a linear probe and k-NN of the frozen encoders' features
  std::vector<std::string> demo = {
      "My program compiles, but the computer crashes whenever I run it on the new disk.",
      "The senator promised lower taxes to win the votes of the people before the election.",
      "The physicist measured the energy of the electron in the laboratory experiment.",
      "Oh my darling, sing with me a song of love beneath the silver moon tonight.",
      "My boss wants the report on his desk by Monday morning, or I lose my job.",
  };
};

/// The command line of this example into `a`.
void add_options(CLI::App& app, Args& a) {
  app.add_option("--model", a.model,
                 "model folder written by 02_text_pretrain, or a Hugging Face directory (BertForMaskedLM, BertModel, "
                 "RobertaForMaskedLM, ElectraForPreTraining / ElectraForMaskedLM, with its tokenizer files)");
  auto* heldout = app.add_option("--heldout", a.heldout,
                                 "Hugging Face --model: fraction of the documents held out as the test set (02's folders: theirs)")
                      ->check(ex::in_range(0, 1, true, true));
  auto* split_seed = app.add_option("--split-seed", a.split_seed,
                                    "Hugging Face --model: seed of the held-out split (as 02's --split-seed; 02's folders: theirs)")
                         ->check(ex::at_least(0));
  ex::add_run_options(app, a, {.out = "output folder for metrics.json (default <model>/finetune)", .epochs = "fine-tuning epochs"});
  auto* topics = app.add_option("--topics", a.topics,
                                "topics to classify, at least 2 (fortune files; with --corpus: labels, default all)");
  ex::add_corpus_options(app, a, "the corpus 02 pretrained on: a text file, a folder of them, or JSON Lines (default: the fortunes)",
                         /*fortunes=*/false);
  app.add_option("--label-field", a.label_field,
                 "JSON Lines field holding each document's label (default: the document's file is its label)");
  app.add_option("--per-topic", a.per_topic, "training documents per topic")->check(ex::at_least(1));
  app.add_flag("--probe", a.probe,
               "also read the frozen encoders' sentence features (what the classifier pools, without the pooler), "
               "pretrained and random-init, with a linear probe and a 20-NN vote: features apart from fine-tuning");
  app.add_option("--pool", a.pool,
                 "sentence feature: cls (first token, + pooler; a GPT: its last token) | mean (of the tokens, + pooler)")
      ->check(CLI::IsMember({"cls", "mean"}));
  app.add_option("--demo", a.demo, "sentences for the inference demo");
  app.final_callback([&a, topics, heldout, split_seed] {
    a.topics_given = topics->count() > 0;
    if (a.out.empty()) a.out = a.model + "/finetune";
    if (!ex::is_hf_dir(a.model))
      for (auto* o : {heldout, split_seed})
        if (o->count())
          throw CLI::ValidationError(o->get_name(), "only for a Hugging Face --model; '" + a.model +
                                                        "' is not one (02's model folders keep their own split)");
  });
}

}  // namespace

int run(Args a) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  at::set_num_threads(a.threads);
  const auto session = ex::join(a.dist);  // data-parallel fine-tuning; process 0 reports
  const auto t0 = std::chrono::steady_clock::now();
  // The model's encoder options, tokenizer and held-out split: from a model folder of 02, or from
  // a Hugging Face directory (config.json, tokenizer files; the split from --heldout / --split-seed).
  namespace hf = ssl::io::hf;
  const bool from_hf = ex::is_hf_dir(a.model);
  ssl::text::EncoderOptions eo(1, 1, 1, 1);
  ex::SequenceTokenizer tok;
  std::string method;
  double heldout = a.heldout;
  uint64_t split_seed = uint64_t(a.split_seed);
  int64_t max_len = 0;
  if (from_hf) {
    const auto hc = hf::read_config(a.model);
    const auto arch = hf::arch_of(hc);
    TORCH_CHECK(hf::is_text(arch), "04_text_finetune: expected a Hugging Face BERT, RoBERTa, ELECTRA or GPT-2 ",
                "directory, got ", hf::architecture_name(arch), " in ", a.model);
    // A bidirectional encoder's classifier reads the pooler (new where the checkpoint has none);
    // GPT-2 has none (the mean of its tokens, or its last token with --pool cls).
    eo = hf::text_options(hc).pooler(arch != hf::Arch::gpt2_lm);
    tok = ex::hf_sequence_tokenizer(a.model, arch, eo.pad_id());
    TORCH_CHECK(tok.size <= eo.vocab(), "04_text_finetune: ", a.model, ": the tokenizer has ", tok.size,
                " ids, more than config.json's vocab_size ", eo.vocab());
    max_len = eo.max_len() - (eo.padding_positions() ? eo.pad_id() + 1 : 0);  // RoBERTa's positions start after pad
    method = hf::architecture_name(arch);
  } else {
    const auto cfg = ex::ModelConfig::load(a.model);
    tok = ex::folder_tokenizer(a.model, cfg);  // its vocab.txt, or the BPE of a RoBERTa / GPT-2 02 continued
    eo = ex::encoder_options(cfg, tok.size, tok.pad, tok.sep);
    method = cfg.method, heldout = cfg.heldout, split_seed = cfg.split_seed, max_len = cfg.max_len;
  }
  if (tok.pad < 0) {  // GPT-2's BPE: padded with <|endoftext|>, which pooling and attention then skip
    tok.pad = tok.sep;
    eo.pad_id(tok.sep);
  }
  const auto sp = ex::specials(method, tok);  // a folder's method, or a Hugging Face architecture name

  // The same split as pretraining: test documents were never seen by the pretrained model.
  ex::Split parts;
  if (a.corpus.empty()) {
    parts = ex::split(ssl::data::read_fortunes(ex::fortunes_dir()), heldout, split_seed);
  } else {
    // 02 holds out the corpus's last documents (its token store keeps the corpus order).
    auto docs = ssl::data::read_corpus(
        a.corpus, {.format = ssl::data::parse_corpus_format(a.format), .field = a.field, .label_field = a.label_field});
    const auto n_train = docs.size() - size_t(double(docs.size()) * heldout);
    parts.train.assign(docs.begin(), docs.begin() + long(n_train));
    parts.heldout.assign(docs.begin() + long(n_train), docs.end());
    if (!a.topics_given) a.topics = ssl::data::topics(docs);
  }
  TORCH_CHECK(a.topics.size() >= 2, "04_text_finetune: expected at least 2 topics, got ", a.topics.size());
  std::map<std::string, int64_t> label_of;
  for (size_t i = 0; i < a.topics.size(); ++i) label_of[a.topics[i]] = int64_t(i);
  auto pick = [&](const std::vector<ssl::data::Document>& docs, int64_t per_topic) {
    std::vector<std::vector<int64_t>> ids;
    std::vector<int64_t> labels;
    std::map<int64_t, int64_t> taken;
    for (const auto& d : docs) {
      auto it = label_of.find(d.topic);
      if (it == label_of.end() || (per_topic > 0 && taken[it->second] >= per_topic)) continue;
      ++taken[it->second];
      ids.push_back(tok.encode(d.text));
      labels.push_back(it->second);
    }
    for (const auto& [l, n] : label_of)
      TORCH_CHECK(taken[n] > 0, "04_text_finetune: no document of topic '", l, "' in ",
                  a.corpus.empty() ? ex::fortunes_dir().string() : a.corpus);
    return ssl::data::single(ids, labels, sp, max_len);
  };
  auto train = pick(parts.train, a.per_topic);  // documents come in a seeded random order
  auto test = pick(parts.heldout, 0);
  std::printf("topic classification: %zu topics, %lld training and %lld test documents (test never pretrained on)\n",
              a.topics.size(), (long long)train.ids.size(0), (long long)test.ids.size(0));

  eo.mean_pool(a.pool == "mean");
  // What the classifier (and --probe) reads: the encoder's own pooling rule.
  const std::string pooled_from = ssl::text::to_string(eo.pooling());
  const ssl::eval::FinetuneOptions fo{.classes = int64_t(a.topics.size()), .epochs = a.epochs, .batch = a.batch,
                                      .lr = a.lr, .weight_decay = a.weight_decay, .warmup_epochs = 0.0,
                                      .clip_grad_norm = 1.0, .head_init_std = 0.02,
                                      .group_by_length_pad = sp.pad, .seed = a.seed};
  const auto transform = ssl::data::trim_padding(sp.pad);
  auto fresh = [&] {
    ssl::train::seed_everything(a.seed);
    ssl::text::Encoder enc(eo);
    if (eo.causal()) ssl::text::init_gpt2_weights(*enc, eo.depth());
    else ssl::text::init_bert_weights(*enc, 0.02, eo.pad_id());
    return enc;
  };
  auto pretrained = fresh();
  if (from_hf) {
    const bool pooler = hf::load_encoder(*pretrained, a.model);
    std::printf("encoder: %s from %s (%lld x %lld, %lld heads, MLP %lld, eps %g; %s)\n", method.c_str(),
                a.model.c_str(), (long long)eo.depth(), (long long)eo.dim(), (long long)eo.heads(),
                (long long)eo.mlp_hidden(), eo.eps(),
                !eo.pooler() ? ("no pooler: the classifier reads " + pooled_from).c_str()
                : pooler     ? "pooler from the checkpoint"
                             : "pooler new: the checkpoint has none");
  } else {
    ssl::io::load_into(*pretrained, ssl::io::load_safetensors(a.model + "/encoder.safetensors"), /*strict=*/true, a.model);
  }

  // --probe: the frozen encoders' sentence features, without the pooler (new for most checkpoints):
  // the feature the classifier pools (`pool_tokens`: the mean of the non-padding tokens' states,
  // the first token's or, for a GPT with --pool cls, the last non-padding token's). The
  // pretrained encoder's are taken before it is fine-tuned
  // (no random numbers drawn); the probes run after both fine-tunings, so that --probe leaves
  // their results as they are without it.
  auto features = [&](ssl::text::Encoder& enc, const torch::Tensor& ids) {
    const bool was_training = enc->is_training();
    enc->eval();
    auto f = ssl::eval::extract(
        [&](const torch::Tensor& x) {
          return enc->pool_tokens(enc->forward(ssl::Masked{.input = x}).tokens, x != eo.pad_id());
        },
        ids, transform, 256);
    enc->train(was_training);
    return f;
  };
  torch::Tensor pre_train_f, pre_test_f;
  if (a.probe) pre_train_f = features(pretrained, train.ids), pre_test_f = features(pretrained, test.ids);

  auto tp = std::chrono::steady_clock::now();
  auto o = fo;
  o.label = "fine-tune pretrained";
  auto clf = ssl::eval::finetune_model(pretrained, train.ids, train.labels, transform, o);
  const double acc_pre = ssl::eval::accuracy(clf, test.ids, test.labels, transform);
  const double pre_s = ex::seconds_since(tp);
  o.label = "fine-tune scratch";
  tp = std::chrono::steady_clock::now();
  const double acc_scratch = ssl::eval::finetune(fresh(), train.ids, train.labels, test.ids, test.labels, transform, o);
  const double scratch_s = ex::seconds_since(tp);
  if (!ssl::dist::is_main()) return 0;
  ssl::dist::LocalOnly local;
  const double majority = [&] {
    auto counts = torch::bincount(test.labels);
    return counts.max().item<double>() / double(test.labels.size(0));
  }();
  std::printf("\ntest accuracy (%s %s vs the same model from random init):\n", method.c_str(),
              from_hf ? "from the Hugging Face directory" : "pretrained by 02");
  std::printf("  pretrained %.4f   scratch %.4f   (majority class %.4f)\n", acc_pre, acc_scratch, majority);
  ex::json probe;
  if (a.probe) {
    auto random_init = fresh();
    const auto rnd_train_f = features(random_init, train.ids), rnd_test_f = features(random_init, test.ids);
    auto read = [&](const torch::Tensor& tr, const torch::Tensor& te) {
      return std::pair{ssl::eval::linear_probe(tr, train.labels, te, test.labels, {.seed = a.seed}),
                       ssl::eval::knn_top1(tr, train.labels, te, test.labels,
                                           {.k = std::min<int64_t>(20, tr.size(0)), .standardize = true})};
    };
    const auto [pre_lin, pre_knn] = read(pre_train_f, pre_test_f);
    const auto [rnd_lin, rnd_knn] = read(rnd_train_f, rnd_test_f);
    std::printf("frozen features (%s; linear probe / 20-NN): pretrained %.4f / %.4f   random init %.4f / %.4f\n",
                pooled_from.c_str(), pre_lin, pre_knn,
                rnd_lin, rnd_knn);
    probe = {{"linear_pretrained", pre_lin}, {"knn_pretrained", pre_knn}, {"linear_random_init", rnd_lin},
             {"knn_random_init", rnd_knn}};
  }

  // Inference demo: each topic's probability for new sentences.
  std::printf("\ninference demo (pretrained + fine-tuned):\n");
  ex::json demo = ex::json::array();
  clf->eval();
  torch::NoGradGuard ng;
  for (const auto& s : a.demo) {
    auto x = ssl::data::single({tok.encode(s)}, {}, sp, max_len).ids;
    auto p = torch::softmax(clf->logits(transform(x)), -1)[0];
    const auto best = p.argmax().item<int64_t>();
    std::printf("  [%s %.0f%%] %s\n   ", a.topics[size_t(best)].c_str(), 100 * p[best].item<double>(), s.c_str());
    ex::json probs;
    for (size_t t = 0; t < a.topics.size(); ++t) {
      std::printf(" %s %.3f", a.topics[t].c_str(), p[int64_t(t)].item<double>());
      probs[a.topics[t]] = p[int64_t(t)].item<double>();
    }
    std::printf("\n");
    demo.push_back({{"text", s}, {"probabilities", probs}});
  }
  std::filesystem::create_directories(a.out);
  ex::write_json(std::filesystem::path(a.out) / "metrics.json",
                 {{"model", a.model}, {"method", method}, {"hugging_face", from_hf},
                  {"split", {{"heldout", heldout}, {"seed", split_seed}}}, {"topics", a.topics},
                  {"train_documents", train.ids.size(0)}, {"test_documents", test.ids.size(0)},
                  {"epochs", a.epochs}, {"lr", a.lr}, {"batch", a.batch},
                  {"accuracy_pretrained", acc_pre}, {"accuracy_scratch", acc_scratch}, {"majority_class", majority},
                  {"seconds_pretrained", pre_s}, {"seconds_scratch", scratch_s}, {"probe", probe},
                  {"total_seconds", ex::seconds_since(t0)}, {"demo", demo}});
  std::printf("wrote %s/metrics.json (%.0f s in all)\n", a.out.c_str(), ex::seconds_since(t0));
  return 0;
}

int main(int argc, char** argv) {
  return ex::example_main<Args>(
      argc, argv, "libssl 04: fine-tune a pretrained text encoder (example 02) on fortune topics, against scratch", add_options, run);
}
