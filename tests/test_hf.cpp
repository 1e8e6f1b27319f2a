// Hugging Face checkpoint directories in and out (io/hf_checkpoint.hpp).
//  hf_parity: transformers saved tiny random models (tests/python/make_hf_references.py); libssl
//    loads each directory and gives transformers' logits; then it saves each loaded model into
//    $SSL_REFS/hf_saved/<case> with its logits, which tests/python/check_hf_saved.py loads back with
//    transformers (entry hf_saved_read).
//  hf_errors: an unknown model_type, an unsupported config value, a missing field or tensor, a
//    broken shard index, models that are not of the architecture asked to be saved, and an
//    encoder of another size given to load_encoder.
#include <doctest/doctest.h>
#include <ssl/bert.hpp>
#include <ssl/io/hf_checkpoint.hpp>
#include <ssl/io/safetensors.hpp>
#include <ssl/resnet/encoder.hpp>

#include "parity.hpp"
#include "util.hpp"

#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <unordered_map>

namespace test_hf {

namespace {
namespace hf = ssl::io::hf;
namespace fs = std::filesystem;
using parity::check_close;
using parity::Dict;

std::string dir_of(const std::string& c) { return parity::refs() + "/hf/" + c; }
Dict io_of(const std::string& c) { return parity::load("hf/" + c + ".io.safetensors"); }
std::string saved(const std::string& c) { return parity::refs() + "/hf_saved/" + c; }
void write_io(const std::string& c, const ssl::io::TensorMap& t) {
  fs::create_directories(parity::refs() + "/hf_saved");
  ssl::io::save_safetensors(saved(c) + ".io.safetensors", t);
}

/// Encoded by libssl's WordPiece / byte-level BPE and by transformers' tokenizers from the saved files.
constexpr const char* kTokenizerText = "W7 w9s42 w11, w99 unknown hello world<|endoftext|>";

/// Loads text case `c`, checks logits (a `BertModel`'s: its last hidden state) and last hidden
/// state (and a pooler's output) against transformers', saves it back and writes its logits for
/// check_hf_saved.py.
void text_round_trip(const std::string& c, hf::Arch expected) {
  CAPTURE(c);
  torch::NoGradGuard g;
  auto io = io_of(c);
  auto m = hf::load_text(dir_of(c));
  CHECK(m->arch == expected);
  const auto ids = io.at("input_ids");
  const auto logits = m->forward(ids);
  check_close(logits, io.at("logits"), c + ": logits");
  check_close(m->backbone->forward(ssl::Masked{.input = ids}).tokens, io.at("hidden"), c + ": last hidden state");
  hf::save_pretrained(saved(c), *m);
  // libssl reads its own directory back to the same model.
  CHECK(torch::equal(hf::load_text(saved(c))->forward(ids), logits));
  ssl::io::TensorMap out{{"input_ids", ids}, {"attention_mask", io.at("attention_mask")}, {"logits", logits}};
  if (io.count("pooled")) {  // BertModel: its pooler's output too
    const auto pooled = m->backbone->forward(ssl::Masked{.input = ids}).pooled;
    check_close(pooled, io.at("pooled"), c + ": pooler output");
    out.emplace_back("pooled", pooled);
  }
  if (c == "bert") {  // and a WordPiece vocabulary beside it: the ids transformers' tokenizer must give
    std::vector<std::string> tokens{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (int i = 5; i < 100; ++i) tokens.push_back(i % 2 ? "w" + std::to_string(i) : "##s" + std::to_string(i));
    const ssl::text::Vocab vocab(tokens);
    hf::save_wordpiece(saved(c), vocab);
    const auto tok = ssl::text::WordPiece(vocab).encode_with_specials(kTokenizerText);
    CHECK(tok.size() > 4);
    out.emplace_back("token_ids", torch::tensor(tok, torch::kInt64));
  }
  if (c == "gpt2") {  // and a byte-level BPE beside it: 256 byte tokens, a few merges, <|endoftext|>
    std::unordered_map<std::string, int64_t> vocab;
    for (size_t b = 0; b < 256; ++b) {
      std::string ch;
      ssl::text::append_utf8(ch, ssl::text::byte_to_unicode()[b]);
      vocab[ch] = static_cast<int64_t>(b);
    }
    const std::vector<std::pair<std::string, std::string>> merges{
        {"h", "e"}, {"l", "l"}, {"he", "ll"}, {"\u0120", "w"}, {"o", "r"}, {"\u0120w", "or"}, {"hell", "o"}};
    for (const auto& [a, b] : merges) vocab.emplace(a + b, static_cast<int64_t>(vocab.size()));
    vocab["<|endoftext|>"] = static_cast<int64_t>(vocab.size());
    const ssl::text::ByteLevelBPE bpe(vocab, merges);
    CHECK(bpe.merges() == merges);
    hf::save_bpe(saved(c), bpe);
    const auto tok = bpe.encode(kTokenizerText);
    CHECK(tok.size() > 4);
    out.emplace_back("token_ids", torch::tensor(tok, torch::kInt64));
  }
  write_io(c, out);
}

/// The message of the error `f` throws ("" when it does not throw).
std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const c10::Error& e) {
    return e.msg();
  }
  return "";
}
void check_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  const auto msg = error_of(f);
  REQUIRE_MESSAGE(!msg.empty(), "expected an error naming: ", parts.front());
  for (const auto& p : parts) CHECK_MESSAGE(msg.find(p) != std::string::npos, "'", p, "' not in: ", msg);
}

