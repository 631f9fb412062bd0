#!/usr/bin/env python3
"""End-to-end tests of `hessrmt train`: full-batch training against an
independent numpy SGD (momentum, weight decay), separable data learned,
the same weights on 1, 2 and 4 ranks, checkpoints that `hessian` reads and
that resume to the uninterrupted result, the paper's learning-rate schedule
against numpy and across a resume, Fashion-MNIST, and bad input."""
import csv
import os
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import Harness  # noqa: E402
from e2e_hessian import Mlp, data_args, write_problem  # noqa: E402


def weights(path, model):
    """theta (PyTorch order) from a weights file."""
    with h5py.File(path, "r") as f:
        parts = []
        for i in range(len(model.w) - 1):
            parts.append(f[f"layers/{i}/weight"][...].ravel())
            if model.bias:
                parts.append(f[f"layers/{i}/bias"][...])
        return np.concatenate(parts)


def numpy_sgd(model, theta, x, y, epochs, lr, momentum, wd):
    """Full-batch SGD as PyTorch does it: g = mean grad + wd w,
    v = mu v + g, w -= lr v; lr a number, or one per epoch (a scheduler
    changes the rate, never the momentum buffer)."""
    rates = list(lr) if np.ndim(lr) else [lr] * epochs
    v = np.zeros_like(theta)
    for e in range(epochs):
        _, g = model.loss_grad(theta, x, y)
        g = g / len(x) + wd * theta
        v = momentum * v + g
        theta = theta - rates[e] * v
    return theta


def paper_lr(lr, e, epochs):
    """The rate of epoch e (0-based) of the paper's training code, the SWA
    schedule of Garipov et al., written anew from its definition."""
    alpha = e / epochs
    if alpha <= 0.5:
        factor = 1.0
    elif alpha <= 0.9:
        factor = 1.0 - (alpha - 0.5) / 0.4 * (1.0 - 0.01)
    else:
        factor = 0.01
    return factor * lr


def case_reference(h):
    """With the batch the whole dataset the order does not matter, so an
    independent numpy SGD must give the same weights (logistic and a relu
    MLP, with and without bias), to 1e-10 relative."""
    for name, widths, bias in [("logistic", [6, 3], True), ("mlp", [6, 5, 3], True),
                               ("nobias", [6, 5, 3], False)]:
        x, y, _, theta0 = write_problem(h, name, 40, 6, 3, widths, bias, seed=3)
        model = Mlp(widths, bias, "relu", "ce")
        spec = "logistic" if len(widths) == 2 else "mlp:" + "-".join(map(str, widths))
        out = h.path(f"{name}_trained.h5")
        extra = [] if bias else ["--no-bias"]
        h.run(2, "train", *data_args(h, name), "--model", spec, *extra,
              "--batch-size", 40, "--epochs", 25, "--lr", 0.05, "--momentum", 0.8,
              "--weight-decay", 1e-3, "-q", "-o", out)
        ref = numpy_sgd(model, theta0, x, y, 25, 0.05, 0.8, 1e-3)
        got = weights(out, model)
        err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
        h.expect(err < 1e-10, f"{name}: weights differ from numpy SGD by {err:.2e}")
        with h5py.File(out, "r") as f:
            loss = f["history/train_loss"][...]
            ref_loss = model.loss_grad(ref, x, y)[0] / len(x)
            h.expect(abs(loss[-1] - ref_loss) < 1e-10 * ref_loss,
                     f"{name}: final train loss {loss[-1]} vs numpy {ref_loss}")


