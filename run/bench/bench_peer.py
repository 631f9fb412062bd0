#!/usr/bin/python3
"""The paper's own algorithm as a peer: per-batch Hessian spectra with PyTorch
autograd against hessrmt, on the same weights and the same batches.

The peer (what GadamX/rmt/get_exact_hessian_spectra.py does) forms the loss of
one batch in float64, takes the gradient with create_graph=True, then builds
the Hessian one row at a time, row i being the gradient of gradient entry i,
and calls eigvalsh on it.  hessrmt runs the same batches with its default
method (gram for logistic regression, lowrank for the MLP) under mpirun.

    run/bench/bench_peer.py [--models logistic,mlp:784-10-100-10]
                            [--batches 2] [--layouts 1x1,2x1,2x2] [--threads 2]

Both sides read Fashion-MNIST (Debian's dataset-fashion-mnist) with pixels
mapped to [-1, 1] and use one weights file written here (PyTorch's default
uniform +-1/sqrt(fan_in) initialisation from --seed).  Reports seconds per
spectrum (hessrmt: excluding the one-off read of the dataset; the peer:
Hessian rows and eigvalsh, the data already in memory) and the largest
eigenvalue difference relative to the largest |eigenvalue|.

Needs python3-torch (Debian 12: 1.13): apt-get install python3-torch.
"""
import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FM = "/usr/share/datasets/fashion-mnist"
BATCH = 64


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="logistic,mlp:784-10-100-10")
    p.add_argument("--batches", type=int, default=2,
                   help="batches per model (the peer costs ~30-60 s each)")
    p.add_argument("--layouts", default="1x1,2x1,2x2",
                   help="hessrmt runs as RANKSxGROUPS (2x2: two ranks, each "
                   "its own group solving its own batches)")
    p.add_argument("--threads", type=int, default=os.cpu_count(),
                   help="threads of the peer (PyTorch and its BLAS)")
    p.add_argument("--hessrmt-batches", type=int, default=0,
                   help="batches hessrmt runs for its timing (default: "
                   "--batches); the first --batches are compared with the peer")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--hessrmt", default=os.path.join(ROOT, "build", "hessrmt"))
    return p.parse_args()


ARGS = parse_args()
# The peer's thread count must be fixed before numpy and torch load BLAS.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
# The peer runs the OpenBLAS core hessrmt runs (exported by benchenv).
import benchenv  # noqa: E402

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(ARGS.threads)


def layer_sizes(model):
    """[(out, in), ...] of each layer: logistic or mlp:D-H1-...-C."""
    dims = [784, 10] if model == "logistic" else \
        [int(v) for v in model.split(":", 1)[1].split("-")]
    return [(dims[k + 1], dims[k]) for k in range(len(dims) - 1)]