/// A copy of case `c`'s directory in `tmp/name`, its config edited by `edit`.
std::string edited_copy(const std::string& c, const fs::path& tmp, const std::string& name,
                        const std::function<void(nlohmann::json&)>& edit) {
  const auto d = tmp / name;
  fs::create_directories(d);
  fs::copy(dir_of(c), d, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  std::ifstream in(d / "config.json");
  auto j = nlohmann::json::parse(in);
  edit(j);
  std::ofstream(d / "config.json") << j.dump(2);
  return d.string();
}
}  // namespace

TEST_SUITE("hf_parity") {
TEST_CASE("BERT, RoBERTa, ELECTRA (generator, discriminator), GPT-2: transformers -> libssl -> transformers") {
  text_round_trip("bert", hf::Arch::bert_mlm);
  text_round_trip("roberta", hf::Arch::roberta_mlm);
  text_round_trip("electra_gen", hf::Arch::electra_generator);
  text_round_trip("electra_disc", hf::Arch::electra_discriminator);
  text_round_trip("gpt2", hf::Arch::gpt2_lm);
  // What the config said reached the models.
  auto rob = hf::load_text(dir_of("roberta"));
  CHECK(rob->backbone->options.padding_positions());
  CHECK(rob->backbone->options.pad_id() == 1);
  CHECK(rob->backbone->options.eps() == doctest::Approx(1e-5));
  CHECK(rob->backbone->options.type_vocab() == 1);
  CHECK(hf::load_text(dir_of("electra_gen"))->backbone->options.embedding_width() == 16);
  CHECK(hf::load_text(dir_of("gpt2"))->backbone->options.gelu() == "tanh");
}

TEST_CASE("BertModel (head-less, names without bert.): the encoder and its pooler; load_encoder of any text model") {
  text_round_trip("bert_model", hf::Arch::bert_model);
  torch::NoGradGuard g;
  auto m = hf::load_text(dir_of("bert_model"));
  CHECK(!m->lm);
  CHECK(!m->rtd);
  CHECK(m->backbone->options.pooler());
  CHECK(ssl::io::load_safetensors(dir_of("bert_model") + "/model.safetensors").count("embeddings.word_embeddings.weight"));
  // load_encoder: a classifier's encoder (pooler on) from a BertModel (its pooler loaded), from a
  // BertForMaskedLM (no pooler in it: the encoder's own kept) and from ELECTRA's discriminator.
  auto encoder_of = [](const std::string& c) {
    return ssl::text::Encoder(hf::text_options(hf::read_config(dir_of(c))).pooler(true));
  };
  auto io = io_of("bert_model");
  auto base = encoder_of("bert_model");
  CHECK(hf::load_encoder(*base, dir_of("bert_model")));
  base->eval();
  auto f = base->forward(ssl::Masked{.input = io.at("input_ids")});
  check_close(f.tokens, io.at("hidden"), "load_encoder(bert_model): last hidden state");
  check_close(f.pooled, io.at("pooled"), "load_encoder(bert_model): pooler output");
  for (const char* c : {"bert", "electra_disc"}) {
    CAPTURE(c);
    auto enc = encoder_of(c);
    const auto pooler = enc->pooler->weight.clone();
    CHECK(!hf::load_encoder(*enc, dir_of(c)));
    CHECK(torch::equal(enc->pooler->weight, pooler));
    enc->eval();
    auto cio = io_of(c);
    check_close(enc->forward(ssl::Masked{.input = cio.at("input_ids")}).tokens, cio.at("hidden"),
                std::string(c) + ": load_encoder's last hidden state");
  }
}

TEST_CASE("a sharded checkpoint (index + >= 2 shards) and a float16 one load as float32") {
  size_t shards = 0;
  for (const auto& e : fs::directory_iterator(dir_of("bert_sharded")))
    if (e.path().extension() == ".safetensors") ++shards;
  CHECK(shards >= 2);
  CHECK(fs::exists(dir_of("bert_sharded") + "/model.safetensors.index.json"));
  text_round_trip("bert_sharded", hf::Arch::bert_mlm);
  const bool stored_half =
      ssl::io::load_safetensors(dir_of("bert_fp16") + "/model.safetensors").begin()->second.scalar_type() == torch::kHalf;
  CHECK(stored_half);
  const auto w = hf::read_weights(dir_of("bert_fp16"));
  for (const auto& [k_, t] : w.tensors) {
    const bool f32 = t.scalar_type() == torch::kFloat32;
    const auto& k = k_;  // capturable (CHECK_MESSAGE's lambda, clang < 16)
    CHECK_MESSAGE(f32, k);
  }
  text_round_trip("bert_fp16", hf::Arch::bert_mlm);
}

TEST_CASE("load_into an existing recipe: bert::recipe with the config's encoder options") {
  torch::NoGradGuard g;
  const auto c = hf::read_config(dir_of("bert"));
  const auto o = hf::text_options(c);
  auto r = ssl::bert::recipe({.encoder = o, .masking = {.vocab_size = o.vocab(), .mask_id = 4, .special_ids = {0}},
                              .only_masked = false});
  hf::load_into(*r, dir_of("bert"));
  r->eval();
  auto io = io_of("bert");
  ssl::Masked m{.input = io.at("input_ids")};
  const auto logits = r->head()->forward(r->backbone()->forward(m), m).out;
  check_close(logits, io.at("logits"), "bert::recipe logits");
  // And back out of the recipe (as docs/03_text.md shows).
  ssl_test::TempDir tmp("ssl_hf_recipe");
  hf::save_pretrained((tmp.path / "bert").string(), hf::Arch::bert_mlm, *r->backbone(), *r->head());
  CHECK(torch::equal(hf::load_text((tmp.path / "bert").string())->forward(m.input), logits));
}

TEST_CASE("ViTModel and ViTMAEForPreTraining: transformers -> libssl; ViT encoders -> transformers") {
  torch::NoGradGuard g;
  auto io = io_of("vit");
  auto vit = hf::load_vit(dir_of("vit"));
  CHECK(vit->options.learned_pos());
  CHECK(vit->options.eps() == doctest::Approx(1e-12));
  const auto x = io.at("pixel_values");
  auto tokens = vit->forward(ssl::Masked{.input = x}).tokens;
  check_close(tokens, io.at("logits"), "vit: last hidden state");
  hf::save_pretrained(saved("vit"), *vit);
  write_io("vit", {{"pixel_values", x}, {"logits", tokens}});

  auto mio = io_of("vit_mae");
  auto mae = hf::load_vit_mae(dir_of("vit_mae"));
  CHECK(mae->mask_ratio == doctest::Approx(0.5));
  auto pred = mae->forward(mio.at("pixel_values"), mio.at("noise"));
  check_close(pred, mio.at("logits"), "vit_mae: logits");
  CHECK(torch::equal(mae->mask.to(torch::kFloat32), mio.at("mask")));
  // MAE's encoder (fixed sin-cos positions) written as a ViTModel.
  hf::save_pretrained(saved("vit_mae_encoder"), *mae->backbone);
  write_io("vit_mae_encoder", {{"pixel_values", x}, {"logits", mae->backbone->forward(ssl::Masked{.input = x}).tokens}});
}
}

