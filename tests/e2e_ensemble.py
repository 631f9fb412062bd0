#!/usr/bin/env python3
"""End-to-end tests of `hessrmt ensemble`: run the real program under
mpiexec and check the files it writes with h5py and numpy (independent of
hessrmt's own reader).  Each case is one CTest test:

    e2e_ensemble.py --hessrmt BIN --mpiexec MPIEXEC --workdir DIR CASE
"""
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

from e2e_common import (Harness, evals, kill_one_rank_after, max_rel,  # noqa: E402
                        rank_pids, stacks_of)


def case_rank_independence(h):
    """Same arguments, any rank count, grid or group split: same spectra."""
    common = ["ensemble", "--kind", "goe", "--n", 300, "--count", 3,
              "--seed", 11, "-q"]
    h.run(1, *common, "-o", h.path("ri1.h5"))
    ref = evals(h.path("ri1.h5"))
    variants = {
        "np2": (2, []), "np2 grid 2x1": (2, ["--grid", "2x1"]),
        "np4": (4, []), "np4 grid 1x4": (4, ["--grid", "1x4"]),
        "np4 2 groups": (4, ["--groups", 2]),
        "np4 nblk 7": (4, ["--nblk", 7]),
        "np3 2 unequal groups": (3, ["--groups", 2]),
    }
    for name, (np_, extra) in variants.items():
        out = h.path("ri_" + name.replace(" ", "_") + ".h5")
        h.run(np_, *common, *extra, "-o", out)
        got = evals(out)
        h.expect(got.shape == ref.shape, f"{name}: shape {got.shape}")
        err = max_rel(got, ref)
        h.expect(err <= 1e-10, f"{name}: differs from 1 rank by {err:.3g} "
                 "(relative to the largest eigenvalue)")
        if "unequal" in name:  # groups of 2 and 1 ranks: one shape each
            with h5py.File(out, "r") as f:
                h.expect(f.attrs["grid"] == "1x2,1x1",
                         f"grid attribute {f.attrs['grid']}")
    # The GOE sanity: the semicircle edge sits at 2 sqrt(N).
    edge = 2 * np.sqrt(300)
    h.expect(abs(ref.max() / edge - 1) < 0.1, f"GOE edge {ref.max()} vs {edge}")


def case_solvers(h):
    """Every solver agrees with elpa2; single precision within 1e-4."""
    common = ["ensemble", "--kind", "goe", "--n", 400, "--count", 2,
              "--seed", 5, "-q"]
    h.run(4, *common, "-o", h.path("s_elpa2.h5"))
    ref = evals(h.path("s_elpa2.h5"))
    for solver in ["elpa1", "pdsyevr", "pdsyev", "lapack", "auto"]:
        for np_ in (1, 4):
            # lapack solves on one rank: at 4 ranks, one group per rank
            extra = ["--groups", 4] if solver == "lapack" and np_ == 4 else []
            out = h.path(f"s_{solver}_{np_}.h5")
            h.run(np_, *common, "--solver", solver, *extra, "-o", out)
            err = max_rel(evals(out), ref)
            h.expect(err < 1e-12, f"{solver} on {np_} ranks vs elpa2: {err:.3g}")
            with h5py.File(out, "r") as f:
                used = f.attrs["solver_used"]
            want = {"auto": "lapack" if np_ == 1 else "elpa2"}.get(solver, solver)
            h.expect(used == want, f"--solver {solver} at {np_} ranks used {used}")
    proc = h.run(2, *common, "--solver", "lapack", "-o", h.path("s_bad.h5"),
                 check=False)
    h.expect(proc.returncode != 0 and "one rank" in proc.stderr,
             f"lapack on a 2-rank group: {proc.stderr}")
    for solver in ["elpa2", "pdsyevr"]:
        out = h.path(f"s_single_{solver}.h5")
        h.run(2, *common, "--solver", solver, "--precision", "single", "-o", out)
        with h5py.File(out, "r") as f:
            h.expect(f["hessian_evals"].dtype == np.float32,
                     f"single precision stored as {f['hessian_evals'].dtype}")
            used = f.attrs["solver_used"]
        err = max_rel(evals(out), ref)
        h.expect(1e-9 < err < 1e-4, f"single {solver} vs double: {err:.3g}")
        h.expect(used in ("elpa2", "pdsyevr"), f"solver_used {used}")


