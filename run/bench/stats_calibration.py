#!/usr/bin/python3
"""The calibration table of `hessrmt stats`: what the statistics give on
spectra whose answer is known, and on real Hessian spectra beside them.

    run/bench/stats_calibration.py [--data DIR] [--hessrmt build/hessrmt]
        [--ranks 2] [--out docs/statistics-calibration.md] [--no-readme]
        [--workdir DIR]

Spectra: the GOE and Poisson ensembles, the GUE (the beta = 2 ensemble of
its tridiagonal model), the (2, -1) tridiagonal matrix (a picket fence
after unfolding), and batch-64 Hessians of the paper's MNIST MLP and of the
LeNet at PyTorch's initialisation on Fashion-MNIST (DIR holds the idx
files; the two rows are skipped without it).  Each file is analysed by
`hessrmt stats --json` with every default: the unfolding is auto's choice.
The full table goes to --out, a short one into README.md between its
calibration markers.

The exact columns are computed here, independently of the program: the
mean r~ of Atas et al. (large-N values for the Gaussian ensembles), and
Sigma^2(10) and Delta_3(10) from Mehta's closed forms for the GOE and GUE
number variance, integrated to Delta_3 by Pandey's formula (mpmath).  A
Hessian has no exact answer: its row is read against the GOE's.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile

import benchenv  # noqa: E402  (before numpy: threads, BLAS core)

import mpmath  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
L = 10.0


# ---- exact references ------------------------------------------------------

def sigma2_gue(x):
    """Mehta (16.1.3): the GUE number variance at length x."""
    if x == 0:
        return mpmath.mpf(0)
    t = 2 * mpmath.pi * x
    return ((mpmath.log(t) + mpmath.euler + 1 - mpmath.cos(t) - mpmath.ci(t))
            / mpmath.pi ** 2 + x * (1 - 2 * mpmath.si(t) / mpmath.pi))


def sigma2_goe(x):
    """Mehta (16.1.4): 2 Sigma^2_GUE(x) + (Si(pi x)/pi)^2 - Si(pi x)/pi."""
    si = mpmath.si(mpmath.pi * x) / mpmath.pi
    return 2 * sigma2_gue(x) + si * si - si


def delta3(sigma2, x):
    """Pandey: Delta_3(L) = (2/L^4) int_0^L (L^3 - 2 L^2 r + r^3) Sigma^2(r) dr."""
    f = lambda r: (x ** 3 - 2 * x * x * r + r ** 3) * sigma2(r)  # noqa: E731
    return 2 / x ** 4 * mpmath.quad(f, mpmath.linspace(0, x, 21))


def exact(kind):
    """(mean r~, Brody q, Sigma^2(L), Delta_3(L)) of a law; None = no value."""
    if kind == "goe":
        return 0.5307, 1.0, float(sigma2_goe(L)), float(delta3(sigma2_goe, L))
    if kind == "gue":
        return 0.5996, None, float(sigma2_gue(L)), float(delta3(sigma2_gue, L))
    if kind == "poisson":
        return 2 * float(mpmath.log(2)) - 1, 0.0, L, L / 15.0
    if kind == "picket":  # Sigma^2 of an integer window is 0; Delta_3 -> 1/12
        return 1.0, None, 0.0, 1.0 / 12.0
    return None, None, None, None


# ---- running hessrmt -------------------------------------------------------

def run(cmd, log):
    log.write("$ " + " ".join(cmd) + "\n")
    log.flush()
    proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}; see {log.name}")


def cases(args):
    """(label, reference kind, spectra command or None, shown command)."""
    mpi = [args.mpiexec, "--oversubscribe", "-n", str(args.ranks), args.hessrmt]
    ens = lambda *a: mpi + ["ensemble", "--no-stats", *a]  # noqa: E731
    out = [
        ("GOE", "goe", ens("--kind", "goe", "--n", "1000", "--count", "20")),
        ("GUE", "gue", ens("--kind", "beta", "--beta", "2", "--n", "1000",
                           "--count", "20")),
        ("Poisson", "poisson", ens("--kind", "poisson", "--n", "1000",
                                   "--count", "20")),
        ("(2,-1) tridiagonal", "picket", ens("--kind", "tridiag", "--n", "4000")),
    ]
    images = os.path.join(args.data, "train-images-idx3-ubyte.gz")
    labels = os.path.join(args.data, "train-labels-idx1-ubyte.gz")
    if os.path.exists(images) and os.path.exists(labels):
        hes = lambda *a: mpi + ["hessian", "--no-stats", "--data", images,  # noqa: E731
                                "--labels", labels, "--scale-pixels",
                                "--batch-size", "64", *a]
        out += [("MLP 784-10-100-10, batch 64", None,
                 hes("--model", "mnist-mlp", "--max-batches", "16")),
                ("LeNet 1x28x28, batch 64", None,
                 hes("--model", "lenet:1x28x28", "--max-batches", "4"))]
    else:
        print(f"no Fashion-MNIST in {args.data}: the Hessian rows are left out")
    return out


def stats_of(path, log, hessrmt):
    js = path + ".json"
    run([hessrmt, "stats", path, "--json", js], log)
    with open(js) as f:
        return json.load(f)


# ---- the table -------------------------------------------------------------

def num(v, fmt="{:.4f}"):
    return "—" if v is None else fmt.format(v)


def rejected(j):
    names = [t["name"] for t in j.get("unfoldings_tried", []) if not t["passed"]]
    return ", ".join(names) if names else "none"


def cells(label, kind, j):
    """The numbers of one row, as text: measured and exact."""
    r_ref, q_ref, s2_ref, d3_ref = exact(kind)
    i = j["L"].index(L) if L in j["L"] else len(j["L"]) - 1
    ks = j["ks_spacing"]
    return {
        "label": label, "size": f"{j['n_spectra']} × {j['n_levels']}",
        "unfold": j["unfold"] or "none (unreliable)", "rejected": rejected(j),
        "r": f"{j['mean_r_tilde']:.4f} ± {j['mean_r_tilde_err']:.4f}", "r_ref": num(r_ref),
        "ks": ("—" if not j["spacing_reliable"] else
               " / ".join(num(ks[k], "{:.3f}") for k in ("poisson", "goe", "gue"))),
        "ks_goe": num(ks["goe"], "{:.3f}"),
        "q": num(j["brody_q"], "{:.3f}"), "q_ref": num(q_ref, "{:.0f}"),
        "s2": num(j["sigma2"][i], "{:.3f}"), "s2_ref": num(s2_ref, "{:.3f}"),
        "d3": num(j["delta3"][i]), "d3_ref": num(d3_ref),
        "verdict": (j["rigidity"] or j["verdict"].upper()),
    }


def full_row(c):
    return ("| {label} | {size} | {unfold} | {rejected} | {r} | {r_ref} | {ks} | {q} | "
            "{q_ref} | {s2} | {s2_ref} | {d3} | {d3_ref} | {verdict} |").format(**c)


def short_row(c):
    return ("| {label} | {unfold} | {r} ({r_ref}) | {ks_goe} | {q} ({q_ref}) | "
            "{s2} ({s2_ref}) | {d3} ({d3_ref}) |").format(**c)


README_BEGIN = "<!-- calibration table: run/bench/stats_calibration.py writes it -->"
README_END = "<!-- end of the calibration table -->"
README_HEAD = """| spectra | auto kept | mean r̃ (exact) | KS spacing GOE | Brody q (exact) | Σ²(10) (exact) | Δ3(10) (exact) |
| --- | --- | --- | --- | --- | --- | --- |"""


def update_readme(rows):
    """Replace the table between the README's markers."""
    path = os.path.join(ROOT, "README.md")
    with open(path) as f:
        text = f.read()
    a, b = text.find(README_BEGIN), text.find(README_END)
    if a < 0 or b < a:
        print(f"no calibration markers in {path}: README left alone")
        return
    text = (text[:a + len(README_BEGIN)] + "\n" + README_HEAD + "\n" +
            "\n".join(rows) + "\n" + text[b:])
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)
    print(f"updated the table in {path}")


