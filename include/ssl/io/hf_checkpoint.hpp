#pragma once
/// \file io/hf_checkpoint.hpp
/// Hugging Face checkpoint directories in and out.
///
/// In: `config.json` + `model.safetensors` (or the sharded `model.safetensors.index.json` and its
/// shard files) give a ready libssl model, every hyper-parameter read from the config (sizes,
/// LayerNorm epsilon, activation, positions, vocabulary, token types, pad id, tied embeddings).
/// float16 / bfloat16 / float64 weights are converted to float32. Covered: `bert`
/// (`BertForMaskedLM`, and the head-less `BertModel`), `roberta` (`RobertaForMaskedLM`), `electra` (`ElectraForMaskedLM`: the
/// generator, `ElectraForPreTraining`: the discriminator), `gpt2` (`GPT2LMHeadModel`), `vit`
/// (`ViTModel`) and `vit_mae` (`ViTMAEForPreTraining`).
///
///     auto bert = ssl::io::hf::load_text("bert-dir");          // TextModel: encoder + MLM head
///     auto logits = bert->forward(ids);                         // [B,N,vocab]
///     ssl::io::hf::save_pretrained("out", *bert);               // transformers loads "out"
///
/// Out: `save_pretrained` writes Hugging Face's tensor names (the fused qkv split back into query,
/// key and value; GPT-2's Conv1D weights transposed), a `config.json` with `architectures`,
/// `model_type` and every size, and, when given, the tokenizer's files, so that
/// `AutoModelForMaskedLM.from_pretrained(dir)` (and the others) load it. Errors name the file and
/// the field or tensor, what was expected and what came.
#include <ssl/heads/lm.hpp>
#include <ssl/heads/mae_decoder.hpp>
#include <ssl/io/hf.hpp>
#include <ssl/io/safetensors.hpp>
#include <ssl/resnet/encoder.hpp>
#include <ssl/target/pixels.hpp>
#include <ssl/text/bpe.hpp>
#include <ssl/text/encoder.hpp>
#include <ssl/text/wordpiece.hpp>
#include <ssl/vit/encoder.hpp>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

namespace ssl::io::hf {

/// A checkpoint directory's `config.json` and typed access to its fields; every error names the file.
struct Config {
  nlohmann::json json;  ///< the parsed file
  std::string file;     ///< its path (for messages)
  std::string model_type;  ///< `model_type` ("bert", "roberta", "electra", "gpt2", "vit", "vit_mae")
  std::string architecture;  ///< the first of `architectures` ("" when absent)

  /// Whether `key` is present and not null.
  [[nodiscard]] bool has(const std::string& key) const { return json.contains(key) && !json[key].is_null(); }
  /// The integer field `key` (required).
  [[nodiscard]] int64_t integer(const std::string& key) const {
    TORCH_CHECK(has(key), "hf: ", file, ": missing field '", key, "' (an integer)");
    const auto& v = json[key];
    TORCH_CHECK(v.is_number_integer(), "hf: ", file, ": expected field '", key, "' to be an integer, got ", v.dump());
    return v.get<int64_t>();
  }
  /// The integer field `key`, or `def` when absent or null.
  [[nodiscard]] int64_t integer(const std::string& key, int64_t def) const { return has(key) ? integer(key) : def; }
  /// The number field `key`, or `def` when absent or null.
  [[nodiscard]] double number(const std::string& key, double def) const {
    if (!has(key)) return def;
    const auto& v = json[key];
    TORCH_CHECK(v.is_number(), "hf: ", file, ": expected field '", key, "' to be a number, got ", v.dump());
    return v.get<double>();
  }
  /// The string field `key`, or `def` when absent or null.
  [[nodiscard]] std::string string(const std::string& key, const std::string& def) const {
    if (!has(key)) return def;
    const auto& v = json[key];
    TORCH_CHECK(v.is_string(), "hf: ", file, ": expected field '", key, "' to be a string, got ", v.dump());
    return v.get<std::string>();
  }
  /// The boolean field `key`, or `def` when absent or null.
  [[nodiscard]] bool boolean(const std::string& key, bool def) const {
    if (!has(key)) return def;
    const auto& v = json[key];
    TORCH_CHECK(v.is_boolean(), "hf: ", file, ": expected field '", key, "' to be true or false, got ", v.dump());
    return v.get<bool>();
  }
  /// Refuses a value libssl's models do not implement: field `key` must be `expected` (or absent).
  void require(const std::string& key, const nlohmann::json& expected, const std::string& why) const {
    if (!has(key)) return;
    TORCH_CHECK(json[key] == expected, "hf: ", file, ": field '", key, "' is ", json[key].dump(),
                "; libssl supports only ", expected.dump(), " (", why, ")");
  }
};

namespace detail {
inline nlohmann::json read_json(const std::filesystem::path& p, const std::string& what) {
  std::ifstream in(p, std::ios::binary);
  TORCH_CHECK(in.good(), "hf: cannot open ", what, " '", p.string(), "'");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    TORCH_CHECK(false, "hf: ", p.string(), ": expected valid JSON, got a parse error: ", e.what());
  }
  TORCH_CHECK(j.is_object(), "hf: ", p.string(), ": expected a JSON object, got ", j.type_name());
  return j;
}
}  // namespace detail

/// Reads `dir/config.json`: it must be a JSON object with a string `model_type`.
inline Config read_config(const std::string& dir) {
  Config c;
  c.file = (std::filesystem::path(dir) / "config.json").string();
  c.json = detail::read_json(c.file, "the checkpoint's config");
  TORCH_CHECK(c.has("model_type") && c.json["model_type"].is_string(), "hf: ", c.file,
              ": expected a string field 'model_type', got ", c.has("model_type") ? c.json["model_type"].dump() : "none");
  c.model_type = c.json["model_type"].get<std::string>();
  if (c.has("architectures")) {
    const auto& a = c.json["architectures"];
    TORCH_CHECK(a.is_array() && (a.empty() || a[0].is_string()), "hf: ", c.file,
                ": expected 'architectures' to be an array of strings, got ", a.dump());
    if (!a.empty()) c.architecture = a[0].get<std::string>();
  }
  return c;
}

/// The weights of a checkpoint directory and where they came from.
struct Weights {
  Dict tensors;        ///< Hugging Face name -> tensor (float32 where the file had f16 / bf16 / f64)
  std::string source;  ///< `dir/model.safetensors` or `dir/model.safetensors.index.json` (for messages)
};

/// Reads `dir/model.safetensors`, or the shards named by `dir/model.safetensors.index.json`
/// (`weight_map`: tensor -> shard file; every named tensor must be in its shard). Floating-point
/// tensors come back as float32.
inline Weights read_weights(const std::string& dir) {
  namespace fs = std::filesystem;
  Weights w;
  const auto single = fs::path(dir) / "model.safetensors";
  const auto index = fs::path(dir) / "model.safetensors.index.json";
  if (fs::exists(single)) {
    w.source = single.string();
    w.tensors = load_safetensors(w.source);
  } else if (fs::exists(index)) {
    w.source = index.string();
    const auto j = detail::read_json(index, "the sharded checkpoint's index");
    TORCH_CHECK(j.contains("weight_map") && j["weight_map"].is_object() && !j["weight_map"].empty(), "hf: ", w.source,
                ": expected a non-empty object 'weight_map' (tensor name -> shard file)");
    std::map<std::string, Dict> shards;
    for (const auto& [name, file] : j["weight_map"].items()) {
      TORCH_CHECK(file.is_string(), "hf: ", w.source, ": weight_map['", name, "'] must be a file name, got ", file.dump());
      const auto f = file.get<std::string>();
      TORCH_CHECK(f.find('/') == std::string::npos && f.find("..") == std::string::npos, "hf: ", w.source,
                  ": weight_map['", name, "'] must name a file in the checkpoint's directory, got '", f, "'");
      if (!shards.count(f)) shards[f] = load_safetensors((fs::path(dir) / f).string());
      auto it = shards[f].find(name);
      TORCH_CHECK(it != shards[f].end(), "hf: ", w.source, ": weight_map puts '", name, "' in '", f,
                  "', which has no such tensor");
      w.tensors[name] = it->second;
    }
  } else {
    TORCH_CHECK(false, "hf: ", dir, ": expected model.safetensors or model.safetensors.index.json (a safetensors ",
                "checkpoint; pytorch_model.bin is not read)");
  }
  for (auto& [k, t] : w.tensors)
    if (t.is_floating_point() && t.scalar_type() != torch::kFloat32) t = t.to(torch::kFloat32);
  return w;
}

