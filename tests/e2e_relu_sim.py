#!/usr/bin/env python3
"""End-to-end tests of `hessrmt relu-sim` against an independent numpy
reference: from the data and weights saved in the file, H0 = (1/m) J^T J
with the Jacobian written out (the identity where the seed notebook put a
matrix of ones), H1 = [[0, B], [B^T, 0]] from the second derivatives of
the network, H = H0 + H1 (itself checked against central differences of
the numpy gradient), and the whole gradient descent replayed from the
initial weights.  Each case is one CTest test."""
import os
import sys

import h5py
import numpy as np

from e2e_common import Harness, png_size

SWEEP = ["--n0", "5,8", "--n1", 6, "--n2", 3, "--m", 10, "--iters", 200,
         "--runs", 3, "--step", 0.01]
PARTS = ["H0", "H1", "H"]

# ---- the reference --------------------------------------------------------------


def forward(W1, W2, x, y):
    """x (m x n0) and y (m x n2), one sample per row as the file stores them."""
    z = x @ W1.T
    a = np.maximum(z, 0.0)
    e = a @ W2.T - y
    return z, a, e


def loss(W1, W2, x, y):
    _, _, e = forward(W1, W2, x, y)
    return float(np.sum(e * e) / (2 * len(x)))


def gradient(W1, W2, x, y):
    z, a, e = forward(W1, W2, x, y)
    m = len(x)
    g2 = e.T @ a / m
    g1 = ((e @ W2) * (z > 0)).T @ x / m
    return g1, g2


def hessians(W1, W2, x, y):
    """H0, H1, H in PyTorch order (W1 row-major, then W2 row-major)."""
    z, a, e = forward(W1, W2, x, y)
    m, n0 = x.shape
    n2, n1 = W2.shape
    # J[u, i, :] = d yhat_(u, i) / d theta
    j1 = np.einsum("ia,ua,ub->uiab", W2, (z > 0).astype(float), x)
    j2 = np.einsum("ic,ud->uicd", np.eye(n2), a)
    J = np.concatenate([j1.reshape(m, n2, n1 * n0),
                        j2.reshape(m, n2, n2 * n1)], axis=2)
    H0 = np.einsum("uip,uiq->pq", J, J) / m
    # d^2 yhat_(u,i) / dW1[a,b] dW2[c,d] = delta_ic delta_ad 1[z_ua > 0] x_ub
    B = np.einsum("ad,uc,ua,ub->abcd", np.eye(n1), e,
                  (z > 0).astype(float), x) / m
    B = B.reshape(n1 * n0, n2 * n1)
    N = n1 * (n0 + n2)
    H1 = np.zeros((N, N))
    H1[:n1 * n0, n1 * n0:] = B
    H1[n1 * n0:, :n1 * n0] = B.T
    return H0, H1, H0 + H1


def fd_hessian(W1, W2, x, y, h=1e-6):
    theta = np.concatenate([W1.ravel(), W2.ravel()])
    k = W1.size

    def grad(t):
        g1, g2 = gradient(t[:k].reshape(W1.shape), t[k:].reshape(W2.shape), x, y)
        return np.concatenate([g1.ravel(), g2.ravel()])
    cols = []
    for p in range(len(theta)):
        up, dn = theta.copy(), theta.copy()
        up[p] += h
        dn[p] -= h
        cols.append((grad(up) - grad(dn)) / (2 * h))
    return np.array(cols).T


def descend(W1, W2, x, y, iters, step):
    losses = []
    for _ in range(iters):
        losses.append(loss(W1, W2, x, y))
        g1, g2 = gradient(W1, W2, x, y)
        W1, W2 = W1 - step * g1, W2 - step * g2
    losses.append(loss(W1, W2, x, y))
    return np.array(losses), W1, W2


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a) - np.asarray(b))) /
                 max(np.max(np.abs(b)), 1e-300))


def read(path):
    """{shape name: {dataset: array, 'attrs': {...}, 'run': [{...}]}}"""
    out = {}
    with h5py.File(path, "r") as f:
        out["root"] = dict(f.attrs)
        out["options"] = dict(f["options"].attrs)
        for name in f.attrs["shapes"].split(","):
            g = f[name]
            d = {k: g[k][...] for k in g if not k.startswith("run_")}
            d["attrs"] = dict(g.attrs)
            d["run"] = [{k: g[f"run_{r}"][k][...] for k in g[f"run_{r}"]}
                        for r in range(int(g.attrs["runs"]))]
            out[name] = d
    return out


def shapes_of(data):
    return [k for k in data if k.startswith("shape_")]


# ---- cases ------------------------------------------------------------------------