TEST_SUITE("hf_errors") {
TEST_CASE("unknown model_type, unsupported values, missing fields and tensors name the file and what") {
  ssl_test::TempDir tmp("ssl_hf_errors");
  auto d = edited_copy("bert", tmp.path, "llama", [](auto& j) { j["model_type"] = "llama"; });
  check_error([&] { hf::load_text(d); }, {"config.json", "model_type 'llama' is not supported"});
  d = edited_copy("bert", tmp.path, "relu", [](auto& j) { j["hidden_act"] = "relu"; });
  check_error([&] { hf::load_text(d); }, {"config.json", "'hidden_act' is 'relu'"});
  d = edited_copy("gpt2", tmp.path, "gpt_silu", [](auto& j) { j["activation_function"] = "silu"; });
  check_error([&] { hf::load_text(d); }, {"config.json", "'activation_function' is 'silu'"});
  d = edited_copy("bert", tmp.path, "relative", [](auto& j) { j["position_embedding_type"] = "relative_key"; });
  check_error([&] { hf::load_text(d); }, {"config.json", "'position_embedding_type'", "relative_key"});
  d = edited_copy("bert", tmp.path, "untied", [](auto& j) { j["tie_word_embeddings"] = false; });
  check_error([&] { hf::load_text(d); }, {"config.json", "'tie_word_embeddings'"});
  d = edited_copy("bert", tmp.path, "no_hidden", [](auto& j) { j.erase("hidden_size"); });
  check_error([&] { hf::load_text(d); }, {"config.json", "missing field 'hidden_size'"});
  d = edited_copy("bert", tmp.path, "string_layers", [](auto& j) { j["num_hidden_layers"] = "2"; });
  check_error([&] { hf::load_text(d); }, {"config.json", "'num_hidden_layers' to be an integer"});
  d = edited_copy("electra_gen", tmp.path, "electra_what", [](auto& j) { j.erase("architectures"); });
  check_error([&] { hf::load_text(d); }, {"config.json", "'architectures'", "ElectraForPreTraining"});
  check_error([&] { hf::load_vit(dir_of("bert")); }, {"config.json", "expected model_type 'vit'"});

  // A tensor missing from model.safetensors.
  d = edited_copy("bert", tmp.path, "missing_tensor", [](auto&) {});
  auto w = ssl::io::load_safetensors(d + "/model.safetensors");
  w.erase("bert.encoder.layer.1.intermediate.dense.weight");
  ssl::io::save_safetensors(d + "/model.safetensors", ssl::io::TensorMap(w.begin(), w.end()));
  check_error([&] { hf::load_text(d); }, {"model.safetensors", "bert.encoder.layer.1.intermediate.dense.weight"});
  // A tensor the model does not have.
  w["bert.encoder.layer.1.intermediate.dense.weight"] = torch::zeros({64, 32});
  w["bert.surplus"] = torch::zeros({2});
  ssl::io::save_safetensors(d + "/model.safetensors", ssl::io::TensorMap(w.begin(), w.end()));
  check_error([&] { hf::load_text(d); }, {"model.safetensors", "unexpected", "bert.surplus"});
  // No weights at all, and a shard index pointing a tensor at the wrong shard.
  fs::remove(d + "/model.safetensors");
  check_error([&] { hf::load_text(d); }, {"missing_tensor", "model.safetensors.index.json"});
  d = edited_copy("bert_sharded", tmp.path, "bad_index", [](auto&) {});
  std::ifstream in(d + "/model.safetensors.index.json");
  auto idx = nlohmann::json::parse(in);
  auto& map = idx["weight_map"];
  const auto first = map.begin().value().get<std::string>();
  std::string other;
  for (auto& [k, v] : map.items())
    if (v.get<std::string>() != first) other = v.get<std::string>();
  REQUIRE(!other.empty());
  const auto name = map.begin().key();
  map[name] = other;
  std::ofstream(d + "/model.safetensors.index.json") << idx.dump();
  check_error([&] { hf::load_text(d); }, {"model.safetensors.index.json", name, "no such tensor"});
}

TEST_CASE("save_pretrained refuses a model that is not of the architecture asked for") {
  auto bert = hf::load_text(dir_of("bert"));
  ssl_test::TempDir tmp("ssl_hf_save_errors");
  check_error([&] { hf::save_pretrained((tmp.path / "x").string(), hf::Arch::gpt2_lm, *bert->backbone, *bert->lm); },
              {"GPT2LMHeadModel", "text::gpt"});
  check_error(
      [&] { hf::save_pretrained((tmp.path / "y").string(), hf::Arch::roberta_mlm, *bert->backbone, *bert->lm); },
      {"RobertaForMaskedLM", "padding_positions(true)"});
  check_error([&] { hf::text_to_hf(hf::Arch::bert_model, *bert->backbone, *bert->lm); },
              {"BertModel", "save_pretrained(dir, encoder)"});
  ssl::text::Encoder mean(hf::text_options(hf::read_config(dir_of("bert"))).pooler(true).mean_pool(true));
  check_error([&] { hf::save_pretrained((tmp.path / "z").string(), *mean); }, {"BertModel", "mean_pool"});
}

TEST_CASE("load_encoder: an encoder of another size, and a model that is not a text one") {
  ssl::text::Encoder narrow(hf::text_options(hf::read_config(dir_of("bert"))).mlp_hidden(48));
  check_error([&] { hf::load_encoder(*narrow, dir_of("bert")); },
              {"model.safetensors", "blocks.0.mlp.fc1.weight", "has shape [64, 32]", "expects [48, 32]"});
  check_error([&] { hf::load_encoder(*narrow, dir_of("vit")); }, {"config.json", "'vit' is not a text model"});
}
}

