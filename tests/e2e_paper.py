#!/usr/bin/env python3
"""End-to-end test of the paper's reproduction (run/paper/reproduce.sh) at
its tiny scale: every experiment x weights x precision x part has a row in
results.json and results.md with finite statistics, the paper's models have
the paper's parameter counts, the GP-loss model gives GOE statistics, the
hardness fits exist, the paper's kinds of figures are drawn, and a second
run in the same folder keeps what is finished and refuses other settings."""
import json
import math
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import Harness  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "run", "paper", "reproduce.sh")
PAPER_N = {"logistic-mnist": 7850, "logistic-resnet": 5130, "mlp-mnist": 9960,
           "mlp-deep-mnist": 20060, "bike-mlp": 16601}
NUMBERS = ["N", "n_spectra", "rank", "mean_r_tilde", "mean_r_tilde_err",
           "ks_poisson", "ks_goe", "ks_gue", "paper_mean_r", "paper_ks_goe"]


def reproduce(h, out, *extra):
    env = dict(os.environ, HESSRMT=h.args.hessrmt)
    return subprocess.run([SCRIPT, "--scale", "tiny", "--out", out, "--ranks", "2",
                           "--mpiexec", h.args.mpiexec] + list(extra),
                          capture_output=True, text=True, env=env, timeout=1500)


def check_rows(h, rows):
    expected = set()
    for exp, parts in [("logistic-mnist", ["full"]), ("logistic-resnet", ["full"]),
                       ("mlp-mnist", ["full"]), ("mlp-deep-mnist", ["full"]),
                       ("lenet-cifar", ["full"]), ("bike-mlp", ["full", "gn"])]:
        for w in ("init", "trained"):
            for p in ("float32", "float64"):
                for part in parts:
                    expected.add((exp, w, p, part))
    got = {(r["experiment"], r["weights"], r["precision"], r["part"]) for r in rows}
    h.expect(expected <= got, f"missing rows: {sorted(expected - got)}")
    for r in rows:
        name = f"{r['experiment']} {r['weights']} {r['precision']} {r['part']}"
        for key in NUMBERS:
            v = r.get(key)
            h.expect(isinstance(v, (int, float)) and math.isfinite(v),
                     f"{name}: {key} = {v!r}")
        h.expect(r["verdict"] in ("poisson", "goe", "gue", "gse"), f"{name}: verdict")
        if r["experiment"] in PAPER_N:
            h.expect(r["N"] == PAPER_N[r["experiment"]], f"{name}: N = {r['N']}")
        h.expect(0 < r["rank"] <= r["N"], f"{name}: rank {r['rank']}")
    gp = [r for r in rows if r["experiment"].startswith("gp-loss")]
    h.expect(len(gp) == 2, f"{len(gp)} gp-loss rows")
    for r in gp:
        h.expect(abs(r["mean_r_tilde"] - 0.5307) < 3 * r["mean_r_tilde_err"] + 1e-3,
                 f"{r['experiment']}: <r~> {r['mean_r_tilde']} +/- {r['mean_r_tilde_err']}")
        h.expect(r["verdict"] == "goe", f"{r['experiment']}: verdict {r['verdict']}")
    # The GGN of a batch of B rows of a one-output MSE model has rank B.
    for r in rows:
        if r["part"] == "gn":
            h.expect(r["rank"] == r["batch_size"], f"GGN rank {r['rank']}")
    return len(expected) + len(gp)


def case_tiny(h):
    out = h.path("paper")
    proc = reproduce(h, out)
    h.expect(proc.returncode == 0, f"reproduce failed: {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    if proc.returncode:
        return
    rows = json.load(open(os.path.join(out, "results.json")))
    count = check_rows(h, rows)
    table = open(os.path.join(out, "results.md")).read().split("## Exponential")
    h.expect(len(table) == 2, "results.md: no hardness table")
    h.expect(table[0].count("\n| ") == count + 1, "results.md: one line per row")
    h.expect("nan" not in table[0], "results.md has nan")
    fits = json.load(open(os.path.join(out, "hardness.json")))["fits"]
    for column in ("test_loss", "test_error"):
        fit = fits[column]
        h.expect(fit["n_runs"] == 4 and all(math.isfinite(fit[k]) for k in "abc"),
                 f"hardness {column}: {fit}")
    for r in rows:
        rid = (r["experiment"] if r["experiment"].startswith("gp-loss") else
               f"{r['experiment']}-{r['weights']}-{r['precision']}-{r['part']}")
        for fig in ("paper_ratios", "paper_spacings", "degeneracy", "ratios"):
            path = os.path.join(out, "figures", rid, fig + ".png")
            h.expect(os.path.getsize(path) > 1000 if os.path.exists(path) else False,
                     f"figure {path}")
    # Again in the same folder: everything is kept, nothing recomputed.
    before = os.path.getmtime(os.path.join(out, "spectra", "mlp-mnist-init-float64-full.h5"))
    again = reproduce(h, out)
    h.expect(again.returncode == 0 and "kept" in again.stdout, "second run")
    h.expect(os.path.getmtime(os.path.join(out, "spectra",
                                           "mlp-mnist-init-float64-full.h5")) == before,
             "a finished spectra file was rewritten")
    other = reproduce(h, out, "--only", "gp-loss")
    h.expect(other.returncode != 0 and "other settings" in other.stderr,
             f"other settings in the same folder: {other.stderr[-300:]}")


if __name__ == "__main__":
    sys.exit(Harness(__doc__, {"tiny": case_tiny}).main())