/// The Hugging Face architectures libssl builds and writes.
enum class Arch {
  bert_mlm,               ///< `BertForMaskedLM` (model_type bert)
  bert_model,             ///< `BertModel` (model_type bert, `architectures` ["BertModel"]): the encoder only
  roberta_mlm,            ///< `RobertaForMaskedLM` (model_type roberta)
  electra_generator,      ///< `ElectraForMaskedLM` (model_type electra)
  electra_discriminator,  ///< `ElectraForPreTraining` (model_type electra)
  gpt2_lm,                ///< `GPT2LMHeadModel` (model_type gpt2)
  vit,                    ///< `ViTModel` (model_type vit)
  vit_mae,                ///< `ViTMAEForPreTraining` (model_type vit_mae)
};

/// The Hugging Face class name of `a` (what `config.json`'s `architectures` holds).
inline std::string architecture_name(Arch a) {
  switch (a) {
    case Arch::bert_mlm: return "BertForMaskedLM";
    case Arch::bert_model: return "BertModel";
    case Arch::roberta_mlm: return "RobertaForMaskedLM";
    case Arch::electra_generator: return "ElectraForMaskedLM";
    case Arch::electra_discriminator: return "ElectraForPreTraining";
    case Arch::gpt2_lm: return "GPT2LMHeadModel";
    case Arch::vit: return "ViTModel";
    case Arch::vit_mae: return "ViTMAEForPreTraining";
  }
  return "?";
}
/// The `model_type` of `a`.
inline std::string model_type_name(Arch a) {
  switch (a) {
    case Arch::bert_mlm:
    case Arch::bert_model: return "bert";
    case Arch::roberta_mlm: return "roberta";
    case Arch::electra_generator:
    case Arch::electra_discriminator: return "electra";
    case Arch::gpt2_lm: return "gpt2";
    case Arch::vit: return "vit";
    case Arch::vit_mae: return "vit_mae";
  }
  return "?";
}
/// Whether `a` is one of the text architectures (a `TextModel`).
inline bool is_text(Arch a) { return a != Arch::vit && a != Arch::vit_mae; }

/// The architecture a config describes: its `model_type`, and for `bert` and `electra` the first
/// of `architectures` (`BertModel` = the encoder alone, else `BertForMaskedLM`;
/// `ElectraForMaskedLM` = generator, `ElectraForPreTraining` = discriminator).
inline Arch arch_of(const Config& c) {
  const auto& t = c.model_type;
  if (t == "bert") return c.architecture == "BertModel" ? Arch::bert_model : Arch::bert_mlm;
  if (t == "roberta") return Arch::roberta_mlm;
  if (t == "gpt2") return Arch::gpt2_lm;
  if (t == "vit") return Arch::vit;
  if (t == "vit_mae") return Arch::vit_mae;
  if (t == "electra") {
    if (c.architecture == "ElectraForPreTraining") return Arch::electra_discriminator;
    TORCH_CHECK(c.architecture == "ElectraForMaskedLM", "hf: ", c.file,
                ": field 'architectures' must start with ElectraForMaskedLM (the generator) or ElectraForPreTraining ",
                "(the discriminator) for model_type electra, got '", c.architecture, "'");
    return Arch::electra_generator;
  }
  TORCH_CHECK(false, "hf: ", c.file, ": model_type '", t,
              "' is not supported (libssl reads bert, roberta, electra, gpt2, vit and vit_mae)");
  return Arch::bert_mlm;
}

/// The text encoder a `bert` / `roberta` / `electra` / `gpt2` config describes (dropouts as the
/// config's; `pooler` off: the masked-LM classes have none, `load_text` turns it on when the
/// checkpoint has one, as `BertModel`'s).
inline text::EncoderOptions text_options(const Config& c) {
  const auto a = arch_of(c);
  TORCH_CHECK(is_text(a), "hf: ", c.file, ": model_type '", c.model_type, "' is not a text model");
  c.require("tie_word_embeddings", true, "the LM heads' decoder is the token embedding");
  c.require("add_cross_attention", false, "encoders without cross-attention");
  if (a == Arch::gpt2_lm) {
    const auto D = c.integer("n_embd");
    const auto act = c.string("activation_function", "gelu_new");
    TORCH_CHECK(act == "gelu_new" || act == "gelu_pytorch_tanh" || act == "gelu", "hf: ", c.file,
                ": field 'activation_function' is '", act,
                "'; libssl supports 'gelu_new' and 'gelu_pytorch_tanh' (tanh GELU) and 'gelu' (exact)");
    c.require("scale_attn_weights", true, "attention scaled by 1/sqrt(head dim)");
    c.require("scale_attn_by_inverse_layer_idx", false, "attention scaled by 1/sqrt(head dim) only");
    auto o = text::gpt(text::EncoderOptions(c.integer("vocab_size"), D, c.integer("n_layer"), c.integer("n_head")));
    return o.mlp_hidden(c.integer("n_inner", 4 * D))
        .gelu(act == "gelu" ? "none" : "tanh")
        .max_len(c.integer("n_positions"))
        .eps(c.number("layer_norm_epsilon", 1e-5))
        .dropout(c.number("resid_pdrop", 0.1))
        .attn_dropout(c.number("attn_pdrop", 0.1))
        .pad_id(c.integer("pad_token_id", -1));
  }
  const auto act = c.string("hidden_act", "gelu");
  TORCH_CHECK(act == "gelu", "hf: ", c.file, ": field 'hidden_act' is '", act, "'; libssl's ", c.model_type,
              " blocks and heads use the exact GELU ('gelu') only");
  c.require("position_embedding_type", "absolute", "learned absolute positions");
  c.require("is_decoder", false, "a bidirectional encoder");
  const auto D = c.integer("hidden_size");
  auto o = text::EncoderOptions(c.integer("vocab_size"), D, c.integer("num_hidden_layers"),
                                c.integer("num_attention_heads"))
               .mlp_hidden(c.integer("intermediate_size"))
               .max_len(c.integer("max_position_embeddings"))
               .type_vocab(c.integer("type_vocab_size", 2))
               .eps(c.number("layer_norm_eps", 1e-12))
               .dropout(c.number("hidden_dropout_prob", 0.1))
               .attn_dropout(c.number("attention_probs_dropout_prob", 0.1))
               .pad_id(c.integer("pad_token_id", a == Arch::roberta_mlm ? 1 : 0))
               .pooler(false)
               .sep_id(-1);
  TORCH_CHECK(o.type_vocab() >= 1, "hf: ", c.file, ": field 'type_vocab_size' must be >= 1, got ", o.type_vocab());
  if (a == Arch::roberta_mlm) {
    TORCH_CHECK(o.pad_id() >= 0, "hf: ", c.file, ": RoBERTa needs 'pad_token_id' (its positions start after it)");
    o.padding_positions(true);
  }
  if (a == Arch::electra_generator || a == Arch::electra_discriminator) {
    const auto E = c.integer("embedding_size", D);
    if (E != D) o.embedding_dim(E);
  }
  return o;
}

