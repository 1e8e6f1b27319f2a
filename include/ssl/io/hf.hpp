#pragma once
/// \file io/hf.hpp
/// Hugging Face checkpoints: maps `ViTModel` / `ViTMAEForPreTraining` state dicts (safetensors)
/// onto libssl's ViT encoder and MAE decoder, both the current names (transformers >= 5:
/// `layers.N.attention.q_proj`, `mlp.fc1`) and the older ones
/// (`encoder.layer.N.attention.attention.query`, `intermediate.dense`). q, k, v are fused into
/// libssl's `attn.qkv`.
/// Text: `BertModel` / `BertForMaskedLM` / `BertForPreTraining`, `ElectraForMaskedLM` /
/// `ElectraForPreTraining` and `GPT2Model` / `GPT2LMHeadModel` onto `text::Encoder` and the LM
/// heads (GPT-2's Conv1D weights are transposed).
#include <ssl/io/safetensors.hpp>

#include <torch/torch.h>

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace ssl::io::hf {

/// A state dict: parameter name -> tensor (as read from / written to safetensors).
using Dict = std::map<std::string, torch::Tensor>;

namespace detail {
/// While set, every name `find` returns is added to it: what a mapping used of a checkpoint
/// (io/hf_checkpoint.hpp reports the tensors nothing used).
inline thread_local std::set<std::string>* used_names = nullptr;
inline std::optional<torch::Tensor> find(const Dict& d, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    auto it = d.find(n);
    if (it != d.end()) {
      if (used_names) used_names->insert(n);
      return it->second;
    }
  }
  return std::nullopt;
}
inline torch::Tensor need(const Dict& d, const std::vector<std::string>& names, const std::string& what) {
  auto t = find(d, names);
  if (!t) {
    std::string tried;
    for (const auto& n : names) tried += " '" + n + "'";
    TORCH_CHECK(false, "hf: checkpoint has no tensor for ", what, " (looked for", tried, ")");
  }
  return *t;
}
/// One Transformer layer `hf` (e.g. "vit.layers.3" or "vit.encoder.layer.3") -> `ours`
/// (e.g. "backbone.blocks.3"), for both name generations; `old` is the pre-5 layer prefix.
inline void map_layer(const Dict& d, const std::string& hf, const std::string& old, const std::string& ours, Dict& out) {
  for (const char* wb : {"weight", "bias"}) {
    const std::string s = wb;
    std::vector<torch::Tensor> qkv;
    for (auto [n, o] : {std::pair{"q_proj", "query"}, std::pair{"k_proj", "key"}, std::pair{"v_proj", "value"}}) {
      auto t = find(d, {hf + ".attention." + n + "." + s, old + ".attention.attention." + o + "." + s});
      if (t) qkv.push_back(*t);
    }
    TORCH_CHECK(qkv.empty() || qkv.size() == 3, "hf: layer '", hf, "' has only some of q/k/v ", s);
    if (qkv.size() == 3) out[ours + ".attn.qkv." + s] = torch::cat(qkv, 0);
    out[ours + ".attn.proj." + s] = need(d, {hf + ".attention.o_proj." + s, old + ".attention.output.dense." + s}, ours + " attention output");
    out[ours + ".norm1." + s] = need(d, {hf + ".layernorm_before." + s, old + ".layernorm_before." + s}, ours + " norm1");
    out[ours + ".norm2." + s] = need(d, {hf + ".layernorm_after." + s, old + ".layernorm_after." + s}, ours + " norm2");
    out[ours + ".mlp.fc1." + s] = need(d, {hf + ".mlp.fc1." + s, old + ".intermediate.dense." + s}, ours + " mlp.fc1");
    out[ours + ".mlp.fc2." + s] = need(d, {hf + ".mlp.fc2." + s, old + ".output.dense." + s}, ours + " mlp.fc2");
  }
}
inline void map_vit(const Dict& d, const std::string& hf, const std::string& ours, int64_t depth, Dict& out) {
  const std::string e = hf + "embeddings.";
  out[ours + "cls_token"] = need(d, {e + "cls_token"}, "the CLS token");
  out[ours + "pos_embed"] = need(d, {e + "position_embeddings"}, "the position embedding");
  out[ours + "patch_embed.proj.weight"] = need(d, {e + "patch_embeddings.projection.weight"}, "the patch embedding");
  out[ours + "patch_embed.proj.bias"] = need(d, {e + "patch_embeddings.projection.bias"}, "the patch embedding bias");
  for (int64_t i = 0; i < depth; ++i) {
    const auto n = std::to_string(i);
    map_layer(d, hf + "layers." + n, hf + "encoder.layer." + n, ours + "blocks." + n, out);
  }
  out[ours + "norm.weight"] = need(d, {hf + "layernorm.weight"}, "the final layernorm");
  out[ours + "norm.bias"] = need(d, {hf + "layernorm.bias"}, "the final layernorm bias");
}
}  // namespace detail

