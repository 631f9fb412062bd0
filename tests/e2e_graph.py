#!/usr/bin/env python3
"""End-to-end tests of graph models: ordinary PyTorch modules (a ResNet
with BatchNorm and a projection shortcut, an MLP with LayerNorm, GELU, SiLU
and a residual add), exported by run/torch/hessrmt_graph.py's export() and
run by hessrmt with no --model.

The reference is the module itself: torch.autograd.functional.hessian of
its float64 mean loss as a function of the flat parameter vector (through
torch.nn.utils.stateless.functional_call, in model.parameters() order),
H0 = sum J^T Lambda J / n from its Jacobian, H1 = H - H0, and
numpy.linalg.eigvalsh.  hessrmt's spectra must match to 1e-10 of the
largest eigenvalue at 1, 2 and 4 ranks."""
import os
import subprocess
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_DIR = os.path.join(os.path.dirname(HERE), "run", "torch")
sys.path.insert(0, HERE)
sys.path.insert(0, TORCH_DIR)
from e2e_common import Harness  # noqa: E402

try:
    import torch  # noqa: E402
    import torch.nn.functional as F  # noqa: E402
    from torch import nn  # noqa: E402
    from torch.nn.utils import stateless  # noqa: E402
    import hessrmt_graph as hg  # noqa: E402
except ImportError:
    torch = None

TOL = 1e-10


# ---- the modules, written as people write them -----------------------------------

if torch is not None:
    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                              nn.BatchNorm2d(cout))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += self.shortcut(x)
            return F.relu(out)

    class TinyResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(2, 3, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(3)
            self.layer1 = Block(3, 3, 1)
            self.layer2 = Block(3, 4, 2)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            x = self.layer2(self.layer1(x))
            return self.fc(torch.flatten(self.pool(x), 1))

    class NormMLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.inp = nn.Linear(6, 8)
            self.ln1 = nn.LayerNorm(8)
            self.mlp = nn.Sequential(nn.Linear(8, 8), nn.GELU(), nn.Linear(8, 8))
            self.ln2 = nn.LayerNorm(8, elementwise_affine=False)
            self.head = nn.Linear(8, 3)

        def forward(self, x):
            B, D = x.shape
            h = self.inp(x.view(B, D))
            h = h + self.mlp(self.ln1(h))
            return self.head(F.silu(self.ln2(h)) * 0.5)

    class CumSum(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(torch.cumsum(x, 1))

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)
            self.out = nn.Linear(4, 3)

        def forward(self, x):
            return self.out(self.fc(torch.tanh(self.fc(x))))


def randomise(model, x, seed):
    """Non-trivial BatchNorm statistics (a few training-mode passes) and
    affine parameters, then eval mode."""
    torch.manual_seed(seed)
    model.double().train()
    with torch.no_grad():
        for _ in range(3):
            model(x * 1.7 + 0.3)
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm2d, nn.LayerNorm)) and m.weight is not None:
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.3, 0.3)
    return model.eval()


# ---- the reference ----------------------------------------------------------------

def flat(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def functional(model):
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for p in model.parameters()]

    def f(theta, x):
        params, off = {}, 0
        for n, s in zip(names, shapes):
            k = int(np.prod(s))
            params[n] = theta[off:off + k].reshape(s)
            off += k
        return stateless.functional_call(model, params, (x,))
    return f


def reference(model, x, y):
    """H, H0, H1 eigenvalues and the mean loss (cross-entropy)."""
    f, th = functional(model), flat(model)
    n = len(x)
    H = torch.autograd.functional.hessian(
        lambda p: F.cross_entropy(f(p, x), y, reduction="sum") / n, th).numpy()
    J = torch.autograd.functional.jacobian(lambda p: f(p, x), th).numpy()
    out = f(th, x).detach().numpy()
    H0 = np.zeros_like(H)
    for i in range(n):
        p = np.exp(out[i] - out[i].max())
        p /= p.sum()
        H0 += J[i].T @ (np.diag(p) - np.outer(p, p)) @ J[i]
    H0 /= n
    loss = float(F.cross_entropy(f(th, x), y))
    return {part: np.linalg.eigvalsh(m) for part, m in
            (("full", H), ("gn", H0), ("residual", H - H0))}, loss


