// 02 — Pretraining a text encoder from scratch on your own corpus, offline: train a WordPiece
// vocabulary on the corpus, then pretrain with BERT (MLM + next-sentence prediction, static
// masks), RoBERTa-style (MLM, dynamic masks, packed full-length sequences), ELECTRA
// (replaced-token detection), GPT (next-token prediction) or data2vec 2.0 (regressing a momentum
// teacher's averaged layers at hidden tokens, from the visible ones; packed sequences). Prints
// and writes the held-out loss and accuracy beside the unigram baseline; writes a model folder
// that examples 03 (fill-mask; the masked language models) and 04 (fine-tuning) read.
//
// The corpus is the fortunes by default (held in memory). With --corpus (a text file, a folder of
// them, or JSON Lines), the corpus is tokenized once into a memory-mapped token store in the
// model folder (corpus.tokens, reused while the corpus and the vocabulary are unchanged) and
// pretraining reads its sequences from there: corpora larger than memory work the same way.
// The held-out documents are then the corpus's last --heldout fraction.
//
// With --init, pretraining continues from a model folder this example wrote (its size, its
// vocabulary and its weights), or from a Hugging Face BERT directory (BertForMaskedLM /
// BertForPreTraining / BertModel: config.json, model.safetensors or its shards, and vocab.txt or
// tokenizer.json) or RoBERTa directory (RobertaForMaskedLM with its byte-level BPE: tokenizer.json,
// or vocab.json + merges.txt; --method roberta) or GPT-2 directory (GPT2LMHeadModel with its
// byte-level BPE; --method gpt: next-token prediction on the documents packed into full sequences
// with <|endoftext|> after each, the last partial one dropped, as transformers' run_clm), on the
// corpus given: domain-adaptive pretraining (examples/08_domain_adaptation/run.sh, docs/03_text.md).
// The kind of folder is told by its config.json (this example's `method`, or Hugging Face's
// `model_type`). A model continued from a RoBERTa or GPT-2 keeps its BPE (the folder's vocab.json
// + merges.txt) and goes out as a RobertaForMaskedLM or GPT2LMHeadModel.
//
//   02_text_pretrain --method bert --out out/bert
//   02_text_pretrain --method roberta --corpus wiki.jsonl --field text --out out/wiki
//   02_text_pretrain --method roberta --init out/wiki --corpus legal/ --out out/legal
//   02_text_pretrain --method roberta --init bert-base-uncased/ --max-len 128 --corpus legal/ --out out/legal
//   02_text_pretrain --method roberta --init roberta-base/ --max-len 128 --corpus legal/ --out out/legal
//   02_text_pretrain --method gpt --init gpt2/ --max-len 256 --corpus legal/ --out out/legal-gpt
#include "../common/cli.hpp"
#include "../common/dist.hpp"
#include "../common/guard.hpp"
#include "../common/hf_text.hpp"
#include "../common/text_common.hpp"

#include <ssl/data/corpus.hpp>
#include <ssl/data/token_store.hpp>
#include <ssl/eval/loss.hpp>
#include <ssl/io/hf_checkpoint.hpp>
#include <ssl/ssl.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>

