#!/usr/bin/env python3
"""The scaling-study driver (run/scaling.py) end to end: strong and weak
series at 1 and 2 ranks from one command, the CSV it gathers from the
output files, and its figures."""
import csv
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import Harness  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def case_driver(h):
    out = h.path("study")
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "run", "scaling.py"),
                           "--hessrmt", h.args.hessrmt, "--ranks", "1,2", "--out", out,
                           "--", "ensemble", "--kind", "goe", "--n", "300", "--count", "2"],
                          capture_output=True, text=True, timeout=300)
    h.expect(proc.returncode == 0, f"driver failed: {proc.stdout} {proc.stderr}")
    with open(os.path.join(out, "scaling.csv")) as f:
        rows = list(csv.DictReader(f))
    got = [(r["mode"], int(r["ranks"]), int(r["spectra"]), int(r["groups"])) for r in rows]
    h.expect(got == [("strong", 1, 2, 1), ("strong", 2, 2, 1), ("weak", 1, 2, 1),
                     ("weak", 2, 4, 2)], f"series {got}")
    for r in rows:
        total = float(r["time_total"])
        h.expect(total > 0 and float(r["time_solve"]) <= total, f"times {r}")
        h.expect(float(r["peak_rss_gib"]) > 0 and float(r["estimate_gib"]) > 0, "memory")
    h.expect(float(rows[0]["efficiency"]) == 1.0 and float(rows[2]["efficiency"]) == 1.0,
             "efficiency at the first rank count is 1 by definition")
    s1, s2 = float(rows[0]["time_total"]), float(rows[1]["time_total"])
    h.expect(abs(float(rows[1]["speedup"]) - s1 / s2) < 1e-9, "speedup = T(1)/T(2)")
    for name in ["speedup.png", "speedup.svg", "efficiency.png", "efficiency.svg"]:
        path = os.path.join(out, name)
        ok = os.path.exists(path) and os.path.getsize(path) > 2000
        if ok and name.endswith(".png"):
            with open(path, "rb") as f:
                ok = f.read(8) == b"\x89PNG\r\n\x1a\n"
        h.expect(ok, f"{name} missing or invalid")


if __name__ == "__main__":
    sys.exit(Harness(__doc__, {"driver": case_driver}).main())
