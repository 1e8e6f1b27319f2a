#!/usr/bin/env python3
"""libssl (C++, bench_joint) against Python PyTorch (lightly + torchvision + timm): one training
step of each joint-embedding method on fixed, pre-made views, same torch, thread count, shapes,
heads and optimizer, in one invocation.

    .venv/bin/python benchmarks/joint_side_by_side.py [--binary build/benchmarks/bench_joint] [--threads 2]
        [--batch 256] [--steps 10] [--warmup 3] [--methods simclr,dino] [--no-compile]
        [--compile-timeout 300] [--markdown docs/joint_run.md]

Runs the C++ binary (--benchmark_format=json; SSL_BENCH_BATCH/THREADS/ITERS/WARMUP from the
flags), then, per method, the Python step in a child process (eager, then torch.compile unless
--no-compile), and prints a table: C++ and Python ms/step (median of the timed steps), the
ratio Python / C++ (> 1: C++ faster), images/s (batch / median), the compiled Python step and
the trainable parameter counts of both sides (must match; exit code 1 if not).

Python step (lightly's examples, with the configuration of examples/05_joint_embedding):
  backbone: torchvision ResNet-18, base width 16 (stages 16/32/64/128, feature 128), conv1 3x3
    stride 1, maxpool and fc Identity, 1 channel; DINO: timm VisionTransformer (28 px, patch 4,
    1 channel, 128-d, 4 blocks, 4 heads, MLP 512, class token, learned pos embed,
    dynamic_img_size for the 12 px crops, CLS token out).
  heads (lightly.models.modules): SimCLRProjectionHead(128,512,128), BYOLProjectionHead /
    BYOLPredictionHead(128,512,128), BarlowTwinsProjectionHead(128,512,512),
    VICRegProjectionHead(128,512,512), SimSiamProjectionHead(128,512,512) /
    SimSiamPredictionHead(512,128,512), DINOProjectionHead(128,512,128,1024, freeze_last_layer 1);
    MoCo v3: the official moco-v3 _build_mlp (ResNet build: projector 2 layers 128-512-128,
    predictor 128-512-128 without the last BN).
  losses (lightly.loss): NTXentLoss(0.2), NegativeCosineSimilarity (symmetrised), BarlowTwinsLoss,
    VICRegLoss, DINOLoss(1024, teacher temp 0.04, epoch 1); MoCo v3: the official
    contrastive_loss (T 0.2, one process), summed over both orderings.
  views: two [B,1,28,28] (DINO: two [B,1,28,28] + six [B,1,12,12]) randn tensors.
  step: student forward of every view, teacher forward (no grad; BYOL, MoCo v3: global views;
    DINO: the 2 global views), loss, loss.item(), zero_grad(set_to_none), backward,
    (DINO: cancel_last_layer_gradients(1), a no-op in epoch 1), torch.optim.AdamW(foreach=True;
    lr 2e-3 / wd 1e-4, DINO 1e-3 / 0.04; no decay on vectors, cls_token, pos_embed: libssl's
    rule), then lightly.models.utils.update_momentum of the teachers (momentum from
    lightly.utils.scheduler.cosine_schedule, 0.99 / 0.996 -> 1). Modules in train mode (the
    teachers' BatchNorms too, as in lightly's examples and libssl).
  torch.compile: the forward + loss closure is compiled (CPU inductor; backward through
    AOTAutograd), the optimizer step and the EMA stay eager; compile time is excluded (it happens
    in the warmup steps, reported); a method whose compiled child fails or does not finish in
    --compile-timeout seconds shows n/a.
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import subprocess
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
METHODS = ["simclr", "byol", "barlow_twins", "vicreg", "mocov3", "simsiam", "dino"]


def require():
    """Fails loudly (exit 1, message on stderr) when a Python dependency of the comparison is missing."""
    missing = []
    for mod in ("torch", "torchvision", "lightly", "timm"):
        try:
            __import__(mod)
        except ImportError as e:
            missing.append(f"{mod} ({e})")
    if missing:
        sys.exit("joint_side_by_side.py: missing Python packages: " + ", ".join(missing) +
                 "; install them (pip install torchvision lightly timm) — the comparison never skips")


# ---- Python models ----------------------------------------------------------------------------

def resnet18_w16():
    """torchvision ResNet-18 at base width 16, small stem, 1 channel (tests/python/make_vision_references.py)."""
    import torch.nn as nn
    from torchvision.models.resnet import BasicBlock, ResNet

    class ScaledResNet(ResNet):
        def __init__(self, width):
            object.__setattr__(self, "_width", width)
            super().__init__(BasicBlock, [2, 2, 2, 2])

        def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
            if planes == 64:  # layer1: the stem gives `width` channels
                self.inplanes = self._width
            return super()._make_layer(block, planes * self._width // 64, blocks, stride, dilate)

    m = ScaledResNet(16)
    m.conv1 = nn.Conv2d(1, 16, kernel_size=3, stride=1, padding=1, bias=False)
    m.bn1 = nn.BatchNorm2d(16)
    nn.init.kaiming_normal_(m.conv1.weight, mode="fan_out", nonlinearity="relu")
    m.maxpool = nn.Identity()
    m.fc = nn.Identity()
    return m


def vit_dino():
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(img_size=28, patch_size=4, in_chans=1, num_classes=0, global_pool="token",
                             embed_dim=128, depth=4, num_heads=4, mlp_ratio=4.0, qkv_bias=True, class_token=True,
                             dynamic_img_size=True)


def mocov3_mlp(num_layers, input_dim, mlp_dim, output_dim, last_bn=True):
    """facebookresearch/moco-v3 moco/builder.py MoCo._build_mlp."""
    import torch.nn as nn

    mlp = []
    for l in range(num_layers):
        dim1 = input_dim if l == 0 else mlp_dim
        dim2 = output_dim if l == num_layers - 1 else mlp_dim
        mlp.append(nn.Linear(dim1, dim2, bias=False))
        if l < num_layers - 1:
            mlp.append(nn.BatchNorm1d(dim2))
            mlp.append(nn.ReLU(inplace=True))
        elif last_bn:
            mlp.append(nn.BatchNorm1d(dim2, affine=False))
    return nn.Sequential(*mlp)


def mocov3_contrastive_loss(q, k, T=0.2):
    """facebookresearch/moco-v3 MoCo.contrastive_loss, one process (concat_all_gather is the identity)."""
    import torch
    import torch.nn as nn

    q = nn.functional.normalize(q, dim=1)
    k = nn.functional.normalize(k, dim=1)
    logits = torch.einsum("nc,mc->nm", [q, k]) / T
    labels = torch.arange(logits.shape[0], dtype=torch.long)
    return nn.CrossEntropyLoss()(logits, labels) * (2 * T)


def build(method: str, batch: int) -> dict:
    """The Python side of one method: trainable modules, teacher pairs, loss closure, views, optimizer settings."""
    import torch
    from lightly import loss as L
    from lightly.models.modules import heads as H
    from lightly.models.utils import deactivate_requires_grad

    def teacher_of(*mods):
        out = [copy.deepcopy(m) for m in mods]
        for m in out:
            deactivate_requires_grad(m)
        return out

    two = [torch.randn(batch, 1, 28, 28) for _ in range(2)]
    d = dict(views=two, lr=2e-3, wd=1e-4, ema=[], ema_base=0.99, after_backward=None)
    if method == "dino":
        make_head = lambda: H.DINOProjectionHead(128, 512, 128, 1024, batch_norm=False, freeze_last_layer=1,
                                                 norm_last_layer=True)
        bb, head = vit_dino(), make_head()
        # weight_norm's module cannot be deepcopied: a second head with the student's weights (lightly's example).
        (tbb,), thead = teacher_of(bb), make_head()
        thead.load_state_dict(head.state_dict())
        deactivate_requires_grad(thead)
        crit = L.DINOLoss(output_dim=1024, warmup_teacher_temp=0.04, teacher_temp=0.04, warmup_teacher_temp_epochs=0)
        views = two + [torch.randn(batch, 1, 12, 12) for _ in range(6)]

        def loss_fn(v):
            s = [head(bb(x)) for x in v]
            with torch.no_grad():
                t = [thead(tbb(x)) for x in v[:2]]
            return crit(t, s, epoch=1)

        d.update(views=views, lr=1e-3, wd=0.04, student=[bb, head], ema=[(bb, tbb), (head, thead)], ema_base=0.996,
                 after_backward=lambda: head.cancel_last_layer_gradients(current_epoch=1), extra=[crit])
    elif method in ("simclr", "barlow_twins", "vicreg"):
        bb = resnet18_w16()
        head, crit = {
            "simclr": lambda: (H.SimCLRProjectionHead(128, 512, 128), L.NTXentLoss(temperature=0.2)),
            "barlow_twins": lambda: (H.BarlowTwinsProjectionHead(128, 512, 512), L.BarlowTwinsLoss()),
            "vicreg": lambda: (H.VICRegProjectionHead(128, 512, 512), L.VICRegLoss()),
        }[method]()

        def loss_fn(v):
            z0, z1 = head(bb(v[0])), head(bb(v[1]))
            return crit(z0, z1)

        d.update(student=[bb, head])
    elif method == "simsiam":
        bb, proj, pred = resnet18_w16(), H.SimSiamProjectionHead(128, 512, 512), H.SimSiamPredictionHead(512, 128, 512)
        crit = L.NegativeCosineSimilarity()

        def loss_fn(v):
            z = [proj(bb(x)) for x in v]
            p = [pred(zi) for zi in z]
            return 0.5 * (crit(p[0], z[1].detach()) + crit(p[1], z[0].detach()))

        d.update(student=[bb, proj, pred])
    elif method in ("byol", "mocov3"):
        bb = resnet18_w16()
        if method == "byol":
            proj, pred = H.BYOLProjectionHead(128, 512, 128), H.BYOLPredictionHead(128, 512, 128)
            neg_cos = L.NegativeCosineSimilarity()
            crit = lambda p0, p1, k0, k1: 0.5 * (neg_cos(p0, k1) + neg_cos(p1, k0))
        else:  # the official ResNet build: 2-layer projector, predictor without its last BN
            proj, pred = mocov3_mlp(2, 128, 512, 128), mocov3_mlp(2, 128, 512, 128, last_bn=False)
            crit = lambda q0, q1, k0, k1: mocov3_contrastive_loss(q0, k1) + mocov3_contrastive_loss(q1, k0)
        tbb, tproj = teacher_of(bb, proj)

        def loss_fn(v):
            p = [pred(proj(bb(x))) for x in v]
            with torch.no_grad():
                k = [tproj(tbb(x)) for x in v]
            return crit(p[0], p[1], k[0], k[1])

        d.update(student=[bb, proj, pred], ema=[(bb, tbb), (proj, tproj)])
    else:
        raise ValueError(method)
    d["loss_fn"] = loss_fn
    return d


def make_optimizer(student, lr, wd):
    """torch.optim.AdamW(foreach) with libssl's decay rule (optim::decays): no decay on vectors and tokens."""
    import torch

    decay, no_decay, seen = [], [], set()
    for m in student:
        for n, p in m.named_parameters():
            if not p.requires_grad or id(p) in seen:
                continue
            seen.add(id(p))
            skip = p.ndim <= 1 or any(t in n for t in ("cls_token", "mask_token", "pos_embed", "dist_token"))
            (no_decay if skip else decay).append(p)
    groups = [{"params": decay, "weight_decay": wd}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8, foreach=True)


