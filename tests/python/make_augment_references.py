#!/usr/bin/env python3
"""Generate augmentation parity references (torchvision.transforms.v2.functional) for libssl.

Usage: python3 make_augment_references.py --out DIR

Writes DIR/augment.safetensors. Each case stores a batch, one parameter per image, and the
output of torchvision's functional op applied image by image (a Python loop) with that image's
parameter; the C++ suite `augment_parity` applies the batched op of include/ssl/augment/ops.hpp
with all parameters at once and compares. Images are float32 in [0,1]. Deterministic:
torch.manual_seed(0) once, 1 CPU thread. Fails (exit 1) when torchvision is missing.

Cases (B images per batch; "x3" RGB, "x1" one channel):
  rc3.x [6,3,32,40], rc3.{top,left,height,width} [6] int64: boxes from the full image to 1x3,
      non-square, at the borders. rc3.out.<oh>x<ow>.aa<0|1> = resized_crop(x, box, [oh, ow],
      antialias) for (oh, ow) in (16, 12) (all boxes shrink or keep), (48, 56) (all grow) and
      (20, 20) (mixed per image and per axis), antialias True and False.
  rc1.x [5,1,28,28] with its boxes: rc1.out.28x28.aa<0|1>, rc1.out.12x12.aa<0|1>
      (the RandomResizedCrop sizes of the 28-px recipes).
  hflip.x [5,3,16,16], hflip.mask [5] bool -> hflip.out (flipped where mask).
  color.x3 [6,3,20,24] (random, with gray pixels r=g=b and ties max=r=g / max=g=b planted),
  color.x1 [6,1,20,24]:
      brightness.factor [6] -> brightness.out   adjust_brightness(x3)
      contrast.factor   [6] -> contrast.out3, contrast.out1   adjust_contrast(x3), (x1)
      saturation.factor [6] -> saturation.out   adjust_saturation(x3)
      hue.factor        [6] -> hue.out          adjust_hue(x3) (factors -0.5 .. 0.5)
      gray.out1, gray.out3                      rgb_to_grayscale(x3, 1 | 3)
  blur.x [4,3,64,64], blur.x1 [4,1,64,64], blur.sigma [4] (0.1 .. 3):
      blur.k<3|5|23>.out = gaussian_blur(x, [k, k], [sigma, sigma]); blur.k5.out1 on x1.
  solarize.x [6,3,16,16], solarize.mask [6] bool -> solarize.t050.out, solarize.t030.out
      (solarize(x, threshold) where mask, x elsewhere).
  normalize.x [3,3,8,8] -> normalize.out with ImageNet's mean/std.
"""
import sys

import torch

torch.set_num_threads(1)

try:
    import torchvision  # noqa: E402
    import torchvision.transforms.v2.functional as F  # noqa: E402
except Exception as exc:  # never a skip: the parity test must fail without its references
    sys.exit(f"make_augment_references: torchvision is required ({type(exc).__name__}: {exc}); "
             f"run scripts/setup.sh (requirements-dev.txt into the project's .venv)")
import refs_file  # noqa: E402

_META = {"generator": f"make_augment_references.py torchvision={torchvision.__version__} torch={torch.__version__}"}
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


def per_image(fn, x, *params):
    """torchvision's op image by image, each with its own parameters."""
    return torch.stack([fn(x[b], *(p[b] for p in params)) for b in range(x.shape[0])])


def boxes(rows):
    t = torch.tensor(rows, dtype=torch.int64)
    return {k: t[:, i].contiguous() for i, k in enumerate(("top", "left", "height", "width"))}


def resized_crops(out, case, x, bx, sizes):
    out[f"{case}.x"] = x
    out.update({f"{case}.{k}": v for k, v in bx.items()})
    for oh, ow in sizes:
        for aa in (True, False):
            out[f"{case}.out.{oh}x{ow}.aa{int(aa)}"] = per_image(
                lambda img, t, l, h, w: F.resized_crop(img, int(t), int(l), int(h), int(w), [oh, ow], antialias=aa),
                x, bx["top"], bx["left"], bx["height"], bx["width"])


