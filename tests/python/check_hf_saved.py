#!/usr/bin/env python3
"""Loads the checkpoint directories libssl wrote (tests/test_hf.cpp, suite hf_parity) with
transformers and checks that they give libssl's outputs.

Usage: python3 check_hf_saved.py --dir DIR

For each case <c>, DIR/hf_saved/<c>/ is loaded with the Auto class of its architecture
(`from_pretrained`, output_loading_info): no tensor may be missing, unexpected or of another shape,
config.json must name the architecture, and the model's output on the inputs of
DIR/hf_saved/<c>.io.safetensors must equal libssl's `logits` there within 1e-5 (max abs error
relative to the largest |logit|, as the C++ parity checks; a BertModel's last hidden state, and its
pooler output against `pooled`). One process for all cases.
"""
import argparse
import json
import os
import sys

import torch

torch.set_num_threads(1)
import transformers as T  # noqa: E402
from safetensors.torch import load_file  # noqa: E402

TOKENIZER_TEXT = "W7 w9s42 w11, w99 unknown hello world<|endoftext|>"  # as tests/test_hf.cpp's kTokenizerText
# case -> (Auto class, architecture, extra from_pretrained arguments)
CASES = {
    "bert": (T.AutoModelForMaskedLM, "BertForMaskedLM", {}),
    "bert_sharded": (T.AutoModelForMaskedLM, "BertForMaskedLM", {}),
    "bert_fp16": (T.AutoModelForMaskedLM, "BertForMaskedLM", {}),
    "bert_model": (T.AutoModel, "BertModel", {}),
    "roberta": (T.AutoModelForMaskedLM, "RobertaForMaskedLM", {}),
    "electra_gen": (T.AutoModelForMaskedLM, "ElectraForMaskedLM", {}),
    "electra_disc": (T.AutoModelForPreTraining, "ElectraForPreTraining", {}),
    "gpt2": (T.AutoModelForCausalLM, "GPT2LMHeadModel", {}),
    "vit": (T.AutoModel, "ViTModel", {"add_pooling_layer": False}),
    "vit_mae_encoder": (T.AutoModel, "ViTModel", {"add_pooling_layer": False}),
}


def check(d, case):
    auto, arch, extra = CASES[case]
    path = os.path.join(d, "hf_saved", case)
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    errors = []
    if cfg.get("architectures") != [arch]:
        errors.append(f"config.json architectures {cfg.get('architectures')} != [{arch}]")
    model, info = auto.from_pretrained(path, output_loading_info=True, **extra)
    if type(model).__name__ != arch:
        errors.append(f"loaded as {type(model).__name__}, expected {arch}")
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        if info.get(k):
            errors.append(f"{k}: {sorted(info[k])}")
    model.eval()
    io = load_file(os.path.join(d, "hf_saved", f"{case}.io.safetensors"))
    with torch.no_grad():
        if "pixel_values" in io:
            out = model(pixel_values=io["pixel_values"]).last_hidden_state
        else:
            o = model(input_ids=io["input_ids"], attention_mask=io["attention_mask"])
            out = o.logits if "logits" in o else o.last_hidden_state  # BertModel: its last hidden state
            if "pooled" in io:  # and its pooler's output
                err = (o.pooler_output - io["pooled"]).abs().max().item()
                print(f"{case}: pooler output max abs error {err:.3g}")
                if err > 1e-5 * io["pooled"].abs().max().item() + 1e-8:
                    errors.append(f"pooler output max abs error {err}")
    if "token_ids" in io:  # libssl's WordPiece / BPE files: transformers' tokenizer gives libssl's ids
        tok = T.AutoTokenizer.from_pretrained(path)
        ids = tok(TOKENIZER_TEXT)["input_ids"]
        print(f"{case}: {type(tok).__name__} ids {ids}")
        if ids != io["token_ids"].tolist():
            errors.append(f"tokenizer ids {ids} != libssl's {io['token_ids'].tolist()}")
    ref = io["logits"]
    if out.shape != ref.shape:
        errors.append(f"output shape {tuple(out.shape)} != libssl's {tuple(ref.shape)}")
    else:
        err = (out.double() - ref.double()).abs().max().item()
        scale = ref.abs().max().item()
        print(f"{case}: {arch}, max abs error {err:.3g} (max |logit| {scale:.3g})")
        if err > 1e-5 * scale + 1e-8:
            errors.append(f"max abs error {err} > 1e-5 x {scale}")
    return [f"{case}: {e}" for e in errors]


# ---- Whole ViT-MAEs and ResNets (torchvision names) --------------------------------------------
# Also checked, after the cases above: whole ViT-MAEs (DIR/hf_saved/vit_mae*) and ResNets libssl
# wrote with torchvision's names (DIR/hf_saved/resnet*).
# ViTMAEForPreTraining directories: transformers' logits, mask and loss for libssl's `noise` must
# equal libssl's (loss within 1e-5, relative).
MAE_CASES = ["vit_mae", "vit_mae_norm_pix"]
# ResNets with torchvision's names (config.json "library": "torchvision"): torchvision's ResNet built
# as the config says loads them with strict=False, only fc.* missing, and gives libssl's pooled features.
TORCHVISION_CASES = ["resnet18_small_c3", "resnet50_std_c1"]