// ---- Out: whole ViT-MAEs (ViTMAEForPreTraining) and ResNets (torchvision names) ----------------
namespace {
/// torchvision's BatchNorm state made non-trivial (running statistics, affine parameters, counter).
void perturb_batch_norms(torch::nn::Module& m) {
  torch::NoGradGuard g;
  for (auto& mod : m.modules(/*include_self=*/false))
    if (auto* bn = mod->as<ssl::nn::BatchNorm2dImpl>()) {
      bn->weight.copy_(1.0 + 0.1 * torch::randn_like(bn->weight));
      bn->bias.copy_(0.05 * torch::randn_like(bn->bias));
      bn->running_mean.copy_(0.1 * torch::randn_like(bn->running_mean));
      bn->running_var.copy_(1.0 + 0.2 * torch::rand_like(bn->running_var));
      bn->num_batches_tracked.fill_(7);
    }
}
/// A ResNet saved with torchvision's names: libssl reads it back to the same features, and
/// check_hf_saved.py builds torchvision's ResNet from its config.json and compares the pooled features.
void resnet_round_trip(const std::string& c, ssl::resnet::Options o, int64_t size) {
  CAPTURE(c);
  torch::NoGradGuard g;
  ssl::resnet::Encoder enc(o);
  perturb_batch_norms(*enc);
  enc->eval();
  const auto x = torch::randn({2, o.channels(), size, size});
  const auto pooled = enc->forward(x).pooled;
  hf::save_pretrained(saved(c), *enc);
  std::ifstream in(saved(c) + "/config.json");
  const auto cfg = nlohmann::json::parse(in);
  const bool described = cfg["library"] == "torchvision" && cfg["depth"] == o.depth() &&
                         cfg["small_stem"] == o.small_stem() && cfg["width"] == o.width();
  CHECK_MESSAGE(described, cfg.dump());
  const auto w = ssl::io::load_safetensors(saved(c) + "/model.safetensors");
  CHECK(w.count("layer2.0.downsample.1.running_var") == 1);
  CHECK(w.count("fc.weight") == 0);
  const bool counter_int64 = w.at("bn1.num_batches_tracked").scalar_type() == torch::kInt64;
  CHECK(counter_int64);
  auto back = hf::load_resnet(saved(c));
  check_close(back->forward(x).pooled, pooled, c + ": read back (channels-first)");
  write_io(c, {{"pixel_values", x}, {"pooled", pooled}});
}
}  // namespace

