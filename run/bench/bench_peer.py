#!/usr/bin/python3
"""The paper's own algorithm as a peer: per-batch Hessian spectra with PyTorch
autograd against hessrmt, on the same weights and the same batches.

The peer (what GadamX/rmt/get_exact_hessian_spectra.py does) forms the loss of
one batch in float64, takes the gradient with create_graph=True, then builds
the Hessian one row at a time, row i being the gradient of gradient entry i,
and calls eigvalsh on it.  hessrmt runs the same batches with its default
method (gram for logistic regression, reduced for the MLPs, lowrank for
LeNet) under mpirun.

    run/bench/bench_peer.py [--models logistic,mlp:784-10-100-10,lenet,lenet:1x28x28]
                            [--batches 2] [--layouts 1x1,2x1,2x2] [--threads 2]
                            [--methods auto,reduced,lowrank]

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
    p.add_argument("--models", default="logistic,mlp:784-10-100-10",
                   help="any hessrmt specs; lenet (3x32x32) runs on synthetic "
                   "CIFAR-shaped data, the rest on Fashion-MNIST (lenet:1x28x28)")
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
    p.add_argument("--methods", default="auto",
                   help="hessrmt --method values to time, each on every layout")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--hessrmt", default=os.path.join(ROOT, "build", "hessrmt"))
    return p.parse_args()


ARGS = parse_args()
# The peer's thread count must be fixed before numpy and torch load BLAS.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ[var] = str(ARGS.threads)
# The peer runs the OpenBLAS core hessrmt runs (exported by benchenv).
import benchenv  # noqa: E402
sys.path.insert(0, os.path.join(ROOT, "run", "torch"))

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import hessrmt_torch as ht  # noqa: E402

torch.set_num_threads(ARGS.threads)


def write_weights(path, model, seed):
    """PyTorch's default initialisation of the model (seed), in hessrmt's
    weights layout; returns theta in model.parameters() order."""
    torch.manual_seed(seed)
    net = ht.build_sequential(ht.expand(model, 784, 10))
    params = [p.detach().numpy() for p in net.parameters()]
    ht.write_weights(path, params, ht.expand(model, 784, 10), True)
    return np.concatenate([p.ravel() for p in params])


def cifar_shaped(count, work):
    """Synthetic CIFAR-10-shaped batches (3x32x32, N(0, 1) pixels, 10
    classes), written as npy for hessrmt."""
    rng = np.random.default_rng(ARGS.seed)
    x = rng.normal(size=(count * BATCH, 3 * 32 * 32))
    y = rng.integers(0, 10, count * BATCH)
    np.save(os.path.join(work, "cifar_x.npy"), x)
    np.save(os.path.join(work, "cifar_y.npy"), y)
    return x, y, ["--data", os.path.join(work, "cifar_x.npy"), "--labels",
                  os.path.join(work, "cifar_y.npy")]


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


def batch_loss(theta, x, y, model):
    """Mean softmax cross-entropy of the model (float64, functional)."""
    f = ht.functional_forward(ht.expand(model, 784, 10), theta, x)
    return torch.nn.functional.cross_entropy(f, y, reduction="mean")


def peer_spectrum(theta0, x, y, model):
    """The paper's algorithm: Hessian row by row with autograd, eigvalsh.
    Returns (eigenvalues, seconds for the rows, seconds for eigvalsh)."""
    theta = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    xt = torch.tensor(x, dtype=torch.float64)
    yt = torch.tensor(y)
    start = time.perf_counter()
    (grad,) = torch.autograd.grad(batch_loss(theta, xt, yt, model), theta,
                                  create_graph=True)
    n = theta.numel()
    hess = torch.empty((n, n), dtype=torch.float64)
    for i in range(n):
        (hess[i],) = torch.autograd.grad(grad[i], theta, retain_graph=True)
    rows = time.perf_counter() - start
    start = time.perf_counter()
    evals = torch.linalg.eigvalsh(hess).numpy()
    return evals, rows, time.perf_counter() - start


def hessrmt_spectra(model, weights, data, batches, ranks, groups, method, work):
    """hessrmt on the same batches; (eigenvalues per batch, s/spectrum,
    method, numerical ranks)."""
    out = os.path.join(work, "hessrmt.h5")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = ["mpirun", "--oversubscribe", "-n", str(ranks), ARGS.hessrmt,
           "hessian", *data, "--model", model, "--weights", weights, "--batch-size", str(BATCH),
           "--max-batches", str(batches), "--groups", str(groups),
           "--method", method, "--no-stats", "-q", "-o", out]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    with h5py.File(out, "r") as f:
        evals = f["hessian_evals"][...]
        seconds = (f.attrs["time_total_max"] - f.attrs["time_read_max"]) / batches
        method = f.attrs["method_used"]
        method = method.decode() if isinstance(method, bytes) else str(method)
        ranks = f["checks/rank"][...]
    os.remove(out)
    return evals, seconds, method, ranks


def bench_model(model, work):
    weights = os.path.join(work, "weights.h5")
    theta = write_weights(weights, model, ARGS.seed)
    count = max(ARGS.batches, ARGS.hessrmt_batches)
    if ht.spec_items(ht.expand(model, 784, 10))[1] == (3, 32, 32):
        x, y, data = cifar_shaped(count, work)
        where = "synthetic CIFAR-shaped data"
    else:
        x, y = read_batches(ARGS.batches)
        data = ["--data", f"{FM}/train-images-idx3-ubyte.gz", "--labels",
                f"{FM}/train-labels-idx1-ubyte.gz", "--scale-pixels"]
        where = "Fashion-MNIST"
    peer, peer_rows, peer_eig = [], 0.0, 0.0
    for b in range(ARGS.batches):
        rows = slice(b * BATCH, (b + 1) * BATCH)
        ev, t_rows, t_eig = peer_spectrum(theta, x[rows], y[rows], model)
        peer.append(ev)
        peer_rows += t_rows / ARGS.batches
        peer_eig += t_eig / ARGS.batches
    peer_s = peer_rows + peer_eig
    print(f"\n### {model} on {where} (N = {theta.size:,}), batch {BATCH}: peer on "
          f"{ARGS.batches} batches, hessrmt on "
          f"{max(ARGS.batches, ARGS.hessrmt_batches)}\n")
    print(f"peer (PyTorch {torch.__version__}, {ARGS.threads} threads): "
          f"{peer_s:.2f} s per spectrum ({peer_rows:.2f} s Hessian rows, "
          f"{peer_eig:.2f} s eigvalsh)\n")
    print("| hessrmt ranks | groups | method | rank found | seconds per spectrum "
          "| speed-up over peer | max abs eigenvalue difference / max abs eigenvalue |")
    print("|---|---|---|---|---|---|---|")
    runs = [(layout, m) for layout in ARGS.layouts.split(",")
            for m in ARGS.methods.split(",")]
    for layout, asked in runs:
        ranks, groups = (int(v) for v in layout.split("x"))
        evals, seconds, method, found = hessrmt_spectra(model, weights, data, count,
                                                        ranks, groups, asked, work)
        diff = max(np.max(np.abs(np.sort(evals[b]) - np.sort(peer[b])))
                   / np.max(np.abs(peer[b])) for b in range(ARGS.batches))
        print(f"| {ranks} | {groups} | {method} | {int(found[0])} | {seconds:.3f} s | "
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
