#!/usr/bin/env python3
"""Run several reference generators in one Python process (torch, transformers, lightly and
torchvision are imported once instead of once per generator).

Usage: python3 make_references.py --out DIR make_vit_references make_loss_references ...

Each name is a generator script of this folder (without `.py`); its `main(["--out", DIR])` runs
as `python3 <name>.py --out DIR` would: before each, the random states (torch's default
generator, NumPy's, Python's) are put back to what a fresh process starts with, and torch's
default dtype, grad mode and thread count are restored. Every generator runs even when one fails;
the exit status is 1 if any failed (each failure is named).
"""
import argparse
import importlib
import os
import random
import sys
import time
import traceback

import numpy as np
import torch

torch.set_num_threads(1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output directory (created if missing)")
    ap.add_argument("names", nargs="+", help="generator scripts of this folder, without .py")
    args = ap.parse_args(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path.insert(0, here)
    for name in args.names:
        if not os.path.isfile(os.path.join(here, name + ".py")):
            print(f"make_references: no generator '{name}' ({os.path.join(here, name + '.py')} does not exist)")
            return 2
    # A fresh process's states, taken before any generator draws.
    fresh = (torch.get_rng_state(), np.random.get_state(), random.getstate(), torch.get_default_dtype(),
             torch.is_grad_enabled(), torch.get_num_threads())
    failed = []
    for name in args.names:
        torch.set_rng_state(fresh[0])
        np.random.set_state(fresh[1])
        random.setstate(fresh[2])
        torch.set_default_dtype(fresh[3])
        torch.set_grad_enabled(fresh[4])
        torch.set_num_threads(fresh[5])
        start = time.perf_counter()
        try:
            rc = importlib.import_module(name).main(["--out", args.out])
        except SystemExit as e:  # argparse and explicit exits
            rc = e.code if isinstance(e.code, int) else 1
        except Exception:  # noqa: BLE001: report it, run the others
            traceback.print_exc()
            rc = 1
        print(f"make_references: {name}: {'ok' if not rc else f'FAILED ({rc})'} in {time.perf_counter() - start:.1f} s",
              flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"make_references: {len(failed)} of {len(args.names)} generators failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
