#!/usr/bin/env python3
"""End-to-end tests of `hessrmt ensemble`: run the real program under
mpiexec and check the files it writes with h5py and numpy (independent of
hessrmt's own reader).  Each case is one CTest test:

    e2e_ensemble.py --hessrmt BIN --mpiexec MPIEXEC --workdir DIR CASE
"""
import argparse
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

ARGS = None
FAILURES = []
PASSES = [0]


def expect(cond, message):
    if cond:
        PASSES[0] += 1
    else:
        FAILURES.append(message)
        print("FAIL:", message, file=sys.stderr)


def run(np_, *args, timeout=300, check=True):
    """Run hessrmt on np_ ranks; return the CompletedProcess."""
    cmd = [ARGS.mpiexec, "--oversubscribe", "-n", str(np_), ARGS.hessrmt]
    cmd += [str(a) for a in args]
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    proc.seconds = time.time() - start
    if check and proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}")
    return proc


def evals(path):
    with h5py.File(path, "r") as f:
        return f["hessian_evals"][...].astype(np.float64)


def path(name):
    return os.path.join(ARGS.workdir, name)


def max_rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


# ---- cases -----------------------------------------------------------------

def case_rank_independence():
    """Same arguments, any rank count, grid or group split: same spectra."""
    common = ["ensemble", "--kind", "goe", "--n", 300, "--count", 3,
              "--seed", 11, "-q"]
    run(1, *common, "-o", path("ri1.h5"))
    ref = evals(path("ri1.h5"))
    variants = {
        "np2": (2, []), "np2 grid 2x1": (2, ["--grid", "2x1"]),
        "np4": (4, []), "np4 grid 1x4": (4, ["--grid", "1x4"]),
        "np4 2 groups": (4, ["--groups", 2]),
        "np4 nblk 7": (4, ["--nblk", 7]),
        "np3 2 unequal groups": (3, ["--groups", 2]),
    }
    for name, (np_, extra) in variants.items():
        out = path("ri_" + name.replace(" ", "_") + ".h5")
        run(np_, *common, *extra, "-o", out)
        got = evals(out)
        expect(got.shape == ref.shape, f"{name}: shape {got.shape}")
        err = max_rel(got, ref)
        expect(err <= 1e-10, f"{name}: differs from 1 rank by {err:.3g} "
               "(relative to the largest eigenvalue)")
        if "unequal" in name:  # groups of 2 and 1 ranks: one shape each
            with h5py.File(out, "r") as f:
                expect(f.attrs["grid"] == "1x2,1x1",
                       f"grid attribute {f.attrs['grid']}")
    # The GOE sanity: the semicircle edge sits at 2 sqrt(N).
    edge = 2 * np.sqrt(300)
    expect(abs(ref.max() / edge - 1) < 0.1, f"GOE edge {ref.max()} vs {edge}")


def case_solvers():
    """Every solver agrees with elpa2, and with numpy on the assembled
    GOE; single precision within 1e-4 of double."""
    common = ["ensemble", "--kind", "goe", "--n", 400, "--count", 2,
              "--seed", 5, "-q"]
    run(4, *common, "-o", path("s_elpa2.h5"))
    ref = evals(path("s_elpa2.h5"))
    for solver in ["elpa1", "pdsyevr", "pdsyev"]:
        for np_ in (1, 4):
            out = path(f"s_{solver}_{np_}.h5")
            run(np_, *common, "--solver", solver, "-o", out)
            err = max_rel(evals(out), ref)
            expect(err < 1e-12, f"{solver} on {np_} ranks vs elpa2: {err:.3g}")
    for solver in ["elpa2", "pdsyevr"]:
        out = path(f"s_single_{solver}.h5")
        proc = run(2, *common, "--solver", solver, "--precision", "single",
                   "-o", out)
        with h5py.File(out, "r") as f:
            expect(f["hessian_evals"].dtype == np.float32,
                   f"single precision stored as {f['hessian_evals'].dtype}")
            used = f.attrs["solver_used"]
        err = max_rel(evals(out), ref)
        expect(1e-9 < err < 1e-4, f"single {solver} vs double: {err:.3g}")
        expect(used in ("elpa2", "pdsyevr"), f"solver_used {used}")


def case_tridiag_analytic():
    """The (2,-1) matrix: eigenvalues 2 - 2 cos(k pi / (N+1))."""
    for n, np_, extra in [(500, 1, []), (501, 4, ["--nblk", 13]),
                          (256, 2, ["--solver", "pdsyev"])]:
        out = path(f"tri_{n}_{np_}.h5")
        run(np_, "ensemble", "--kind", "tridiag", "--n", n, "-q", "-o", out,
            *extra)
        k = np.arange(1, n + 1)
        exact = 2 - 2 * np.cos(k * np.pi / (n + 1))
        err = max_rel(evals(out)[0], exact)
        expect(err < 1e-12, f"tridiag N={n} on {np_} ranks: {err:.3g}")