def compare(h, got, want, what):
    err = np.max(np.abs(np.sort(got) - want)) / np.max(np.abs(want))
    h.expect(err < TOL, f"{what}: max |dl| / max |l| = {err:.2e}")


def data(h, name, model, shape, n, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape))
    y = rng.integers(0, 3, n)
    np.save(h.path(f"{name}_x.npy"), x.reshape(n, -1))
    np.save(h.path(f"{name}_y.npy"), y)
    xt = torch.tensor(x)
    return xt, torch.tensor(y)


def spectra(h, np_, name, *args):
    out = h.path(f"{name}_out_{np_}_{abs(hash(args)) % 10**8}.h5")
    h.run(np_, "hessian", "--data", h.path(f"{name}_x.npy"), "--labels",
          h.path(f"{name}_y.npy"), "--weights", h.path(f"{name}.h5"), "--no-stats",
          "-q", *args, "-o", out)
    with h5py.File(out, "r") as f:
        return f["hessian_evals"][...], f["checks/loss"][...], dict(f.attrs)


def models():
    return {"resnet": (TinyResNet, (2, 6, 6)), "normmlp": (NormMLP, (6,))}


# ---- cases --------------------------------------------------------------------------

def case_spectra(h):
    """Whole-data H, H0, H1 of the exported ResNet and LayerNorm MLP at 1,
    2 and 4 ranks (dense), and their losses against PyTorch's."""
    for name, (cls, shape) in models().items():
        torch.manual_seed(3)
        model = cls()
        x, y = data(h, name, model, shape, 10, seed=4)
        randomise(model, x, 5)
        spec = hg.export(model, x, h.path(f"{name}.h5"))
        print(f"{name}: N = {sum(p.numel() for p in model.parameters())}: {spec}")
        ref, loss = reference(model, x, y)
        for np_ in (1, 2, 4):
            for part in ("full", "gn", "residual"):
                ev, got_loss, attrs = spectra(h, np_, name, "--part", part, "--method", "dense")
                compare(h, ev[0], ref[part], f"{name} {part} at {np_} ranks")
            err = abs(got_loss[0] - loss) / abs(loss)
            h.expect(err < 1e-12, f"{name}: loss {got_loss[0]!r} vs PyTorch {loss!r} ({err:.1e})")
        h.expect(attrs["model_spec"].startswith("input "), f"{name}: spec {attrs['model_spec']}")


def case_batches(h):
    """Batches of 4: gram for H0, lowrank and dense for H, at 1 and 2 ranks,
    each batch against the reference of its rows."""
    for name, (cls, shape) in models().items():
        torch.manual_seed(7)
        model = cls()
        x, y = data(h, name, model, shape, 8, seed=8)
        randomise(model, x, 9)
        hg.export(model, x, h.path(f"{name}.h5"))
        refs = [reference(model, x[b:b + 4], y[b:b + 4])[0] for b in (0, 4)]
        for np_ in (1, 2):
            for part, method in (("gn", "gram"), ("full", "lowrank"), ("full", "dense")):
                ev, _, attrs = spectra(h, np_, name, "--batch-size", 4, "--part", part,
                                       "--method", method)
                h.expect(attrs["method_used"] == method, f"{name}: method {attrs['method_used']}")
                for b in range(2):
                    compare(h, ev[b], refs[b][part], f"{name} batch {b} {part} {method} "
                            f"at {np_} ranks")


