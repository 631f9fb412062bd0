#!/usr/bin/env python3
"""A strong- and weak-scaling study of any hessrmt command, in one command.

    run/scaling.py --ranks 1,2,4 --out scaling -- ensemble --kind goe --n 3000
    run/scaling.py --ranks 1,2,4 --mode weak --out scaling -- \\
        hessian --model mlp:20-64-4 --batch-size 64 --max-batches 2
    run/scaling.py --launcher slurm --ranks 4,8,16 --out scaling -- ensemble --n 20000

Strong scaling runs the same problem on every rank count P.  Weak scaling
keeps the work per rank fixed: one matrix grows as N = N0 sqrt(P/P0) (the
matrix is N^2/P per rank; the solve's flops grow faster, as N^3/P, which
the efficiency shows), many spectra as K = K0 P/P0 with one rank group
per rank (--groups P).  Each run writes a spectra file; the per-phase
times (time_<phase>_max), peak memory and the memory estimate are read back
from it into scaling.csv, with speedup and parallel efficiency, and drawn
(PLplot: PNG and SVG).  For `hessian`, `--dry-run` plans each run first and
its memory and GFLOP estimates go into the CSV too.

--launcher mpirun runs `mpirun -n P` here; --launcher slurm submits
run/slurm/hessrmt.sbatch with `sbatch --wait -n P` (one job per point).
"""
import argparse
import csv
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import time

import h5py

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PHASES = ["read", "generate", "assemble", "check", "solve", "write", "total"]


def default_program():
    """$HESSRMT, else the source tree's build/hessrmt, else the installed one
    (this file in PREFIX/share/hessrmt, the program in PREFIX/bin), else
    hessrmt on PATH."""
    if os.environ.get("HESSRMT"):
        return os.environ["HESSRMT"]
    for path in (os.path.join(ROOT, "build", "hessrmt"),
                 os.path.join(ROOT, "..", "bin", "hessrmt")):
        if os.access(path, os.X_OK):
            return os.path.normpath(path)
    return shutil.which("hessrmt") or "hessrmt"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ranks", default="1,2,4", help="rank counts P (comma list)")
    p.add_argument("--mode", choices=["strong", "weak", "both"], default="both")
    p.add_argument("--launcher", choices=["mpirun", "slurm"], default="mpirun")
    p.add_argument("--hessrmt", default=default_program(), help="the program")
    p.add_argument("--out", default="scaling", help="folder for files, CSV, figures")
    p.add_argument("--repeat", type=int, default=1,
                   help="runs per point; the fastest is kept (timing noise)")
    p.add_argument("command", nargs=argparse.REMAINDER,
                   help="-- then the hessrmt command and its options")
    a = p.parse_args()
    if a.command and a.command[0] == "--":
        a.command = a.command[1:]
    if not a.command or a.command[0] not in ("ensemble", "hessian"):
        p.error("give the command after --: ensemble ... or hessian ...")
    a.ranks = [int(x) for x in a.ranks.split(",")]
    # Each point writes its own file: drop an -o/--output the user gave.
    for name in ("-o", "--output"):
        a.command = without_option(a.command, name)
    return a