def case_file_format():
    """hessian_evals (count x N) ascending, rows_done, checks, provenance,
    and no FILE.partial left behind."""
    out = path("fmt.h5")
    run(2, "ensemble", "--kind", "goe", "--n", 200, "--count", 3, "--seed",
        3, "--groups", 2, "-q", "-o", out)
    expect(not os.path.exists(out + ".partial"), "partial file left behind")
    with h5py.File(out, "r") as f:
        ev = f["hessian_evals"][...]
        expect(ev.shape == (3, 200), f"shape {ev.shape}")
        expect(bool(np.all(np.diff(ev, axis=1) >= 0)), "rows not ascending")
        expect(bool(np.all(f["rows_done"][...] == 1)), "rows_done not all 1")
        tr, sm = f["checks/trace"][...], f["checks/eigenvalue_sum"][...]
        expect(bool(np.allclose(tr, sm, atol=1e-9 * 200)), f"trace {tr} vs {sm}")
        expect(bool(np.all(f["checks/asymmetry"][...] == 0)), "asymmetric GOE")
        expect(bool(np.allclose(ev.sum(axis=1), tr, atol=1e-9 * 200)),
               "stored eigenvalues do not sum to the trace")
        a = f.attrs
        for key in ["version", "command_line", "identity", "ranks", "grid",
                    "nblk", "groups", "n", "solver_used", "time_solve_max",
                    "time_total_min", "created"]:
            expect(key in a, f"attribute {key} missing")
        expect(a["ranks"] == 2 and a["groups"] == 2 and a["grid"] == "1x1",
               f"layout attributes {a['ranks']} {a['groups']} {a['grid']}")
        expect("--seed 3" in a["command_line"], "command line not recorded")
        opts = f["options"].attrs
        expect(opts["kind"] == "goe" and opts["n"] == "200", "options group")


def case_wishart_poisson():
    """Wishart X^T X / m lands in the Marchenko-Pastur support with mean 1;
    Poisson levels are the sorted diagonal in (0, 1)."""
    out = path("wis.h5")
    run(4, "ensemble", "--kind", "wishart", "--n", 400, "--wishart-ratio",
        0.25, "--count", 2, "-q", "-o", out)
    ev = evals(out)
    lo, hi = (1 - 0.5) ** 2, (1 + 0.5) ** 2
    expect(abs(ev.mean() - 1) < 0.02, f"wishart mean eigenvalue {ev.mean()}")
    expect(ev.min() > lo * 0.8 and ev.max() < hi * 1.1,
           f"wishart range [{ev.min()}, {ev.max()}] vs MP [{lo}, {hi}]")
    # Ratio > 1: rank m < N, so N - m eigenvalues are zero to rounding.
    out = path("wis_rank.h5")
    run(2, "ensemble", "--kind", "wishart", "--n", 300, "--wishart-ratio", 2,
        "-q", "-o", out)
    ev = evals(out)[0]
    zeros = int(np.sum(np.abs(ev) < 1e-10 * ev.max()))
    expect(zeros == 150, f"wishart with m = N/2: {zeros} zero eigenvalues, "
           "expected 150")
    out = path("poi.h5")
    run(2, "ensemble", "--kind", "poisson", "--n", 500, "-q", "-o", out)
    ev = evals(out)[0]
    expect(ev.min() > 0 and ev.max() < 1, "poisson levels outside (0,1)")
    expect(abs(ev.mean() - 0.5) < 0.05, f"poisson mean {ev.mean()}")