namespace {
struct Args : ex::RunArgs, ex::CorpusArgs, ex::MonitorArgs {
  Args() : ex::RunArgs{.epochs = -1, .batch = 32, .lr = 2e-3} {}  // epochs -1: the method's default
  ex::ModelConfig model;
  int64_t vocab_documents = 200000;  ///< documents of a --corpus the vocabulary is trained on
  int64_t heldout_sequences = 2000;  ///< held-out sequences scored (--corpus)
  double warmup = 1.0;  ///< warmup epochs
  bool linear_decay = false;  ///< linear decay after the warmup instead of the cosine
  // ELECTRA's knobs (electra::Options; the reference's names)
  double temperature = 1.0, generator_lr_scale = 1.0, disc_weight = 50.0;
  double mask_prob = 0.8, random_prob = 0.1;  ///< of the selected tokens: -> [MASK], -> a random token (BERT's)
  bool disallow_correct = false, uniform_generator = false;
  int64_t generator_depth = 0;
  int64_t decoder_layers = 1;  ///< data2vec 2.0: the decoder's convolution blocks
  std::string init;  ///< --init: a model folder of this example, or a Hugging Face BERT, RoBERTa or GPT-2 directory, to continue from
  bool init_hf = false;  ///< --init is a Hugging Face directory (its config.json has a model_type)
  bool init_bpe = false;  ///< --init's model reads a byte-level BPE (a Hugging Face RoBERTa or GPT-2, or a folder 02 continued from one)
  std::vector<std::string> topics;  ///< --topics: pretrain on these fortune topics only
  std::string init_method;  ///< the method --init's model was pretrained with (read once, at parse time)
  std::string init_arch;  ///< --init's Hugging Face architecture (BertForMaskedLM, BertModel, RobertaForMaskedLM, GPT2LMHeadModel)
  int64_t split_seed = -1;  ///< --split-seed (-1: --seed)
};

/// --init from a Hugging Face BERT, RoBERTa or GPT-2 directory: the model's size from its
/// config.json (through hf::text_options, which refuses what libssl's encoder is not), its
/// vocabulary from its tokenizer files; what this example's model folder cannot hold is refused by
/// name. `max_len`: the sequence length asked for (0: the longest the checkpoint's positions allow).
void init_from_hf(Args& a, int64_t max_len) {
  namespace hf = ssl::io::hf;
  const std::filesystem::path from = a.init;
  const auto hc = hf::read_config(a.init);
  const auto arch = hf::arch_of(hc);
  const bool gpt2 = arch == hf::Arch::gpt2_lm;
  const bool bpe = arch == hf::Arch::roberta_mlm || gpt2;
  TORCH_CHECK(arch == hf::Arch::bert_mlm || arch == hf::Arch::bert_model || bpe, "--init '", a.init, "': expected a ",
              "Hugging Face BERT, RoBERTa or GPT-2 directory (BertForMaskedLM, BertForPreTraining, BertModel, ",
              "RobertaForMaskedLM or GPT2LMHeadModel), got ", hf::architecture_name(arch), " (", hc.file, ")");
  if (bpe && !gpt2 && a.model.method != "roberta")
    throw CLI::ValidationError("--method", "a Hugging Face RobertaForMaskedLM directory (--init '" + a.init +
                                               "') continues with --method roberta (MLM without next-sentence "
                                               "prediction), got --method " + a.model.method);
  if (gpt2 != (a.model.method == "gpt"))
    throw CLI::ValidationError("--method", gpt2 ? "a Hugging Face GPT2LMHeadModel directory (--init '" + a.init +
                                                      "') continues with --method gpt (next-token prediction), got "
                                                      "--method " + a.model.method
                                                : "--method gpt continues a Hugging Face GPT2LMHeadModel directory, got "
                                                  "--init '" + a.init + "', a " + hf::architecture_name(arch));
  TORCH_CHECK(std::filesystem::exists(from / "model.safetensors") || std::filesystem::exists(from / "model.safetensors.index.json"),
              "--init '", a.init, "': expected model.safetensors or model.safetensors.index.json in the Hugging Face ",
              "directory, got neither");
  const auto o = hf::text_options(hc);
  // What this example's model (ex::encoder_options over a ModelConfig) cannot be.
  if (gpt2) {
    const auto g = ssl::text::gpt(ssl::text::EncoderOptions(o.vocab(), o.dim(), o.depth(), o.heads()));
    TORCH_CHECK(o.gelu() == g.gelu(), "--init '", a.init, "': ", hc.file, " says activation_function 'gelu' (exact); ",
                "this example's GPT uses GPT-2's tanh GELU: expected 'gelu_new' or 'gelu_pytorch_tanh'");
    TORCH_CHECK(o.pad_id() < 0, "--init '", a.init, "': ", hc.file, " sets pad_token_id ", o.pad_id(), "; this ",
                "example packs GPT-2's sequences full, without padding (as transformers' run_clm): expected none");
  } else {
    TORCH_CHECK(!o.norm_first() && !o.causal() && o.embedding_norm() && o.gelu() == "none" &&
                    o.padding_positions() == bpe && o.embedding_width() == o.dim(),
                "--init '", a.init, "': ", hc.file, " describes an encoder this example's model cannot be");
  }
  int64_t n_tokens = 0, pad = -1;
  if (bpe) {  // RoBERTa's or GPT-2's byte-level BPE, kept as it is (the folder's vocab.json + merges.txt)
    const auto t =
        ex::bpe_sequence_tokenizer(std::make_shared<const ssl::text::ByteLevelBPE>(ex::hf_bpe(from, gpt2)), a.init, gpt2);
    TORCH_CHECK(gpt2 || t.mask >= 0, "--init '", a.init, "': expected RoBERTa's special token '<mask>' in the tokenizer ",
                "(masked language modelling writes it), got none");
    n_tokens = t.size, pad = t.pad;
  } else {
    const auto wp = ex::hf_wordpiece(from);
    const auto& bo = wp.basic().options();
    TORCH_CHECK(bo.lowercase && bo.strip_accents.value_or(true) && bo.tokenize_chinese_chars, "--init '", a.init,
                "': its tokenizer is cased or keeps accents or CJK ideographs whole (do_lower_case / strip_accents / ",
                "tokenize_chinese_chars false); this example's model folder holds an uncased WordPiece vocabulary ",
                "(vocab.txt) only: expected lowercase, accent stripping and CJK splitting");
    n_tokens = wp.vocab().size(), pad = wp.vocab().pad_id();
  }
  TORCH_CHECK(n_tokens == o.vocab(), "--init '", a.init, "': ", hc.file, " says vocab_size ", o.vocab(),
              ", its tokenizer has ", n_tokens, " tokens: this example sizes the embeddings by the vocabulary, ",
              "expected the same number");
  TORCH_CHECK(gpt2 || pad == o.pad_id(), "--init '", a.init, "': ", hc.file, " says pad_token_id ", o.pad_id(),
              ", its tokenizer's ", bpe ? "<pad>" : "[PAD]", " is id ", pad, ": expected the same id");
  const auto positions = o.max_len();
  // RoBERTa's positions start after pad_token_id: max_position_embeddings - pad_token_id - 1 tokens.
  const auto longest = positions - (o.padding_positions() ? o.pad_id() + 1 : 0);
  if (max_len > longest)
    throw CLI::ValidationError("--max-len", "expected at most --init's " + std::to_string(longest) + " tokens (" +
                                                (gpt2 ? "n_positions " : "max_position_embeddings ") +
                                                std::to_string(positions) +
                                                (o.padding_positions() ? ", less RoBERTa's pad_token_id + 1" : "") +
                                                "), got " + std::to_string(max_len));
  auto& m = a.model;
  m.vocab_size = n_tokens, m.dim = o.dim(), m.depth = o.depth(), m.heads = o.heads(), m.embedding_dim = 0,
  m.norm_first = gpt2;
  m.max_len = max_len > 0 ? max_len : longest;
  if (bpe) m.tokenizer = "bpe";
  if (bpe && !gpt2) m.padding_positions = true;
  a.init_bpe = bpe;
  m.positions = positions, m.mlp_hidden = o.mlp_hidden(), m.type_vocab = o.type_vocab(), m.eps = o.eps(),
  m.dropout = o.dropout(), m.attn_dropout = o.attn_dropout();
  a.init_hf = true;
  a.init_method = "hf";
  a.init_arch = hf::architecture_name(arch);
  if (hc.architecture == "BertForPreTraining") a.init_arch = hc.architecture;
}

/// The command line of this example into `a`.
void add_options(CLI::App& app, Args& a) {
  app.add_option("--method", a.model.method, "bert | roberta | electra | gpt | data2vec2")
      ->check(CLI::IsMember({"bert", "roberta", "electra", "gpt", "data2vec2"}));
  ex::add_run_options(app, a, {.out = "model folder (default out/<method>)",
                               .epochs = "pretraining epochs (default: the method's: BERT, RoBERTa and data2vec 2.0 16, ELECTRA 12, GPT 8)",
                               .max_steps = "stop after this many steps (default: all epochs)", .skip_non_finite = true});
  ex::add_corpus_options(app, a, "your corpus: a text file, a folder of them, or JSON Lines (default: the fortunes, " +
                                     ex::fortunes_dir().string() + ")", /*fortunes=*/true);
  ex::add_monitor_option(app, a);
  app.add_option("--vocab-documents", a.vocab_documents, "first documents of --corpus the vocabulary is trained on")
      ->check(ex::at_least(1));
  app.add_option("--heldout-sequences", a.heldout_sequences, "held-out sequences scored (--corpus)")->check(ex::at_least(1));
  app.add_option("--vocab", a.model.vocab_size, "WordPiece vocabulary size")->check(ex::at_least(1));
  app.add_option("--max-len", a.model.max_len, "sequence length (at least 8)")->check(ex::at_least(8));
  app.add_option("--dim", a.model.dim, "encoder width")->check(ex::at_least(1));
  app.add_option("--depth", a.model.depth, "encoder blocks")->check(ex::at_least(1));
  app.add_option("--heads", a.model.heads, "attention heads")->check(ex::at_least(1));
  app.add_option("--norm-first", a.model.norm_first, "pre-norm blocks (true) or BERT's post-norm (false)");
  app.add_option("--embedding-dim", a.model.embedding_dim, "embedding width (0 = dim; ELECTRA default dim/2)")
      ->check(ex::at_least(0));
  app.add_option("--heldout", a.model.heldout, "fraction of documents held out of pretraining")
      ->check(ex::in_range(0, 1, true, true));
  app.add_option("--warmup", a.warmup, "warmup epochs of the learning rate")->check(ex::non_negative());
  app.add_flag("--linear-decay", a.linear_decay, "linear decay after the warmup (default: cosine)");
  app.add_option("--generator-scale", a.model.generator_scale, "ELECTRA: generator width / discriminator width")
      ->check(ex::in_range(0, 1, true));
  app.add_option("--generator-depth", a.generator_depth, "ELECTRA: generator blocks (0 = the discriminator's)")
      ->check(ex::at_least(0));
  app.add_option("--temperature", a.temperature, "ELECTRA: sampling temperature of the generator")->check(ex::positive());
  app.add_flag("--disallow-correct", a.disallow_correct, "ELECTRA: never sample the original token");
  app.add_flag("--uniform-generator", a.uniform_generator, "ELECTRA: replacements uniform over the vocabulary");
  app.add_option("--generator-lr-scale", a.generator_lr_scale, "ELECTRA: the generator's lr factor")->check(ex::positive());
  app.add_option("--disc-weight", a.disc_weight, "ELECTRA: weight of the discriminator's loss (lambda)")->check(ex::positive());
  app.add_option("--mask-prob", a.mask_prob,
                 "masking: share of the selected tokens written as the mask (BERT 0.8; ELECTRA's reference 0.85)")
      ->check(ex::in_range(0, 1));
  app.add_option("--random-prob", a.random_prob,
                 "masking: share of the selected tokens replaced by a random one (BERT 0.1; ELECTRA's reference 0); "
                 "the rest stay as they are")
      ->check(ex::in_range(0, 1));
  app.add_option("--decoder-layers", a.decoder_layers,
                 "data2vec 2.0: convolution blocks of its decoder (the reference: 5 for a 12-block encoder; 1 for the "
                 "default 2-block one keeps the decoder's cost under the encoder's)")
      ->check(ex::at_least(1));
  auto* init = app.add_option("--init", a.init,
                              "continue pretraining from this model folder (written by this example, BERT, RoBERTa "
                              "or GPT), Hugging Face BERT directory (BertForMaskedLM / BertForPreTraining / BertModel "
                              "with vocab.txt or tokenizer.json), RoBERTa directory (RobertaForMaskedLM with "
                              "tokenizer.json or vocab.json + merges.txt; --method roberta) or GPT-2 directory "
                              "(GPT2LMHeadModel, the same files; --method gpt): its size, vocabulary and weights "
                              "(domain-adaptive pretraining)")
                   ->check(CLI::ExistingDirectory);
  auto* split_seed = app.add_option("--split-seed", a.split_seed,
                                    "seed of the held-out split of the documents (default --seed; with --init of a "
                                    "model folder of this example: the folder's)")
                         ->check(ex::at_least(0));
  app.add_option("--topics", a.topics,
                 "fortunes only: pretrain on the documents of these topics (fortune files), after the held-out split "
                 "of the whole corpus, so example 04 tests on documents never pretrained on");
  for (const char* size : {"--vocab", "--dim", "--depth", "--heads", "--norm-first", "--embedding-dim"})
    init->excludes(size);  // the model's size comes from --init's config.json
  auto* max_len = app.get_option("--max-len");
  const std::array<std::pair<const char*, CLI::Option*>, 2> mask_opts{
      {{"--mask-prob", app.get_option("--mask-prob")}, {"--random-prob", app.get_option("--random-prob")}}};
  app.final_callback([&a, max_len, split_seed, mask_opts] {
    if (a.out.empty()) a.out = "out/" + a.model.method;
    for (const auto& [name, opt] : mask_opts)
      if (opt->count() && (a.model.method == "gpt" || a.model.method == "data2vec2"))
        throw CLI::ValidationError(name, "sets BERT-style masking (bert, roberta, electra): --method " + a.model.method +
                                             " has none");
    if (a.mask_prob + a.random_prob > 1.0)
      throw CLI::ValidationError("--mask-prob", "with --random-prob: expected shares that sum to at most 1, got " +
                                                    std::to_string(a.mask_prob) + " + " + std::to_string(a.random_prob));
    if (!a.topics.empty() && !a.corpus.empty() && a.format != "fortunes")
      throw CLI::ValidationError("--topics", "selects fortune files: expected the fortunes (no --corpus, or --format "
                                             "fortunes), got --corpus " + a.corpus + " read as " + a.format);
    if (a.init.empty()) return;
    if (a.model.method != "bert" && a.model.method != "roberta" && a.model.method != "gpt")
      throw CLI::ValidationError("--init", "continues masked or causal language-model pretraining: expected --method "
                                           "bert, roberta or gpt, got " + a.model.method);
    const std::filesystem::path from = a.init;
    TORCH_CHECK(std::filesystem::weakly_canonical(from) != std::filesystem::weakly_canonical(a.out), "--init '", a.init,
                "' and --out '", a.out, "' are the same folder: write the continued model to a new one");
    if (ex::is_hf_dir(from)) return init_from_hf(a, max_len->count() ? a.model.max_len : 0);
    // A model folder of this example: its size and its held-out split.
    if (max_len->count())
      throw CLI::ValidationError("--max-len", "excludes --init of a model folder of this example (its size comes from "
                                              "its config.json)");
    if (split_seed->count())
      throw CLI::ValidationError("--split-seed", "excludes --init of a model folder of this example (its held-out "
                                                 "split is the folder's)");
    const auto ic = ex::ModelConfig::load(from);
    if (a.model.method == "gpt") {
      TORCH_CHECK(ic.method == "gpt", "--init '", a.init, "': --method gpt continues a GPT model folder, got one whose ",
                  "config.json says method \"", ic.method, "\"");
    } else {
      TORCH_CHECK(ic.method == "bert" || ic.method == "roberta", "--init '", a.init, "': expected a BERT or RoBERTa ",
                  "model folder (its config.json says method \"", ic.method, "\")");
    }
    const bool bpe = ic.tokenizer == "bpe";  // a model this example continued from a Hugging Face RoBERTa or GPT-2
    if (bpe && a.model.method != ic.method)
      throw CLI::ValidationError("--method", "--init '" + a.init + "' holds a model continued from a Hugging Face " +
                                 (ic.method == "gpt" ? "GPT-2" : "RoBERTa") + " (byte-level BPE): expected --method " +
                                 ic.method + ", got --method " + a.model.method);
    for (const char* f : {bpe ? "vocab.json" : "vocab.txt", bpe ? "merges.txt" : "", "encoder.safetensors",
                          ic.method == a.model.method ? "model.safetensors" : ""})
      TORCH_CHECK(!*f || std::filesystem::exists(from / f), "--init '", a.init, "': expected ", f, " in the folder, got none");
    auto& m = a.model;
    m.vocab_size = ic.vocab_size, m.dim = ic.dim, m.depth = ic.depth, m.heads = ic.heads, m.max_len = ic.max_len,
    m.embedding_dim = ic.embedding_dim, m.norm_first = ic.norm_first;
    m.mlp_hidden = ic.mlp_hidden, m.type_vocab = ic.type_vocab, m.positions = ic.positions, m.eps = ic.eps,
    m.dropout = ic.dropout, m.attn_dropout = ic.attn_dropout, m.padding_positions = ic.padding_positions,
    m.tokenizer = ic.tokenizer;
    a.init_bpe = bpe;
    // The held-out split of the model continued from: example 04 then tests either model on the
    // same documents, none of which either pretraining saw.
    m.heldout = ic.heldout, m.split_seed = ic.split_seed;
    a.init_method = ic.method;
  });
}

}  // namespace

