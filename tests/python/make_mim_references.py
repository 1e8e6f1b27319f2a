#!/usr/bin/env python3
"""Generate masked-image-modelling references for the libssl C++ tests.

Usage: python3 make_mim_references.py --out DIR

Writes DIR/mim.safetensors (float32):

1. iBOT loss against lightly (DINOv2's form): lightly.loss.DINOLoss on the CLS outputs plus
   lightly.loss.IBOTPatchLoss on the patch outputs at the hidden positions of the two global
   views, three consecutive calls (epochs 0, 1, 4; teacher temperature 0.04 -> 0.07 over 3
   warm-up epochs, the same temperature given to the patch loss). Batch 6, 9 patches (3 x 3),
   K = 24; 2 global + 2 local student views. One image of the first view has nothing hidden.
   Keys ibot.c<k>.{t0,t1,s0..s3,tp0,tp1,sp0,sp1,m0,m1,loss,cls,patch,grad.<student input>,center,
   patch_center,epoch}; the teacher outputs carry no gradient, as in the method
   (m<i>: the masks [B, N] as 0/1; tp/sp: teacher/student patch outputs at the hidden
   positions in row-major order).

2. Blockwise masking statistics of the reference algorithm (BEiT's MaskingGenerator, written
   out below from the paper's Algorithm 1 and the official masking_generator.py), 20000 draws
   per configuration with Python's `random` (seed 0):
     bw_beit  14 x 14 grid, 75 patches, min block 16, aspect 0.3      (BEiT's ImageNet setting)
     bw_small  7 x 7 grid, ratio 0.4 (20 patches), min block 4        (libssl's BEiT default)
     bw_ibot   7 x 7 grid, ratio U(0.1, 0.5), masked with prob. 0.5, min block 4  (iBOT default)
   Keys bw_<cfg>.{count_hist [N+1], position [N], h_adjacent, v_adjacent, components, count_mean}
   (count_hist: fraction of masks hiding k patches; position: how often each patch is hidden;
   h/v_adjacent: fraction of horizontally / vertically adjacent pairs both hidden; components:
   mean number of 4-connected hidden regions).
"""
import math
import random
import sys

import torch

torch.set_num_threads(1)

import lightly  # noqa: E402
from lightly.loss import DINOLoss  # noqa: E402
from lightly.loss.ibot_loss import IBOTPatchLoss  # noqa: E402
import refs_file  # noqa: E402

_META = {"generator": f"make_mim_references.py lightly={lightly.__version__} torch={torch.__version__}"}
DRAWS = 20000


def leaf(t):
    return t.to(torch.float32).detach().clone().requires_grad_(True)


def ibot_cases(out):
    torch.manual_seed(0)
    B, H, W, K = 6, 3, 3, 24
    N = H * W
    dino = DINOLoss(output_dim=K, warmup_teacher_temp=0.04, teacher_temp=0.07, warmup_teacher_temp_epochs=3)
    patch = IBOTPatchLoss(output_dim=K, teacher_temp=0.07, student_temp=0.1, center_momentum=0.9)
    for k, epoch in enumerate((0, 1, 4)):
        masks = [torch.rand(B, N) < 0.45 for _ in range(2)]
        masks[0][0] = False  # an image with nothing hidden
        masks[1][1, 0] = True  # and at least one hidden patch elsewhere
        m = [int(mk.sum()) for mk in masks]
        # Teacher outputs carry no gradient (the method computes them under no_grad): only the
        # student's gradients are recorded.
        t = {"t0": torch.randn(B, K) + 0.3 * (k + 1), "t1": torch.randn(B, K) + 0.2,
             "tp0": torch.randn(m[0], K) * 1.5 + 0.1 * k, "tp1": torch.randn(m[1], K) * 1.5}
        x = {**{f"s{i}": leaf(torch.randn(B, K)) for i in range(4)},
             "sp0": leaf(torch.randn(m[0], K)), "sp1": leaf(torch.randn(m[1], K))}
        temp = float(dino.teacher_temp_schedule[epoch]) if epoch < dino.warmup_teacher_temp_epochs else dino.teacher_temp
        cls_loss = dino([t["t0"], t["t1"]], [x[f"s{i}"] for i in range(4)], epoch=epoch)
        patch_loss = patch(torch.cat([t["tp0"], t["tp1"]]), torch.cat([x["sp0"], x["sp1"]]),
                           torch.cat(masks).view(2 * B, H, W), teacher_temp=temp)
        loss = cls_loss + patch_loss
        loss.backward()
        c = f"ibot.c{k}"
        out[f"{c}.loss"] = loss.detach().reshape(1)
        out[f"{c}.cls"] = cls_loss.detach().reshape(1)
        out[f"{c}.patch"] = patch_loss.detach().reshape(1)
        for name, v in t.items():
            out[f"{c}.{name}"] = v
        for name, v in x.items():
            out[f"{c}.{name}"] = v.detach()
            out[f"{c}.grad.{name}"] = v.grad.detach()
        out[f"{c}.m0"], out[f"{c}.m1"] = masks[0].float(), masks[1].float()
        out[f"{c}.center"] = dino.center.detach().reshape(-1).clone()
        out[f"{c}.patch_center"] = patch.center.value.detach().reshape(-1).clone()
        out[f"{c}.epoch"] = torch.tensor([float(epoch)])


