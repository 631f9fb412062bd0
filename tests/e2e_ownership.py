#!/usr/bin/env python3
"""A run owns the outputs it writes (include/hessrmt/output_claim.h).
race_npP: two runs given the same -o at once (ensemble, then hessian, at P
ranks): the second is refused at once, naming the file and the first run
(host, pid, start time), before it computes anything; the first run's
file equals a run made alone, with its own command line; --resume of the
live run's partial is refused the same way.  stale_npP: every rank of a
run SIGKILLed part-way leaves FILE.partial and FILE.lock; the lock no
longer holds, and --resume continues to a file equal to an uninterrupted
run.  writers: the same refusal for a serial writer (train's weights),
and messages never name a file that is not there."""
import os
import re
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import Harness, evals, rank_pids  # noqa: E402

# long enough (a few seconds) for a second run to start while it writes
ENSEMBLE = ["ensemble", "--kind", "goe", "--n", 700, "--count", 140, "-q",
            "--no-stats"]
HESSIAN = ["hessian", "--n", 64 * 250, "--dim", 20, "--model", "mlp:20-24-4",
           "--batch-size", 64, "-q", "--no-stats"]
BUSY = re.compile(r"'([^']+)' is being written by another run \(host (\S+), "
                  r"pid (\d+), started (\S+): ([^)]*)\)")


