#!/usr/bin/env python3
"""CTest: scripts/results_table.py, which writes the decision guide's seed tables, on runs made up
here whose means and sample stds are known in closed form.

A method over 3 seeds beside its network at initialisation over 2: the seed table's mean +- std,
the verdicts (under a floor, under initialisation, fine-tune under scratch, how many seeds under
the k-NN floor), the budget table's rows at each label budget, a run not made yet, and the write
between a document's markers (and the refusal of a document without them). Exits 1 on the first
mismatch, naming it.
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts"))
import results_table as rt  # noqa: E402


def run(root, name, seed, **metrics):
    d = os.path.join(root, name, f"seed{seed}")
    os.makedirs(d)
    json.dump(metrics, open(os.path.join(d, "metrics.json"), "w"))
    open(os.path.join(d, "host.txt"), "w").write("Test CPU\nAVX2\n2\n2026-12-07\nabc1234\n")


def budget(labels, knn, linear, raw_knn, raw_linear):
    return {"labels": labels, "probe_epochs": 30, "knn_top1": knn, "linear_top1": linear,
            "raw_pixels_knn_top1": raw_knn, "raw_pixels_linear_top1": raw_linear}


def expect(cond, what):
    if not cond:
        print(f"check_results_table: FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def row(table, first):
    """The table's row whose first cell is `first`."""
    for line in table.splitlines():
        if line.split("|")[1].strip() == first:
            return [c.strip() for c in line.split("|")[1:-1]]
    expect(False, f"a row '{first}' in\n{table}")


def main():
    with tempfile.TemporaryDirectory() as root:
        # mae: k-NN 0.80 / 0.82 / 0.84 (mean 82.00, sample std 2.00); linear 0.88 / 0.89 / 0.90
        # (89.00 +- 1.00); the k-NN floor 0.83 (seed 0 and 1 under it); fine-tune 0.70 / 0.71 / 0.72
        # against scratch 0.75: under. mae_init: k-NN 0.83 / 0.85 (84.00 +- 1.41421): mae's mean under it.
        for s, (k, lin, ft) in enumerate([(0.80, 0.88, 0.70), (0.82, 0.89, 0.71), (0.84, 0.90, 0.72)]):
            run(root, "mae", s, knn_top1=k, linear_top1=lin, finetune_top1=ft, scratch_finetune_top1=0.75,
                raw_pixels_knn_top1=0.83, raw_pixels_linear_top1=0.84, total_seconds=100 + 10 * s,
                backbone="vit", features="tokens",
                probe_budgets=[budget(100, k - 0.20, lin - 0.10, 0.61, 0.64), budget(60000, k, lin, 0.83, 0.84)])
        for s, k in enumerate([0.83, 0.85]):
            run(root, "mae_init", s, knn_top1=k, linear_top1=0.87, finetune_top1=0.69,
                probe_budgets=[budget(100, 0.50, 0.52, 0.61, 0.64)])

        t = rt.seeds_table(root, ["mae", "mae_init", "dino"])
        r = row(t, "mae")
        expect(r[1] == "0, 1, 2 (init: 0, 1)", f"seeds cell: {r[1]}")
        expect(r[3] == "82.00 ± 2.00", f"k-NN mean ± std: {r[3]}")
        expect(r[4] == "89.00 ± 1.00", f"linear mean ± std: {r[4]}")
        expect(r[5] == "71.00 ± 1.00" and r[6] == "75.00 ± 0.00", f"fine-tune / scratch: {r[5]} / {r[6]}")
        expect(r[7] == "84.00 ± 1.41 / 87.00 ± 0.00 / 69.00 ± 0.00", f"initialisation: {r[7]}")
        for v in ("**k-NN under the raw-pixel floor**", "**k-NN under initialisation**", "**fine-tune under scratch**",
                  "(k-NN under the raw-pixel floor on 2 of 3 seeds)"):
            expect(v in r[9], f"verdict '{v}' in '{r[9]}'")
        expect("linear under" not in r[9], f"no linear verdict: {r[9]}")
        expect(r[10] == "110", f"mean wall seconds: {r[10]}")
        expect(row(t, "dino")[1] == "not run yet", "dino not run yet")
        expect(not any(line.startswith("| mae_init") for line in t.splitlines()), "no row of its own for mae_init")

        b = rt.budgets_table(root, ["mae", "dino"])
        lines = b.splitlines()
        at100 = [c.strip() for c in lines[2].split("|")[1:-1]]
        expect(at100[:5] == ["mae", "100", "0, 1, 2 (init: 0, 1)", "62.00 ± 2.00", "79.00 ± 1.00"], f"budget 100: {at100}")
        expect(at100[5] == "50.00 ± 0.00 / 52.00 ± 0.00" and at100[6] == "61.00 ± 0.00 / 64.00 ± 0.00",
               f"budget 100, initialisation and floors: {at100[5:7]}")
        expect(at100[7] == "above both floors", f"budget 100 verdict: {at100[7]}")
        at60k = [c.strip() for c in lines[3].split("|")[1:-1]]
        expect(at60k[:2] == ["", "60000"] and at60k[3] == "82.00 ± 2.00", f"budget 60000: {at60k}")
        expect("**k-NN under the raw-pixel floor**" in at60k[7] and
               "initialisation not probed at this budget yet" in at60k[7], f"budget 60000 verdict: {at60k[7]}")
        expect(row(b, "dino")[1] == "not measured yet", "dino not measured yet")

        doc = os.path.join(root, "doc.md")
        open(doc, "w").write("before\n<!-- seed-budgets -->\nold\n<!-- /seed-budgets -->\nafter\n")
        rt.write_between(doc, "seed-budgets", b)
        expect(open(doc).read() == f"before\n<!-- seed-budgets -->\n{b}\n<!-- /seed-budgets -->\nafter\n",
               "the table between the markers, the rest of the document kept")
        open(doc, "w").write("no markers\n")
        try:
            rt.write_between(doc, "seed-budgets", b)
            expect(False, "a document without the markers is refused")
        except SystemExit as e:
            expect("no '<!-- seed-budgets -->'" in str(e.code), f"the refusal names the markers: {e.code}")
    print("check_results_table: the seed table, the budget table and the write between markers as computed by hand")
    return 0


if __name__ == "__main__":
    sys.exit(main())
