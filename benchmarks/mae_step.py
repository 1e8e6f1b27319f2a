#!/usr/bin/env python3
"""One MAE training step in Python PyTorch (Hugging Face transformers ViTMAEForPreTraining),
the same model, batch and optimizer as benchmarks/bench_mae.cpp, for a side-by-side timing.

    .venv/bin/python benchmarks/mae_step.py --threads 2 --steps 20 [--compile]

Prints one JSON line per (config, impl): {"config", "impl", "images_per_s", "ms_per_step", ...}.
impl is "python-hf" (eager model) or "python-hf-compile" (torch.compile, CPU inductor). The step
is: forward with random masking (HF draws the noise inside), zero_grad(set_to_none=True),
backward, AdamW step, loss.item(). Timing: `--warmup` steps, then up to `--steps` steps,
stopping early once `--max-seconds` have passed (at least one timed step is always run).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings

# The configurations of bench_mae.cpp (name -> model and batch).
CONFIGS = {
    # ViT-tiny (MAE / timm): 224 px, patch 16, dim 192, depth 12, heads 3, MLP 768;
    # decoder 128 x 2, heads 4, MLP 512; batch 8.
    "tiny224": dict(image_size=224, patch_size=16, num_channels=3, hidden_size=192, num_hidden_layers=12,
                    num_attention_heads=3, intermediate_size=768, decoder_hidden_size=128,
                    decoder_num_hidden_layers=2, decoder_num_attention_heads=4, decoder_intermediate_size=512,
                    batch=8),
    # examples/00_mae_fashion_mnist: 28 px, patch 4, 1 channel, dim 128, depth 4, heads 4, MLP 512;
    # decoder 64 x 2, heads 4, MLP 256; batch 256.
    "fmnist": dict(image_size=28, patch_size=4, num_channels=1, hidden_size=128, num_hidden_layers=4,
                   num_attention_heads=4, intermediate_size=512, decoder_hidden_size=64,
                   decoder_num_hidden_layers=2, decoder_num_attention_heads=4, decoder_intermediate_size=256,
                   batch=256),
}


def build(name: str):
    """The HF model for a config, with sdpa attention if this transformers supports it."""
    from transformers import ViTMAEConfig, ViTMAEForPreTraining

    c = dict(CONFIGS[name])
    c.pop("batch")
    common = dict(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, norm_pix_loss=True, mask_ratio=0.75,
                  layer_norm_eps=1e-6, qkv_bias=True, hidden_act="gelu")
    try:
        model = ViTMAEForPreTraining(ViTMAEConfig(**c, **common, attn_implementation="sdpa"))
    except Exception:  # older / newer transformers without sdpa for ViTMAE
        model = ViTMAEForPreTraining(ViTMAEConfig(**c, **common, attn_implementation="eager"))
    attn = getattr(model.config, "_attn_implementation", None) or "eager"
    return model, attn


def trainable_parameters(model) -> int:
    # HF keeps the fixed sin-cos position tables as parameters with requires_grad=False.
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_optimizer(model):
    import torch

    decay, no_decay = [], []
    for n, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim <= 1 or any(t in n for t in ("cls_token", "mask_token", "position_embeddings", "pos_embed")):
            no_decay.append(p)
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": 0.05}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=1.5e-4, betas=(0.9, 0.95), eps=1e-8)


def run_config(name: str, threads: int, steps: int, warmup: int, max_seconds: float, compile_: bool) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model, attn = build(name)
    model.train()
    params = trainable_parameters(model)
    opt = make_optimizer(model)
    cfg = CONFIGS[name]
    x = torch.randn(cfg["batch"], cfg["num_channels"], cfg["image_size"], cfg["image_size"])
    fwd = model
    compile_s = None
    if compile_:
        fwd = torch.compile(model)

    def step() -> float:
        loss = fwd(pixel_values=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()

    t0 = time.perf_counter()
    for _ in range(warmup):
        loss = step()
    if compile_:
        compile_s = time.perf_counter() - t0  # compile happens in the first (warmup) steps
    n, t0 = 0, time.perf_counter()
    while n < max(1, steps):
        loss = step()
        n += 1
        if time.perf_counter() - t0 >= max_seconds:
            break
    dt = time.perf_counter() - t0
    out = {
        "config": name,
        "impl": "python-hf-compile" if compile_ else "python-hf",
        "batch": cfg["batch"],
        "images_per_s": cfg["batch"] * n / dt,
        "ms_per_step": 1e3 * dt / n,
        "steps": n,
        "params": params,
        "threads": torch.get_num_threads(),
        "attn": attn,
        "loss": loss,
        "torch": torch.__version__,
    }
    if compile_s is not None:
        out["warmup_compile_s"] = compile_s
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default="tiny224,fmnist", help="comma-separated: " + ",".join(CONFIGS))
    ap.add_argument("--threads", type=int, default=int(os.environ.get("SSL_BENCH_THREADS", "2")))
    ap.add_argument("--steps", type=int, default=20, help="timed steps at most (per config)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first (they include compilation)")
    ap.add_argument("--max-seconds", type=float, default=20.0, help="time box of the timed steps, per config")
    ap.add_argument("--compile", action="store_true", help="also time a torch.compile'd model (separate rows)")
    ap.add_argument("--compile-timeout", type=float, default=240.0,
                    help="seconds allowed per config for the compiled run, compilation included")
    ap.add_argument("--no-eager", action="store_true", help="only the compiled rows (with --compile)")
    ap.add_argument("--_compiled-child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    names = [c for c in a.configs.split(",") if c]
    for c in names:
        if c not in CONFIGS:
            ap.error(f"unknown config {c!r}; known: {', '.join(CONFIGS)}")

    if a._compiled_child:  # one compiled config, in a child process so that it can be time-boxed
        print(json.dumps(run_config(names[0], a.threads, a.steps, a.warmup, a.max_seconds, True)), flush=True)
        return 0

    if not a.no_eager:
        for c in names:
            print(json.dumps(run_config(c, a.threads, a.steps, a.warmup, a.max_seconds, False)), flush=True)
    if a.compile:
        for c in names:
            cmd = [sys.executable, os.path.abspath(__file__), "--_compiled-child", "--configs", c, "--threads",
                   str(a.threads), "--steps", str(a.steps), "--warmup", str(max(1, a.warmup)), "--max-seconds",
                   str(a.max_seconds)]
            row = {"config": c, "impl": "python-hf-compile", "batch": CONFIGS[c]["batch"]}
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.compile_timeout)
                lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
                if p.returncode == 0 and lines:
                    row = json.loads(lines[-1])
                else:
                    err = (p.stderr.strip().splitlines() or ["exit code %d" % p.returncode])[-1]
                    row["status"] = "failed: " + err[:300]
            except subprocess.TimeoutExpired:
                row["status"] = f"failed: timed out after {a.compile_timeout:.0f} s (compilation included)"
            print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