def start(h, np_, args):
    return subprocess.Popen(h.command(np_, args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_for(path, proc, seconds=60):
    deadline = time.time() + seconds
    while not os.path.exists(path) and time.time() < deadline:
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    return os.path.exists(path)


def attr(path, name):
    with h5py.File(path, "r") as f:
        v = f.attrs[name]
    return v.decode() if isinstance(v, bytes) else str(v)


def refused(h, np_, args, out, first, what):
    """Runs args while `first` writes `out`: must be refused quickly."""
    t0 = time.time()
    proc = h.run(np_, *args, check=False, timeout=120)
    seconds = time.time() - t0
    m = BUSY.search(proc.stderr)
    h.expect(proc.returncode != 0 and m is not None,
             f"{what}: not refused (exit {proc.returncode}): "
             f"{proc.stderr[-400:]}")
    if m:
        h.expect(m.group(1) == out and int(m.group(3)) in rank_pids(first.pid),
                 f"{what}: names {m.group(1)}, pid {m.group(3)}; first run's "
                 f"ranks {rank_pids(first.pid)}")
    h.expect(first.poll() is None, f"{what}: the first run was over before "
             "the second was refused: no race tested")
    print(f"{what}: refused in {seconds:.1f} s: "
          f"{m.group(0)[:160] if m else proc.stderr[-200:]}")
    return proc


def race(h, np_, name, base, seeds):
    """seeds: the option that makes the two runs differ."""
    out = h.path(f"{name}.h5")
    a_args = base + seeds[0] + ["-o", out]
    b_args = base + seeds[1] + ["-o", out]
    first = start(h, np_, a_args)
    if not wait_for(out + ".partial", first):
        h.expect(False, f"{name}: the first run made no partial: "
                 f"{first.communicate()[1][-400:]}")
        return
    refused(h, np_, b_args, out, first, f"{name} np{np_}: second run")
    refused(h, np_, a_args + ["--resume"], out, first,
            f"{name} np{np_}: --resume of a live run")
    _, err = first.communicate(timeout=300)
    h.expect(first.returncode == 0, f"{name}: first run failed: {err[-400:]}")
    solo = h.path(f"{name}_solo.h5")
    h.run(np_, *a_args[:-1], solo)
    h.expect(np.array_equal(evals(out), evals(solo)),
             f"{name} np{np_}: the first run's file differs from a run alone")
    line = attr(out, "command_line")
    h.expect(" ".join(str(a) for a in seeds[0]) in line and
             " ".join(str(a) for a in seeds[1]) not in line,
             f"{name}: command_line {line}")
    h.expect(not os.path.exists(out + ".lock"), f"{name}: lock file left")
    print(f"{name} np{np_}: the first run's file equals a run alone")


def case_race(h, np_):
    race(h, np_, "ensemble", ENSEMBLE, [["--seed", 1], ["--seed", 2]])
    race(h, np_, "hessian", HESSIAN, [["--seed", 1], ["--seed", 2]])


def case_stale(h, np_):
    out = h.path("stale.h5")
    args = ENSEMBLE + ["--seed", 3, "-o", out]
    proc = start(h, np_, args)
    wait_for(out + ".partial", proc)
    time.sleep(1.0)  # some rows done
    ranks = rank_pids(proc.pid)
    for pid in ranks:  # the node is gone: every rank at once
        os.kill(pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    h.expect(len(ranks) == np_ and os.path.exists(out + ".partial") and
             os.path.exists(out + ".lock"),
             f"stale: ranks {ranks}, partial and lock left: "
             f"{sorted(os.listdir(h.workdir))}")
    resumed = h.run(np_, *args, "--resume", check=False)
    kept = re.search(r"(\d+) of 140 spectra are finished and kept",
                     resumed.stdout)
    h.expect(resumed.returncode == 0 and kept is not None,
             f"stale lock blocked --resume: {resumed.stderr[-400:]}")
    solo = h.path("stale_solo.h5")
    h.run(np_, *args[:-1], solo)
    h.expect(os.path.exists(out) and np.array_equal(evals(out), evals(solo)),
             "stale: the resumed file differs from an uninterrupted run")
    h.expect(not os.path.exists(out + ".lock"), "stale: lock left at the end")
    print(f"stale np{np_}: resumed with {kept.group(1) if kept else '?'} of 140 "
          "kept; equal to an uninterrupted run")


def case_writers(h):
    out = h.path("w.h5")
    train = ["train", "--n", 4000, "--dim", 20, "--model", "mlp:20-64-3",
             "--epochs", 3000, "-q", "-o", out]  # long: SIGINT ends it
    first = start(h, 1, train)
    if wait_for(out + ".lock", first):
        refused(h, 2, train, out, first, "train: second run")
    first.send_signal(signal.SIGINT)  # stop it early; a checkpoint is kept
    first.communicate(timeout=120)
    # a stats JSON another run is writing
    spectra = h.path("s.h5")
    h.run(1, "ensemble", "--n", 50, "--count", 2, "-q", "--no-stats", "-o",
          spectra)
    with open(h.path("j.json.lock"), "w"):
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl,sys,time;f=open(sys.argv[1],'r+');"
         "fcntl.lockf(f,fcntl.LOCK_EX);f.write('host x, pid 1, started now: "
         "stats');f.flush();print('held',flush=True);time.sleep(60)",
         h.path("j.json.lock")], stdout=subprocess.PIPE, text=True)
    holder.stdout.readline()
    proc = h.serial("stats", spectra, "--json", h.path("j.json"), check=False)
    holder.kill()
    h.expect(proc.returncode == 9 and "is being written by another run" in
             proc.stderr and not os.path.exists(h.path("j.json")),
             f"stats --json held elsewhere: {proc.returncode} "
             f"{proc.stderr[-300:]}")
    # a partial removed under a running run: the message must not say the
    # result is kept there
    gone = h.path("gone.h5")
    proc = start(h, 1, ENSEMBLE + ["--seed", 4, "-o", gone])
    if wait_for(gone + ".partial", proc):
        os.remove(gone + ".partial")
    _, err = proc.communicate(timeout=120)
    h.expect(proc.returncode != 0 and "is gone" in err and
             "is kept in" not in err, f"removed partial: {err[-400:]}")


CASES = {f"race_np{p}": (lambda h, p=p: case_race(h, p)) for p in (1, 2)}
CASES.update({f"stale_np{p}": (lambda h, p=p: case_stale(h, p)) for p in (1, 2)})
CASES["writers"] = case_writers

if __name__ == "__main__":
    sys.exit(Harness(__doc__, CASES).main())