TEST_SUITE("hf_parity") {
TEST_CASE("ViTMAEForPreTraining: transformers -> libssl -> transformers (logits, mask, loss); ResNets -> torchvision") {
  torch::NoGradGuard g;
  auto io = io_of("vit_mae");
  const auto x = io.at("pixel_values"), noise = io.at("noise");
  auto mae = hf::load_vit_mae(dir_of("vit_mae"));
  CHECK_FALSE(mae->norm_pix_loss);  // transformers' default, as the reference's config.json says
  auto out = hf::mae_forward(*mae, x, noise);
  check_close(out.logits, io.at("logits"), "vit_mae: logits");
  CHECK(torch::equal(out.mask.to(torch::kFloat32), io.at("mask")));
  // The loss by hand: per-patch MSE against the raw patches, averaged over the hidden ones.
  const auto target = ssl::vit::patchify(x, mae->backbone->options.patch());
  const auto by_hand = ((out.logits - target).pow(2).mean(-1) * io.at("mask")).sum() / io.at("mask").sum();
  CHECK(out.loss.item<double>() == doctest::Approx(by_hand.item<double>()).epsilon(1e-6));

  // Saved whole, with norm_pix_loss as the model has it; then with the per-patch normalised target.
  for (const bool norm_pix : {false, true}) {
    const std::string c = norm_pix ? "vit_mae_norm_pix" : "vit_mae";
    CAPTURE(c);
    mae->norm_pix_loss = norm_pix;
    const auto o = hf::mae_forward(*mae, x, noise);
    hf::save_pretrained(saved(c), *mae);
    auto back = hf::load_vit_mae(saved(c));
    CHECK(back->norm_pix_loss == norm_pix);
    CHECK(back->mask_ratio == mae->mask_ratio);
    const auto again = hf::mae_forward(*back, x, noise);
    CHECK(torch::equal(again.logits, o.logits));
    CHECK(torch::equal(again.loss, o.loss));
    if (norm_pix) CHECK(std::abs(o.loss.item<double>() - out.loss.item<double>()) > 1e-3);  // the target differs
    write_io(c, {{"pixel_values", x}, {"noise", noise}, {"logits", o.logits}, {"mask", o.mask.to(torch::kFloat32)},
                 {"loss", o.loss.reshape({1})}});
  }

  // A decoder that transformers cannot describe with the encoder's config is refused by name.
  auto enc = ssl::vit::Encoder(ssl::vit::Options{}.image(16).patch(4).channels(3).dim(32).depth(1).heads(4).qkv_bias(false));
  ssl::heads::MaeDecoder dec(ssl::heads::MaeDecoderOptions(enc->options).dim(16).depth(1).heads(2));
  ssl_test::TempDir tmp("ssl_hf_mae_save");
  check_error([&] { hf::save_pretrained((tmp.path / "m").string(), *enc, *dec, 0.75, false); },
              {"ViTMAEForPreTraining", "qkv_bias"});
  ssl::heads::MaeDecoder gray(ssl::heads::MaeDecoderOptions(ssl::vit::Options{}.image(16).patch(4).channels(1).dim(32).heads(4))
                                  .dim(16).depth(1).heads(2));
  check_error([&] { hf::save_pretrained((tmp.path / "m").string(), *mae->backbone, *gray, 0.75, false); },
              {"ViTMAEForPreTraining", "another encoder", "patch_dim 16", "patch_dim 48"});

  // ResNets with torchvision's names: basic blocks with the small stem, bottlenecks with torchvision's stem.
  torch::manual_seed(0);
  resnet_round_trip("resnet18_small_c3", ssl::resnet::resnet18().channels(3).width(16).small_stem(true), 32);
  resnet_round_trip("resnet50_std_c1", ssl::resnet::resnet50().channels(1).width(8).small_stem(false)
                                           .channels_last(true), 64);
}
}

