#!/usr/bin/env python3
"""Generate wav2vec 2.0 references for the libssl C++ tests.

Usage: python3 make_wav2vec2_references.py --out DIR

Writes DIR/wav2vec2.safetensors from Hugging Face's `Wav2Vec2ForPreTraining` (transformers) and
its `_compute_mask_indices` / `_sample_negative_indices`; nothing here imports libssl.

1. A small model (7 convolutions of 32 channels with the paper's kernels and strides, GroupNorm
   after the first, no conv bias; a 2-block post-norm Transformer of width 32, 4 heads, MLP 64;
   relative positions over 16 frames in 4 groups; G = 2 codebooks of V = 8 entries, code width
   16, projections to 12; every dropout 0), initialised by transformers with seed 0, in
   evaluation mode, on x [3, 8000] ~ N(0, 1) (24 frames), the spans of `_compute_mask_indices`
   (mask_prob 0.65, length 4, min_masks 2; NumPy seed 0) and 5 distractors per frame from
   `_sample_negative_indices`. Keys: x, mask [3, 24] (0/1), negatives [3, 24, 5] (flat indices,
   as float), projected_states, projected_quantized_states, perplexity, loss, contrastive_loss,
   diversity_loss, extract_features (the quantiser's input), w.<name> (every parameter, with
   libssl's names: `wav2vec2::Recipe`'s backbone.* and head.*; q, k, v fused into qkv) and
   grad.<name> (of the loss; zero where it has none).
2. The quantiser in training mode on extract_features with the same mask, after
   `torch.manual_seed(7)` (the Gumbel noise): train.quantized, train.perplexity. The whole model
   in training mode after `torch.manual_seed(7)` (the straight-through Gumbel softmax trains the
   quantiser's logits): train.loss, train.grad.<name>.
3. Span-masking statistics: 4000 batches of 8 clips of 49 frames (one second at 16 kHz), the
   paper's setting (mask_prob 0.65 = p 0.065 x 10, length 10, min_masks 2; NumPy seed 1): spans.mean
   (the fraction of frames hidden) and spans.hist [50] (the fraction of clips with n frames
   hidden, n = 0..49).
"""
import sys

import numpy as np
import torch

torch.set_num_threads(1)

import refs_file  # noqa: E402
import transformers  # noqa: E402
from transformers import Wav2Vec2Config, Wav2Vec2ForPreTraining  # noqa: E402
from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices  # noqa: E402

_META = {"generator": f"make_wav2vec2_references.py torch={torch.__version__} transformers={transformers.__version__}"}


def libssl_names(model):
    """The model's parameters under libssl's names (q, k, v fused), as {name: tensor}."""
    sd = {k: v for k, v in model.named_parameters()}
    out = {}
    pre = "wav2vec2."
    for i in range(7):
        out[f"backbone.features.convs.{i}.weight"] = sd[f"{pre}feature_extractor.conv_layers.{i}.conv.weight"]
    out["backbone.features.norm.weight"] = sd[f"{pre}feature_extractor.conv_layers.0.layer_norm.weight"]
    out["backbone.features.norm.bias"] = sd[f"{pre}feature_extractor.conv_layers.0.layer_norm.bias"]
    for p in ("weight", "bias"):
        out[f"backbone.feature_norm.{p}"] = sd[f"{pre}feature_projection.layer_norm.{p}"]
        out[f"backbone.projection.{p}"] = sd[f"{pre}feature_projection.projection.{p}"]
        out[f"backbone.norm.{p}"] = sd[f"{pre}encoder.layer_norm.{p}"]
    out["backbone.mask_embed"] = sd[f"{pre}masked_spec_embed"]
    out["backbone.positions.weight_g"] = sd[f"{pre}encoder.pos_conv_embed.conv.parametrizations.weight.original0"]
    out["backbone.positions.weight_v"] = sd[f"{pre}encoder.pos_conv_embed.conv.parametrizations.weight.original1"]
    out["backbone.positions.bias"] = sd[f"{pre}encoder.pos_conv_embed.conv.bias"]
    for i in range(model.config.num_hidden_layers):
        L = f"{pre}encoder.layers.{i}."
        B = f"backbone.blocks.{i}."
        for p in ("weight", "bias"):
            out[B + f"attn.qkv.{p}"] = torch.cat([sd[L + f"attention.{n}_proj.{p}"] for n in "qkv"], 0)
            out[B + f"attn.proj.{p}"] = sd[L + f"attention.out_proj.{p}"]
            out[B + f"norm1.{p}"] = sd[L + f"layer_norm.{p}"]
            out[B + f"mlp.fc1.{p}"] = sd[L + f"feed_forward.intermediate_dense.{p}"]
            out[B + f"mlp.fc2.{p}"] = sd[L + f"feed_forward.output_dense.{p}"]
            out[B + f"norm2.{p}"] = sd[L + f"final_layer_norm.{p}"]
    out["head.quantizer.codebook"] = sd["quantizer.codevectors"]
    for p in ("weight", "bias"):
        out[f"head.quantizer.logits.{p}"] = sd[f"quantizer.weight_proj.{p}"]
        out[f"head.project_hid.{p}"] = sd[f"project_hid.{p}"]
        out[f"head.project_q.{p}"] = sd[f"project_q.{p}"]
    assert len(out) == len(sd) - 4 * model.config.num_hidden_layers, (len(out), len(sd))  # q, k, v (weights, biases) -> qkv
    return out