def case_tridiag_analytic(h):
    """The (2,-1) matrix: eigenvalues 2 - 2 cos(k pi / (N+1))."""
    for n, np_, extra in [(500, 1, []), (501, 4, ["--nblk", 13]),
                          (256, 2, ["--solver", "pdsyev"])]:
        out = h.path(f"tri_{n}_{np_}.h5")
        h.run(np_, "ensemble", "--kind", "tridiag", "--n", n, "-q", "-o", out,
              *extra)
        k = np.arange(1, n + 1)
        exact = 2 - 2 * np.cos(k * np.pi / (n + 1))
        err = max_rel(evals(out)[0], exact)
        h.expect(err < 1e-12, f"tridiag N={n} on {np_} ranks: {err:.3g}")


def case_file_format(h):
    """hessian_evals (count x N) ascending, rows_done, checks, provenance,
    and no FILE.partial left behind."""
    out = h.path("fmt.h5")
    h.run(2, "ensemble", "--kind", "goe", "--n", 200, "--count", 3, "--seed",
          3, "--groups", 2, "-q", "-o", out)
    h.expect(not os.path.exists(out + ".partial"), "partial file left behind")
    with h5py.File(out, "r") as f:
        ev = f["hessian_evals"][...]
        h.expect(ev.shape == (3, 200), f"shape {ev.shape}")
        h.expect(bool(np.all(np.diff(ev, axis=1) >= 0)), "rows not ascending")
        h.expect(bool(np.all(f["rows_done"][...] == 1)), "rows_done not all 1")
        tr, sm = f["checks/trace"][...], f["checks/eigenvalue_sum"][...]
        h.expect(bool(np.allclose(tr, sm, atol=1e-9 * 200)), f"trace {tr} vs {sm}")
        h.expect(bool(np.all(f["checks/asymmetry"][...] == 0)), "asymmetric GOE")
        h.expect(bool(np.allclose(ev.sum(axis=1), tr, atol=1e-9 * 200)),
                 "stored eigenvalues do not sum to the trace")
        a = f.attrs
        for key in ["version", "command_line", "identity", "ranks", "grid",
                    "nblk", "groups", "n", "solver_used", "time_solve_max",
                    "time_total_min", "created"]:
            h.expect(key in a, f"attribute {key} missing")
        h.expect(a["ranks"] == 2 and a["groups"] == 2 and a["grid"] == "1x1",
                 f"layout attributes {a['ranks']} {a['groups']} {a['grid']}")
        h.expect("--seed 3" in a["command_line"], "command line not recorded")
        opts = f["options"].attrs
        h.expect(opts["kind"] == "goe" and opts["n"] == "200", "options group")


def case_wishart_poisson(h):
    """Wishart X^T X / m lands in the Marchenko-Pastur support with mean 1;
    Poisson levels are the sorted diagonal in (0, 1)."""
    out = h.path("wis.h5")
    h.run(4, "ensemble", "--kind", "wishart", "--n", 400, "--wishart-ratio",
          0.25, "--count", 2, "-q", "-o", out)
    ev = evals(out)
    lo, hi = (1 - 0.5) ** 2, (1 + 0.5) ** 2
    h.expect(abs(ev.mean() - 1) < 0.02, f"wishart mean eigenvalue {ev.mean()}")
    h.expect(ev.min() > lo * 0.8 and ev.max() < hi * 1.1,
             f"wishart range [{ev.min()}, {ev.max()}] vs MP [{lo}, {hi}]")
    # Ratio > 1: rank m < N, so N - m eigenvalues are zero to rounding.
    out = h.path("wis_rank.h5")
    h.run(2, "ensemble", "--kind", "wishart", "--n", 300, "--wishart-ratio",
          2, "-q", "-o", out)
    ev = evals(out)[0]
    zeros = int(np.sum(np.abs(ev) < 1e-10 * ev.max()))
    h.expect(zeros == 150, f"wishart with m = N/2: {zeros} zero eigenvalues, "
             "expected 150")
    out = h.path("poi.h5")
    h.run(2, "ensemble", "--kind", "poisson", "--n", 500, "-q", "-o", out)
    ev = evals(out)[0]
    h.expect(ev.min() > 0 and ev.max() < 1, "poisson levels outside (0,1)")
    h.expect(abs(ev.mean() - 0.5) < 0.05, f"poisson mean {ev.mean()}")


