#!/usr/bin/env python3
"""The experiments of "Applicability of random matrix theory in deep learning"
(arXiv 2102.06740), reproduced with hessrmt in one command, with the numbers
the paper never gave.

    run/paper/reproduce.sh --scale quick --out paper-quick
    run/paper/reproduce.sh --scale full --out paper-full --mnist DIR --bike hour.csv

Each experiment (logistic regression on MNIST and on ResNet-34 features of
CIFAR-10, the two MNIST MLPs, the small LeNet on CIFAR-10, the bike-sharing
regression MLP for H and its Gauss-Newton part) is run at PyTorch's default
initialisation (what the paper's published spectra hold: its Hessian script
never loaded the checkpoint) and trained with the paper's schedule, in float32
(the paper's precision) and float64.  Every spectra file goes through
`hessrmt stats --paper-conventions`; the Gaussian-process loss model of the
paper (`ensemble --kind gp-loss`) and its exponential-hardness fit
(`lossfit --best-of-runs`) are run too.  Outputs in --out DIR:

    results.json   one object per spectra row (see ROW_KEYS)
    results.md     the same as a table, with the scale and the machine
    hardness.json  the best-test-loss-against-epoch fits across runs
    spectra/ stats/ figures/ train/ logs/ data/

Data the paper used but Debian does not ship are replaced by stand-ins that
are said in the table: Fashion-MNIST (package dataset-fashion-mnist) for
MNIST, Fashion-MNIST padded to 3x32x32 for CIFAR-10, Gaussian-mixture
features for the ResNet features, a synthetic 13-feature regression for the
bike data.  Give the real files with --mnist, --cifar, --resnet, --bike.

Re-running with the same --out continues: finished spectra and weights are
kept (hessrmt writes them atomically), an interrupted spectra file is resumed
with --resume.  A different --scale or data in the same --out is refused.
"""
import argparse
import csv
import gzip
import json
import math
import os
import pickle
import platform
import shlex
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FASHION = "/usr/share/datasets/fashion-mnist"

# What each scale runs.  rows: training rows (and whole-dataset Hessian rows);
# batches: batch spectra per run (0 = every batch, ceil(n/64)); batch: the
# batch size of the spectra (the paper's is 64); big_batch, big_batches: those
# of the three largest models (deep MLP, LeNet, bike MLP), whose batch-64 spectra take
# minutes each on 2 cores (LeNet's batch Hessian has rank ~4,600 even for 8
# rows, the bike MLP's ~3,100 for 16); epochs: training epochs with the paper's schedule; models: models
# replaced at this scale (tiny is the CI test of the pipeline, not a result).
TINY_LENET = ("input 3x32x32, conv 2 5, relu, maxpool 2, conv 4 5, relu, "
              "maxpool 2, flatten, linear 10, relu, linear 10")
SCALES = {
    "tiny": dict(rows=256, test_rows=256, batches=2, batch=16, big_batch=8,
                 big_batches=2, epochs=1, gp_n=200, gp_count=6,
                 hardness_epochs=[1, 2, 3, 4], hardness_rows=512,
                 models={"lenet-cifar": TINY_LENET}),
    "quick": dict(rows=4096, test_rows=2000, batches=6, batch=64, big_batch=8,
                  big_batches=2, epochs=3, gp_n=1000, gp_count=12,
                  hardness_epochs=[1, 2, 3, 4, 6, 8], hardness_rows=4096,
                  models={}),
    "full": dict(rows=0, test_rows=0, batches=0, batch=64, big_batch=64,
                 big_batches=0, epochs=300, gp_n=4000, gp_count=24,
                 hardness_epochs=[10, 20, 40, 60, 80, 100, 150, 200, 250, 300],
                 hardness_rows=0, models={}),
}

