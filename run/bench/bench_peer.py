#!/usr/bin/python3
"""PyTorch peers against hessrmt: per-batch Hessian spectra of the same
weights on the same batches.

Two peers, both float64 on every core (--threads), then eigvalsh:
- rowwise, the paper's algorithm (GadamX/rmt/get_exact_hessian_spectra.py):
  the batch loss, its gradient with create_graph=True, then the Hessian one
  row at a time, row i the gradient of gradient entry i;
- vmap, what a user would reach for today (torch.func.hessian; on Debian's
  torch 1.13 functorch): vmap of forward-over-reverse products jvp(grad(f))
  over chunks of basis directions (reverse-over-reverse vjp(grad(f)) where
  forward AD lacks an operation), the cross-entropy written as log_softmax
  + gather (there as f - logsumexp(f): log_softmax's backward has no
  forward AD in torch 1.13 either).
hessrmt runs the same batches under mpirun with the method asked
(default: auto).

    run/bench/bench_peer.py [--models logistic,mlp:784-10-100-10,lenet,resnet-mini]
                            [--batches 2] [--layouts 1x1,2x1,2x2] [--threads 2]
                            [--methods auto,reduced,lowrank] [--peers rowwise,vmap]
                            [--cifar fashion|synthetic] [--chunk 64]

Models on 1x28x28 or flat 784 inputs read Fashion-MNIST (Debian's
dataset-fashion-mnist), pixels mapped to [-1, 1]; 3x32x32 models read it
padded to 32x32 and repeated over three channels, as run/paper/reproduce.sh
stands it in for CIFAR-10 (--cifar synthetic: N(0, 1) pixels instead).
Both sides use one weights file written here: PyTorch's default
initialisation (--seed); a BatchNorm's running statistics are those of
three training-mode passes over the batches, then eval mode, as a trained
network's would be.  Reports seconds per spectrum (hessrmt: excluding the
one-off read of the dataset; a peer: the Hessian and eigvalsh, the data
already in memory) and the largest eigenvalue difference relative to the
largest |eigenvalue|, against the first peer run.

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
EIGVALSH_SECONDS = {}  # order -> seconds, for --peer-rows


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="logistic,mlp:784-10-100-10",
                   help="any hessrmt specs or presets; 3x32x32 models (lenet, "
                   "resnet-mini) run on CIFAR-shaped data (--cifar), the rest "
                   "on Fashion-MNIST; separate with ';' specs that hold commas")
    p.add_argument("--peers", default="rowwise,vmap",
                   help="the PyTorch peers to time: rowwise (the paper's "
                   "algorithm), vmap (functorch's vectorised Hessian)")
    p.add_argument("--cifar", default="fashion", choices=["fashion", "synthetic"],
                   help="3x32x32 data: Fashion-MNIST padded as reproduce.sh "
                   "does, or N(0, 1) pixels")
    p.add_argument("--peer-rows", type=int, default=0,
                   help="time a peer's Hessian on its first K rows only and "
                   "scale by N/K (each row costs the same), and eigvalsh on a "
                   "random symmetric matrix of order N: for models whose peer "
                   "would take hours; their eigenvalues are then not compared")
    p.add_argument("--hessrmt-columns", type=int, default=0,
                   help="time hessrmt's Hessian on its first K columns only "
                   "(--params 0:K: K of the dense path's Hessian-vector "
                   "products, which cost the same for every column) and scale "
                   "by N/K, plus the solve of a GOE matrix of order N on the "
                   "same ranks (hessrmt ensemble); the method reported is "
                   "what auto chooses (--dry-run), which must be dense; "
                   "eigenvalues are then not compared")
    p.add_argument("--chunk", type=int, default=64,
                   help="basis directions per vmap call of the vmap peer")
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
import functorch  # noqa: E402
import hessrmt_graph as hg  # noqa: E402
import hessrmt_torch as ht  # noqa: E402

torch.set_num_threads(ARGS.threads)


def build_module(model):
    """The PyTorch module of a hessrmt spec (float64, default
    initialisation from --seed): nn.Sequential, or GraphModel for graphs."""
    torch.manual_seed(ARGS.seed)
    spec = ht.expand(model, 784, 10)
    if ht.is_graph(spec):
        return hg.GraphModel(spec), True
    return ht.build_sequential(spec), False


def input_shape(model):
    """A sample's shape as the module takes it: (C, H, W), or (D,)."""
    spec = ht.expand(model, 784, 10)
    c, h, w = hg.parse_graph(spec)[0] if ht.is_graph(spec) else ht.spec_items(spec)[1]
    return (c,) if (h, w) == (1, 1) else (c, h, w)


