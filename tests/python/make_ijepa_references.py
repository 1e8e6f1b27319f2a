#!/usr/bin/env python3
"""Generate I-JEPA references for the libssl C++ tests.

Usage: python3 make_ijepa_references.py --out DIR

Writes DIR/ijepa.safetensors. The reference is I-JEPA's official code
(facebookresearch/ijepa: src/masks/multiblock.py, src/models/vision_transformer.py,
src/train.py), written out below with the same operations in the same order (the package is
not on PyPI); nothing here imports libssl.

1. Multi-block masks (`MaskCollator`), draw for draw: for each configuration and each step s,
   `torch.manual_seed(1000 + s)` and the collator's counter at s (the block sizes are drawn
   from a generator seeded with s; the corners from the default generator). Keys
   mb_<cfg>.s<s>.{enc [B, K], pred [B, G, M]} (int64 as float32: every index < 2^24).
     small    7 x 7 grid, defaults, min_keep 4, batch 8, 25 steps
     official 16 x 16 grid, the paper's ImageNet setting (min_keep 10), batch 4, 10 steps
     overlap  7 x 7 grid, allow_overlap, min_keep 4, batch 4, 10 steps
     relax    6 x 6 grid, target scale (0.3, 0.4), min_keep 4, batch 8, 25 steps: the context
              block often cannot avoid every target block, so the sampler drops restrictions
2. The predictor (`VisionTransformerPredictor`: 49 patches, encoder width 32, predictor width
   24, depth 2, 4 heads, LayerNorm eps 1e-6, the official initialisation with seed 0) on random
   context tokens x [3, K, 32] at the `small` masks of step 0 (first 3 images), the teacher's
   target (random tokens h [3, 49, 32], `F.layer_norm`, `apply_masks`) and the smooth-L1 loss,
   with the gradients of the loss with respect to x and every predictor parameter. Keys
   pred.{x, h, enc, pred_idx, z, target, loss, grad.x, w.<name>, grad.<name>, pos_embed}, with
   libssl's parameter names (`heads::JepaPredictor`: embed, mask_token, blocks.<i>.*, norm, proj).
"""
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)

import refs_file  # noqa: E402

_META = {"generator": f"make_ijepa_references.py torch={torch.__version__}"}


# ---- src/masks/multiblock.py (MaskCollator), the counter given as `step` ----
class MaskCollator:
    def __init__(self, grid, enc_mask_scale=(0.85, 1.0), pred_mask_scale=(0.15, 0.2), aspect_ratio=(0.75, 1.5),
                 nenc=1, npred=4, min_keep=10, allow_overlap=False):
        self.height, self.width = grid, grid
        self.enc_mask_scale, self.pred_mask_scale, self.aspect_ratio = enc_mask_scale, pred_mask_scale, aspect_ratio
        self.nenc, self.npred, self.min_keep, self.allow_overlap = nenc, npred, min_keep, allow_overlap

    def _sample_block_size(self, generator, scale, aspect_ratio_scale):
        _rand = torch.rand(1, generator=generator).item()
        min_s, max_s = scale
        mask_scale = min_s + _rand * (max_s - min_s)
        max_keep = int(self.height * self.width * mask_scale)
        min_ar, max_ar = aspect_ratio_scale
        aspect_ratio = min_ar + _rand * (max_ar - min_ar)
        h = int(round(math.sqrt(max_keep * aspect_ratio)))
        w = int(round(math.sqrt(max_keep / aspect_ratio)))
        while h >= self.height:
            h -= 1
        while w >= self.width:
            w -= 1
        return (h, w)

    def _sample_block_mask(self, b_size, acceptable_regions=None):
        h, w = b_size

        def constrain_mask(mask, tries=0):
            N = max(int(len(acceptable_regions) - tries), 0)
            for k in range(N):
                mask *= acceptable_regions[k]

        tries = 0
        timeout = og_timeout = 20
        valid_mask = False
        while not valid_mask:
            top = torch.randint(0, self.height - h, (1,))
            left = torch.randint(0, self.width - w, (1,))
            mask = torch.zeros((self.height, self.width), dtype=torch.int32)
            mask[top:top + h, left:left + w] = 1
            if acceptable_regions is not None:
                constrain_mask(mask, tries)
            mask = torch.nonzero(mask.flatten())
            valid_mask = len(mask) > self.min_keep
            if not valid_mask:
                timeout -= 1
                if timeout == 0:
                    tries += 1
                    timeout = og_timeout
        mask = mask.squeeze()
        mask_complement = torch.ones((self.height, self.width), dtype=torch.int32)
        mask_complement[top:top + h, left:left + w] = 0
        return mask, mask_complement

    def __call__(self, B, step):
        g = torch.Generator()
        g.manual_seed(step)
        p_size = self._sample_block_size(generator=g, scale=self.pred_mask_scale, aspect_ratio_scale=self.aspect_ratio)
        e_size = self._sample_block_size(generator=g, scale=self.enc_mask_scale, aspect_ratio_scale=(1., 1.))
        collated_masks_pred, collated_masks_enc = [], []
        min_keep_pred = self.height * self.width
        min_keep_enc = self.height * self.width
        for _ in range(B):
            masks_p, masks_C = [], []
            for _ in range(self.npred):
                mask, mask_C = self._sample_block_mask(p_size)
                masks_p.append(mask)
                masks_C.append(mask_C)
                min_keep_pred = min(min_keep_pred, len(mask))
            collated_masks_pred.append(masks_p)
            acceptable_regions = None if self.allow_overlap else masks_C
            masks_e = []
            for _ in range(self.nenc):
                mask, _ = self._sample_block_mask(e_size, acceptable_regions=acceptable_regions)
                masks_e.append(mask)
                min_keep_enc = min(min_keep_enc, len(mask))
            collated_masks_enc.append(masks_e)
        collated_masks_pred = [[cm[:min_keep_pred] for cm in cm_list] for cm_list in collated_masks_pred]
        collated_masks_pred = torch.utils.data.default_collate(collated_masks_pred)
        collated_masks_enc = [[cm[:min_keep_enc] for cm in cm_list] for cm_list in collated_masks_enc]
        collated_masks_enc = torch.utils.data.default_collate(collated_masks_enc)
        return collated_masks_enc, collated_masks_pred  # lists (nenc / npred) of [B, K] / [B, M]