int run(Args a) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  at::set_num_threads(a.threads);
  ssl::train::seed_everything(a.seed);
  const auto t0 = std::chrono::steady_clock::now();
  const std::filesystem::path out = a.out;
  // --init: the vocabulary of the model pretraining continues from (read when it is needed; a
  // Hugging Face directory's from its tokenizer files, checked at parse time). A RoBERTa's
  // byte-level BPE (a Hugging Face directory's, or a folder's this example continued from one).
  auto init_vocab = [&] {
    return a.init_hf ? ex::hf_wordpiece(a.init).vocab() : ssl::text::Vocab::load(std::filesystem::path(a.init) / "vocab.txt");
  };
  std::shared_ptr<const ssl::text::ByteLevelBPE> bpe;
  const bool gpt2 = a.init_bpe && a.model.method == "gpt";  // GPT-2's byte-level BPE (else RoBERTa's)
  if (a.init_bpe) bpe = std::make_shared<const ssl::text::ByteLevelBPE>(ex::hf_bpe(a.init, gpt2));

  std::filesystem::create_directories(out);
  const auto session = ex::join(a.dist);  // same seed everywhere (above): the same corpus split and vocabulary
  std::optional<ssl::dist::LocalOnly> local;  // process 0 evaluates alone after pretraining
  auto& c = a.model;
  if (a.init.empty() || a.init_hf) c.split_seed = uint64_t(a.split_seed >= 0 ? a.split_seed : int64_t(a.seed));
  if (!a.init.empty() && !a.init_hf)  // --init's split (held-out fraction and seed)
    std::printf("split: --init's (held-out fraction %.2f, seed %llu)\n", c.heldout, (unsigned long long)c.split_seed);
  if (a.init_hf)
    std::printf("model: %s from %s: %lld x %lld, %lld heads, MLP %lld, eps %g, %lld positions, sequences of %lld; "
                "split: held-out fraction %.2f, seed %llu\n",
                a.init_arch.c_str(), a.init.c_str(), (long long)c.depth, (long long)c.dim, (long long)c.heads,
                (long long)*c.mlp_hidden, *c.eps, (long long)*c.positions, (long long)c.max_len, c.heldout,
                (unsigned long long)c.split_seed);
  c.next_sentence = c.method == "bert";
  if (c.method == "electra" && c.embedding_dim == 0) c.embedding_dim = c.dim / 2;
  // Default epochs: sized for a few minutes of pretraining on a 2-core CPU at the default size
  // (docs/03_text.md).
  if (a.epochs < 0)
    a.epochs = std::map<std::string, int64_t>{{"bert", 16}, {"roberta", 16}, {"electra", 12}, {"gpt", 8}, {"data2vec2", 16}}.at(c.method);

  // 1. Corpus and vocabulary; 2. sequences in the method's layout. Either the fortunes, in memory
  // (train: a TextSet), or the user's corpus through a token store (train_pairs / train_packed).
  // The tokenizer `st`: the WordPiece vocabulary (trained here, or --init's), or --init's BPE.
  const bool from_store = !a.corpus.empty() && a.format != "fortunes";
  std::optional<ssl::text::Vocab> vocab_opt;
  std::shared_ptr<const ssl::text::WordPiece> wp;  // BERT's sentence pairs and GPT's demo read it
  ex::SequenceTokenizer st;
  auto use_vocab = [&](ssl::text::Vocab v) {
    vocab_opt = std::move(v);
    wp = std::make_shared<const ssl::text::WordPiece>(*vocab_opt);
    st = ex::sequence_tokenizer(wp);
  };
  if (bpe) st = ex::bpe_sequence_tokenizer(bpe, a.init, gpt2);
  const char* bpe_class = gpt2 ? "GPT2Tokenizer" : "RobertaTokenizer";
  auto save_tokenizer = [&] {  // the model folder's tokenizer files
    if (bpe) ssl::io::hf::save_bpe(out.string(), *bpe, bpe_class);
    else vocab_opt->save(out / "vocab.txt");
  };
  std::optional<ssl::data::SentencePairs> train_pairs;
  std::optional<ssl::data::PackedSequences> train_packed;
  ssl::data::TextSet train, held;
  std::vector<std::vector<int64_t>> train_ids, held_ids;  // for the unigram baseline
  size_t n_tokens = 0, n_docs = 0;
  int64_t n_train_sequences = 0;
  auto encode_docs = [&](const std::vector<ssl::data::Document>& docs) {
    std::vector<std::vector<int64_t>> ids;
    ids.reserve(docs.size());
    for (const auto& d : docs) ids.push_back(st.encode(d.text));
    return ids;
  };
  if (!from_store) {
    auto docs = ssl::data::read_fortunes(a.corpus.empty() ? ex::fortunes_dir() : std::filesystem::path(a.corpus));
    auto parts = ex::split(docs, c.heldout, c.split_seed);
    if (!a.topics.empty()) {
      auto keep = [&](std::vector<ssl::data::Document>& v) {
        std::erase_if(v, [&](const auto& d) { return std::find(a.topics.begin(), a.topics.end(), d.topic) == a.topics.end(); });
      };
      for (const auto& t : a.topics)
        TORCH_CHECK(std::any_of(docs.begin(), docs.end(), [&](const auto& d) { return d.topic == t; }),
                    "--topics: no fortune file '", t, "' in ",
                    a.corpus.empty() ? ex::fortunes_dir().string() : a.corpus);
      keep(parts.train);
      keep(parts.heldout);
      docs = parts.train;
      docs.insert(docs.end(), parts.heldout.begin(), parts.heldout.end());
    }
    std::vector<std::string> texts;
    for (const auto& d : parts.train) texts.push_back(d.text);
    auto tv = std::chrono::steady_clock::now();
    if (!bpe) use_vocab(a.init.empty() ? ssl::text::train_wordpiece(texts, {.vocab_size = c.vocab_size}) : init_vocab());
    save_tokenizer();
    c.vocab_size = st.size;
    std::printf("corpus: %zu documents (%zu for pretraining, %zu held out), %zu topics; %s of %lld %s in %.1f s\n",
                docs.size(), parts.train.size(), parts.heldout.size(), ssl::data::topics(docs).size(),
                bpe ? "byte-level BPE" : "vocabulary", (long long)st.size, a.init.empty() ? "trained" : "read from --init",
                ex::seconds_since(tv));
    n_docs = docs.size();

    const auto sp = ex::specials(c.method, st);
    train_ids = encode_docs(parts.train);
    held_ids = encode_docs(parts.heldout);
    for (const auto& d : train_ids) n_tokens += d.size();
    if (c.method == "bert") {
      train = ssl::data::sentence_pairs(ex::encode_sentences(*wp, parts.train), sp, c.max_len, a.seed);
      held = ssl::data::sentence_pairs(ex::encode_sentences(*wp, parts.heldout), sp, c.max_len, a.seed + 1);
    } else {
      train = ssl::data::pack(train_ids, sp, c.max_len);
      held = ssl::data::pack(held_ids, sp, c.max_len);
    }
    n_train_sequences = train.ids.size(0);
  } else {
    // The store is reused when it was built from these files (paths, sizes, times), this reading
    // of them and this vocabulary (itself trained with this --vocab size).
    const ssl::data::CorpusOptions co{.format = ssl::data::parse_corpus_format(a.format), .field = a.field};
    const auto files = ssl::data::corpus_files(a.corpus);
    const auto store_path = out / "corpus.tokens";
    const auto base_key = ssl::data::hash_bytes(std::to_string(c.vocab_size) + "/" + std::to_string(a.vocab_documents),
                                                ssl::data::corpus_fingerprint(files, co));
    // The key: the corpus's and the bytes of the folder's tokenizer files.
    auto tokenizer_key = [&] {
      auto key = base_key;
      for (const char* f : bpe ? std::vector<const char*>{"vocab.json", "merges.txt"} : std::vector<const char*>{"vocab.txt"}) {
        std::ifstream in(out / f, std::ios::binary);
        key = ssl::data::hash_bytes(std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()), key);
      }
      return key;
    };
    auto tv = std::chrono::steady_clock::now();
    if (bpe) save_tokenizer();  // the store's key then holds --init's tokenizer
    else if (!a.init.empty()) init_vocab().save(out / "vocab.txt");
    std::optional<ssl::data::TokenStore> store;
    const bool have_tokenizer = bpe || std::filesystem::exists(out / "vocab.txt");
    if (have_tokenizer && ssl::data::TokenStore::matches(store_path, tokenizer_key())) {
      if (!bpe) use_vocab(ssl::text::Vocab::load(out / "vocab.txt"));
      store.emplace(store_path);
      std::printf("corpus: reusing %s (%lld documents, %lld tokens) and its %s of %lld\n", store_path.c_str(),
                  (long long)store->documents(), (long long)store->tokens(), bpe ? "byte-level BPE" : "vocabulary",
                  (long long)st.size);
    } else {
      if (bpe) {
        std::printf("corpus: %zu files; byte-level BPE of %lld read from --init\n", files.size(), (long long)st.size);
      } else if (a.init.empty()) {
        std::vector<std::string> texts;
        for (auto& d : ssl::data::read_corpus(a.corpus, co, a.vocab_documents)) texts.push_back(std::move(d.text));
        use_vocab(ssl::text::train_wordpiece(texts, {.vocab_size = c.vocab_size}));
        save_tokenizer();
        std::printf("corpus: %zu files; vocabulary of %lld trained on the first %zu documents in %.1f s\n", files.size(),
                    (long long)st.size, texts.size(), ex::seconds_since(tv));
      } else {
        use_vocab(ssl::text::Vocab::load(out / "vocab.txt"));
        std::printf("corpus: %zu files; vocabulary of %lld read from --init\n", files.size(), (long long)st.size);
      }
      tv = std::chrono::steady_clock::now();
      store.emplace(ssl::data::build_token_store(a.corpus, co, [&](std::string_view s) { return st.encode(std::string(s)); },
                                                 store_path,
                                                 {.vocab_size = st.size, .threads = a.threads, .key = tokenizer_key()}));
      std::printf("token store: %s, %lld documents, %lld sentences, %lld tokens, built in %.1f s\n", store_path.c_str(),
                  (long long)store->documents(), (long long)store->sentences(), (long long)store->tokens(),
                  ex::seconds_since(tv));
    }
    c.vocab_size = st.size;
    const auto sp = ex::specials(c.method, st);
    // Held out: the corpus's last documents (a contiguous range keeps the datasets' memory constant).
    const int64_t n = store->documents(), n_held = int64_t(double(n) * c.heldout);
    TORCH_CHECK(n - n_held >= 2 && n_held >= 2, "02_text_pretrain: expected at least 2 pretraining and 2 held-out ",
                "documents, got ", n - n_held, " and ", n_held, " of ", n, " (see --heldout)");
    const ssl::data::DocumentRange train_docs{0, n - n_held}, held_docs{n - n_held, n};
    if (c.method == "bert") {
      train_pairs.emplace(*store, sp, c.max_len, a.seed, 0.5, 1, train_docs);
      held = ssl::data::collect(ssl::data::SentencePairs(*store, sp, c.max_len, a.seed + 1, 0.5, 1, held_docs), 0,
                                a.heldout_sequences);
      n_train_sequences = train_pairs->size();
    } else {
      train_packed.emplace(*store, sp, c.max_len, train_docs);
      held = ssl::data::collect(ssl::data::PackedSequences(*store, sp, c.max_len, held_docs), 0, a.heldout_sequences);
      n_train_sequences = train_packed->size();
    }
    n_docs = size_t(n);
    n_tokens = size_t(store->document_begin(n - n_held));
    // The unigram baseline from up to 4M pretraining tokens and the held-out documents scored.
    for (int64_t d = 0, taken = 0; d < n - n_held && taken < (int64_t(4) << 20); ++d) {
      train_ids.push_back(store->document(d).to_vector());
      taken += int64_t(train_ids.back().size());
    }
    for (int64_t d = n - n_held, taken = 0; d < n && taken < a.heldout_sequences * c.max_len; ++d) {
      held_ids.push_back(store->document(d).to_vector());
      taken += int64_t(held_ids.back().size());
    }
  }
  std::printf("data: %zu training tokens -> %lld sequences of <= %lld tokens (%s); %lld held-out sequences\n", n_tokens,
              (long long)n_train_sequences, (long long)c.max_len,
              c.method == "bert" ? "sentence pairs, 50 % random next" : "packed documents",
              (long long)held.ids.size(0));

  // 3. Pretraining: one generic loop for every recipe.
  ex::json metrics = {{"method", c.method}, {"corpus", a.corpus.empty() ? ex::fortunes_dir().string() : a.corpus},
                      {"documents", n_docs}, {"training_tokens", n_tokens},
                      {"vocab_size", st.size}, {"epochs", a.epochs}, {"threads", a.threads}};
  auto pretrain = [&](auto recipe, std::function<double(const std::string&)> lr_scale_of = {}) {
    const auto pad = st.pad;
    if (a.init_hf) {
      // A Hugging Face directory: its encoder, and its MLM head where it has one (BertModel has
      // none: a new head). Masked-LM checkpoints have no pooler (and BertForMaskedLM no NSP
      // classifier): those keep the recipe's initialisation; an NSP classifier --method roberta
      // has no place for is not used. Every other tensor must match the recipe one to one.
      auto w = ssl::io::hf::mapped_weights(a.init);
      const bool has_head = std::any_of(w.tensors.begin(), w.tensors.end(), [](const auto& kv) { return kv.first.starts_with("head."); });
      const auto params = recipe->named_parameters();
      // GPT's LM head has no parameters of its own: its decoder is the token embedding.
      const bool tied_only = std::none_of(params.begin(), params.end(), [](const auto& p) { return p.key().starts_with("head."); });
      if (c.method != "bert") std::erase_if(w.tensors, [](const auto& kv) { return kv.first.starts_with("head.nsp."); });
      std::vector<std::string> fresh;
      for (const auto& p : params) {
        const auto& k = p.key();
        const bool may_lack = k.starts_with("backbone.pooler.") || k.starts_with(has_head ? "head.nsp." : "head.");
        if (!w.tensors.count(k) && may_lack) {
          w.tensors[k] = p.value().detach().clone();
          fresh.push_back(k);
        }
      }
      ssl::io::load_into(*recipe, w.tensors, true, "--init: " + w.source);
      auto fresh_any = [&](const char* prefix) {
        return std::any_of(fresh.begin(), fresh.end(), [&](const auto& k) { return k.starts_with(prefix); });
      };
      std::string news;
      for (auto [prefix, what] : {std::pair{"backbone.pooler.", "pooler"}, std::pair{"head.", has_head ? "NSP classifier" : "MLM head"}})
        if (fresh_any(prefix)) news += std::string(news.empty() ? "" : ", ") + what;
      std::printf("init: %s from %s (Hugging Face %s; new, as it has none: %s)\n",
                  has_head    ? "encoder and MLM head"
                  : tied_only ? "decoder (its LM head: the tied token embedding)"
                              : "encoder (new MLM head)",
                  a.init.c_str(), a.init_arch.c_str(), news.empty() ? "nothing" : news.c_str());
      metrics["init"] = a.init;
    } else if (!a.init.empty()) {
      // The whole recipe (encoder and MLM head) when --init was pretrained with this method, else
      // the encoder and a new head (BERT's NSP head has no RoBERTa counterpart).
      const std::filesystem::path from = a.init;
      const bool same = a.init_method == c.method;
      if (same) ssl::io::load_into(*recipe, ssl::io::load_safetensors((from / "model.safetensors").string()), true,
                                   (from / "model.safetensors").string());
      else ssl::io::load_into(*recipe->backbone(), ssl::io::load_safetensors((from / "encoder.safetensors").string()), true,
                              (from / "encoder.safetensors").string());
      std::printf("init: %s from %s\n",
                  !same ? "encoder (new MLM head)" : c.method == "gpt" ? "decoder and its tied LM head" : "encoder and MLM head",
                  a.init.c_str());
      metrics["init"] = a.init;
    }
    // The loss watched by its standard monitors (--monitor-every; GPT's "MLM" accuracy is its
    // next-token accuracy), on the same modules as `recipe`, which the evaluation below uses.
    ssl::Trainer trainer(ssl::monitor::watched(recipe, a.monitor_every),
                         ssl::optim::AdamW(recipe->named_parameters().pairs(),
                                           {.lr = a.lr, .weight_decay = 0.01, .beta2 = 0.98}, {}, 0, lr_scale_of),
                         ssl::schedule::CosineWarmup{.warmup_epochs = a.warmup, .linear = a.linear_decay});
    auto tp = std::chrono::steady_clock::now();
    auto fit = [&](auto& loader) {
      trainer.fit(loader, {.epochs = a.epochs, .max_steps = a.max_steps, .clip_grad_norm = 1.0,
                           .metrics_path = (out / "train.jsonl").string(), .tensorboard_dir = out.string(),
                           .non_finite = a.non_finite(), .label = c.method});
    };
    // Batches of similar lengths, trimmed to their longest sequence: the same data, less padding.
    auto from_dataset = [&](const auto& dataset) {
      ssl::data::Loader loader(dataset, ssl::data::trim_padding(pad),
                               {.batch_size = a.batch, .seed = a.seed, .lengths = dataset.lengths()});
      fit(loader);
    };
    if (train_pairs) {
      from_dataset(*train_pairs);
    } else if (train_packed) {
      from_dataset(*train_packed);
    } else {
      ssl::data::Loader loader(train.ids, train.labels, ssl::data::trim_padding(pad),
                               {.batch_size = a.batch, .seed = a.seed, .lengths = (train.ids != pad).sum(1)});
      fit(loader);
    }
    const double train_s = ex::seconds_since(tp);
    if (!ssl::dist::is_main()) return false;
    local.emplace();
    auto h = ssl::eval::loss_on(recipe, held.ids, held.labels, ssl::data::trim_padding(pad));
    auto u = ssl::eval::unigram_baseline(train_ids, held_ids, st.size, bpe ? st.special_ids : vocab_opt->special_ids());
    metrics["pretrain_seconds"] = train_s;
    metrics["steps"] = trainer.step();
    metrics["heldout"] = h;
    metrics["unigram_heldout_accuracy"] = u.accuracy;
    metrics["unigram_heldout_cross_entropy"] = u.cross_entropy;
    std::printf("\nheld-out (%lld sequences never seen in pretraining):\n", (long long)held.ids.size(0));
    for (const auto& [k, v] : h) std::printf("  %-10s %.4f\n", k.c_str(), v);
    std::printf("  unigram baseline: accuracy %.4f, cross-entropy %.4f\n", u.accuracy, u.cross_entropy);
    ssl::io::save_module((out / "model.safetensors").string(), *recipe);
    ssl::io::save_module((out / "encoder.safetensors").string(), *recipe->backbone());
    // The same model as a Hugging Face checkpoint directory with its vocabulary: out/hf loads with
    // AutoModelForMaskedLM (bert, roberta: positions from 0, so BertForMaskedLM; a model continued
    // from a Hugging Face RoBERTa: RobertaForMaskedLM with its byte-level BPE),
    // AutoModelForPreTraining (electra's discriminator) or AutoModelForCausalLM (gpt; continued
    // from a Hugging Face GPT-2: with its byte-level BPE, <|endoftext|> as bos and eos). BERT and
    // ELECTRA are post-norm in transformers: a pre-norm encoder (--norm-first true) has no such
    // class and is not written.
    namespace hf = ssl::io::hf;
    const auto arch = c.method == "electra"     ? hf::Arch::electra_discriminator
                      : c.method == "gpt"       ? hf::Arch::gpt2_lm
                      : c.method == "data2vec2" ? hf::Arch::bert_model  // the encoder alone: its decoder has no HF class
                      : bpe                     ? hf::Arch::roberta_mlm
                                                : hf::Arch::bert_mlm;
    if (c.method == "gpt" || !c.norm_first) {
      if (arch == hf::Arch::bert_model) hf::save_pretrained((out / "hf").string(), *recipe->backbone());
      else hf::save_pretrained((out / "hf").string(), arch, *recipe->backbone(), *recipe->head());
      if (bpe) hf::save_bpe((out / "hf").string(), *bpe, bpe_class);
      else hf::save_wordpiece((out / "hf").string(), *vocab_opt);
      if (gpt2) {  // GPT-2's <|endoftext|> begins and ends texts in transformers (generate stops at it)
        std::ifstream in(out / "hf" / "config.json");
        auto j = ex::json::parse(in);
        j["bos_token_id"] = j["eos_token_id"] = st.sep;
        ex::write_json(out / "hf" / "config.json", j);
      }
      std::printf("wrote %s/hf: a Hugging Face %s directory\n", out.string().c_str(), hf::architecture_name(arch).c_str());
    } else {
      std::printf("no Hugging Face directory: transformers' %s is post-norm (--norm-first false)\n",
                  hf::architecture_name(arch).c_str());
    }
    ex::write_json(out / "config.json", c.to_json());  // the folder is complete before any demo runs
    return true;
  };

  const auto eo = ex::encoder_options(c, st.size, st.pad, st.sep);
  // BERT's corruption over the tokenizer's ids (its special ids never selected nor drawn).
  const ssl::masker::Bert masking{.vocab_size = st.size, .mask_id = st.mask, .special_ids = st.special_ids,
                                  .mask_prob = a.mask_prob, .random_prob = a.random_prob,
                                  .dynamic = c.method != "bert"};
  if (c.method == "bert" || c.method == "roberta") {
    auto o = ssl::bert::Options{.encoder = eo, .masking = masking, .next_sentence = c.next_sentence};
    auto recipe = ssl::bert::recipe(c.method == "roberta" ? ssl::bert::roberta(o) : o);
    if (!pretrain(recipe)) return 0;
    // A taste of fill-mask (example 03 does more), where the sentence fits in --max-len.
    const std::string sentence = "a bird in the hand is worth two in the " + st.mask_token + ".";
    auto ids = st.encode_with_specials(sentence);
    if (int64_t(ids.size()) <= c.max_len) {
      auto top = ssl::bert::fill_mask(recipe, torch::tensor(ids, torch::kInt64), st.mask, 5);
      std::printf("\nfill-mask: %s\n", sentence.c_str());
      for (const auto& [id, p] : top.at(0)) std::printf("  %-12s %.3f\n", st.token(id).c_str(), p);
    } else {
      std::printf("\nfill-mask demo skipped: its sentence has %zu tokens, more than --max-len %lld\n", ids.size(),
                  (long long)c.max_len);
    }
  } else if (c.method == "electra") {
    auto recipe = ssl::electra::recipe({.discriminator = eo, .masking = masking, .generator_scale = c.generator_scale,
                                        .generator_depth = a.generator_depth, .temperature = a.temperature,
                                        .disallow_correct = a.disallow_correct,
                                        .uniform_generator = a.uniform_generator, .weight = a.disc_weight});
    metrics["electra"] = {{"temperature", a.temperature}, {"disallow_correct", a.disallow_correct},
                          {"uniform_generator", a.uniform_generator}, {"generator_lr_scale", a.generator_lr_scale},
                          {"generator_depth", a.generator_depth}, {"disc_weight", a.disc_weight},
                          {"mask_prob", a.mask_prob}, {"random_prob", a.random_prob},
                          {"lr", a.lr}, {"warmup", a.warmup}, {"linear_decay", a.linear_decay}};
    if (!pretrain(recipe, ssl::electra::generator_lr_scale(a.generator_lr_scale))) return 0;
  } else if (c.method == "data2vec2") {
    // The text setting's defaults (data2vec2.hpp): 48 % of the tokens hidden, 4 masks per
    // sequence, targets from all the teacher's blocks; the 1-D conv decoder (width-9 kernels, 2
    // projections) with --decoder-layers blocks.
    auto recipe = ssl::data2vec2::text_recipe({.encoder = eo, .decoder_layers = a.decoder_layers});
    metrics["data2vec2"] = {{"decoder_layers", a.decoder_layers}, {"clones", recipe->masker().clones},
                            {"mask_ratio", recipe->masker().ratio}};
    if (!pretrain(recipe)) return 0;
  } else {
    auto recipe = ssl::gpt::recipe({.encoder = eo, .pad_id = st.pad});
    if (!pretrain(recipe)) return 0;
    auto prompt = st.encode("the computer");
    auto gen = ssl::gpt::generate(recipe, prompt, 24, /*top_k=*/1, 1.0, st.sep);
    const auto text = st.decode(gen);
    std::printf("\ngreedy continuation of \"the computer\": %s\n", text.c_str());
    metrics["generated"] = text;
  }
  metrics["total_seconds"] = ex::seconds_since(t0);
  ex::write_json(out / "metrics.json", metrics);
  std::printf("wrote %s/{metrics.json,config.json,%s,model.safetensors,encoder.safetensors[,hf/]} (%.0f s in all)\n",
              out.c_str(), bpe ? "vocab.json,merges.txt" : "vocab.txt", ex::seconds_since(t0));
  return 0;
}

int main(int argc, char** argv) {
  return ex::example_main<Args>(
      argc, argv, "libssl 02: pretrain BERT / RoBERTa / ELECTRA / GPT on a text corpus (fortunes by default)", add_options, run);
}
