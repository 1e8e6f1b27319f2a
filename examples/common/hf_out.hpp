// Shared by the image examples 05 and 06 (not part of the library): the pretrained backbone written
// beside the checkpoint as a directory other tools load (ssl/io/hf_checkpoint.hpp).
#pragma once
#include <ssl/io/hf_checkpoint.hpp>
#include <ssl/resnet/encoder.hpp>
#include <ssl/vit/encoder.hpp>

#include <cstdio>
#include <string>

namespace ex {

/// Writes the ViT `net` (`which`: e.g. "student", "teacher") as a Hugging Face `ViTModel`
/// directory `dir` (config.json + model.safetensors; a BEiT / iBOT `[MASK]` embedding is left out:
/// ViTModel has none) and says so.
inline void write_pretrained(const std::string& dir, const ssl::vit::Encoder& net, const std::string& which) {
  ssl::io::hf::save_pretrained(dir, *net);
  std::printf("wrote %s: the %s's ViT as a Hugging Face ViTModel directory (config.json, model.safetensors; "
              "transformers: ViTModel.from_pretrained(dir, add_pooling_layer=False))\n",
              dir.c_str(), which.c_str());
}

/// Writes the ResNet `net` as `dir/model.safetensors` with torchvision's names and a config.json
/// describing it (`"library": "torchvision"`) and says so.
inline void write_pretrained(const std::string& dir, const ssl::resnet::Encoder& net, const std::string& which) {
  ssl::io::hf::save_pretrained(dir, *net);
  std::printf("wrote %s: the %s's ResNet-%lld with torchvision's names (config.json, model.safetensors; "
              "torchvision's resnet with the config's width and stem loads it, strict=False: no fc)\n",
              dir.c_str(), which.c_str(), (long long)net->options.depth());
}

}  // namespace ex
