#!/usr/bin/env python3
"""End-to-end tests of `hessrmt lossfit`: a loss history written with numpy
in the format of `train --history`, from known a + b exp(-c t) plus noise,
is fitted; the parameters must lie within 3 of their reported errors of
the truth, and numpy checks independently that they are a least-squares
optimum and that the errors are s^2 (J'J)^-1 there.  --best-of-runs takes
one point per run (its minimum and the epoch of its first occurrence) from
synthetic histories whose minima follow a known curve.  Bad inputs fail
with one clear message."""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import Harness, png_size  # noqa: E402

HEADER = "epoch,train_loss,train_accuracy,test_loss,test_accuracy"
JSON_KEYS = ["a", "a_err", "b", "b_err", "c", "c_err", "chi2", "dof",
             "residual_std", "r2", "n_points", "x_column", "y_column", "file",
             "converged", "iterations"]


def write_history(path, epochs, train_loss, test_loss=None):
    """The CSV of `train --history`; without a test set its test columns
    are empty."""
    with open(path, "w") as f:
        f.write(HEADER + "\n")
        for i, (t, y) in enumerate(zip(epochs, train_loss)):
            test = "" if test_loss is None else f"{test_loss[i]:.9g}"
            acc = "" if test_loss is None else "0.5"
            f.write(f"{t:g},{y:.9g},0.5,{test},{acc}\n")


def lossfit(h, *args, np_=0):
    """Run `hessrmt lossfit` directly (np_ = 0) or under mpiexec."""
    if np_:
        return h.run(np_, "lossfit", *args, check=False, timeout=60)
    return h.serial("lossfit", *args, check=False, timeout=120)


def check_optimum(h, j, t, y):
    """At the reported parameters the gradient of chi^2 vanishes, and the
    errors are those of s^2 (J'J)^-1 with s^2 = chi^2 / (n - 3)."""
    a, b, c = j["a"], j["b"], j["c"]
    e = np.exp(-c * t)
    r = a + b * e - y
    J = np.column_stack([np.ones_like(t), e, -b * t * e])
    grad = J.T @ r / (np.linalg.norm(J, axis=0) * np.linalg.norm(r))
    h.expect(np.max(np.abs(grad)) < 1e-6, f"not an optimum: scaled gradient {grad}")
    chi2 = float(r @ r)
    h.expect(abs(j["chi2"] / chi2 - 1) < 1e-6, f"chi2 {j['chi2']} vs {chi2}")
    cov = chi2 / (len(t) - 3) * np.linalg.inv(J.T @ J)
    for k, name in enumerate("abc"):
        ref = np.sqrt(cov[k, k])
        h.expect(abs(j[name + "_err"] / ref - 1) < 1e-4,
                 f"{name}_err {j[name + '_err']} vs numpy {ref}")


def check_figure(h, figs):
    png, svg = os.path.join(figs, "lossfit.png"), os.path.join(figs, "lossfit.svg")
    h.expect(os.path.exists(png) and png_size(png) == (1000, 700),
             f"lossfit.png missing or not 1000x700: {os.path.exists(png) and png_size(png)}")
    h.expect(os.path.exists(png) and os.path.getsize(png) > 5000, "lossfit.png is tiny")
    h.expect(os.path.exists(svg) and "<svg" in open(svg).read(), "lossfit.svg")
    h.expect(not [f for f in os.listdir(figs) if "partial" in f], "partial figure left")


def case_recover(h):
    """A noisy train-loss curve of known parameters, no test set: the fit
    finds them within 3 reported errors, numpy confirms the optimum and
    the errors, and the JSON and the figure are written."""
    truth = {"a": 0.42, "b": 1.9, "c": 0.065}
    rng = np.random.default_rng(2024)
    t = np.arange(1, 81, dtype=float)
    y = truth["a"] + truth["b"] * np.exp(-truth["c"] * t) + rng.normal(0, 0.02, t.size)
    csv, js, figs = h.path("history.csv"), h.path("out.json"), h.path("figs")
    write_history(csv, t, y)
    proc = lossfit(h, csv, "--y-column", "train_loss", "--json", js, "--plots", figs)
    h.expect(proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr.strip()}")
    if proc.returncode != 0:
        return
    h.expect("half-life" in proc.stdout and "asymptote" in proc.stdout,
             f"summary lacks the half-life or the asymptote:\n{proc.stdout}")
    with open(js) as f:
        j = json.load(f)
    for key in JSON_KEYS:
        h.expect(key in j, f"JSON lacks '{key}'")
    for name, value in truth.items():
        z = (j[name] - value) / j[name + "_err"]
        h.expect(abs(z) < 3, f"{name} = {j[name]:.5g} +/- {j[name + '_err']:.2g}, "
                 f"truth {value}: {z:+.2f} errors")
    h.expect(j["converged"] is True and j["n_points"] == 80 and j["dof"] == 77,
             f"converged {j['converged']}, n {j['n_points']}, dof {j['dof']}")
    h.expect(j["x_column"] == "epoch" and j["y_column"] == "train_loss" and
             j["file"] == csv, "JSON names the wrong columns or file")
    h.expect(abs(j["residual_std"] / 0.02 - 1) < 0.25, f"residual std {j['residual_std']}")
    h.expect(j["r2"] > 0.99, f"R^2 {j['r2']}")
    h.expect(not os.path.exists(js + ".partial"), "JSON partial left")
    check_optimum(h, j, t, y)
    check_figure(h, figs)


