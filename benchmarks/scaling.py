#!/usr/bin/env python3
"""Data-parallel scaling of libssl on this machine: the step time of one method on 1 process and
on N Gloo processes (same global batch, same total thread count), launched with torchrun.

    .venv/bin/python benchmarks/scaling.py [--methods mae simclr] [--procs 1 2] [--threads 2] [--steps 10]

Runs build/benchmarks/bench_dist (build it first: cmake --build build -j2 --target bench_dist)
through `python3 -m torch.distributed.run --standalone --no-python`, each process with
threads / N intra-op threads, and prints a markdown table (speed-up relative to 1 process).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from side_by_side import machine  # noqa: E402


def run(binary: str, method: str, procs: int, threads: int, steps: int, batch: int) -> dict:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={procs}", "--no-python",
           binary, "--method", method, "--steps", str(steps), "--global-batch", str(batch),
           "--threads", str(max(1, threads // procs))]
    env = dict(os.environ, OMP_NUM_THREADS=str(max(1, threads // procs)))
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"bench_dist failed ({' '.join(cmd)}):\n{out.stdout}\n{out.stderr}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "benchmarks", "bench_dist"))
    ap.add_argument("--methods", nargs="+", default=["mae", "simclr"])
    ap.add_argument("--procs", nargs="+", type=int, default=[1, 2])
    ap.add_argument("--threads", type=int, default=2, help="intra-op threads over all processes")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=256, help="global batch")
    a = ap.parse_args()
    lines = machine(a.threads)
    lines += ["", "| method | processes | threads / process | global batch | ms / step | samples / s | vs 1 process |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for m in a.methods:
        base = None
        for p in a.procs:
            r = run(a.binary, m, p, a.threads, a.steps, a.batch)
            base = base or r["samples_per_s"]
            lines.append(f"| {m} | {r['world']} | {r['threads_per_process']} | {r['global_batch']} | "
                         f"{r['ms_per_step']:.1f} | {r['samples_per_s']:.1f} | {r['samples_per_s'] / base:.2f}x |")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
