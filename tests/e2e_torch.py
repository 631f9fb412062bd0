#!/usr/bin/env python3
"""End-to-end tests of convolutional models against PyTorch (Debian's
python3-torch) as the independent reference, and of the converter
(run/torch/hessrmt_torch.py).

The reference is a functional float64 forward pass written here from the
spec with torch.nn.functional (conv2d, max_pool2d, ...), its loss, and
torch.autograd.functional.hessian / jacobian: H, H0 = sum J^T Lambda J / n
and H1 = H - H0, solved by numpy.linalg.eigvalsh.  hessrmt's spectra
(every method and part, ce and mse, whole data and batches, at 1, 2 and
4 ranks) must match to 1e-10 of the largest eigenvalue."""
import json
import math
import os
import subprocess
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "run", "torch"))
from e2e_common import Harness  # noqa: E402

try:
    import torch  # noqa: E402
    import torch.nn.functional as F  # noqa: E402
    import hessrmt_torch as ht  # noqa: E402
except ImportError:
    torch = None

FM = "/usr/share/datasets/fashion-mnist"
TOL = 1e-10


# ---- the reference --------------------------------------------------------------

def forward(spec, theta, x, bias=True):
    return ht.functional_forward(spec, theta, x, bias)


def loss_fn(f, y, t, loss):
    if loss == "ce":
        return F.cross_entropy(f, y, reduction="sum")
    target = t if t is not None else F.one_hot(y, f.shape[1]).double()
    return 0.5 * ((f - target) ** 2).sum()


def reference_matrices(spec, theta, x, y, t=None, loss="ce", bias=True):
    """H, H0 = sum J^T Lambda J / n and H1 = H - H0 of the mean loss, as
    matrices (float64 autograd)."""
    th = torch.tensor(theta, dtype=torch.float64)
    xt = torch.tensor(x, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.long)
    tt = None if t is None else torch.tensor(t, dtype=torch.float64)
    n = len(x)
    H = torch.autograd.functional.hessian(
        lambda p: loss_fn(forward(spec, p, xt, bias), yt, tt, loss) / n, th).numpy()
    J = torch.autograd.functional.jacobian(lambda p: forward(spec, p, xt, bias), th).numpy()
    f = forward(spec, th, xt, bias).detach().numpy()
    H0 = np.zeros_like(H)
    for i in range(n):
        if loss == "ce":
            p = np.exp(f[i] - f[i].max())
            p /= p.sum()
            lam = np.diag(p) - np.outer(p, p)
        else:
            lam = np.eye(f.shape[1])
        H0 += J[i].T @ lam @ J[i]
    H0 /= n
    return {"full": H, "gn": H0, "residual": H - H0}


def reference(spec, theta, x, y, t, loss, bias=True):
    """Eigenvalues of H, H0 and H1 of the mean loss (float64 autograd)."""
    return {part: np.linalg.eigvalsh(m) for part, m in
            reference_matrices(spec, theta, x, y, t, loss, bias).items()}


def flat_params(model):
    return np.concatenate([p.detach().double().numpy().ravel() for p in model.parameters()])


def problem(h, name, spec, n, classes, seed, real_targets=False, bias=True):
    """Data files and a PyTorch-initialised model converted to hessrmt."""
    rng = np.random.default_rng(seed)
    layers, shape = ht.spec_items(spec)
    x = rng.normal(size=(n, int(np.prod(shape))))
    y = rng.integers(0, classes, n)
    np.save(h.path(f"{name}_x.npy"), x)
    np.save(h.path(f"{name}_y.npy"), y)
    t = None
    if real_targets:
        t = rng.normal(size=(n, classes))
        np.save(h.path(f"{name}_t.npy"), t)
    torch.manual_seed(seed)
    model = ht.build_sequential(spec, bias=bias)
    ckpt = h.path(f"{name}.pt")
    torch.save(model, ckpt)
    shape_arg = "x".join(map(str, shape)) if shape[1:] != (1, 1) else str(shape[0])
    subprocess.run([sys.executable, os.path.join(os.path.dirname(HERE), "run", "torch",
                                                 "hessrmt_torch.py"), "to-hessrmt", ckpt,
                    "--input", shape_arg, "-o", h.path(f"{name}.h5")],
                   check=True, capture_output=True)
    return x, y, t, flat_params(model)


