#!/usr/bin/env python3
"""Faults users meet on clusters.  full_disk: every command that writes
(ensemble, hessian, relu-sim, train weights, checkpoints and history, stats
JSON and figures, merge, lossfit JSON and figures) on a small tmpfs that the
test mounts and fills: a non-zero exit, one error that says there is no
space and names the file, no leftover .partial or half-made output, an
existing output untouched; and once space is back the same run succeeds.
Needs root (mount); skipped otherwise.  memory: a rank under `ulimit -v`
is refused at the start, or, with the limit overridden, fails part-way with
a message and never hangs."""
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import Harness, evals  # noqa: E402


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def writers(h, disk):
    """(name, ranks, arguments, the file it must name)."""
    lf = h.path("loss.csv")
    with open(lf, "w") as f:
        f.write("epoch,test_loss\n" + "".join(f"{t},{0.3 + 0.5 * 0.6 ** t}\n"
                                             for t in range(1, 9)))
    parts = [h.path("part0.h5"), h.path("part1.h5")]
    common = ["hessian", "--n", 256, "--dim", 5, "--batch-size", 64, "-q", "--no-stats"]
    h.run(1, *common, "--max-batches", 2, "-o", parts[0])
    h.run(1, *common, "--first-batch", 2, "-o", parts[1])
    stats_in = parts[0]
    d = lambda name: os.path.join(disk, name)  # noqa: E731
    return [
        ("ensemble", 2, ["ensemble", "--n", 300, "--count", 8, "-q", "--no-stats",
                         "-o", d("keep.h5")], d("keep.h5")),
        ("hessian", 2, common + ["-o", d("h.h5")], d("h.h5")),
        ("relu-sim", 2, ["relu-sim", "--iters", 10, "-q", "-o", d("r.h5")], d("r.h5")),
        ("train", 2, ["train", "--n", 200, "--dim", 5, "--epochs", 2, "-q",
                      "-o", d("w.h5")], d("w.h5")),
        ("train checkpoint", 1, ["train", "--n", 200, "--dim", 5, "--epochs", 3, "-q",
                                 "--checkpoint-every", 1, "-o", d("c.h5")], d("c-epoch1.h5")),
        ("train history", 1, ["train", "--n", 200, "--dim", 5, "--epochs", 2, "-q",
                              "-o", h.path("w_ok.h5"), "--history", d("h.csv")], d("h.csv")),
        ("stats json", 0, ["stats", stats_in, "--json", d("s.json")], d("s.json")),
        ("stats figures", 0, ["stats", stats_in, "--plots", d("figs")], d("figs")),
        ("merge", 0, ["merge", *parts, "-o", d("m.h5")], d("m.h5")),
        ("lossfit json", 0, ["lossfit", lf, "--json", d("l.json")], d("l.json")),
        ("lossfit figures", 0, ["lossfit", lf, "--plots", d("lf")], d("lf")),
    ]


def leftovers(disk, before):
    """Files on the disk that were not there before the run (directories
    made for figures may stay, empty)."""
    found = []
    for root, _, files in os.walk(disk):
        for name in files:
            path = os.path.join(root, name)
            if path not in before:
                found.append(path)
    return found


def mount_tmpfs(h, name, size):
    """A small tmpfs at h.path(name), or None (and a 'skipped:' line)."""
    if os.geteuid() != 0:
        print("skipped: mounting a tmpfs needs root")
        return None
    disk = h.path(name)
    os.makedirs(disk)
    if subprocess.call(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                        disk]) != 0:
        print("skipped: cannot mount a tmpfs here")
        return None
    return disk


def fill(disk, leave=0):
    """Writes disk/filler until at most `leave` bytes are free; returns it."""
    filler = os.path.join(disk, "filler")
    st = os.statvfs(disk)
    todo = st.f_bavail * st.f_frsize - leave
    with open(filler, "wb") as f:
        try:
            while todo > 0:
                n = min(65536, todo)
                f.write(b"\0" * n)
                f.flush()
                todo -= n
        except OSError:
            pass
    return filler


