#!/usr/bin/python3
"""Hessian benchmarks on Fashion-MNIST (Debian's dataset-fashion-mnist):

  A. the full-dataset logistic Hessian (60,000 x 784, N = 7,850) at 1 and 2
     ranks: seconds per phase, peak resident memory per rank against the
     program's own estimate and against the floor 8 N^2 / P + data / P, and
     the H v check;
  B. logistic batch-64 spectra: Gram path against the dense path;
  C. mlp:784-10-100-10 (N = 9,960) batch-64 spectra: the reduced and
     low-rank paths against the dense path;
  D. the whole-dataset Hessian of mlp:784-10-100-10 on the first 10,000
     rows (dense: the first layer's Kronecker block and unit-direction
     products for the rest).

    run/bench/bench_hessian.py [--cases A,B,C,D] [--hessrmt build/hessrmt]
                               [--baseline OTHER/hessrmt] [--ranks 1,2]

--baseline runs cases A and D with a second build too, in the same run,
for before/after comparisons on one machine.

Times are read from the output files' time_* attributes (max over ranks).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import benchenv  # noqa: E402  (before numpy: threads, BLAS core)

import h5py  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FM = "/usr/share/datasets/fashion-mnist"
DATA = ["--data", f"{FM}/train-images-idx3-ubyte.gz", "--labels",
        f"{FM}/train-labels-idx1-ubyte.gz", "--scale-pixels"]


def run(hessrmt, ranks, args, work):
    out = os.path.join(work, "bench.h5")
    cmd = ["mpirun", "--oversubscribe", "-n", str(ranks), hessrmt, "hessian",
           *DATA, *map(str, args), "-q", "-o", out]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with h5py.File(out, "r") as f:
        a = dict(f.attrs)
        a["rows_done"] = int(f["rows_done"][...].sum())
        a["rank"] = f["checks/rank"][...]
        if "hv_error" in f["checks"]:
            a["hv_error"] = float(f["checks/hv_error"][...].max())
    os.remove(out)
    return a


def gib(b):
    return f"{b / 2**30:.2f} GiB"


def whole_dataset(builds, ranks_list, work, args, n, N):
    """One row per build and rank count: phases, memory, H v check."""
    print("| build | ranks | solver | read | assemble | check | solve | total | "
          "peak RSS / rank | estimate / rank | peak / (8N²/P + data/P) | H v error |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for ranks in ranks_list:
        for name, binary in builds:
            a = run(binary, ranks, args, work)
            t = {p: a[f"time_{p}_max"] for p in
                 ("read", "assemble", "check", "solve", "total")}
            floor = (8 * N * N + n * 785 * 8) / ranks
            hv = a.get("hv_error", float("nan"))
            print(f"| {name} | {ranks} | {a['solver_used']} | " +
                  " | ".join(f"{t[p]:.1f} s" for p in t) +
                  f" | {gib(a['peak_rss_bytes_max'])} | "
                  f"{gib(a['memory_estimate_bytes_max'])} | "
                  f"{a['peak_rss_bytes_max'] / floor:.2f} | {hv:.1e} |",
                  flush=True)


def case_a(builds, ranks_list, work):
    print("### A. Full-dataset logistic Hessian, Fashion-MNIST (n = 60,000, N = 7,850)\n")
    whole_dataset(builds, ranks_list, work, ["--method", "dense"], 60000, 7850)


def case_d(builds, ranks_list, work):
    print("\n### D. Whole-dataset mlp:784-10-100-10 Hessian, first 10,000 rows "
          "(N = 9,960)\n")
    whole_dataset(builds, ranks_list, work,
                  ["--model", "mlp:784-10-100-10", "--init-seed", 1,
                   "--limit", 10000, "--method", "dense"], 10000, 9960)


def per_spectrum(hessrmt, ranks, args, work):
    a = run(hessrmt, ranks, args, work)
    n = a["rows_done"]
    return (a["time_total_max"] - a["time_read_max"]) / n, a


def case_bc(hessrmt, work, model, label, fast):
    print(f"\n### {label}\n")
    print("| method | ranks | spectra | seconds per spectrum (excluding read) | numerical rank |")
    print("|---|---|---|---|---|")
    base = ["--model", model, "--batch-size", 64, "--init-seed", 1]
    for method, count in [(m, 4) for m in fast] + [("dense", 1)]:
        s, a = per_spectrum(hessrmt, 1, base + ["--method", method,
                                                "--max-batches", count], work)
        print(f"| {method} | 1 | {count} | {s:.2f} s | {a['rank'][0]:.0f} |",
              flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default="A,B,C,D")
    p.add_argument("--hessrmt", default=os.path.join(ROOT, "build", "hessrmt"))
    p.add_argument("--baseline", help="a second build, for cases A and D")
    p.add_argument("--ranks", default="1,2")
    args = p.parse_args()
    builds = [("this", args.hessrmt)]
    if args.baseline:
        builds.append(("baseline", args.baseline))
    ranks_list = [int(r) for r in args.ranks.split(",")]
    if not os.path.exists(f"{FM}/train-images-idx3-ubyte.gz"):
        sys.exit("needs Debian's dataset-fashion-mnist (run/install-deps.sh)")
    print(f"command: {' '.join(sys.argv)}")
    print(benchenv.machine_line() + "\n")
    with tempfile.TemporaryDirectory() as work:
        if "A" in args.cases:
            case_a(builds, ranks_list, work)
        if "B" in args.cases:
            case_bc(args.hessrmt, work, "logistic", "B. Logistic batch-64 spectra "
                    "(N = 7,850)", ["gram"])
        if "C" in args.cases:
            case_bc(args.hessrmt, work, "mlp:784-10-100-10", "C. mlp:784-10-100-10 "
                    "batch-64 spectra (N = 9,960)", ["reduced", "lowrank"])
        if "D" in args.cases:
            case_d(builds, ranks_list, work)


if __name__ == "__main__":
    main()