def spectra(h, np_, name, *args):
    out = h.path(f"{name}_out_{np_}_{abs(hash(args)) % 10**8}.h5")
    h.run(np_, "hessian", "--data", h.path(f"{name}_x.npy"), "--labels",
          h.path(f"{name}_y.npy"), "--weights", h.path(f"{name}.h5"), "--no-stats",
          "-q", *args, "-o", out)
    with h5py.File(out, "r") as f:
        return f["hessian_evals"][...], dict(f.attrs, _path=out)


def compare(h, got, want, what):
    err = np.max(np.abs(np.sort(got) - want)) / np.max(np.abs(want))
    h.expect(err < TOL, f"{what}: max |dl| / max |l| = {err:.2e}")


# ---- cases ---------------------------------------------------------------------------

SPECS = {
    "cnn": "input 2x7x7, conv 4 3 pad 1, relu, maxpool 2, conv 3 2, tanh, flatten, "
           "linear 5, relu, linear 3",
    "strided": "input 1x9x8, conv 3 3 stride 2, tanh, avgpool 2 stride 1, flatten, linear 3",
}


def case_spectra(h):
    """Whole-data H, H0, H1 of two conv nets (ce) at 1, 2 and 4 ranks, dense,
    with the spec read from the converted weights (no --model)."""
    for name, spec in SPECS.items():
        x, y, t, theta = problem(h, name, spec, 24, 3, seed=11)
        ref = reference(spec, theta, x, y, t, "ce")
        for np_ in (1, 2, 4):
            for part in ("full", "gn", "residual"):
                ev, attrs = spectra(h, np_, name, "--part", part, "--method", "dense")
                compare(h, ev[0], ref[part], f"{name} {part} at {np_} ranks")
        h.expect(attrs["model_spec"] == spec, f"{name}: spec {attrs['model_spec']!r}")


def case_methods(h):
    """Batches of a conv net: squared error with real targets and ce; gram
    for H0, lowrank and dense for H, at 1 and 2 ranks; the batches' spectra
    against the reference of each batch."""
    # rank about 180 of N = 546: low enough for the low-rank path proper
    spec = ("input 1x8x8, conv 8 3, relu, maxpool 2, flatten, linear 6, relu, "
            "linear 4")
    for loss in ("mse", "ce"):
        name = f"batch_{loss}"
        x, y, t, theta = problem(h, name, spec, 12, 4, seed=5, real_targets=loss == "mse")
        extra = ["--loss", loss] + (["--targets", h.path(f"{name}_t.npy")] if t is not None else [])
        refs = [reference(spec, theta, x[b:b + 4], y[b:b + 4],
                          None if t is None else t[b:b + 4], loss) for b in (0, 4, 8)]
        for np_ in (1, 2):
            for part, method in (("gn", "gram"), ("full", "lowrank"), ("full", "dense"),
                                 ("residual", "dense")):
                ev, attrs = spectra(h, np_, name, "--batch-size", 4, "--part", part,
                                    "--method", method, *extra)
                h.expect(attrs["method_used"] == method, f"{name}: method {attrs['method_used']}")
                if method == "lowrank":  # it did not fall back to dense
                    with h5py.File(attrs["_path"], "r") as f:
                        rank = f["checks/rank"][...]
                    h.expect(rank.max() < len(theta) / 2, f"{name}: low-rank rank {rank}")
                for b in range(3):
                    compare(h, ev[b], refs[b][part], f"{name} batch {b} {part} {method} "
                            f"at {np_} ranks")