def case_full_disk(h):
    disk = mount_tmpfs(h, "disk", "4m")
    if not disk:
        return
    try:
        runs = writers(h, disk)
        # An existing output: a full disk must leave it as it was.
        h.run(2, "ensemble", "--n", 40, "--count", 2, "-q", "--no-stats",
              "-o", os.path.join(disk, "keep.h5"))
        kept = digest(os.path.join(disk, "keep.h5"))
        filler = fill(disk)
        before = {os.path.join(disk, "keep.h5"), filler}
        for name, ranks, args, path in runs:
            proc = (h.run(ranks, *args, check=False, timeout=120) if ranks
                    else h.serial(*args, check=False, timeout=120))
            err = proc.stderr
            h.expect(proc.returncode != 0, f"{name}: exit 0 on a full disk")
            h.expect(("no space left" in err or "file system is full" in err)
                     and os.path.basename(path) in err,
                     f"{name}: message does not say the disk is full or name "
                     f"{path}: {err.strip()[-400:]}")
            h.expect(err.count("hessrmt: error") == 1, f"{name}: error lines: {err[-400:]}")
            h.expect(not leftovers(disk, before), f"{name}: left {leftovers(disk, before)}")
        h.expect(digest(os.path.join(disk, "keep.h5")) == kept, "the existing output changed")
        # Space back: the same run succeeds.
        os.remove(filler)
        h.run(2, *runs[0][2])
        h.expect(digest(os.path.join(disk, "keep.h5")) != kept, "rerun did not replace")
    finally:
        subprocess.call(["umount", "-l", disk])


def hessrmt_lines(text):
    return [line for line in text.splitlines() if line.startswith("hessrmt")]


