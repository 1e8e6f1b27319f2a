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
    for e in errors:
        print("FAIL", e)
    print(f"{len(CASES)} checkpoints checked, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