def error_case(h, args, needle, name, np_=0):
    h.failing(np_, ["lossfit", *args], needle, name)


def write_text(h, name, text):
    path = h.path(name)
    with open(path, "w") as f:
        f.write(text)
    return path


def case_errors(h):
    """Missing file, missing column (the message lists the columns), too
    few points, a non-numeric value (its line named), a non-finite epoch,
    a ragged row, a constant loss, an empty test column, an unwritable
    JSON path: non-zero exit and one error line, serially (some also on 2
    ranks)."""
    t = np.arange(10.0)
    good = h.path("good.csv")
    write_history(good, t, 1 + np.exp(-0.3 * t))
    few = h.path("few.csv")
    write_history(few, t[:3], 1 + np.exp(-0.3 * t[:3]))
    flat = h.path("flat.csv")
    write_history(flat, t, np.full(t.size, 0.7))
    word = write_text(h, "word.csv", f"{HEADER}\n0,2,0.5,,\n1,1.5,0.5,,\n2,abc,0.5,,\n")
    nan_x = write_text(h, "nan_x.csv", "epoch,train_loss\n0,2\nnan,1.5\n2,1.2\n3,1.1\n4,1\n")
    ragged = write_text(h, "ragged.csv", "epoch,train_loss\n0,2\n1\n")
    cases = [
        ([h.path("missing.csv")], "cannot open", "missing file"),
        ([good, "--y-column", "val_loss"], "no column 'val_loss' (--y-column); the "
         "columns are 'epoch', 'train_loss', 'train_accuracy', 'test_loss', "
         "'test_accuracy'", "missing column"),
        ([few, "--y-column", "train_loss"], "at least 4", "too few points"),
        ([good], "0 usable rows in column 'test_loss'", "no test set"),
        ([word, "--y-column", "train_loss"], "line 4: 'abc' in column 'train_loss' "
         "is not a number", "non-numeric value"),
        ([nan_x, "--y-column", "train_loss"], "line 3: epoch is nan", "non-finite epoch"),
        ([ragged, "--y-column", "train_loss"], "line 3: 1 fields, the header has 2",
         "ragged row"),
        ([flat, "--y-column", "train_loss"], "y is constant", "constant loss"),
        ([good, "--y-column", "train_loss", "--json", h.path("no/such/dir/x.json")],
         "does not exist", "unwritable JSON"),
    ]
    for args, needle, name in cases:
        error_case(h, args, needle, name)
    # under mpiexec rank 0 reads and the others wait: a few cases suffice
    for args, needle, name in [cases[0], cases[4], cases[-1]]:
        error_case(h, args, needle, name, 2)


# ---- --best-of-runs --------------------------------------------------------

RUN_EPOCHS = 300
BEST_AT = [8, 20, 35, 50, 70, 90, 115, 140, 170, 200, 240, 285]  # test loss
ACC_AT = [12, 240, 60, 30, 285, 100, 8, 170, 45, 130, 210, 75]    # test accuracy
LOSS_TRUTH = {"a": 0.30, "b": 0.9, "c": 0.02}
ERROR_TRUTH = {"a": 0.08, "b": 0.4, "c": 0.03}


def run_curve(rng, at, value):
    """A run's curve over epochs 1..RUN_EPOCHS whose minimum is exactly
    value, at epoch `at`: elsewhere it is larger by at least 0.15 / 300."""
    e = np.arange(1, RUN_EPOCHS + 1)
    curve = value + 0.15 * np.abs(e - at) / RUN_EPOCHS + 0.02 * rng.random(e.size)
    curve[at - 1] = value
    return curve