def case_export_errors(h):
    """Refusals name the operation and write nothing; BatchNorm in training
    mode is refused with how to get eval mode."""
    x = torch.randn(5, 4, dtype=torch.float64)
    cases = [(CumSum(), x, "cumsum"), (Twice(), x, "called twice"),
             (TinyResNet().train(), torch.randn(3, 2, 6, 6, dtype=torch.float64),
              "model.eval()")]
    for model, inp, want in cases:
        path = h.path(f"refused_{want.split()[0]}.h5")
        try:
            hg.export(model, inp, path)
            h.expect(False, f"{type(model).__name__} was exported")
        except hg.ExportError as e:
            h.expect(want in str(e), f"{type(model).__name__}: message {e}")
        h.expect(not os.path.exists(path) and not os.path.exists(path + ".partial"),
                 f"{type(model).__name__}: a file was written")


def case_roundtrip(h):
    """export, then to-torch: the GraphModel's outputs equal the original
    module's, its named parameters are the module's; and a saved module
    converts from the command line."""
    torch.manual_seed(1)
    model = TinyResNet()
    x = torch.randn(6, 2, 6, 6, dtype=torch.float64)
    randomise(model, x, 2)
    w = h.path("rt.h5")
    hg.export(model, x, w)
    script = os.path.join(TORCH_DIR, "hessrmt_torch.py")
    subprocess.run([sys.executable, script, "to-torch", w, "-o", h.path("rt.pt")],
                   check=True, capture_output=True)
    back = torch.load(h.path("rt.pt"))
    err = (back(x) - model(x)).abs().max().item()
    h.expect(err < 1e-13, f"round trip: outputs differ by {err:.1e}")
    h.expect([n for n, _ in back.named_parameters()] == [n for n, _ in model.named_parameters()],
             "round trip: parameter names differ")
    # a saved GraphModule carries its own code (the class above lives in
    # this script's __main__, which another process cannot unpickle)
    torch.save(torch.fx.symbolic_trace(model), h.path("saved.pt"))
    proc = subprocess.run([sys.executable, script, "to-hessrmt", h.path("saved.pt"),
                           "--input", "2x6x6", "-o", h.path("cli.h5")],
                          capture_output=True, text=True)
    h.expect(proc.returncode == 0, f"to-hessrmt of a saved ResNet: {proc.stderr}")
    with h5py.File(w) as a, h5py.File(h.path("cli.h5")) as b:
        h.expect(a.attrs["model_spec"] == b.attrs["model_spec"], "CLI and export() differ")


def case_resnet_mini(h):
    """The preset: N = 19,954 printed by --dry-run.  Its PyTorch twin
    (GraphModel of the preset's text, BatchNorm statistics made
    non-trivial) exported and run on two batches of two 3x32x32 images:
    H0 by the Gram path, whose non-zero eigenvalues are those of the
    (B C x B C) matrix Lambda^(1/2) J J^T Lambda^(1/2) / B with J from
    autograd."""
    proc = h.run(1, "hessian", "--n", "12", "--dim", "3072", "--classes", "10",
                 "--model", "resnet-mini", "--batch-size", "4", "--dry-run")
    out = (proc.stdout + proc.stderr).replace(",", "")
    h.expect("N = 19954" in out, f"dry run: {out[-800:]}")
    import hessrmt_torch as ht
    torch.manual_seed(2)
    model = hg.GraphModel(ht.expand("resnet-mini"))
    x, y = data(h, "mini", model, (3, 32, 32), 4, seed=6)
    randomise(model, x, 3)
    h.expect(sum(p.numel() for p in model.parameters()) == 19954, "the twin's N")
    hg.export(model, x, h.path("mini.h5"))
    ev, _, attrs = spectra(h, 1, "mini", "--batch-size", 2, "--part", "gn", "--method", "gram")
    f, th = functional(model), flat(model)
    for b in range(2):
        xb = x[2 * b:2 * b + 2]
        J = torch.autograd.functional.jacobian(lambda p: f(p, xb), th).numpy()  # (2, 10, N)
        out = f(th, xb).detach().numpy()
        G = []
        for i in range(2):
            p = np.exp(out[i] - out[i].max())
            p /= p.sum()
            w, U = np.linalg.eigh(np.diag(p) - np.outer(p, p))
            G.append((U * np.sqrt(np.clip(w, 0, None))) @ U.T @ J[i])
        G = np.concatenate(G)
        want = np.linalg.eigvalsh(G @ G.T / 2)
        got = np.sort(ev[b])[-len(want):]
        err = np.max(np.abs(got - want)) / np.max(want)
        h.expect(err < TOL, f"resnet-mini batch {b}: H0 top {len(want)} eigenvalues "
                 f"differ by {err:.2e}")