/// `ViTModel` state dict -> `vit::Encoder` names (prefix `ours`, e.g. "" or "backbone.").
inline Dict vit_to_ssl(const Dict& hf, int64_t depth, const std::string& ours = "") {
  Dict out;
  detail::map_vit(hf, "", ours, depth, out);
  return out;
}

/// `ViTMAEForPreTraining` state dict -> `mae::Recipe` names (`backbone.*`, `head.*`).
inline Dict vit_mae_to_ssl(const Dict& hf, int64_t depth, int64_t decoder_depth) {
  Dict out;
  detail::map_vit(hf, "vit.", "backbone.", depth, out);
  using detail::need;
  out["head.mask_token"] = need(hf, {"decoder.mask_token"}, "the decoder mask token");
  out["head.pos_embed"] = need(hf, {"decoder.decoder_pos_embed"}, "the decoder position embedding");
  for (const char* s : {"weight", "bias"}) {
    const std::string w = s;
    out["head.embed." + w] = need(hf, {"decoder.decoder_embed." + w}, "decoder_embed");
    out["head.norm." + w] = need(hf, {"decoder.decoder_norm." + w}, "decoder_norm");
    out["head.pred." + w] = need(hf, {"decoder.decoder_pred." + w}, "decoder_pred");
  }
  for (int64_t i = 0; i < decoder_depth; ++i) {
    const auto n = std::to_string(i);
    // transformers >= 5 writes the decoder's layers as decoder.decoder_encoder.layer.N (old names inside).
    const auto v5 = "decoder.decoder_encoder.layer." + n;
    const bool written_by_v5 = hf.count(v5 + ".layernorm_before.weight") > 0;
    detail::map_layer(hf, "decoder.decoder_layers." + n, written_by_v5 ? v5 : "decoder.decoder_layers." + n,
                      "head.blocks." + n, out);
  }
  return out;
}

namespace detail {
/// The prefix of a text model's base in `d` (e.g. "bert." or "" for a bare `BertModel`).
inline std::string base_prefix(const Dict& d, const std::string& model, const std::string& probe) {
  if (d.count(model + "." + probe)) return model + ".";
  TORCH_CHECK(d.count(probe), "hf: not a ", model, " checkpoint: neither '", model, ".", probe, "' nor '", probe,
              "' is in it");
  return "";
}
/// BERT / ELECTRA embeddings and post-norm layers -> `text::Encoder` names.
inline void map_bert_encoder(const Dict& d, const std::string& hf, const std::string& ours, int64_t depth, Dict& out) {
  for (const char* wb : {"weight", "bias"}) {
    const std::string s = wb;
    const std::string e = hf + "embeddings.";
    if (s == "weight") {
      out[ours + "embeddings.tok.weight"] = need(d, {e + "word_embeddings.weight"}, "word embeddings");
      out[ours + "embeddings.pos.weight"] = need(d, {e + "position_embeddings.weight"}, "position embeddings");
      if (auto t = find(d, {e + "token_type_embeddings.weight"})) out[ours + "embeddings.seg.weight"] = *t;
    }
    out[ours + "embeddings.norm." + s] = need(d, {e + "LayerNorm." + s}, "embedding LayerNorm");
    if (auto t = find(d, {hf + "embeddings_project." + s})) out[ours + "proj." + s] = *t;
    for (int64_t i = 0; i < depth; ++i) {
      const auto l = hf + "encoder.layer." + std::to_string(i) + ".";
      const auto o = ours + "blocks." + std::to_string(i) + ".";
      std::vector<torch::Tensor> qkv;
      for (const char* n : {"query", "key", "value"}) qkv.push_back(need(d, {l + "attention.self." + n + "." + s}, o + n));
      out[o + "attn.qkv." + s] = torch::cat(qkv, 0);
      out[o + "attn.proj." + s] = need(d, {l + "attention.output.dense." + s}, o + "attention output");
      out[o + "norm1." + s] = need(d, {l + "attention.output.LayerNorm." + s}, o + "attention LayerNorm");
      out[o + "mlp.fc1." + s] = need(d, {l + "intermediate.dense." + s}, o + "intermediate");
      out[o + "mlp.fc2." + s] = need(d, {l + "output.dense." + s}, o + "output");
      out[o + "norm2." + s] = need(d, {l + "output.LayerNorm." + s}, o + "output LayerNorm");
    }
    if (auto t = find(d, {hf + "pooler.dense." + s})) out[ours + "pooler." + s] = *t;
  }
}
inline void map_pair(const Dict& d, const std::string& hf, const std::string& ours, Dict& out) {
  for (const char* s : {".weight", ".bias"})
    if (auto t = find(d, {hf + s})) out[ours + s] = *t;
}
}  // namespace detail