# The paper's experiments.  spectra: batch (batch-64 Hessians of the summed
# batch loss, in data order) or all (the whole training set).
EXPERIMENTS = [
    dict(name="logistic-mnist", model="logistic", data="mnist", spectra="all",
         parts=["full"], N=7850),
    dict(name="logistic-resnet", model="logistic", data="resnet", spectra="all",
         parts=["full"], N=5130),
    dict(name="mlp-mnist", model="mnist-mlp", data="mnist", spectra="batch",
         parts=["full"], N=9960),
    dict(name="mlp-deep-mnist", model="mnist-mlp-deep", data="mnist",
         spectra="batch", parts=["full"], N=20060, big=True),
    dict(name="lenet-cifar", model="lenet", data="cifar", spectra="batch",
         parts=["full"], N=19217, big=True),
    dict(name="bike-mlp", model="bike-mlp", data="bike", spectra="batch",
         parts=["full", "gn"], N=16601, loss="mse", big=True),
]

# The training recipe of the paper's code (GadamX run_sgd.py).
TRAINING = ["--lr", "0.003", "--momentum", "0.9", "--weight-decay", "5e-4",
            "--batch-size", "128", "--lr-schedule", "paper"]

ROW_KEYS = ["experiment", "model", "N", "data", "weights", "precision",
            "spectra", "part", "split", "batch_size", "n_spectra", "rank",
            "mean_r_tilde", "mean_r_tilde_err", "ks_poisson", "ks_goe",
            "ks_gue", "verdict", "verdict_consistent", "paper_mean_r",
            "paper_ks_goe", "paper_spacing_ks_goe", "zero_fraction_1e-10",
            "seconds"]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", choices=sorted(SCALES), default="quick",
                   help="tiny (the CI test), quick (<= 15 min on 2 cores), "
                        "full (the paper's sizes) [quick]")
    p.add_argument("--out", default="paper-results", help="output folder")
    p.add_argument("--hessrmt", default=os.environ.get(
        "HESSRMT", os.path.join(ROOT, "build", "hessrmt")), help="the program")
    p.add_argument("--ranks", type=int, default=os.cpu_count() or 1,
                   help="MPI ranks per run [cores]")
    p.add_argument("--mpiexec", default="mpirun", help="MPI launcher")
    p.add_argument("--only", default="", help="comma list of experiments "
                   "(" + ",".join(e["name"] for e in EXPERIMENTS) +
                   ",gp-loss,hardness)")
    p.add_argument("--mnist", help="folder with MNIST's four IDX files "
                   "(train-images-idx3-ubyte[.gz], ...) instead of Fashion-MNIST")
    p.add_argument("--cifar", help="CIFAR-10's python folder "
                   "(cifar-10-batches-py: data_batch_1..5, test_batch)")
    p.add_argument("--resnet", help="folder with the paper's ResNet-34 features: "
                   "features.npy, labels.npy (train) and test_features.npy, "
                   "test_labels.npy")
    p.add_argument("--bike", help="the UCI bike-sharing hour.csv")
    a = p.parse_args()
    a.hessrmt = os.path.abspath(a.hessrmt)
    if not os.access(a.hessrmt, os.X_OK):
        p.error(f"{a.hessrmt}: no hessrmt program there (build it: run/build.sh, "
                "or give --hessrmt)")
    known = {e["name"] for e in EXPERIMENTS} | {"gp-loss", "hardness"}
    a.only = [x for x in a.only.split(",") if x]
    for x in a.only:
        if x not in known:
            p.error(f"--only {x}: not an experiment ({', '.join(sorted(known))})")
    return a