def case_blocks(h):
    """--block L and --params A:B: the spectrum of the principal
    sub-matrix of a float64 autograd Hessian (conv net and MLP; H, H0, H1;
    the whole dataset and batches; 1 and 2 ranks)."""
    torch.manual_seed(3)
    for name, spec in (("bcnn", SPECS["cnn"]),
                       ("bmlp", "input 6, linear 7, tanh, linear 5, relu, linear 3")):
        x, y, t, theta = problem(h, name, spec, 16, 3, seed=13)
        mats = reference_matrices(spec, theta, x, y)
        model = ht.build_sequential(spec)
        sizes = [p.numel() for p in model.parameters()]
        starts = np.concatenate([[0], np.cumsum(sizes)])
        layers = len(sizes) // 2
        cases = [(["--block", str(l)], starts[2 * l], starts[2 * l + 2])
                 for l in range(layers)]
        cases.append((["--params", "1:2"], starts[1], starts[3]))
        cases.append((["--params", f"{len(sizes) - 1}:{len(sizes) - 1}"],
                      starts[-2], starts[-1]))
        for args, a, b in cases:
            # H1's block of the last layer is exactly zero (the outputs are
            # linear in its weights): errors relative to H's block then
            scale = np.max(np.abs(np.linalg.eigvalsh(mats["full"][a:b, a:b])))
            for part in ("full", "gn", "residual"):
                want = np.linalg.eigvalsh(mats[part][a:b, a:b])
                for np_ in ((1, 2) if part == "full" else (2,)):
                    ev, attrs = spectra(h, np_, name, "--part", part, *args)
                    h.expect(ev.shape[1] == b - a and attrs["block_count"] == b - a
                             and attrs["block_first"] == a,
                             f"{name} {args}: order {ev.shape} attrs "
                             f"{attrs.get('block_first')} {attrs.get('block_count')}")
                    err = np.max(np.abs(np.sort(ev[0]) - want)) / max(np.max(np.abs(want)), scale)
                    h.expect(err < TOL, f"{name} {' '.join(args)} {part} at {np_} ranks: "
                             f"max |dl| / max |l| = {err:.2e}")
        # batches: each batch's block
        want = [np.linalg.eigvalsh(reference_matrices(spec, theta, x[k:k + 8], y[k:k + 8])
                                   ["full"][starts[2]:starts[4], starts[2]:starts[4]])
                for k in (0, 8)]
        ev, _ = spectra(h, 2, name, "--block", "1", "--batch-size", 8)
        for k in range(2):
            compare(h, ev[k], want[k], f"{name} --block 1 batch {k}")
        # several blocks in one run: hessian_evals the first, blocks/i the others
        for flag, items, ranges in (
                ("--block", "2,0,1", [(starts[4], starts[6]), (starts[0], starts[2]),
                                      (starts[2], starts[4])]),
                ("--params", "0:0,1:3", [(starts[0], starts[1]), (starts[1], starts[4])])):
            for np_, batch in ((1, []), (2, ["--batch-size", 8])):
                ev, attrs = spectra(h, np_, name, flag, items, *batch)
                with h5py.File(attrs["_path"], "r") as f:
                    got = [ev] + [f[f"blocks/{i}"][...] for i in range(1, len(ranges))]
                h.expect("blocks/1" in attrs["blocks"], f"blocks attribute {attrs.get('blocks')}")
                for i, (a, b) in enumerate(ranges):
                    for k in range(got[i].shape[0]):
                        rows = slice(8 * k, 8 * k + 8) if batch else slice(None)
                        want = np.linalg.eigvalsh(reference_matrices(
                            spec, theta, x[rows], y[rows])["full"][a:b, a:b])
                        compare(h, got[i][k], want, f"{name} {flag} {items} at {np_} ranks: "
                                f"block {i} spectrum {k}")
        # H0's blocks by the Gram route (G restricted to the block's tensors)
        # and the first layer's block of H by its Kronecker structure
        # (batches of 4: G G^T of order 12, below the blocks' orders but one)
        gn = reference_matrices(spec, theta, x[:4], y[:4])["gn"]
        for args, a, b in cases:
            if b - a <= 12:
                proc = h.run(2, "hessian", "--data", h.path(f"{name}_x.npy"), "--labels",
                             h.path(f"{name}_y.npy"), "--weights", h.path(f"{name}.h5"),
                             "--no-stats", "-q", "--part", "gn", "--method", "gram",
                             "--batch-size", 4, "--max-batches", 1, *args, "-o",
                             h.path("b_gram_err.h5"), check=False)
                h.expect(proc.returncode == 3 and "between the group's 2 ranks and the order"
                         in proc.stderr, f"{name} {args} gram of order {b - a}: {proc.stderr[-200:]}")
                continue
            want = np.linalg.eigvalsh(gn[a:b, a:b])
            ev, attrs = spectra(h, 2, name, "--part", "gn", "--method", "gram",
                                "--batch-size", 4, "--max-batches", 1, *args)
            h.expect(attrs["method_used"] == "gram", f"{name} {args}: {attrs['method_used']}")
            err = np.max(np.abs(np.sort(ev[0]) - want)) / np.max(np.abs(want))
            h.expect(err < TOL, f"{name} {' '.join(args)} gn by gram: max |dl| / max |l| = {err:.2e}")
        ev, attrs = spectra(h, 1, name, "--part", "gn", "--block", "0,1", "--batch-size", 4)
        h.expect(attrs["method_used"] == "gram", f"{name} gn batches of 4: auto took {attrs['method_used']}")
    # refusals
    x, y, t, theta = problem(h, "berr", "input 6, linear 4, relu, linear 3", 8, 3, seed=2)
    for args, needle in ((["--block", "2"], "--block 2: layers with parameters, 0 to 1"),
                         (["--params", "3:1"], "--params 3:1: FIRST:LAST"),
                         (["--block", "0,1", "--eigenvectors", "2"], "--eigenvectors takes one block"),
                         (["--block", "0,1,"], "separated by commas"),
                         (["--block", "0", "--params", "0:1"], "give one"),
                         (["--block", "0", "--method", "lowrank"],
                          "solved by the dense or the gram method"),
                         (["--block", "0", "--method", "gram"],
                          "--method gram is exact only for")):
        proc = h.run(1, "hessian", "--data", h.path("berr_x.npy"), "--labels",
                     h.path("berr_y.npy"), "--weights", h.path("berr.h5"), "--no-stats",
                     "-q", *args, "-o", h.path("berr_out.h5"), check=False)
        h.expect(proc.returncode == 2 and needle in proc.stderr,
                 f"{args}: exit {proc.returncode}: {proc.stderr[-300:]}")