def check_shape(h, name, d, rescale=False):
    a = d["attrs"]
    n0, n1, n2, m = (int(a[k]) for k in ("n0", "n1", "n2", "m"))
    N, runs, iters, step = n1 * (n0 + n2), int(a["runs"]), int(a["iters"]), a["step"]
    h.expect(name == f"shape_{n0}_{n1}_{n2}_{m}", f"group name {name}")
    h.expect(int(a["N"]) == N and abs(a["phi"] - N / (n2 * m)) < 1e-15,
             f"{name}: N {a['N']}, phi {a['phi']}")
    h.expect(d["losses"].shape == (runs, iters + 1), f"losses {d['losses'].shape}")
    for p in PARTS:
        h.expect(d[p + "_evals"].shape == (runs, N), f"{p}_evals shape")
    for r, run in enumerate(d["run"]):
        x, y = run["x"], run["y"]
        h.expect(x.shape == (m, n0) and y.shape == (m, n2) and
                 run["W1"].shape == (n1, n0) and run["W2_init"].shape == (n2, n1),
                 f"{name} run {r}: array shapes")
        # the loss curve, replayed from the initial weights
        losses, W1, W2 = descend(run["W1_init"], run["W2_init"], x, y, iters, step)
        e = rel(d["losses"][r], losses)
        h.expect(e < 1e-9, f"{name} run {r}: loss curve differs by {e:.2e}")
        e = max(rel(run["W1"], W1), rel(run["W2"], W2))
        h.expect(e < 1e-9, f"{name} run {r}: final weights differ by {e:.2e}")
        h.expect(d["losses"][r, -1] < 0.5 * d["losses"][r, 0],
                 f"{name} run {r}: loss {d['losses'][r, 0]} -> {d['losses'][r, -1]}")
        # the spectra at the saved final weights
        H0, H1, H = hessians(run["W1"], run["W2"], x, y)
        c = 1.0
        if rescale:
            c = np.sqrt(d["losses"][r, -1] / d["losses"][r, 0])
            h.expect(abs(d["h1_scale"][r] - c) < 1e-15 * c, f"h1_scale {d['h1_scale'][r]}")
            H1, H = c * H1, H0 + c * H1
        else:
            h.expect(d["h1_scale"][r] == 1.0, "h1_scale is 1 without --rescale-h1")
        for p, M in zip(PARTS, (H0, H1, H)):
            want = np.linalg.eigvalsh(M)
            e = rel(d[p + "_evals"][r], want)
            h.expect(e < 1e-9, f"{name} run {r}: {p} eigenvalues differ by {e:.2e}")
        ev0, ev1 = d["H0_evals"][r], d["H1_evals"][r]
        h.expect(ev0[0] >= -1e-12 * ev0[-1], f"H0 not PSD: {ev0[0]}")
        h.expect(np.max(np.abs(ev1 + ev1[::-1])) < 1e-12 * ev1[-1],
                 f"{name} run {r}: H1 spectrum not symmetric")
        h.expect(abs(d["trace"][r, 1]) <= 1e-15 * ev1[-1] and
                 abs(ev1.sum()) < 1e-12 * ev1[-1], f"trace(H1) {d['trace'][r, 1]}")
        h.expect(abs(d["trace"][r, 0] - ev0.sum()) < 1e-12 * ev0[-1] * N,
                 "trace(H0) = eigenvalue sum")


def case_sweep(h):
    """Every combination of the lists, each checked against numpy: loss
    curve, weights and the three spectra; H of the reference against
    central differences of its gradient; provenance."""
    out = h.path("sweep.h5")
    proc = h.run(1, "relu-sim", *SWEEP, "-o", out)
    data = read(out)
    names = shapes_of(data)
    h.expect(names == ["shape_5_6_3_10", "shape_8_6_3_10"], f"shapes {names}")
    h.expect(data["root"]["shapes"] == "shape_5_6_3_10,shape_8_6_3_10", "shapes attr")
    h.expect(data["options"]["n0"] == "5,8" and data["root"]["command"] == "relu-sim",
             "provenance options")
    h.expect("version" in data["root"] and "relu-sim" in data["root"]["command_line"],
             "version and command line")
    for name in names:
        check_shape(h, name, data[name])
    run = data[names[0]]["run"][0]
    H = hessians(run["W1"], run["W2"], run["x"], run["y"])[2]
    e = rel(fd_hessian(run["W1"], run["W2"], run["x"], run["y"]), H)
    h.expect(e < 1e-6, f"reference H vs differences of its gradient: {e:.2e}")
    h.expect("shape_8_6_3_10" in proc.stdout and "positive semi-definite" in proc.stdout,
             "summary printed")


