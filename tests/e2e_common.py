"""Shared harness of the end-to-end tests: run hessrmt under mpiexec, count
expectations, find rank processes to kill, check failing runs."""
import argparse
import os
import shutil
import struct
import subprocess
import sys
import threading
import time

import h5py
import numpy as np


class Harness:
    def __init__(self, description, cases):
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument("--hessrmt", required=True)
        parser.add_argument("--mpiexec", required=True)
        parser.add_argument("--workdir", required=True)
        parser.add_argument("case", choices=sorted(cases))
        self.args = parser.parse_args()
        self.cases = cases
        self.failures, self.passes = [], 0
        self.lock = threading.Lock()  # cases may run on threads
        self.workdir = os.path.join(self.args.workdir, self.args.case)
        shutil.rmtree(self.workdir, ignore_errors=True)
        os.makedirs(self.workdir)

    def main(self):
        self.cases[self.args.case](self)
        print(f"e2e {self.args.case}: {self.passes} passed, "
              f"{len(self.failures)} failed")
        return 1 if self.failures else 0

    def expect(self, cond, message):
        with self.lock:
            if cond:
                self.passes += 1
            else:
                self.failures.append(message)
                print("FAIL:", message, file=sys.stderr)

    def path(self, name):
        return os.path.join(self.workdir, name)

    def command(self, np_, args):
        return [self.args.mpiexec, "--oversubscribe", "-n", str(np_),
                self.args.hessrmt] + [str(a) for a in args]

    def run(self, np_, *args, timeout=300, check=True):
        """Run hessrmt on np_ ranks; return the CompletedProcess."""
        cmd = self.command(np_, args)
        start = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=timeout)
        proc.seconds = time.time() - start
        self.no_sanitizer_report(proc, cmd)
        if check and proc.returncode != 0:
            print(proc.stdout, proc.stderr, file=sys.stderr)
            raise SystemExit(f"command failed ({proc.returncode}): "
                             f"{' '.join(cmd)}")
        return proc

    def no_sanitizer_report(self, proc, cmd):
        """In a sanitizer build, a report fails the test even where the run
        was meant to fail (the report may come after the error message)."""
        for mark in ("Sanitizer", "runtime error:"):
            self.expect(mark not in proc.stderr,
                        f"{mark} in {' '.join(cmd)}: {proc.stderr[-1500:]}")

    def serial(self, *args, check=True, timeout=300):
        """Run hessrmt directly, without mpiexec (stats, lossfit, merge)."""
        cmd = [self.args.hessrmt] + [str(a) for a in args]
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=timeout)
        self.no_sanitizer_report(proc, cmd)
        if check and proc.returncode != 0:
            print(proc.stdout, proc.stderr, file=sys.stderr)
            raise SystemExit(f"command failed ({proc.returncode}): "
                             f"{' '.join(cmd)}")
        return proc

    def failing(self, np_, args, needle, name):
        """A run that must fail, directly (np_ = 0) or on np_ ranks: non-zero
        exit, one error line naming the problem, within 30 s."""
        start = time.time()
        proc = (self.run(np_, *args, check=False, timeout=60) if np_
                else self.serial(*args, check=False, timeout=120))
        where = f"{name} ({np_ or 'no'} mpiexec ranks)"
        self.expect(proc.returncode != 0, f"{where}: exit status 0")
        self.expect(needle in proc.stderr, f"{where}: message lacks "
                    f"'{needle}': {proc.stderr.strip()[:400]}")
        self.expect(proc.stderr.count("hessrmt: error") == 1,
                    f"{where}: error lines: {proc.stderr.strip()[:400]}")
        self.expect(time.time() - start < 30, f"{where}: slow")

    def error_case(self, np_, args, needle, name):
        """A failing run: non-zero exit on all ranks within the timeout, one
        message naming the problem, no output, an existing file untouched."""
        out = self.path(f"err_{name}_{np_}.h5")
        with open(out, "w") as f:
            f.write("precious")
        a = [x if x != "OUT" else out for x in args]
        if "OUT" not in args and "-o" not in args:
            a += ["-o", out]
        try:
            proc = self.run(np_, *a, timeout=60, check=False)
        except subprocess.TimeoutExpired:
            self.expect(False, f"{name} at {np_} ranks hung")
            return
        self.expect(proc.returncode != 0, f"{name}: exit status 0")
        self.expect(needle in proc.stderr, f"{name}: message lacks "
                    f"'{needle}': {proc.stderr.strip()[:400]}")
        n = proc.stderr.count("hessrmt: error")
        self.expect(n == 1, f"{name}: {n} error lines")
        if os.environ.get("HR_SHOW_ERRORS"):
            print(f"[{name} np{np_}] rc {proc.returncode} "
                  f"{proc.seconds:.1f}s: {proc.stderr.strip()}")
        with open(out, "rb") as f:
            self.expect(f.read() == b"precious",
                        f"{name}: existing output changed")
        self.expect(not os.path.exists(out + ".partial"),
                    f"{name}: partial left")
        self.expect(proc.seconds < 30, f"{name}: took {proc.seconds:.1f} s")


def png_size(path):
    """(width, height) from a PNG's IHDR, or None if it is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", head[16:24])


def evals(path):
    with h5py.File(path, "r") as f:
        return f["hessian_evals"][...].astype(np.float64)


def max_rel(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


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


def kill_one_rank_after(h, np_, args, done_lines=3):
    """Start a run, SIGKILL one rank after `done_lines` progress lines;
    return the finished Popen."""
    import signal
    proc = subprocess.Popen(h.command(np_, args), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    seen, deadline = 0, time.time() + 120
    while seen < done_lines and time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        seen += "done" in line
    victims = rank_pids(proc.pid)
    h.expect(len(victims) == np_, f"found rank pids {victims}")
    if victims:
        os.kill(victims[-1], signal.SIGKILL)
    proc.communicate(timeout=60)
    return proc


def stacks_of(pids):
    """Where each process is (gdb backtraces), for the message of a test
    that found a run hung; "" where gdb is missing."""
    out = []
    for pid in pids:
        try:
            bt = subprocess.run(["gdb", "-p", str(pid), "-batch", "-ex", "bt 12"],
                                capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        frames = [l for l in bt.splitlines() if l.startswith("#")]
        out.append(f"pid {pid}:\n  " + "\n  ".join(frames[:12]))
    return "\n".join(out)