# ---- src/masks/utils.py, src/utils/tensors.py ----
def apply_masks(x, masks):
    all_x = []
    for m in masks:
        mask_keep = m.unsqueeze(-1).repeat(1, 1, x.size(-1))
        all_x += [torch.gather(x, dim=1, index=mask_keep)]
    return torch.cat(all_x, dim=0)


def repeat_interleave_batch(x, B, repeat):
    N = len(x) // B
    return torch.cat([torch.cat([x[i * B:(i + 1) * B] for _ in range(repeat)], dim=0) for i in range(N)], dim=0)


# ---- src/models/vision_transformer.py (the predictor and its parts) ----
def get_2d_sincos_pos_embed(embed_dim, grid_size):
    import numpy as np
    grid_h = np.arange(grid_size, dtype=float)
    grid_w = np.arange(grid_size, dtype=float)
    grid = np.meshgrid(grid_w, grid_h)
    grid = np.stack(grid, axis=0).reshape([2, 1, grid_size, grid_size])

    def one_d(d, pos):
        omega = np.arange(d // 2, dtype=float) / (d / 2.)
        omega = 1. / 10000 ** omega
        out = np.einsum('m,d->md', pos.reshape(-1), omega)
        return np.concatenate([np.sin(out), np.cos(out)], axis=1)

    return np.concatenate([one_d(embed_dim // 2, grid[0]), one_d(embed_dim // 2, grid[1])], axis=1)


class MLP(nn.Module):
    def __init__(self, d, hidden):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(d, hidden), nn.GELU(), nn.Linear(hidden, d)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    def __init__(self, dim, num_heads):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class Block(nn.Module):
    def __init__(self, dim, num_heads, norm_layer):
        super().__init__()
        self.norm1, self.attn = norm_layer(dim), Attention(dim, num_heads)
        self.norm2, self.mlp = norm_layer(dim), MLP(dim, 4 * dim)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformerPredictor(nn.Module):
    def __init__(self, num_patches, embed_dim, predictor_embed_dim, depth, num_heads, init_std=0.02):
        super().__init__()
        norm_layer = lambda d: nn.LayerNorm(d, eps=1e-6)  # noqa: E731 (vit_predictor's partial)
        self.predictor_embed = nn.Linear(embed_dim, predictor_embed_dim, bias=True)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, predictor_embed_dim))
        self.predictor_pos_embed = nn.Parameter(torch.zeros(1, num_patches, predictor_embed_dim), requires_grad=False)
        pe = get_2d_sincos_pos_embed(predictor_embed_dim, int(num_patches ** .5))
        self.predictor_pos_embed.data.copy_(torch.from_numpy(pe).float().unsqueeze(0))
        self.predictor_blocks = nn.ModuleList([Block(predictor_embed_dim, num_heads, norm_layer) for _ in range(depth)])
        self.predictor_norm = norm_layer(predictor_embed_dim)
        self.predictor_proj = nn.Linear(predictor_embed_dim, embed_dim, bias=True)
        self.init_std = init_std
        nn.init.trunc_normal_(self.mask_token, std=self.init_std)
        self.apply(self._init_weights)
        for layer_id, layer in enumerate(self.predictor_blocks):  # fix_init_weight
            layer.attn.proj.weight.data.div_(math.sqrt(2.0 * (layer_id + 1)))
            layer.mlp.fc2.weight.data.div_(math.sqrt(2.0 * (layer_id + 1)))

    def _init_weights(self, m):
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=self.init_std)
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.LayerNorm):
            nn.init.constant_(m.bias, 0)
            nn.init.constant_(m.weight, 1.0)

    def forward(self, x, masks_x, masks):
        if not isinstance(masks_x, list):
            masks_x = [masks_x]
        if not isinstance(masks, list):
            masks = [masks]
        B = len(x) // len(masks_x)
        x = self.predictor_embed(x)
        x_pos_embed = self.predictor_pos_embed.repeat(B, 1, 1)
        x += apply_masks(x_pos_embed, masks_x)
        _, N_ctxt, D = x.shape
        pos_embs = self.predictor_pos_embed.repeat(B, 1, 1)
        pos_embs = apply_masks(pos_embs, masks)
        pos_embs = repeat_interleave_batch(pos_embs, B, repeat=len(masks_x))
        pred_tokens = self.mask_token.repeat(pos_embs.size(0), pos_embs.size(1), 1)
        pred_tokens += pos_embs
        x = x.repeat(len(masks), 1, 1)
        x = torch.cat([x, pred_tokens], dim=1)
        for blk in self.predictor_blocks:
            x = blk(x)
        x = self.predictor_norm(x)
        x = x[:, N_ctxt:]
        return self.predictor_proj(x)