def case_separable(h):
    """Separable synthetic classes reach > 95% accuracy; mini-batches on 1,
    2 and 4 ranks give the same weights to rounding; the history is stored
    in the file and in the CSV."""
    common = ["train", "--n", 3000, "--dim", 10, "--classes", 4, "--separation", 8,
              "--epochs", 8, "--batch-size", 64, "-q"]
    outs = {}
    for np_ in [1, 2, 4]:
        outs[np_] = h.path(f"sep_{np_}.h5")
        h.run(np_, *common, "-o", outs[np_], "--history", h.path(f"sep_{np_}.csv"))
    model = Mlp([10, 4], True, "relu", "ce")
    ref = weights(outs[1], model)
    for np_ in [2, 4]:
        err = np.max(np.abs(weights(outs[np_], model) - ref)) / np.max(np.abs(ref))
        h.expect(err < 1e-12, f"{np_} ranks: weights differ from 1 rank by {err:.2e}")
    with open(h.path("sep_1.csv")) as f:
        rows = list(csv.DictReader(f))
    h.expect(len(rows) == 8 and list(rows[0]) == ["epoch", "train_loss",
             "train_accuracy", "test_loss", "test_accuracy", "lr"], f"CSV {rows[:1]}")
    h.expect(all(float(r["lr"]) == 0.003 for r in rows), "constant lr column")
    acc = float(rows[-1]["train_accuracy"])
    h.expect(acc > 0.95, f"separable data: train accuracy {acc:.4f}")
    losses = [float(r["train_loss"]) for r in rows]
    h.expect(losses[-1] < losses[0], f"train loss did not fall: {losses}")
    with h5py.File(outs[1], "r") as f:
        h.expect(np.allclose(f["history/train_loss"][...], losses, rtol=1e-8),
                 "file history differs from the CSV")
        h.expect(f.attrs["epoch"] == 8 and "command_line" in f.attrs, "attributes")


def case_checkpoint(h):
    """Checkpoints carry the epoch in name and attributes, are read by
    `hessian --weights`, and --resume from one gives the weights of an
    uninterrupted run (here resumed on another rank count)."""
    common = ["train", "--n", 1500, "--model", "mlp:20-16-4", "--epochs", 6,
              "--batch-size", 50, "-q"]
    full = h.path("full.h5")
    h.run(2, *common, "--checkpoint-every", 2, "-o", full)
    for e in [2, 4]:
        ck = h.path(f"full-epoch{e}.h5")
        h.expect(os.path.exists(ck), f"checkpoint of epoch {e} missing")
    h.expect(not os.path.exists(h.path("full-epoch6.h5")), "final epoch written twice")
    with h5py.File(h.path("full-epoch4.h5"), "r") as f:
        h.expect(f.attrs["epoch"] == 4 and len(f["history/epoch"]) == 4, "checkpoint epoch")
    resumed = h.path("resumed.h5")
    h.run(1, *common, "--resume", h.path("full-epoch4.h5"), "-o", resumed)
    model = Mlp([20, 16, 4], True, "relu", "ce")
    a, b = weights(full, model), weights(resumed, model)
    err = np.max(np.abs(a - b)) / np.max(np.abs(a))
    h.expect(err < 1e-12, f"resumed weights differ by {err:.2e}")
    proc = h.run(1, "hessian", "--n", 1500, "--model", "mlp:20-16-4", "--weights",
                 h.path("full-epoch2.h5"), "--batch-size", 100, "--max-batches", 1,
                 "--no-stats", "-q", "-o", h.path("ck_spectrum.h5"))
    h.expect(proc.returncode == 0, "hessian could not read a checkpoint")


def case_fashion_mnist(h):
    """Logistic regression on Fashion-MNIST reaches the test accuracy such
    a model is known to reach (about 84%; above 82% after 10 epochs)."""
    d = "/usr/share/datasets/fashion-mnist"
    if not os.path.exists(f"{d}/train-images-idx3-ubyte.gz"):
        print("dataset-fashion-mnist not installed: skipped")
        h.expect(True, "skipped")
        return
    out = h.path("fm.h5")
    h.run(2, "train", "--data", f"{d}/train-images-idx3-ubyte.gz", "--test-data",
          f"{d}/t10k-images-idx3-ubyte.gz", "--scale-pixels", "--epochs", 10,
          "-q", "-o", out, timeout=600)
    with h5py.File(out, "r") as f:
        acc = f["history/test_accuracy"][...]
    h.expect(acc[-1] > 0.82, f"Fashion-MNIST test accuracy {acc[-1]:.4f}")