def case_named_blocks(h):
    """--block by PyTorch name: a tensor, a module, a dotted prefix (a
    residual stage, a shortcut of two modules) and an index, in one run at
    1 and 2 ranks; each spectrum against the principal sub-matrix of the
    autograd Hessian at the offsets named_parameters() gives.  Unknown
    names, a missing bias and a prefix whose layers are not consecutive are
    refused with the reason."""
    torch.manual_seed(11)
    model = TinyResNet()
    x, y = data(h, "named", model, (2, 6, 6), 8, seed=12)
    randomise(model, x, 13)
    hg.export(model, x, h.path("named.h5"))
    f, th, n = functional(model), flat(model), len(x)
    H = torch.autograd.functional.hessian(
        lambda p: F.cross_entropy(f(p, x), y, reduction="sum") / n, th).numpy()
    where, at = {}, 0
    for name, p in model.named_parameters():
        where[name] = (at, p.numel())
        at += p.numel()

    def span(prefix):
        hits = [v for k, v in where.items() if k == prefix or k.startswith(prefix + ".")]
        return hits[0][0], hits[-1][0] + hits[-1][1]
    blocks = ["layer1.conv1.weight", "bn1", "layer2.shortcut", "layer2", "fc.bias", "0"]
    ranges = [span(b) for b in blocks[:-1]] + [where["conv1.weight"]]
    ranges[-1] = (ranges[-1][0], ranges[-1][0] + ranges[-1][1])
    for np_ in (1, 2):
        out = h.path(f"named_{np_}.h5")
        h.run(np_, "hessian", "--data", h.path("named_x.npy"), "--labels",
              h.path("named_y.npy"), "--weights", h.path("named.h5"), "--no-stats", "-q",
              "--block", ",".join(blocks), "-o", out)
        with h5py.File(out, "r") as fh:
            got = [fh["hessian_evals"][0]] + [fh[f"blocks/{i}"][0] for i in range(1, 6)]
            desc = fh.attrs["blocks"]
        for b, (a, e), ev in zip(blocks, ranges, got):
            want = np.linalg.eigvalsh(H[a:e, a:e])
            h.expect(len(ev) == e - a, f"{b}: {len(ev)} eigenvalues, want {e - a}")
            compare(h, ev, want, f"block {b} at {np_} ranks")
        h.expect("block of layer2.shortcut" in str(desc), f"blocks attribute: {desc}")
    data_args = ["hessian", "--data", h.path("named_x.npy"), "--labels", h.path("named_y.npy")]
    for np_ in (1, 2):
        for block, want in (("layer9", "no parameters are named 'layer9'"),
                            ("layer1.conv1.bias", "has no bias"),
                            ("layer", "no parameters are named 'layer'"),
                            ("0,", "separated by commas")):
            h.error_case(np_, data_args + ["--weights", h.path("named.h5"), "--block", block],
                         want, f"--block {block}")
    # a sequential spec's unnamed layers answer to nn.Sequential's indices
    seq = "input 2x6x6, conv 4 3, relu, flatten, linear 3"
    evs = []
    for how in (["--block", "3.weight"], ["--params", "2:2"], ["--block", "node3.weight"]):
        out = h.path(f"seq_{how[1]}.h5")
        h.run(1, *data_args, "--model", seq, "--seed", 3, "--no-stats", "-q", *how, "-o", out)
        with h5py.File(out, "r") as fh:
            evs.append(fh["hessian_evals"][0])
    h.expect(len(evs[0]) == 3 * 64 and np.array_equal(evs[0], evs[1])
             and np.array_equal(evs[0], evs[2]), "--block 3.weight is not tensor 2")
    for np_ in (1, 2):
        spec = "input 72, linear 3 as a.x, relu, linear 3 as b, relu, linear 3 as a.y"
        h.error_case(np_, data_args + ["--model", spec, "--block", "a"],
                     "not consecutive", "--block a (split)")