def libssl_name(k):
    k = k.replace("predictor_blocks.", "blocks.").replace("predictor_embed.", "embed.")
    return k.replace("predictor_norm.", "norm.").replace("predictor_proj.", "proj.")


CONFIGS = {
    "small": dict(grid=7, B=8, steps=25, kw=dict(min_keep=4)),
    "official": dict(grid=16, B=4, steps=10, kw=dict(min_keep=10)),
    "overlap": dict(grid=7, B=4, steps=10, kw=dict(min_keep=4, allow_overlap=True)),
    "relax": dict(grid=6, B=8, steps=25, kw=dict(min_keep=4, pred_mask_scale=(0.3, 0.4))),
}


def masks_cases(out):
    first = None
    for name, c in CONFIGS.items():
        col = MaskCollator(c["grid"], **c["kw"])
        for s in range(c["steps"]):
            torch.manual_seed(1000 + s)
            enc, pred = col(c["B"], s)
            out[f"mb_{name}.s{s}.enc"] = enc[0].float()
            out[f"mb_{name}.s{s}.pred"] = torch.stack(pred, 1).float()  # [B, G, M]
            if name == "small" and s == 0:
                first = (enc, pred)
    return first


def predictor_case(out, enc, pred):
    B = 3
    masks_x = enc[0][:B]
    masks = [p[:B] for p in pred]
    torch.manual_seed(0)
    predictor = VisionTransformerPredictor(49, 32, 24, depth=2, num_heads=4)
    x = torch.randn(B, masks_x.size(1), 32).requires_grad_(True)
    h = torch.randn(B, 49, 32)
    z = predictor(x, masks_x, masks)
    with torch.no_grad():
        t = apply_masks(F.layer_norm(h, (h.size(-1),)), masks)
        t = repeat_interleave_batch(t, B, repeat=1)
    loss = F.smooth_l1_loss(z, t)
    loss.backward()
    out["pred.x"], out["pred.h"], out["pred.z"], out["pred.target"] = x.detach(), h, z.detach(), t
    out["pred.enc"], out["pred.pred_idx"] = masks_x.float(), torch.stack(masks, 1).float()
    out["pred.loss"] = loss.detach().reshape(1)
    out["pred.grad.x"] = x.grad
    out["pred.pos_embed"] = predictor.predictor_pos_embed.detach()
    for k, v in predictor.named_parameters():
        if k == "predictor_pos_embed":
            continue
        out[f"pred.w.{libssl_name(k)}"] = v.detach()
        out[f"pred.grad.{libssl_name(k)}"] = v.grad


def make(out_dir):
    out = {}
    enc, pred = masks_cases(out)
    predictor_case(out, enc, pred)
    return refs_file.save(out, out_dir, "ijepa.safetensors", _META, torch.float32)


def main(argv=None) -> int:
    return refs_file.main(make, "ijepa.safetensors", __doc__, f"torch {torch.__version__}", argv)


if __name__ == "__main__":
    sys.exit(main())