/// The ViT encoder a `vit` / `vit_mae` config describes (learned positions for `vit`, the fixed
/// sin-cos table for `vit_mae`, loaded from the checkpoint either way).
inline vit::Options vit_options(const Config& c) {
  const auto a = arch_of(c);
  TORCH_CHECK(a == Arch::vit || a == Arch::vit_mae, "hf: ", c.file, ": model_type '", c.model_type,
              "' is not a ViT");
  const auto act = c.string("hidden_act", "gelu");
  TORCH_CHECK(act == "gelu", "hf: ", c.file, ": field 'hidden_act' is '", act,
              "'; libssl's ViT blocks use the exact GELU ('gelu') only");
  return vit::Options{}
      .image(c.integer("image_size"))
      .patch(c.integer("patch_size"))
      .channels(c.integer("num_channels", 3))
      .dim(c.integer("hidden_size"))
      .depth(c.integer("num_hidden_layers"))
      .heads(c.integer("num_attention_heads"))
      .mlp_hidden(c.integer("intermediate_size"))
      .eps(c.number("layer_norm_eps", 1e-12))
      .qkv_bias(c.boolean("qkv_bias", true))
      .learned_pos(a == Arch::vit);
}

/// The MAE decoder a `vit_mae` config describes.
inline heads::MaeDecoderOptions mae_decoder_options(const Config& c) {
  return heads::MaeDecoderOptions(vit_options(c))
      .dim(c.integer("decoder_hidden_size"))
      .depth(c.integer("decoder_num_hidden_layers"))
      .heads(c.integer("decoder_num_attention_heads"))
      .mlp_hidden(c.integer("decoder_intermediate_size"));
}

namespace detail {
/// RoBERTa: `RobertaModel` / `RobertaForMaskedLM` -> `text::Encoder` + `LmHead` names.
inline Dict roberta_to_ssl(const Dict& hf, int64_t depth, const std::string& backbone, const std::string& head) {
  Dict out;
  const auto b = base_prefix(hf, "roberta", "embeddings.word_embeddings.weight");
  map_bert_encoder(hf, b, backbone, depth, out);
  map_pair(hf, "lm_head.dense", head + "dense", out);
  map_pair(hf, "lm_head.layer_norm", head + "norm", out);
  if (auto t = find(hf, {"lm_head.bias", "lm_head.decoder.bias"})) out[head + "bias"] = *t;
  return out;
}
}  // namespace detail

/// Hugging Face names of a checkpoint of architecture `a` -> libssl's (`backbone` + `head`
/// prefixes, as the recipes and `TextModel` / `MaeModel` name them; a bare `ViTModel` maps
/// onto `backbone` only). A tensor the architecture needs and the checkpoint lacks is an error.
inline Dict to_ssl(Arch a, const Dict& hf, int64_t depth, int64_t decoder_depth = 0,
                   const std::string& backbone = "backbone.", const std::string& head = "head.") {
  switch (a) {
    case Arch::bert_mlm:
    case Arch::bert_model: return bert_to_ssl(hf, depth, backbone, head);
    case Arch::roberta_mlm: return detail::roberta_to_ssl(hf, depth, backbone, head);
    case Arch::electra_generator:
    case Arch::electra_discriminator: return electra_to_ssl(hf, depth, backbone, head);
    case Arch::gpt2_lm: return gpt2_to_ssl(hf, depth, backbone);
    case Arch::vit: {
      Dict out;
      detail::map_vit(hf, hf.count("vit.embeddings.cls_token") ? "vit." : "", backbone, depth, out);
      return out;
    }
    case Arch::vit_mae: {
      TORCH_CHECK(backbone == "backbone." && head == "head.", "hf: ViT-MAE maps onto backbone. and head. only");
      return vit_mae_to_ssl(hf, depth, decoder_depth);
    }
  }
  return {};
}

/// A text model of a Hugging Face architecture: `backbone` (`text::Encoder`) and `head` (the
/// tied `LmHead` of BERT / RoBERTa / ELECTRA's generator / GPT-2, or ELECTRA's
/// `ReplacedTokenHead`; none for `BertModel`). Parameter names `backbone.*` and `head.*`, as the
/// recipes'.
class TextModelImpl : public torch::nn::Module {
 public:
  /// A model of architecture `arch` (a text one) over an encoder with `options`; `next_sentence`:
  /// BERT's NSP classifier in the head (a `BertForPreTraining` checkpoint).
  TextModelImpl(Arch arch, text::EncoderOptions options, bool next_sentence = false) : arch(arch) {
    TORCH_CHECK(is_text(arch), "hf::TextModel: ", architecture_name(arch), " is not a text architecture");
    backbone = register_module("backbone", text::Encoder(options));
    if (arch == Arch::bert_model) return;  // the encoder alone
    if (arch == Arch::electra_discriminator) {
      rtd = register_module("head", heads::ReplacedTokenHead(options.dim()));
      return;
    }
    heads::LmHeadOptions ho(options.dim(), options.vocab());
    if (arch == Arch::gpt2_lm)
      ho.transform(false).bias(false);
    else
      ho.embedding_dim(options.embedding_width()).eps(options.eps()).next_sentence(next_sentence);
    lm = register_module("head", heads::LmHead(ho, backbone->embeddings->tok));
  }
  /// Logits of token ids `ids` `[B,N]`: `[B,N,vocab]` (LM heads) or `[B,N]` (ELECTRA's
  /// discriminator); for `BertModel` the last hidden state `[B,N,D]` (its pooler's output:
  /// `backbone->forward(...).pooled`). Padding (`pad_id`) is not attended to by the bidirectional
  /// encoders.
  torch::Tensor forward(const torch::Tensor& ids) {
    Masked m{.input = ids};
    auto f = backbone->forward(m);
    if (lm) return lm->forward(f, m).out;
    if (rtd) return rtd->forward(f, m);
    return f.tokens;
  }

  Arch arch;  ///< the Hugging Face architecture
  text::Encoder backbone{nullptr};  ///< the encoder
  heads::LmHead lm{nullptr};  ///< the LM head (all but ELECTRA's discriminator and `BertModel`)
  heads::ReplacedTokenHead rtd{nullptr};  ///< ELECTRA's discriminator head
};
TORCH_MODULE(TextModel);

/// `ViTMAEForPreTraining`: the ViT encoder (`backbone`), MAE's decoder (`head`) and the mask ratio.
class MaeModelImpl : public torch::nn::Module {
 public:
  /// An MAE of `encoder` and `decoder` options hiding `mask_ratio` of the patches.
  MaeModelImpl(const vit::Options& encoder, const heads::MaeDecoderOptions& decoder, double mask_ratio)
      : mask_ratio(mask_ratio) {
    backbone = register_module("backbone", vit::Encoder(encoder));
    head = register_module("head", heads::MaeDecoder(decoder));
  }
  /// Pixel predictions `[B,N,p*p*C]` of `images` `[B,C,H,W]` where the patches kept are those of
  /// the lowest `noise` (`[B,N]` uniform, as Hugging Face's `noise` argument): the first
  /// `int(N * (1 - mask_ratio))` of `argsort(noise)`. Also sets `mask` (`[B,N]`, true = hidden).
  torch::Tensor forward(const torch::Tensor& images, const torch::Tensor& noise) {
    const auto N = noise.size(1);
    const auto keep = static_cast<int64_t>(double(N) * (1.0 - mask_ratio));
    auto shuffle = torch::argsort(noise, /*dim=*/1, /*descending=*/false);
    auto restore = torch::argsort(shuffle, /*dim=*/1, /*descending=*/false);
    Masked m{.input = images, .ids_keep = shuffle.narrow(1, 0, keep), .ids_restore = restore};
    mask = torch::ones_like(noise, torch::kBool);
    mask.narrow(1, 0, keep).fill_(false);
    mask = mask.gather(1, restore);
    return head->forward(backbone->forward(m), m);
  }