/// A Hugging Face BERT state dict renamed for `bert::Recipe`. `BertModel` / `BertForMaskedLM` /
/// `BertForPreTraining` weights become `backbone.*` and, when the checkpoint has them, the MLM /
/// NSP heads `head.*`.
inline Dict bert_to_ssl(const Dict& hf, int64_t depth, const std::string& backbone = "backbone.",
                        const std::string& head = "head.") {
  Dict out;
  const auto b = detail::base_prefix(hf, "bert", "embeddings.word_embeddings.weight");
  detail::map_bert_encoder(hf, b, backbone, depth, out);
  detail::map_pair(hf, "cls.predictions.transform.dense", head + "dense", out);
  detail::map_pair(hf, "cls.predictions.transform.LayerNorm", head + "norm", out);
  if (auto t = detail::find(hf, {"cls.predictions.bias", "cls.predictions.decoder.bias"})) out[head + "bias"] = *t;
  detail::map_pair(hf, "cls.seq_relationship", head + "nsp", out);
  return out;
}

/// `ElectraForMaskedLM` (generator: head = MLM head) or `ElectraForPreTraining`
/// (discriminator: head = replaced-token head) -> `text::Encoder` (`backbone`) + head names.
inline Dict electra_to_ssl(const Dict& hf, int64_t depth, const std::string& backbone = "backbone.",
                           const std::string& head = "head.") {
  Dict out;
  const auto b = detail::base_prefix(hf, "electra", "embeddings.word_embeddings.weight");
  detail::map_bert_encoder(hf, b, backbone, depth, out);
  detail::map_pair(hf, "generator_predictions.dense", head + "dense", out);
  detail::map_pair(hf, "generator_predictions.LayerNorm", head + "norm", out);
  if (auto t = detail::find(hf, {"generator_lm_head.bias"})) out[head + "bias"] = *t;
  detail::map_pair(hf, "discriminator_predictions.dense", head + "dense", out);
  detail::map_pair(hf, "discriminator_predictions.dense_prediction", head + "out", out);
  return out;
}

/// `GPT2Model` / `GPT2LMHeadModel` -> `gpt::Recipe` names (Conv1D weights transposed; the LM
/// head is tied to `embeddings.tok`).
inline Dict gpt2_to_ssl(const Dict& hf, int64_t depth, const std::string& backbone = "backbone.") {
  Dict out;
  const auto b = detail::base_prefix(hf, "transformer", "wte.weight");
  using detail::need;
  out[backbone + "embeddings.tok.weight"] = need(hf, {b + "wte.weight"}, "token embeddings (wte)");
  out[backbone + "embeddings.pos.weight"] = need(hf, {b + "wpe.weight"}, "position embeddings (wpe)");
  for (int64_t i = 0; i < depth; ++i) {
    const auto l = b + "h." + std::to_string(i) + ".";
    const auto o = backbone + "blocks." + std::to_string(i) + ".";
    for (auto [h, ours] : {std::pair{"ln_1", "norm1"}, std::pair{"ln_2", "norm2"}}) {
      out[o + ours + ".weight"] = need(hf, {l + h + ".weight"}, o + ours);
      out[o + ours + ".bias"] = need(hf, {l + h + ".bias"}, o + ours);
    }
    for (auto [h, ours] : {std::pair{"attn.c_attn", "attn.qkv"}, std::pair{"attn.c_proj", "attn.proj"},
                           std::pair{"mlp.c_fc", "mlp.fc1"}, std::pair{"mlp.c_proj", "mlp.fc2"}}) {
      out[o + ours + ".weight"] = need(hf, {l + h + ".weight"}, o + ours).t().contiguous();  // Conv1D: [in, out]
      out[o + ours + ".bias"] = need(hf, {l + h + ".bias"}, o + ours);
    }
  }
  out[backbone + "norm.weight"] = need(hf, {b + "ln_f.weight"}, "final LayerNorm (ln_f)");
  out[backbone + "norm.bias"] = need(hf, {b + "ln_f.bias"}, "final LayerNorm (ln_f)");
  return out;
}

}  // namespace ssl::io::hf
