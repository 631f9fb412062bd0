#!/usr/bin/env python3
"""End-to-end tests of `hessrmt hessian` against an independent numpy
reference: its own forward pass and backpropagation, exact per-output
Jacobians for the Gauss-Newton part J^T Lambda J, the closed-form logistic
Hessian, and central differences of the gradient for the full MLP Hessian.
Data and weights are written here with numpy/h5py, so nothing of hessrmt's
own generators is involved.  Each case is one CTest test."""
import gzip
import json
import os
import sys

import h5py
import numpy as np

from e2e_common import Harness, evals, kill_one_rank_after, max_rel

FMNIST = "/usr/share/datasets/fashion-mnist"

# ---- the reference ------------------------------------------------------------


class Mlp:
    """widths [D, H1, ..., C]; params in PyTorch order (W row-major, b)."""

    def __init__(self, widths, bias, act, loss):
        self.w, self.bias, self.act, self.loss = widths, bias, act, loss
        self.shapes = []
        for i in range(len(widths) - 1):
            self.shapes.append((widths[i + 1], widths[i]))
            if bias:
                self.shapes.append((widths[i + 1],))
        self.n = sum(int(np.prod(s)) for s in self.shapes)

    def unpack(self, theta):
        out, k = [], 0
        for s in self.shapes:
            size = int(np.prod(s))
            out.append(theta[k:k + size].reshape(s))
            k += size
        layers, i = [], 0
        while i < len(out):
            W = out[i]
            b = out[i + 1] if self.bias else np.zeros(W.shape[0])
            layers.append((W, b))
            i += 2 if self.bias else 1
        return layers

    def s(self, z):
        return {"relu": np.maximum(z, 0), "tanh": np.tanh(z), "linear": z}[self.act]

    def ds(self, z):
        return {"relu": (z > 0).astype(float), "tanh": 1 - np.tanh(z) ** 2,
                "linear": np.ones_like(z)}[self.act]

    def forward(self, theta, x):
        acts, zs = [x], []
        layers = self.unpack(theta)
        for i, (W, b) in enumerate(layers):
            z = acts[-1] @ W.T + b
            zs.append(z)
            acts.append(self.s(z) if i < len(layers) - 1 else z)
        return acts, zs

    def backward(self, theta, acts, zs, g):
        """Sum over samples of g(s) . df(s)/dtheta, g (S x C)."""
        layers = self.unpack(theta)
        grads, d = [], g
        for i in range(len(layers) - 1, -1, -1):
            W, _ = layers[i]
            gw, gb = d.T @ acts[i], d.sum(axis=0)
            grads = ([gw.ravel(), gb] if self.bias else [gw.ravel()]) + grads
            if i > 0:
                d = (d @ W) * self.ds(zs[i - 1])
        return np.concatenate(grads)

    def probs(self, f):
        e = np.exp(f - f.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def targets(self, y, t):
        return t if t is not None else np.eye(self.w[-1])[y]

    def loss_grad(self, theta, x, y, t=None):
        acts, zs = self.forward(theta, x)
        f = acts[-1]
        if self.loss == "ce":
            p = self.probs(f)
            loss = -np.log(p[np.arange(len(y)), y]).sum()
            g = p - np.eye(self.w[-1])[y]
        else:
            r = f - self.targets(y, t)
            loss, g = 0.5 * (r ** 2).sum(), r
        return loss, self.backward(theta, acts, zs, g)

    def gauss_newton(self, theta, x, y):
        """sum_s J_s^T Lambda_s J_s with exact per-output Jacobians."""
        acts, zs = self.forward(theta, x)
        C, H0 = self.w[-1], np.zeros((self.n, self.n))
        for s in range(len(x)):
            a = [v[s:s + 1] for v in acts]
            z = [v[s:s + 1] for v in zs]
            J = np.array([self.backward(theta, a, z, np.eye(C)[c:c + 1])
                          for c in range(C)])
            if self.loss == "ce":
                p = self.probs(a[-1])[0]
                lam = np.diag(p) - np.outer(p, p)
            else:
                lam = np.eye(C)
            H0 += J.T @ lam @ J
        return H0

    def hessian_fd(self, theta, x, y, t=None, h=1e-5):
        H = np.zeros((self.n, self.n))
        for j in range(self.n):
            e = np.zeros(self.n)
            e[j] = h
            H[:, j] = (self.loss_grad(theta + e, x, y, t)[1] -
                       self.loss_grad(theta - e, x, y, t)[1]) / (2 * h)
        return 0.5 * (H + H.T)

    def hessian(self, theta, x, y, t=None, part="full"):
        """Exact for linear models; central differences otherwise."""
        H0 = self.gauss_newton(theta, x, y)
        if part == "gn" or len(self.w) == 2:
            return H0 if part != "residual" else np.zeros_like(H0)
        H = self.hessian_fd(theta, x, y, t)
        return H if part == "full" else H - H0


def write_problem(h, name, n, d, c, widths, bias, seed=0, targets=False):
    """features.npy, labels.npy, weights.h5 (and targets.npy)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = rng.integers(0, c, n)
    np.save(h.path(f"{name}_x.npy"), x.astype(np.float64))
    np.save(h.path(f"{name}_y.npy"), y.astype(np.int64))
    t = rng.standard_normal((n, c)) if targets else None
    if targets:
        np.save(h.path(f"{name}_t.npy"), t)
    m = Mlp(widths, bias, "relu", "ce")
    theta = 0.6 * rng.standard_normal(m.n)
    with h5py.File(h.path(f"{name}_w.h5"), "w") as f:
        for i, (W, b) in enumerate(m.unpack(theta)):
            f[f"layers/{i}/weight"] = W
            if bias:
                f[f"layers/{i}/bias"] = b
    return x, y, t, theta


def data_args(h, name, targets=False):
    """Regression with --targets needs no labels file at all."""
    a = ["--data", h.path(f"{name}_x.npy"), "--weights", h.path(f"{name}_w.h5")]
    if targets:
        return a + ["--targets", h.path(f"{name}_t.npy")]
    return a + ["--labels", h.path(f"{name}_y.npy")]


def check_spectrum(h, got, H, tol, what):
    ref = np.linalg.eigvalsh(H)
    h.expect(got.shape == ref.shape, f"{what}: shape {got.shape} vs {ref.shape}")
    if got.shape == ref.shape:
        err = max_rel(got, ref)
        h.expect(err < tol, f"{what}: max error {err:.3g} (tolerance {tol:g})")


# ---- cases -----------------------------------------------------------------------


def case_logistic(h):
    """Whole-dataset logistic Hessian (ce and mse): dense at 1, 2 and 4
    ranks and the Gram path, against the closed form."""
    x, y, _, theta = write_problem(h, "lg", 120, 7, 3, [7, 3], True)
    for loss in ["ce", "mse"]:
        m = Mlp([7, 3], True, "relu", loss)
        H = m.hessian(theta, x, y) / 120
        for np_, extra in [(1, []), (2, []), (4, ["--nblk", 4]),
                           (4, ["--grid", "1x4", "--solver", "pdsyevr"])]:
            out = h.path(f"lg_{loss}_{np_}.h5")
            h.run(np_, "hessian", *data_args(h, "lg"), "--loss", loss,
                  "--method", "dense", "-q", "-o", out, *extra)
            check_spectrum(h, evals(out)[0], H, 1e-11,
                           f"logistic {loss} dense np{np_} {extra}")
        # Gram needs rows x classes <= N = 24: batches of 5 rows.
        out = h.path(f"lg_{loss}_gram.h5")
        h.run(2, "hessian", *data_args(h, "lg"), "--loss", loss, "--batch-size",
              5, "--max-batches", 3, "--method", "gram", "--reduction", "sum",
              "-q", "-o", out)
        got = evals(out)
        for b in range(3):
            sl = slice(5 * b, 5 * b + 5)
            check_spectrum(h, got[b], m.hessian(theta, x[sl], y[sl]), 1e-11,
                           f"logistic {loss} gram batch {b}")
    # --standardize with a feature offset by 1e8: the statistics must not
    # lose its variance to cancellation.
    xo = x.copy()
    xo[:, 2] = 1e8 + x[:, 2]
    np.save(h.path("lg_off_x.npy"), xo)
    xs = (xo - xo.mean(axis=0)) / xo.std(axis=0)
    out = h.path("lg_std.h5")
    h.run(2, "hessian", "--data", h.path("lg_off_x.npy"), "--labels",
          h.path("lg_y.npy"), "--weights", h.path("lg_w.h5"), "--standardize",
          "--method", "dense", "-q", "-o", out)
    # 1e8 + x holds x only to ~1e-8 absolute, in numpy as in hessrmt; the
    # one-pass variance this replaced was off by 0.16.
    check_spectrum(h, evals(out)[0], Mlp([7, 3], True, "relu", "ce").hessian(
        theta, xs, y) / 120, 1e-7, "logistic --standardize with an offset")
    with h5py.File(h.path("lg_ce_2.h5"), "r") as f:
        rank = f["checks/rank"][0]
        h.expect(rank == 3 * 8 - 8, f"logistic rank {rank}: N - (D+1) = 16")
        h.expect(f.attrs["parameters"] == 24 and f.attrs["model"] == "mlp:7-3",
                 "model attributes")
        loss = f["checks/loss"][0]
        ref_loss = Mlp([7, 3], True, "relu", "ce").loss_grad(theta, x, y)[0] / 120
        h.expect(abs(loss - ref_loss) < 1e-12, f"loss {loss} vs {ref_loss}")


def case_mlp(h):
    """MLP Hessians, parts full / gn / residual, dense at 1 and 4 ranks and
    Gram for gn, against the numpy reference."""
    x, y, t, theta = write_problem(h, "mp", 40, 5, 3, [5, 6, 3], True,
                                   seed=1, targets=True)
    for act, loss, tg in [("tanh", "ce", False), ("relu", "mse", True)]:
        m = Mlp([5, 6, 3], True, act, loss)
        for part in ["full", "gn", "residual"]:
            H = m.hessian(theta, x, y, t if tg else None, part) / 40
            for np_ in (1, 4):
                out = h.path(f"mp_{act}_{part}_{np_}.h5")
                h.run(np_, "hessian", *data_args(h, "mp", tg), "--model",
                      "mlp:5-6-3", "--activation", act, "--loss", loss,
                      "--part", part, "--method", "dense", "--nblk", 8, "-q",
                      "-o", out)
                check_spectrum(h, evals(out)[0], H, 1e-6,
                               f"mlp {act} {loss} {part} np{np_}")
        out = h.path(f"mp_{act}_gn_gram.h5")
        h.run(2, "hessian", *data_args(h, "mp", tg), "--model", "mlp:5-6-3",
              "--activation", act, "--loss", loss, "--part", "gn",
              "--batch-size", 10, "--method", "gram", "-q", "-o", out)
        H0 = m.hessian(theta, x[:10], y[:10], None, "gn") / 10
        check_spectrum(h, evals(out)[0], H0, 1e-10, f"mlp {act} gn gram")
    # residual of the one-hidden-layer net: spectrum symmetric, trace 0
    ev = evals(h.path("mp_relu_residual_1.h5"))[0]
    h.expect(np.max(np.abs(ev + ev[::-1])) < 1e-10 * np.max(np.abs(ev)),
             "residual spectrum not symmetric about zero")


def case_batches(h):
    """Batch spectra with groups at 4 ranks equal those at 1 rank and the
    reference; short last batch; --first-batch / --max-batches."""
    x, y, _, theta = write_problem(h, "bt", 110, 6, 4, [6, 5, 4], True, seed=2)
    common = ["hessian", *data_args(h, "bt"), "--model", "mlp:6-5-4",
              "--activation", "tanh", "--batch-size", 25, "--reduction",
              "sum", "--method", "dense", "-q"]
    h.run(1, *common, "-o", h.path("bt1.h5"))
    h.run(4, *common, "--groups", 2, "-o", h.path("bt4.h5"))
    a, b = evals(h.path("bt1.h5")), evals(h.path("bt4.h5"))
    h.expect(a.shape == (5, 59), f"batch spectra shape {a.shape}")
    h.expect(max_rel(b, a) < 1e-10, f"groups at 4 ranks vs 1 rank {max_rel(b, a):.3g}")
    m = Mlp([6, 5, 4], True, "tanh", "ce")
    for k in range(5):
        sl = slice(25 * k, min(25 * k + 25, 110))
        check_spectrum(h, a[k], m.hessian(theta, x[sl], y[sl]), 1e-6,
                       f"batch {k}")
    with h5py.File(h.path("bt1.h5"), "r") as f:
        rows = list(f["checks/rows"][...])
        h.expect(rows == [25, 25, 25, 25, 10], f"rows per batch {rows}")
    h.run(2, *common, "--first-batch", 2, "--max-batches", 2, "-o",
          h.path("bt_part.h5"))
    c = evals(h.path("bt_part.h5"))
    h.expect(c.shape == (2, 59) and max_rel(c, a[2:4]) < 1e-10,
             "--first-batch 2 --max-batches 2 differs from rows 2-3")


def case_lowrank(h):
    """The low-rank path equals the dense path and the reference on ReLU
    batch Hessians (rank well below N), at 1 and 2 ranks and with groups;
    where the rank passes N/2 it falls back to dense and says so."""
    x, y, _, theta = write_problem(h, "lr", 48, 30, 4, [30, 12, 10, 4], True,
                                   seed=5)
    common = ["hessian", *data_args(h, "lr"), "--model", "mlp:30-12-10-4",
              "--batch-size", 8, "--max-batches", 3, "-q"]
    h.run(1, *common, "--method", "dense", "-o", h.path("dense.h5"))
    d = evals(h.path("dense.h5"))
    m = Mlp([30, 12, 10, 4], True, "relu", "ce")
    # one group on a 1x2 grid, and --groups auto: one group per rank
    for np_, extra in [(1, []), (2, ["--groups", 1]), (2, [])]:
        out = h.path(f"lr_{np_}_{len(extra)}.h5")
        h.run(np_, *common, "--method", "lowrank", *extra, "-o", out)
        got = evals(out)
        h.expect(max_rel(got, d) < 1e-12, f"lowrank np{np_} {extra} vs dense "
                 f"{max_rel(got, d):.3g}")
        with h5py.File(out, "r") as f:
            lr_rank = f["checks/rank"][...]
            h.expect(f.attrs["method_used"] == "lowrank", "method_used")
            groups = 1 if extra or np_ == 1 else np_
            h.expect(f.attrs["groups"] == groups,
                     f"groups {f.attrs['groups']}, expected {groups}")
        with h5py.File(h.path("dense.h5"), "r") as f:
            h.expect(np.array_equal(lr_rank, f["checks/rank"][...]),
                     f"lowrank rank {lr_rank} vs dense {f['checks/rank'][...]}")
        h.expect(0 < lr_rank.max() < 499 // 2, f"rank {lr_rank} below N/2")
    check_spectrum(h, d[1], m.hessian(theta, x[8:16], y[8:16]) / 8, 1e-6,
                   "batch 1 reference")
    # auto prefers the reduced path here: order 223 of N = 499 is cheaper
    # to form and solve than the range finder's ~96 products of size N
    h.run(1, *common, "-o", h.path("auto.h5"))
    with h5py.File(h.path("auto.h5"), "r") as f:
        h.expect(f.attrs["method_used"] == "reduced",
                 f"auto picked {f.attrs['method_used']}, not reduced")
    h.expect(max_rel(evals(h.path("auto.h5")), d) < 1e-12, "auto vs dense")
    # fewer parameters than a probe block (N = 81 < 128): no LAPACK misuse
    proc = h.run(1, "hessian", "--model", "mlp:8-8-1", "--dim", 8, "--loss",
                 "mse", "--activation", "tanh", "--batch-size", 16,
                 "--max-batches", 1, "--method", "lowrank", "-o",
                 h.path("tiny.h5"))
    h.expect("illegal" not in proc.stderr, f"tiny lowrank: {proc.stderr}")
    # tanh: H1 has nearly full rank, so lowrank falls back to dense
    out = h.path("fallback.h5")
    proc = h.run(1, "hessian", *data_args(h, "lr"), "--model", "mlp:30-12-10-4",
                 "--activation", "tanh", "--batch-size", 24, "--max-batches",
                 1, "--method", "lowrank", "-o", out)
    h.expect("dense path is faster" in proc.stderr, "no fallback note")
    ref = Mlp([30, 12, 10, 4], True, "tanh", "ce").hessian(theta, x[:24], y[:24]) / 24
    check_spectrum(h, evals(out)[0], ref, 1e-6, "fallback vs reference")


def case_reduced(h):
    """The input-span reduction equals the dense path to 1e-12 for relu and
    tanh, ce and mse, with and without biases, batches smaller than the
    input width (a real reduction), larger (none: the span is everything)
    and with repeated rows (a span smaller than the batch); at 1 and 2
    ranks; the reference agrees; a conv model is refused with a message."""
    d, widths = 12, [12, 9, 7, 3]
    spec = "mlp:" + "-".join(map(str, widths))
    for bias in (True, False):
        name = f"rd{int(bias)}"
        x, y, _, theta = write_problem(h, name, 40, d, 3, widths, bias, seed=9)
        # rows 16-23 repeat rows 16-19: batch 2 of 8 spans 4 dimensions
        x[20:24] = x[16:20]
        y[20:24] = y[16:20]
        np.save(h.path(f"{name}_x.npy"), x)
        np.save(h.path(f"{name}_y.npy"), y.astype(np.int64))
        base = ["hessian", *data_args(h, name), "--model", spec]
        if not bias:
            base += ["--no-bias"]
        for act in ("relu", "tanh"):
            for loss in ("ce", "mse"):
                for batch in (8, 20):
                    common = [*base, "--activation", act, "--loss", loss,
                              "--batch-size", batch, "--max-batches", 3, "-q",
                              "--no-stats"]
                    tag = f"{name}_{act}_{loss}_{batch}"
                    h.run(1, *common, "--method", "dense", "-o",
                          h.path(f"{tag}_d.h5"))
                    h.run(1, *common, "--method", "reduced", "-o",
                          h.path(f"{tag}_r.h5"))
                    a, b = evals(h.path(f"{tag}_d.h5")), evals(h.path(f"{tag}_r.h5"))
                    h.expect(max_rel(b, a) < 1e-12,
                             f"reduced vs dense, {tag}: {max_rel(b, a):.3g}")
        with h5py.File(h.path(f"{tag}_r.h5"), "r") as f:
            h.expect(f.attrs["method_used"] == "reduced", "method_used")
            hv = f["checks/hv_error"][...]
            h.expect(bool(np.all(hv < 1e-12)), f"H v check {hv}")
    # two ranks, one group and two groups, against the one-rank run
    ref = evals(h.path("rd0_tanh_mse_8_d.h5"))
    for extra in (["--groups", 1], []):
        out = h.path(f"rd_np2_{len(extra)}.h5")
        h.run(2, *base, "--activation", "tanh", "--loss", "mse",
              "--batch-size", 8, "--max-batches", 3, "-q", "--no-stats",
              "--method", "reduced", *extra, "-o", out)
        h.expect(max_rel(evals(out), ref) < 1e-12,
                 f"reduced at 2 ranks {extra}: {max_rel(evals(out), ref):.3g}")
    # the reference: batch 1 of relu / ce with biases
    x, y, _, theta = write_problem(h, "rdref", 40, d, 3, widths, True, seed=9)
    out = h.path("rdref.h5")
    h.run(1, "hessian", *data_args(h, "rdref"), "--model", spec,
          "--batch-size", 8, "--max-batches", 2, "--reduction", "sum",
          "--method", "reduced", "-q", "--no-stats", "-o", out)
    ref = Mlp(widths, True, "relu", "ce").hessian(theta, x[8:16], y[8:16])
    check_spectrum(h, evals(out)[1], ref, 1e-6, "reduced vs reference")
    h.error_case(1, ["hessian", "--model", "input 1x6x6, conv 2 3, relu, "
                     "flatten, linear 3", "--dim", 36,
                     "--batch-size", 4, "--method", "reduced"],
                 "first layer with parameters is linear", "reduced conv")


def case_resume(h):
    # 40 spectra of N = 356: long enough that the kill lands mid-run even
    # when the machine is fast (with N = 92 a run could finish first)
    x, y, _, theta = write_problem(h, "rs", 400, 6, 4, [6, 32, 4], True, seed=3)
    common = ["hessian", *data_args(h, "rs"), "--model", "mlp:6-32-4",
              "--batch-size", 10, "--method", "dense", "--groups", 2]
    h.run(2, *common, "-q", "-o", h.path("full.h5"))
    out = h.path("res.h5")
    proc = kill_one_rank_after(h, 2, common + ["-o", out], done_lines=4)
    h.expect(proc.returncode != 0, "killed run exited 0")
    h.expect(os.path.exists(out + ".partial"), "killed run left no .partial")
    h.run(2, *common, "-q", "--resume", "-o", out)
    a, b = evals(out), evals(h.path("full.h5"))
    h.expect(np.array_equal(a, b), "resumed differs from uninterrupted")
    proc = h.run(2, *common, "--reduction", "sum", "--resume", "-o",
                 h.path("full.h5"), check=False)
    h.expect(proc.returncode != 0, "resume without a partial accepted")


def case_fashion_mnist(h):
    """The real data path: Fashion-MNIST IDX .gz, pixels scaled to [-1, 1],
    logistic batch spectra by the Gram path against numpy's dense closed
    form (skipped when Debian's dataset-fashion-mnist is not installed)."""
    images = os.path.join(FMNIST, "train-images-idx3-ubyte.gz")
    labels = os.path.join(FMNIST, "train-labels-idx1-ubyte.gz")
    if not os.path.exists(images):
        print("note: dataset-fashion-mnist not installed; case skipped")
        return
    out = h.path("fm.h5")
    h.run(2, "hessian", "--data", images, "--labels", labels, "--scale-pixels",
          "--batch-size", 64, "--max-batches", 2, "--init-seed", 4, "-q",
          "-o", out)
    with gzip.open(images) as f:
        x = np.frombuffer(f.read(), np.uint8, offset=16)[:128 * 784]
    with gzip.open(labels) as f:
        y = np.frombuffer(f.read(), np.uint8, offset=8)[:128].astype(int)
    x = x.reshape(128, 784) / 127.5 - 1.0
    with h5py.File(out, "r") as f:
        h.expect(f.attrs["method_used"] == "gram", "auto did not pick gram")
        h.expect(list(f["checks/rank"][...]) == [576, 576],
                 f"ranks {f['checks/rank'][...]}: B(C-1) = 576")
    # The Gram route's nonzero spectrum from numpy on the same weights: the
    # initial weights are hessrmt's, so compare against its own dense path.
    dense = h.path("fm_dense.h5")
    h.run(2, "hessian", "--data", images, "--labels", labels, "--scale-pixels",
          "--batch-size", 64, "--max-batches", 1, "--init-seed", 4,
          "--method", "dense", "-q", "-o", dense)
    g, d = evals(out)[0], evals(dense)[0]
    h.expect(max_rel(g, d) < 1e-10, f"gram vs dense on Fashion-MNIST "
             f"{max_rel(g, d):.3g}")
    h.expect(x.shape == (128, 784) and y.max() <= 9, "reference data")


def errors(h, np_):
    write_problem(h, "er", 30, 4, 3, [4, 3], True, seed=4)
    base = ["hessian", *data_args(h, "er")]
    unweighted = ["hessian", "--data", h.path("er_x.npy"), "--labels",
                  h.path("er_y.npy")]
    e = h.error_case
    e(np_, base + ["--model", "mlp:5-3"], "5 inputs but the data have 4",
      "model_dim")
    e(np_, base + ["--model", "mlp:4-2-3"], "has shape (3, 4) but the model "
      "needs (2, 4)", "weights_shape")
    e(np_, unweighted + ["--classes", "2"], "outside [0, 2)", "classes")
    e(np_, base + ["--data", h.path("missing.npy")], "missing.npy", "missing")
    e(np_, base + ["--batch-size", "16", "--first-batch", "2"],
      "--first-batch 2 is past the last batch: 30 rows make 2 batches of 16",
      "first_batch")
    e(np_, base + ["--batch-size", "1000"],
      "--batch-size 1000 is larger than the data: " + h.path("er_x.npy") +
      " has 30 rows", "batch_too_large")
    if np_ > 1:
        e(np_, base + ["--batch-size", str(np_ - 1), "--groups", "1"],
          "every rank needs",
          "ranks_rows")
    x = np.load(h.path("er_x.npy"))
    x[7, 2] = np.nan
    np.save(h.path("nan_x.npy"), x)
    e(np_, ["hessian", "--data", h.path("nan_x.npy"), "--labels",
            h.path("er_y.npy")], "nan_x.npy", "nan")
    y = np.load(h.path("er_y.npy"))
    y[3] = 7
    np.save(h.path("big_y.npy"), y)
    e(np_, ["hessian", "--data", h.path("er_x.npy"), "--labels",
            h.path("big_y.npy"), "--model", "mlp:4-3"],
      "label 7 of row 3 is outside [0, 3)", "label_range")
    e(np_, ["hessian", "--model", "mlp:20-5-4", "--method", "gram"],
      "gram is exact only", "gram_full")
    e(np_, ["hessian", "--n", "500", "--dim", "300", "--max-mem", "1M"],
      "not enough memory", "memory")
    e(np_, base + ["--scale-pixels"], "expects values in [0, 255]", "pixels")
    e(np_, base + ["--first-batch", "1"], "need --batch-size", "no_batches")
    e(np_, base + ["--batch-size", "16", "--first-batch", "9000000000000000"],
      "past the last batch", "first_overflow")


def case_synthetic(h):
    """Synthetic data take the model's number of classes."""
    out = h.path("syn.h5")
    h.run(2, "hessian", "--model", "mlp:10-5-3", "--dim", 10, "--n", 64,
          "-q", "-o", out)
    with h5py.File(out, "r") as f:
        h.expect(f.attrs["classes"] == 3, f"classes {f.attrs['classes']}")
    # a short last batch is named in the plan line, and its spectrum has
    # the rows there are
    short = h.path("syn_short.h5")
    proc = h.run(1, "hessian", "--model", "mlp:10-5-3", "--dim", 10, "--n", 100,
                 "--batch-size", 64, "-o", short, "--no-stats")
    h.expect("2 spectra of mlp:10-5-3" in proc.stderr and
             "over 64 rows (the last of 36) of synthetic" in proc.stderr,
             f"plan line: {proc.stderr[:400]}")
    with h5py.File(short, "r") as f:
        rows = list(f["checks/rows"][...])
    h.expect(rows == [64, 36], f"rows per spectrum {rows}")


def case_dry_run(h):
    out = h.path("dry.h5")
    proc = h.run(2, "hessian", "--model", "mlp:200-8-4", "--dim", 200,
                 "--batch-size", 16, "--dry-run", "-o", out)
    h.expect("memory" in proc.stderr and "GFLOP" in proc.stderr,
             f"plan: {proc.stderr}")
    # the flop model behind --method auto, the method used marked
    for method in ("dense", "lowrank", "reduced"):
        h.expect(f"  {method} " in proc.stderr, f"no {method} cost: {proc.stderr}")
    h.expect("reduced" in proc.stderr.split("<- used")[0].splitlines()[-1],
             f"auto did not use reduced: {proc.stderr}")
    h.expect(not os.path.exists(out) and not os.path.exists(out + ".partial"),
             "dry run wrote a file")
    # lowrank's rank guess: B C per pair of layers with parameters (at least
    # 3 B C); the 4-layer MLP keeps the range finder, resnet-mini (19 layers
    # with parameters: rank past N/2 at batch 8 already) gets dense
    for model, dim, used, guess in (("mnist-mlp-deep", 784, "lowrank", "6 B C"),
                                    ("resnet-mini", 3072, "dense", "171 B C")):
        proc = h.run(1, "hessian", "--model", model, "--dim", dim, "--batch-size", 64,
                     "--dry-run", "-o", out)
        table = proc.stderr.split("GFLOP to form")[1]
        h.expect(f"(rank guessed: {guess})" in table, f"{model}: {table}")
        h.expect(used in table.split("<- used")[0].splitlines()[-1],
                 f"{model}: auto did not use {used}: {table}")


def slq_distance(ev, nodes, weights, probes):
    """W1 / range and KS between the exact levels and the SLQ measure, as
    numpy computes them."""
    ok = np.isfinite(nodes) & (weights > 0)
    x, w = nodes[ok], weights[ok] / weights[ok].sum()
    grid = np.unique(np.concatenate([ev, x]))
    fa = np.searchsorted(np.sort(ev), grid, side="right") / len(ev)
    order = np.argsort(x)
    fb = np.cumsum(w[order])[np.searchsorted(x[order], grid, side="right") - 1]
    fb[np.searchsorted(x[order], grid, side="right") == 0] = 0
    w1 = np.sum(np.abs(fa - fb)[:-1] * np.diff(grid)) / (ev.max() - ev.min())
    return w1, np.max(np.abs(fa - fb))


def case_slq(h):
    """--slq M,K: the stochastic Lanczos quadrature estimate beside the exact
    spectrum.  Each probe's Gauss weights sum to 1 and its nodes (Ritz
    values) lie within the exact spectrum; the estimate's Wasserstein-1
    distance from the exact spectrum falls as M grows (5, 20, 80 steps);
    stats' distances equal numpy's on the same file; 1 and 2 ranks give
    the same nodes; a batch file has one estimate per batch."""
    base = ["hessian", "--n", 400, "--dim", 20, "--model", "mlp:20-16-4",
            "--no-stats", "-q"]
    w1s = []
    for m in (5, 20, 80):
        out = h.path(f"slq{m}.h5")
        h.run(2, *base, "--slq", f"{m},4", "-o", out)
        with h5py.File(out, "r") as f:
            ev = f["hessian_evals"][0]
            nodes, weights = f["slq_nodes"][0], f["slq_weights"][0]
            h.expect(f.attrs["slq_steps"] == m and f.attrs["slq_probes"] == 4,
                     f"slq attrs {dict(f.attrs)}")
        per_probe = weights.reshape(4, m).sum(axis=1)
        h.expect(np.allclose(per_probe, 1.0, atol=1e-10), f"M={m}: weights {per_probe}")
        finite = nodes[np.isfinite(nodes)]
        h.expect(finite.min() >= ev.min() - 1e-10 and finite.max() <= ev.max() + 1e-10,
                 f"M={m}: Ritz values outside the spectrum")
        w1, ks = slq_distance(ev, nodes, weights, 4)
        h.serial("stats", out, "--json", out + ".json")
        with open(out + ".json") as f:
            j = json.load(f)["slq"]
        h.expect(abs(j["wasserstein1_mean"] - w1) < 1e-9 and abs(j["ks_mean"] - ks) < 1e-9,
                 f"M={m}: stats W1 {j['wasserstein1_mean']} KS {j['ks_mean']}, "
                 f"numpy {w1} {ks}")
        w1s.append(w1)
    h.expect(w1s[0] > w1s[1] > w1s[2], f"W1 does not fall with M: {w1s}")
    print(f"slq: W1 / range at M = 5, 20, 80: {[round(w, 5) for w in w1s]}")
    one = h.path("slq_np1.h5")
    h.run(1, *base, "--slq", "20,4", "-o", one)
    with h5py.File(one, "r") as f, h5py.File(h.path("slq20.h5"), "r") as g:
        a, b = f["slq_nodes"][...], g["slq_nodes"][...]
    h.expect(np.allclose(a, b, rtol=0, atol=1e-9 * np.nanmax(np.abs(b)), equal_nan=True),
             "slq: 1 and 2 ranks differ")
    batches = h.path("slq_batches.h5")
    h.run(2, *base, "--batch-size", 100, "--slq", "10,2", "-o", batches)
    with h5py.File(batches, "r") as f:
        h.expect(f["slq_nodes"].shape == (4, 20), f"batch slq {f['slq_nodes'].shape}")
    proc = h.serial("merge", batches, one, "-o", h.path("slq_merged.h5"), check=False)
    h.expect(proc.returncode == 3 and "--slq estimates" in proc.stderr,
             f"merge of an --slq file: {proc.returncode} {proc.stderr[-200:]}")
    proc = h.run(1, *base, "--slq", "10,2", "--block", "0", "-o", h.path("x.h5"),
                 check=False)
    h.expect(proc.returncode == 2 and "does not combine" in proc.stderr,
             f"--slq with --block: {proc.stderr[-200:]}")


CASES = {
    "slq": case_slq,
    "logistic": case_logistic,
    "mlp": case_mlp,
    "batches": case_batches,
    "lowrank": case_lowrank,
    "reduced": case_reduced,
    "resume": case_resume,
    "fashion_mnist": case_fashion_mnist,
    "errors_np1": lambda h: errors(h, 1),
    "errors_np4": lambda h: errors(h, 4),
    "dry_run": case_dry_run,
    "synthetic": case_synthetic,
}

if __name__ == "__main__":
    sys.exit(Harness(__doc__, CASES).main())