TEST_SUITE("hf_errors") {
TEST_CASE("load_resnet: a directory that is not a torchvision ResNet of libssl's is refused by name") {
  ssl_test::TempDir tmp("ssl_hf_resnet_errors");
  check_error([&] { hf::load_resnet(dir_of("vit")); }, {"config.json", "\"library\": \"torchvision\""});
  const auto d = (tmp.path / "r").string();
  hf::save_pretrained(d, *ssl::resnet::Encoder(ssl::resnet::resnet18().channels(1).width(4)));
  std::ifstream in(d + "/config.json");
  auto j = nlohmann::json::parse(in);
  in.close();
  j["depth"] = 19;
  std::ofstream(d + "/config.json") << j.dump();
  check_error([&] { hf::load_resnet(d); }, {"config.json", "'depth' must be 18, 34, 50, 101 or 152, got 19"});
  j["depth"] = 34;
  std::ofstream(d + "/config.json") << j.dump();
  check_error([&] { hf::load_resnet(d); }, {"config.json", "'layers' is [2,2,2,2]", "[3,4,6,3]"});
  j.erase("layers");
  std::ofstream(d + "/config.json") << j.dump();
  check_error([&] { hf::load_resnet(d); }, {"model.safetensors", "layer1.2"});
}
}

}  // namespace test_hf