def case_ranks(h):
    """1 rank, 2 ranks in 2 groups and 2 ranks in one group (each Hessian
    distributed over a 1x2 grid) give the same file to rounding."""
    files = {}
    for tag, np_, extra in [("np1", 1, []), ("np2g2", 2, ["--groups", 2]),
                            ("np2g1", 2, ["--nblk", 8])]:
        files[tag] = h.path(f"{tag}.h5")
        h.run(np_, "relu-sim", *SWEEP, "-o", files[tag], *extra, "-q")
    ref = read(files["np1"])
    for tag in ("np2g2", "np2g1"):
        other = read(files[tag])
        for name in shapes_of(ref):
            a, b = ref[name], other[name]
            h.expect(rel(b["losses"], a["losses"]) < 1e-14, f"{tag} {name}: losses")
            for r in range(len(a["run"])):
                for k in ("x", "y", "W1_init", "W2", "W1"):
                    h.expect(rel(b["run"][r][k], a["run"][r][k]) < 1e-14,
                             f"{tag} {name} run {r}: {k}")
            for p in PARTS:
                e = rel(b[p + "_evals"], a[p + "_evals"])
                h.expect(e < 1e-12, f"{tag} {name}: {p} eigenvalues differ by {e:.2e}")
    h.expect(read(files["np2g2"])["root"]["groups"] == 2, "groups attribute")
    check_shape(h, "shape_8_6_3_10", read(files["np2g1"])["shape_8_6_3_10"])


def case_rescale(h):
    """--rescale-h1: the notebook's H1 * sqrt(L_final / L_initial), and its
    H = H0 + c H1; off by default."""
    out = h.path("rescale.h5")
    h.run(2, "relu-sim", "--n0", 4, "--n1", 5, "--n2", 2, "--m", 12,
          "--iters", 100, "--step", 0.01, "--runs", 2, "--groups", 2,
          "--rescale-h1", "-o", out, "-q")
    data = read(out)
    h.expect(data["options"]["rescale-h1"] == "yes", "option recorded")
    name = shapes_of(data)[0]
    h.expect(data[name]["attrs"]["rescale_h1"] == 1, "rescale_h1 attribute")
    check_shape(h, name, data[name], rescale=True)


def case_figures(h):
    """--plots: losses and the three spectra as PNG (of the asked size)
    and SVG; one folder per shape for a sweep, the folder itself for one
    shape; no temporary files left."""
    figs = h.path("figs")
    h.run(2, "relu-sim", *SWEEP, "--groups", 2, "-o", h.path("f.h5"),
          "--plots", figs, "--plot-width", 800, "--plot-height", 600, "-q")
    names = ["losses", "spectrum_H0", "spectrum_H1", "spectrum_H"]
    for shape in ["shape_5_6_3_10", "shape_8_6_3_10"]:
        for n in names:
            png = os.path.join(figs, shape, n + ".png")
            h.expect(png_size(png) == (800, 600), f"{shape}/{n}.png: {png_size(png)}")
            h.expect(os.path.exists(png) and os.path.getsize(png) > 5000, f"{n}.png tiny")
            svg = os.path.join(figs, shape, n + ".svg")
            h.expect(os.path.exists(svg) and "<svg" in open(svg).read(), f"{n}.svg")
        h.expect(not [f for f in os.listdir(os.path.join(figs, shape)) if "partial" in f],
                 "partial figure left")
    one = h.path("figs_one")
    h.run(1, "relu-sim", "--n0", 5, "--n1", 6, "--n2", 3, "--m", 10, "--iters", 20,
          "-o", h.path("g.h5"), "--plots", one, "-q")
    h.expect(all(os.path.exists(os.path.join(one, n + ".png")) for n in names),
             "one shape: figures directly in the folder")


def case_errors(h):
    """Bad lists are usage errors (exit 2) naming the option, at 1 and 2
    ranks; divergence and an unwritable output are clear errors; nothing
    is left behind."""
    small = ["--n0", 3, "--n1", 4, "--n2", 2, "--m", 5, "--iters", 10]
    bad = [("--n1", "0"), ("--n1", "abc"), ("--m", "5,5"), ("--n1", "10,,20"),
           ("--n2", "-3"), ("--n0", "2.5")]
    for np_ in (1, 2):
        for opt, val in bad if np_ == 1 else bad[:3]:
            out = h.path(f"bad_{np_}.h5")
            proc = h.run(np_, "relu-sim", *small, opt, val, "-o", out,
                         check=False, timeout=60)
            name = f"{opt} {val} at {np_} rank(s)"
            h.expect(proc.returncode == 2, f"{name}: exit {proc.returncode}, not 2")
            h.expect(f"{opt} '{val}'" in proc.stderr and "positive integers" in
                     proc.stderr, f"{name}: message {proc.stderr.strip()[:300]}")
            h.expect(proc.stderr.count("hessrmt: error") == 1, f"{name}: error lines")
            h.expect(not os.path.exists(out) and not os.path.exists(out + ".partial"),
                     f"{name}: a file was left")
        h.error_case(np_, ["relu-sim"] + small + ["--step", "1000", "--iters", "200"],
                     "diverged", "divergence")
        h.error_case(np_, ["relu-sim"] + small + ["-o", h.path("no/such/dir/x.h5")],
                     "does not exist", "unwritable output")


CASES = {"sweep": case_sweep, "ranks": case_ranks, "rescale": case_rescale,
         "figures": case_figures, "errors": case_errors}

if __name__ == "__main__":
    sys.exit(Harness(__doc__, CASES).main())