def write_weights(path, module, graph, model, x):
    """The module's weights in hessrmt's layout (graphs: export(), with
    BatchNorm statistics from three training-mode passes over x); returns
    theta in model.parameters() order."""
    if graph:
        xt = torch.tensor(x).reshape(len(x), *input_shape(model))
        with torch.no_grad():
            module.train()
            for _ in range(3):
                module(xt)
        module.eval()
        hg.export(module, xt, path)
    else:
        params = [p.detach().numpy() for p in module.parameters()]
        ht.write_weights(path, params, ht.expand(model, 784, 10), True)
    return np.concatenate([p.detach().numpy().ravel() for p in module.parameters()])


def read_fashion(rows):
    """The first `rows` Fashion-MNIST training images (uint8, rows x 784)
    and labels."""
    with gzip.open(f"{FM}/train-images-idx3-ubyte.gz") as f:
        raw = f.read(16 + rows * 784)
    with gzip.open(f"{FM}/train-labels-idx1-ubyte.gz") as f:
        lab = f.read(8 + rows)
    x = np.frombuffer(raw, np.uint8, offset=16).reshape(rows, 784)
    return x, np.frombuffer(lab, np.uint8, offset=8).astype(np.int64)


def cifar_shaped(count, work):
    """count batches of CIFAR-shaped rows (3x32x32, 10 classes): Fashion-
    MNIST padded to 32x32 over three channels, pixels to [-1, 1] (padding
    -1, as reproduce.sh), or N(0, 1) pixels; written as npy for hessrmt."""
    rows = count * BATCH
    if ARGS.cifar == "fashion":
        raw, y = read_fashion(rows)
        images = np.pad(raw.reshape(rows, 28, 28), ((0, 0), (2, 2), (2, 2)))
        x = np.repeat(images[:, None], 3, axis=1).reshape(rows, -1) / 127.5 - 1.0
        where = "Fashion-MNIST padded to 3x32x32"
    else:
        rng = np.random.default_rng(ARGS.seed)
        x = rng.normal(size=(rows, 3 * 32 * 32))
        y = rng.integers(0, 10, rows)
        where = "synthetic CIFAR-shaped data"
    np.save(os.path.join(work, "cifar_x.npy"), x)
    np.save(os.path.join(work, "cifar_y.npy"), y)
    return x, y, ["--data", os.path.join(work, "cifar_x.npy"), "--labels",
                  os.path.join(work, "cifar_y.npy")], where


def fashion(count):
    """The first `count` batches of 64 rows, pixels mapped to [-1, 1]."""
    x, y = read_fashion(count * BATCH)
    return x / 127.5 - 1.0, y, ["--data", f"{FM}/train-images-idx3-ubyte.gz", "--labels",
                                f"{FM}/train-labels-idx1-ubyte.gz", "--scale-pixels"], \
        "Fashion-MNIST"


def loss_of(module, x, y):
    """theta -> the batch's mean cross-entropy, theta flat in
    model.parameters() order; f - logsumexp(f) + gather, which forward AD
    differentiates through the backward pass (nll_loss and log_softmax's
    backward have no forward AD in torch 1.13)."""
    fmodel, params, buffers = functorch.make_functional_with_buffers(module)
    shapes = [p.shape for p in params]
    sizes = [p.numel() for p in params]

    def loss(theta):
        ps = [t.reshape(s) for t, s in zip(torch.split(theta, sizes), shapes)]
        f = fmodel(ps, buffers, x)
        logp = f - torch.logsumexp(f, dim=1, keepdim=True)
        return -logp.gather(1, y[:, None]).mean()
    return loss


def rowwise_hessian(loss, theta0, n):
    """The paper's algorithm: the Hessian row by row with autograd (its
    first n rows)."""
    theta = theta0.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss(theta), theta, create_graph=True)
    hess = torch.empty((n, theta.numel()), dtype=torch.float64)
    for i in range(n):
        (hess[i],) = torch.autograd.grad(g[i], theta, retain_graph=True)
    return hess