def case_disk_fills(h):
    """The disk fills while a run is under way, after its start-up checks.
    ensemble: another process fills it mid-run; the rows, whose space was
    allocated when the file was created, are all written, and the run
    stops before its closing metadata (which would grow the file) with a
    "no space left" error naming FILE.partial, which keeps every spectrum;
    with space back the same command with --resume completes the file,
    equal to a run on a roomy disk, and writes its statistics.  (Before
    that check, HDF5's collective close hung here.)  train: the run fills
    the disk itself with its checkpoints; the one that no longer fits fails,
    naming its file, the earlier ones stay intact, and once space is back
    --resume from the last one ends with the weights of an uninterrupted
    run."""
    disk = mount_tmpfs(h, "disk2", "8m")
    if not disk:
        return
    try:
        d = lambda name: os.path.join(disk, name)  # noqa: E731
        run = ["ensemble", "--n", 400, "--count", 100, "--seed", 3, "-q",
               "-o", d("e.h5"), "--json", d("e.json"), "--plots", d("figs")]
        ref = h.path("fills_ref.h5")
        h.run(2, *run[:-6], "--no-stats", "-o", ref)
        proc = subprocess.Popen(h.command(2, run), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while not os.path.exists(d("e.h5.partial")) and time.time() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)
        filler = fill(disk)
        h.expect(proc.poll() is None,
                 "ensemble: the run was over before the disk filled")
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.terminate()  # mpiexec passes it on and kills the ranks
            try:
                _, err = proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                _, err = proc.communicate()
            h.expect(False, "ensemble: the run hung when the disk filled")
        print(f"disk fills: ensemble exit {proc.returncode}: "
              + " | ".join(hessrmt_lines(err)))
        h.expect(proc.returncode != 0, "ensemble: exit 0 on a full disk")
        h.expect("no space left for" in err and "e.h5.partial" in err and
                 "--resume" in err, f"ensemble: message {err.strip()[-400:]}")
        h.expect(err.count("hessrmt: error") == 1, f"error lines: {err[-400:]}")
        left = leftovers(disk, {filler})
        h.expect(left == [d("e.h5.partial")], f"ensemble: left {left}")
        os.remove(filler)
        proc = h.run(2, *run, "--resume")
        h.expect("100 of 100 spectra are finished and kept" in proc.stdout,
                 f"ensemble --resume: {proc.stdout[:300]}")
        h.expect(os.path.exists(d("e.h5")) and
                 np.array_equal(evals(d("e.h5")), evals(ref)),
                 "ensemble: the resumed file is missing or differs from a "
                 "run on a roomy disk")
        h.expect(os.path.getsize(d("e.json")) > 0 and
                 any(n.endswith(".png") for n in os.listdir(d("figs"))),
                 "ensemble --resume: no JSON or figures")
        for name in os.listdir(disk):
            p = d(name)
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)

        # train: room for two checkpoints and a quarter, on top of the 1 MiB
        # of slack hessrmt asks for before it writes one
        train = ["train", "--n", 400, "--dim", 20, "--model", "mlp:20-64-3",
                 "--epochs", 6, "--checkpoint-every", 1, "-q"]
        h.run(2, *train, "-o", h.path("w_ref.h5"))
        size = os.path.getsize(h.path("w_ref.h5"))
        page = 4096
        pages = (size + page - 1) // page * page
        filler = fill(disk, leave=(1 << 20) + 2 * pages + pages // 4)
        proc = h.run(2, *train, "-o", d("w.h5"), check=False)
        err = proc.stderr
        print(f"disk fills: train exit {proc.returncode}: "
              + " | ".join(hessrmt_lines(err)))
        h.expect(proc.returncode != 0 and "no space left" in err and
                 "w-epoch3.h5" in err and "--resume " + d("w-epoch2.h5") in err,
                 f"train: {err.strip()[-400:]}")
        h.expect(sorted(n for n in os.listdir(disk) if n != "filler") ==
                 ["w-epoch1.h5", "w-epoch2.h5"],
                 f"train: files {sorted(os.listdir(disk))}")
        os.remove(filler)
        h.run(2, *train, "-o", d("w.h5"), "--resume", d("w-epoch2.h5"))
        with h5py.File(d("w.h5"), "r") as a, h5py.File(h.path("w_ref.h5"),
                                                        "r") as b:
            names = []
            a.visit(lambda n: names.append(n) if isinstance(a[n], h5py.Dataset)
                    and n.startswith("layers/") else None)
            same = bool(names) and all(np.array_equal(a[n][...], b[n][...])
                                       for n in names)
        h.expect(same, f"train: resumed weights differ from an uninterrupted "
                 f"run ({names})")
        print(f"disk fills: train resumed from epoch 2 equals an "
              f"uninterrupted run: {same} ({len(names)} datasets)")
    finally:
        subprocess.call(["umount", "-l", disk])


def one_rank_limited(h, args, kb):
    """2 ranks, the second under `ulimit -v kb` (a node with less memory)."""
    prog = [h.args.hessrmt] + [str(a) for a in args]
    limited = f"ulimit -v {kb}; exec " + " ".join(shlex.quote(a) for a in prog)
    cmd = [h.args.mpiexec, "--oversubscribe", "-n", "1"] + prog + [":", "-n", "1",
                                                                    "sh", "-c", limited]
    start = time.time()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return None, "", 120.0
    return proc.returncode, proc.stderr, time.time() - start


def case_memory(h):
    """A rank that cannot get memory: with the default --max-mem its
    address-space limit is counted and the run refused at the start on
    every rank; with the limit overridden (--max-mem 8G) the allocation
    fails part-way, inside ELPA (a Fortran STOP) or in hessrmt, and the job
    still ends at once with a message, never hangs."""
    args = ["ensemble", "--n", 6000, "--count", 2, "--no-stats", "-q",
            "-o", h.path("mem.h5")]
    rc, err, seconds = one_rank_limited(h, args, 500000)
    h.expect(rc is not None and rc != 0, f"limited rank: exit {rc} after {seconds:.0f} s")
    h.expect("not enough memory" in err and "limit is" in err,
             f"limited rank: message {err[-400:]}")
    h.expect(not os.path.exists(h.path("mem.h5.partial")), "a refused run left a partial")
    rc, err, seconds = one_rank_limited(h, args + ["--max-mem", "8G", "--solver", "elpa2"],
                                        500000)
    h.expect(rc is not None and rc != 0 and seconds < 60,
             f"part-way: exit {rc} after {seconds:.0f} s (a hang?)")
    h.expect("hessrmt: error" in err, f"part-way: no hessrmt error: {err[-400:]}")
    h.expect(not os.path.exists(h.path("mem.h5")), "part-way: a final file")


if __name__ == "__main__":
    sys.exit(Harness(__doc__, {"full_disk": case_full_disk,
                               "disk_fills": case_disk_fills,
                               "memory": case_memory}).main())
