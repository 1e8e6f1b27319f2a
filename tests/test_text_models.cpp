// Text models: BERT / ELECTRA / GPT against Hugging Face (suite text_parity, references from
// tests/python/make_text_references.py), the BERT masker's statistics and the text parts'
// contracts (suite text_models).
#include <doctest/doctest.h>
#include <ssl/bert.hpp>
#include <ssl/electra.hpp>
#include <ssl/gpt.hpp>
#include <ssl/io/hf.hpp>
#include <ssl/data/loader.hpp>
#include <ssl/data/text.hpp>
#include <ssl/io/safetensors.hpp>

#include "parity.hpp"

#include <cstdlib>
#include <map>

// Each test file in its own namespace: the files compile as one unit in a unity build
// (SSL_UNITY_TESTS) without their helpers colliding.
namespace test_text_models {

namespace {
using parity::Dict;
constexpr int64_t V = 50, D = 32, L = 2, H = 4, F = 64, P = 16;
constexpr int64_t PAD = 0, UNK = 1, CLS = 2, SEP = 3, MASK = 4;

using parity::check_close;
using parity::load;

/// "grad.<hf name>" entries of the reference as a dict of HF names.
Dict grads_of(const Dict& io) {
  Dict g;
  for (const auto& [k, v] : io)
    if (k.rfind("grad.", 0) == 0) g[k.substr(5)] = v;
  return g;
}
void check_grads(torch::nn::Module& m, const Dict& expected) { parity::check_grads(m, expected, 20); }

/// A 2-D int64 tensor from rows of ids.
torch::Tensor rows(const std::vector<std::vector<int64_t>>& r) {
  auto t = torch::empty({int64_t(r.size()), int64_t(r.at(0).size())}, torch::kInt64);
  for (size_t i = 0; i < r.size(); ++i) t[int64_t(i)] = torch::tensor(r[i], torch::kInt64);
  return t;
}

ssl::masker::Bert masking() {
  return {.vocab_size = V, .mask_id = MASK, .special_ids = {PAD, UNK, CLS, SEP, MASK}};
}
ssl::text::EncoderOptions tiny() {
  return ssl::text::EncoderOptions(V, D, L, H).mlp_hidden(F).max_len(P).dropout(0).attn_dropout(0).pad_id(PAD).sep_id(SEP);
}

/// A backbone + head pair with the recipes' names, for loading one HF model.
struct PairImpl : torch::nn::Module {
  PairImpl(std::shared_ptr<torch::nn::Module> b, std::shared_ptr<torch::nn::Module> h) {
    register_module("backbone", b);
    register_module("head", h);
  }
};
}  // namespace

TEST_SUITE("text_parity") {
TEST_CASE("BERT MLM == Hugging Face BertForMaskedLM: hidden states, logits, loss, gradients") {
  auto W = load("bert_mlm.weights.safetensors");
  auto io = load("bert_mlm.io.safetensors");
  auto r = ssl::bert::recipe({.encoder = tiny().pooler(false), .masking = masking(), .only_masked = false});
  ssl::io::load_into(*r, ssl::io::hf::bert_to_ssl(W, L), true, "bert_mlm");
  r->eval();
  const auto ids = io.at("input_ids");
  // Segment ids derived from [SEP] are BERT's pair layout, as given to the reference.
  CHECK(torch::equal(ssl::text::segments_from_sep(ids, SEP, PAD), io.at("token_type_ids")));
  ssl::Masked m{.input = ids, .mask = io.at("labels") != -100};
  auto f = r->backbone()->forward(m);
  check_close(f.tokens, io.at("last_hidden_state"), "last_hidden_state");
  auto out = r->head()->forward(f, m);
  check_close(out.out, io.at("logits"), "logits");
  ssl::Prediction pred{.views = {out.out}, .masked = {m}, .extra = {out}};
  auto loss = r->loss()(pred, {io.at("labels"), {}});
  check_close(loss.loss.reshape({1}), io.at("loss"), "loss");
  loss.loss.backward();
  check_grads(*r, ssl::io::hf::bert_to_ssl(grads_of(io), L));

  // Logits at the selected positions only: the same loss.
  r->head()->options.only_masked(true);
  auto sparse = r->head()->forward(f, m);
  CHECK(sparse.out.size(0) == m.mask.sum().item<int64_t>());
  auto loss2 = r->loss()(ssl::Prediction{.views = {sparse.out}, .masked = {m}, .extra = {sparse}}, {io.at("labels")});
  check_close(loss2.loss.reshape({1}), io.at("loss"), "loss (only masked positions)");
}

TEST_CASE("BERT MLM + NSP == Hugging Face BertForPreTraining") {
  auto W = load("bert_pretrain.weights.safetensors");
  auto io = load("bert_pretrain.io.safetensors");
  auto r = ssl::bert::recipe({.encoder = tiny(), .masking = masking(), .next_sentence = true, .only_masked = false});
  ssl::io::load_into(*r, ssl::io::hf::bert_to_ssl(W, L), true, "bert_pretrain");
  r->eval();
  ssl::Masked m{.input = io.at("input_ids"), .mask = io.at("labels") != -100};
  auto f = r->backbone()->forward(m);
  check_close(f.pooled, io.at("pooler_output"), "pooler_output");
  auto out = r->head()->forward(f, m);
  check_close(out.out, io.at("logits"), "prediction_logits");
  REQUIRE(out.sentence.defined());
  check_close(out.sentence, io.at("nsp_logits"), "seq_relationship_logits");
  // The target carries the batch's labels (Views::labels) beside the MLM labels.
  ssl::Views views{.global = {torch::where(m.mask, io.at("labels"), io.at("input_ids"))}, .labels = io.at("next_sentence_label")};
  ssl::Prediction pred{.views = {out.out}, .masked = {m}, .extra = {out}};
  auto t = r->target()(views, pred);
  REQUIRE(t.sentence.defined());
  CHECK(torch::equal(t.tokens, io.at("labels")));
  auto loss = r->loss()(pred, t);
  check_close(loss.loss.reshape({1}), io.at("loss"), "loss (MLM + NSP)");
  loss.loss.backward();
  check_grads(*r, ssl::io::hf::bert_to_ssl(grads_of(io), L));
}

TEST_CASE("ELECTRA generator == Hugging Face ElectraForMaskedLM (embeddings projected 16 -> 32)") {
  auto W = load("electra_gen.weights.safetensors");
  auto io = load("electra_gen.io.safetensors");
  auto eo = tiny().embedding_dim(16).pooler(false);
  ssl::text::Encoder enc(eo);
  ssl::heads::LmHead head(ssl::heads::LmHeadOptions(D, V).embedding_dim(16), enc->embeddings->tok);
  auto pair = std::make_shared<PairImpl>(enc.ptr(), head.ptr());
  ssl::io::load_into(*pair, ssl::io::hf::electra_to_ssl(W, L), true, "electra_gen");
  pair->eval();
  ssl::Masked m{.input = io.at("input_ids"), .mask = io.at("labels") != -100};
  auto logits = head->forward(enc->forward(m), m).out;
  check_close(logits, io.at("logits"), "generator logits");
  auto loss = ssl::loss::masked_cross_entropy(logits, io.at("labels")).loss;
  check_close(loss.reshape({1}), io.at("loss"), "generator loss");
  loss.backward();
  check_grads(*pair, ssl::io::hf::electra_to_ssl(grads_of(io), L));
}

TEST_CASE("ELECTRA discriminator == Hugging Face ElectraForPreTraining: logits, replaced labels, BCE, gradients") {
  auto W = load("electra_disc.weights.safetensors");
  auto io = load("electra_disc.io.safetensors");
  ssl::text::Encoder enc(tiny().embedding_dim(16).pooler(false));
  ssl::heads::ReplacedTokenHead head(D);
  auto pair = std::make_shared<PairImpl>(enc.ptr(), head.ptr());
  ssl::io::load_into(*pair, ssl::io::hf::electra_to_ssl(W, L), true, "electra_disc");
  pair->eval();
  const auto original = io.at("original_ids"), corrupted = io.at("input_ids");
  auto sel = (original != PAD) & (original != CLS) & (original != SEP);  // what a masker may have selected
  ssl::Masked m{.input = corrupted, .mask = sel, .proposal_logits = torch::zeros({sel.sum().item<int64_t>(), V}, torch::kFloat32)};
  auto logits = head->forward(enc->forward(m), m);
  check_close(logits, io.at("logits"), "discriminator logits");
  ssl::Views views{.global = {original}};
  ssl::Prediction pred{.views = {logits}, .masked = {m}, .extra = {{}}};
  auto t = ssl::target::ReplacedTokens{.pad_id = PAD}(views, pred);
  CHECK(torch::equal(t.replaced.to(torch::kInt64), io.at("labels")));
  auto out = ssl::loss::ReplacedTokenDetection{.weight = 50.0}(pred, t);
  const auto disc = out.parts[2];
  REQUIRE(disc.first == "disc");
  check_close(disc.second.reshape({1}), io.at("loss"), "discriminator BCE");
  // generator logits are all zero: its cross-entropy is log(V) exactly.
  check_close(out.parts[0].second.reshape({1}), torch::tensor({std::log(double(V))}, torch::kFloat32), "generator CE of uniform logits");
  check_close(out.loss.reshape({1}), (out.parts[0].second + 50.0 * disc.second).reshape({1}), "gen + 50 disc");
  (out.loss / 50.0).backward();  // the zero generator logits are constants; the gradient is the BCE's
  check_grads(*pair, ssl::io::hf::electra_to_ssl(grads_of(io), L));
}

TEST_CASE("GPT == Hugging Face GPT2LMHeadModel: logits, shifted next-token loss, gradients") {
  auto W = load("gpt2.weights.safetensors");
  auto io = load("gpt2.io.safetensors");
  auto r = ssl::gpt::recipe({.encoder = ssl::text::EncoderOptions(V, D, L, H).mlp_hidden(F).max_len(P).dropout(0).attn_dropout(0)});
  ssl::io::load_into(*r, ssl::io::hf::gpt2_to_ssl(W, L), true, "gpt2");
  r->eval();
  const auto ids = io.at("input_ids");
  ssl::Batch batch{.input = ids};
  ssl::Views views{.global = {ids}};
  auto pred = r->predict(views);
  check_close(pred.views[0], io.at("logits"), "logits");
  auto out = r->forward(batch);
  check_close(out.loss.reshape({1}), io.at("loss"), "loss");
  out.loss.backward();
  check_grads(*r, ssl::io::hf::gpt2_to_ssl(grads_of(io), L));
}
}

TEST_SUITE("text_models") {
TEST_CASE("masker::Bert: 15 % selected, 80/10/10, never a special or padding token, over 2M tokens") {
  torch::manual_seed(7);
  const int64_t vocab = 1000, B = 512, N = 128, reps = 32;  // 2.1M positions
  ssl::masker::Bert mk{.vocab_size = vocab, .mask_id = MASK, .special_ids = {PAD, UNK, CLS, SEP, MASK}};
  double eligible = 0, selected = 0, masked = 0, randomised = 0, kept = 0, special_hit = 0, random_special = 0;
  for (int64_t r = 0; r < reps; ++r) {
    auto ids = torch::randint(5, vocab, {B, N});
    // sequences with [CLS] ... [SEP] and right padding of random length
    ids.select(1, 0).fill_(CLS);
    auto len = torch::randint(N / 2, N + 1, {B});
    auto pos = torch::arange(N).unsqueeze(0);
    ids = torch::where(pos >= len.unsqueeze(1), torch::full_like(ids, PAD), ids);
    ids.scatter_(1, (len - 1).unsqueeze(1), SEP);
    ids.select(1, 7).fill_(UNK);
    auto m = mk(ids);
    auto ok = mk.eligible(ids);
    eligible += ok.sum().item<double>();
    selected += m.mask.sum().item<double>();
    special_hit += (m.mask & ~ok).sum().item<double>();
    masked += (m.mask & (m.input == MASK)).sum().item<double>();
    kept += (m.mask & (m.input == ids)).sum().item<double>();
    auto rnd = m.mask & (m.input != MASK) & (m.input != ids);
    randomised += rnd.sum().item<double>();
    random_special += (rnd & (m.input < 5)).sum().item<double>();
    CHECK(torch::equal(m.input.index({~m.mask}), ids.index({~m.mask})));  // unselected tokens untouched
  }
  REQUIRE(eligible > 1e6);
  CHECK(special_hit == 0);
  CHECK(random_special == 0);
  // A random replacement equal to the original counts as "kept": expected 10 % + 10 %/995.
  const double kept_expected = 0.1 + 0.1 / 995.0, random_expected = 0.1 - 0.1 / 995.0;
  MESSAGE("selected ", 100 * selected / eligible, " %, [MASK] ", 100 * masked / selected, " %, random ",
          100 * randomised / selected, " %, kept ", 100 * kept / selected, " %");
  CHECK(std::abs(selected / eligible - 0.15) < 0.003);
  CHECK(std::abs(masked / selected - 0.8) < 0.003);
  CHECK(std::abs(randomised / selected - random_expected) < 0.003);
  CHECK(std::abs(kept / selected - kept_expected) < 0.003);
}

TEST_CASE("masker::Bert: static masking repeats per sequence, dynamic does not") {
  auto ids = torch::randint(5, V, {8, P});
  auto st = masking();
  st.dynamic = false;
  auto a = st(ids), b = st(ids);
  CHECK(torch::equal(a.mask, b.mask));
  CHECK(torch::equal(a.input, b.input));
  // the same sequence in another batch position or batch: the same mask
  auto c = st(ids.flip(0));
  CHECK(torch::equal(c.mask.flip(0), a.mask));
  auto dy = masking();
  auto d1 = dy(ids), d2 = dy(ids);
  CHECK_FALSE(torch::equal(d1.mask, d2.mask));
}

TEST_CASE("masker::Bert and text::Encoder reject bad input with what was expected") {
  auto mk = masking();
  CHECK_THROWS_WITH_AS(mk(torch::zeros({4})), doctest::Contains("expected 2-D tensor token ids [B,N]"), c10::Error);
  CHECK_THROWS_WITH_AS(mk(torch::zeros({2, 4})), doctest::Contains("expected int64 token ids"), c10::Error);
  auto bad = mk;
  bad.ratio = 1.5;
  CHECK_THROWS_WITH_AS(bad(torch::zeros({2, 4}, torch::kInt64)), doctest::Contains("ratio in (0,1)"), c10::Error);
  ssl::text::Encoder enc(tiny());
  CHECK_THROWS_WITH_AS(enc->forward(ssl::Masked{.input = torch::full({1, 4}, V, torch::kInt64)}),
                       doctest::Contains("token ids must be in [0, 50)"), c10::Error);
  CHECK_THROWS_WITH_AS(enc->forward(ssl::Masked{.input = torch::zeros({1, P + 1}, torch::kInt64)}),
                       doctest::Contains("outside [1, max_len = 16]"), c10::Error);
}

TEST_CASE("text::Encoder pools the mean, the last or the first token, as EncoderOptions::pooling says") {
  using ssl::text::Pooling;
  const auto bert = ssl::text::EncoderOptions(50, 8, 1, 2);
  CHECK(bert.pooling() == Pooling::first_token);
  CHECK(ssl::text::EncoderOptions(bert).mean_pool(true).pooling() == Pooling::mean);
  const auto gpt = ssl::text::gpt(ssl::text::EncoderOptions(50, 8, 1, 2));
  CHECK(gpt.pooling() == Pooling::last_token);
  CHECK(ssl::text::EncoderOptions(gpt).pooler(true).pooling() == Pooling::first_token);
  CHECK(std::string(ssl::text::to_string(Pooling::last_token)) == "the last token");
  // Closed form on token states 0..11 ([2 sequences, 3 tokens, 2 dims]), the second one padded after 2.
  const auto x = torch::arange(12, torch::kFloat32).view({2, 3, 2});
  const auto not_pad = torch::tensor({1, 1, 1, 1, 1, 0}, torch::kBool).view({2, 3});
  auto pooled = [&](ssl::text::EncoderOptions o) { return ssl::text::Encoder(o)->pool_tokens(x, not_pad); };
  CHECK(torch::equal(pooled(ssl::text::EncoderOptions(bert).mean_pool(true)), torch::tensor({2.f, 3.f, 7.f, 8.f}).view({2, 2})));
  CHECK(torch::equal(pooled(gpt), torch::tensor({4.f, 5.f, 8.f, 9.f}).view({2, 2})));
  CHECK(torch::equal(pooled(bert), torch::tensor({0.f, 1.f, 6.f, 7.f}).view({2, 2})));
}

TEST_CASE("target::NextTokens shifts by one and ignores the last position and padding") {
  auto ids = torch::tensor({{5, 6, 7, 0}, {8, 9, 10, 11}}, torch::kInt64);
  auto t = ssl::target::NextTokens{.pad_id = 0}(ssl::Views{.global = {ids}}, {});
  CHECK(torch::equal(t.tokens, torch::tensor({{6, 7, -100, -100}, {9, 10, 11, -100}}, torch::kInt64)));
}

TEST_CASE("loss::masked_cross_entropy: closed form, and zero when nothing is selected") {
  auto logits = torch::zeros({1, 3, 4});
  logits[0][1][2] = 1.0;
  auto labels = torch::tensor({{-100, 2, 1}}, torch::kInt64);  // position 2: uniform logits, argmax 0 != 1
  auto r = ssl::loss::masked_cross_entropy(logits, labels);
  const double e = std::exp(1.0);
  const double expected = 0.5 * (-std::log(e / (e + 3)) - std::log(1.0 / 4.0));
  CHECK(r.loss.item<double>() == doctest::Approx(expected).epsilon(1e-6));
  CHECK(r.accuracy.item<double>() == doctest::Approx(0.5));
  auto none = ssl::loss::masked_cross_entropy(logits, torch::full({1, 3}, -100, torch::kInt64));
  CHECK(none.loss.item<double>() == 0.0);
}

TEST_CASE("ELECTRA recipe: generator and discriminator share one embedding, trained once by AdamW") {
  auto r = ssl::electra::recipe({.discriminator = tiny().embedding_dim(16).pooler(false), .masking = masking()});
  auto& gen = r->masker();
  CHECK(gen->encoder->embeddings.ptr() == r->backbone()->embeddings.ptr());
  ssl::optim::AdamW opt(r->named_parameters().pairs(), {.lr = 1e-3});
  size_t unique = 0;
  std::set<const void*> seen;
  for (const auto& p : r->parameters()) unique += seen.insert(p.unsafeGetTensorImpl()).second;
  CHECK(opt.parameters().size() == unique);
  CHECK(unique < r->parameters().size());
  // one step runs and gives finite parts
  torch::manual_seed(0);
  auto ids = torch::randint(5, V, {4, P});
  auto out = r->forward(ssl::Batch{.input = ids});
  CHECK(std::isfinite(out.loss.item<double>()));
  out.loss.backward();
  CHECK(r->backbone()->embeddings->tok->weight.grad().defined());
  CHECK(gen->head->dense->weight.grad().defined());
  // the discriminator's own blocks and head learn from the replaced-token loss
  auto& disc_qkv = r->backbone()->blocks->block(0)->attn->qkv->weight;
  REQUIRE(disc_qkv.grad().defined());
  CHECK(disc_qkv.grad().norm().item<double>() > 0);
  CHECK(r->head()->out->weight.grad().norm().item<double>() > 0);
  CHECK(gen->encoder->blocks->block(0)->attn->qkv->weight.grad().norm().item<double>() > 0);
}

TEST_CASE("gpt::generate continues a prompt greedily and deterministically") {
  torch::manual_seed(0);
  auto r = ssl::gpt::recipe({.encoder = ssl::text::EncoderOptions(V, D, L, H).max_len(P)});
  auto a = ssl::gpt::generate(r, {5, 6, 7}, 20);
  auto b = ssl::gpt::generate(r, {5, 6, 7}, 20);
  CHECK(a.size() == 23);
  CHECK(a == b);
}

TEST_CASE("data::split_sentences: sentence ends, closing quotes, paragraph breaks; no empty pieces") {
  auto s = ssl::data::split_sentences("He said \"stop!\" Then he left.  Is it 3.14? Yes\n\nNew paragraph -- Anon");
  REQUIRE(s.size() == 5);
  CHECK(s[0] == "He said \"stop!\"");
  CHECK(s[1] == "Then he left.");
  CHECK(s[2] == "Is it 3.14?");
  CHECK(s[3] == "Yes");
  CHECK(s[4] == "New paragraph -- Anon");
  CHECK(ssl::data::split_sentences("  \n\n ").empty());
}

TEST_CASE("data::pack, data::single, data::sentence_pairs: layouts, padding, labels") {
  const ssl::data::TextSpecials sp{.cls = CLS, .sep = SEP, .pad = PAD};
  auto p = ssl::data::pack({{10, 11, 12}, {13, 14}}, sp, 5);
  // stream 10 11 12 SEP 13 14 SEP -> rows of 3 tokens framed by CLS ... SEP
  CHECK(torch::equal(p.ids, rows({{CLS, 10, 11, 12, SEP}, {CLS, SEP, 13, 14, SEP}, {CLS, SEP, SEP, PAD, PAD}})));
  auto g = ssl::data::pack({{10, 11, 12}, {13, 14}}, {.cls = -1, .sep = SEP, .pad = PAD}, 4);  // GPT stream
  CHECK(torch::equal(g.ids, rows({{10, 11, 12, SEP}, {13, 14, SEP, PAD}})));
  auto one = ssl::data::single({{10, 11, 12, 13, 14}, {15}}, {1, 0}, sp, 4);
  CHECK(torch::equal(one.ids, rows({{CLS, 10, 11, SEP}, {CLS, 15, SEP, PAD}})));
  CHECK(torch::equal(one.labels, torch::tensor({1, 0}, torch::kInt64)));
  CHECK_THROWS_WITH_AS(ssl::data::single({{1}}, {1, 2}, sp, 4), doctest::Contains("1 documents but 2 labels"), c10::Error);

  // Pairs: 200 documents of 3 sentences; label 0 = the continuation, about half are random.
  std::vector<std::vector<std::vector<int64_t>>> docs;
  for (int64_t d = 0; d < 200; ++d) docs.push_back({{100 + d, 100 + d}, {300 + d}, {500 + d, 500 + d, 500 + d}});
  auto pairs = ssl::data::sentence_pairs(docs, sp, 12, /*seed=*/3);
  REQUIRE(pairs.ids.size(0) == 200);
  const double random_share = pairs.labels.to(torch::kFloat64).mean().item<double>();
  CHECK(random_share > 0.4);
  CHECK(random_share < 0.6);
  for (int64_t r = 0; r < 200; ++r) {
    auto row = pairs.ids[r];
    CHECK(row[0].item<int64_t>() == CLS);
    CHECK((row == SEP).sum().item<int64_t>() == 2);
    // segment B belongs to the same document (ids 100+d, 300+d, 500+d) iff label 0
    auto seg = ssl::text::segments_from_sep(row.unsqueeze(0), SEP, PAD)[0];
    auto b = row.index({(seg == 1) & (row != SEP)});
    const auto d = row[1].item<int64_t>() - 100;
    const bool same = ((b - 100) % 200 == d).all().item<bool>();
    CHECK(same == (pairs.labels[r].item<int64_t>() == 0));
  }
  // deterministic given the seed
  CHECK(torch::equal(ssl::data::sentence_pairs(docs, sp, 12, 3).ids, pairs.ids));
}

TEST_CASE("data::trim_padding and the Loader's length grouping") {
  auto ids = rows({{CLS, 9, SEP, PAD, PAD}, {CLS, 9, 9, SEP, PAD}});
  CHECK(ssl::data::trim_padding(PAD)(ids).size(1) == 4);
  const int64_t S = 1000, B = 10;
  auto lengths = torch::randint(1, 128, {S});
  ssl::data::Loader grouped(torch::arange(S), {}, {}, {.batch_size = B, .seed = 5, .prefetch = 0, .lengths = lengths});
  ssl::data::Loader plain(torch::arange(S), {}, {}, {.batch_size = B, .seed = 5, .prefetch = 0});
  auto spread = [&](const auto& l) {
    double sum = 0;
    int64_t seen = 0;
    std::set<int64_t> all;
    l.run(0, 0, [&](const ssl::Batch& b, int64_t) {
      auto len = lengths.index_select(0, b.input);
      sum += (len.max() - len.min()).item<double>();
      for (int64_t i = 0; i < b.input.size(0); ++i) all.insert(b.input[i].item<int64_t>());
      ++seen;
      return true;
    });
    CHECK(all.size() == size_t(S));  // a permutation: every sample once
    return sum / double(seen);
  };
  const double g = spread(grouped), p = spread(plain);
  MESSAGE("mean length range per batch: grouped ", g, ", plain ", p);
  CHECK(g < 0.2 * p);
  CHECK_FALSE(torch::equal(grouped.order(0), grouped.order(1)));  // reshuffled per epoch
}
}

TEST_SUITE("text_models") {
TEST_CASE("ELECTRA: the discriminator reads the generator's samples; the replaced labels mark exactly them") {
  torch::manual_seed(0);
  auto r = ssl::electra::recipe({.discriminator = tiny().embedding_dim(16).pooler(false), .masking = masking()});
  auto ids = torch::randint(5, V, {8, P});
  auto pred = r->predict(ssl::Views{.global = {ids}});
  const auto& m = pred.masked[0];
  // What the discriminator was given differs from the clean ids exactly where a sample replaced a token.
  auto t = r->target()(ssl::Views{.global = {ids}}, pred);
  CHECK(torch::equal(t.replaced.to(torch::kBool), m.input != ids));
  CHECK((m.input != ids).any().item<bool>());
  CHECK(torch::equal((m.input != ids) & ~m.mask, torch::zeros_like(m.mask)));
  MESSAGE("replaced ", t.replaced.mean().item<double>(), " of tokens, selected ", m.mask.to(torch::kFloat32).mean().item<double>());
}
}

TEST_SUITE("text_models") {
TEST_CASE("ELECTRA diagnostics: ROC-AUC by ranks, recall, prior; the generator's sampling knobs") {
  // AUC: 3 positives, 3 negatives; pairs (pos > neg): 0.9>all 3, 0.4>{0.1,0.3}, 0.2>{0.1} -> 6/9; a tie counts 1/2.
  auto s = torch::tensor({0.9, 0.1, 0.4, 0.3, 0.2, 0.5});
  auto y = torch::tensor({1.f, 0.f, 1.f, 0.f, 1.f, 0.f});
  CHECK(ssl::loss::replaced_token_auc(s, y).item<double>() == doctest::Approx(6.0 / 9.0));
  CHECK(ssl::loss::replaced_token_auc(torch::tensor({1.0, 1.0}), torch::tensor({1.f, 0.f})).item<double>() ==
        doctest::Approx(0.5));
  CHECK(ssl::loss::replaced_token_auc(torch::tensor({1.0, 2.0}), torch::tensor({0.f, 0.f})).item<double>() == 0.5);
  CHECK(ssl::loss::replaced_token_auc(torch::tensor({0.0, 2.0}), torch::tensor({0.f, 1.f})).item<double>() == 1.0);
  // disallow_correct: every selected token is replaced; uniform: never a special token.
  for (bool uniform : {false, true}) {
    torch::manual_seed(1);
    auto r = ssl::electra::recipe({.discriminator = tiny().embedding_dim(16).pooler(false), .masking = masking(),
                                   .temperature = 2.0, .disallow_correct = true, .uniform_generator = uniform});
    auto ids = torch::randint(5, V, {8, P});
    auto pred = r->predict(ssl::Views{.global = {ids}});
    const auto& m = pred.masked[0];
    CHECK(torch::equal(m.input != ids, m.mask));
    if (uniform) CHECK((m.input.index({m.mask}) >= 5).all().item<bool>());  // the learned generator may sample any id
    auto t = r->target()(ssl::Views{.global = {ids}}, pred);
    auto out = r->loss()(pred, t);
    std::map<std::string, double> parts;
    for (const auto& [k, v] : out.parts) parts[k] = v.item<double>();
    CHECK(parts.at("gen_sample_acc") == 0.0);
    CHECK(parts.at("disc_prior") == doctest::Approx(1.0 - parts.at("replaced")));
    CHECK(parts.at("disc_auc") >= 0.0);
    CHECK(parts.at("disc_auc") <= 1.0);
  }
}
}

TEST_SUITE("text_models") {
TEST_CASE("eval::TokenClassifier on a text backbone learns a per-token rule (ids >= 30 vs below), padding unscored") {
  torch::manual_seed(0);
  ssl::text::Encoder enc(tiny().dropout(0).attn_dropout(0));
  ssl::eval::TokenClassifier clf(enc, 2);
  auto ids = torch::randint(5, V, {256, P});
  ids.narrow(1, P - 3, 3).fill_(PAD);
  auto labels = torch::where(ids == PAD, torch::full_like(ids, -100), (ids >= 30).to(torch::kInt64));
  ssl::data::Loader loader(ids, labels, {}, {.batch_size = 32, .prefetch = 0});
  ssl::Trainer trainer(clf, ssl::optim::AdamWOptions{.lr = 3e-3, .weight_decay = 0.0}, ssl::schedule::Constant{});
  trainer.fit(loader, {.epochs = 15, .progress = 0});
  torch::NoGradGuard g;
  clf->eval();
  auto test = torch::randint(5, V, {64, P});
  auto pred = clf->logits(test).argmax(-1);
  const double acc = (pred == (test >= 30).to(torch::kInt64)).to(torch::kFloat64).mean().item<double>();
  MESSAGE("token accuracy ", acc);
  CHECK(acc > 0.95);
  CHECK_THROWS_WITH_AS(clf->forward(ssl::Batch{.input = ids, .target = labels.narrow(1, 0, 4)}),
                       doctest::Contains("expected labels of the input's shape"), c10::Error);
}
}

TEST_SUITE("text_models") {
TEST_CASE("ELECTRA's discriminator (text::Encoder + ReplacedTokenHead + BCE) leaves the all-original plateau on structured data") {
  // Counting sequences (token i+1 follows token i) with 15 % uniform replacements: after a
  // plateau at the prior (~500 steps here) the discriminator reads context and spots them.
  torch::manual_seed(0);
  ssl::text::Encoder enc(tiny().pooler(false));
  ssl::heads::ReplacedTokenHead head(D);
  std::vector<torch::Tensor> params = enc->parameters();
  for (auto& p : head->parameters()) params.push_back(p);
  torch::optim::Adam opt(params, 1e-3);
  auto make = [](int64_t n) {
    auto start = torch::randint(0, V - 5, {n, 1});
    return (start + torch::arange(P).unsqueeze(0)) % (V - 5) + 5;
  };
  for (int step = 0; step < 2000; ++step) {
    auto ids = make(32);
    auto sel = torch::rand(ids.sizes()) < 0.15;
    auto corrupted = torch::where(sel, torch::randint(5, V, ids.sizes()), ids);
    auto labels = (corrupted != ids).to(torch::kFloat32);
    auto logits = head->forward(enc->forward(ssl::Masked{.input = corrupted}), {});
    auto loss = torch::binary_cross_entropy_with_logits(logits, labels);
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  enc->eval();
  head->eval();
  torch::NoGradGuard g;
  auto ids = make(512);
  auto sel = torch::rand(ids.sizes()) < 0.15;
  auto corrupted = torch::where(sel, torch::randint(5, V, ids.sizes()), ids);
  auto labels = (corrupted != ids).to(torch::kFloat32);
  auto logits = head->forward(enc->forward(ssl::Masked{.input = corrupted}), {});
  const double acc = ((logits > 0).to(torch::kFloat32) == labels).to(torch::kFloat32).mean().item<double>();
  const double prior = 1 - labels.mean().item<double>();
  MESSAGE("discriminator accuracy ", acc, " vs all-original prior ", prior);
  CHECK(acc > prior + 0.08);
}
}

}  // namespace test_text_models