def write_weights(path, shapes, seed):
    """PyTorch's default Linear initialisation, in hessrmt's weights layout."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        for l, (out, inp) in enumerate(shapes):
            bound = 1 / np.sqrt(inp)
            f[f"layers/{l}/weight"] = rng.uniform(-bound, bound, (out, inp))
            f[f"layers/{l}/bias"] = rng.uniform(-bound, bound, out)


def read_weights(path, shapes):
    """One flat float64 vector, layer by layer: weight (row-major), bias."""
    with h5py.File(path, "r") as f:
        parts = []
        for l in range(len(shapes)):
            parts += [f[f"layers/{l}/weight"][...].ravel(),
                      f[f"layers/{l}/bias"][...]]
    return np.concatenate(parts)


def read_batches(count):
    """The first `count` batches of 64 rows, pixels mapped to [-1, 1]."""
    rows = count * BATCH
    with gzip.open(f"{FM}/train-images-idx3-ubyte.gz") as f:
        raw = f.read(16 + rows * 784)
    with gzip.open(f"{FM}/train-labels-idx1-ubyte.gz") as f:
        lab = f.read(8 + rows)
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(rows, 784)
    y = np.frombuffer(lab, np.uint8, offset=8).astype(np.int64)
    return x / 127.5 - 1.0, y


def batch_loss(theta, x, y, shapes):
    """Mean softmax cross-entropy of an MLP with ReLU between layers."""
    h, off = x, 0
    for l, (out, inp) in enumerate(shapes):
        w = theta[off:off + out * inp].view(out, inp)
        off += out * inp
        b = theta[off:off + out]
        off += out
        h = h @ w.T + b
        if l < len(shapes) - 1:
            h = torch.relu(h)
    return torch.nn.functional.cross_entropy(h, y, reduction="mean")


def peer_spectrum(theta0, x, y, shapes):
    """The paper's algorithm: Hessian row by row with autograd, eigvalsh.
    Returns (eigenvalues, seconds for the rows, seconds for eigvalsh)."""
    theta = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    xt = torch.tensor(x, dtype=torch.float64)
    yt = torch.tensor(y)
    start = time.perf_counter()
    (grad,) = torch.autograd.grad(batch_loss(theta, xt, yt, shapes), theta,
                                  create_graph=True)
    n = theta.numel()
    hess = torch.empty((n, n), dtype=torch.float64)
    for i in range(n):
        (hess[i],) = torch.autograd.grad(grad[i], theta, retain_graph=True)
    rows = time.perf_counter() - start
    start = time.perf_counter()
    evals = torch.linalg.eigvalsh(hess).numpy()
    return evals, rows, time.perf_counter() - start


def hessrmt_spectra(model, weights, batches, ranks, groups, work):
    """hessrmt on the same batches; (eigenvalues per batch, s/spectrum, method)."""
    out = os.path.join(work, "hessrmt.h5")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = ["mpirun", "--oversubscribe", "-n", str(ranks), ARGS.hessrmt,
           "hessian", "--data", f"{FM}/train-images-idx3-ubyte.gz",
           "--labels", f"{FM}/train-labels-idx1-ubyte.gz", "--scale-pixels",
           "--model", model, "--weights", weights, "--batch-size", str(BATCH),
           "--max-batches", str(batches), "--groups", str(groups),
           "--no-stats", "-q", "-o", out]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    with h5py.File(out, "r") as f:
        evals = f["hessian_evals"][...]
        seconds = (f.attrs["time_total_max"] - f.attrs["time_read_max"]) / batches
        method = f.attrs["method_used"]
        method = method.decode() if isinstance(method, bytes) else str(method)
    os.remove(out)
    return evals, seconds, method


def bench_model(model, work):
    shapes = layer_sizes(model)
    weights = os.path.join(work, "weights.h5")
    write_weights(weights, shapes, ARGS.seed)
    theta = read_weights(weights, shapes)
    x, y = read_batches(ARGS.batches)
    peer, peer_rows, peer_eig = [], 0.0, 0.0
    for b in range(ARGS.batches):
        rows = slice(b * BATCH, (b + 1) * BATCH)
        ev, t_rows, t_eig = peer_spectrum(theta, x[rows], y[rows], shapes)
        peer.append(ev)
        peer_rows += t_rows / ARGS.batches
        peer_eig += t_eig / ARGS.batches
    peer_s = peer_rows + peer_eig
    print(f"\n### {model} (N = {theta.size:,}), batch {BATCH}: peer on "
          f"{ARGS.batches} batches, hessrmt on "
          f"{max(ARGS.batches, ARGS.hessrmt_batches)}\n")
    print(f"peer (PyTorch {torch.__version__}, {ARGS.threads} threads): "
          f"{peer_s:.2f} s per spectrum ({peer_rows:.2f} s Hessian rows, "
          f"{peer_eig:.2f} s eigvalsh)\n")
    print("| hessrmt ranks | groups | method | seconds per spectrum | speed-up "
          "over peer | max abs eigenvalue difference / max abs eigenvalue |")
    print("|---|---|---|---|---|---|")
    count = max(ARGS.batches, ARGS.hessrmt_batches)
    for layout in ARGS.layouts.split(","):
        ranks, groups = (int(v) for v in layout.split("x"))
        evals, seconds, method = hessrmt_spectra(model, weights, count,
                                                 ranks, groups, work)
        diff = max(np.max(np.abs(np.sort(evals[b]) - np.sort(peer[b])))
                   / np.max(np.abs(peer[b])) for b in range(ARGS.batches))
        print(f"| {ranks} | {groups} | {method} | {seconds:.3f} s | "
              f"{peer_s / seconds:.0f}x "
              f"| {diff:.1e} |", flush=True)


def main():
    if not os.path.exists(f"{FM}/train-images-idx3-ubyte.gz"):
        sys.exit("needs Debian's dataset-fashion-mnist (run/install-deps.sh)")
    print(f"command: {' '.join(sys.argv)}")
    print(benchenv.machine_line(), flush=True)
    with tempfile.TemporaryDirectory() as work:
        for model in ARGS.models.split(","):
            bench_model(model, work)


if __name__ == "__main__":
    main()
