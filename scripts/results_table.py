"""The tables of scripts/seed_table.sh and scripts/label_sweep.sh, from their runs' folders.

    results_table.py seeds ROOT DOC RUN...         mean +- std over <ROOT>/<run>/seed*/metrics.json
    results_table.py budgets ROOT DOC RUN...       the same runs' frozen probes at each label budget
    results_table.py sweep ROOT DOC SEED METHOD... each budget of <ROOT>/<method>/seed<SEED>

Prints the markdown table; with DOC (not empty) also writes it between DOC's markers
(<!-- seed-table --> ... <!-- /seed-table -->, seed-budgets, or label-sweep). Standard library
only.
"""
import json
import os
import re
import statistics
import sys

# Each method's network at initialisation (scripts/seed_table.sh: <method>_init, resnet_init).
BASELINE = {"dino": "dino_init", "mae": "mae_init", "ibot": "ibot_init", "beit": "beit_init",
            "data2vec2": "data2vec2_init", "ijepa": "ijepa_init",
            **{m: "resnet_init" for m in ("simclr", "vicreg", "barlow_twins", "mocov3", "byol", "simsiam")}}


def runs_of(folder):
    """The metrics.json of every seed<S> under `folder`, by seed, each with its host.txt as `_host`."""
    out = []
    for s in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        f = os.path.join(folder, s, "metrics.json")
        if os.path.isfile(f):
            m = json.load(open(f))
            m["seed"] = int(s.removeprefix("seed"))  # the folder's (example 00 wrote no seed before 2026-12-07)
            cpu, isa = open(os.path.join(folder, s, "host.txt")).read().split("\n")[:2]
            m["_host"] = f"{cpu}, {isa}"
            out.append(m)
    return sorted(out, key=lambda m: m["seed"])


def stat(ms, key):
    """(mean, sample std or nan, n) of 100 * m[key] over the runs that measured it, or None."""
    v = [100 * m[key] for m in ms if m.get(key) is not None and m[key] >= 0]
    if not v:
        return None
    return statistics.mean(v), (statistics.stdev(v) if len(v) > 1 else float("nan")), len(v)


def fmt(st):
    if st is None:
        return "—"
    mean, sd, n = st
    return f"{mean:.2f}" if n == 1 else f"{mean:.2f} ± {sd:.2f}"


def under_floor(knn, lin, floor_knn, floor_lin, what):
    """The verdicts '**k-NN under <what>**' and '**linear under <what>**' of the stat() means
    (knn, lin) that are at or under their floor's (a floor not measured: no verdict)."""
    return [f"**{name} under {what}**" for name, x, floor in (("k-NN", knn, floor_knn), ("linear", lin, floor_lin))
            if x and floor and x[0] <= floor[0]]


def seeds_table(root, runs):
    rows = ["| run | seeds | network, features | k-NN | linear | fine-tune | scratch | at initialisation: k-NN / "
            "linear / fine-tune | raw pixels: k-NN / linear | verdict (means) | wall s (mean) | host |",
            "|---|---|---|---:|---:|---:|---:|---|---|---|---:|---|"]
    for r in runs:
        if r.endswith("_init"):
            continue
        ms = runs_of(os.path.join(root, r))
        if not ms:
            rows.append(f"| {r} | not run yet | | | | | | | | | | |")
            continue
        b = runs_of(os.path.join(root, BASELINE[r]))
        knn, lin, ft, sc = (stat(ms, k) for k in ("knn_top1", "linear_top1", "finetune_top1", "scratch_finetune_top1"))
        bknn, blin, bft = (stat(b, k) for k in ("knn_top1", "linear_top1", "finetune_top1"))
        rk, rl = stat(ms, "raw_pixels_knn_top1"), stat(ms, "raw_pixels_linear_top1")
        verdict = under_floor(knn, lin, rk, rl, "the raw-pixel floor") + under_floor(knn, lin, bknn, blin, "initialisation")
        verdict += [f"{name} at initialisation not run yet" for name, x, floor in (("k-NN", knn, bknn), ("linear", lin, blin))
                    if x and not floor]
        if ft and sc and ft[0] <= sc[0]:
            verdict.append("**fine-tune under scratch**")
        verdict = "; ".join(verdict) or "above both floors"
        under = sum(m["knn_top1"] <= m["raw_pixels_knn_top1"] for m in ms if m.get("raw_pixels_knn_top1", -1) >= 0)
        if under:
            verdict += f" (k-NN under the raw-pixel floor on {under} of {len(ms)} seeds)"
        m0 = ms[0]
        net = f"{m0.get('backbone', 'vit')}, {m0.get('features', 'tokens')}"
        seeds = ", ".join(str(m["seed"]) for m in ms) + (f" (init: {', '.join(str(m['seed']) for m in b)})" if b else "")
        wall = statistics.mean(m["total_seconds"] for m in ms)
        hosts = "; ".join(sorted({m["_host"] for m in ms + b}))
        init = " / ".join(fmt(x) for x in (bknn, blin, bft))
        rows.append(f"| {r} | {seeds} | {net} | {fmt(knn)} | {fmt(lin)} | {fmt(ft)} | {fmt(sc)} | {init} | "
                    f"{fmt(rk)} / {fmt(rl)} | {verdict} | {wall:.0f} | {hosts} |")
    return "\n".join(rows)