def rank_pids(mpirun_pid):
    """PIDs of hessrmt processes descended from mpirun."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        children.setdefault(ppid, []).append((int(entry), cmd))
    found, todo = [], [mpirun_pid]
    while todo:
        pid = todo.pop()
        for child, cmd in children.get(pid, []):
            todo.append(child)
            if b"hessrmt" in cmd and b"mpiexec" not in cmd:
                found.append(child)
    return found


def case_resume():
    """SIGKILL one rank part-way; --resume finishes the file, bit for bit
    equal to an uninterrupted run."""
    common = ["ensemble", "--kind", "goe", "--n", 500, "--count", 10,
              "--seed", 9, "--groups", 2]
    full = path("res_full.h5")
    run(2, *common, "-q", "-o", full)
    out = path("res.h5")
    for p in (out, out + ".partial"):
        if os.path.exists(p):
            os.remove(p)
    cmd = [ARGS.mpiexec, "--oversubscribe", "-n", "2", ARGS.hessrmt,
           *map(str, common), "-o", out]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    done_lines = 0
    deadline = time.time() + 120
    while done_lines < 3 and time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        done_lines += "done" in line
    victims = rank_pids(proc.pid)
    expect(len(victims) == 2, f"found rank pids {victims}")
    if victims:
        os.kill(victims[-1], signal.SIGKILL)
    proc.communicate(timeout=60)
    expect(proc.returncode != 0, "killed run exited 0")
    expect(not os.path.exists(out), "killed run left a final file")
    expect(os.path.exists(out + ".partial"), "killed run left no .partial")
    with h5py.File(out + ".partial", "r") as f:
        finished = int(f["rows_done"][...].sum())
    expect(0 < finished < 10, f"{finished} rows finished before the kill")
    run(2, *common, "-q", "--resume", "-o", out)
    expect(not os.path.exists(out + ".partial"), "resume left .partial")
    a, b = evals(out), evals(full)
    expect(np.array_equal(a, b), f"resumed differs from uninterrupted by "
           f"{np.max(np.abs(a - b))}")
    # Resuming with other arguments is refused, and the partial kept.
    run(2, *common, "-q", "-o", out + "2")  # a finished file, no partial
    proc = run(2, *common[:-2], "--seed", 10, "-q", "--resume", "-o", out,
               check=False)
    expect(proc.returncode != 0 and "no '" in proc.stderr,
           f"resume without a partial: {proc.stderr.strip()}")


def error_case(np_, args, needle, name):
    """A failing run: non-zero exit on all ranks within the timeout, one
    message naming the problem, no output (an existing file untouched)."""
    out = path(f"err_{name}_{np_}.h5")
    with open(out, "w") as f:
        f.write("precious")
    a = [x if x != "OUT" else out for x in args]
    try:
        proc = run(np_, "ensemble", *a, timeout=60, check=False)
    except subprocess.TimeoutExpired:
        expect(False, f"{name} at {np_} ranks hung")
        return
    expect(proc.returncode != 0, f"{name}: exit status 0")
    expect(needle in proc.stderr,
           f"{name}: message lacks '{needle}': {proc.stderr.strip()[:300]}")
    expect(proc.stderr.count("hessrmt: error") == 1,
           f"{name}: {proc.stderr.count('hessrmt: error')} error lines")
    with open(out) as f:
        expect(f.read() == "precious", f"{name}: existing output changed")
    expect(not os.path.exists(out + ".partial"), f"{name}: partial left")
    expect(proc.seconds < 30, f"{name}: took {proc.seconds:.1f} s to fail")


def errors(np_):
    error_case(np_, ["--grid", "3x3", "-o", "OUT"], "--grid 3x3 needs 9 ranks",
               "grid")
    error_case(np_, ["--nblk", "0", "-o", "OUT"], "--nblk 0", "nblk0")
    error_case(np_, ["--n", "3", "--groups", "1", "-o", "OUT"] if np_ == 4
               else ["--n", "1", "--grid", f"1x{np_}", "-o", "OUT"]
               if np_ > 1 else ["--n", "0", "-o", "OUT"],
               "smaller than" if np_ > 1 else "--n 0", "small_n")
    error_case(np_, ["--n", "100", "-o", "/nonexistent/dir/x.h5"],
               "does not exist", "missing_dir")
    error_case(np_, ["--n", "100", "-o", "/proc/hessrmt.h5"], "cannot create",
               "unwritable")
    error_case(np_, ["--n", "2000", "--max-mem", "1M", "-o", "OUT"],
               "not enough memory", "memory")
    error_case(np_, ["--groups", str(np_ + 1), "-o", "OUT"],
               f"--groups {np_ + 1} needs", "groups")
    if np_ > 1:
        error_case(np_, ["--n", "20", "--nblk", "20", "-o", "OUT"],
                   "too large for N = 20", "elpa_nblk")


def case_cli():
    """--help for the program and the command, --version, usage errors."""
    for args, needle in [(["--help"], "Commands:"),
                         (["ensemble", "--help"], "--wishart-ratio"),
                         (["--version"], "ELPA")]:
        proc = subprocess.run([ARGS.hessrmt, *args], capture_output=True,
                              text=True, timeout=30)
        expect(proc.returncode == 0 and needle in proc.stdout,
               f"{args}: {proc.returncode} {proc.stdout[:200]}")
    proc = run(2, "ensemble", "--solver", "magma", check=False)
    expect(proc.returncode == 2 and proc.stderr.count("--solver magma") == 1,
           f"usage error printed once with status 2: {proc.stderr}")


CASES = {
    "rank_independence": case_rank_independence,
    "solvers": case_solvers,
    "tridiag_analytic": case_tridiag_analytic,
    "file_format": case_file_format,
    "wishart_poisson": case_wishart_poisson,
    "resume": case_resume,
    "errors_np1": lambda: errors(1),
    "errors_np2": lambda: errors(2),
    "errors_np4": lambda: errors(4),
    "cli": case_cli,
}


def main():
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hessrmt", required=True)
    parser.add_argument("--mpiexec", required=True)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("case", choices=sorted(CASES))
    ARGS = parser.parse_args()
    ARGS.workdir = os.path.join(ARGS.workdir, ARGS.case)
    shutil.rmtree(ARGS.workdir, ignore_errors=True)
    os.makedirs(ARGS.workdir)
    CASES[ARGS.case]()
    print(f"e2e {ARGS.case}: {PASSES[0]} passed, {len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
