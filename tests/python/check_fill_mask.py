#!/usr/bin/env python3
"""Example 03 on Hugging Face directories against transformers (entry fill_mask_hf_read).

Usage: python3 check_fill_mask.py --refs DIR --out DIR

For each case (lab_bert, lab_roberta: written by make_hf_references.py into DIR/hf/<case>), reads
the metrics.json example 03 wrote into OUT/<case> and, for every sentence in it, runs transformers
on the same directory: the tokenizer that AutoTokenizer builds from the saved files, then
AutoModelForMaskedLM's softmax at each mask position. The five ids and probabilities 03 printed
must be transformers' top five, in order, probabilities within 1e-5. Fails (exit 1) on any
difference or a missing file; never skips.
"""
import argparse
import json
import os
import sys

import torch

torch.set_num_threads(1)
import transformers as T  # noqa: E402


def check(case, model_dir, metrics_file):
    with open(metrics_file) as f:
        got = json.load(f)
    tok = T.AutoTokenizer.from_pretrained(model_dir)
    model = T.AutoModelForMaskedLM.from_pretrained(model_dir).eval()
    errors, compared = [], 0
    for entry in got["fill_mask"]:
        sentence = entry["sentence"].replace("[MASK]", tok.mask_token)
        ids = torch.tensor([tok(sentence)["input_ids"]])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0]
        where = (ids[0] == tok.mask_token_id).nonzero().flatten()
        probs = torch.softmax(logits[where], -1)
        p, i = probs.topk(5, -1)
        if len(entry["top5"]) != len(where):
            errors.append(f"{case}: '{entry['sentence']}': 03 gave {len(entry['top5'])} masks, transformers {len(where)}")
            continue
        for m, cands in enumerate(entry["top5"]):
            for r, c in enumerate(cands):
                compared += 1
                if c["id"] != int(i[m][r]) or abs(c["probability"] - float(p[m][r])) > 1e-5:
                    errors.append(f"{case}: '{entry['sentence']}' mask {m} rank {r + 1}: 03 gave id {c['id']} "
                                  f"p {c['probability']:.7f}, transformers id {int(i[m][r])} p {float(p[m][r]):.7f}")
    print(f"{case}: {len(got['fill_mask'])} sentences, {compared} candidates compared")
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--refs", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    errors = []
    for case in ("lab_bert", "lab_roberta"):
        metrics = os.path.join(a.out, case, "metrics.json")
        if not os.path.exists(metrics):
            errors.append(f"{case}: no {metrics} (example 03 did not run)")
            continue
        errors += check(case, os.path.join(a.refs, "hf", case), metrics)
    for e in errors:
        print("ERROR", e)
    print(f"transformers {T.__version__}: {'FAILED' if errors else 'ok'}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