def case_regression_test(h):
    """Regression with a held-out set (--test-targets): the test loss of
    the final epoch is numpy's mean 1/2 |f - t|^2 of the final weights on the
    test rows; a test set without its targets is refused."""
    x, _, t, _ = write_problem(h, "reg", 48, 5, 2, [5, 4, 2], True, seed=5, targets=True)
    rng = np.random.default_rng(6)
    xt, tt = rng.standard_normal((30, 5)), rng.standard_normal((30, 2))
    np.save(h.path("reg_test_x.npy"), xt)
    np.save(h.path("reg_test_t.npy"), tt)
    out, hist = h.path("reg_trained.h5"), h.path("reg.csv")
    base = ["train", *data_args(h, "reg", targets=True), "--model", "mlp:5-4-2",
            "--loss", "mse", "--epochs", 3, "--batch-size", 16, "-q"]
    h.run(2, *base, "--test-data", h.path("reg_test_x.npy"), "--test-targets",
          h.path("reg_test_t.npy"), "-o", out, "--history", hist)
    model = Mlp([5, 4, 2], True, "relu", "mse")
    acts, _ = model.forward(weights(out, model), xt)
    ref = 0.5 * np.mean(np.sum((acts[-1] - tt) ** 2, axis=1))
    with h5py.File(out, "r") as f:
        got = f["history/test_loss"][...][-1]
    h.expect(abs(got - ref) < 1e-12 * ref, f"regression test loss {got} vs numpy {ref}")
    h.error_case(2, base + ["--test-data", h.path("reg_test_x.npy")], "--test-targets",
                 "regression test set without targets")
    h.error_case(1, base + ["--test-targets", h.path("reg_test_t.npy")], "--test-targets",
                 "test targets without a test set")


def case_signal(h):
    """SIGTERM mid-training (a time limit): train saves the checkpoint of
    the last finished epoch, says how to resume, exits 75 (run without
    mpirun, as srun starts tasks); the resumed run equals an uninterrupted
    one."""
    common = ["train", "--n", 6000, "--dim", 60, "--classes", 4, "--model",
              "mlp:60-48-4", "--epochs", 400, "--batch-size", 64, "-q"]
    out = h.path("sig.h5")
    cmd = [h.args.hessrmt] + [str(a) for a in common + ["-o", out]]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.5)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    h.expect(proc.returncode == 75, f"exit status {proc.returncode}: {err[-400:]}")
    found = re.search(r"--resume (\S+sig-epoch(\d+)\.h5)", err)
    h.expect(found is not None and "hessrmt: stopped: SIGTERM" in err, f"message: {err[-400:]}")
    h.expect(not os.path.exists(out), "a stopped run wrote its final weights")
    if not found:
        return
    ckpt, epoch = found.group(1), int(found.group(2))
    h.expect(0 < epoch < 400 and os.path.exists(ckpt), f"checkpoint {ckpt}")
    h.run(2, *common, "--resume", ckpt, "-o", out, timeout=600)
    full = h.path("full.h5")
    h.run(2, *common, "-o", full, timeout=600)
    with h5py.File(out, "r") as a, h5py.File(full, "r") as b:
        for name in ("layers/0/weight", "layers/1/bias"):
            x, y = a[name][...], b[name][...]
            h.expect(np.allclose(x, y, rtol=1e-12, atol=1e-14),
                     f"{name}: resumed differs by {np.max(np.abs(x - y))}")


def case_errors(h):
    """Bad input: one message, non-zero exit, no output left."""
    x, y, _, _ = write_problem(h, "e", 30, 6, 3, [6, 3], True)
    base = ["train", *data_args(h, "e")]
    np.save(h.path("wide.npy"), np.zeros((10, 7)))
    np.save(h.path("wide_y.npy"), np.zeros(10, dtype=np.int64))
    with h5py.File(h.path("not_ckpt.h5"), "w") as f:
        f["layers/0/weight"] = np.zeros((3, 6))
        f["layers/0/bias"] = np.zeros(3)
    for np_ in [1, 2]:
        h.error_case(np_, base + ["--test-data", h.path("missing.npy")], "missing.npy",
                     "missing test data")
        h.error_case(np_, base + ["--test-data", h.path("wide.npy"), "--test-labels",
                                  h.path("wide_y.npy")], "has 7 features", "test dims")
        h.error_case(np_, base + ["--resume", h.path("not_ckpt.h5")], "--checkpoint-every",
                     "resume from plain weights")
        h.error_case(np_, base + ["--history", h.path("no/dir/h.csv")], "does not exist",
                     "unwritable history")
    h.error_case(1, base + ["--lr", "-1"], "--lr", "negative lr")
    h.error_case(2, ["train", "--n", 512, "--dim", 8, "--classes", 3, "--model",
                     "mlp:8-16-3", "--epochs", 8, "--lr", 1e6], "training diverged",
                 "diverging training")
    ck = h.path("ck.h5")
    h.run(1, *base, "--epochs", 2, "--checkpoint-every", 1, "-q", "-o", ck)
    h.error_case(2, base + ["--epochs", 3, "--lr", 0.01, "--resume", h.path("ck-epoch1.h5")],
                 "trained with other options", "resume with another --lr")