def close(out, ref, what):
    if out.shape != ref.shape:
        return [f"{what}: shape {tuple(out.shape)} != libssl's {tuple(ref.shape)}"]
    err = (out.double() - ref.double()).abs().max().item()
    scale = max(ref.abs().max().item(), 1e-30)
    print(f"  {what}: max abs error {err:.3g} (max |ref| {scale:.3g})")
    return [] if err <= 1e-5 * scale + 1e-8 else [f"{what}: max abs error {err} > 1e-5 x {scale}"]


def check_mae(d, case):
    path = os.path.join(d, "hf_saved", case)
    model, info = T.AutoModelForPreTraining.from_pretrained(path, output_loading_info=True)
    errors = [f"{k}: {sorted(info[k])}" for k in ("missing_keys", "unexpected_keys", "mismatched_keys") if info.get(k)]
    if type(model).__name__ != "ViTMAEForPreTraining":
        errors.append(f"loaded as {type(model).__name__}, expected ViTMAEForPreTraining")
    io = load_file(os.path.join(d, "hf_saved", f"{case}.io.safetensors"))
    print(f"{case}: ViTMAEForPreTraining, norm_pix_loss {model.config.norm_pix_loss}, mask_ratio {model.config.mask_ratio}")
    with torch.no_grad():
        o = model.eval()(pixel_values=io["pixel_values"], noise=io["noise"])
    errors += close(o.logits, io["logits"], "logits")
    if not torch.equal(o.mask.float(), io["mask"]):
        errors.append("mask differs from libssl's")
    errors += close(o.loss.reshape(1), io["loss"], "loss")
    return [f"{case}: {e}" for e in errors]


def torchvision_resnet(cfg):
    """torchvision's ResNet as a libssl config.json describes it (base width, stem, channels), fc kept."""
    from torch import nn
    import torchvision
    from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
    block = {"BasicBlock": BasicBlock, "Bottleneck": Bottleneck}[cfg["block"]]
    width = cfg["width"]

    class Scaled(ResNet):  # stem `width` channels, stages width, 2w, 4w, 8w planes (torchvision: 64)
        def __init__(self):
            super().__init__(block, cfg["layers"])
            self.bn1 = nn.BatchNorm2d(width)

        def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
            if planes == 64:
                self.inplanes = width
            return super()._make_layer(block, planes * width // 64, blocks, stride, dilate)

    m = getattr(torchvision.models, cfg["architecture"])() if width == 64 else Scaled()
    c = cfg["num_channels"]
    if cfg["small_stem"]:
        m.conv1 = nn.Conv2d(c, width, kernel_size=3, stride=1, padding=1, bias=False)
        m.maxpool = nn.Identity()
    else:
        m.conv1 = nn.Conv2d(c, width, kernel_size=7, stride=2, padding=3, bias=False)
    return m


def check_torchvision(d, case):
    path = os.path.join(d, "hf_saved", case)
    with open(os.path.join(path, "config.json")) as f:
        cfg = json.load(f)
    errors = []
    if cfg.get("library") != "torchvision":
        errors.append(f"config.json library {cfg.get('library')!r} != 'torchvision'")
    m = torchvision_resnet(cfg)
    res = m.load_state_dict(load_file(os.path.join(path, "model.safetensors")), strict=False)
    print(f"{case}: torchvision {cfg['architecture']}, width {cfg['width']}, small_stem {cfg['small_stem']}, "
          f"missing {sorted(res.missing_keys)}")
    if sorted(res.missing_keys) != ["fc.bias", "fc.weight"]:
        errors.append(f"missing keys {sorted(res.missing_keys)} != ['fc.bias', 'fc.weight']")
    if res.unexpected_keys:
        errors.append(f"unexpected keys {sorted(res.unexpected_keys)}")
    m.fc = torch.nn.Identity()
    io = load_file(os.path.join(d, "hf_saved", f"{case}.io.safetensors"))
    with torch.no_grad():
        out = m.eval()(io["pixel_values"])
    if out.shape[1] != cfg["feature_dim"]:
        errors.append(f"feature_dim {cfg['feature_dim']} != torchvision's {out.shape[1]}")
    errors += close(out, io["pooled"], "pooled features")
    return [f"{case}: {e}" for e in errors]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True, help="the references directory ($SSL_REFS)")
    args = ap.parse_args()
    T.logging.set_verbosity_error()
    errors = []
    for case in CASES:
        if not os.path.isdir(os.path.join(args.dir, "hf_saved", case)):
            errors.append(f"{case}: libssl wrote no directory {os.path.join(args.dir, 'hf_saved', case)}")
            continue
        errors += check(args.dir, case)
    for checker, cases in ((check_mae, MAE_CASES), (check_torchvision, TORCHVISION_CASES)):
        for case in cases:
            if not os.path.isdir(os.path.join(args.dir, "hf_saved", case)):
                errors.append(f"{case}: libssl wrote no directory {os.path.join(args.dir, 'hf_saved', case)}")
                continue
            errors += checker(args.dir, case)
    for e in errors:
        print("FAIL", e)
    print(f"{len(CASES) + len(MAE_CASES) + len(TORCHVISION_CASES)} checkpoints checked, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