def central_ratio_means(ev):
    """Mean r~ of the central half of each spectrum (one value per
    spectrum, so the spread gives an honest standard error)."""
    means = []
    for row in ev:
        s = np.diff(row)
        r = s[1:] / s[:-1]
        rt = np.minimum(r, 1 / r)
        n = len(rt)
        means.append(rt[n // 4: 3 * n // 4].mean())
    means = np.array(means)
    return means.mean(), means.std(ddof=1) / np.sqrt(len(means))


def case_beta_ensembles(h):
    """Dumitriu-Edelman beta ensembles and Poisson levels: mean r~ within 3
    standard errors of the large-N values (Atas et al. 2013); the same
    spectra on 1 and 2 ranks."""
    refs = {1: 0.5307, 2: 0.5996, 4: 0.6744}
    for beta, ref in refs.items():
        out = h.path(f"beta{beta}.h5")
        h.run(2, "ensemble", "--kind", "beta", "--beta", beta, "--n", 1000,
              "--count", 64, "--groups", 2, "--seed", 21, "-q", "-o", out)
        mean, se = central_ratio_means(evals(out))
        h.expect(abs(mean - ref) < 3 * se, f"beta {beta}: mean r~ {mean:.4f} "
                 f"+/- {se:.4f}, large-N value {ref}")
    out = h.path("poisson.h5")
    h.run(2, "ensemble", "--kind", "poisson", "--n", 1000, "--count", 32,
          "--seed", 21, "-q", "-o", out)
    mean, se = central_ratio_means(evals(out))
    h.expect(abs(mean - 0.38629) < 3 * se, f"poisson mean r~ {mean:.4f} +/- {se:.4f}")
    h.run(1, "ensemble", "--kind", "beta", "--beta", 2, "--n", 1000, "--count",
          64, "--seed", 21, "-q", "-o", h.path("beta2_np1.h5"))
    h.expect(np.array_equal(evals(h.path("beta2_np1.h5")), evals(h.path("beta2.h5"))),
             "beta spectra differ between 1 rank and 2 groups")


def case_gp_loss(h):
    """The Gaussian-process loss Hessian with degenerate rows and outliers:
    GOE local statistics (the stats JSON: mean r~ within 3 standard errors
    of 0.5307, verdict GOE), count * floor(F N) zero levels and count * K
    outliers; the same eigenvalues at 1 and 2 ranks and on another grid;
    the options in provenance and the plan; bad arguments refused."""
    import json
    count, n, frac, k = 12, 400, 0.1, 3
    zeros = count * int(np.floor(frac * n))
    common = ["ensemble", "--kind", "gp-loss", "--n", n, "--count", count,
              "--degenerate", frac, "--outliers", k, "--gp-a", 0.5,
              "--gp-b", 2, "--seed", 5]
    out, js = h.path("gp2.h5"), h.path("gp2.json")
    proc = h.run(2, *common, "--json", js, "-o", out)
    h.expect("40 zero rows and columns, 3 outliers" in proc.stderr,
             f"the plan's gp-loss line: {proc.stderr[-2000:]}")
    with open(js) as f:
        st = json.load(f)
    mean, se = st["mean_r_tilde"], st["mean_r_tilde_err"]
    h.expect(abs(mean - 0.5307) < 3 * se and se < 0.01,
             f"gp-loss mean r~ {mean:.4f} +/- {se:.4f} vs GOE 0.5307")
    h.expect(st["verdict"] == "goe", f"verdict {st['verdict']}")
    left_out = st["n_spectra"] * st["n_levels"] - st["n_kept"]
    h.expect(left_out == zeros and st["exact_zeros"] == zeros,
             f"{left_out} levels cut, {st['exact_zeros']} exactly zero; "
             f"expected {zeros}")
    h.expect(st["n_outliers"] == count * k, f"{st['n_outliers']} outliers")
    ev = evals(out)
    radius = 2 * np.sqrt(2 * (n - zeros // count))  # b = 2, M = N - 40
    h.expect(bool(np.all(ev[:, -k:] > 8 * radius) and
                  np.all(ev[:, -k - 1] < 1.5 * radius)),
             f"outliers {ev[:, -k:].min():.1f}, bulk edge "
             f"{ev[:, -k - 1].max():.1f}, radius {radius:.1f}")
    with h5py.File(out, "r") as f:
        opts = f["options"].attrs
        got = {key: opts[key] for key in ["kind", "gp-a", "gp-b", "degenerate",
                                          "outliers", "outlier-scale"]}
    h.expect(got == {"kind": "gp-loss", "gp-a": "0.5", "gp-b": "2",
                     "degenerate": "0.10000000000000001", "outliers": "3",
                     "outlier-scale": "10"}, f"provenance {got}")
    for name, np_, extra in [("np1", 1, []),
                             ("np2_grid", 2, ["--grid", "2x1", "--nblk", 7])]:
        other = h.path(f"gp_{name}.h5")
        h.run(np_, *common, *extra, "-q", "--no-stats", "-o", other)
        err = max_rel(evals(other), ev)
        h.expect(err <= 1e-10, f"{name} differs from 2 ranks by {err:.3g}")
    helped = h.serial("ensemble", "--help").stdout
    h.expect(all(w in helped for w in ["gp-loss (the", "--gp-a A",
                                       "--gp-b B", "--degenerate F",
                                       "--outliers K", "--outlier-scale S"]),
             f"--help lacks the gp-loss options: {helped[:300]}")
    e = h.error_case
    gp = ["ensemble", "--kind", "gp-loss", "--n", "100"]
    e(2, gp + ["--gp-b", "0"], "--gp-b 0: the off-diagonal variance", "gp_b0")
    e(2, gp + ["--degenerate", "1"], "--degenerate 1: the fraction", "gp_f1")
    e(2, gp + ["--degenerate", "0.5", "--outliers", "51"],
      "--outliers 51: only 50 of N = 100", "gp_k")
    e(2, gp + ["--gp-a", "-1"], "--gp-a -1", "gp_a")
    e(2, ["ensemble", "--kind", "goe", "--outliers", "3"],
      "--outliers applies only with --kind gp-loss, not --kind goe", "gp_goe")


def case_resume(h):
    """SIGKILL one rank part-way; --resume finishes the file, bit for bit
    equal to an uninterrupted run."""
    # 40 members: one-rank groups solve with LAPACK in milliseconds, and
    # the kill must still land mid-run
    common = ["ensemble", "--kind", "goe", "--n", 500, "--count", 40,
              "--seed", 9, "--groups", 2]
    full = h.path("res_full.h5")
    h.run(2, *common, "-q", "-o", full)
    out = h.path("res.h5")
    proc = kill_one_rank_after(h, 2, common + ["-o", out])
    h.expect(proc.returncode != 0, "killed run exited 0")
    h.expect(not os.path.exists(out), "killed run left a final file")
    h.expect(os.path.exists(out + ".partial"), "killed run left no .partial")
    with h5py.File(out + ".partial", "r") as f:
        finished = int(f["rows_done"][...].sum())
    h.expect(0 < finished < 40, f"{finished} rows finished before the kill")
    h.run(2, *common, "-q", "--resume", "-o", out)
    h.expect(not os.path.exists(out + ".partial"), "resume left .partial")
    a, b = evals(out), evals(full)
    h.expect(np.array_equal(a, b), f"resumed differs from uninterrupted by "
             f"{np.max(np.abs(a - b))}")
    # Resuming a file that is already complete is refused.
    proc = h.run(2, *common[:-4], "--seed", 10, "-q", "--resume", "-o", out,
                 check=False)
    h.expect(proc.returncode != 0 and "no '" in proc.stderr,
             f"resume without a partial: {proc.stderr.strip()}")


def signalled(h, cmd, signo, after):
    """Start cmd, send it signo once its .partial has rows (or after
    `after` s), wait; the CompletedProcess-like (returncode, stderr)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(after)
    proc.send_signal(signo)
    out, err = proc.communicate(timeout=120)
    return proc.returncode, err


def case_signals(h):
    """A time limit or preemption (SIGTERM), ^C (SIGINT) and Slurm's early
    warning (SIGUSR1): hessrmt stops at the next spectrum, keeps the
    finished ones in FILE.partial, says how to resume, and exits 75 (mpirun
    forwards SIGUSR1 and passes 75 on; on SIGTERM it exits 1 itself); the
    resumed file equals an uninterrupted run bit for bit."""
    common = ["ensemble", "--kind", "goe", "--n", 300, "--count", 1000, "--seed", 4,
              "--no-stats", "-q"]
    cases = [("term", 2, signal.SIGTERM, {1}), ("usr1", 2, signal.SIGUSR1, {75}),
             ("int", 0, signal.SIGINT, {75})]
    for name, np_, signo, codes in cases:
        out = h.path(f"sig_{name}.h5")
        cmd = (h.command(np_, common + ["-o", out]) if np_ else
               [h.args.hessrmt] + [str(a) for a in common + ["-o", out]])
        rc, err = signalled(h, cmd, signo, 2.0)
        h.expect(rc in codes, f"{name}: exit status {rc}, expected {codes}: {err[-500:]}")
        h.expect("hessrmt: stopped: " + signo.name in err and "--resume" in err,
                 f"{name}: message: {err[-500:]}")
        h.expect(not os.path.exists(out) and os.path.exists(out + ".partial"),
                 f"{name}: no .partial, or a final file")
        if not os.path.exists(out + ".partial"):
            continue
        with h5py.File(out + ".partial", "r") as f:
            finished = int(f["rows_done"][...].sum())
        h.expect(0 < finished < 1000, f"{name}: {finished} rows finished")
    # The SIGUSR1 run, resumed, equals an uninterrupted one.
    out = h.path("sig_usr1.h5")
    h.run(2, *common, "--resume", "-o", out, timeout=600)
    full = h.path("sig_full.h5")
    h.run(2, *common, "-o", full, timeout=600)
    a, b = evals(out), evals(full)
    h.expect(np.array_equal(a, b), "resumed after SIGUSR1 differs from uninterrupted")
    # A second signal does not wait for the safe point: ^C ^C stops a long
    # solve at once (default action), with no final file.
    out = h.path("sig_twice.h5")
    # (order 4000: the first spectrum takes seconds, so both signals land
    # inside it, before any safe point)
    proc = subprocess.Popen([h.args.hessrmt, "ensemble", "--n", "4000", "--count", "2",
                             "--no-stats", "-q", "-o", out],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    h.expect(proc.returncode == -signal.SIGINT, f"twice: exit {proc.returncode}")
    h.expect("send the signal again" in err, f"twice: message {err[-300:]}")
    h.expect(not os.path.exists(out), "twice: a final file")


def case_random_kills(h):
    """SIGKILL one rank at seeded random moments anywhere from start-up to
    the end, then --resume (which starts from the beginning when the kill
    came before anything was recorded): always bit for bit equal to an
    uninterrupted run."""
    import random
    import signal
    import subprocess
    import time
    common = ["ensemble", "--kind", "goe", "--n", 400, "--count", 40,
              "--seed", 5, "--groups", 2, "-q", "--no-stats"]
    full = h.path("rk_full.h5")
    start = time.time()
    h.run(2, *common, "-o", full)
    wall = time.time() - start
    ref = evals(full)
    rng = random.Random(11)
    for k in range(8):
        out = h.path(f"rk{k}.h5")
        proc = subprocess.Popen(h.command(2, common + ["-o", out]),
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        at = rng.uniform(0.0, wall)
        time.sleep(at)
        victims = rank_pids(proc.pid)
        while not victims and proc.poll() is None:  # not started yet
            time.sleep(0.01)
            victims = rank_pids(proc.pid)
        if victims:
            try:
                os.kill(rng.choice(victims), signal.SIGKILL)
            except ProcessLookupError:  # it had just finished
                pass
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            left = rank_pids(proc.pid)
            where = stacks_of(left + [proc.pid])
            if left:
                h.expect(False, f"kill {k} at {at:.2f} s: the run hung after "
                         f"one rank was killed; ranks left {left}, mpiexec "
                         f"{proc.pid}\n{where}")
            else:
                # Seen once in CI: every rank had ended and mpiexec itself
                # deadlocked in PMIx_server_finalize.  A launcher bug, not a
                # hessrmt one: reported, then the resume below is checked.
                print(f"kill {k} at {at:.2f} s: no rank left, but mpiexec hung "
                      f"in its own teardown (Open MPI/PMIx):\n{where}")
            proc.kill()
            proc.wait()
            for pid in left:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        # The kill may land after the final rename (in MPI_Finalize): the
        # file is complete then, whatever the exit status says.
        complete = os.path.exists(out) and not os.path.exists(out + ".partial")
        r = h.run(2, *common, "--resume", "-o", out, check=False, timeout=120)
        note = [l for l in r.stderr.splitlines() if "hessrmt:" in l]
        print(f"kill {k} at {at:.2f} of {wall:.2f} s: run exit "
              f"{proc.returncode}; resume: {note[:1] or 'continued'}")
        if complete:
            h.expect(r.returncode != 0 and "already complete" in r.stderr,
                     f"kill {k} at {at:.2f} s: resume of a complete file: "
                     f"{r.stderr.strip()[-300:]}")
        else:
            h.expect(r.returncode == 0, f"kill {k} at {at:.2f} s: resume "
                     f"failed: {r.stderr.strip()[-300:]}")
        h.expect(os.path.exists(out) and not os.path.exists(out + ".partial"),
                 f"kill {k} at {at:.2f} s: files after resume")
        if os.path.exists(out):
            h.expect(np.array_equal(evals(out), ref),
                     f"kill {k} at {at:.2f} s: resumed spectra differ")
    # Killed while HDF5 was creating the file: a partial HDF5 cannot open.
    out = h.path("rk_torn.h5")
    with open(out + ".partial", "wb") as f:
        f.write(b"\x89HDF\r\n\x1a\n" + bytes(100))
    r = h.run(2, *common, "--resume", "-o", out, check=False, timeout=120)
    h.expect(r.returncode == 0 and "nothing was recorded" in r.stderr and
             np.array_equal(evals(out), ref),
             f"torn partial: {r.stderr.strip()[-300:]}")


def errors(h, np_):
    e = h.error_case
    e(np_, ["ensemble", "--grid", "3x3"], "--grid 3x3 needs 9 ranks", "grid")
    e(np_, ["ensemble", "--nblk", "0"], "--nblk 0", "nblk0")
    if np_ > 1:
        e(np_, ["ensemble", "--n", str(np_ - 1)], "smaller than", "small_n")
    e(np_, ["ensemble", "--n", "100", "-o", "/nonexistent/dir/x.h5"],
      "does not exist", "missing_dir")
    e(np_, ["ensemble", "--n", "100", "-o", "/proc/hessrmt.h5"],
      "cannot create", "unwritable")
    e(np_, ["ensemble", "--n", "2000", "--max-mem", "1M"],
      "not enough memory", "memory")
    e(np_, ["ensemble", "--groups", str(np_ + 1)], f"--groups {np_ + 1} needs",
      "groups")
    if np_ > 1:
        e(np_, ["ensemble", "--n", "20", "--nblk", "20"],
          "too large for N = 20", "elpa_nblk")


def case_cli(h):
    """--help for every command, --version, usage errors, and the progress
    lines of a batch log (no terminal): one per spectrum from rank 0 only,
    counting up to its group's share, with an ETA."""
    import re
    import subprocess
    for args, needle in [(["--help"], "Commands:"),
                         (["ensemble", "--help"], "--wishart-ratio"),
                         (["hessian", "--help"], "--batch-size"),
                         (["stats", "--help"], "--unfold"),
                         (["train", "--help"], "--momentum"),
                         (["relu-sim", "--help"], "--n1"),
                         (["lossfit", "--help"], "--y-column"),
                         (["merge", "--help"], "--output"),
                         (["--version"], "ELPA")]:
        proc = subprocess.run([h.args.hessrmt, *args], capture_output=True,
                              text=True, timeout=30)
        h.expect(proc.returncode == 0 and needle in proc.stdout,
                 f"{args}: {proc.returncode} {proc.stdout[:200]}")
    proc = h.run(2, "ensemble", "--solver", "magma", check=False)
    h.expect(proc.returncode == 2 and proc.stderr.count("--solver magma") == 1,
             f"usage error printed once with status 2: {proc.stderr}")
    proc = h.run(2, "ensemble", "--n", 200, "--count", 6, "--groups", 2,
                 "--no-stats", "-o", h.path("progress.h5"))
    lines = re.findall(r"hessrmt: (\d+)/(\d+) spectra of group 0 \(1 of 2 groups\) "
                       r"done; last [\d.]+ s, mean [\d.]+ s; elapsed \S+, ETA \S+",
                       proc.stderr)
    h.expect([(int(a), int(b)) for a, b in lines] == [(1, 3), (2, 3), (3, 3)],
             f"progress lines: {proc.stderr}")


def case_plan(h):
    """--dry-run plans N = 200,000 (past the old 46,340 cap) without
    allocating it and writes nothing; with --solver auto a --max-mem that
    ELPA 2-stage's workspace would exceed selects the lean pdsyev, says so,
    and gives the same eigenvalues."""
    out = h.path("plan.h5")
    proc = h.run(2, "ensemble", "--n", 200000, "--dry-run", "-o", out)
    h.expect("matrices of order 200000" in proc.stderr and "memory:" in proc.stderr
             and "GFLOP" in proc.stderr, f"plan: {proc.stderr}")
    h.expect(not os.path.exists(out) and not os.path.exists(out + ".partial"),
             "dry run wrote a file")
    common = ["ensemble", "--n", 3000, "--seed", 3, "-q", "--no-stats"]
    h.run(2, *common, "-o", h.path("plan_elpa.h5"))
    proc = h.run(2, *common[:-2], "--no-stats", "--max-mem", "140M", "-o",
                 h.path("plan_lean.h5"))
    with h5py.File(h.path("plan_lean.h5"), "r") as f:
        used = f.attrs["solver_used"]
    h.expect(used == "pdsyev" and "lean pdsyev" in proc.stderr,
             f"--max-mem 140M used {used}: {proc.stderr}")
    err = max_rel(evals(h.path("plan_lean.h5")), evals(h.path("plan_elpa.h5")))
    h.expect(err < 1e-12, f"pdsyev vs elpa2 {err:.3g}")
    # ... and a limit even pdsyev cannot meet is refused before any work
    proc = h.run(2, *common, "--max-mem", "60M", "-o", h.path("plan_no.h5"),
                 check=False)
    h.expect(proc.returncode != 0 and "memory" in proc.stderr,
             f"--max-mem 60M: {proc.stderr}")


def case_eigenvectors(h):
    """--eigenvectors K: the analytic vectors of the (2, -1) tridiagonal
    matrix at 1, 2 and 4 ranks, with every solver, grids and groups; GOE
    members land on the Porter-Thomas law and the IPR 3/(N+2), a diagonal
    (Poisson) ensemble is called localised; refusals."""
    import json
    n, K = 120, 3
    i = np.arange(1, n + 1)
    idx = list(range(K)) + list(range(n - K, n))
    U = np.array([np.sqrt(2 / (n + 1)) * np.sin(i * (k + 1) * np.pi / (n + 1)) for k in idx])
    first = [np.flatnonzero(np.abs(u) >= np.abs(u).max() * (1 - 1e-6))[0] for u in U]
    U *= np.sign(U[np.arange(2 * K), first])[:, None]
    lam = 2 - 2 * np.cos((np.array(idx) + 1) * np.pi / (n + 1))
    for np_, extra in ((1, []), (2, ["--solver", "elpa2"]), (2, ["--solver", "pdsyevr", "--grid", "2x1"]),
                       (4, ["--solver", "pdsyev", "--nblk", 7]), (4, ["--groups", 2, "--solver", "elpa1"])):
        out = h.path(f"evt_{np_}_{len(extra)}_{extra[1] if extra else 'auto'}.h5")
        h.run(np_, "ensemble", "--kind", "tridiag", "--n", n, "--count", 2, "--eigenvectors", K,
              "--no-stats", "-q", *extra, "-o", out)
        with h5py.File(out, "r") as f:
            V, ev, res = f["hessian_evecs"][...], f["hessian_evals"][...], f["checks/evec_residual"][...]
        what = f"tridiag at {np_} ranks {extra}"
        h.expect(V.shape == (2, 2 * K, n), f"{what}: shape {V.shape}")
        err = np.max(np.abs(V - U[None]))
        h.expect(err < 1e-10, f"{what}: vectors off the analytic ones by {err:.2e}")
        h.expect(np.max(np.abs(ev[:, idx] - lam[None])) < 1e-12, f"{what}: eigenvalues")
        h.expect(np.max(res) < 1e-12, f"{what}: residuals {np.max(res):.2e}")
    # GOE: delocalised as the theory says; Poisson (diagonal): localised
    for kind, count, want in (("goe", 12, "Porter-Thomas (GOE-like)"), ("poisson", 3, "localised")):
        out = h.path(f"ev_{kind}.h5")
        h.run(2, "ensemble", "--kind", kind, "--n", 200, "--count", count, "--seed", 5,
              "--eigenvectors", 5, "-q", "--json", out + ".json", "-o", out)
        with open(out + ".json") as f:
            e = json.load(f)["eigenvectors"]
        for end in ("smallest", "largest"):
            x = e[end]
            h.expect(x["verdict"] == want, f"{kind} {end}: verdict {x['verdict']} ({x})")
            if kind == "goe":
                h.expect(abs(x["ipr_mean"] - e["ipr_goe"]) < 4 * x["ipr_sem"],
                         f"goe {end}: IPR {x['ipr_mean']} +/- {x['ipr_sem']} vs {e['ipr_goe']}")
                h.expect(x["porter_thomas_ks"] < x["porter_thomas_critical"],
                         f"goe {end}: Porter-Thomas KS {x['porter_thomas_ks']}")
            else:
                h.expect(abs(x["ipr_mean"] - 1) < 1e-12, f"poisson {end}: IPR {x['ipr_mean']}")
        h.expect(e["residual_max"] < 1e-13 and e["orthogonality_max"] < 1e-12,
                 f"{kind}: residual {e['residual_max']}, orthogonality {e['orthogonality_max']}")
        print(f"{kind}: {e['smallest']['verdict']}, IPR/GOE {e['smallest']['ipr_ratio']:.3f} "
              f"and {e['largest']['ipr_ratio']:.3f}")
    # A solver's wrong vectors are caught, never written: Debian's ELPA
    # 2-stage AVX2 kernel returns such vectors on the machines we know.
    os.environ["ELPA_DEFAULT_real_kernel"] = "ELPA_2STAGE_REAL_AVX2_BLOCK2"
    try:
        out = h.path("ev_kernel.h5")
        proc = h.run(2, "ensemble", "--kind", "goe", "--n", 150, "--count", 2, "--solver", "elpa2",
                     "--eigenvectors", 3, "-q", "--no-stats", "-o", out, check=False)
    finally:
        del os.environ["ELPA_DEFAULT_real_kernel"]
    if proc.returncode == 0:
        with h5py.File(out, "r") as f:
            worst = np.max(f["checks/evec_residual"][...])
        h.expect(worst < 1e-8 * 40, f"AVX2 kernel: exit 0 with residual {worst:.2e}")
        print(f"the AVX2 kernel is right on this machine (residual {worst:.1e})")
    else:
        h.expect(proc.returncode == 6 and "fail their check" in proc.stderr
                 and not os.path.exists(out) and not os.path.exists(out + ".partial"),
                 f"AVX2 kernel: exit {proc.returncode}: {proc.stderr[-300:]}")
        print("the AVX2 kernel's wrong vectors were refused")
    for args, needle in ((["--kind", "beta", "--n", 50], "--kind beta is solved as a tridiagonal"),
                         (["--kind", "goe", "--n", 10, "--eigenvectors", 6], "asks for 12 vectors"),
                         (["--kind", "goe", "--n", 10, "--precision", "single"], "needs --precision double")):
        if "--eigenvectors" not in args:
            args = args + ["--eigenvectors", 2]
        proc = h.run(1, "ensemble", *args, "-q", "-o", h.path("ev_err.h5"), check=False)
        h.expect(proc.returncode == 2 and needle in proc.stderr,
                 f"{args}: exit {proc.returncode}: {proc.stderr[-300:]}")


CASES = {
    "eigenvectors": case_eigenvectors,
    "plan": case_plan,
    "rank_independence": case_rank_independence,
    "solvers": case_solvers,
    "tridiag_analytic": case_tridiag_analytic,
    "file_format": case_file_format,
    "wishart_poisson": case_wishart_poisson,
    "resume": case_resume,
    "random_kills": case_random_kills,
    "signals": case_signals,
    "beta_ensembles": case_beta_ensembles,
    "gp_loss": case_gp_loss,
    "errors_np1": lambda h: errors(h, 1),
    "errors_np2": lambda h: errors(h, 2),
    "errors_np4": lambda h: errors(h, 4),
    "cli": case_cli,
}

if __name__ == "__main__":
    sys.exit(Harness(__doc__, CASES).main())
