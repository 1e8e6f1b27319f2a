#!/usr/bin/env python3
"""CTest guard: verify the Python packages needed to generate parity references.

Exits 0 when torch, torchvision, transformers, safetensors, lightly, tensorboard and PIL (Pillow) are
all importable; otherwise
prints which ones are missing (and why) and exits 1, so that reference-based
tests FAIL instead of silently skipping.
"""
import importlib
import sys

REQUIRED = ("torch", "torchvision", "transformers", "safetensors", "lightly", "tensorboard", "PIL")


def main() -> int:
    missing = []
    versions = {}
    for name in REQUIRED:
        try:
            mod = importlib.import_module(name)
            versions[name] = getattr(mod, "__version__", "unknown")
        except Exception as exc:  # ImportError, or a broken install raising something else
            missing.append(f"{name} ({type(exc).__name__}: {exc})")
    if missing:
        print("check_env: missing Python packages required for reference generation:", file=sys.stderr)
        for m in missing:
            print(f"  - {m}", file=sys.stderr)
        print(f"check_env: interpreter = {sys.executable}", file=sys.stderr)
        print("check_env: run scripts/setup.sh (requirements-dev.txt into the project's .venv; the tests use .venv/bin/python)", file=sys.stderr)
        return 1
    print("check_env: OK " + " ".join(f"{k}={v}" for k, v in versions.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