def make_runs(rng):
    """Per run: the test-loss and test-error curves, and their exact minima
    (the values as the CSV's text gives them back).  The loss minima have
    10 significant digits, so that the JSON's 12 give them back exactly."""
    runs = []
    for k in range(len(BEST_AT)):
        t, s = BEST_AT[k], ACC_AT[k]
        loss_min = float(f"""{LOSS_TRUTH["a"] + LOSS_TRUTH["b"] * np.exp(
            -LOSS_TRUTH["c"] * t) + rng.normal(0, 0.004):.10g}""")
        err_min = ERROR_TRUTH["a"] + ERROR_TRUTH["b"] * np.exp(-ERROR_TRUTH["c"] * s) \
            + rng.normal(0, 0.002)
        loss, err = run_curve(rng, t, loss_min), run_curve(rng, s, err_min)
        if k == 0:  # the minimum again later: the first occurrence counts
            loss[t + 29] = loss_min
        acc = [repr(1.0 - v) for v in err]
        runs.append({"loss": [repr(v) for v in loss], "acc": acc,
                     "loss_min": (t, loss_min),
                     "err_min": (s, 1.0 - float(acc[s - 1]))})
    return runs


def history_rows(run, k):
    """The rows of `train --history` for one run; run 3 has no test value in
    its first two epochs (rows without a value are skipped)."""
    rows = []
    for i in range(RUN_EPOCHS):
        loss, acc = run["loss"][i], run["acc"][i]
        if k == 3 and i < 2:
            loss = acc = "nan"
        rows.append(f"{i + 1},{2.0 - i / 1000},0.5,{loss},{acc}")
    return rows


def write_runs(h, runs):
    """One CSV per run, and all in one file with a `run` column, the rows
    of the runs interleaved."""
    paths = []
    for k, run in enumerate(runs):
        paths.append(h.path(f"run{k:02d}.csv"))
        with open(paths[-1], "w") as f:
            f.write(HEADER + "\n" + "\n".join(history_rows(run, k)) + "\n")
    rows = [history_rows(run, k) for k, run in enumerate(runs)]
    with open(h.path("all_runs.csv"), "w") as f:
        f.write("run," + HEADER + "\n")
        for i in range(RUN_EPOCHS):
            for k in range(len(runs)):
                f.write(f"seed{k},{rows[k][i]}\n")
    return paths


def check_best_fit(h, j, truth, minima, what, rtol=0.0):
    """The fit recovers the truth within 3 errors; its points are the
    constructed minima (to rtol), in run order, with their lines."""
    for name, value in truth.items():
        z = (j[name] - value) / j[name + "_err"]
        h.expect(abs(z) < 3, f"{what}: {name} = {j[name]:.5g} +/- "
                 f"{j[name + '_err']:.2g}, truth {value}: {z:+.2f} errors")
    n = len(minima)
    h.expect(j.get("best_of_runs") is True and j.get("n_runs") == n and
             j["n_points"] == n and j["dof"] == n - 3 and j["converged"] is True,
             f"{what}: runs {j.get('n_runs')}, points {j['n_points']}, dof {j['dof']}")
    points = j.get("points", [])
    h.expect(len(points) == n, f"{what}: {len(points)} points")
    for k, (p, (t, y)) in enumerate(zip(points, minima)):
        h.expect(p["x"] == t and abs(p["y"] - y) <= rtol * abs(y) and p["line"] == t + 1,
                 f"{what}: run {k}: point {p}, constructed ({t}, {y!r}) at line {t + 1}")