  double mask_ratio;  ///< share of patches hidden
  bool norm_pix_loss = false;  ///< the loss's target: each patch's pixels normalised (config `norm_pix_loss`)
  vit::Encoder backbone{nullptr};  ///< the encoder (visible patches only)
  heads::MaeDecoder head{nullptr};  ///< the decoder
  torch::Tensor mask;  ///< the last forward's mask `[B,N]` (true = hidden)
};
TORCH_MODULE(MaeModel);

namespace detail {
template <class F>
auto naming_source(const std::string& source, F&& f) {
  try {
    return f();
  } catch (const c10::Error& e) {
    TORCH_CHECK(false, "hf: ", source, ": ", e.msg());
  }
}
/// Tensors a checkpoint may hold that no libssl parameter takes: tied decoder weights (the token
/// embedding is the decoder), non-persistent buffers older versions saved, ViT's pooler.
inline bool ignorable(Arch a, const std::string& k) {
  for (const char* s : {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias", "lm_head.weight",
                        "lm_head.decoder.weight", "lm_head.decoder.bias", "generator_lm_head.weight", "position_ids",
                        ".attn.bias", ".attn.masked_bias"})
    if (k.ends_with(s)) return true;
  return a == Arch::vit && (k == "pooler.dense.weight" || k == "pooler.dense.bias");
}
/// `w` renamed for `a` (see `to_ssl`); a tensor of the checkpoint that nothing uses is an error
/// naming the file and the tensors (e.g. a config with fewer layers than the weights).
inline Dict map_weights(Arch a, const Weights& w, int64_t depth, int64_t decoder_depth, const std::string& backbone,
                        const std::string& head) {
  std::set<std::string> used;
  struct Record {
    explicit Record(std::set<std::string>* u) { used_names = u; }
    ~Record() { used_names = nullptr; }
  } record(&used);
  auto mapped = naming_source(w.source, [&] { return to_ssl(a, w.tensors, depth, decoder_depth, backbone, head); });
  std::string extra;
  for (const auto& [k, t] : w.tensors)
    if (!used.count(k) && !ignorable(a, k)) extra += " '" + k + "'";
  TORCH_CHECK(extra.empty(), "hf: ", w.source, ": unexpected tensors that ", architecture_name(a),
              " (as config.json describes it) does not use:", extra);
  return mapped;
}
inline int64_t depth_of(const Config& c) {
  return c.model_type == "gpt2" ? c.integer("n_layer") : c.integer("num_hidden_layers");
}
}  // namespace detail

/// The weights of checkpoint `dir` renamed for the architecture its config names (see `to_ssl`:
/// `backbone` + `head` prefixed names), with the file they came from in `source`. A tensor of the
/// checkpoint that the architecture does not use is an error naming it; what to load them into
/// is the caller's (e.g. a recipe's fresh pooler or NSP head kept where the checkpoint has none).
inline Weights mapped_weights(const std::string& dir, const std::string& backbone = "backbone.",
                              const std::string& head = "head.") {
  const auto c = read_config(dir);
  const auto a = arch_of(c);
  const auto w = read_weights(dir);
  const auto dd = a == Arch::vit_mae ? c.integer("decoder_num_hidden_layers") : 0;
  return {detail::map_weights(a, w, detail::depth_of(c), dd, backbone, head), w.source};
}

/// Loads the checkpoint in `dir` into `m` (e.g. a recipe whose backbone and head are named
/// `backbone` and `head`): its weights, renamed for the architecture its config names, must
/// match `m`'s parameters one to one (`strict`), with the same shapes.
inline void load_into(torch::nn::Module& m, const std::string& dir, bool strict = true,
                      const std::string& backbone = "backbone.", const std::string& head = "head.") {
  const auto w = mapped_weights(dir, backbone, head);
  io::load_into(m, w.tensors, strict, "hf: " + w.source);
}

/// Loads the encoder of text checkpoint `dir` (any architecture `load_text` reads; a head it has
/// is not used) into `encoder`, built with the config's options (`text_options`, where the pooler,
/// pooling and dropouts may differ): every other tensor must match one to one, with the same
/// shapes. BERT's pooler: a pooler `encoder` has and the checkpoint lacks (the masked-LM
/// classes) keeps `encoder`'s own initialisation; one the checkpoint has and `encoder` lacks is
/// not used. Returns whether the checkpoint's pooler was loaded.
inline bool load_encoder(text::EncoderImpl& encoder, const std::string& dir) {
  const auto c = read_config(dir);
  TORCH_CHECK(is_text(arch_of(c)), "hf: ", c.file, ": model_type '", c.model_type,
              "' is not a text model (load_encoder reads bert, roberta, electra and gpt2)");
  auto w = mapped_weights(dir, "", "head.");
  std::erase_if(w.tensors, [](const auto& kv) { return kv.first.starts_with("head."); });
  const bool has = w.tensors.count("pooler.weight") > 0;
  if (!encoder.pooler) {
    w.tensors.erase("pooler.weight");
    w.tensors.erase("pooler.bias");
  } else if (!has) {
    for (const auto& p : encoder.pooler->named_parameters()) w.tensors["pooler." + p.key()] = p.value().detach().clone();
  }
  io::load_into(encoder, w.tensors, true, "hf: " + w.source);
  return has && encoder.pooler;
}

/// The text model of checkpoint `dir` (`bert`, `roberta`, `electra`, `gpt2`), in eval mode. A
/// `BertModel` directory (`architectures` ["BertModel"], its names with or without the `bert.`
/// prefix) gives the encoder alone (with its pooler when the checkpoint has one).
inline TextModel load_text(const std::string& dir) {
  const auto c = read_config(dir);
  const auto a = arch_of(c);
  TORCH_CHECK(is_text(a), "hf: ", c.file, ": model_type '", c.model_type, "' is not a text model (load_vit, load_vit_mae)");
  auto o = text_options(c);
  const auto w = read_weights(dir);
  const bool bertish = a == Arch::bert_mlm || a == Arch::bert_model || a == Arch::roberta_mlm;
  if (bertish && detail::find(w.tensors, {"bert.pooler.dense.weight", "roberta.pooler.dense.weight", "pooler.dense.weight"}))
    o.pooler(true);
  TextModel m(a, o, a == Arch::bert_mlm && w.tensors.count("cls.seq_relationship.weight"));
  const auto mapped = detail::map_weights(a, w, o.depth(), 0, "backbone.", "head.");
  io::load_into(*m, mapped, true, "hf: " + w.source);
  m->eval();
  return m;
}

/// The `ViTModel` of checkpoint `dir` (model_type `vit`), in eval mode. A pooler in the checkpoint
/// is not used (libssl's ViT pools the CLS token's state).
inline vit::Encoder load_vit(const std::string& dir) {
  const auto c = read_config(dir);
  TORCH_CHECK(arch_of(c) == Arch::vit, "hf: ", c.file, ": expected model_type 'vit', got '", c.model_type, "'");
  vit::Encoder m(vit_options(c));
  const auto w = read_weights(dir);
  const auto mapped = detail::map_weights(Arch::vit, w, m->options.depth(), 0, "", "");
  io::load_into(*m, mapped, true, "hf: " + w.source);
  m->eval();
  return m;
}