def budget_stat(ms, labels, key):
    """stat() of probe_budgets[labels][key] over the runs that probed at that budget."""
    at = [{key: p.get(key)} for m in ms for p in m.get("probe_budgets", []) if p["labels"] == labels]
    return stat(at, key)


def budgets_table(root, runs):
    """Each method's frozen k-NN and linear probe trained on the first N labels, over its seeds,
    beside its network at initialisation and the raw-pixel floors on the same N labels."""
    rows = ["| run | labels | seeds | k-NN | linear | at initialisation: k-NN / linear | raw pixels: k-NN / linear | "
            "verdict (means) |",
            "|---|---:|---|---:|---:|---|---|---|"]
    for r in runs:
        if r.endswith("_init"):
            continue
        ms = [m for m in runs_of(os.path.join(root, r)) if m.get("probe_budgets")]
        if not ms:
            rows.append(f"| {r} | not measured yet | | | | | | |")
            continue
        b = [m for m in runs_of(os.path.join(root, BASELINE[r])) if m.get("probe_budgets")]
        name = r
        for n in sorted({p["labels"] for m in ms for p in m["probe_budgets"]}):
            at = [m for m in ms if any(p["labels"] == n for p in m["probe_budgets"])]
            binit = [m for m in b if any(p["labels"] == n for p in m["probe_budgets"])]
            knn, lin = budget_stat(ms, n, "knn_top1"), budget_stat(ms, n, "linear_top1")
            bknn, blin = budget_stat(b, n, "knn_top1"), budget_stat(b, n, "linear_top1")
            rk, rl = budget_stat(ms, n, "raw_pixels_knn_top1"), budget_stat(ms, n, "raw_pixels_linear_top1")
            verdict = under_floor(knn, lin, rk, rl, "the raw-pixel floor") + under_floor(knn, lin, bknn, blin, "initialisation")
            if not binit:
                verdict.append("initialisation not probed at this budget yet")
            verdict = "; ".join(verdict) or "above both floors"
            seeds = ", ".join(str(m["seed"]) for m in at) + (
                f" (init: {', '.join(str(m['seed']) for m in binit)})" if binit else "")
            rows.append(f"| {name} | {n} | {seeds} | {fmt(knn)} | {fmt(lin)} | {fmt(bknn)} / {fmt(blin)} | "
                        f"{fmt(rk)} / {fmt(rl)} | {verdict} |")
            name = ""
    return "\n".join(rows)


def pct_pair(p, a, b):
    """'a / b' of the probe budget p's two accuracies in %, or 'not measured'."""
    if p is None or p.get(a) is None:
        return "not measured"
    return f"{100 * p[a]:.2f} / {100 * p[b]:.2f}"


def sweep_table(root, seed, methods):
    rows = [f"| method (seed {seed}) | labels | epochs | fine-tuned | scratch | gain | frozen: k-NN / linear "
            "(probe epochs) | raw pixels: k-NN / linear | seconds (fine-tunes) | host |",
            "|---|---:|---:|---:|---:|---:|---|---|---:|---|"]
    for m in methods:
        ms = [r for r in runs_of(os.path.join(root, m)) if str(r["seed"]) == seed]
        if not ms:
            rows.append(f"| {m} | not run yet | | | | | | | | |")
            continue
        j = ms[0]
        pretraining = (f"{j['train_seconds']:.0f} s pretraining" if j["train_seconds"] >= 1 else
                       "pretrained by an earlier run, resumed at its end")
        name = f"{m} ({j.get('backbone', 'vit')}, {j['epochs']} epochs, {pretraining})"
        probes = {p["labels"]: p for p in j.get("probe_budgets", [])}
        for b in j["finetune_budgets"]:
            gain = 100 * (b["pretrained_top1"] - b["scratch_top1"])
            p = probes.get(b["labels"])
            frozen = pct_pair(p, "knn_top1", "linear_top1") + (f" ({p['probe_epochs']})" if p else "")
            raw = pct_pair(p, "raw_pixels_knn_top1", "raw_pixels_linear_top1")
            rows.append(f"| {name} | {b['labels']} | {b['epochs']} | {100 * b['pretrained_top1']:.2f} % | "
                        f"{100 * b['scratch_top1']:.2f} % | {gain:+.2f} | {frozen} | {raw} | {b['seconds']:.0f} | "
                        f"{j['_host']} |")
            name = ""
    return "\n".join(rows)


def write_between(doc, marker, table):
    text = open(doc).read()
    new, n = re.subn(rf"(<!-- {marker} -->\n)(?:.*?\n)?(<!-- /{marker} -->)",
                     lambda x: x.group(1) + table + "\n" + x.group(2), text, flags=re.S)
    if n != 1:
        sys.exit(f"results_table: {doc} has no '<!-- {marker} -->' ... '<!-- /{marker} -->' pair")
    open(doc, "w").write(new)
    print(f"results_table: wrote the table into {doc}")


if __name__ == "__main__":
    mode, root, doc, rest = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    if mode == "seeds":
        table, marker = seeds_table(root, rest), "seed-table"
    elif mode == "budgets":
        table, marker = budgets_table(root, rest), "seed-budgets"
    elif mode == "sweep":
        table, marker = sweep_table(root, rest[0], rest[1:]), "label-sweep"
    else:
        sys.exit(f"results_table: expected the mode seeds, budgets or sweep, got '{mode}'")
    print(table)
    if doc:
        write_between(doc, marker, table)
