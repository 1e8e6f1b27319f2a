#!/usr/bin/env python3
"""Generate joint-embedding loss parity references (lightly) for the libssl C++ tests.

Usage: python3 make_loss_references.py --out DIR

Writes DIR/losses.safetensors: for each case, its inputs, the loss value (shape [1]) and the
gradient of the loss w.r.t. every input ("<case>.grad.<input>"), all float32. Deterministic:
torch.manual_seed(0) once, 1 CPU thread, inputs drawn in a fixed order.

Cases (batch 8, dim 16 unless said):
  ntxent_t05, ntxent_t01   lightly.loss.NTXentLoss(temperature, memory_bank_size=0)(z0, z1)
  negcos                   0.5 * (f(p0, z1) + f(p1, z0)), f = lightly.loss.NegativeCosineSimilarity()
                           (how lightly's BYOL and SimSiam examples combine it)
  barlow                   lightly.loss.BarlowTwinsLoss()(za, zb)  (lambda 5e-3)
  vicreg, vicreg3d         lightly.loss.VICRegLoss()(za, zb); vicreg3d: [8, 3, 16] inputs
  dino                     lightly.loss.DINOLoss(32, warmup_teacher_temp=0.04, teacher_temp=0.07,
                           warmup_teacher_temp_epochs=3); 2 global (teacher) + 4 student views
                           (2 global + 2 local), three consecutive calls at epochs 0, 1, 4 with
                           fresh inputs: dino.c<k>.{t0,t1,s0..s3,loss,grad.*,center} where
                           center is the buffer after call k; dino.temps = schedule at epochs 0..5,
                           dino.temp_none = the temperature without an epoch.
  mocov3_t1, mocov3_t02    MoCo v3 (not in lightly: the official repository's contrastive_loss),
                           ctr(q1, k2) + ctr(q2, k1) at temperatures 1.0 and 0.2; keys k1, k2
                           without gradient.
"""
import sys

import torch

torch.set_num_threads(1)

import lightly  # noqa: E402
from lightly.loss import (BarlowTwinsLoss, DINOLoss, NegativeCosineSimilarity,  # noqa: E402
                          NTXentLoss, VICRegLoss)
import refs_file  # noqa: E402

B, D = 8, 16
_META = {"generator": f"make_loss_references.py lightly={lightly.__version__} torch={torch.__version__}"}


def leaf(t):
    return t.to(torch.float32).detach().clone().requires_grad_(True)


def record(out, case, inputs, loss):
    """Backward of `loss` and store inputs, value and input gradients under `case.`."""
    loss.backward()
    out[f"{case}.loss"] = loss.detach().reshape(1)
    for name, x in inputs.items():
        assert x.grad is not None, (case, name)
        out[f"{case}.{name}"] = x.detach()
        out[f"{case}.grad.{name}"] = x.grad.detach()


def make(out_dir):
    torch.manual_seed(0)
    out = {}

    for case, temp in (("ntxent_t05", 0.5), ("ntxent_t01", 0.1)):
        x = {"z0": leaf(torch.randn(B, D)), "z1": leaf(torch.randn(B, D))}
        # correlated views so the positive pair is not arbitrary
        with torch.no_grad():
            x["z1"].mul_(0.5).add_(x["z0"])
        record(out, case, x, NTXentLoss(temperature=temp, memory_bank_size=0)(x["z0"], x["z1"]))

    f = NegativeCosineSimilarity()
    x = {k: leaf(torch.randn(B, D)) for k in ("p0", "p1", "z0", "z1")}
    record(out, "negcos", x, 0.5 * (f(x["p0"], x["z1"]) + f(x["p1"], x["z0"])))

    # non-zero means and unequal scales, so the batch standardisation matters
    x = {"za": leaf(torch.randn(B, D) * 2.0 + 0.5), "zb": leaf(torch.randn(B, D) * 0.7 - 1.0)}
    record(out, "barlow", x, BarlowTwinsLoss()(x["za"], x["zb"]))

    # std ~0.6 so the hinge of the variance term is active for most dimensions
    for case, shape in (("vicreg", (B, D)), ("vicreg3d", (B, 3, D))):
        x = {"za": leaf(torch.randn(*shape) * 0.6), "zb": leaf(torch.randn(*shape) * 0.8 + 0.1)}
        record(out, case, x, VICRegLoss()(x["za"], x["zb"]))

    dino = DINOLoss(output_dim=32, warmup_teacher_temp=0.04, teacher_temp=0.07, warmup_teacher_temp_epochs=3)
    for k, epoch in enumerate((0, 1, 4)):
        t = [leaf(torch.randn(B, 32) + 0.3 * (k + 1)) for _ in range(2)]
        s = [leaf(torch.randn(B, 32)) for _ in range(4)]
        x = {"t0": t[0], "t1": t[1], **{f"s{i}": s[i] for i in range(4)}}
        record(out, f"dino.c{k}", x, dino(t, s, epoch=epoch))
        out[f"dino.c{k}.center"] = dino.center.detach().reshape(-1).clone()
        out[f"dino.c{k}.epoch"] = torch.tensor([float(epoch)])
    temps = []
    for e in range(6):
        temps.append(float(dino.teacher_temp_schedule[e]) if e < dino.warmup_teacher_temp_epochs else dino.teacher_temp)
    out["dino.temps"] = torch.tensor(temps, dtype=torch.float32)
    out["dino.temp_none"] = torch.tensor([dino.teacher_temp], dtype=torch.float32)

    # MoCo v3: lightly has no MoCo v3 loss; the reference is the official repository's
    # contrastive_loss (facebookresearch/moco-v3, moco/builder.py), written out here on one
    # process: ctr(q, k) = CE(normalize(q) @ normalize(k).T / T, arange) * 2T, summed over
    # (q1, k2) and (q2, k1). Keys come from the momentum encoder: no gradient.
    def ctr(q, k, t):
        q = torch.nn.functional.normalize(q, dim=1)
        k = torch.nn.functional.normalize(k, dim=1)
        logits = q @ k.t() / t
        return torch.nn.functional.cross_entropy(logits, torch.arange(q.shape[0])) * (2 * t)

    for case, temp in (("mocov3_t1", 1.0), ("mocov3_t02", 0.2)):
        x = {"q1": leaf(torch.randn(B, D)), "q2": leaf(torch.randn(B, D))}
        k1, k2 = torch.randn(B, D) + x["q1"].detach(), torch.randn(B, D) + x["q2"].detach()
        out[f"{case}.k1"], out[f"{case}.k2"] = k1, k2
        record(out, case, x, ctr(x["q1"], k2, temp) + ctr(x["q2"], k1, temp))

    return refs_file.save(out, out_dir, "losses.safetensors", _META, torch.float32)


def main(argv=None) -> int:
    return refs_file.main(make, "losses.safetensors", __doc__, f"lightly {lightly.__version__}, torch {torch.__version__}", argv)


if __name__ == "__main__":
    sys.exit(main())