def make(out_dir):
    cfg = Wav2Vec2Config(
        conv_dim=(32,) * 7, conv_kernel=(10, 3, 3, 3, 3, 2, 2), conv_stride=(5, 2, 2, 2, 2, 2, 2), conv_bias=False,
        feat_extract_norm="group", feat_extract_activation="gelu", hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, intermediate_size=64, hidden_act="gelu", layer_norm_eps=1e-5,
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4, num_codevector_groups=2,
        num_codevectors_per_group=8, codevector_dim=16, proj_codevector_dim=12, num_negatives=5,
        contrastive_logits_temperature=0.1, diversity_loss_weight=0.1, do_stable_layer_norm=False,
        hidden_dropout=0.0, activation_dropout=0.0, attention_dropout=0.0, feat_proj_dropout=0.0,
        feat_quantizer_dropout=0.0, final_dropout=0.0, layerdrop=0.0, mask_time_prob=0.65, mask_time_length=4)
    torch.manual_seed(0)
    model = Wav2Vec2ForPreTraining(cfg).eval()
    x = torch.randn(3, 8000)
    frames = int(model._get_feat_extract_output_lengths(torch.tensor(8000)).item())
    np.random.seed(0)
    mask = _compute_mask_indices((3, frames), mask_prob=0.65, mask_length=4, min_masks=2)
    negs = _sample_negative_indices((3, frames), 5, mask_time_indices=mask)
    mask_t = torch.tensor(mask, dtype=torch.bool)
    negs_t = torch.tensor(negs, dtype=torch.long)
    o = model(x, mask_time_indices=mask_t, sampled_negative_indices=negs_t)
    o.loss.backward()
    ref = {"x": x, "mask": mask_t.float(), "negatives": negs_t.float(), "projected_states": o.projected_states,
           "projected_quantized_states": o.projected_quantized_states, "perplexity": o.codevector_perplexity,
           "loss": o.loss, "contrastive_loss": o.contrastive_loss, "diversity_loss": o.diversity_loss}
    for name, p in libssl_names(model).items():
        ref["w." + name] = p
    # gradients under libssl's names: the same mapping over .grad (zero where the loss has none)
    grads = Wav2Vec2ForPreTraining(cfg)
    with torch.no_grad():
        for (n, p), (_, g) in zip(model.named_parameters(), grads.named_parameters()):
            g.copy_(p.grad if p.grad is not None else torch.zeros_like(p))
    for name, g in libssl_names(grads).items():
        ref["grad." + name] = g.detach().clone()  # grads is overwritten below
    with torch.no_grad():
        feats = model.wav2vec2(x, mask_time_indices=mask_t).extract_features
        ref["extract_features"] = feats
        model.quantizer.train()
        torch.manual_seed(7)
        q, ppl = model.quantizer(feats, mask_time_indices=mask_t)
        ref["train.quantized"], ref["train.perplexity"] = q, ppl
    # the whole model in training mode (dropout 0: the Gumbel noise is the only draw)
    model.train()
    model.zero_grad()
    torch.manual_seed(7)
    o = model(x, mask_time_indices=mask_t, sampled_negative_indices=negs_t)
    o.loss.backward()
    ref["train.loss"] = o.loss.detach()
    with torch.no_grad():
        for (n, p), (_, g) in zip(model.named_parameters(), grads.named_parameters()):
            g.copy_(p.grad if p.grad is not None else torch.zeros_like(p))
    for name, g in libssl_names(grads).items():
        ref["train.grad." + name] = g.detach().clone()
    # span statistics in the paper's setting
    np.random.seed(1)
    counts = np.concatenate([_compute_mask_indices((8, 49), mask_prob=0.65, mask_length=10, min_masks=2).sum(1)
                             for _ in range(4000)])
    ref["spans.mean"] = torch.tensor(counts.mean() / 49.0)
    ref["spans.hist"] = torch.tensor(np.bincount(counts, minlength=50)[:50] / len(counts))
    return refs_file.save(ref, out_dir, "wav2vec2.safetensors", _META, dtype=torch.float32)


def main(argv=None):
    return refs_file.main(make, "wav2vec2.safetensors", __doc__, _META["generator"], argv)


if __name__ == "__main__":
    sys.exit(main())
