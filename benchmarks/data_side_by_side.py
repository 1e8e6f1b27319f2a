#!/usr/bin/env python3
"""libssl (C++, bench_data) against Python (torchvision + PIL, lightly) on a folder of photos
(pretraining on your own data), one run, same torch build and thread count.

    .venv/bin/python scripts/make_photo_folder.py --out /tmp/photos
    .venv/bin/python benchmarks/data_side_by_side.py --photos /tmp/photos [--binary build/benchmarks/bench_data]
        [--threads 2] [--sizes 32,64] [--e2e-batch 128] [--steps 12] [--warmup 3] [--markdown out.md]

a. Decode + resize + crop throughput (images/s over one epoch, batch 64, timed from the first
   batch on, so worker start-up is excluded on both sides):
   Python: torchvision.datasets.ImageFolder (PIL loader, .convert("RGB")) with
     transforms.Resize(256) + CenterCrop(224) + PILToTensor() in a DataLoader, num_workers 0 and 2;
   C++: bench_data's BM_Loader/workers:1 and :2 (Loader<ImageFolder>, shorter side 256 -> center
     crop 224, uint8), plus the one-thread decode alone (BM_ReadImage) and decode + resize + crop
     (BM_Sample) to show where the time goes.
b. End-to-end SimCLR training throughput (data + augmentation + step; images/s over
   --steps steps after --warmup untimed ones), per resolution S in --sizes:
   Python: torchvision ImageFolder + lightly's SimCLRTransform(input_size=S) (its defaults: crop
     scale 0.08-1, flip 0.5, colour jitter p 0.8 (0.8, 0.8, 0.8, 0.2), grayscale 0.2, blur p 0.5
     sigma 0.1-2, ImageNet normalisation) on the PIL images in a DataLoader (num_workers 2,
     persistent), torchvision ResNet-18 at base width 16 with the small stem (3x3 conv, no max
     pool) on 3 channels, lightly's SimCLRProjectionHead(128, 512, 128) and NTXentLoss(0.2),
     torch.optim.AdamW(foreach, lr 2e-3, wd 1e-4, no decay on vectors);
   C++: bench_data's BM_SimclrFolder/S (the same model, head, loss and optimizer; the images
     decoded, resized to S on the shorter side and center-cropped to S by Loader<ImageFolder> in
     2 worker threads, then the recipe's batched TwoViews with the same settings and ImageNet
     normalisation). The two sides' trainable parameter counts are checked equal.
   Where they differ: Python's RandomResizedCrop takes its crop from the full 500x375 photo,
   C++'s from the S x S center crop of the downscaled photo (the sides of landscape photos are
   never seen, and a small crop is upsampled from fewer pixels); C++ blurs with a kernel of 10%
   of S (lightly: PIL's untruncated Gaussian); the jitter order is drawn per image in C++ (per
   call in torchvision).
Prints a Markdown table with the ratios C++ / Python (> 1: C++ faster).
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


def require():
    missing = []
    for mod in ("torch", "torchvision", "lightly", "PIL"):
        try:
            __import__(mod)
        except ImportError as e:
            missing.append(f"{mod} ({e})")
    if missing:
        sys.exit("data_side_by_side.py: missing Python packages: " + ", ".join(missing) +
                 " (pip install torchvision lightly pillow) — the comparison never skips")


def warm_page_cache(root: str) -> int:
    """Reads every file once, so that both sides read from memory. Returns the byte count."""
    total = 0
    for d, _, files in os.walk(root):
        for f in files:
            with open(os.path.join(d, f), "rb") as fh:
                total += len(fh.read())
    return total


# ---- Python side -------------------------------------------------------------------------------

def py_decode(root: str, workers: int, threads: int) -> dict:
    """torchvision ImageFolder + Resize(256) + CenterCrop(224) + PILToTensor, one epoch, batch 64."""
    import torch
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms as T

    torch.set_num_threads(threads)
    ds = datasets.ImageFolder(root, transform=T.Compose([T.Resize(256), T.CenterCrop(224), T.PILToTensor()]))
    dl = DataLoader(ds, batch_size=64, shuffle=True, num_workers=workers, drop_last=True,
                    generator=torch.Generator().manual_seed(0))
    t0, n = None, 0
    for i, (x, _) in enumerate(dl):
        if i == 0:
            t0 = time.perf_counter()
        else:
            n += x.size(0)
    dt = time.perf_counter() - t0
    return {"images": n, "seconds": dt, "ips": n / dt}


def resnet18_w16_rgb():
    """joint_side_by_side.py's torchvision ResNet-18 (width 16, small stem, no max pool) on 3 channels."""
    import torch.nn as nn

    sys.path.insert(0, HERE)
    from joint_side_by_side import resnet18_w16

    m = resnet18_w16()
    m.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1, bias=False)
    nn.init.kaiming_normal_(m.conv1.weight, mode="fan_out", nonlinearity="relu")
    return m


