#!/usr/bin/env python3
"""CTest tensorboard_read: reads the event files that C++ wrote (suite tensorboard_write, fixture
tb_events) with TensorBoard's own readers and compares them with its expected.json.

For every run folder of expected.json:
  * every file is read record by record by tensorboard's event_file_loader (TFRecord lengths and
    masked CRC-32Cs checked by its reader), and its first event is file_version "brain.Event:2";
  * EventAccumulator (purging orphaned data, as TensorBoard does) gives exactly the expected scalars
    per tag: the same steps, each value equal to the expected float32 (-0.0 keeps its sign, NaN and
    infinities as such), and exactly the expected images: step, height, width, and every pixel of the
    PNG decoded by Pillow;
  * the data plugin path of the TensorBoard server (plugin_event_accumulator, scalars as tensors)
    gives the same scalars (it ignores the first SessionLog START of a run and purges at the later
    ones: every writer that may be resumed starts a session, as Trainer::fit does);
  * where expected.json lists orphaned steps (a resumed run), they are in the files (read without
    purging, they are there) and TensorBoard dropped them.
Exits 1 naming every difference.
"""
import argparse
import glob
import io
import json
import math
import os
import sys

import numpy as np
from PIL import Image
from tensorboard.backend.event_processing import event_accumulator, event_file_loader, plugin_event_accumulator
from tensorboard.util import tensor_util

errors = []


def fail(msg):
    errors.append(msg)


def f32(v):
    """An expected value of expected.json ("nan", "inf", "-inf" or a number) as a float32, as a float."""
    if isinstance(v, str):
        return float(v)
    return float(np.float32(v))