def color_batch(c):
    x = torch.rand(6, c, 20, 24)
    if c == 3:
        x[:, :, :3, :] = x[:, :1, :3, :]              # gray pixels: r = g = b (hue undefined)
        x[:, 1, 3:5, :] = x[:, 0, 3:5, :].clamp(min=0.5)  # ties max = r = g
        x[:, 0, 3:5, :] = x[:, 1, 3:5, :]
        x[:, 2, 5:7, :] = x[:, 1, 5:7, :].clamp(min=0.6)  # ties max = g = b
        x[:, 1, 5:7, :] = x[:, 2, 5:7, :]
        x[0, :, 7, 0] = torch.tensor([1.0, 0.0, 0.0])     # pure colours, black, white
        x[0, :, 7, 1] = torch.tensor([0.0, 1.0, 0.0])
        x[0, :, 7, 2] = torch.tensor([0.0, 0.0, 1.0])
        x[0, :, 7, 3] = 0.0
        x[0, :, 7, 4] = 1.0
    return x


def make(out_dir):
    torch.manual_seed(0)
    out = {}

    # resized_crop: every box shrinks to 16x12 and grows to 48x56; 20x20 mixes both
    bx = boxes([[0, 0, 32, 40], [3, 5, 20, 17], [10, 2, 7, 9], [0, 20, 32, 20], [5, 5, 1, 3], [14, 30, 18, 10]])
    resized_crops(out, "rc3", torch.rand(6, 3, 32, 40), bx, [(16, 12), (48, 56), (20, 20)])
    bx = boxes([[0, 0, 28, 28], [2, 3, 20, 25], [10, 10, 5, 7], [0, 14, 28, 14], [6, 1, 13, 9]])
    resized_crops(out, "rc1", torch.rand(5, 1, 28, 28), bx, [(28, 28), (12, 12)])

    x = torch.rand(5, 3, 16, 16)
    mask = torch.tensor([True, False, True, True, False])
    out["hflip.x"], out["hflip.mask"] = x, mask
    out["hflip.out"] = per_image(lambda img, m: F.horizontal_flip(img) if m else img, x, mask)

    x3, x1 = color_batch(3), color_batch(1)
    out["color.x3"], out["color.x1"] = x3, x1
    factors = {
        "brightness": [0.0, 0.5, 1.0, 1.3, 1.8, 2.5],
        "contrast": [0.0, 0.4, 1.0, 1.2, 1.8, 3.0],
        "saturation": [0.0, 0.3, 1.0, 1.4, 1.8, 4.0],
        "hue": [-0.5, -0.3, -0.05, 0.0, 0.2, 0.5],
    }
    for k, v in factors.items():
        out[f"{k}.factor"] = torch.tensor(v, dtype=torch.float32)
    fs = {k: [float(f) for f in out[f"{k}.factor"]] for k in factors}
    out["brightness.out"] = per_image(F.adjust_brightness, x3, fs["brightness"])
    out["contrast.out3"] = per_image(F.adjust_contrast, x3, fs["contrast"])
    out["contrast.out1"] = per_image(F.adjust_contrast, x1, fs["contrast"])
    out["saturation.out"] = per_image(F.adjust_saturation, x3, fs["saturation"])
    out["hue.out"] = per_image(F.adjust_hue, x3, fs["hue"])
    out["gray.out1"] = F.rgb_to_grayscale(x3, num_output_channels=1)
    out["gray.out3"] = F.rgb_to_grayscale(x3, num_output_channels=3)

    x, x1 = torch.rand(4, 3, 64, 64), torch.rand(4, 1, 64, 64)
    sigma = torch.tensor([0.1, 0.7, 1.5, 3.0])
    out["blur.x"], out["blur.x1"], out["blur.sigma"] = x, x1, sigma
    for k in (3, 5, 23):
        out[f"blur.k{k}.out"] = per_image(lambda img, s: F.gaussian_blur(img, [k, k], [float(s), float(s)]), x, sigma)
    out["blur.k5.out1"] = per_image(lambda img, s: F.gaussian_blur(img, [5, 5], [float(s), float(s)]), x1, sigma)

    x = torch.rand(6, 3, 16, 16)
    mask = torch.tensor([True, False, True, False, True, True])
    out["solarize.x"], out["solarize.mask"] = x, mask
    for name, t in (("t050", 0.5), ("t030", 0.3)):
        out[f"solarize.{name}.out"] = per_image(lambda img, m: F.solarize(img, t) if m else img, x, mask)

    x = torch.rand(3, 3, 8, 8)
    out["normalize.x"] = x
    out["normalize.out"] = F.normalize(x, IMAGENET_MEAN, IMAGENET_STD)

    return refs_file.save(out, out_dir, "augment.safetensors", _META)


def main(argv=None) -> int:
    return refs_file.main(make, "augment.safetensors", __doc__, f"torchvision {torchvision.__version__}, torch {torch.__version__}", argv)


if __name__ == "__main__":
    sys.exit(main())
