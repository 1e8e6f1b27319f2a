#!/usr/bin/env python3
"""libssl (C++, bench_mae) against Python PyTorch (Hugging Face ViTMAE, mae_step.py): one MAE
training step on the same model, batch, optimizer, torch version and thread count, in one run.

    .venv/bin/python benchmarks/side_by_side.py --out docs/benchmarks_run.md [--threads 2] [--steps 50] [--compile]

Runs build/benchmarks/bench_mae (MaeTrainStep and Matmul, JSON), then mae_step.py in a
subprocess, and prints a markdown table (also written to --out) with the machine it ran on.
Build the binary first: cmake --build build -j2 --target bench_mae.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import mae_step  # noqa: E402  (the Python side: configs and model builder)


def machine(threads: int) -> list[str]:
    import torch
    import transformers

    model = platform.processor() or "?"
    cpus = os.cpu_count()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        info = {k.strip(): v.strip() for k, _, v in (l.partition(":") for l in out.splitlines())}
        model = info.get("Model name", model)
        cpus = info.get("CPU(s)", cpus)
        cores = f'{info.get("Core(s) per socket", "?")} cores/socket x {info.get("Socket(s)", "?")} sockets, ' \
                f'{info.get("Thread(s) per core", "?")} threads/core'
    except OSError:
        cores = "?"
    return [
        f"- CPU: {model} ({cpus} logical CPUs; {cores})",
        f"- torch {torch.__version__} (C++: LibTorch of the same wheel; Python: the same module), "
        f"transformers {transformers.__version__}, Python {platform.python_version()}",
        f"- intra-op threads: {threads} on both sides (at::set_num_threads / torch.set_num_threads)",
    ]


def run_cpp(binary: str, threads: int, steps: int, warmup: int) -> dict:
    env = dict(os.environ, SSL_BENCH_THREADS=str(threads), SSL_BENCH_ITERS=str(steps), SSL_BENCH_WARMUP=str(warmup))
    p = subprocess.run([binary, "--benchmark_filter=MaeTrainStep|Matmul", "--benchmark_format=json"],
                       capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"{binary} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    d = json.loads(p.stdout)
    rows = {}
    for b in d["benchmarks"]:
        name = b["name"].split("/")
        rows[(name[0], name[1])] = b
    return rows


def run_python(threads: int, steps: int, warmup: int, max_seconds: float, compile_: bool, compile_timeout: float):
    cmd = [sys.executable, os.path.join(HERE, "mae_step.py"), "--threads", str(threads), "--steps", str(steps),
           "--warmup", str(warmup), "--max-seconds", str(max_seconds)]
    if compile_:
        cmd += ["--compile", "--compile-timeout", str(compile_timeout)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"mae_step.py failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]


def model_flops(name: str, threads: int) -> float:
    """FLOPs of one forward + backward of the HF model (torch.utils.flop_counter: matmuls,
    convolutions, attention; not elementwise ops nor the optimizer). Masking keeps a fixed
    number of patches, so this does not depend on the random mask."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(threads)
    model, _ = mae_step.build(name)
    model.train()
    c = mae_step.CONFIGS[name]
    x = torch.randn(c["batch"], c["num_channels"], c["image_size"], c["image_size"])
    fc = FlopCounterMode(display=False)
    with fc:
        model(pixel_values=x).loss.backward()
    return float(fc.get_total_flops())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=int(os.environ.get("SSL_BENCH_THREADS", "2")))
    ap.add_argument("--steps", type=int, default=50, help="timed steps per config, each side")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps first, each side")
    ap.add_argument("--max-seconds", type=float, default=60.0, help="Python's time box per config")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "benchmarks", "bench_mae"))
    ap.add_argument("--compile", action="store_true", help="also torch.compile the Python model (slow to compile)")
    ap.add_argument("--compile-timeout", type=float, default=240.0, help="per config, compilation included")
    ap.add_argument("--out", help="write the markdown here too")
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    if not os.path.exists(a.binary):
        sys.exit(f"{a.binary} not found: cmake --build build -j2 --target bench_mae")

    t0 = time.time()
    cpp = run_cpp(a.binary, a.threads, a.steps, a.warmup)
    t_cpp = time.time() - t0
    py = run_python(a.threads, a.steps, a.warmup, a.max_seconds, a.compile, a.compile_timeout)
    t_py = time.time() - t0 - t_cpp

    peak = max((b["FLOP/s"] for k, b in cpp.items() if k[0] == "BM_Matmul"), default=0.0)
    lines = [f"## MAE training step: libssl (C++) vs PyTorch + transformers (Python)", ""]
    lines += machine(a.threads)
    lines += [f"- step: forward (random 75 % masking, norm-pix loss) + backward + AdamW (wd 0.05 on "
              f"matrices), loss.item(); {a.warmup} warmup steps, then {a.steps} timed steps per side "
              f"(Python stops early after {a.max_seconds:.0f} s); fp32, CPU", ""]
    attn = sorted({r.get("attn", "?") for r in py if "attn" in r})
    lines += ["| config | batch | params C++ | params Python | C++ img/s | Python (HF) img/s | C++ / Python "
              "| C++ ms/step | Python ms/step | GFLOP/step | MFU C++ | MFU Python |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    mismatch = []
    for name in mae_step.CONFIGS:
        c = cpp.get(("BM_MaeTrainStep", name))
        p = next((r for r in py if r["config"] == name and r["impl"] == "python-hf"), None)
        if c is None or p is None:
            lines.append(f"| {name} | missing: C++ {'ok' if c else 'absent'}, Python {'ok' if p else 'absent'} |")
            continue
        c_ips, c_ms = c["items_per_second"], c["real_time"]  # time_unit is ms
        flops = model_flops(name, a.threads)
        mfu = lambda ms: f"{100 * flops / (ms / 1e3) / peak:.0f} %" if peak else "-"
        if int(c["params"]) != int(p["params"]):
            mismatch.append(f"{name}: C++ {int(c['params'])} != Python {p['params']}")
        lines.append(f"| {name} | {p['batch']} | {int(c['params']):,} | {p['params']:,} | {c_ips:.1f} | "
                     f"{p['images_per_s']:.1f} | {c_ips / p['images_per_s']:.2f} | {c_ms:.1f} | {p['ms_per_step']:.1f} | "
                     f"{flops / 1e9:.2f} | {mfu(c_ms)} | {mfu(p['ms_per_step'])} |")
    lines += ["", f"Python attention: {', '.join(attn)}. Parameters: trainable only (HF keeps its fixed sin-cos "
              f"position tables as frozen parameters; neither side has a pooler)."
              + (" **Parameter counts differ: " + "; ".join(mismatch) + "**" if mismatch else
                 " Counts match on both configs.")]
    lines += [f"GFLOP/step: matmuls, convolutions and attention of forward + backward (torch.utils.flop_counter "
              f"on the HF model); MFU: that over the step time, relative to the measured fp32 matmul below."]
    if a.compile:
        lines += ["", "| config | Python torch.compile img/s | ms/step | C++ / compiled | compile + warmup s |",
                  "|---|---:|---:|---:|---:|"]
        for name in mae_step.CONFIGS:
            r = next((r for r in py if r["config"] == name and r["impl"] == "python-hf-compile"), None)
            c = cpp.get(("BM_MaeTrainStep", name))
            if r is None:
                continue
            if "images_per_s" not in r:
                lines.append(f"| {name} | {r.get('status', 'failed')} | | | |")
            else:
                ratio = f"{c['items_per_second'] / r['images_per_s']:.2f}" if c else "-"
                lines.append(f"| {name} | {r['images_per_s']:.1f} | {r['ms_per_step']:.1f} | {ratio} | "
                             f"{r.get('warmup_compile_s', float('nan')):.0f} |")
    lines += ["", "| fp32 matmul (C++, at::mm) | ms | GFLOP/s |", "|---|---:|---:|"]
    for k, b in sorted(cpp.items()):
        if k[0] == "BM_Matmul":
            lines.append(f"| {k[1]} x {k[1]} x {k[1]} | {b['real_time']:.1f} | {b['FLOP/s'] / 1e9:.1f} |")
    lines += ["", f"Wall time: C++ {t_cpp:.0f} s, Python {t_py:.0f} s. Reproduce: `.venv/bin/python benchmarks/side_by_side.py "
              f"--threads {a.threads} --steps {a.steps}" + (f" --warmup {a.warmup}" if a.warmup != 3 else "") + (" --compile" if a.compile else "") + "`."]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as f:
            f.write(text)
    return 1 if mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