def case_convert(h):
    """The converter: a saved nn.Sequential, a state_dict with --model, the
    paper's LeNet class; the round trip back to PyTorch; refusals."""
    tool = [sys.executable, os.path.join(os.path.dirname(HERE), "run", "torch",
                                         "hessrmt_torch.py")]

    def conv(*args, ok=True):
        p = subprocess.run(tool + [str(a) for a in args], capture_output=True, text=True)
        h.expect((p.returncode == 0) == ok, f"converter {args}: {p.stdout}{p.stderr}")
        return p

    torch.manual_seed(3)
    lenet = ht.PaperLeNet()
    torch.save(lenet, h.path("lenet.pt"))
    conv("to-hessrmt", h.path("lenet.pt"), "-o", h.path("lenet.h5"))
    spec, bias, params = ht.read_weights(h.path("lenet.h5"))
    n = sum(p.size for p in params)
    h.expect(spec == "lenet" and bias and n == 19217, f"LeNet: {spec} {bias} N={n}")
    torch.save(lenet.state_dict(), h.path("lenet_sd.pt"))
    conv("to-hessrmt", h.path("lenet_sd.pt"), "--model", "lenet", "-o", h.path("lenet_sd.h5"))
    same = all(np.array_equal(a, b) for a, b in
               zip(params, ht.read_weights(h.path("lenet_sd.h5"))[2]))
    h.expect(same, "state_dict and whole model give the same weights")
    # hessrmt reads it: N and the spec
    x = np.random.default_rng(1).normal(size=(8, 3 * 32 * 32))
    np.save(h.path("img_x.npy"), x)
    np.save(h.path("img_y.npy"), np.arange(8) % 10)
    out = h.path("lenet_spectra.h5")
    h.run(1, "hessian", "--data", h.path("img_x.npy"), "--labels", h.path("img_y.npy"),
          "--weights", h.path("lenet.h5"), "--part", "gn", "--method", "gram", "--no-stats",
          "-q", "-o", out)
    with h5py.File(out, "r") as f:
        h.expect(int(f.attrs["parameters"]) == 19217, "hessrmt's N of lenet")
        h.expect(int(f["checks/rank"][0]) == 8 * 9, f"LeNet H0 rank {f['checks/rank'][0]}")
    # back to PyTorch: the same outputs
    conv("to-torch", h.path("lenet.h5"), "-o", h.path("lenet_back.pt"))
    back = torch.load(h.path("lenet_back.pt"))
    xt = torch.tensor(x).reshape(8, 3, 32, 32)
    diff = (back(xt) - lenet.double()(xt)).abs().max().item()
    h.expect(diff < 1e-12, f"round trip outputs differ by {diff:.2e}")
    conv("to-torch", h.path("lenet.h5"), "--state-dict", "-o", h.path("lenet_back_sd.pt"))
    sd = torch.load(h.path("lenet_back_sd.pt"))
    h.expect(len(sd) == 10, f"state_dict of {len(sd)} tensors")
    # refusals, naming the layer
    bad = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Hardswish(),
                              torch.nn.Flatten(), torch.nn.Linear(2 * 4 * 4, 3))
    torch.save(bad, h.path("bad.pt"))
    p = conv("to-hessrmt", h.path("bad.pt"), "--input", "1x6x6", "-o", h.path("bad.h5"), ok=False)
    h.expect("Hardswish" in p.stderr and "module '1'" in p.stderr and
             not os.path.exists(h.path("bad.h5")),
             f"unsupported layer message: {p.stderr}")
    h.expect(not os.path.exists(h.path("bad.h5")), "refused conversion left a file")
    p = conv("to-hessrmt", h.path("lenet_sd.pt"), "--model", "mnist-mlp", "-o",
             h.path("bad2.h5"), ok=False)
    h.expect("shape" in p.stderr or "tensors" in p.stderr, f"mismatch message: {p.stderr}")


