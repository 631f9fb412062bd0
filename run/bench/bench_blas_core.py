#!/usr/bin/python3
"""Does hessrmt get OpenBLAS's fast kernels by itself?  Times the batch-64
spectra of mlp:784-10-100-10 on Fashion-MNIST (issue 12's case: 3 batches,
one rank, bare and under mpirun) with the OpenBLAS core

  - set by hand (OPENBLAS_CORETYPE=<the core hessrmt would pick>),
  - left to hessrmt (no OPENBLAS_CORETYPE),
  - generic (OPENBLAS_CORETYPE=Prescott: what Debian's OpenBLAS 0.3.21 runs
    on CPUs it does not know, e.g. Intel family 6 model 207),

and prints seconds per spectrum, the core each run recorded in its file,
and the largest eigenvalue difference from the hand-set run.

On a CPU that OpenBLAS knows there is no fallback to undo; --pretend makes
hessrmt believe OpenBLAS chose Prescott (HESSRMT_TEST_PRETEND_CORE), so the
'left to hessrmt' rows still go through the re-execution.

    run/bench/bench_blas_core.py [--batches 3] [--pretend] [--hessrmt build/hessrmt]
"""
import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FM = "/usr/share/datasets/fashion-mnist"

# Keep the environment as given: this script sets the core per run.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
if os.geteuid() == 0:
    os.environ["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    os.environ["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"

import h5py  # noqa: E402
import numpy as np  # noqa: E402


def hessrmt_choice(hessrmt, env):
    """The core hessrmt runs when OPENBLAS_CORETYPE is unset."""
    out = subprocess.run([hessrmt, "--version"], capture_output=True,
                         text=True, env=env, check=True).stdout
    line = next(l for l in out.splitlines() if l.startswith("OpenBLAS core "))
    return line[len("OpenBLAS core "):].split(" ", 1)[0]


def spectra(hessrmt, launcher, env, batches, out):
    cmd = launcher + [hessrmt, "hessian", "--data",
                      f"{FM}/train-images-idx3-ubyte.gz", "--labels",
                      f"{FM}/train-labels-idx1-ubyte.gz", "--scale-pixels",
                      "--model", "mlp:784-10-100-10", "--init-seed", "1",
                      "--batch-size", "64", "--max-batches", str(batches),
                      "--no-stats", "-q", "-o", out]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    with h5py.File(out, "r") as f:
        seconds = sum(float(f.attrs[f"time_{p}_max"])
                      for p in ("assemble", "solve"))
        return (seconds / batches, f.attrs["blas_core"],
                f.attrs["blas_core_chosen_by"], f["hessian_evals"][...])


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("--pretend", action="store_true",
                   help="make hessrmt believe OpenBLAS chose Prescott")
    p.add_argument("--hessrmt", default=os.path.join(ROOT, "build", "hessrmt"))
    args = p.parse_args()
    base = {k: v for k, v in os.environ.items()
            if k not in ("OPENBLAS_CORETYPE", "HESSRMT_TEST_PRETEND_CORE")}
    auto = dict(base)
    if args.pretend:
        auto["HESSRMT_TEST_PRETEND_CORE"] = "Prescott"
    fast = hessrmt_choice(args.hessrmt, auto)
    configs = [(f"by hand ({fast})", dict(base, OPENBLAS_CORETYPE=fast)),
               ("left to hessrmt", auto),
               ("generic (Prescott)", dict(base, OPENBLAS_CORETYPE="Prescott"))]
    launchers = [("bare", []), ("mpirun -n 1", ["mpirun", "-n", "1"])]
    with open("/proc/cpuinfo") as f:
        model = next(l.split(":", 1)[1].strip() for l in f
                     if l.startswith("model name"))
    print(f"command: {' '.join(sys.argv)}")
    print(f"CPU: {model}; hessrmt's pick without OPENBLAS_CORETYPE: {fast}"
          f"{' (pretending OpenBLAS chose Prescott)' if args.pretend else ''}\n")
    print("| start | OpenBLAS core | core in the file (chosen by) | s / spectrum "
          "| vs by hand | max |Δλ| / max |λ| |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as work:
        for lname, launcher in launchers:
            ref_t = ref_ev = None
            for cname, env in configs:
                t, core, by, ev = spectra(args.hessrmt, launcher, env,
                                          args.batches,
                                          os.path.join(work, "b.h5"))
                if ref_t is None:
                    ref_t, ref_ev = t, ev
                diff = np.abs(ev - ref_ev).max() / np.abs(ref_ev).max()
                print(f"| {lname} | {cname} | {core} ({by}) | {t:.2f} | "
                      f"{t / ref_t:.2f}x | {diff:.1e} |", flush=True)


if __name__ == "__main__":
    main()
