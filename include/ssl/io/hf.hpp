#pragma once
/// \file io/hf.hpp
/// Hugging Face checkpoints: maps `ViTModel` / `ViTMAEForPreTraining` state dicts (safetensors)
/// onto libssl's ViT encoder and MAE decoder, both the current names (transformers >= 5:
/// `layers.N.attention.q_proj`, `mlp.fc1`) and the older ones (`encoder.layer.N.attention.
/// attention.query`, `intermediate.dense`). q, k, v are fused into libssl's `attn.qkv`.
#include <ssl/io/safetensors.hpp>

#include <torch/torch.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ssl::io::hf {

using Dict = std::map<std::string, torch::Tensor>;

namespace detail {
inline std::optional<torch::Tensor> find(const Dict& d, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    auto it = d.find(n);
    if (it != d.end()) return it->second;
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
    detail::map_layer(hf, "decoder.decoder_layers." + n, "decoder.decoder_layers." + n, "head.blocks." + n, out);
  }
  return out;
}

}  // namespace ssl::io::hf