def case_train_roundtrip(h):
    """A model trained by hessrmt loads into PyTorch and means the same: the
    loss PyTorch computes with the converted weights equals hessrmt's last
    recorded training loss."""
    spec = "input 1x6x6, conv 3 3, relu, avgpool 2, flatten, linear 3"
    rng = np.random.default_rng(2)
    x = rng.normal(size=(60, 36))
    y = (x[:, :3].argmax(1)).astype(np.int64)
    np.save(h.path("tr_x.npy"), x)
    np.save(h.path("tr_y.npy"), y)
    out = h.path("trained.h5")
    h.run(2, "train", "--data", h.path("tr_x.npy"), "--labels", h.path("tr_y.npy"),
          "--model", spec, "--epochs", 3, "--batch-size", 20, "-q", "-o", out)
    tool = [sys.executable, os.path.join(os.path.dirname(HERE), "run", "torch", "hessrmt_torch.py")]
    subprocess.run(tool + ["to-torch", out, "-o", h.path("trained.pt")], check=True,
                   capture_output=True)
    model = torch.load(h.path("trained.pt"))
    f = model(torch.tensor(x).reshape(60, 1, 6, 6))
    loss = F.cross_entropy(f, torch.tensor(y)).item()
    with h5py.File(out, "r") as fh:
        want = fh["history/train_loss"][-1]
    h.expect(abs(loss - want) < 1e-12 * want, f"PyTorch loss {loss} vs hessrmt {want}")


def case_fashion_lenet(h):
    """LeNet on Fashion-MNIST (1x28x28): the batch rank of H0 is B(C - 1)."""
    if not os.path.exists(f"{FM}/train-images-idx3-ubyte.gz"):
        print("skipped: dataset-fashion-mnist not installed")
        return
    out = h.path("fm_lenet.h5")
    h.run(2, "hessian", "--data", f"{FM}/train-images-idx3-ubyte.gz", "--labels",
          f"{FM}/train-labels-idx1-ubyte.gz", "--scale-pixels", "--model", "lenet:1x28x28",
          "--batch-size", 64, "--max-batches", 2, "--part", "gn", "--no-stats", "-q",
          "-o", out)
    with h5py.File(out, "r") as f:
        h.expect(f.attrs["method_used"] == "gram", f"method {f.attrs['method_used']}")
        ranks = f["checks/rank"][...]
        h.expect(all(int(r) == 64 * 9 for r in ranks), f"LeNet H0 batch ranks {ranks}")


def case_fashion_train(h):
    """A small CNN trained on Fashion-MNIST passes 85% test accuracy, with
    the same weights on 1 and 2 ranks."""
    if not os.path.exists(f"{FM}/train-images-idx3-ubyte.gz"):
        print("skipped: dataset-fashion-mnist not installed")
        return
    common = ["train", "--data", f"{FM}/train-images-idx3-ubyte.gz", "--labels",
              f"{FM}/train-labels-idx1-ubyte.gz", "--test-data",
              f"{FM}/t10k-images-idx3-ubyte.gz", "--test-labels",
              f"{FM}/t10k-labels-idx1-ubyte.gz", "--scale-pixels", "--model",
              "input 1x28x28, conv 8 5, relu, maxpool 2, flatten, linear 10",
              "--epochs", 3, "--batch-size", 64, "--lr", 0.01, "--momentum", 0.9, "-q"]
    params = {}
    for np_ in (1, 2):
        out = h.path(f"fm_cnn_{np_}.h5")
        h.run(np_, *common, "-o", out, timeout=600)
        _, _, params[np_] = ht.read_weights(out)
        with h5py.File(out, "r") as f:
            acc = f["history/test_accuracy"][-1]
        h.expect(acc > 0.85, f"{np_} ranks: test accuracy {acc:.4f}")
    err = max(np.abs(a - b).max() / np.abs(a).max() for a, b in zip(params[1], params[2]))
    h.expect(err < 1e-10, f"1 and 2 ranks: weights differ by {err:.2e}")