/// The `ViTMAEForPreTraining` of checkpoint `dir` (model_type `vit_mae`), in eval mode.
inline MaeModel load_vit_mae(const std::string& dir) {
  const auto c = read_config(dir);
  TORCH_CHECK(arch_of(c) == Arch::vit_mae, "hf: ", c.file, ": expected model_type 'vit_mae', got '", c.model_type, "'");
  const auto ratio = c.number("mask_ratio", 0.75);
  TORCH_CHECK(ratio >= 0 && ratio < 1, "hf: ", c.file, ": field 'mask_ratio' must be in [0, 1), got ", ratio);
  MaeModel m(vit_options(c), mae_decoder_options(c), ratio);
  m->norm_pix_loss = c.boolean("norm_pix_loss", false);
  load_into(*m, dir);
  m->eval();
  return m;
}

// ---- Out ---------------------------------------------------------------------------------------

namespace detail {
inline const torch::Tensor& get(const Dict& d, const std::string& k) {
  auto it = d.find(k);
  TORCH_CHECK(it != d.end(), "hf::save_pretrained: the model has no parameter '", k, "'");
  return it->second;
}
inline void put_pair(const Dict& d, const std::string& ours, const std::string& hf, Dict& out) {
  out[hf + ".weight"] = get(d, ours + ".weight");
  out[hf + ".bias"] = get(d, ours + ".bias");
}
inline Dict named_tensors(const torch::nn::Module& m, const std::string& prefix) {
  Dict d;
  for (const auto& p : m.named_parameters()) d[prefix + p.key()] = p.value().detach();
  for (const auto& b : m.named_buffers()) d[prefix + b.key()] = b.value().detach();
  return d;
}
/// A BERT-like encoder (`backbone.*`) -> Hugging Face names under `p` ("bert.", "roberta.",
/// "electra.", or "" for `BertModel`); `pooler`: its pooler too (`BertModel` has one, the
/// masked-LM classes have none).
inline void bert_encoder_to_hf(const Dict& d, const text::EncoderOptions& o, const std::string& p, Dict& out,
                               bool pooler = false) {
  const std::string e = p + "embeddings.";
  out[e + "word_embeddings.weight"] = get(d, "backbone.embeddings.tok.weight");
  out[e + "position_embeddings.weight"] = get(d, "backbone.embeddings.pos.weight");
  out[e + "token_type_embeddings.weight"] = o.type_vocab() > 0 ? get(d, "backbone.embeddings.seg.weight")
                                                               : torch::zeros({1, o.embedding_width()});
  put_pair(d, "backbone.embeddings.norm", e + "LayerNorm", out);
  if (o.embedding_width() != o.dim()) put_pair(d, "backbone.proj", p + "embeddings_project", out);
  for (int64_t i = 0; i < o.depth(); ++i) {
    const auto b = "backbone.blocks." + std::to_string(i) + ".";
    const auto l = p + "encoder.layer." + std::to_string(i) + ".";
    for (const char* s : {"weight", "bias"}) {
      const auto qkv = get(d, b + "attn.qkv." + s).chunk(3, 0);
      out[l + "attention.self.query." + s] = qkv[0];
      out[l + "attention.self.key." + s] = qkv[1];
      out[l + "attention.self.value." + s] = qkv[2];
    }
    put_pair(d, b + "attn.proj", l + "attention.output.dense", out);
    put_pair(d, b + "norm1", l + "attention.output.LayerNorm", out);
    put_pair(d, b + "mlp.fc1", l + "intermediate.dense", out);
    put_pair(d, b + "mlp.fc2", l + "output.dense", out);
    put_pair(d, b + "norm2", l + "output.LayerNorm", out);
  }
  if (pooler) put_pair(d, "backbone.pooler", p + "pooler.dense", out);
}
inline void write_json(const std::filesystem::path& p, const nlohmann::json& j) {
  std::ofstream out(p, std::ios::binary);
  TORCH_CHECK(out.good(), "hf::save_pretrained: cannot write '", p.string(), "'");
  out << j.dump(2) << "\n";
  TORCH_CHECK(out.good(), "hf::save_pretrained: writing '", p.string(), "' failed");
}
inline void check_text_arch(Arch a, const text::EncoderOptions& o) {
  const auto name = architecture_name(a);
  if (a == Arch::gpt2_lm) {
    TORCH_CHECK(o.causal() && o.norm_first() && !o.embedding_norm() && o.type_vocab() == 0 &&
                    o.embedding_width() == o.dim() && !o.padding_positions(),
                "hf::save_pretrained: ", name, " needs text::gpt(...) options (causal, pre-norm, no embedding norm, ",
                "no segments, no projection)");
    return;
  }
  TORCH_CHECK(!o.causal() && !o.norm_first() && o.embedding_norm() && o.gelu() == "none", "hf::save_pretrained: ",
              name, " needs a bidirectional post-norm encoder with an embedding LayerNorm and exact GELU");
  TORCH_CHECK(a != Arch::bert_model || !o.mean_pool(), "hf::save_pretrained: ", name,
              "'s pooler reads the first token; EncoderOptions::mean_pool must be false");
  TORCH_CHECK(o.padding_positions() == (a == Arch::roberta_mlm), "hf::save_pretrained: ", name,
              a == Arch::roberta_mlm ? " needs EncoderOptions::padding_positions(true) (positions from pad_id + 1)"
                                     : " needs positions 0..N-1 (EncoderOptions::padding_positions(false))");
  TORCH_CHECK(o.embedding_width() == o.dim() || a == Arch::electra_generator || a == Arch::electra_discriminator,
              "hf::save_pretrained: ", name, " has no embedding projection; EncoderOptions::embedding_dim must be 0");
}
}  // namespace detail