def run_python(method: str, batch: int, threads: int, steps: int, warmup: int, compile_: bool) -> dict:
    import torch
    from lightly.models.utils import update_momentum
    from lightly.utils.scheduler import cosine_schedule

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    d = build(method, batch)
    for m in d["student"] + [t for _, t in d["ema"]] + d.get("extra", []):
        m.train()
    opt = make_optimizer(d["student"], d["lr"], d["wd"])
    params = sum(p.numel() for g in opt.param_groups for p in g["params"])
    loss_fn = torch.compile(d["loss_fn"]) if compile_ else d["loss_fn"]
    views = d["views"]
    step_no = [0]

    def step() -> float:
        loss = loss_fn(views)
        lv = loss.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if d["after_backward"]:
            d["after_backward"]()
        opt.step()
        if d["ema"]:
            m = cosine_schedule(step_no[0], 100000, d["ema_base"], 1.0)
            for s, t in d["ema"]:
                update_momentum(s, t, m)
        step_no[0] += 1
        return lv

    t0 = time.perf_counter()
    for _ in range(warmup):
        loss = step()
    warmup_s = time.perf_counter() - t0
    ms = []
    for _ in range(max(1, steps)):
        t0 = time.perf_counter()
        loss = step()
        ms.append(1e3 * (time.perf_counter() - t0))
    ms.sort()
    n = len(ms)
    median = ms[n // 2] if n % 2 else 0.5 * (ms[n // 2 - 1] + ms[n // 2])
    return {"method": method, "impl": "compile" if compile_ else "eager", "batch": batch, "views": len(views),
            "params": params, "median_ms": median, "mean_ms": sum(ms) / n, "steps": n, "warmup_s": warmup_s,
            "loss": loss, "threads": torch.get_num_threads()}


def python_child(method, a, compile_: bool, timeout):
    """One Python measurement in a child process (isolated; time-boxed when `timeout`)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--_child", method, "--batch", str(a.batch), "--threads",
           str(a.threads), "--steps", str(a.steps), "--warmup", str(max(2, a.warmup) if compile_ else a.warmup)]
    if compile_:
        cmd.append("--_compile")
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"status": f"timed out after {timeout:.0f} s"}
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode == 0 and lines:
        return json.loads(lines[-1])
    err = (p.stderr.strip().splitlines() or [f"exit code {p.returncode}"])[-1]
    return {"status": "failed: " + err[:200], "stderr": p.stderr[-3000:]}


# ---- C++ side ---------------------------------------------------------------------------------

def run_cpp(binary: str, a, methods) -> dict:
    env = dict(os.environ, SSL_BENCH_THREADS=str(a.threads), SSL_BENCH_ITERS=str(a.steps),
               SSL_BENCH_WARMUP=str(a.warmup), SSL_BENCH_BATCH=str(a.batch))
    filt = "BM_JointStep/(" + "|".join(methods) + ")/"
    p = subprocess.run([binary, f"--benchmark_filter={filt}", "--benchmark_format=json"], capture_output=True,
                       text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"{binary} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return {b["name"].split("/")[1]: b for b in json.loads(p.stdout)["benchmarks"]}


def machine(threads: int) -> list[str]:
    import lightly
    import timm
    import torch
    import torchvision

    model, cpus = platform.processor() or "?", os.cpu_count()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        info = {k.strip(): v.strip() for k, _, v in (l.partition(":") for l in out.splitlines())}
        model, cpus = info.get("Model name", model), info.get("CPU(s)", cpus)
    except OSError:
        pass
    return [f"- CPU: {model} ({cpus} logical CPUs); intra-op threads: {threads} on both sides",
            f"- torch {torch.__version__} (C++: LibTorch of the same wheel), torchvision {torchvision.__version__}, "
            f"lightly {lightly.__version__}, timm {timm.__version__}, Python {platform.python_version()}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "benchmarks", "bench_joint"))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("SSL_BENCH_THREADS", "2")))
    ap.add_argument("--batch", type=int, default=int(os.environ.get("SSL_BENCH_BATCH", "256")))
    ap.add_argument("--steps", type=int, default=10, help="timed steps per method, each side")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first, each side (compiled: at least 2)")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated: " + ",".join(METHODS))
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile column")
    ap.add_argument("--compile-timeout", type=float, default=300.0,
                    help="seconds per method for the compiled child, compilation included (else n/a)")
    ap.add_argument("--markdown", help="also write the table (markdown) to this path")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    ap.add_argument("--_compile", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    require()
    if a._child:
        print(json.dumps(run_python(a._child, a.batch, a.threads, a.steps, a.warmup, a._compile)), flush=True)
        return 0
    methods = [m for m in a.methods.split(",") if m]
    for m in methods:
        if m not in METHODS:
            ap.error(f"unknown method {m!r}; known: {', '.join(METHODS)}")
    if not os.path.exists(a.binary):
        sys.exit(f"{a.binary} not found: cmake --build build -j2 --target bench_joint (or pass --binary)")

    t0 = time.time()
    cpp = run_cpp(a.binary, a, methods)
    t_cpp = time.time() - t0
    py, pyc = {}, {}
    for m in methods:
        py[m] = python_child(m, a, False, None)
        if "status" in py[m]:
            sys.exit(f"Python eager step of {m} failed: {py[m]['status']}\n{py[m].get('stderr', '')}")
        if not a.no_compile:
            pyc[m] = python_child(m, a, True, a.compile_timeout)
        print(f"[{m}] done", file=sys.stderr, flush=True)
    t_py = time.time() - t0 - t_cpp

    lines = ["## Joint-embedding training step: libssl (C++) vs PyTorch + lightly (Python)", ""]
    lines += machine(a.threads)
    lines += [f"- step on fixed views (no augmentation): student forward of every view, teacher forward, loss, "
              f"backward, AdamW, teacher EMA; batch {a.batch}; {a.warmup} warmup steps, then the median of "
              f"{a.steps} timed steps per side; fp32, CPU", "",
              "| method | views | params C++ | params Python | C++ ms/step | Python ms/step | Python / C++ "
              "| C++ img/s | Python img/s | compiled ms/step | compiled / C++ | compile + warmup s |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    mismatch = []
    for m in methods:
        c, p, pc = cpp.get(m), py[m], pyc.get(m)
        if c is None:
            lines.append(f"| {m} | C++ result missing |")
            continue
        c_ms, c_params = c["median_ms"], int(round(c["params"]))
        if c_params != p["params"] or int(c["views"]) != p["views"] or int(c["batch"]) != p["batch"]:
            mismatch.append(f"{m}: C++ params {c_params} views {int(c['views'])} batch {int(c['batch'])}, "
                            f"Python {p['params']} / {p['views']} / {p['batch']}")
        if pc is None:
            comp = "| - | - | - |"
        elif "median_ms" in pc:
            comp = f"| {pc['median_ms']:.1f} | {pc['median_ms'] / c_ms:.2f} | {pc['warmup_s']:.0f} |"
        else:
            comp = f"| n/a ({pc['status']}) | n/a | - |"
        lines.append(f"| {m} | {p['views']} | {c_params:,} | {p['params']:,} | {c_ms:.1f} | {p['median_ms']:.1f} | "
                     f"{p['median_ms'] / c_ms:.2f} | {1e3 * a.batch / c_ms:.1f} | {1e3 * a.batch / p['median_ms']:.1f} "
                     + comp)
    lines += ["", "Python / C++: time ratio (> 1: C++ faster). Compiled: torch.compile of the Python forward + loss "
              "(optimizer and EMA eager), compile time excluded (it is in the warmup column)."]
    if mismatch:
        lines += ["", "**Configuration mismatch: " + "; ".join(mismatch) + "**"]
    lines += ["", f"Wall time: C++ {t_cpp:.0f} s, Python {t_py:.0f} s. Reproduce: `python3 "
              f"benchmarks/joint_side_by_side.py --threads {a.threads} --batch {a.batch} --steps {a.steps} "
              f"--warmup {a.warmup}" + ("" if methods == METHODS else f" --methods {','.join(methods)}")
              + (" --no-compile" if a.no_compile else "") + "`."]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.markdown:
        os.makedirs(os.path.dirname(os.path.abspath(a.markdown)), exist_ok=True)
        with open(a.markdown, "w") as f:
            f.write(text)
    return 1 if mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