def vmap_hessian(loss, theta, n):
    """functorch's vectorised Hessian: vmap of jvp(grad(loss)) over chunks
    of basis directions (vjp(grad(loss)) if forward AD lacks an operation);
    its first n rows."""
    g = functorch.grad(loss)

    def forward_over_reverse(v):
        return functorch.jvp(g, (theta,), (v,))[1]

    def reverse_over_reverse(v):
        return functorch.vjp(g, theta)[1](v)[0]
    hvp = forward_over_reverse
    hess = torch.empty((n, theta.numel()), dtype=torch.float64)
    for c0 in range(0, n, ARGS.chunk):
        rows = torch.eye(theta.numel(), dtype=torch.float64)[c0:min(c0 + ARGS.chunk, n)]
        try:
            hess[c0:c0 + len(rows)] = functorch.vmap(hvp)(rows)
        except RuntimeError as e:
            if hvp is reverse_over_reverse or "forward AD" not in str(e):
                raise
            print(f"vmap peer: forward AD refused ({str(e).splitlines()[0][:100]}); "
                  "using vjp(grad)", flush=True)
            hvp = reverse_over_reverse
            hess[c0:c0 + len(rows)] = functorch.vmap(hvp)(rows)
    return hess


def peer_spectrum(peer, module, theta0, x, y, model):
    """(eigenvalues or None, seconds for the Hessian, seconds for eigvalsh);
    with --peer-rows the seconds are scaled from part of the Hessian and
    the eigenvalues are None."""
    xt = torch.tensor(x, dtype=torch.float64).reshape(len(x), *input_shape(model))
    loss = loss_of(module, xt, torch.tensor(y))
    theta = torch.tensor(theta0, dtype=torch.float64)
    n = theta.numel()
    rows = min(ARGS.peer_rows, n) if ARGS.peer_rows else n
    start = time.perf_counter()
    hess = (rowwise_hessian if peer == "rowwise" else vmap_hessian)(loss, theta, rows)
    form = (time.perf_counter() - start) * n / rows
    if rows < n:  # eigvalsh's time depends on the order alone: timed once
        if n not in EIGVALSH_SECONDS:
            a = torch.randn(n, n, dtype=torch.float64)
            start = time.perf_counter()
            torch.linalg.eigvalsh(a + a.T)
            EIGVALSH_SECONDS[n] = time.perf_counter() - start
        return None, form, EIGVALSH_SECONDS[n]
    start = time.perf_counter()
    evals = torch.linalg.eigvalsh(hess).numpy()
    return evals, form, time.perf_counter() - start


def mpirun_env():
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    return env


def hessrmt_part(cmd, ranks, sizes, work):
    """hessrmt's spectrum of order N from about K of its columns: (seconds,
    method).  auto's choice comes from --dry-run's flop table; the assembly
    of the principal sub-matrix of the first parameter tensors holding K or
    more parameters (--params 0:T: that many products over the whole model)
    is scaled by N/K, and a GOE matrix of order N is solved on the same
    ranks.  sizes: the tensors' sizes in model.parameters() order."""
    env = mpirun_env()
    last = next((t for t in range(len(sizes)) if sum(sizes[:t + 1]) >= ARGS.hessrmt_columns),
                len(sizes) - 1)
    K = sum(sizes[:last + 1])
    plan = subprocess.run([c for c in cmd if c != "-q"] + ["--dry-run"], env=env,
                          capture_output=True,
                          text=True, check=True).stderr
    method = next(line.split()[0] for line in plan.splitlines() if "<- used" in line)
    if method != "dense":
        sys.exit(f"--hessrmt-columns: auto chose {method}, not dense")
    out = os.path.join(work, "part.h5")
    subprocess.run(cmd + ["--max-batches", "1", "--method", "dense", "--params",
                          f"0:{last}", "-o", out], check=True, env=env,
                   stdout=subprocess.DEVNULL)
    with h5py.File(out, "r") as f:
        n = int(f.attrs["parameters"])
        form = f.attrs["time_assemble_max"] * n / K
    os.remove(out)
    subprocess.run(["mpirun", "--oversubscribe", "-n", str(ranks), ARGS.hessrmt,
                    "ensemble", "--n", str(n), "--no-stats", "-q", "-o", out],
                   check=True, env=env, stdout=subprocess.DEVNULL)
    with h5py.File(out, "r") as f:
        solve = f.attrs["time_solve_max"]
    os.remove(out)
    print(f"hessrmt on {ranks} rank(s): {form:.0f} s to form H (from {K} of {n} "
          f"columns) + {solve:.0f} s to solve order {n}", flush=True)
    return form + solve, f"{method} (auto)"