namespace detail {
inline std::pair<Dict, nlohmann::json> text_to_hf(Arch arch, const text::EncoderImpl& encoder,
                                                  const torch::nn::Module* head) {
  const auto& o = encoder.options;
  detail::check_text_arch(arch, o);
  TORCH_CHECK((arch == Arch::bert_model) == !head, "hf::save_pretrained: ", architecture_name(arch),
              arch == Arch::bert_model ? " is the encoder alone: write it with save_pretrained(dir, encoder)"
                                       : " needs its head");
  auto d = detail::named_tensors(encoder, "backbone.");
  if (head)
    for (auto& [k, v] : detail::named_tensors(*head, "head.")) d[k] = v;
  Dict out;
  using detail::get;
  using detail::put_pair;
  nlohmann::json c;
  c["architectures"] = {architecture_name(arch)};
  c["model_type"] = model_type_name(arch);
  c["vocab_size"] = o.vocab();
  c["tie_word_embeddings"] = true;
  c["dtype"] = "float32";
  c["initializer_range"] = 0.02;
  if (arch == Arch::gpt2_lm) {
    out["transformer.wte.weight"] = get(d, "backbone.embeddings.tok.weight");
    out["transformer.wpe.weight"] = get(d, "backbone.embeddings.pos.weight");
    for (int64_t i = 0; i < o.depth(); ++i) {
      const auto b = "backbone.blocks." + std::to_string(i) + ".";
      const auto h = "transformer.h." + std::to_string(i) + ".";
      put_pair(d, b + "norm1", h + "ln_1", out);
      put_pair(d, b + "norm2", h + "ln_2", out);
      for (auto [ours, theirs] : {std::pair{"attn.qkv", "attn.c_attn"}, std::pair{"attn.proj", "attn.c_proj"},
                                  std::pair{"mlp.fc1", "mlp.c_fc"}, std::pair{"mlp.fc2", "mlp.c_proj"}}) {
        out[h + theirs + ".weight"] = get(d, b + ours + ".weight").t().contiguous();  // Conv1D: [in, out]
        out[h + theirs + ".bias"] = get(d, b + ours + ".bias");
      }
    }
    put_pair(d, "backbone.norm", "transformer.ln_f", out);
    c.update({{"n_embd", o.dim()}, {"n_layer", o.depth()}, {"n_head", o.heads()}, {"n_inner", o.mlp_hidden()},
              {"n_positions", o.max_len()}, {"activation_function", o.gelu() == "tanh" ? "gelu_new" : "gelu"},
              {"layer_norm_epsilon", o.eps()}, {"resid_pdrop", o.dropout()}, {"embd_pdrop", o.dropout()},
              {"attn_pdrop", o.attn_dropout()}, {"scale_attn_weights", true},
              {"scale_attn_by_inverse_layer_idx", false}, {"bos_token_id", nullptr}, {"eos_token_id", nullptr},
              {"pad_token_id", o.pad_id() >= 0 ? nlohmann::json(o.pad_id()) : nlohmann::json(nullptr)}});
    return {out, c};
  }
  const std::string p = arch == Arch::bert_mlm     ? "bert."
                        : arch == Arch::bert_model ? ""
                        : arch == Arch::roberta_mlm ? "roberta."
                                                    : "electra.";
  detail::bert_encoder_to_hf(d, o, p, out, arch == Arch::bert_model && o.pooler());
  switch (arch) {
    case Arch::bert_model: break;  // no head
    case Arch::bert_mlm:
      put_pair(d, "head.dense", "cls.predictions.transform.dense", out);
      put_pair(d, "head.norm", "cls.predictions.transform.LayerNorm", out);
      out["cls.predictions.bias"] = get(d, "head.bias");
      break;
    case Arch::roberta_mlm:
      put_pair(d, "head.dense", "lm_head.dense", out);
      put_pair(d, "head.norm", "lm_head.layer_norm", out);
      out["lm_head.bias"] = get(d, "head.bias");
      break;
    case Arch::electra_generator:
      put_pair(d, "head.dense", "generator_predictions.dense", out);
      put_pair(d, "head.norm", "generator_predictions.LayerNorm", out);
      out["generator_lm_head.bias"] = get(d, "head.bias");
      break;
    default:  // the discriminator
      put_pair(d, "head.dense", "discriminator_predictions.dense", out);
      put_pair(d, "head.out", "discriminator_predictions.dense_prediction", out);
  }
  c.update({{"hidden_size", o.dim()}, {"num_hidden_layers", o.depth()}, {"num_attention_heads", o.heads()},
            {"intermediate_size", o.mlp_hidden()}, {"hidden_act", "gelu"}, {"max_position_embeddings", o.max_len()},
            {"type_vocab_size", std::max<int64_t>(o.type_vocab(), 1)}, {"layer_norm_eps", o.eps()},
            {"hidden_dropout_prob", o.dropout()}, {"attention_probs_dropout_prob", o.attn_dropout()},
            {"position_embedding_type", "absolute"},
            {"pad_token_id", o.pad_id() >= 0 ? nlohmann::json(o.pad_id()) : nlohmann::json(nullptr)}});
  if (arch == Arch::electra_generator || arch == Arch::electra_discriminator) c["embedding_size"] = o.embedding_width();
  return {out, c};
}
}  // namespace detail

/// Hugging Face's tensors and config of a text model of architecture `arch`: `encoder`'s
/// parameters and `head`'s (an `LmHead`, or a `ReplacedTokenHead` for ELECTRA's discriminator).
/// BERT's pooler and NSP classifier are not part of `BertForMaskedLM` and are left out.
inline std::pair<Dict, nlohmann::json> text_to_hf(Arch arch, const text::EncoderImpl& encoder,
                                                  const torch::nn::Module& head) {
  return detail::text_to_hf(arch, encoder, &head);
}
/// Hugging Face's `BertModel` tensors and config of a BERT encoder (bidirectional, post-norm; its
/// pooler when it has one: without, transformers loads it with `add_pooling_layer=False`).
inline std::pair<Dict, nlohmann::json> text_to_hf(const text::EncoderImpl& encoder) {
  return detail::text_to_hf(Arch::bert_model, encoder, nullptr);
}

namespace detail {
/// One pre-norm Transformer block of libssl (`ours`, e.g. "blocks.3.") -> a ViT layer of Hugging
/// Face as transformers writes it to disk (`hf`, e.g. "decoder.decoder_encoder.layer.3."), the
/// fused qkv split back into query, key and value.
inline void vit_layer_to_hf(const Dict& d, const std::string& ours, const std::string& hf, bool qkv_bias, Dict& out) {
  const char* names[] = {"query", "key", "value"};
  const auto w = get(d, ours + "attn.qkv.weight").chunk(3, 0);
  for (int k = 0; k < 3; ++k) out[hf + "attention.attention." + names[k] + ".weight"] = w[k];
  if (qkv_bias) {
    const auto b = get(d, ours + "attn.qkv.bias").chunk(3, 0);
    for (int k = 0; k < 3; ++k) out[hf + "attention.attention." + names[k] + ".bias"] = b[k];
  }
  put_pair(d, ours + "attn.proj", hf + "attention.output.dense", out);
  put_pair(d, ours + "norm1", hf + "layernorm_before", out);
  put_pair(d, ours + "norm2", hf + "layernorm_after", out);
  put_pair(d, ours + "mlp.fc1", hf + "intermediate.dense", out);
  put_pair(d, ours + "mlp.fc2", hf + "output.dense", out);
}
}  // namespace detail

/// Hugging Face's `ViTModel` tensors and config of a libssl ViT encoder (learned or fixed
/// positions: either is written as `position_embeddings`); names as transformers writes them to
/// disk (`encoder.layer.N.attention.attention.query`, read by transformers 4 and 5 alike).
inline std::pair<Dict, nlohmann::json> vit_to_hf(const vit::EncoderImpl& encoder) {
  const auto& o = encoder.options;
  auto d = detail::named_tensors(encoder, "");
  Dict out;
  using detail::get;
  using detail::put_pair;
  out["embeddings.cls_token"] = get(d, "cls_token");
  out["embeddings.position_embeddings"] = get(d, "pos_embed");
  put_pair(d, "patch_embed.proj", "embeddings.patch_embeddings.projection", out);
  for (int64_t i = 0; i < o.depth(); ++i)
    detail::vit_layer_to_hf(d, "blocks." + std::to_string(i) + ".", "encoder.layer." + std::to_string(i) + ".",
                            o.qkv_bias(), out);
  put_pair(d, "norm", "layernorm", out);
  nlohmann::json c = {{"architectures", {"ViTModel"}}, {"model_type", "vit"}, {"image_size", o.image()},
                      {"patch_size", o.patch()}, {"num_channels", o.channels()}, {"hidden_size", o.dim()},
                      {"num_hidden_layers", o.depth()}, {"num_attention_heads", o.heads()},
                      {"intermediate_size", o.hidden()}, {"hidden_act", "gelu"}, {"layer_norm_eps", o.eps()},
                      {"qkv_bias", o.qkv_bias()}, {"hidden_dropout_prob", 0.0},
                      {"attention_probs_dropout_prob", 0.0}, {"dtype", "float32"}, {"initializer_range", 0.02}};
  return {out, c};
}