def case_fashion_cnn_stats(h):
    """A new user's run: a small PyTorch CNN exported by the converter, 4
    batch-64 Hessians of Fashion-MNIST.  Its spectrum has a sharp peak at
    zero, a bulk and outliers 10^2 times out, on which a degree-9
    polynomial bends back (and once printed Delta_3 = -4.7e8).  auto must
    keep an unfolding that passes its checks, every Sigma^2 and Delta_3 is
    finite and >= 0 and near the GOE's at L = 1, and the polynomial named
    explicitly is reported unreliable with its numbers withheld."""
    if not os.path.exists(f"{FM}/train-images-idx3-ubyte.gz"):
        print("skipped: dataset-fashion-mnist not installed")
        return
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(),
                                torch.nn.MaxPool2d(2), torch.nn.Flatten(),
                                torch.nn.Linear(676, 10))
    torch.save(model, h.path("cnn.pt"))
    tool = os.path.join(os.path.dirname(HERE), "run", "torch", "hessrmt_torch.py")
    subprocess.run([sys.executable, tool, "to-hessrmt", h.path("cnn.pt"), "-o",
                    h.path("cnn_w.h5"), "--input", "1x28x28"], check=True)
    out, js = h.path("cnn.h5"), h.path("cnn.json")
    h.run(2, "hessian", "--data", f"{FM}/train-images-idx3-ubyte.gz", "--labels",
          f"{FM}/train-labels-idx1-ubyte.gz", "--scale-pixels", "--weights",
          h.path("cnn_w.h5"), "--batch-size", 64, "--max-batches", 4, "--json", js,
          "--plots", h.path("cnn_figs"), "-q", "-o", out, timeout=600)
    with open(js) as f:
        j = json.load(f)
    j = j[0] if isinstance(j, list) else j
    kept = [t for t in j["unfoldings_tried"] if t["passed"]]
    h.expect(j["spacing_reliable"] and j["unfold"] and len(kept) == 1
             and kept[0]["monotone"] and kept[0]["flat"]
             and kept[0]["backward_spacings"] == 0,
             f"auto kept {j['unfold']}: {j['unfoldings_tried']}")
    long_range = j["sigma2"] + j["delta3"]
    h.expect(all(v is not None and math.isfinite(v) and v >= 0 for v in long_range),
             f"Sigma^2 {j['sigma2']} Delta_3 {j['delta3']}")
    d3 = dict(zip(j["L"], j["delta3"]))
    h.expect(0.03 < d3[1.0] < 0.1, f"Delta_3(1) = {d3[1.0]} (GOE 0.0605, Poisson 0.0667)")
    h.expect(j["verdict"] == "goe" and 0.5 < j["brody_q"] <= 1.0,
             f"verdict {j['verdict']}, Brody q {j['brody_q']}")
    h.expect(os.path.getsize(h.path("cnn_figs/rigidity.png")) > 0, "rigidity figure")
    p = h.run(1, "stats", out, "--unfold", "poly", "--poly-degree", 9, "--json",
              h.path("poly.json"))
    with open(h.path("poly.json")) as f:
        jp = json.load(f)
    jp = jp[0] if isinstance(jp, list) else jp
    h.expect(not jp["spacing_reliable"] and all(v is None for v in jp["delta3"])
             and jp["brody_q"] is None and "UNRELIABLE" in p.stdout,
             f"poly 9: reliable {jp['spacing_reliable']}, Delta_3 {jp['delta3']}")