def hessrmt_spectra(model, graph, weights, data, batches, ranks, groups, method, sizes,
                    work):
    """hessrmt on the same batches; (eigenvalues per batch, s/spectrum,
    method, numerical ranks)."""
    out = os.path.join(work, "hessrmt.h5")
    env = mpirun_env()
    cmd = ["mpirun", "--oversubscribe", "-n", str(ranks), ARGS.hessrmt,
           "hessian", *data, *([] if graph else ["--model", model]), "--weights", weights,
           "--batch-size", str(BATCH), "--groups", str(groups), "--no-stats", "-q"]
    if ARGS.hessrmt_columns:
        seconds, method = hessrmt_part(cmd, ranks, sizes, work)
        return None, seconds, method, [float("nan")]
    cmd += ["--max-batches", str(batches), "--method", method, "-o", out]
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
    module, graph = build_module(model)
    count = max(ARGS.batches, ARGS.hessrmt_batches)
    x, y, data, where = (cifar_shaped(count, work) if tuple(input_shape(model)) == (3, 32, 32)
                         else fashion(count))
    theta = write_weights(weights, module, graph, model, x[:count * BATCH])
    print(f"\n### {model} on {where} (N = {theta.size:,}), batch {BATCH}: peers on "
          f"{ARGS.batches} batches, hessrmt on {count}\n")
    # hessrmt first: a failure shows before the peers' hours
    sizes = [p.numel() for p in module.parameters()]
    runs = []
    for layout in ARGS.layouts.split(","):
        ranks, groups = (int(v) for v in layout.split("x"))
        for asked in ARGS.methods.split(","):
            runs.append((ranks, groups) + hessrmt_spectra(
                model, graph, weights, data, count, ranks, groups, asked, sizes, work))
    peers = {}
    for peer in ARGS.peers.split(","):
        evs, t_form, t_eig = [], 0.0, 0.0
        for b in range(ARGS.batches):
            rows = slice(b * BATCH, (b + 1) * BATCH)
            ev, tf, te = peer_spectrum(peer, module, theta, x[rows], y[rows], model)
            evs.append(ev)
            t_form += tf / ARGS.batches
            t_eig += te / ARGS.batches
        peers[peer] = (evs, t_form + t_eig)
        agree = ""
        if evs[0] is None:
            agree = (f"; scaled from {ARGS.peer_rows} of {theta.size} rows, eigvalsh "
                     "timed on a random matrix of the order")
        elif len(peers) > 1:
            first = next(iter(peers.values()))[0]
            diff = max(np.max(np.abs(evs[b] - first[b])) / np.max(np.abs(first[b]))
                       for b in range(ARGS.batches))
            agree = f"; eigenvalues differ from the first peer's by {diff:.1e}"
        print(f"peer {peer} (PyTorch {torch.__version__}, {ARGS.threads} threads): "
              f"{t_form + t_eig:.2f} s per spectrum ({t_form:.2f} s Hessian, "
              f"{t_eig:.2f} s eigvalsh){agree}\n", flush=True)
    ref, _ = next(iter(peers.values()))
    names = list(peers)
    print("| hessrmt ranks | groups | method | rank found | seconds per spectrum | "
          + " | ".join(f"speed-up over {p}" for p in names)
          + " | max abs eigenvalue difference / max abs eigenvalue |")
    print("|---" * (5 + len(names) + 1) + "|")
    for ranks, groups, evals, seconds, method, found in runs:
        diff = "not compared" if ref[0] is None or evals is None else "%.1e" % max(
            np.max(np.abs(np.sort(evals[b]) - np.sort(ref[b]))) / np.max(np.abs(ref[b]))
            for b in range(ARGS.batches))
        ups = " | ".join(f"{peers[p][1] / seconds:.1f}x" for p in names)
        rank = "not measured" if np.isnan(found[0]) else int(found[0])
        print(f"| {ranks} | {groups} | {method} | {rank} | {seconds:.3f} s | "
              f"{ups} | {diff} |", flush=True)


def main():
    if not os.path.exists(f"{FM}/train-images-idx3-ubyte.gz"):
        sys.exit("needs Debian's dataset-fashion-mnist (run/install-deps.sh)")
    print(f"command: {' '.join(sys.argv)}")
    print(benchenv.machine_line(), flush=True)
    with tempfile.TemporaryDirectory() as work:
        for model in filter(None, ARGS.models.split(";" if ";" in ARGS.models else ",")):
            bench_model(model, work)


if __name__ == "__main__":
    main()