def history_lr(h, path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    h.expect(rows and list(rows[0])[:5] == ["epoch", "train_loss", "train_accuracy",
             "test_loss", "test_accuracy"] and list(rows[0])[-1] == "lr",
             f"{path}: columns {rows[:1]}")
    return np.array([float(r.get("lr", "nan")) for r in rows])


def schedule_full_batch(h, base, lr, epochs):
    """Full batch: the weights of numpy SGD with the paper's rates."""
    x, y, _, theta0 = write_problem(h, "sched", 40, 6, 3, [6, 5, 3], True, seed=5)
    model = Mlp([6, 5, 3], True, "relu", "ce")
    out, hist = h.path("sched.h5"), h.path("sched.csv")
    h.run(2, *base, "--epochs", epochs, "--batch-size", 40, "-o", out, "--history", hist)
    rates = np.array([paper_lr(lr, e, epochs) for e in range(epochs)])
    h.expect(len(set(rates)) == 5, f"the test should see the ramp: {rates}")
    ref = numpy_sgd(model, theta0, x, y, epochs, rates, 0.8, 1e-3)
    got = weights(out, model)
    err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
    h.expect(err < 1e-10, f"paper schedule: weights differ from numpy SGD by {err:.2e}")
    const = numpy_sgd(model, theta0, x, y, epochs, lr, 0.8, 1e-3)
    h.expect(np.max(np.abs(got - const)) > 1e3 * np.max(np.abs(got - ref)),
             "the schedule changed nothing")
    csv_lr = history_lr(h, hist)
    h.expect(np.allclose(csv_lr, rates, rtol=1e-9, atol=0), f"CSV lr {csv_lr} vs {rates}")
    with h5py.File(out, "r") as f:
        h.expect(np.allclose(f["history/lr"][...], rates, rtol=1e-15, atol=0),
                 f"file history/lr {f['history/lr'][...]}")
        h.expect(f["options"].attrs.get("lr-schedule") == "paper",
                 f"options/lr-schedule {f['options'].attrs.get('lr-schedule')}")
    return model


def case_schedule(h):
    """--lr-schedule paper: full-batch training equals numpy SGD with the
    paper's rate per epoch, which the CSV and the file record (and the
    schedule among the options); mini-batch training resumed on another rank
    count from a checkpoint inside the ramp equals the uninterrupted run
    (the rate depends on the absolute epoch and the total --epochs); a
    resume with another total or schedule fails."""
    lr, epochs = 0.2, 10
    base = ["train", *data_args(h, "sched"), "--model", "mlp:6-5-3", "--lr", lr,
            "--momentum", 0.8, "--weight-decay", 1e-3, "--lr-schedule", "paper", "-q"]
    model = schedule_full_batch(h, base, lr, epochs)
    mb = base + ["--batch-size", 7]
    full, ck = h.path("sched_mb.h5"), h.path("sched_mb-epoch6.h5")
    h.run(2, *mb, "--epochs", epochs, "--checkpoint-every", 3, "-o", full,
          "--history", h.path("sched_mb.csv"))
    resumed = h.path("sched_resumed.h5")
    h.run(1, *mb, "--epochs", epochs, "--resume", ck, "-o", resumed,
          "--history", h.path("sched_resumed.csv"))
    a, b = weights(full, model), weights(resumed, model)
    err = np.max(np.abs(a - b)) / np.max(np.abs(a))
    h.expect(err < 1e-12, f"paper schedule: resumed weights differ by {err:.2e}")
    la, lb = history_lr(h, h.path("sched_mb.csv")), history_lr(h, h.path("sched_resumed.csv"))
    h.expect(np.array_equal(la, lb), f"resumed lr column {lb} vs {la}")
    h.error_case(1, mb + ["--epochs", 12, "--resume", ck], "resume it with --epochs 10",
                 "paper schedule resumed with another --epochs")
    h.error_case(2, mb + ["--epochs", epochs, "--lr-schedule", "constant", "--resume", ck],
                 "trained with other options", "resumed with another schedule")
    h.error_case(1, mb + ["--lr-schedule", "cosine"], "expected one of constant|paper",
                 "unknown schedule")


CASES = {"reference": case_reference, "separable": case_separable,
         "checkpoint": case_checkpoint, "fashion_mnist": case_fashion_mnist,
         "errors": case_errors, "schedule": case_schedule,
         "regression_test": case_regression_test, "signal": case_signal}

if __name__ == "__main__":
    sys.exit(Harness(__doc__, CASES).main())