/// Writes `tensors` as `dir/model.safetensors` and `config` as `dir/config.json` (`dir` is created).
inline void write_checkpoint(const std::string& dir, const Dict& tensors, const nlohmann::json& config) {
  std::filesystem::create_directories(dir);
  TensorMap ordered;
  for (const auto& [k, v] : tensors) ordered.emplace_back(k, v.to(torch::kCPU, torch::kFloat32).contiguous());
  save_safetensors((std::filesystem::path(dir) / "model.safetensors").string(), ordered, {{"format", "pt"}});
  detail::write_json(std::filesystem::path(dir) / "config.json", config);
}

/// Writes a WordPiece vocabulary as Hugging Face's `vocab.txt` (one token a line, in id order)
/// and a `tokenizer_config.json` for `BertTokenizer(Fast)` (`lowercase`: the basic tokenizer's
/// lower-casing).
inline void save_wordpiece(const std::string& dir, const text::Vocab& vocab, bool lowercase = true) {
  std::filesystem::create_directories(dir);
  vocab.save(std::filesystem::path(dir) / "vocab.txt");
  detail::write_json(std::filesystem::path(dir) / "tokenizer_config.json",
                     {{"tokenizer_class", "BertTokenizer"}, {"do_lower_case", lowercase}, {"unk_token", "[UNK]"},
                      {"sep_token", "[SEP]"}, {"pad_token", "[PAD]"}, {"cls_token", "[CLS]"},
                      {"mask_token", "[MASK]"}});
}

/// Writes a byte-level BPE as Hugging Face's `vocab.json` (token -> id), `merges.txt`
/// ("#version: 0.2", then one merge "a b" a line, in rank order) and a `tokenizer_config.json` for
/// `tokenizer_class` ("GPT2Tokenizer" or "RobertaTokenizer", with the BPE's `add_prefix_space`).
inline void save_bpe(const std::string& dir, const text::ByteLevelBPE& bpe,
                     const std::string& tokenizer_class = "GPT2Tokenizer") {
  namespace fs = std::filesystem;
  fs::create_directories(dir);
  nlohmann::json vocab = nlohmann::json::object();
  for (int64_t id = 0; id < bpe.size(); ++id)
    if (!bpe.token(id).empty()) vocab[bpe.token(id)] = id;
  detail::write_json(fs::path(dir) / "vocab.json", vocab);
  std::ofstream merges(fs::path(dir) / "merges.txt", std::ios::binary);
  TORCH_CHECK(merges.good(), "hf::save_bpe: cannot write '", dir, "/merges.txt'");
  merges << "#version: 0.2\n";
  for (const auto& [a, b] : bpe.merges()) merges << a << ' ' << b << '\n';
  TORCH_CHECK(merges.good(), "hf::save_bpe: writing '", dir, "/merges.txt' failed");
  detail::write_json(fs::path(dir) / "tokenizer_config.json",
                     {{"tokenizer_class", tokenizer_class}, {"add_prefix_space", bpe.options().add_prefix_space}});
}

/// Writes a text model (`encoder` + `head`, see `text_to_hf`) of architecture `arch` as a
/// Hugging Face checkpoint directory `dir` (model.safetensors + config.json).
inline void save_pretrained(const std::string& dir, Arch arch, const text::EncoderImpl& encoder,
                            const torch::nn::Module& head) {
  const auto [tensors, config] = text_to_hf(arch, encoder, head);
  write_checkpoint(dir, tensors, config);
}
/// Writes a BERT encoder as a Hugging Face `BertModel` checkpoint directory `dir` (see
/// `text_to_hf(encoder)`).
inline void save_pretrained(const std::string& dir, const text::EncoderImpl& encoder) {
  const auto [tensors, config] = text_to_hf(encoder);
  write_checkpoint(dir, tensors, config);
}
/// Writes `m` as a Hugging Face checkpoint directory `dir` of its architecture.
inline void save_pretrained(const std::string& dir, const TextModelImpl& m) {
  if (m.lm)
    save_pretrained(dir, m.arch, *m.backbone, *m.lm);
  else if (m.rtd)
    save_pretrained(dir, m.arch, *m.backbone, *m.rtd);
  else
    save_pretrained(dir, *m.backbone);
}
/// Writes a ViT encoder as a Hugging Face `ViTModel` checkpoint directory `dir` (without a pooler:
/// load it with `ViTModel.from_pretrained(dir, add_pooling_layer=False)`).
inline void save_pretrained(const std::string& dir, const vit::EncoderImpl& encoder) {
  const auto [tensors, config] = vit_to_hf(encoder);
  write_checkpoint(dir, tensors, config);
}

// ---- Out: whole image models (ViT-MAE) and ResNets (torchvision) --------------------------------


/// Hugging Face's `ViTMAEForPreTraining` tensors and config of a libssl MAE: the ViT `encoder`
/// (its position table written as is) under the prefix "vit", MAE's `decoder` under "decoder", the
/// share of patches hidden (`mask_ratio`) and whether the loss normalises each target patch
/// (`norm_pix_loss`, as `mae::Options::norm_pix`). transformers has one `qkv_bias`, `hidden_act` and
/// `layer_norm_eps` for both halves: a decoder that differs from the encoder there is refused.
inline std::pair<Dict, nlohmann::json> vit_mae_to_hf(const vit::EncoderImpl& encoder,
                                                     const heads::MaeDecoderImpl& decoder, double mask_ratio,
                                                     bool norm_pix_loss) {
  const auto& o = encoder.options;
  const auto& dopt = decoder.options;
  TORCH_CHECK(mask_ratio >= 0 && mask_ratio < 1, "hf::save_pretrained: ViTMAEForPreTraining: expected a mask_ratio in ",
              "[0, 1), got ", mask_ratio);
  TORCH_CHECK(dopt.encoder_dim() == o.dim() && dopt.grid() == o.grid() &&
                  dopt.patch_dim() == o.patch() * o.patch() * o.channels(),
              "hf::save_pretrained: ViTMAEForPreTraining: the decoder was built for another encoder (encoder_dim ",
              dopt.encoder_dim(), ", grid ", dopt.grid(), ", patch_dim ", dopt.patch_dim(), "; the encoder has dim ",
              o.dim(), ", grid ", o.grid(), ", patch_dim ", o.patch() * o.patch() * o.channels(), ")");
  TORCH_CHECK(dopt.eps() == o.eps(), "hf::save_pretrained: ViTMAEForPreTraining has one layer_norm_eps; the encoder's is ",
              o.eps(), ", the decoder's ", dopt.eps());
  auto dec = detail::named_tensors(decoder, "");
  const bool decoder_bias = dec.count("blocks.0.attn.qkv.bias") > 0;
  TORCH_CHECK(dopt.depth() == 0 || decoder_bias == o.qkv_bias(), "hf::save_pretrained: ViTMAEForPreTraining has one ",
              "qkv_bias; the encoder's is ", o.qkv_bias() ? "true" : "false", ", the decoder's ",
              decoder_bias ? "true" : "false");
  auto [enc, c] = vit_to_hf(encoder);
  Dict out;
  for (auto& [k, v] : enc) out["vit." + k] = v;
  using detail::get;
  using detail::put_pair;
  out["decoder.mask_token"] = get(dec, "mask_token");
  out["decoder.decoder_pos_embed"] = get(dec, "pos_embed");
  put_pair(dec, "embed", "decoder.decoder_embed", out);
  for (int64_t i = 0; i < dopt.depth(); ++i)
    detail::vit_layer_to_hf(dec, "blocks." + std::to_string(i) + ".",
                            "decoder.decoder_encoder.layer." + std::to_string(i) + ".", o.qkv_bias(), out);
  put_pair(dec, "norm", "decoder.decoder_norm", out);
  put_pair(dec, "pred", "decoder.decoder_pred", out);
  c["architectures"] = {architecture_name(Arch::vit_mae)};
  c["model_type"] = model_type_name(Arch::vit_mae);
  c.update({{"decoder_hidden_size", dopt.dim()}, {"decoder_num_hidden_layers", dopt.depth()},
            {"decoder_num_attention_heads", dopt.heads()},
            {"decoder_intermediate_size", dopt.mlp_hidden() > 0 ? dopt.mlp_hidden() : 4 * dopt.dim()},
            {"mask_ratio", mask_ratio}, {"norm_pix_loss", norm_pix_loss}});
  return {out, c};
}

