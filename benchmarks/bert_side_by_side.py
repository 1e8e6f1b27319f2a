#!/usr/bin/env python3
"""libssl (C++, bench_text) against Python PyTorch + Hugging Face (BertForPreTraining): one BERT
pretraining step on the same model, batch, optimizer, torch version and thread count, in one run.

    .venv/bin/python benchmarks/bert_side_by_side.py [--threads 2] [--steps 30] [--out docs/benchmarks_text_run.md]

One step: 15 % dynamic masking (80/10/10), forward, MLM + next-sentence loss, backward, AdamW
(torch.optim.AdamW, foreach), loss.item(). Model: BERT-small (vocab 30522, 512 x 4, 8 heads, MLP
2048), 128 tokens, batch 8, dropout 0.1, sdpa attention. The C++ binary runs first, then the
Python step in this process; the matmul peak of the machine is measured here too.
Build first: cmake --build build -j2 --target bench_text.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from side_by_side import machine  # noqa: E402  (the machine description shared with the MAE harness)

V, LEN, BATCH = 30522, 128, 8


def run_cpp(binary, threads, steps, warmup):
    env = dict(os.environ, SSL_BENCH_THREADS=str(threads), SSL_BENCH_ITERS=str(steps), SSL_BENCH_WARMUP=str(warmup))
    p = subprocess.run([binary, "--benchmark_format=json"], capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"{binary} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return {b["name"].split("/")[1]: b for b in json.loads(p.stdout)["benchmarks"]}


def build():
    import torch
    import transformers as T
    cfg = T.BertConfig(vocab_size=V, hidden_size=512, num_hidden_layers=4, num_attention_heads=8,
                       intermediate_size=2048, max_position_embeddings=LEN, attn_implementation="sdpa")
    torch.manual_seed(0)
    model = T.BertForPreTraining(cfg).train()
    ids = torch.randint(1000, V, (BATCH, LEN))
    ids[:, 0], ids[:, LEN // 2], ids[:, -1] = 101, 102, 102
    tt = torch.zeros_like(ids)
    tt[:, LEN // 2 + 1:] = 1
    return model, ids, tt, torch.randint(0, 2, (BATCH,))


def mask(ids):
    import torch
    special = (ids == 101) | (ids == 102)
    sel = (torch.rand(ids.shape) < 0.15) & ~special
    labels = torch.where(sel, ids, torch.full_like(ids, -100))
    u = torch.rand(ids.shape)
    inp = torch.where(sel & (u < 0.8), torch.full_like(ids, 103), ids)
    rnd = sel & (u >= 0.8) & (u < 0.9)
    return torch.where(rnd, torch.randint(1000, V, ids.shape), inp), labels


def run_python(threads, steps, warmup):
    import torch
    torch.set_num_threads(threads)
    model, ids, tt, nsp = build()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01)

    def step():
        inp, labels = mask(ids)
        out = model(input_ids=inp, token_type_ids=tt, labels=labels, next_sentence_label=nsp)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        return out.loss.item()

    for _ in range(warmup):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - t) / steps


def flops(threads):
    import torch
    from torch.utils.flop_counter import FlopCounterMode
    torch.set_num_threads(threads)
    model, ids, tt, nsp = build()
    inp, labels = mask(ids)
    fc = FlopCounterMode(display=False)
    with fc:
        model(input_ids=inp, token_type_ids=tt, labels=labels, next_sentence_label=nsp).loss.backward()
    return float(fc.get_total_flops())


def peak(threads):
    import torch
    torch.set_num_threads(threads)
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    torch.mm(a, b)
    t = time.perf_counter()
    for _ in range(10):
        torch.mm(a, b)
    return 10 * 2 * 2048 ** 3 / (time.perf_counter() - t)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "benchmarks", "bench_text"))
    ap.add_argument("--out", default="")
    a = ap.parse_args()
    cpp = run_cpp(a.binary, a.threads, a.steps, a.warmup)
    py_s = run_python(a.threads, a.steps, a.warmup)
    f = flops(a.threads)
    pk = peak(a.threads)
    lines = ["Machine:"] + machine(a.threads) + ["", f"Matmul peak measured in this run: {pk / 1e9:.0f} GFLOP/s "
             "(2048^3 fp32 torch.mm); model FLOPs per step (HF, flop_counter, forward + backward): "
             f"{f / 1e9:.2f} GFLOP", "",
             "| step | ms/step | seq/s | **C++ / Python (speed)** | MFU |", "|---|---:|---:|---:|---:|"]
    lines.append(f"| Python: HF BertForPreTraining | {py_s * 1e3:.1f} | {BATCH / py_s:.1f} | 1.00 | "
                 f"{f / py_s / pk:.0%} |")
    for k, label in (("all", "C++ libssl, logits at every position (as HF)"),
                     ("masked", "C++ libssl, logits at the masked 15 % (default)")):
        s = cpp[k]["real_time"] / 1e3
        mfu = f"{f / s / pk:.0%}" if k == "all" else "n/a (fewer FLOPs)"
        lines.append(f"| {label} | {s * 1e3:.1f} | {BATCH / s:.1f} | **{py_s / s:.2f}** | {mfu} |")
    text = "\n".join(lines)
    print(text)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(f"# BERT-small training step, libssl vs Hugging Face ({time.strftime('%Y-%m-%d')})\n\n{text}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