def case_errors(h):
    """Bad models: each a clear error naming what is wrong, on every rank,
    nothing written."""
    x = np.random.default_rng(0).normal(size=(16, 64))
    np.save(h.path("e_x.npy"), x)
    np.save(h.path("e_y.npy"), np.arange(16) % 3)
    data = ["hessian", "--data", h.path("e_x.npy"), "--labels", h.path("e_y.npy")]
    cases = [
        ("input 1x8x8, conv 4, relu, flatten, linear 3", "'conv 4'", "conv without K"),
        ("input 1x8x8, conv 4 3, rleu, flatten, linear 3", "unknown operation 'rleu'", "typo"),
        ("input 1x8x8, conv 4 3 stride 0, flatten, linear 3", "stride '0'", "stride 0"),
        ("input 1x8x8, conv 4 3, relu, linear 3", "add 'flatten'", "unflattened linear"),
        ("input 1x8x8, conv 4 9, flatten, linear 3", "kernel 9 is larger than its input",
         "kernel too large"),
        ("input 1x8x8, maxpool 2, maxpool 2, maxpool 2, maxpool 2, flatten, linear 3",
         "kernel 2 is larger than its input", "pooled away"),
        ("input 3x32x32, conv 6 5, flatten, linear 3", "takes 3x32x32 inputs (3072 values) "
         "but the data have 64 features", "input shape"),
        ("lenet", "lenet:1x28x28", "preset on other data"),
        ("input 1x8x8, conv 4 3, relu", "not a vector of outputs", "no flat output"),
        ("input 1x8x8, relu, flatten", "no layer with parameters", "no parameters"),
    ]
    for np_ in (1, 2):
        for spec, needle, name in cases:
            h.error_case(np_, data + ["--model", spec], needle, f"{name}")
    # weights with a missing or mis-shaped tensor
    spec = "input 1x8x8, conv 4 3, relu, flatten, linear 3"
    torch.manual_seed(0)
    model = ht.build_sequential(spec)
    params = [p.detach().numpy() for p in model.parameters()]
    ht.write_weights(h.path("w_missing.h5"), params[:2], spec, True)
    params_bad = list(params)
    params_bad[0] = params_bad[0][:, :, :2, :]
    ht.write_weights(h.path("w_shape.h5"), params_bad, spec, True)
    for np_ in (1, 2):
        h.error_case(np_, data + ["--weights", h.path("w_missing.h5")],
                     "no dataset 'layers/1/weight'", "missing tensor")
        h.error_case(np_, data + ["--weights", h.path("w_shape.h5")],
                     "has shape (4, 1, 2, 3) but the model needs (4, 1, 3, 3)", "mis-shaped")


def gradients(spec, theta, x, y, classes):
    """The mean-loss gradient and the per-class summed gradients (ce)."""
    th = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    xt = torch.tensor(x, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.long)
    def grad_of(mask):
        th.grad = None
        F.cross_entropy(forward(spec, th, xt[mask]), yt[mask], reduction="sum").backward()
        return th.grad.detach().numpy().copy()
    g = grad_of(np.ones(len(y), bool))
    return g, np.stack([grad_of(y == c) for c in range(classes)], axis=1)


def expected_overlaps(v, g, G):
    """(v.g)^2/|g|^2 and |P v|^2, P onto span(G), for each row of v."""
    q, r = np.linalg.qr(G)
    q = q[:, np.abs(np.diag(r)) > 1e-10 * np.abs(r).max()]
    return (v @ g) ** 2 / (g @ g), np.sum((v @ q) ** 2, axis=1)