def option(cmd, name, default=None):
    """The value of --name in a command line, or default."""
    for i, word in enumerate(cmd):
        if word == name and i + 1 < len(cmd):
            return cmd[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return default


def without_option(cmd, name):
    """cmd without the option name and its value."""
    out, i = [], 0
    while i < len(cmd):
        if cmd[i] == name:
            i += 2
            continue
        if cmd[i].startswith(name + "="):
            i += 1
            continue
        out.append(cmd[i])
        i += 1
    return out


def with_option(cmd, name, value):
    """cmd with --name set to value (replaced or appended)."""
    return without_option(cmd, name) + [name, str(value)]


def many_spectra(cmd):
    if cmd[0] == "ensemble":
        return int(option(cmd, "--count", "1")) > 1
    return option(cmd, "--batch-size", "all") != "all"


def weak_command(cmd, p, p0):
    """The problem scaled to keep the work per rank fixed."""
    if many_spectra(cmd):
        knob = "--count" if cmd[0] == "ensemble" else "--max-batches"
        k0 = int(option(cmd, knob, "0"))
        if k0 <= 0:
            sys.exit(f"weak scaling of batch spectra needs {knob} K0 (spectra at {p0} ranks)")
        return with_option(with_option(cmd, knob, k0 * p // p0), "--groups", p)
    if cmd[0] != "ensemble":
        sys.exit("weak scaling of one whole-dataset Hessian has no size knob "
                 "(N is the model's): use batch spectra or an ensemble")
    n0 = int(option(cmd, "--n", "1000"))
    return with_option(cmd, "--n", int(round(n0 * math.sqrt(p / p0))))


def launch(a, p, cmd, log):
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    if os.geteuid() == 0:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    if a.launcher == "mpirun":
        full = ["mpirun", "--oversubscribe", "-n", str(p), a.hessrmt] + cmd
    else:
        env["HESSRMT"] = a.hessrmt
        full = ["sbatch", "--wait", "-n", str(p), "-o", log + ".slurm",
                os.path.join(HERE, "slurm", "hessrmt.sbatch")] + cmd
    with open(log, "w") as f:
        f.write("$ " + " ".join(shlex.quote(x) for x in full) + "\n")
        f.flush()
        start = time.time()
        proc = subprocess.run(full, stdout=f, stderr=subprocess.STDOUT, env=env)
    if proc.returncode != 0:
        sys.exit(f"run failed ({proc.returncode}); see {log}")
    return time.time() - start


def plan(a, p, cmd):
    """hessian --dry-run: memory per rank and GFLOP per spectrum (planned
    here with mpirun, which needs no allocation: a dry run reads only the
    data's header)."""
    if cmd[0] != "hessian" or a.launcher != "mpirun":
        return {}
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    proc = subprocess.run(["mpirun", "--oversubscribe", "-n", str(p), a.hessrmt] + cmd +
                          ["--dry-run"], capture_output=True, text=True, env=env)
    text = proc.stdout + proc.stderr
    out = {}
    m = re.search(r"~([\d.eE+-]+) GFLOP to form, ~([\d.eE+-]+) GFLOP to solve", text)
    if m:
        out["plan_gflop_form"], out["plan_gflop_solve"] = float(m.group(1)), float(m.group(2))
    return out


def measure(a, mode, p, cmd):
    """The fastest of --repeat runs: its file's times, memory, sizes."""
    best = None
    for r in range(a.repeat):
        path = os.path.join(a.out, f"{mode}_P{p}_r{r}.h5")
        run = cmd + ["-o", path, "--no-stats", "-q"]
        wall = launch(a, p, run, path[:-3] + ".log")
        with h5py.File(path, "r") as f:
            row = {f"time_{ph}": float(f.attrs.get(f"time_{ph}_max", float("nan")))
                   for ph in PHASES}
            row.update(mode=mode, ranks=p, n=int(f.attrs["n"]),
                       spectra=int(f["hessian_evals"].shape[0]), wall=wall,
                       peak_rss_gib=float(f.attrs["peak_rss_bytes_max"]) / 2**30,
                       estimate_gib=float(f.attrs["memory_estimate_bytes_max"]) / 2**30,
                       grid=f.attrs.get("grid", ""), groups=int(f.attrs.get("groups", 1)))
        if best is None or row["time_total"] < best["time_total"]:
            best = row
    best.update(plan(a, p, cmd))
    best["command"] = " ".join(shlex.quote(x) for x in cmd)
    return best


def add_efficiency(rows):
    """Strong: speedup T(P0)/T(P), efficiency speedup P0/P.  Weak:
    efficiency T(P0)/T(P) (work per rank constant)."""
    for mode in ("strong", "weak"):
        series = [r for r in rows if r["mode"] == mode]
        if not series:
            continue
        base = min(series, key=lambda r: r["ranks"])
        for r in series:
            ratio = base["time_total"] / r["time_total"]
            if mode == "strong":
                r["speedup"] = ratio
                r["efficiency"] = ratio * base["ranks"] / r["ranks"]
            else:
                r["speedup"] = ratio * r["ranks"] / base["ranks"]
                r["efficiency"] = ratio


def write_csv(rows, path):
    keys = ["mode", "ranks", "n", "spectra", "groups", "grid"] + \
        [f"time_{ph}" for ph in PHASES] + \
        ["wall", "speedup", "efficiency", "peak_rss_gib", "estimate_gib",
         "plan_gflop_form", "plan_gflop_solve", "command"]
    with open(path + ".partial", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in keys})
    os.replace(path + ".partial", path)


def figure(path, title, xlabel, ylabel, series, ideal):
    """PLplot line figure (PNG and SVG) on log2 rank axes."""
    import plplot as pl
    xs = [x for _, pts, _ in series for x, _ in pts]
    ys = [y for _, pts, _ in series for _, y in pts] + [y for _, y in ideal]
    xmin, xmax = min(xs) / 1.2, max(xs) * 1.2
    ymax = max(ys) * 1.15
    for dev, ext in (("pngcairo", "png"), ("svgcairo", "svg")):
        pl.plsstrm(0)
        pl.plsdev(dev)
        pl.plsfnam(f"{path}.{ext}.partial")
        pl.plspage(0, 0, 1000, 700, 0, 0)
        pl.plscolbg(255, 255, 255)
        pl.plscol0(1, 0, 0, 0)
        pl.plscol0(2, 0, 114, 178)
        pl.plscol0(3, 213, 94, 0)
        pl.plscol0(4, 0, 158, 115)
        pl.plinit()
        pl.plschr(0, 1.2)
        pl.plcol0(1)
        pl.pladv(0)
        pl.plvsta()
        pl.plwind(math.log2(xmin), math.log2(xmax), 0, ymax)
        # Ticks at every power of two, labelled with the rank count itself.
        pl.plslabelfunc(lambda axis, value, data: f"{2 ** value:g}"
                        if axis == pl.PL_X_AXIS else f"{value:g}", None)
        pl.plbox("bcnost", 1.0, 0, "bcnstv", 0, 0)
        pl.pllab(xlabel + " (log scale)", ylabel, title)
        if ideal:
            pl.pllsty(2)
            pl.plcol0(1)
            pl.plline([math.log2(x) for x, _ in ideal], [y for _, y in ideal])
            pl.pllsty(1)
        for colour, (label, pts, _) in zip((2, 3, 4), series):
            pl.plcol0(colour)
            pl.plwidth(2)
            pl.plline([math.log2(x) for x, _ in pts], [y for _, y in pts])
            pl.plpoin([math.log2(x) for x, _ in pts], [y for _, y in pts], 17)
            for x, y in pts:
                pl.plptex(math.log2(x), y + 0.03 * ymax, 0, 0, 0.5, f"{y:.2f}")
        # Each curve is named at its last point (the Python binding's
        # pllegend runs the longest label into the next one).
        pl.plschr(0, 1.0)
        for colour, (label, pts, _) in zip((2, 3, 4), series):
            pl.plcol0(colour)
            x, y = pts[-1]
            pl.plptex(math.log2(x), y - 0.06 * ymax, 0, 0, 1.0, label)
        if ideal:
            pl.plcol0(1)
            x, y = ideal[-1]
            pl.plptex(math.log2(x), y + 0.03 * ymax, 0, 0, 1.0, "ideal")
        pl.plend1()
        os.replace(f"{path}.{ext}.partial", f"{path}.{ext}")


def draw(rows, out):
    strong = sorted((r for r in rows if r["mode"] == "strong"), key=lambda r: r["ranks"])
    weak = sorted((r for r in rows if r["mode"] == "weak"), key=lambda r: r["ranks"])
    if strong:
        p0 = strong[0]["ranks"]
        figure(os.path.join(out, "speedup"), "Strong scaling: speedup T(P0)/T(P)",
               "ranks P", "speedup",
               [("strong: total time", [(r["ranks"], r["speedup"]) for r in strong], None)],
               [(r["ranks"], r["ranks"] / p0) for r in strong])
    series = []
    if strong:
        series.append(("strong", [(r["ranks"], r["efficiency"]) for r in strong], None))
    if weak:
        series.append(("weak (work per rank fixed)",
                       [(r["ranks"], r["efficiency"]) for r in weak], None))
    ranks = sorted({r["ranks"] for r in rows})
    figure(os.path.join(out, "efficiency"), "Parallel efficiency", "ranks P",
           "efficiency", series, [(p, 1.0) for p in ranks])


def main():
    a = parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows, p0 = [], min(a.ranks)
    for mode in (["strong", "weak"] if a.mode == "both" else [a.mode]):
        for p in a.ranks:
            cmd = a.command if mode == "strong" else weak_command(a.command, p, p0)
            print(f"scaling: {mode} P={p}: hessrmt {' '.join(cmd)}", flush=True)
            rows.append(measure(a, mode, p, cmd))
            r = rows[-1]
            print(f"scaling:   total {r['time_total']:.3f} s (solve {r['time_solve']:.3f} s), "
                  f"peak {r['peak_rss_gib']:.3f} GiB per rank", flush=True)
    add_efficiency(rows)
    write_csv(rows, os.path.join(a.out, "scaling.csv"))
    draw(rows, a.out)
    figures = (["speedup"] if a.mode != "weak" else []) + ["efficiency"]
    print(f"scaling: wrote {a.out}/scaling.csv and " +
          ", ".join(f"{a.out}/{f}.{{png,svg}}" for f in figures))


if __name__ == "__main__":
    main()
