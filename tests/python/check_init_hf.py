#!/usr/bin/env python3
"""Checks what example 02 wrote after `--init <Hugging Face BERT, RoBERTa or GPT-2 directory> --max-steps 0`:
the model it continued from, unchanged, in both of its outputs.

Usage: python3 check_init_hf.py --checkpoint DIR --out OUT

OUT/hf (the Hugging Face directory 02 writes) is loaded with AutoModelForMaskedLM, no tensor missing,
unexpected or of another shape, and must give the logits of DIR's model (transformers, the same
random ids with a padded row) within 1e-5 of the largest |logit|; its config.json must hold DIR's
sizes, eps, positions, token types and pad id, and its vocab.txt DIR's (a RoBERTa: OUT/hf's and OUT's
vocab.json + merges.txt, read by transformers, must give the ids DIR's tokenizer gives on a set of texts).
OUT/config.json (02's model folder, which examples 03 and 04 read) must say the same sizes, eps and
positions (a RoBERTa: its padding positions and its byte-level BPE too).
A GPT-2 (GPT2LMHeadModel) the same way, with AutoModelForCausalLM on unpadded ids and GPT-2's config
fields (bos and eos ids too); its folder must say method gpt, pre-norm and the byte-level BPE.
"""
import argparse
import json
import os
import sys

import torch

torch.set_num_threads(1)
import transformers as T  # noqa: E402

# transformers' defaults of fields a config.json may leave out (transformers 5 has no attribute for some).
DEFAULTS = {"position_embedding_type": "absolute", "type_vocab_size": 2, "layer_norm_eps": 1e-12,
            "hidden_act": "gelu", "pad_token_id": 0}
FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size",
          "max_position_embeddings", "type_vocab_size", "layer_norm_eps", "hidden_act", "pad_token_id",
          "position_embedding_type")
# 02's model folder (examples/common/model_config.hpp) -> the Hugging Face field it must equal.
FOLDER = {"vocab_size": "vocab_size", "dim": "hidden_size", "depth": "num_hidden_layers",
          "heads": "num_attention_heads", "mlp_hidden": "intermediate_size", "positions": "max_position_embeddings",
          "type_vocab": "type_vocab_size", "eps": "layer_norm_eps"}
GPT2_FIELDS = ("vocab_size", "n_embd", "n_layer", "n_head", "n_inner", "n_positions", "layer_norm_epsilon",
               "activation_function", "bos_token_id", "eos_token_id", "pad_token_id", "tie_word_embeddings")
GPT2_FOLDER = {"vocab_size": "vocab_size", "dim": "n_embd", "depth": "n_layer", "heads": "n_head",
               "mlp_hidden": "n_inner", "positions": "n_positions", "eps": "layer_norm_epsilon"}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", required=True, help="the Hugging Face directory 02 was given as --init")
    ap.add_argument("--out", required=True, help="02's --out")
    args = ap.parse_args()
    T.logging.set_verbosity_error()
    errors = []
    written = os.path.join(args.out, "hf")
    with open(os.path.join(args.checkpoint, "config.json")) as f:
        gpt2 = json.load(f).get("model_type") == "gpt2"
    auto = T.AutoModelForCausalLM if gpt2 else T.AutoModelForMaskedLM
    ref = auto.from_pretrained(args.checkpoint).eval()
    got, info = auto.from_pretrained(written, output_loading_info=True)
    got.eval()
    for k in ("missing_keys", "unexpected_keys", "mismatched_keys"):
        if info.get(k):
            errors.append(f"{written}: {k}: {sorted(info[k])}")
    with open(os.path.join(args.checkpoint, "config.json")) as f:
        cref = json.load(f)
    with open(os.path.join(written, "config.json")) as f:
        cgot = json.load(f)
    for k in GPT2_FIELDS if gpt2 else FIELDS:
        a, b = cref.get(k, getattr(ref.config, k, DEFAULTS.get(k))), cgot.get(k)
        if a != b:
            errors.append(f"{written}/config.json: {k} is {b!r}, the checkpoint's {a!r}")
    with open(os.path.join(args.out, "config.json")) as f:
        folder = json.load(f)
    for ours, theirs in (GPT2_FOLDER if gpt2 else FOLDER).items():
        want = cref.get(theirs, getattr(ref.config, theirs, DEFAULTS.get(theirs)))
        if folder.get(ours) != want:
            errors.append(f"{args.out}/config.json: {ours} is {folder.get(ours)!r}, the checkpoint's {theirs} {want!r}")
    if cref.get("model_type") in ("roberta", "gpt2"):
        want = (("method", "gpt"), ("norm_first", True), ("tokenizer", "bpe")) if gpt2 else \
            (("padding_positions", True), ("tokenizer", "bpe"))
        for k, v in want:
            if folder.get(k) != v:
                errors.append(f"{args.out}/config.json: {k} is {folder.get(k)!r}, expected {v!r}")
        tref = T.AutoTokenizer.from_pretrained(args.checkpoint)
        # Both folders have vocab.json + merges.txt and a tokenizer_config.json naming RobertaTokenizer
        # (GPT2Tokenizer).
        toks = {d: T.AutoTokenizer.from_pretrained(d) for d in (written, args.out)}
        texts = ["A bird in the hand is worth two in the <mask>.", "  leading spaces,\ttabs\nand newlines ",
                 "Numbers 12345 and punctuation!?", "caf\u00e9 na\u00efve \u4e2d\u6587 \U0001F600", "<s>x</s><pad>",
                 "one<|endoftext|>two"]
        for d, t in toks.items():
            for text in texts:
                if t(text)["input_ids"] != tref(text)["input_ids"]:
                    errors.append(f"{d}: the tokenizer gives {t(text)['input_ids']} for {text!r}, the checkpoint's "
                                  f"{tref(text)['input_ids']}")
    else:
        for d in (written, args.out):
            with open(os.path.join(args.checkpoint, "vocab.txt")) as f, open(os.path.join(d, "vocab.txt")) as g:
                if f.read().split("\n") != g.read().split("\n"):
                    errors.append(f"{d}/vocab.txt differs from the checkpoint's")
    torch.manual_seed(0)
    ids = torch.randint(5, ref.config.vocab_size, (2, 16))
    mask = torch.ones_like(ids)
    if not gpt2:  # GPT-2 has no padding id
        ids[1, 12:] = ref.config.pad_token_id
        mask[1, 12:] = 0
    with torch.no_grad():
        a = ref(input_ids=ids, attention_mask=mask).logits
        b = got(input_ids=ids, attention_mask=mask).logits
    err, scale = (a - b).abs().max().item(), a.abs().max().item()
    print(f"{written}: max abs logit difference to {args.checkpoint} {err:.3g} (max |logit| {scale:.3g})")
    if err > 1e-5 * scale:
        errors.append(f"logits differ by {err} > 1e-5 x {scale}")
    for e in errors:
        print("FAIL", e)
    print(f"{len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