# ---- BEiT's blockwise masking, the reference algorithm -------------------------------------------
def block_mask(rng, height, width, num_masking, min_num, max_num, min_aspect):
    """One mask: blocks of random area and log-uniform aspect until `num_masking` are hidden."""
    log_aspect = (math.log(min_aspect), math.log(1 / min_aspect))
    mask = [[0] * width for _ in range(height)]

    def place(max_mask):
        delta = 0
        for _ in range(10):
            target_area = rng.uniform(min_num, max_mask)
            aspect = math.exp(rng.uniform(*log_aspect))
            h = int(round(math.sqrt(target_area * aspect)))
            w = int(round(math.sqrt(target_area / aspect)))
            if w < width and h < height:
                top = rng.randint(0, height - h)
                left = rng.randint(0, width - w)
                hidden = sum(mask[i][j] for i in range(top, top + h) for j in range(left, left + w))
                if 0 < h * w - hidden <= max_mask:
                    for i in range(top, top + h):
                        for j in range(left, left + w):
                            if mask[i][j] == 0:
                                mask[i][j] = 1
                                delta += 1
                if delta > 0:
                    break
        return delta

    count = 0
    while count < num_masking:
        delta = place(min(num_masking - count, max_num))
        if delta == 0:
            break
        count += delta
    return mask


def components(mask):
    h, w = len(mask), len(mask[0])
    seen = [[False] * w for _ in range(h)]
    n = 0
    for i in range(h):
        for j in range(w):
            if mask[i][j] and not seen[i][j]:
                n += 1
                stack = [(i, j)]
                seen[i][j] = True
                while stack:
                    a, b = stack.pop()
                    for da, db in ((1, 0), (-1, 0), (0, 1), (0, -1)):
                        u, v = a + da, b + db
                        if 0 <= u < h and 0 <= v < w and mask[u][v] and not seen[u][v]:
                            seen[u][v] = True
                            stack.append((u, v))
    return n


def blockwise_stats(out, name, grid, ratio, prob, min_num):
    rng = random.Random(0)
    N = grid * grid
    hist = torch.zeros(N + 1, dtype=torch.float64)
    pos = torch.zeros(N, dtype=torch.float64)
    hadj = vadj = comp = 0.0
    for _ in range(DRAWS):
        r = rng.uniform(*ratio)
        masked = rng.random() < prob
        target = int(round(r * N)) if masked else 0
        mk = block_mask(rng, grid, grid, target, min_num, target, 0.3) if target > 0 else [[0] * grid for _ in range(grid)]
        t = torch.tensor(mk, dtype=torch.float64)
        hist[int(t.sum())] += 1
        pos += t.reshape(-1)
        hadj += float((t[:, 1:] * t[:, :-1]).mean())
        vadj += float((t[1:, :] * t[:-1, :]).mean())
        comp += components(mk)
    out[f"bw_{name}.count_hist"] = hist / DRAWS
    out[f"bw_{name}.position"] = pos / DRAWS
    out[f"bw_{name}.h_adjacent"] = torch.tensor([hadj / DRAWS])
    out[f"bw_{name}.v_adjacent"] = torch.tensor([vadj / DRAWS])
    out[f"bw_{name}.components"] = torch.tensor([comp / DRAWS])
    out[f"bw_{name}.count_mean"] = torch.tensor([float((hist * torch.arange(N + 1)).sum() / DRAWS)])


def make(out_dir):
    out = {}
    ibot_cases(out)
    blockwise_stats(out, "beit", 14, (75 / 196, 75 / 196), 1.0, 16)
    blockwise_stats(out, "small", 7, (0.4, 0.4), 1.0, 4)
    blockwise_stats(out, "ibot", 7, (0.1, 0.5), 0.5, 4)
    return refs_file.save(out, out_dir, "mim.safetensors", _META, torch.float32)


def main(argv=None) -> int:
    return refs_file.main(make, "mim.safetensors", __doc__, f"lightly {lightly.__version__}, torch {torch.__version__}", argv)


if __name__ == "__main__":
    sys.exit(main())
