#!/usr/bin/env python3
"""Generate data2vec 2.0 references for the libssl C++ tests.

Usage: python3 make_data2vec_references.py --out DIR

Writes DIR/data2vec2.safetensors and the Hugging Face ViT checkpoint DIR/data2vec2_vit/. The
reference for the targets is `transformers`' ViTModel (its own implementation of the ViT) with
data2vec 2.0's target construction (fairseq examples/data2vec/models/data2vec2.py,
`make_targets`, image config: instance_norm_target_layer, layer_norm_targets) written out
below; the decoder and the loss are data2vec 2.0's (`modalities/modules.py` `Decoder2d`,
`modalities/base.py` `decoder_input`, `data2vec2.py` `d2v_loss` and its criterion's division by
the number of masked positions), also written out (fairseq is not installable from PyPI).
Nothing here imports libssl.

1. Targets: a ViTModel (28 x 28 x 1 images, patch 4, width 32, 3 blocks, 2 heads, eps 1e-6,
   exact GELU), seed 0, with every LayerNorm, bias, position embedding and the CLS token
   randomised, saved with `save_pretrained` to DIR/data2vec2_vit. On images x [3, 1, 28, 28],
   each block's feed-forward output before its residual (a forward hook on `layers[i].mlp`, or
   on `encoder.layer[i].output.dense` before transformers 5): the reference's `ffn_targets`. Keys: x, ffn.<i> [3, 50, 32],
   targets.top<k> [3, 49, 32] for k = 2 and 3 (CLS dropped, F.instance_norm of each layer as
   [B, C, T], the average, F.layer_norm).
2. Decoder and loss: `Decoder2d` (7 x 7 grid, input width 32) in two configurations, `same`
   (decoder_dim 32, groups 4, kernel 3, 3 layers: the residual on every block) and `wide`
   (decoder_dim 48: no residual into the first block), seed 1; the visible tokens x [3, 9, 32],
   the hidden patches' input fill [3, 40, 32], a mask of 40 hidden patches per image and its
   ids_restore (kept first, each part row-major), targets y [3, 49, 32]; the prediction, the
   loss (squared error summed over channels, scaled by 1/sqrt(32), summed over the hidden
   positions, divided by their number) and the gradients of the loss with respect to x and
   every decoder parameter. Keys dec.{mask, ids_restore, x, fill, y}, dec.<cfg>.{pred, loss,
   grad.x, w.<name>, grad.<name>}, with libssl's parameter names (blocks.<i>.weight|bias: the
   reference's blocks.<i>.0.*; proj.*).
3. Text targets and the student's visible-only encoding: a BertModel (vocabulary 50, width 32,
   3 blocks, 2 heads, MLP 128, 16 positions, eps 1e-12, exact GELU, pad id 0), seed 2, LayerNorms,
   biases and the position and segment embeddings randomised, saved to DIR/data2vec2_bert. On ids
   text.ids [3, 12] (row 2 ends in 3 padding tokens, attention_mask = ids != 0): each block's
   feed-forward output (a hook on `encoder.layer[i].output.dense`), text.ffn.<i> [3, 12, 32], and
   text.targets.top<k> for k = 2, 3 (the text config's make_targets: instance norm of each layer,
   the average, no final layer norm; the padding positions count in the statistics). The
   student: on ids text.sids [3, 12] without padding and noise text.noise [3, 12], the
   reference's `random_masking` (mask_prob 0.48: int(12 x 0.52) = 6 kept) gives text.mask,
   text.ids_keep, text.ids_restore; the embeddings of all 12 positions gathered at ids_keep,
   then the blocks: text.student [3, 6, 32].
4. The text decoder: `Decoder1d` (input width 32) in two configurations, `text` (decoder_dim 32,
   groups 1, kernel 5, 3 layers, no residual, 2 projection layers of ratio 2: the text config's
   shape) and `res` (decoder_dim 32, groups 4, kernel 3, 2 layers, residual, 1 projection), seed
   3; visible tokens [3, 6, 32], fill [3, 6, 32], the mask and ids_restore of part 3, targets
   [3, 12, 32]; the prediction, the loss with loss_scale 1 (the text config's) and the
   gradients. Keys dec1.{x, fill, y}, dec1.<cfg>.{pred, loss, grad.x, w.<name>, grad.<name>}
   (libssl's names: proj_hidden.* and proj.* for the reference's proj.0.* and proj.2.*).
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)

import refs_file  # noqa: E402

_META = {"generator": f"make_data2vec_references.py torch={torch.__version__}"}


# ---- data2vec2.py: make_targets (image config) ----
def make_targets(y, num_layers, layer_norm_targets=True):
    target_layer_results = y[-num_layers:]
    target_layer_results = [tl.transpose(1, 2) for tl in target_layer_results]  # BTC -> BCT
    target_layer_results = [F.instance_norm(tl.float()) for tl in target_layer_results]
    target_layer_results = [tl.transpose(1, 2) for tl in target_layer_results]  # BCT -> BTC
    y = target_layer_results[0].float()
    for tl in target_layer_results[1:]:
        y.add_(tl.float())
    y = y.div_(len(target_layer_results))
    if layer_norm_targets:
        y = F.layer_norm(y, y.shape[-1:])
    return y


# ---- modules.py: Decoder2d (with fairseq's SamePad2d, TransposeLast, LayerNorm) ----
class SamePad2d(nn.Module):
    def __init__(self, kernel_size):
        super().__init__()
        self.remove = 1 if kernel_size % 2 == 0 else 0

    def forward(self, x):
        assert len(x.size()) == 4
        if self.remove > 0:
            x = x[:, :, : -self.remove, : -self.remove]
        return x


class TransposeLast(nn.Module):
    def __init__(self, deconstruct_idx=None, tranpose_dim=-2):
        super().__init__()
        self.deconstruct_idx = deconstruct_idx
        self.tranpose_dim = tranpose_dim

    def forward(self, x):
        if self.deconstruct_idx is not None:
            x = x[self.deconstruct_idx]
        return x.transpose(self.tranpose_dim, -1)


class Decoder2d(nn.Module):
    def __init__(self, decoder_dim, decoder_groups, decoder_kernel, decoder_layers, input_dim, h_size, w_size):
        super().__init__()
        self.h_size, self.w_size = h_size, w_size

        def make_block(in_dim):
            return nn.Sequential(
                nn.Conv2d(in_dim, decoder_dim, kernel_size=decoder_kernel, padding=decoder_kernel // 2,
                          groups=decoder_groups),
                SamePad2d(decoder_kernel),
                TransposeLast(tranpose_dim=-3),
                nn.LayerNorm(decoder_dim, elementwise_affine=False),
                TransposeLast(tranpose_dim=-3),
                nn.GELU(),
            )

        self.blocks = nn.Sequential(*[make_block(input_dim if i == 0 else decoder_dim) for i in range(decoder_layers)])
        self.proj = nn.Linear(decoder_dim, input_dim)

    def add_residual(self, x, residual):
        if residual is None or residual.size(1) != x.size(1):
            return x
        return x + residual

    def forward(self, x):
        B, T, C = x.shape
        x = x.transpose(1, 2).reshape(B, C, self.h_size, self.w_size)
        residual = x
        for layer in self.blocks:
            x = layer(x)
            x = self.add_residual(x, residual)
            residual = x
        x = x.reshape(B, -1, T).transpose(1, 2)
        return self.proj(x)


# ---- modules.py: Decoder1d (SamePad(kernel) removes nothing for the odd kernels used here) ----
class Decoder1d(nn.Module):
    def __init__(self, decoder_dim, decoder_groups, decoder_kernel, decoder_layers, input_dim, decoder_residual,
                 projection_layers, projection_ratio=2.0):
        super().__init__()
        assert decoder_kernel % 2 == 1
        self.decoder_residual = decoder_residual

        def make_block(in_dim):
            return nn.Sequential(
                nn.Conv1d(in_dim, decoder_dim, kernel_size=decoder_kernel, padding=decoder_kernel // 2,
                          groups=decoder_groups),
                TransposeLast(),
                nn.LayerNorm(decoder_dim, elementwise_affine=False),
                TransposeLast(),
                nn.GELU(),
            )

        self.blocks = nn.Sequential(*[make_block(input_dim if i == 0 else decoder_dim) for i in range(decoder_layers)])
        projs = []
        curr_dim = decoder_dim
        for i in range(projection_layers - 1):
            next_dim = int(curr_dim * projection_ratio) if i == 0 else curr_dim
            projs.append(nn.Linear(curr_dim, next_dim))
            projs.append(nn.GELU())
            curr_dim = next_dim
        projs.append(nn.Linear(curr_dim, input_dim))
        self.proj = projs[0] if len(projs) == 1 else nn.Sequential(*projs)

    def forward(self, x):
        x = x.transpose(1, 2)
        residual = x
        for layer in self.blocks:
            x = layer(x)
            if self.decoder_residual and residual.size(1) == x.size(1):
                x = x + residual
            residual = x
        x = x.transpose(1, 2)
        return self.proj(x)


def d2v_loss(x, y, loss_scale=None):
    x = x.view(-1, x.size(-1)).float()
    y = y.view(-1, x.size(-1))
    loss = F.mse_loss(x, y, reduction="none")
    scale = loss_scale if loss_scale is not None else 1 / math.sqrt(x.size(-1))
    return loss * scale


# ---- base.py: random_masking (the text config's mask_length 1), given its noise ----
def random_masking(noise, mask_ratio):
    N, L = noise.shape
    len_keep = int(L * (1 - mask_ratio))
    ids_shuffle = noise.argsort(dim=1)
    ids_restore = ids_shuffle.argsort(dim=1)
    ids_keep = ids_shuffle[:, :len_keep]
    mask = torch.ones([N, L])
    mask[:, :len_keep] = 0
    mask = torch.gather(mask, dim=1, index=ids_restore)
    return mask, ids_keep, ids_restore


def targets_part(out_dir, out):
    from transformers import ViTConfig, ViTModel

    torch.manual_seed(0)
    cfg = ViTConfig(image_size=28, patch_size=4, num_channels=1, hidden_size=32, num_hidden_layers=3,
                    num_attention_heads=2, intermediate_size=128, hidden_act="gelu", layer_norm_eps=1e-6,
                    qkv_bias=True, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = ViTModel(cfg, add_pooling_layer=False).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layernorm" in name or name.endswith(".bias") or "position_embeddings" in name or "cls_token" in name:
                p.copy_(torch.randn_like(p) * 0.2 + (1.0 if "layernorm" in name and name.endswith("weight") else 0.0))
    model.save_pretrained(os.path.join(out_dir, "data2vec2_vit"), safe_serialization=True)
    ffn = []
    # the feed-forward network's output before the residual: `layers.<i>.mlp` (transformers 5),
    # `encoder.layer.<i>.output.dense` (transformers 4)
    layers = model.layers if hasattr(model, "layers") else model.encoder.layer
    ffns = [layer.mlp if hasattr(layer, "mlp") else layer.output.dense for layer in layers]
    hooks = [f.register_forward_hook(lambda m, i, o: ffn.append(o)) for f in ffns]
    x = torch.randn(3, 1, 28, 28)
    with torch.no_grad():
        model(pixel_values=x)
    for h in hooks:
        h.remove()
    assert len(ffn) == 3
    out["x"] = x
    for i, f in enumerate(ffn):
        out[f"ffn.{i}"] = f
    extra_tokens = 1
    y = [f[:, extra_tokens:] for f in ffn]
    for k in (2, 3):
        out[f"targets.top{k}"] = make_targets(y, k)


def decoder_case(out, key, dec, x0, fill, y, mask, ids_restore, loss_scale=None):
    """One decoder configuration: its weights moved away from the default init's small biases
    (so every term shows), base.py's decoder_input (the visible tokens, then the hidden
    positions' input, unshuffled), the decoder, d2v_loss summed over the hidden positions and
    divided by their number, and the gradients; recorded under `key` with libssl's parameter
    names (blocks.<i>.*: the reference's blocks.<i>.0.*; proj_hidden.* and proj.*: proj.0.* and
    proj.2.* of a two-layer projection)."""
    for p in dec.parameters():
        with torch.no_grad():
            p.add_(torch.randn_like(p) * 0.05)
    D = x0.shape[-1]
    x = x0.clone().requires_grad_(True)
    x_ = torch.cat([x, fill], dim=1)
    inp = torch.gather(x_, dim=1, index=ids_restore.unsqueeze(-1).expand(-1, -1, D))
    pred = dec(inp)
    masked_b = mask.bool()
    loss = d2v_loss(pred[masked_b], y[masked_b], loss_scale).sum() / masked_b.sum()
    loss.backward()
    out[f"{key}.pred"] = pred
    out[f"{key}.loss"] = loss.reshape(1)
    out[f"{key}.grad.x"] = x.grad
    for name, p in dec.named_parameters():
        if name.startswith("blocks."):
            ours = name.replace(".0.", ".")
        elif isinstance(dec.proj, nn.Sequential):
            ours = name.replace("proj.0.", "proj_hidden.").replace("proj.2.", "proj.")
        else:
            ours = name
        out[f"{key}.w.{ours}"] = p
        out[f"{key}.grad.{ours}"] = p.grad


def decoder_part(out):
    torch.manual_seed(1)
    B, L, K, D, g = 3, 49, 9, 32, 7
    noise = torch.rand(B, L)
    mask = torch.zeros(B, L, dtype=torch.uint8)
    mask.scatter_(1, noise.argsort(1)[:, K:], 1)  # 40 hidden per image
    ids_shuffle = torch.sort(mask, dim=1, stable=True).indices  # kept first, each part row-major
    ids_restore = ids_shuffle.argsort(1)
    x0 = torch.randn(B, K, D)
    fill = torch.randn(B, L - K, D) * 0.01
    y = torch.randn(B, L, D)
    out.update({"dec.mask": mask.float(), "dec.ids_restore": ids_restore.float(), "dec.x": x0, "dec.fill": fill, "dec.y": y})
    for cfg, dim in (("same", 32), ("wide", 48)):
        decoder_case(out, f"dec.{cfg}", Decoder2d(dim, 4, 3, 3, D, g, g), x0, fill, y, mask, ids_restore)


def text_part(out_dir, out):
    from transformers import BertConfig, BertModel

    torch.manual_seed(2)
    cfg = BertConfig(vocab_size=50, hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=128,
                     max_position_embeddings=16, type_vocab_size=2, layer_norm_eps=1e-12, hidden_act="gelu",
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=0)
    model = BertModel(cfg, add_pooling_layer=False).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm" in name or name.endswith(".bias") or "position_embeddings" in name or "token_type" in name:
                p.copy_(torch.randn_like(p) * 0.2 + (1.0 if "LayerNorm" in name and name.endswith("weight") else 0.0))
    model.save_pretrained(os.path.join(out_dir, "data2vec2_bert"), safe_serialization=True)
    layers = model.encoder.layer
    B, L, D = 3, 12, 32
    ids = torch.randint(1, 50, (B, L))
    ids[2, -3:] = 0
    ffn = []
    hooks = [layer.output.dense.register_forward_hook(lambda m, i, o: ffn.append(o)) for layer in layers]
    with torch.no_grad():
        model(input_ids=ids, attention_mask=(ids != 0).long())
    for h in hooks:
        h.remove()
    assert len(ffn) == 3
    out["text.ids"] = ids.float()
    for i, f in enumerate(ffn):
        out[f"text.ffn.{i}"] = f
    for k in (2, 3):
        out[f"text.targets.top{k}"] = make_targets(ffn, k, layer_norm_targets=False)
    # the student: random_masking after the embeddings, the kept positions through the blocks
    sids = torch.randint(1, 50, (B, L))
    noise = torch.rand(B, L)
    mask, ids_keep, ids_restore = random_masking(noise, 0.48)
    with torch.no_grad():
        x = model.embeddings(input_ids=sids)
        x = torch.gather(x, 1, ids_keep.unsqueeze(-1).expand(-1, -1, D))
        for layer in layers:
            x = layer(x)
            x = x[0] if isinstance(x, tuple) else x
    out.update({"text.sids": sids.float(), "text.noise": noise, "text.mask": mask, "text.ids_keep": ids_keep.float(),
                "text.ids_restore": ids_restore.float(), "text.student": x})
    return mask, ids_restore


def decoder1d_part(out, mask, ids_restore):
    torch.manual_seed(3)
    B, L, D = mask.shape[0], mask.shape[1], 32
    K = L - int(mask[0].sum())
    x0 = torch.randn(B, K, D)
    fill = torch.randn(B, L - K, D) * 0.01
    y = torch.randn(B, L, D)
    out.update({"dec1.x": x0, "dec1.fill": fill, "dec1.y": y})
    for cfg, args in (("text", (32, 1, 5, 3, D, False, 2)), ("res", (32, 4, 3, 2, D, True, 1))):
        decoder_case(out, f"dec1.{cfg}", Decoder1d(*args), x0, fill, y, mask, ids_restore, loss_scale=1.0)


def make(out_dir):
    out = {}
    targets_part(out_dir, out)
    decoder_part(out)
    mask, ids_restore = text_part(out_dir, out)
    decoder1d_part(out, mask, ids_restore)
    return refs_file.save(out, out_dir, "data2vec2.safetensors", _META, torch.float32)


def main(argv=None) -> int:
    import transformers

    return refs_file.main(make, "data2vec2.safetensors", __doc__,
                          f"torch {torch.__version__}, transformers {transformers.__version__}", argv)


if __name__ == "__main__":
    sys.exit(main())
