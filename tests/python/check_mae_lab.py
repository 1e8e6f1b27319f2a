#!/usr/bin/env python3
"""Example 00's MAE lab (--hf) against transformers, and the pretrained directories examples 00, 05
and 06 write into <out>/hf loaded by transformers / torchvision (entry example_hf_read).

Usage: python3 check_mae_lab.py [--lab OUT DIR ...] [--load DIR ...]

--lab OUT DIR: the lab's --out (metrics.json, lab.safetensors, reconstruction.png), run on the
ViTMAEForPreTraining directory DIR. transformers' ViTMAEForPreTraining loaded from DIR, with the
mask ratio the lab used, on the lab's pixel_values and noise must give its loss (metrics.json,
within 1e-5 relative), its logits (within 1e-5 of the largest) and its mask; the mask statistics in
metrics.json must be those of that mask.
--load: a directory an example wrote: a Hugging Face one (config.json's model_type) is loaded with
transformers' AutoModel / AutoModelForPreTraining, a torchvision one ("library": "torchvision") with
torchvision's ResNet built as its config says; no tensor may be missing (but a ResNet's fc),
unexpected or of another shape, and the model must run on an input of the config's size.
Fails (exit 1) on any difference or a missing file; never skips.
"""
import argparse
import json
import os
import sys

import torch

torch.set_num_threads(1)
import transformers as T  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from check_hf_saved import torchvision_resnet  # noqa: E402


def check_lab(lab, hf):
    print(f"lab {lab} on {hf}:")
    errors = []
    with open(os.path.join(lab, "metrics.json")) as f:
        m = json.load(f)
    io = load_file(os.path.join(lab, "lab.safetensors"))
    if not os.path.getsize(os.path.join(lab, "reconstruction.png")):
        errors.append("reconstruction.png is empty")
    model = T.ViTMAEForPreTraining.from_pretrained(hf).eval()
    model.config.mask_ratio = m["mask_ratio_requested"]
    with torch.no_grad():
        o = model(pixel_values=io["pixel_values"], noise=io["noise"])
    loss, ref = o.loss.item(), m["loss"]
    print(f"lab: transformers' loss {loss:.8f}, example 00's {ref:.8f} (norm_pix_loss {model.config.norm_pix_loss}, "
          f"mask ratio {model.config.mask_ratio})")
    if abs(loss - ref) > 1e-5 * max(1.0, abs(ref)):
        errors.append(f"loss {ref} != transformers' {loss}")
    if m["norm_pix_loss"] != model.config.norm_pix_loss:
        errors.append(f"norm_pix_loss {m['norm_pix_loss']} != the config's {model.config.norm_pix_loss}")
    err = (o.logits - io["logits"]).abs().max().item()
    if err > 1e-5 * io["logits"].abs().max().item() + 1e-8:
        errors.append(f"logits: max abs error {err}")
    if not torch.equal(o.mask, io["mask"]):
        errors.append("mask differs from transformers'")
    hidden = o.mask.sum(1).long().tolist()
    n = o.mask.shape[1]
    want = {"images": o.mask.shape[0], "num_patches": n, "hidden_patches_per_image": hidden,
            "visible_patches_per_image": [n - h for h in hidden]}
    for k, v in want.items():
        if m[k] != v:
            errors.append(f"metrics.json {k} {m[k]} != {v}")
    if abs(m["mask_ratio_measured"] - o.mask.float().mean().item()) > 1e-6:
        errors.append(f"mask_ratio_measured {m['mask_ratio_measured']} != {o.mask.float().mean().item()}")
    print(f"lab: {want['images']} images, {hidden[0]} of {n} patches hidden each, logits max abs error {err:.3g}")
    return [f"lab: {e}" for e in errors]


def check_load(d):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    errors = []
    if cfg.get("library") == "torchvision":
        m = torchvision_resnet(cfg)
        res = m.load_state_dict(load_file(os.path.join(d, "model.safetensors")), strict=False)
        if sorted(res.missing_keys) != ["fc.bias", "fc.weight"] or res.unexpected_keys:
            errors.append(f"missing {sorted(res.missing_keys)}, unexpected {sorted(res.unexpected_keys)}")
        m.fc = torch.nn.Identity()
        size = 32 if cfg["small_stem"] else 64
        with torch.no_grad():
            out = m.eval()(torch.randn(2, cfg["num_channels"], size, size))
        kind, shape = f"torchvision {cfg['architecture']}", tuple(out.shape)
        if shape != (2, cfg["feature_dim"]):
            errors.append(f"features of shape {shape}, expected (2, {cfg['feature_dim']})")
    else:
        arch = cfg["architectures"][0]
        auto, extra = (T.AutoModelForPreTraining, {}) if arch == "ViTMAEForPreTraining" else \
            (T.AutoModel, {"add_pooling_layer": False})
        m, info = auto.from_pretrained(d, output_loading_info=True, **extra)
        errors += [f"{k}: {sorted(info[k])}" for k in ("missing_keys", "unexpected_keys", "mismatched_keys") if info.get(k)]
        if type(m).__name__ != arch:
            errors.append(f"loaded as {type(m).__name__}, expected {arch}")
        x = torch.randn(2, cfg["num_channels"], cfg["image_size"], cfg["image_size"])
        with torch.no_grad():
            o = m.eval()(pixel_values=x)
        kind = arch
        shape = tuple((o.logits if arch == "ViTMAEForPreTraining" else o.last_hidden_state).shape)
        if not all(torch.isfinite(v).all() for v in o.values() if torch.is_tensor(v)):
            errors.append("non-finite outputs")
    print(f"{d}: {kind} loaded, output {shape}")
    return [f"{d}: {e}" for e in errors]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lab", nargs=2, action="append", default=[], metavar=("OUT", "DIR"))
    ap.add_argument("--load", nargs="*", default=[])
    args = ap.parse_args()
    T.logging.set_verbosity_error()
    errors = []
    for out, hf in args.lab:
        errors += check_lab(out, hf)
    for d in args.load:
        if not os.path.exists(os.path.join(d, "config.json")):
            errors.append(f"{d}: no config.json (the example wrote no directory)")
            continue
        errors += check_load(d)
    for e in errors:
        print("FAIL", e)
    print(f"{len(args.lab) + len(args.load)} checked, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
