#!/usr/bin/env python3
"""End-to-end tests of `hessrmt lossfit`: a loss history written with numpy
in the format of `train --history`, from known a + b exp(-c t) plus noise,
is fitted; the parameters must lie within 3 of their reported errors of
the truth, and numpy checks independently that they are a least-squares
optimum and that the errors are s^2 (J'J)^-1 there.  Bad inputs fail with
one clear message."""
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


CASES = {"recover": case_recover, "errors": case_errors}

if __name__ == "__main__":
    sys.exit(Harness(__doc__, CASES).main())
