#!/usr/bin/env python3
"""A small folder of real RGB photographs for the image examples' short test runs and the MAE lab
(entries example_00_*, example_05_hf_resnet, example_06_hf_beit).

Usage: python3 make_lab_images.py --out DIR

Writes DIR/lab_images/<name>.png: the 8 colour photographs bundled with scikit-image (astronaut,
coffee, chelsea, rocket, retina, hubble_deep_field, immunohistochemistry, colorwheel), each
centre-cropped to a square and resized to 64 x 64 (RGB, 8 bits). A flat folder without class
sub-folders: the examples read it as unlabelled images (pretraining only, no evaluation).
"""
import argparse
import os
import shutil
import sys

import numpy as np
import skimage.data
from PIL import Image

NAMES = ["astronaut", "coffee", "chelsea", "rocket", "retina", "hubble_deep_field", "immunohistochemistry",
         "colorwheel"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args(argv)
    d = os.path.join(args.out, "lab_images")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name in NAMES:
        x = np.asarray(getattr(skimage.data, name)())
        if x.ndim != 3 or x.shape[2] != 3 or x.dtype != np.uint8:
            print(f"FAIL {name}: expected an RGB uint8 image, got {x.shape} {x.dtype}")
            return 1
        h, w = x.shape[:2]
        s = min(h, w)
        top, left = (h - s) // 2, (w - s) // 2
        img = Image.fromarray(x[top:top + s, left:left + s]).resize((args.size, args.size), Image.BILINEAR)
        img.save(os.path.join(d, f"{name}.png"))
    print(f"wrote {len(NAMES)} images of {args.size} x {args.size} to {d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
