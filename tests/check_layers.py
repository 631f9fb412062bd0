#!/usr/bin/env python3
"""The source layers point downhill (README, "Source layout"): files under
decomp/ and io/ include only their own headers and the base utilities
(errors, random streams, timers, memory, precision), also through the
headers they include; no module below the commands includes options.h,
itself or through a header (context.h keeps the options opaque), reads
them (`opts->`), or calls a command (hr_cmd_*).  Exits 1, listing each arrow that
points uphill."""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE = os.path.join(ROOT, "include", "hessrmt")
BASE = {"error", "random", "timer", "memory", "precision", "version"}
IO = {"dataset", "h5util", "output", "output_claim", "spectra_file",
      "spectra_read", "tensor_file", "readers"}
DECOMP = {"blockcyclic", "grid", "dmat", "assemble", "blacs", "lapack"}


def includes(path):
    if not os.path.exists(path):
        return []
    return re.findall(r'#include "(?:hessrmt/)?([a-z_0-9]+)\.h"',
                      open(path, errors="replace").read())


def closure(path):
    seen, todo = set(), includes(path)
    while todo:
        h = todo.pop()
        if h not in seen:
            seen.add(h)
            todo += includes(os.path.join(INCLUDE, h + ".h"))
    return seen


def main():
    uphill = []
    lower = glob.glob(os.path.join(ROOT, "io", "*.[ch]")) + \
        glob.glob(os.path.join(ROOT, "decomp", "*.c"))
    for f in sorted(lower):
        bad = closure(f) - BASE - IO - DECOMP
        if bad:
            uphill.append(f"{os.path.relpath(f, ROOT)} includes {sorted(bad)}")
    below = [f for f in glob.glob(os.path.join(ROOT, "src", "*", "*.c"))
             if "/commands/" not in f
             and not re.search(r"/core/options(_help)?\.c$", f)]
    for f in sorted(below + lower):
        rel = os.path.relpath(f, ROOT)
        text = open(f, errors="replace").read()
        if "options" in closure(f):
            uphill.append(f"{rel} includes options.h")
        if re.search(r"\bopts->", text):
            uphill.append(f"{rel} reads the command line's options (opts->)")
        calls = sorted(set(re.findall(r"\bhr_cmd_[a-z_]+\s*\(", text)))
        if calls:
            uphill.append(f"{rel} calls the command {calls}")
    for line in uphill:
        print("uphill:", line)
    print(f"layers: {len(lower)} io/decomp files and {len(below)} modules "
          f"below the commands checked; {len(uphill)} uphill arrows")
    return 1 if uphill else 0


if __name__ == "__main__":
    sys.exit(main())