/// Writes a libssl MAE (`encoder` + `decoder`, see `vit_mae_to_hf`) as a Hugging Face
/// `ViTMAEForPreTraining` checkpoint directory `dir`: `AutoModelForPreTraining.from_pretrained(dir)`
/// loads it. From a recipe: `save_pretrained(dir, *mae->backbone(), *mae->head(),
/// mae->masker().ratio, mae->target().norm_pix)`.
inline void save_pretrained(const std::string& dir, const vit::EncoderImpl& encoder, const heads::MaeDecoderImpl& decoder,
                            double mask_ratio, bool norm_pix_loss) {
  const auto [tensors, config] = vit_mae_to_hf(encoder, decoder, mask_ratio, norm_pix_loss);
  write_checkpoint(dir, tensors, config);
}
/// Writes `m` (e.g. from `load_vit_mae`) as a `ViTMAEForPreTraining` checkpoint directory `dir`,
/// with its mask ratio and `norm_pix_loss`.
inline void save_pretrained(const std::string& dir, const MaeModelImpl& m) {
  save_pretrained(dir, *m.backbone, *m.head, m.mask_ratio, m.norm_pix_loss);
}

/// What a `ViTMAEForPreTraining` does with images `[B,C,H,W]` (its input space) and `noise`
/// `[B,N]`: the pixel predictions, the mask and transformers' `loss` (per-patch MSE on the hidden
/// patches, the target normalised per patch with `norm_pix_loss`).
struct MaeOutput {
  torch::Tensor logits;  ///< `[B,N,p*p*C]`
  torch::Tensor mask;    ///< `[B,N]` bool, true = hidden
  torch::Tensor loss;    ///< scalar
};

/// Runs `m` as `ViTMAEForPreTraining.forward(pixel_values=images, noise=noise)` does.
inline MaeOutput mae_forward(MaeModelImpl& m, const torch::Tensor& images, const torch::Tensor& noise) {
  MaeOutput o;
  o.logits = m.forward(images, noise);
  o.mask = m.mask;
  const auto target = target::Pixels{.patch = m.backbone->options.patch(), .norm_pix = m.norm_pix_loss}.of(images);
  const auto hidden = o.mask.to(o.logits.dtype());  // (this process's patches only, also in a data-parallel run)
  o.loss = ((o.logits - target).pow(2).mean(-1) * hidden).sum() / hidden.sum();
  return o;
}

/// torchvision's `ResNet` tensors of a libssl ResNet (the names are already torchvision's; no
/// `fc`: the encoder has no classifier) and a `config.json` describing it for torchvision
/// (`"library": "torchvision"`: not a transformers model): `architecture` (`resnet18` ...),
/// `block`, `layers`, `width` (torchvision: 64; the stages have width, 2w, 4w, 8w planes),
/// `num_channels`, `small_stem` (true: `conv1` is 3x3 stride 1 padding 1 and `maxpool` the
/// identity) and `feature_dim`. Floating-point tensors are float32, `num_batches_tracked` int64.
inline std::pair<Dict, nlohmann::json> resnet_to_torchvision(const resnet::EncoderImpl& encoder) {
  const auto& o = encoder.options;
  const auto blocks = o.blocks();
  Dict out = detail::named_tensors(encoder, "");
  const nlohmann::json c = {{"library", "torchvision"},
                            {"architecture", "resnet" + std::to_string(o.depth())},
                            {"depth", o.depth()},
                            {"block", o.bottleneck() ? "Bottleneck" : "BasicBlock"},
                            {"layers", {blocks[0], blocks[1], blocks[2], blocks[3]}},
                            {"width", o.width()},
                            {"num_channels", o.channels()},
                            {"small_stem", o.small_stem()},
                            {"feature_dim", o.dim()},
                            {"num_classes", 0},
                            {"dtype", "float32"},
                            {"written_by", "libssl resnet::Encoder (no fc: load with strict=False, fc = Identity)"}};
  return {out, c};
}

/// Writes a ResNet encoder as `dir/model.safetensors` with torchvision's names (the state dict
/// of `torchvision.models.resnet18()` ... without `fc`) and `dir/config.json` (see
/// `resnet_to_torchvision`): in Python, build torchvision's ResNet as the config says,
/// `load_state_dict(load_file(...), strict=False)` (only the `fc` tensors missing), `fc = Identity()`.
inline void save_pretrained(const std::string& dir, const resnet::EncoderImpl& encoder) {
  const auto [tensors, config] = resnet_to_torchvision(encoder);
  std::filesystem::create_directories(dir);
  TensorMap ordered;
  for (const auto& [k, v] : tensors) {
    auto t = v.detach().to(torch::kCPU).contiguous();
    if (t.is_floating_point()) t = t.to(torch::kFloat32);
    ordered.emplace_back(k, t);
  }
  save_safetensors((std::filesystem::path(dir) / "model.safetensors").string(), ordered, {{"format", "pt"}});
  detail::write_json(std::filesystem::path(dir) / "config.json", config);
}

/// The ResNet encoder of a directory `save_pretrained(dir, resnet::EncoderImpl)` wrote (a
/// `config.json` with `"library": "torchvision"`), in eval mode. Errors name the file and field.
inline resnet::Encoder load_resnet(const std::string& dir) {
  const auto file = (std::filesystem::path(dir) / "config.json").string();
  Config c;
  c.file = file;
  c.json = detail::read_json(file, "the checkpoint's config");
  const auto lib = c.string("library", "");
  TORCH_CHECK(lib == "torchvision", "hf: ", file, ": expected \"library\": \"torchvision\" (a ResNet libssl wrote), got '",
              lib, "'");
  const auto depth = c.integer("depth");
  TORCH_CHECK(depth == 18 || depth == 34 || depth == 50 || depth == 101 || depth == 152, "hf: ", file,
              ": field 'depth' must be 18, 34, 50, 101 or 152, got ", depth);
  const auto o = resnet::Options{}
                     .depth(depth)
                     .width(c.integer("width"))
                     .channels(c.integer("num_channels"))
                     .small_stem(c.boolean("small_stem", false));
  const auto blocks = o.blocks();
  const nlohmann::json layers = {blocks[0], blocks[1], blocks[2], blocks[3]};
  TORCH_CHECK(!c.has("layers") || c.json["layers"] == layers, "hf: ", file, ": field 'layers' is ",
              c.json["layers"].dump(), ", but depth ", depth, " has ", layers.dump());
  const std::string block = o.bottleneck() ? "Bottleneck" : "BasicBlock";
  TORCH_CHECK(c.string("block", block) == block, "hf: ", file, ": field 'block' is '", c.string("block", block),
              "', but depth ", depth, " has ", block, "s");
  resnet::Encoder m(o);
  const auto weights = (std::filesystem::path(dir) / "model.safetensors").string();
  io::load_into(*m, load_safetensors(weights), true, "hf: " + weights);
  m->eval();
  return m;
}

}  // namespace ssl::io::hf
