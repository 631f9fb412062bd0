#!/usr/bin/python3
"""Two builds of hessrmt on the same batch spectra: did a change make an
existing model slower?

    run/bench/bench_regress.py --old OLD/build/hessrmt [--new build/hessrmt]
                               [--repeats 2] [--models mnist-mlp,lenet:1x28x28]

Each model's spectra are timed with each build in turn (old, new, old,
new, ...: drift of the machine falls on both), one rank, the default
method (auto), --no-stats; the time is the run's total less the read of the
data (the file's time_* attributes), per spectrum.  The MLPs and
lenet:1x28x28 read Fashion-MNIST (batches of 64, pixels scaled), lenet
(3x32x32) synthetic N(0, 1) inputs.  Prints the best of the repeats for
each build, their ratio and the method each build chose."""
import argparse
import os
import subprocess
import tempfile

import benchenv  # noqa: F401  (one BLAS thread, the pinned OpenBLAS core)
import h5py

FM = "/usr/share/datasets/fashion-mnist"
FASHION = ["--data", f"{FM}/train-images-idx3-ubyte.gz", "--labels",
           f"{FM}/train-labels-idx1-ubyte.gz", "--scale-pixels"]
# model -> (data arguments, spectra)
MODELS = {
    "mnist-mlp": (FASHION, 8),
    "mnist-mlp-deep": (FASHION, 1),
    "lenet:1x28x28": (FASHION, 1),
    "lenet": (["--dim", "3072"], 1),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--old", required=True, help="the hessrmt binary before")
    p.add_argument("--new", default=os.path.join(benchenv.ROOT, "build", "hessrmt"))
    p.add_argument("--hessrmt", help=argparse.SUPPRESS)  # benchenv's core probe
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--models", default=",".join(MODELS))
    return p.parse_args()


def run(binary, model, work):
    data, spectra = MODELS[model]
    out = os.path.join(work, "r.h5")
    subprocess.run(["mpirun", "-n", "1", binary, "hessian", *data, "--model", model,
                    "--batch-size", "64", "--max-batches", str(spectra),
                    "--no-stats", "-q", "-o", out], check=True,
                   stdout=subprocess.DEVNULL)
    with h5py.File(out, "r") as f:
        seconds = (f.attrs["time_total_max"] - f.attrs["time_read_max"]) / spectra
        method = f.attrs["method_used"]
    os.remove(out)
    return seconds, method.decode() if isinstance(method, bytes) else str(method)


def main():
    args = parse_args()
    print(benchenv.machine_line())
    print("| model | spectra | old s / spectrum (method) | new s / spectrum (method) "
          "| new / old |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for model in args.models.split(","):
            best = {}
            for _ in range(args.repeats):
                for name, binary in (("old", args.old), ("new", args.new)):
                    t, m = run(binary, model, work)
                    if name not in best or t < best[name][0]:
                        best[name] = (t, m)
            (to, mo), (tn, mn) = best["old"], best["new"]
            print(f"| {model} | {MODELS[model][1]} | {to:.2f} ({mo}) | {tn:.2f} ({mn}) "
                  f"| {tn / to:.3f} |", flush=True)


if __name__ == "__main__":
    main()
