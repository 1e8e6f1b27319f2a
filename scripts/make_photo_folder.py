#!/usr/bin/env python3
"""Builds a folder of realistic photos for the image-data benchmarks (benchmarks/bench_data.cpp,
benchmarks/data_side_by_side.py) from the photographs bundled with scikit-image (no download).

    .venv/bin/python scripts/make_photo_folder.py --out /tmp/photos [--n 2000] [--seed 0] [--png-fraction 0.1]

Layout: torchvision's ImageFolder (one class folder per source photo, e.g. `astronaut/00017.jpg`),
so `torchvision.datasets.ImageFolder` and `ssl::data::ImageFolder` read it as 12 labelled classes.
Each file is a random crop of its class's photo (area 25-100%, aspect 4:3 or 3:4 +-10%), flipped
with probability 0.5, resized (Pillow bicubic) to 500x375 (landscape, 3 in 4) or 375x500
(portrait) -- ImageNet's most common sizes -- with a small brightness change and sensor-like
Gaussian noise (sigma 2.5; without it the upscaled crops are far smoother than photos and their
JPEGs much smaller and faster to decode), saved as baseline JPEG (quality 85-95, 4:2:0 chroma,
Pillow's defaults otherwise) or, for `--png-fraction` of the files, as PNG. Four of the twelve
classes are greyscale photos (camera, coins, moon, gravel) and are saved as 1-channel files, as
ImageNet has a few. The output is a pure function of (--n, --seed, --png-fraction): the same
files, byte for byte, with the same Pillow / zlib / libjpeg versions.

Source photos (skimage.data, bundled in the scikit-image wheel): astronaut, chelsea (cat),
coffee, rocket, stereo_motorcycle (left image), hubble_deep_field, immunohistochemistry, retina,
camera, coins, moon, gravel.
"""
from __future__ import annotations

import argparse
import os
import sys
import time


def sources():
    """(class name, HxW[x3] uint8 array) of the bundled photos."""
    import warnings

    import numpy as np
    import skimage.data as d

    warnings.filterwarnings("ignore")
    out = []
    for name, fn in [("astronaut", d.astronaut), ("chelsea", d.chelsea), ("coffee", d.coffee), ("rocket", d.rocket),
                     ("motorcycle", lambda: d.stereo_motorcycle()[0]), ("hubble", d.hubble_deep_field),
                     ("immunohistochemistry", d.immunohistochemistry), ("retina", d.retina), ("camera", d.camera),
                     ("coins", d.coins), ("moon", d.moon), ("gravel", d.gravel)]:
        img = np.asarray(fn())
        if img.dtype != np.uint8:
            raise SystemExit(f"make_photo_folder.py: skimage.data.{name} is {img.dtype}, expected uint8")
        out.append((name, img))
    return out


def make_one(src, rng, portrait: bool):
    """One augmented 500x375 (or 375x500) PIL image of the photo `src`."""
    import numpy as np
    from PIL import Image

    h, w = src.shape[:2]
    out_w, out_h = (375, 500) if portrait else (500, 375)
    aspect = (out_w / out_h) * float(np.exp(rng.uniform(np.log(0.9), np.log(1.1))))
    for _ in range(20):
        area = rng.uniform(0.25, 1.0) * h * w
        cw, ch = int(round(np.sqrt(area * aspect))), int(round(np.sqrt(area / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            break
    else:  # the largest crop of that aspect
        cw, ch = (w, int(w / aspect)) if w / h < aspect else (int(h * aspect), h)
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    img = Image.fromarray(src[y0:y0 + ch, x0:x0 + cw])
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    img = img.resize((out_w, out_h), Image.Resampling.BICUBIC)
    a = np.asarray(img, dtype=np.float32) * rng.uniform(0.85, 1.15)
    a += rng.normal(0.0, 2.5, size=a.shape).astype(np.float32)
    return Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder (created; existing files of the same names replaced)")
    ap.add_argument("--n", type=int, default=2000, help="number of files (spread evenly over the 12 classes)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--png-fraction", type=float, default=0.1, help="share of the files saved as PNG")
    a = ap.parse_args()
    if a.n < 1 or not 0.0 <= a.png_fraction <= 1.0:
        ap.error("expected --n >= 1 and --png-fraction in [0, 1]")
    import numpy as np

    t0 = time.time()
    src = sources()
    rng = np.random.default_rng(a.seed)
    counts = {"jpg": 0, "png": 0}
    total_bytes = 0
    for name, _ in src:
        os.makedirs(os.path.join(a.out, name), exist_ok=True)
    for i in range(a.n):
        name, img = src[i % len(src)]
        pil = make_one(img, rng, portrait=rng.random() < 0.25)
        png = rng.random() < a.png_fraction
        quality = int(rng.integers(85, 96))
        path = os.path.join(a.out, name, f"{i:05d}." + ("png" if png else "jpg"))
        if png:
            pil.save(path, format="PNG", compress_level=6)
        else:
            pil.save(path, format="JPEG", quality=quality)
        counts["png" if png else "jpg"] += 1
        total_bytes += os.path.getsize(path)
    print(f"make_photo_folder.py: {a.n} files ({counts['jpg']} JPEG, {counts['png']} PNG, "
          f"{total_bytes / 2**20:.1f} MiB) in {len(src)} class folders under {a.out} in {time.time() - t0:.1f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
