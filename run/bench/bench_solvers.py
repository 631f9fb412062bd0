#!/usr/bin/python3
"""Time every eigensolver on GOE matrices at several sizes and rank counts,
in one run, and print a Markdown table of solve times (the solve phase of
`hessrmt ensemble`, max over ranks, read from the output file's
time_solve_max attribute) and of peak memory per rank (peak_rss_bytes_max,
VmHWM) against the matrix's share 8 N^2 / P.  lapack runs on one-rank
groups only: at P ranks it solves P members side by side (--groups P),
so its time is per member and its peak per rank.

    run/bench/bench_solvers.py [--sizes 2000,4000,5130,8000] [--ranks 1,2]
        [--solvers elpa2,elpa1,pdsyevr,pdsyev,lapack] [--hessrmt build/hessrmt]
        [--eigenvectors K]

With --eigenvectors K the solves compute eigenvectors too (all N, of which
hessrmt keeps 2K), and numpy's reference is eigh.

Also times numpy's eigvalsh (LAPACK's eigenvalues-only symmetric driver,
one core) on the same size, and reports the arithmetic floor of a
tridiagonal reduction, (4/3) N^3 flops, at the machine's measured one-core
DGEMM rate (numpy); every time is followed by its multiple of that floor.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import benchenv  # noqa: E402  (before numpy: threads, BLAS core)

import h5py  # noqa: E402
import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def dgemm_rate(n=2000, repeats=3):
    """One-core DGEMM rate in flop/s (OpenBLAS through numpy)."""
    a = np.random.default_rng(0).standard_normal((n, n))
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ a
        best = min(best, time.perf_counter() - t)
    return 2.0 * n**3 / best


def numpy_time(n, vectors=False):
    """eigvalsh (eigh with vectors) of a GOE matrix of order n (one BLAS
    thread)."""
    a = np.random.default_rng(1).standard_normal((n, n))
    a = (a + a.T) / 2
    t = time.perf_counter()
    (np.linalg.eigh if vectors else np.linalg.eigvalsh)(a)
    return time.perf_counter() - t


def solve_time(hessrmt, ranks, n, solver, workdir, vectors=0):
    """Solve time, grid, peak bytes per rank."""
    out = os.path.join(workdir, f"b_{n}_{ranks}_{solver}.h5")
    alone = solver == "lapack"
    cmd = ["mpirun", "--oversubscribe", "-n", str(ranks), hessrmt, "ensemble",
           "--kind", "goe", "--n", str(n), "--count", str(ranks if alone else 1),
           "--groups", str(ranks if alone else 1), "--seed", "1",
           "--solver", solver, "-q", "--no-stats", "-o", out]
    if vectors:
        cmd += ["--eigenvectors", str(vectors)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with h5py.File(out, "r") as f:
        t = float(f.attrs["time_solve_max"])
        grid = f.attrs["grid"]
        peak = int(f.attrs["peak_rss_bytes_max"])
    os.remove(out)
    return t, grid, peak


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="2000,4000,5130,8000")
    p.add_argument("--ranks", default="1,2")
    p.add_argument("--solvers", default="elpa2,elpa1,pdsyevr,pdsyev,lapack")
    p.add_argument("--hessrmt", default=os.path.join(ROOT, "build", "hessrmt"))
    p.add_argument("--eigenvectors", type=int, default=0)
    args = p.parse_args()
    rate = dgemm_rate()
    sizes = [int(s) for s in args.sizes.split(",")]
    ranks = [int(r) for r in args.ranks.split(",")]
    solvers = args.solvers.split(",")
    print(f"one-core DGEMM: {rate / 1e9:.1f} GFLOP/s; floor = (4/3) N^3 / rate")
    print(f"command: {' '.join(sys.argv)}")
    print(benchenv.machine_line() + "\n")
    print("Solve seconds (multiple of the floor); peak MiB per rank (multiple "
          "of the matrix share 8 N^2 / P; lapack: of 8 N^2, its own matrix)\n")
    print("| N | ranks | grid | " + " | ".join(solvers) +
          f" | numpy {'eigh' if args.eigenvectors else 'eigvalsh'} (1 core) | floor (1 core) |")
    print("|---|---|---|" + "---|" * len(solvers) + "---|---|")
    with tempfile.TemporaryDirectory() as work:
        for n in sizes:
            floor = 4.0 / 3.0 * n**3 / rate
            ref = numpy_time(n, args.eigenvectors > 0)
            for r in ranks:
                cells, grid = [], ""
                for s in solvers:
                    t, g, peak = solve_time(args.hessrmt, r, n, s, work, args.eigenvectors)
                    share = 8.0 * n * n / (1 if s == "lapack" else r)
                    grid = grid or (g if s != "lapack" else "")
                    cells.append(f"{t:.2f} s ({t / floor:.1f}x), "
                                 f"{peak / 2**20:.0f} MiB ({peak / share:.2f}x)")
                print(f"| {n} | {r} | {grid} | " + " | ".join(cells) +
                      f" | {ref:.2f} s ({ref / floor:.1f}x) | {floor:.2f} s |",
                      flush=True)


if __name__ == "__main__":
    main()
