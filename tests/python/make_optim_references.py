#!/usr/bin/env python3
"""Generate optimizer parity references for the libssl C++ tests.

Usage: python3 make_optim_references.py --out DIR

Writes DIR/optim.safetensors (float32 but lars<k>.*, torch.manual_seed(0), 1 CPU thread):
  w.<name>           initial parameters: "weight" [6, 5] (decayed), "bias" [6] (not decayed),
                     "zero" [3, 4] all zeros (a weight whose norm is 0: LARS leaves it unscaled)
  g<k>.<name>        the gradient given at step k (k = 0..3)
  lars<k>.<name>     parameters after step k of lightly.utils.lars.LARS(lr=0.3, momentum=0.9,
                     trust_coefficient=0.001, eps=1e-8) over two groups: {weight, zero} with
                     weight_decay 1e-4, {bias} with weight_decay 0 (lightly's recommended use);
                     run and stored in float64 (from the float32 w.* and g<k>.*), so that the
                     per-step deltas lars<k> - lars<k-1> are exact to ~1e-12 of their size and
                     the weight decay's share of each update (~1e-4) is far above the test's tolerance
  adamw<k>.<name>    parameters after step k of torch.optim.AdamW(lr=1e-2, betas=(0.9, 0.999),
                     eps=1e-8) with weight_decay 0.05 on {weight, zero} and 0 on {bias}
"""
import sys

import torch

torch.set_num_threads(1)

import lightly  # noqa: E402
from lightly.utils.lars import LARS  # noqa: E402
import refs_file  # noqa: E402

STEPS = 4


def make(out_dir):
    torch.manual_seed(0)
    init = {"weight": torch.randn(6, 5), "bias": torch.randn(6) * 0.1, "zero": torch.zeros(3, 4)}
    grads = [{k: torch.randn_like(v) * (0.5 + k_) for k, v in init.items()} for k_ in range(STEPS)]
    out = {f"w.{k}": v.clone() for k, v in init.items()}
    for k_, g in enumerate(grads):
        out.update({f"g{k_}.{k}": v.clone() for k, v in g.items()})

    def run(prefix, make, dtype=torch.float32):
        params = {k: torch.nn.Parameter(v.clone().to(dtype)) for k, v in init.items()}
        opt = make(params)
        for k_, g in enumerate(grads):
            for name, p in params.items():
                p.grad = g[name].clone().to(dtype)
            opt.step()
            out.update({f"{prefix}{k_}.{n}": p.detach().clone() for n, p in params.items()})

    run("lars", lambda p: LARS([{"params": [p["weight"], p["zero"]], "weight_decay": 1e-4},
                                {"params": [p["bias"]], "weight_decay": 0.0}],
                               lr=0.3, momentum=0.9, trust_coefficient=0.001, eps=1e-8), torch.float64)
    run("adamw", lambda p: torch.optim.AdamW([{"params": [p["weight"], p["zero"]], "weight_decay": 0.05},
                                              {"params": [p["bias"]], "weight_decay": 0.0}],
                                             lr=1e-2, betas=(0.9, 0.999), eps=1e-8))
    return refs_file.save(out, out_dir, "optim.safetensors",
                          {"generator": f"make_optim_references.py lightly={lightly.__version__} torch={torch.__version__}"})


def main(argv=None) -> int:
    return refs_file.main(make, "optim.safetensors", __doc__, f"lightly {lightly.__version__}, torch {torch.__version__}", argv)


if __name__ == "__main__":
    sys.exit(main())