def measure(args, work, log, rows, shown):
    """Make each case's spectra in work (or reuse them with --workdir) and
    add its cells and its command line."""
    for n, (label, kind, cmd) in enumerate(cases(args)):
        path = os.path.join(work, f"case{n}.h5")
        print(f"{label} ...", flush=True)
        if not (args.workdir and os.path.exists(path)):
            run(cmd + ["-o", path], log)
        rows.append(cells(label, kind, stats_of(path, log, args.hessrmt)))
        tail = " ".join(cmd[cmd.index(args.hessrmt) + 1:]).replace(args.data, "$FM")
        shown.append(f"mpirun -n {args.ranks} hessrmt {tail} -o f.h5")


def program_commit():
    """The last commit of the program's sources (not of this table, which
    cannot name its own commit), marked when they have local changes."""
    git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True,  # noqa: E731
                                    text=True).stdout.strip()
    paths = ["src", "include", "io", "decomp", "CMakeLists.txt"]
    commit = git("log", "-1", "--format=%h", "--", *paths) or "unknown"
    return commit + (" with local changes" if git("status", "--porcelain", "--", *paths)
                     else "")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hessrmt", default=os.path.join(ROOT, "build", "hessrmt"))
    p.add_argument("--mpiexec", default="mpiexec")
    p.add_argument("--ranks", type=int, default=2)
    p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--out", default=os.path.join(ROOT, "docs",
                                                 "statistics-calibration.md"))
    p.add_argument("--workdir", help="keep the spectra files here, and reuse "
                   "those already made (the LeNet's take minutes)")
    p.add_argument("--no-readme", action="store_true",
                   help="leave the short table in README.md alone")
    args = p.parse_args()
    rows, shown = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = args.workdir or tmp
        os.makedirs(work, exist_ok=True)
        with open(os.path.join(work, "log.txt"), "a") as log:
            measure(args, work, log, rows, shown)
    commit = program_commit()
    with open(args.out + ".tmp", "w") as f:
        f.write(TEMPLATE.format(
            table="\n".join(full_row(c) for c in rows), commands="\n".join(shown),
            machine=benchenv.machine_line(), commit=commit or "unknown",
            date=datetime.date.today().isoformat(), L=f"{L:g}"))
    os.replace(args.out + ".tmp", args.out)
    print(f"wrote {args.out}")
    if not args.no_readme:
        update_readme([short_row(c) for c in rows])