def py_simclr(root: str, size: int, batch: int, steps: int, warmup: int, threads: int) -> dict:
    """SimCLR from the folder: lightly's SimCLRTransform in a DataLoader (2 workers) + the step."""
    import torch
    from lightly.loss import NTXentLoss
    from lightly.models.modules.heads import SimCLRProjectionHead
    from lightly.transforms import SimCLRTransform
    from torch.utils.data import DataLoader
    from torchvision import datasets

    sys.path.insert(0, HERE)
    from joint_side_by_side import make_optimizer

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    ds = datasets.ImageFolder(root, transform=SimCLRTransform(input_size=size))
    dl = DataLoader(ds, batch_size=batch, shuffle=True, num_workers=2, drop_last=True, persistent_workers=True,
                    generator=torch.Generator().manual_seed(0))
    bb, head, crit = resnet18_w16_rgb(), SimCLRProjectionHead(128, 512, 128), NTXentLoss(temperature=0.2)
    bb.train(), head.train()
    opt = make_optimizer([bb, head], 2e-3, 1e-4)
    params = sum(p.numel() for g in opt.param_groups for p in g["params"])
    done, step_s, wait_s, t0, loss = 0, [], [], None, 0.0
    while done < warmup + steps:
        it = iter(dl)
        back = time.perf_counter()
        for (v0, v1), _ in it:
            waited = time.perf_counter() - back
            if done == warmup:
                t0 = time.perf_counter()
            s0 = time.perf_counter()
            l = crit(head(bb(v0)), head(bb(v1)))
            loss = l.item()
            opt.zero_grad(set_to_none=True)
            l.backward()
            opt.step()
            if done >= warmup:
                step_s.append(time.perf_counter() - s0)
                if done > warmup:
                    wait_s.append(waited)
            done += 1
            back = time.perf_counter()
            if done >= warmup + steps:
                break
    dt = time.perf_counter() - t0
    med = lambda v: sorted(v)[len(v) // 2] if v else 0.0
    return {"ips": steps * batch / dt, "step_ms": 1e3 * med(step_s), "wait_ms": 1e3 * med(wait_s),
            "params": params, "loss": loss}


def py_child(kind: str, a, **kw) -> dict:
    """One Python measurement in a fresh process (nothing shared with the others)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--_child", json.dumps({"kind": kind, **kw}),
           "--photos", a.photos, "--threads", str(a.threads), "--e2e-batch", str(a.e2e_batch),
           "--steps", str(a.steps), "--warmup", str(a.warmup)]
    p = subprocess.run(cmd, capture_output=True, text=True)
    lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
    if p.returncode != 0 or not lines:
        sys.exit(f"Python {kind} {kw} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    return json.loads(lines[-1])


# ---- C++ side ----------------------------------------------------------------------------------

def run_cpp(a) -> dict:
    env = dict(os.environ, SSL_PHOTOS=a.photos, SSL_BENCH_THREADS=str(a.threads), SSL_BENCH_ITERS="1",
               SSL_BENCH_WARMUP=str(a.warmup), SSL_BENCH_STEPS=str(a.steps), SSL_BENCH_E2E_BATCH=str(a.e2e_batch))
    sizes = "|".join(str(s) for s in a.sizes)
    filt = f"BM_ReadImage|BM_Sample|BM_Loader|BM_SimclrFolder/size:({sizes})/"
    p = subprocess.run([a.binary, f"--benchmark_filter={filt}", "--benchmark_format=json"], capture_output=True,
                       text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"{a.binary} failed ({p.returncode}):\n{p.stderr[-3000:]}")
    out = {}
    for b in json.loads(p.stdout)["benchmarks"]:
        if b.get("error_occurred"):
            sys.exit(f"{a.binary}: {b['name']}: {b.get('error_message')}")
        out[b["name"].split("/iterations")[0]] = b
    return out


def machine(threads: int) -> list[str]:
    import lightly
    import PIL
    import torch
    import torchvision

    model = platform.processor() or "?"
    try:
        for l in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if l.startswith("Model name:"):
                model = l.split(":", 1)[1].strip()
    except OSError:
        pass
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((l for l in f if l.startswith("flags")), "")
    except OSError:
        pass
    isa = "AVX-512" if " avx512f" in flags else ("AVX2, no AVX-512" if " avx2" in flags else "no AVX2")
    load = os.getloadavg()
    return [f"- CPU: {model}, {os.cpu_count()} logical CPUs, {isa}; intra-op threads: {threads} on both sides; "
            f"load average at the start {load[0]:.2f}; OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}",
            f"- torch {torch.__version__} (C++: LibTorch of the same wheel), torchvision {torchvision.__version__}, "
            f"lightly {lightly.__version__}, Pillow {PIL.__version__}, Python {platform.python_version()}; "
            f"{time.strftime('%Y-%m-%d')}"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", default=os.environ.get("SSL_PHOTOS", "/tmp/photos"),
                    help="the folder (scripts/make_photo_folder.py --out DIR)")
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "benchmarks", "bench_data"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", default="32,64", help="end-to-end SimCLR resolutions, comma-separated (32, 64)")
    ap.add_argument("--e2e-batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=12, help="timed end-to-end steps per side")
    ap.add_argument("--warmup", type=int, default=3, help="untimed end-to-end steps first, per side")
    ap.add_argument("--markdown", help="also write the table (markdown) to this path")
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    require()
    if a._child:
        job = json.loads(a._child)
        if job["kind"] == "decode":
            r = py_decode(a.photos, job["workers"], a.threads)
        else:
            r = py_simclr(a.photos, job["size"], a.e2e_batch, a.steps, a.warmup, a.threads)
        print(json.dumps(r), flush=True)
        return 0
    a.sizes = [int(s) for s in a.sizes.split(",") if s]
    if not all(s in (32, 64) for s in a.sizes):
        ap.error("--sizes: bench_data registers the resolutions 32 and 64")
    if not os.path.isdir(a.photos):
        sys.exit(f"{a.photos} is not a folder: .venv/bin/python scripts/make_photo_folder.py --out {a.photos}")
    if not os.path.exists(a.binary):
        sys.exit(f"{a.binary} not found: cmake --build build -j2 --target bench_data (or pass --binary)")

    nbytes = warm_page_cache(a.photos)
    head = machine(a.threads)
    t0 = time.time()
    cpp = run_cpp(a)
    t_cpp = time.time() - t0
    py = {w: py_child("decode", a, workers=w) for w in (0, 2)}
    e2e = {s: py_child("simclr", a, size=s) for s in a.sizes}
    t_py = time.time() - t0 - t_cpp

    ips = lambda name: cpp[name]["items_per_second"]
    lines = ["## Image folders: decode and end-to-end SimCLR vs Python", ""] + head
    lines += [f"- folder: {a.photos}, {cpp['BM_ReadImage']['images']:.0f} photos ({nbytes / 2**20:.0f} MiB, in the "
              f"page cache), scripts/make_photo_folder.py", "",
              "**a. Decode + resize (shorter side 256) + center crop 224, uint8, batch 64, one epoch**", "",
              "| pipeline | img/s |", "|---|---:|",
              f"| C++ `io::read_image` alone (decode only), 1 thread | {ips('BM_ReadImage'):.0f} |",
              f"| C++ `ImageFolder::get` (decode + resize + crop), 1 thread | {ips('BM_Sample'):.0f} |",
              f"| C++ same, resize on uint8 (not the library's path: see below), 1 thread | "
              f"{ips('BM_Sample/uint8_resize'):.0f} |",
              f"| C++ `Loader<ImageFolder>`, 1 worker | {ips('BM_Loader/workers:1'):.0f} |",
              f"| C++ `Loader<ImageFolder>`, 2 workers | {ips('BM_Loader/workers:2'):.0f} |",
              f"| torchvision ImageFolder + PIL, DataLoader 0 workers | {py[0]['ips']:.0f} |",
              f"| torchvision ImageFolder + PIL, DataLoader 2 workers | {py[2]['ips']:.0f} |", "",
              f"Ratios: C++ 1 worker / Python 0 workers **{ips('BM_Loader/workers:1') / py[0]['ips']:.2f}×**; "
              f"C++ 2 workers / Python 2 workers **{ips('BM_Loader/workers:2') / py[2]['ips']:.2f}×**.", "",
              f"**b. SimCLR end to end from the folder (data + augmentation + step), batch {a.e2e_batch}, "
              f"{a.warmup} warm-up + {a.steps} timed steps, 2 data workers per side**", "",
              "| S | params C++ / Python | C++ img/s | Python img/s | **C++ / Python** | C++ step ms | C++ wait ms "
              "| Python step ms | Python wait ms |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    mismatch = []
    for s in a.sizes:
        c, p = cpp[f"BM_SimclrFolder/size:{s}"], e2e[s]
        if int(round(c["params"])) != p["params"]:
            mismatch.append(f"S {s}: params C++ {int(round(c['params']))}, Python {p['params']}")
        lines.append(f"| {s} | {int(round(c['params'])):,} / {p['params']:,} | {c['items_per_second']:.1f} | "
                     f"{p['ips']:.1f} | **{c['items_per_second'] / p['ips']:.2f}** | {c['step_ms']:.0f} | "
                     f"{c['wait_ms']:.0f} | {p['step_ms']:.0f} | {p['wait_ms']:.0f} |")
    lines += ["", "step ms: median time of one step after its batch is there (C++: augmentation + forward + "
              "backward + AdamW; Python: forward + backward + AdamW, the augmentation is in the workers); wait ms: "
              "median wait for the next batch (the data path the step did not hide).",
              "", f"Wall time: C++ {t_cpp:.0f} s, Python {t_py:.0f} s. Reproduce: `.venv/bin/python scripts/make_photo_folder.py "
              f"--out {a.photos} && .venv/bin/python benchmarks/data_side_by_side.py --photos {a.photos} --binary {a.binary} "
              f"--threads {a.threads} --sizes {','.join(map(str, a.sizes))} --e2e-batch {a.e2e_batch} "
              f"--steps {a.steps} --warmup {a.warmup}`"]
    if mismatch:
        lines += ["", "**Configuration mismatch: " + "; ".join(mismatch) + "**"]
    text = "\n".join(lines) + "\n"
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)
    return 1 if mismatch else 0


if __name__ == "__main__":
    sys.exit(main())