def file_params(path):
    """A weights file's tensors, flat, in layers/<l>/ order (weight, bias)."""
    with h5py.File(path, "r") as f:
        n = len(f["layers"])
        parts = [f[f"layers/{l}/{k}"][...].reshape(-1) for l in range(n)
                 for k in ("weight", "bias") if k in f[f"layers/{l}"]]
        stats = {k: f[f"batchnorm/{k}/running_var"][...] for k in f.get("batchnorm", {})}
    return np.concatenate(parts), stats


def case_train(h):
    """train on exported graph models: full-batch SGD with momentum and
    weight decay against torch.optim.SGD on the module itself (in eval
    mode, so BatchNorm uses and keeps its frozen statistics), at 2 ranks;
    mini-batches give the same weights at 1 and 2 ranks; the trained file
    keeps the statistics and hessian reads it."""
    for name, (cls, shape) in models().items():
        torch.manual_seed(21)
        model = cls()
        x, y = data(h, f"tr_{name}", model, shape, 12, seed=22)
        randomise(model, x, 23)
        w0 = h.path(f"tr_{name}.h5")
        hg.export(model, x, w0)
        _, stats0 = file_params(w0)
        out = h.path(f"tr_{name}_out.h5")
        args = ["train", "--data", h.path(f"tr_{name}_x.npy"), "--labels",
                h.path(f"tr_{name}_y.npy"), "--weights", w0, "--epochs", 5, "--lr", 0.1,
                "--momentum", 0.9, "--weight-decay", 1e-3, "-q"]
        h.run(2, *args, "--batch-size", 12, "-o", out)
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        for _ in range(5):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        got, stats = file_params(out)
        want = flat(model).numpy()
        err = np.max(np.abs(got - want)) / np.max(np.abs(want))
        h.expect(err < 1e-10, f"{name}: trained weights differ from torch.optim.SGD by {err:.2e}")
        h.expect(stats.keys() == stats0.keys() and all(np.array_equal(stats[k], stats0[k])
                 for k in stats), f"{name}: BatchNorm statistics changed or lost")
        minis = []
        for np_ in (1, 2):
            minis.append(h.path(f"tr_{name}_mini_{np_}.h5"))
            h.run(np_, *args, "--batch-size", 4, "-o", minis[-1])
        a, b = file_params(minis[0])[0], file_params(minis[1])[0]
        err = np.max(np.abs(a - b)) / np.max(np.abs(a))
        h.expect(err < 1e-12, f"{name}: mini-batch weights at 1 and 2 ranks differ by {err:.2e}")
        spec_out = h.path(f"tr_{name}_spectra.h5")
        h.run(1, "hessian", "--data", h.path(f"tr_{name}_x.npy"), "--labels",
              h.path(f"tr_{name}_y.npy"), "--weights", out, "--no-stats", "-q", "-o", spec_out)
        with h5py.File(spec_out, "r") as f:
            loss = f["checks/loss"][0]
        want = float(F.cross_entropy(model(x), y))
        h.expect(abs(loss - want) < 1e-12 * want,
                 f"{name}: hessian of the trained file: loss {loss} vs PyTorch {want}")


CASES = {"spectra": case_spectra, "batches": case_batches,
         "export_errors": case_export_errors, "roundtrip": case_roundtrip,
         "resnet_mini": case_resnet_mini, "named_blocks": case_named_blocks,
         "train": case_train}

if __name__ == "__main__":
    if torch is None:
        print("skipped: python3-torch is not installed")
        sys.exit(0)
    Harness(__doc__, CASES).main()
