"""Shared by the reference generators that write one safetensors file: the save and the command line
(`--out DIR`)."""
import argparse
import os

from safetensors.torch import save_file


def save(out: dict, out_dir: str, filename: str, meta: dict, dtype=None) -> dict:
    """Writes `out` (detached, contiguous; cast to `dtype` if given) to out_dir/filename; returns it."""
    clean = {k: (v.detach() if dtype is None else v.detach().to(dtype)).contiguous().clone() for k, v in out.items()}
    save_file(clean, os.path.join(out_dir, filename), metadata=meta)
    return clean


def main(make, filename: str, doc: str, versions: str, argv=None) -> int:
    """`--out DIR` (created if missing), then `make(DIR)`, which writes DIR/filename and returns its tensors."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--out", required=True, help="output directory (created if missing)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    refs = make(args.out)
    print(f"wrote {len(refs)} tensors to {os.path.join(args.out, filename)} ({versions})")
    return 0