def case_best_of_runs(h):
    """12 runs whose minima lie on known curves (test loss, and the test
    error 1 - test_accuracy): --best-of-runs over 12 files recovers both
    within 3 errors and reports exactly the constructed minima (the first
    of a repeated minimum), with the JSON and the figure; one file with a
    --run-column gives the same fit."""
    runs = make_runs(np.random.default_rng(7))
    paths = write_runs(h, runs)
    js, figs = h.path("best.json"), h.path("best_figs")
    proc = lossfit(h, "--best-of-runs", *paths, "--json", js, "--plots", figs)
    h.expect(proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr.strip()}")
    if proc.returncode != 0:
        return
    h.expect("runs        12" in proc.stdout and "best of 12 runs" in proc.stdout,
             f"summary lacks the runs:\n{proc.stdout}")
    h.expect("2 rows have no value" in proc.stderr, f"skipped note: {proc.stderr}")
    with open(js) as f:
        j = json.load(f)
    check_best_fit(h, j, LOSS_TRUTH, [r["loss_min"] for r in runs], "test_loss")
    h.expect(j.get("files") == paths and j["y_column"] == "test_loss", "files, column")
    check_figure(h, figs)
    js_err = h.path("best_err.json")
    proc = lossfit(h, "--best-of-runs", *paths, "--y-column", "test_error", "--json", js_err)
    h.expect(proc.returncode == 0, f"test_error: exit {proc.returncode}: {proc.stderr}")
    with open(js_err) as f:
        je = json.load(f)
    # 1 - accuracy has more digits than the JSON's 12
    check_best_fit(h, je, ERROR_TRUTH, [r["err_min"] for r in runs], "test_error", 1e-11)
    h.expect(je.get("y_from_accuracy") == "test_accuracy", "y_from_accuracy")
    js_one = h.path("best_one.json")
    proc = lossfit(h, "--best-of-runs", h.path("all_runs.csv"), "--run-column", "run",
                   "--json", js_one)
    h.expect(proc.returncode == 0, f"--run-column: exit {proc.returncode}: {proc.stderr}")
    with open(js_one) as f:
        jo = json.load(f)
    for name in ["a", "b", "c", "a_err", "b_err", "c_err"]:
        h.expect(abs(jo[name] - j[name]) <= 1e-12 * abs(j[name]),
                 f"--run-column: {name} {jo[name]} vs {j[name]} from 12 files")
    h.expect([p["run"] for p in jo["points"]] == [f"seed{k}" for k in range(12)] and
             [(p["x"], p["y"]) for p in jo["points"]] == [(p["x"], p["y"]) for p in
                                                          j["points"]],
             f"--run-column points {jo['points'][:2]}")


def case_best_errors(h):
    """--best-of-runs on bad input: fewer than 4 runs (the minimum named),
    several files without it, --run-column without it, a missing column
    (also test_error without test_accuracy), a run without any value, a
    missing run column, an infinite loss, every minimum at one epoch."""
    rng = np.random.default_rng(3)
    runs = make_runs(rng)
    paths = write_runs(h, runs)
    no_acc = write_text(h, "no_acc.csv", "epoch,test_loss\n1,0.5\n2,0.4\n")
    empty = write_text(h, "empty_run.csv", HEADER + "\n1,2,0.5,,\n2,1.9,0.5,,\n")
    one_empty = write_text(h, "one_empty.csv", "run,epoch,test_loss\na,1,0.5\na,2,0.4\n"
                           "b,1,nan\nb,2,\n")
    inf = write_text(h, "inf.csv", HEADER + "\n1,2,0.5,0.7,0.5\n2,1.9,0.5,inf,0.5\n")
    same = [write_text(h, f"same{k}.csv", f"epoch,test_loss\n1,{1 + k}\n2,{0.5 + k}\n"
                       f"3,{0.9 + k}\n") for k in range(5)]
    best = ["--best-of-runs"]
    cases = [
        (best + paths[:3], "needs at least 4 points (runs)", "three runs"),
        (paths[:2], "add --best-of-runs", "several files alone"),
        ([paths[0], "--run-column", "run"], "--run-column groups rows", "run column alone"),
        (best + paths[:4] + ["--y-column", "val_loss"], "no column 'val_loss' "
         "(--y-column); the columns are 'epoch'", "missing column"),
        (best + paths[:4] + [no_acc, "--y-column", "test_error"], "no_acc.csv: no "
         "column 'test_error' (--y-column), nor 'test_accuracy'",
         "test_error without accuracy"),
        (best + paths[:4] + [empty], "empty_run.csv: no row has a value in column "
         "'test_loss'", "a run without values"),
        (best + [one_empty, "--run-column", "run"], "run 'b' (--run-column run) has "
         "no value in column 'test_loss'", "a grouped run without values"),
        (best + [h.path("all_runs.csv"), "--run-column", "seed"], "no column 'seed' "
         "(--run-column)", "missing run column"),
        (best + paths[:4] + [inf], "line 3: test_loss is inf", "infinite loss"),
        (best + same, "every point has the same t (2)", "one epoch for all"),
    ]
    for args, needle, name in cases:
        error_case(h, args, needle, name)
    for args, needle, name in [cases[0], cases[5]]:
        error_case(h, args, needle, name, 2)


CASES = {"recover": case_recover, "errors": case_errors,
         "best_of_runs": case_best_of_runs, "best_errors": case_best_errors}

if __name__ == "__main__":
    sys.exit(Harness(__doc__, CASES).main())