TEMPLATE = """# Calibration of the statistics

<!-- Made by run/bench/stats_calibration.py; do not edit by hand. -->

What `hessrmt stats` reports, with every default (`--unfold auto`, `--cut auto`), on spectra
whose answer is known, and on batch-64 Hessians of the paper's models beside them. "Exact" is
computed by the script, not by hessrmt: mean r̃ from Atas et al. (large-N values), Σ²({L}) and
Δ3({L}) from Mehta's closed forms for the GOE and GUE and Pandey's integral (mpmath), L and
L/15 for Poisson, 0 and 1/12 for a picket fence. A Hessian has no exact answer; read its row
against the GOE's. See [the statistics](statistics.md) for each definition.

| spectra | count × N | unfolding kept | rejected | mean r̃ | exact | KS spacing Poisson / GOE / GUE | Brody q | exact | Σ²({L}) | exact | Δ3({L}) | exact | verdict |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
{table}

How to read it:
- The ensembles land on their exact values: r̃ within 1 standard error, Σ²(10) within about
  15% and Δ3(10) within 1% (Σ² over 20 spectra fluctuates most; a spline with one knot per 50
  levels also absorbs part of Poisson's long-range fluctuation). The picket fence is "near a picket fence" by its
  ratios (r̃ close to 1); its Σ² is 0 and its Δ3 the sawtooth's 1/12.
- GUE spacings have no Brody value: q interpolates between Poisson (0) and GOE (1) only.
- The ensembles' unfolding is the spline, auto's first choice; `stats --unfold pool` on the
  same GOE file gives Brody q 0.86, Σ²(10) 0.989 and Δ3(10) 0.2487 (the pool's finite sample adds
  density noise), which is why the pool comes second.
- On the Hessians the ratios (which need no unfolding) decide the verdict. The MLP's spectra pass
  only the pool (the spline bends back on them). The LeNet's bulk holds a sharp peak at zero that
  no unfolding follows (the spline's density is 1.18 in the middle tenth, the allowed band
  1 ± 0.055): its spacing and long-range statistics are withheld, and `stats --unfold all` shows
  each unfolding's numbers for diagnosis.

Made on {date} with the program at commit {commit}, {machine}:

```sh
run/bench/stats_calibration.py      # FM=/usr/share/datasets/fashion-mnist
{commands}
hessrmt stats f.h5 --json f.json    # for each file
```
"""

if __name__ == "__main__":
    main()