class Runner:
    """Runs hessrmt commands, logging each to logs/NAME.log, failing loudly."""

    def __init__(self, args, out):
        self.args, self.out = args, out
        self.env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1",
                        OMPI_MCA_rmaps_base_oversubscribe="1")
        if os.geteuid() == 0:
            self.env.update(OMPI_ALLOW_RUN_AS_ROOT="1",
                            OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")

    def __call__(self, name, argv, ranks=None):
        ranks = ranks or self.args.ranks
        cmd = [self.args.mpiexec, "-n", str(ranks), self.args.hessrmt] + argv
        log = os.path.join(self.out, "logs", name + ".log")
        t0 = time.time()
        with open(log, "w") as f:
            f.write("$ " + shlex.join(cmd) + "\n")
            f.flush()
            rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, env=self.env)
        seconds = time.time() - t0
        if rc != 0:
            tail = open(log).read().splitlines()[-15:]
            sys.exit(f"reproduce: {name} failed (exit {rc}); log {log}:\n  " +
                     "\n  ".join(tail))
        progress(f"{name}: {seconds:.1f} s")
        return seconds


def progress(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def limit(rows):
    return ["--limit", str(rows)] if rows else []


# ---------------------------------------------------------------- the data

def idx_file(folder, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(folder, name)
        if os.path.exists(path):
            return path
    sys.exit(f"reproduce: {folder}: no {stem}[.gz]")


def read_idx(path):
    with (gzip.open(path) if path.endswith(".gz") else open(path, "rb")) as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


def mnist_data(args, scale):
    """MNIST (or Fashion-MNIST) IDX files: hessrmt reads them directly, pixels
    mapped to [-1, 1] as the paper's loader did."""
    folder = args.mnist or FASHION
    name = "MNIST" if args.mnist else "Fashion-MNIST (stand-in for MNIST)"
    train = ["--data", idx_file(folder, "train-images-idx3-ubyte"),
             "--labels", idx_file(folder, "train-labels-idx1-ubyte"), "--scale-pixels"]
    test = ["--test-data", idx_file(folder, "t10k-images-idx3-ubyte"),
            "--test-labels", idx_file(folder, "t10k-labels-idx1-ubyte")]
    return dict(name=name, train=train, test=test)


def save_split(folder, prefix, x, y, targets=None):
    np.save(os.path.join(folder, prefix + "_x.npy"), np.ascontiguousarray(x, np.float32))
    if y is not None:
        np.save(os.path.join(folder, prefix + "_y.npy"), np.asarray(y, np.int64))
    if targets is not None:
        np.save(os.path.join(folder, prefix + "_t.npy"), np.asarray(targets, np.float64))


def npy_args(folder, prefix, regression=False):
    x = os.path.join(folder, prefix + "_x.npy")
    if regression:
        return ["--data", x, "--targets", os.path.join(folder, prefix + "_t.npy")]
    return ["--data", x, "--labels", os.path.join(folder, prefix + "_y.npy")]


def test_args(train_args):
    """The --test-data / --test-labels of train for a split's npy arguments."""
    return ["--test-data", train_args[1], "--test-labels", train_args[3]]


def cifar_data(args, scale, folder):
    """CIFAR-10 from its python batches, or Fashion-MNIST padded to 32x32 with
    its grey level in all 3 channels; pixels to [-1, 1], rows as C x H x W."""
    n, nt = scale["rows"] or 50000, scale["test_rows"] or 10000
    if args.cifar:
        def batch(name):
            with open(os.path.join(args.cifar, name), "rb") as f:
                d = pickle.load(f, encoding="bytes")
            return np.asarray(d[b"data"]), np.asarray(d[b"labels"])
        parts = [batch(f"data_batch_{i}") for i in range(1, 6)]
        x = np.concatenate([p[0] for p in parts])[:n]
        y = np.concatenate([p[1] for p in parts])[:n]
        xt, yt = batch("test_batch")
        xt, yt = xt[:nt], yt[:nt]
        name = "CIFAR-10"
    else:
        def shaped(images):
            images = np.pad(images, ((0, 0), (2, 2), (2, 2)))
            return np.repeat(images[:, None], 3, axis=1).reshape(len(images), -1)
        x = shaped(read_idx(idx_file(FASHION, "train-images-idx3-ubyte"))[:n])
        y = read_idx(idx_file(FASHION, "train-labels-idx1-ubyte"))[:n]
        xt = shaped(read_idx(idx_file(FASHION, "t10k-images-idx3-ubyte"))[:nt])
        yt = read_idx(idx_file(FASHION, "t10k-labels-idx1-ubyte"))[:nt]
        name = "Fashion-MNIST padded to 3x32x32 (stand-in for CIFAR-10)"
    save_split(folder, "cifar_train", x / 127.5 - 1.0, y)
    save_split(folder, "cifar_test", xt / 127.5 - 1.0, yt)
    train = npy_args(folder, "cifar_train")
    return dict(name=name, train=train, test=test_args(npy_args(folder, "cifar_test")))


def resnet_data(args, scale, folder):
    """The paper's 512-d ResNet-34 features, or a stand-in: a 10-class
    Gaussian mixture passed through a ReLU (the features follow ResNet's
    last ReLU and average pool, so they are non-negative)."""
    if args.resnet:
        def load(name):
            return np.load(os.path.join(args.resnet, name))
        x, y = load("features.npy"), load("labels.npy")
        xt, yt = load("test_features.npy"), load("test_labels.npy")
        name = "ResNet-34 features of CIFAR-10"
    else:
        rng = np.random.default_rng(2102)
        n, nt = scale["rows"] or 50000, scale["test_rows"] or 10000
        means = rng.normal(0, 1, (10, 512))
        y, yt = rng.integers(0, 10, n), rng.integers(0, 10, nt)
        x = np.maximum(means[y] + rng.normal(0, 1.5, (n, 512)), 0)
        xt = np.maximum(means[yt] + rng.normal(0, 1.5, (nt, 512)), 0)
        name = "512-d Gaussian-mixture features after a ReLU (stand-in for ResNet-34 features)"
    if scale["rows"]:
        x, y = x[:scale["rows"]], y[:scale["rows"]]
    save_split(folder, "resnet_train", x, y)
    save_split(folder, "resnet_test", xt, yt)
    return dict(name=name, train=npy_args(folder, "resnet_train"),
                test=test_args(npy_args(folder, "resnet_test")))


BIKE_FEATURES = ["instant", "season", "yr", "mnth", "hr", "holiday", "weekday",
                 "workingday", "weathersit", "temp", "atemp", "hum", "windspeed"]


def bike_data(args, scale, folder):
    """UCI bike sharing (hour.csv: the 13 columns before the counts as
    features, cnt as target), or a synthetic 13-feature regression of the same
    size; features and target standardised, the last fifth held out."""
    if args.bike:
        with open(args.bike) as f:
            rows = list(csv.DictReader(f))
        x = np.array([[float(r[k]) for k in BIKE_FEATURES] for r in rows])
        t = np.array([float(r["cnt"]) for r in rows])
        name = "UCI bike sharing (hour.csv)"
    else:
        rng = np.random.default_rng(1301)
        x = rng.normal(0, 1, (17379, 13))
        w = rng.normal(0, 1, 13)
        t = np.tanh(x @ w / 3) + 0.3 * np.sin(x[:, 0] * x[:, 1]) + 0.1 * rng.normal(0, 1, len(x))
        name = "synthetic 13-feature regression (stand-in for UCI bike sharing)"
    x = (x - x.mean(0)) / np.where(x.std(0) > 0, x.std(0), 1)
    t = (t - t.mean()) / t.std()
    cut = len(x) * 4 // 5
    n = min(scale["rows"] or cut, cut)
    nt = min(scale["test_rows"] or len(x) - cut, len(x) - cut)
    save_split(folder, "bike_train", x[:n], None, t[:n])
    save_split(folder, "bike_test", x[cut:cut + nt], None, t[cut:cut + nt])
    test = npy_args(folder, "bike_test", regression=True)
    return dict(name=name, train=npy_args(folder, "bike_train", regression=True),
                test=["--test-data", test[1], "--test-targets", test[3]])


def prepare_data(args, scale, out):
    folder = os.path.join(out, "data")
    needed = {e["data"] for e in selected(args, EXPERIMENTS)}
    if wanted(args, "hardness"):
        needed.add("mnist")
    makers = {"mnist": lambda: mnist_data(args, scale),
              "cifar": lambda: cifar_data(args, scale, folder),
              "resnet": lambda: resnet_data(args, scale, folder),
              "bike": lambda: bike_data(args, scale, folder)}
    return {key: makers[key]() for key in sorted(needed)}


# ---------------------------------------------------------- the experiments

def wanted(args, name):
    return not args.only or name in args.only


def selected(args, experiments):
    return [e for e in experiments if wanted(args, e["name"])]


def model_args(exp):
    return ["--model", exp["model"]] + (["--loss", exp["loss"]] if "loss" in exp else [])


def train(run, exp, data, scale, out):
    """The paper's recipe from PyTorch's default initialisation (seed 1, the
    weights of the 'init' rows); returns the weights file."""
    weights = os.path.join(out, "train", exp["name"] + ".h5")
    if os.path.exists(weights):
        progress(f"train {exp['name']}: kept {weights}")
        return weights
    argv = (["train"] + model_args(exp) + ["--init-seed", "1"] + data["train"] +
            limit(scale["rows"]) + data["test"] + TRAINING +
            ["--epochs", str(scale["epochs"]), "-o", weights, "-q",
             "--history", os.path.join(out, "train", exp["name"] + ".csv")])
    run("train-" + exp["name"], argv)
    return weights


def batch_plan(exp, scale, part):
    """(batch size, batches) of a batch experiment.  The Gauss-Newton part
    keeps the paper's batch even for the big models: the gram method makes it
    cheap, and its spectrum has only B nonzero levels to take statistics of."""
    if exp.get("big") and part != "gn":
        return scale["big_batch"], scale["big_batches"]
    return scale["batch"], scale["batches"]


def hessian(run, exp, data, scale, out, weights, precision, part):
    """One spectra file and its statistics; returns (row id, seconds)."""
    wname = "trained" if weights else "init"
    rid = f"{exp['name']}-{wname}-{'float32' if precision == 'single' else 'float64'}-{part}"
    spectra = os.path.join(out, "spectra", rid + ".h5")
    stats = os.path.join(out, "stats", rid + ".json")
    if os.path.exists(spectra) and os.path.exists(stats):
        progress(f"{rid}: kept {spectra}")
        return rid, json.load(open(stats)).get("seconds_reproduce", float("nan"))
    if exp["spectra"] == "all":
        what = ["--batch-size", "all"] + limit(scale["rows"])
    else:
        size, batches = batch_plan(exp, scale, part)
        what = ["--batch-size", str(size)]
        if batches:
            what += ["--max-batches", str(batches)]
    argv = (["hessian"] + model_args(exp) +
            (["--weights", weights] if weights else ["--init-seed", "1"]) +
            data["train"] + what +
            ["--reduction", "sum", "--precision", precision, "--part", part,
             "-o", spectra, "--json", stats, "--paper-conventions",
             "--plots", os.path.join(out, "figures", rid)])
    if os.path.exists(spectra + ".partial"):
        argv.append("--resume")
    seconds = run(rid, argv)
    if not os.path.exists(stats):  # hessian succeeded, its statistics did not
        why = [l for l in open(os.path.join(out, "logs", rid + ".log")) if "warning" in l]
        sys.exit(f"reproduce: {rid}: no statistics: {''.join(why).strip()}")
    with open(stats) as f:
        record = json.load(f)
    record["seconds_reproduce"] = seconds
    atomic_json(stats, record)
    return rid, seconds


def gp_loss(run, scale, out):
    """The paper's model of the true loss: the GP Hessian, plain and with
    rank degeneracy and outliers; GOE local statistics either way."""
    rows = []
    cases = [("gp-loss", ["--gp-a", "1", "--gp-b", "1"]),
             ("gp-loss-degenerate", ["--gp-a", "1", "--gp-b", "1", "--degenerate",
                                     "0.3", "--outliers", "5", "--outlier-scale", "10"])]
    for name, extra in cases:
        spectra = os.path.join(out, "spectra", name + ".h5")
        stats = os.path.join(out, "stats", name + ".json")
        argv = (["ensemble", "--kind", "gp-loss", "--n", str(scale["gp_n"]),
                 "--count", str(scale["gp_count"])] + extra +
                ["-o", spectra, "--json", stats, "--paper-conventions",
                 "--plots", os.path.join(out, "figures", name)])
        seconds = float("nan")
        if not os.path.exists(stats):
            if os.path.exists(spectra):
                os.remove(spectra)
            seconds = run(name, argv)
        model = "GP loss Hessian " + " ".join(extra[i].lstrip("-") + "=" + extra[i + 1]
                                              for i in range(0, len(extra), 2))
        rows.append(make_row(dict(name=name, model=model, N=scale["gp_n"]),
                             "synthetic (ensemble --kind gp-loss)", "-", "float64",
                             "ensemble", "full", "-", "-", stats, seconds))
    return rows


def hardness(run, data, scale, out):
    """The paper's exponential hardness, on the form its data take: runs of
    several lengths, each one point (best test loss, epoch reached), fitted
    across runs to a + b exp(-c t)."""
    histories = []
    for epochs in scale["hardness_epochs"]:
        name = f"hardness-logistic-{epochs}ep"
        history = os.path.join(out, "train", name + ".csv")
        if not os.path.exists(history):
            run("train-" + name, ["train", "--model", "logistic", "--init-seed", "1"] +
                data["train"] + limit(scale["hardness_rows"]) + data["test"] + TRAINING +
                ["--epochs", str(epochs), "-q", "--history", history,
                 "-o", os.path.join(out, "train", name + ".h5")])
        histories.append(history)
    fits = {}
    for column in ("test_loss", "test_error"):
        path = os.path.join(out, "stats", f"hardness-{column}.json")
        run(f"lossfit-{column}", ["lossfit", "--best-of-runs", "--y-column", column,
                                  "--json", path, "--plots",
                                  os.path.join(out, "figures", "hardness-" + column)]
            + histories, ranks=1)
        fits[column] = json.load(open(path))
    atomic_json(os.path.join(out, "hardness.json"),
                dict(model="logistic", data=data["name"], runs=histories, fits=fits))
    return fits


# ------------------------------------------------------------ the results

def make_row(exp, data_name, weights, precision, spectra, part, split, bsize,
             stats_path, seconds):
    s = json.load(open(stats_path))
    pc = s.get("paper_conventions", {})
    ladder = pc.get("degeneracy", {})
    zero = float("nan")
    for cut, frac in zip(ladder.get("cutoffs", []), ladder.get("fractions", [])):
        if abs(cut - 1e-10) < 1e-22:
            zero = frac
    rank = s.get("numerical_rank_mean")
    if rank is None or (isinstance(rank, float) and math.isnan(rank)):
        rank = s["n_kept"] / max(s["n_spectra"], 1)
    spacings = pc.get("spacings", {})
    return dict(experiment=exp["name"], model=exp["model"], N=s["n_levels"],
                data=data_name, weights=weights, precision=precision,
                spectra=spectra, part=part, split=split, batch_size=bsize,
                n_spectra=s["n_spectra"], rank=rank,
                mean_r_tilde=s["mean_r_tilde"], mean_r_tilde_err=s["mean_r_tilde_err"],
                ks_poisson=s["ks_poisson"], ks_goe=s["ks_goe"], ks_gue=s["ks_gue"],
                verdict=s["verdict"], verdict_consistent=s["verdict_consistent"],
                paper_mean_r=pc.get("ratios", {}).get("mean"),
                paper_ks_goe=pc.get("ratios", {}).get("ks_goe"),
                paper_spacing_ks_goe=spacings.get("ks_goe") if spacings.get("available") else None,
                **{"zero_fraction_1e-10": zero}, seconds=seconds)


def atomic_json(path, obj):
    tmp = path + ".partial"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=1, allow_nan=True)
        f.write("\n")
    os.replace(tmp, path)


def fmt(v, digits=4):
    if v is None:
        return "-"
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        return f"{v:.{digits}f}"
    return str(v)


def machine():
    model = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    core = os.environ.get("OPENBLAS_CORETYPE", "OpenBLAS's own detection")
    return f"{model or platform.processor()}, {os.cpu_count()} cores, BLAS core {core}"


def write_markdown(path, rows, fits, meta):
    lines = [f"# The paper's experiments with hessrmt: scale {meta['scale']}", "",
             f"- command: `{meta['command']}`",
             f"- hessrmt: {meta['version']}; machine: {meta['machine']}; "
             f"{meta['ranks']} ranks per run; total {meta['seconds']:.0f} s",
             f"- scale {meta['scale']}: {meta['scale_text']}",
             "- weights: init = PyTorch's default initialisation (seed 1), what the "
             "paper's spectra hold; trained = the paper's SGD recipe and schedule",
             "- ⟨r̃⟩ ± error, KS distances and verdict: hessrmt's statistics "
             "(r̃ = min(r, 1/r), auto cut); paper r, paper KS: the notebooks' "
             "conventions (raw r < 10 of |λ| > 1e-10, against the GOE surmise)", ""]
    head = ["experiment", "data", "weights", "prec.", "part", "spectra", "B", "n", "N",
            "rank", "⟨r̃⟩ ± err", "KS Poisson", "KS GOE", "KS GUE", "verdict",
            "paper r", "paper KS GOE", "spacing KS", "frac<1e-10", "s"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for r in rows:
        verdict = r["verdict"].upper() + ("" if r["verdict_consistent"] else " (?)")
        lines.append("| " + " | ".join([
            r["experiment"], r["data_short"], r["weights"], r["precision"], r["part"],
            r["spectra"], str(r["batch_size"]), str(r["n_spectra"]), str(r["N"]),
            fmt(float(r["rank"]), 0),
            f"{fmt(r['mean_r_tilde'])} ± {fmt(r['mean_r_tilde_err'])}",
            fmt(r["ks_poisson"], 3), fmt(r["ks_goe"], 3), fmt(r["ks_gue"], 3), verdict,
            fmt(r["paper_mean_r"], 3), fmt(r["paper_ks_goe"], 3),
            fmt(r["paper_spacing_ks_goe"], 3), fmt(r["zero_fraction_1e-10"], 3),
            fmt(r["seconds"], 0)]) + " |")
    lines += ["", "Reference ⟨r̃⟩: Poisson 0.3863, GOE 0.5307, GUE 0.5996. "
              "A verdict with (?) is the nearest law by KS distance but ⟨r̃⟩ is not "
              "within 3 standard errors of its value.", ""]
    for key, name in meta["data_names"].items():
        lines.append(f"- data {key}: {name}")
    if fits:
        lines += ["", "## Exponential hardness (best test value of each run against "
                  "the epoch it was reached, fitted across runs to a + b exp(-c t))", "",
                  "| value | runs | a | b | c |", "|---|---|---|---|---|"]
        for column, fit in fits.items():
            cells = [f"{fmt(fit.get(k))} ± {fmt(fit.get(k + '_err'))}" for k in "abc"]
            lines.append(f"| {column} | {fit.get('n_runs')} | " + " | ".join(cells) + " |")
    lines += ["", "Figures: figures/<row>/ (hessrmt's and the paper's kinds: "
              "paper_ratios, paper_spacings, degeneracy, ...)."]
    tmp = path + ".partial"
    with open(tmp, "w") as f:
        f.write("\n".join(lines) + "\n")
    os.replace(tmp, path)


SHORT = {"mnist": "MNIST", "cifar": "CIFAR", "resnet": "ResNet feat.", "bike": "bike"}


def check_order(exp, row):
    """The paper's own models must have the paper's parameter count."""
    paper_model = next(e for e in EXPERIMENTS if e["name"] == exp["name"])["model"]
    if exp["model"] == paper_model and row["N"] != exp["N"]:
        sys.exit(f"reproduce: {exp['name']}: N = {row['N']}, the paper's is {exp['N']}")


def check_config(out, config):
    """The same --out is resumed only for the same scale and data."""
    path = os.path.join(out, "config.json")
    if os.path.exists(path):
        old = json.load(open(path))
        if old != config:
            sys.exit(f"reproduce: {out} holds a run with other settings ({old}); "
                     "use another --out")
    else:
        atomic_json(path, config)


def main():
    args = parse_args()
    scale = SCALES[args.scale]
    out = os.path.abspath(args.out)
    for sub in ("data", "spectra", "stats", "figures", "train", "logs"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    check_config(out, dict(scale=args.scale, settings=scale, mnist=args.mnist, cifar=args.cifar,
                           resnet=args.resnet, bike=args.bike, only=args.only))
    t0 = time.time()
    run = Runner(args, out)
    data = prepare_data(args, scale, out)
    rows = []
    for exp in selected(args, EXPERIMENTS):
        exp = dict(exp, model=scale["models"].get(exp["name"], exp["model"]))
        d = data[exp["data"]]
        weights = {"init": None, "trained": train(run, exp, d, scale, out)}
        for wname, wfile in weights.items():
            for precision in ("single", "double"):
                for part in exp["parts"]:
                    rid, seconds = hessian(run, exp, d, scale, out, wfile, precision, part)
                    bsize = ("all" if exp["spectra"] == "all"
                             else batch_plan(exp, scale, part)[0])
                    row = make_row(exp, d["name"], wname,
                                   "float32" if precision == "single" else "float64",
                                   exp["spectra"], part, "train", bsize,
                                   os.path.join(out, "stats", rid + ".json"), seconds)
                    row["data_short"] = SHORT[exp["data"]]
                    check_order(exp, row)
                    rows.append(row)
    if wanted(args, "gp-loss"):
        for row in gp_loss(run, scale, out):
            row["data_short"] = "synthetic"
            rows.append(row)
    fits = hardness(run, data["mnist"], scale, out) if wanted(args, "hardness") else {}
    atomic_json(os.path.join(out, "results.json"),
                [{k: r[k] for k in ROW_KEYS} for r in rows])
    version = subprocess.run([args.hessrmt, "--version"], capture_output=True,
                             text=True, env=run.env).stdout.splitlines()
    meta = dict(scale=args.scale, command=shlex.join(sys.argv), ranks=args.ranks,
                version=version[0] if version else "?", machine=machine(),
                seconds=time.time() - t0, scale_text=describe_scale(args.scale, scale),
                data_names={k: v["name"] for k, v in data.items()})
    write_markdown(os.path.join(out, "results.md"), rows, fits, meta)
    progress(f"done in {time.time() - t0:.0f} s: {out}/results.json, results.md")


def describe_scale(name, s):
    if name == "full":
        return ("the paper's sizes: every training row, every batch "
                "(ceil(n/64)), 300 epochs")
    models = "".join(f"; {k} uses the model '{v}'" for k, v in s["models"].items())
    return (f"{s['rows']} training rows, {s['epochs']} epoch(s), the first "
            f"{s['batches']} batches of {s['batch']} rows ({s['big_batches']} of "
            f"{s['big_batch']} for the deep MLP, LeNet and the bike MLP's H){models}, "
            f"whole-dataset Hessians of {s['rows']} rows, "
            f"GP loss N = {s['gp_n']} x {s['gp_count']}, hardness runs of "
            f"{','.join(map(str, s['hardness_epochs']))} epochs")


if __name__ == "__main__":
    main()
