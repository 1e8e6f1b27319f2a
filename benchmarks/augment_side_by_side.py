#!/usr/bin/env python3
"""libssl's batched augmentations (C++, bench_augment) against torchvision's per-image v2
transforms in a torch DataLoader, doing the same work, in one run.

    .venv/bin/python benchmarks/augment_side_by_side.py build/benchmarks/bench_augment [--threads 2] [--images 2560]

(a) runs the C++ binary (BM_TwoViews/simclr, BM_TwoViews/byol, BM_MultiCrop/dino: a batch of 256
    28x28 1-channel images in [0,1] -> the views, on the CPU, SSL_BENCH_THREADS=--threads);
(b) builds the same pipelines from torchvision.transforms.v2 (RandomResizedCrop antialiased,
    flip, RandomApply(ColorJitter(brightness, contrast)), GaussianBlur with the same kernel size
    and sigma range, RandomSolarize; saturation, hue and grayscale are left out on 1 channel as
    libssl does) and times one epoch over --images random images through a DataLoader (batch 256,
    the transforms in the dataset's __getitem__, default collate) with num_workers 0 and 2,
    after one untimed epoch (persistent workers). torch.set_num_threads(--threads) in the main
    process; DataLoader workers run one thread each.
Both sides report the best of --repeat runs (C++: --benchmark_repetitions; Python: timed epochs),
which discounts other processes on a shared machine alike. Prints a markdown table of images/s
(source images; each gives 2 or 8 views) and the ratios.
Build the binary first: cmake --build build -j2 --target bench_augment.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import torch
import torchvision
from torchvision.transforms import v2 as T

BATCH = 256
CASES = {"simclr": "BM_TwoViews/simclr", "byol": "BM_TwoViews/byol", "dino": "BM_MultiCrop/dino"}


def view(size, scale, bright, contrast, blur_p, solarize_p=0.0):
    """One view as libssl's view_pipeline builds it for 1-channel images (views.hpp)."""
    kernel = max(3, 2 * (size // 20) + 1)  # GaussianBlur::kernel_for
    stages = [T.RandomResizedCrop(size, scale=scale, antialias=True), T.RandomHorizontalFlip(0.5),
              T.RandomApply([T.ColorJitter(brightness=bright, contrast=contrast)], p=0.8)]
    if blur_p > 0:
        stages.append(T.RandomApply([T.GaussianBlur(kernel, sigma=(0.1, 2.0))], p=blur_p))
    if solarize_p > 0:
        stages.append(T.RandomSolarize(0.5, p=solarize_p))
    return T.Compose(stages)


def pipelines(name):
    """The views of TwoViews::simclr(28,1), TwoViews::byol(28,1), MultiCrop::dino()."""
    if name == "simclr":
        v = view(28, (0.08, 1.0), 0.8, 0.8, 0.5)
        return [v, v]
    if name == "byol":
        return [view(28, (0.08, 1.0), 0.4, 0.4, 1.0), view(28, (0.08, 1.0), 0.4, 0.4, 0.1, 0.2)]
    if name == "dino":
        local = view(12, (0.05, 0.4), 0.4, 0.4, 0.5)
        return [view(28, (0.4, 1.0), 0.4, 0.4, 1.0), view(28, (0.4, 1.0), 0.4, 0.4, 0.1, 0.2)] + [local] * 6
    raise ValueError(name)


class Views(torch.utils.data.Dataset):
    def __init__(self, images, views):
        self.images, self.views = images, views

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = self.images[i]
        return [v(img) for v in self.views]


def time_torchvision(name, images, workers, threads, repeat):
    torch.set_num_threads(threads)
    loader = torch.utils.data.DataLoader(Views(images, pipelines(name)), batch_size=BATCH, shuffle=False,
                                         num_workers=workers, persistent_workers=workers > 0)
    n_views = 0
    for batch in loader:  # untimed: worker start-up, allocator
        n_views = len(batch)
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        for batch in loader:
            assert batch[0].shape[0] <= BATCH
        best = max(best, len(images) / (time.perf_counter() - t0))
    del loader
    return best, n_views


def run_cpp(binary, threads, iters, repeat):
    env = dict(os.environ, SSL_BENCH_THREADS=str(threads), SSL_BENCH_ITERS=str(iters))
    filt = "|".join(f"^{b}/" for b in CASES.values())
    p = subprocess.run([binary, f"--benchmark_filter={filt}", "--benchmark_format=json",
                        f"--benchmark_repetitions={repeat}"],
                       capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"{binary} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    out = {}
    for b in json.loads(p.stdout)["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration":
            continue  # aggregates (mean, median, stddev)
        for case, prefix in CASES.items():
            if b["name"].startswith(prefix + "/") and b["items_per_second"] > out.get(case, (0.0, 0))[0]:
                out[case] = (b["items_per_second"], int(b["views"]))
    return out


def machine(threads):
    model, cpus = platform.processor() or "?", os.cpu_count()
    try:
        info = dict((k.strip(), v.strip()) for k, _, v in
                    (l.partition(":") for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines()))
        model, cpus = info.get("Model name", model), info.get("CPU(s)", cpus)
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"- CPU: {model} ({cpus} logical CPUs), load average at start {load:.2f}\n"
            f"- torch {torch.__version__}, torchvision {torchvision.__version__}, Python {platform.python_version()}\n"
            f"- threads: {threads} (C++: at::set_num_threads; Python: torch.set_num_threads in the main process, "
            f"1 per DataLoader worker)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("binary", nargs="?", default=os.path.join("build", "benchmarks", "bench_augment"),
                    help="path of the bench_augment binary")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=2560, help="images per timed epoch (torchvision side)")
    ap.add_argument("--iters", type=int, default=30, help="timed batches of 256 per run (C++ side)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per case on each side; the best is reported")
    args = ap.parse_args(argv)
    if not os.path.exists(args.binary):
        sys.exit(f"no binary at {args.binary}: build it with cmake --build <dir> -j2 --target bench_augment")

    print(machine(args.threads), flush=True)
    cpp = run_cpp(args.binary, args.threads, args.iters, args.repeat)
    torch.manual_seed(0)
    images = torch.rand(args.images, 1, 28, 28)
    rows = ["| pipeline (256 x 1x28x28) | views | libssl C++ batched img/s | torchvision w=0 img/s | "
            "torchvision w=2 img/s | C++ / w=0 | C++ / w=2 |", "|---|---|---|---|---|---|---|"]
    for case in CASES:
        c, views = cpp[case]
        w0, nv = time_torchvision(case, images, 0, args.threads, args.repeat)
        w2, _ = time_torchvision(case, images, 2, args.threads, args.repeat)
        assert nv == views, (case, nv, views)
        rows.append(f"| {case} | {views} | {c:,.0f} | {w0:,.0f} | {w2:,.0f} | {c / w0:.1f}x | {c / w2:.1f}x |")
        print(rows[-1], flush=True)
    print("\n" + "\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
