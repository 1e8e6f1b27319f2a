#!/usr/bin/env python3
"""Generate image decoding references (Pillow, torchvision) for the libssl C++ tests.

Usage: python3 make_image_references.py --out DIR

Writes DIR/images/ (the image files) and DIR/images.safetensors (Pillow's decodes), pure Python,
deterministic (numpy seed 0), a few seconds (mostly importing torch). Files, odd sizes:
  png_rgb, png_rgba, png_l, png_p (palette with a transparent entry), png_la, png_i16 (16-bit
  gray, Pillow mode "I;16"), png_rgb16 (16-bit RGB, written by hand: Pillow cannot), png_1bit
  (mode "1"), png_big (120x90 RGB);
  jpg_rgb (64x48, 4:2:0), jpg_l (grayscale), jpg_progressive, jpg_odd (37x23), jpg_large
  (300x200, for DCT-domain scaling);
  bad_truncated.jpg, bad_truncated.png (first half of jpg_rgb / png_rgb), bad_text.jpg (text).
Tensors (uint8):
  <stem>.rgb [H,W,3] = np.asarray(Image.open(f).convert("RGB")), <stem>.l [H,W] = ... convert("L"),
  except png_i16, whose references are its 16-bit values >> 8 (Pillow clamps I;16 to 255 in
  convert; libssl takes the high byte, as Pillow does for 16-bit RGB);
  jpg_large.d<k>.rgb / .l for k = 2, 4, 8: Pillow's decode after draft(mode, (300//k, 200//k)),
  which makes libjpeg decode at scale 1/k (slow integer DCT, fancy upsampling: as libssl);
  png_big.resize40_crop32 [3,32,32]: torchvision.transforms.v2.functional.resize(uint8 image, 40,
  antialias=True) (torchvision's uint8 kernel), then center_crop(32).
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
import PIL
import torch
import torchvision
from PIL import Image
from torchvision.transforms.v2 import functional as TF

import refs_file

_META = {"generator": f"make_image_references.py Pillow={PIL.__version__} torchvision={torchvision.__version__}"}


def smooth(rng, h, w, c):
    """A photo-like test image: gradients, a disc, and mild noise."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for k in range(c):
        a, b, p = rng.uniform(0.5, 3.0, 3)
        v = 127 + 90 * np.sin(a * x / w * np.pi + p) * np.cos(b * y / h * np.pi)
        v += 60 * (((x - w * 0.4) ** 2 + (y - h * 0.6) ** 2) < (min(h, w) * 0.3) ** 2) * (k - 1)
        chans.append(v + rng.normal(0, 6, (h, w)))
    return np.clip(np.stack(chans, -1), 0, 255).round().astype(np.uint8)


def png_rgb16(path, arr16):
    """16-bit RGB PNG (colour type 2, depth 16) from a [H,W,3] uint16 array."""
    h, w, _ = arr16.shape
    raw = b"".join(b"\x00" + arr16[r].astype(">u2").tobytes() for r in range(h))

    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def make(out_dir: str) -> dict:
    rng = np.random.default_rng(0)
    d = os.path.join(out_dir, "images")
    os.makedirs(d, exist_ok=True)
    files = {}

    def save(stem, im, ext, **kw):
        files[stem] = os.path.join(d, stem + ext)
        im.save(files[stem], **kw)

    save("png_rgb", Image.fromarray(smooth(rng, 17, 29, 3)), ".png")
    alpha = rng.integers(0, 256, (19, 31, 1), np.uint8)
    save("png_rgba", Image.fromarray(np.concatenate([smooth(rng, 19, 31, 3), alpha], 2)), ".png")
    save("png_l", Image.fromarray(smooth(rng, 13, 16, 1)[..., 0]), ".png")
    pal = Image.frombytes("P", (21, 11), rng.integers(0, 40, (11, 21), np.uint8).tobytes())
    pal.putpalette(rng.integers(0, 256, 40 * 3, np.uint8).tolist())
    save("png_p", pal, ".png", transparency=3)
    gray, alpha = smooth(rng, 9, 15, 1)[..., 0], rng.integers(0, 256, (9, 15), np.uint8)
    save("png_la", Image.fromarray(np.stack([gray, alpha], -1)), ".png")
    i16 = rng.integers(0, 65536, (7, 13)).astype(np.uint16)
    save("png_i16", Image.fromarray(i16), ".png")
    files["png_rgb16"] = os.path.join(d, "png_rgb16.png")
    png_rgb16(files["png_rgb16"], rng.integers(0, 65536, (6, 11, 3)).astype(np.uint16))
    save("png_1bit", Image.fromarray(rng.integers(0, 2, (5, 19), np.uint8).astype(bool)), ".png")
    save("png_big", Image.fromarray(smooth(rng, 90, 120, 3)), ".png")

    save("jpg_rgb", Image.fromarray(smooth(rng, 48, 64, 3)), ".jpg", quality=90)
    save("jpg_l", Image.fromarray(smooth(rng, 30, 40, 1)[..., 0]), ".jpg", quality=85)
    save("jpg_progressive", Image.fromarray(smooth(rng, 40, 50, 3)), ".jpg", quality=80, progressive=True)
    save("jpg_odd", Image.fromarray(smooth(rng, 23, 37, 3)), ".jpg", quality=75)
    save("jpg_large", Image.fromarray(smooth(rng, 200, 300, 3)), ".jpg", quality=90)

    for stem, src, ext in (("bad_truncated", "jpg_rgb", ".jpg"), ("bad_truncated", "png_rgb", ".png")):
        data = open(files[src], "rb").read()
        with open(os.path.join(d, stem + ext), "wb") as f:
            f.write(data[: len(data) // 2])
    with open(os.path.join(d, "bad_text.jpg"), "w") as f:
        f.write("this is not an image\n")

    out = {}
    for stem, path in files.items():
        im = Image.open(path)
        if stem == "png_i16":
            assert im.mode == "I;16", im.mode
            hi = torch.from_numpy((np.asarray(im).astype(np.uint16) >> 8).astype(np.uint8))
            out[f"{stem}.l"], out[f"{stem}.rgb"] = hi, hi[..., None].expand(-1, -1, 3)
            continue
        for mode, key in (("RGB", "rgb"), ("L", "l")):
            out[f"{stem}.{key}"] = torch.from_numpy(np.asarray(Image.open(path).convert(mode)).copy())
    for k in (2, 4, 8):
        for mode, key in (("RGB", "rgb"), ("L", "l")):
            im = Image.open(files["jpg_large"])
            im.draft(mode if mode == "RGB" else "RGB", (300 // k, 200 // k))
            out[f"jpg_large.d{k}.{key}"] = torch.from_numpy(np.asarray(im.convert(mode)).copy())
    big = torch.from_numpy(np.asarray(Image.open(files["png_big"]).convert("RGB")).copy()).permute(2, 0, 1)
    r = TF.resize(big, [40], antialias=True)  # uint8 in, uint8 out: torchvision's uint8 kernel
    out["png_big.resize40_crop32"] = TF.center_crop(r, [32])
    return refs_file.save(out, out_dir, "images.safetensors", _META)


def main(argv=None) -> int:
    return refs_file.main(make, "images.safetensors", __doc__,
                          f"Pillow {PIL.__version__}, torchvision {torchvision.__version__}", argv)


if __name__ == "__main__":
    sys.exit(main())