def case_eigenvectors(h):
    """--eigenvectors K: the vectors of both ends of H (and of a block) equal
    those of the float64 autograd Hessian (eigh) where the eigenvalue is
    separated from its neighbours, at 1, 2 and 4 ranks and with every
    solver; residuals and orthogonality; the overlaps with the gradient
    and the class-mean gradients equal numpy's; refusals."""
    K = 4
    for name, spec in (("emlp", "input 6, linear 7, tanh, linear 5, relu, linear 3"),
                       ("ecnn", SPECS["cnn"])):
        x, y, t, theta = problem(h, name, spec, 24, 3, seed=21)
        H = reference_matrices(spec, theta, x, y)["full"]
        g, G = gradients(spec, theta, x, y, 3)
        model = ht.build_sequential(spec)
        sizes = [p.numel() for p in model.parameters()]
        starts = np.concatenate([[0], np.cumsum(sizes)])
        for args, a, b in (([], 0, len(theta)), (["--block", "1"], starts[2], starts[4])):
            lam, U = np.linalg.eigh(H[a:b, a:b])
            n = b - a
            idx = list(range(K)) + list(range(n - K, n))
            scale = np.max(np.abs(lam))
            gap = np.array([min(abs(lam[i] - lam[j]) for j in (i - 1, i + 1) if 0 <= j < n)
                            for i in idx]) / scale
            want_g, want_c = expected_overlaps(U[:, idx].T, g[a:b], G[a:b])
            # every solver on the MLP's H; two runs for the conv net and blocks
            runs = [(1, "lapack"), (2, "elpa1"), (2, "pdsyevr"), (4, "pdsyev"), (2, "elpa2")]
            if args or name == "ecnn":
                runs = [(1, "lapack"), (2, "elpa1")]
            for np_, solver in runs:
                out = h.path(f"{name}_ev_{np_}_{solver}_{len(args)}.h5")
                h.run(np_, "hessian", "--data", h.path(f"{name}_x.npy"), "--labels",
                      h.path(f"{name}_y.npy"), "--weights", h.path(f"{name}.h5"),
                      "--no-stats", "-q", "--eigenvectors", K, "--solver", solver,
                      *args, "-o", out)
                with h5py.File(out, "r") as f:
                    V = f["hessian_evecs"][0]
                    res = f["checks/evec_residual"][0]
                    og = f["evec_overlap_gradient"][0]
                    oc = f["evec_overlap_classes"][0]
                what = f"{name} {' '.join(args) or 'H'} {solver} at {np_} ranks"
                h.expect(V.shape == (2 * K, n), f"{what}: shape {V.shape}")
                h.expect(np.max(res) < 1e-10 * scale, f"{what}: residual {np.max(res):.2e}")
                orth = np.max(np.abs(V @ V.T - np.eye(2 * K)))
                h.expect(orth < 1e-10, f"{what}: |V^T V - I| = {orth:.2e}")
                for j, i in enumerate(idx):
                    if gap[j] < 1e-6:
                        continue  # a degenerate pair: only the subspace is defined
                    dot = abs(V[j] @ U[:, i])
                    h.expect(abs(dot - 1) < 1e-8, f"{what}: vector {i}: |v.u| = {dot:.12f}")
                    big = np.flatnonzero(np.abs(V[j]) >= np.abs(V[j]).max() * (1 - 1e-6))[0]
                    h.expect(V[j][big] > 0, f"{what}: vector {i}: sign convention")
                ok = [j for j in range(2 * K) if gap[j] >= 1e-6]
                err_g = np.max(np.abs(og[ok] - want_g[ok]))
                err_c = np.max(np.abs(oc[ok] - want_c[ok]))
                h.expect(err_g < 1e-8 and err_c < 1e-8,
                         f"{what}: overlaps off by {err_g:.2e} (gradient), {err_c:.2e} (classes)")
    # refusals, each before any work
    data = ["--data", h.path("emlp_x.npy"), "--labels", h.path("emlp_y.npy"),
            "--weights", h.path("emlp.h5"), "--no-stats", "-q", "-o", h.path("e_err.h5")]
    for args, needle in ((["--eigenvectors", "60"], "asks for 120 vectors, but the matrices have order"),
                         (["--eigenvectors", "2", "--precision", "single"], "--eigenvectors needs --precision double"),
                         (["--eigenvectors", "2", "--method", "gram", "--part", "gn"], "--eigenvectors are solved by the dense method")):
        proc = h.run(1, "hessian", *data, *args, check=False)
        h.expect(proc.returncode == 2 and needle in proc.stderr,
                 f"{args}: exit {proc.returncode}: {proc.stderr[-300:]}")
    done = h.path("emlp_ev_1_lapack_0.h5")
    proc = h.run(1, "merge", done, done, "-o", h.path("e_merged.h5"), check=False)
    h.expect(proc.returncode != 0 and "does not carry over yet" in proc.stderr,
             f"merge of eigenvector files: exit {proc.returncode}: {proc.stderr[-300:]}")


CASES = {"eigenvectors": case_eigenvectors, "blocks": case_blocks, "spectra": case_spectra, "methods": case_methods, "convert": case_convert,
         "train_roundtrip": case_train_roundtrip, "fashion_lenet": case_fashion_lenet,
         "fashion_train": case_fashion_train, "errors": case_errors,
         "fashion_cnn_stats": case_fashion_cnn_stats}

if __name__ == "__main__":
    if torch is None:
        print("skipped: python3-torch is not installed (apt-get install python3-torch)")
        sys.exit(0)
    sys.exit(Harness(__doc__, CASES).main())