def same(a, b):
    """Bit-for-bit float equality: NaN equals NaN, -0.0 differs from 0.0."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def accumulate(cls, path, purge):
    acc = cls(path, size_guidance={"scalars": 0, "images": 0, "tensors": 0}, purge_orphaned_data=purge)
    acc.Reload()
    return acc


def check_files(run, path):
    files = sorted(glob.glob(os.path.join(path, "*tfevents*")))
    if not files:
        fail(f"{run}: no event file in {path}")
    for f in files:
        name = os.path.basename(f)
        if not name.startswith("events.out.tfevents."):
            fail(f"{run}: {name}: expected a name events.out.tfevents.<time>...")
        try:
            events = list(event_file_loader.EventFileLoader(f).Load())
        except Exception as exc:  # a bad CRC or a truncated record
            fail(f"{run}: {name}: unreadable: {type(exc).__name__}: {exc}")
            continue
        if not events or events[0].file_version != "brain.Event:2":
            fail(f"{run}: {name}: expected a first event with file_version brain.Event:2, got "
                 f"{events[0] if events else 'no event'}")


def check_scalars(run, got_by_tag, want):
    """got_by_tag: tag -> [(step, value)]; want: tag -> [[step, value]]."""
    if sorted(got_by_tag) != sorted(want):
        fail(f"{run}: scalar tags {sorted(got_by_tag)}, expected {sorted(want)}")
    for tag, pairs in want.items():
        got = got_by_tag.get(tag, [])
        if [s for s, _ in got] != [p[0] for p in pairs]:
            fail(f"{run}: {tag}: steps {[s for s, _ in got]}, expected {[p[0] for p in pairs]}")
            continue
        for (step, v), (_, w) in zip(got, pairs):
            if not same(v, f32(w)):
                fail(f"{run}: {tag} at step {step}: {v!r}, expected {f32(w)!r} (float32 of {w!r})")


def check_images(run, acc, want):
    tags = [t for t in acc.Tags()["images"] if acc.Images(t)]
    if sorted(tags) != sorted(want):
        fail(f"{run}: image tags {sorted(tags)}, expected {sorted(want)}")
    for tag, items in want.items():
        got = acc.Images(tag) if tag in tags else []
        if [g.step for g in got] != [w["step"] for w in items]:
            fail(f"{run}: image {tag}: steps {[g.step for g in got]}, expected {[w['step'] for w in items]}")
            continue
        for g, w in zip(got, items):
            where = f"{run}: image {tag} at step {g.step}"
            if (g.height, g.width) != (w["height"], w["width"]):
                fail(f"{where}: {g.height}x{g.width}, expected {w['height']}x{w['width']}")
            img = Image.open(io.BytesIO(g.encoded_image_string))
            mode = {1: "L", 3: "RGB"}[w["channels"]]
            if img.format != "PNG" or img.mode != mode or img.size != (w["width"], w["height"]):
                fail(f"{where}: a {img.format} {img.mode} {img.size} picture, expected a PNG {mode} "
                     f"{(w['width'], w['height'])}")
                continue
            px = np.asarray(img).reshape(-1).tolist()
            if px != w["pixels"]:
                bad = [i for i, (a, b) in enumerate(zip(px, w["pixels"])) if a != b]
                fail(f"{where}: {len(bad)} pixels differ, first at flat index {bad[0] if bad else '?'}: "
                     f"{px[bad[0]] if bad else px[:8]} vs {w['pixels'][bad[0]] if bad else w['pixels'][:8]}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True, help="the folder tensorboard_write wrote (expected.json and one folder per run)")
    args = ap.parse_args()
    with open(os.path.join(args.dir, "expected.json")) as f:
        expected = json.load(f)
    if sorted(expected) != ["images", "resume", "scalars", "trainer"]:
        fail(f"expected.json: runs {sorted(expected)}, expected images, resume, scalars, trainer")
    for run, want in expected.items():
        path = os.path.join(args.dir, run)
        check_files(run, path)
        acc = accumulate(event_accumulator.EventAccumulator, path, purge=True)
        # (A tag whose events were all purged stays listed, with no event: not shown.)
        scalars = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in acc.Tags()["scalars"] if acc.Scalars(t)}
        check_scalars(run, scalars, want.get("scalars", {}))
        check_images(run, acc, want.get("images", {}))
        # What the TensorBoard server reads: simple values as float32 scalar tensors.
        pacc = accumulate(plugin_event_accumulator.EventAccumulator, path, purge=True)
        ptensors = {t: [(e.step, float(tensor_util.make_ndarray(e.tensor_proto)))
                        for e in pacc.Tensors(t)]
                    for t in pacc.Tags()["tensors"] if pacc.Tensors(t) and t in want.get("scalars", {})}
        check_scalars(run + " (server)", ptensors, want.get("scalars", {}))
        # Orphaned steps: in the files (read without purging), not in what TensorBoard shows.
        for tag, steps in want.get("orphaned", {}).items():
            raw = accumulate(event_accumulator.EventAccumulator, path, purge=False)
            kind = "scalars" if tag in raw.Tags()["scalars"] else "images"
            if tag not in raw.Tags()[kind]:
                fail(f"{run}: orphaned tag {tag}: not in the files at all")
                continue
            items = raw.Scalars(tag) if kind == "scalars" else raw.Images(tag)
            kept = [p[0] for p in want.get(kind, {}).get(tag, [])] if kind == "scalars" else \
                [w["step"] for w in want.get(kind, {}).get(tag, [])]
            for s in steps:
                n_raw = sum(1 for e in items if e.step == s)
                if n_raw <= kept.count(s):
                    fail(f"{run}: {tag} step {s}: expected an orphaned event in the files, found {n_raw} "
                         f"event(s) for {kept.count(s)} kept")
    if errors:
        print(f"check_tensorboard: {len(errors)} differences:", file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    n = sum(len(v) for run in expected.values() for v in run.get("scalars", {}).values())
    m = sum(len(v) for run in expected.values() for v in run.get("images", {}).values())
    print(f"check_tensorboard: OK: {n} scalars and {m} images in {len(expected)} runs read back by TensorBoard "
          f"as written; orphaned steps purged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
