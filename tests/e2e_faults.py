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
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import Harness  # noqa: E402


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


def case_full_disk(h):
    if os.geteuid() != 0:
        print("skipped: mounting a tmpfs needs root")
        return
    disk = h.path("disk")
    os.makedirs(disk)
    if subprocess.call(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", disk]) != 0:
        print("skipped: cannot mount a tmpfs here")
        return
    try:
        runs = writers(h, disk)
        # An existing output: a full disk must leave it as it was.
        h.run(2, "ensemble", "--n", 40, "--count", 2, "-q", "--no-stats",
              "-o", os.path.join(disk, "keep.h5"))
        kept = digest(os.path.join(disk, "keep.h5"))
        filler = os.path.join(disk, "filler")
        with open(filler, "wb") as f:
            try:
                while True:
                    f.write(b"\0" * 65536)
                    f.flush()
            except OSError:
                pass
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
                               "memory": case_memory}).main())
