#!/usr/bin/env python3
"""End-to-end tests of the OpenBLAS core choice (src/core/blas_core.c).

On a CPU that Debian's OpenBLAS 0.3.21 does not know it falls back to its
Prescott kernels; hessrmt then sets OPENBLAS_CORETYPE and re-executes
itself.  Machines that OpenBLAS knows cannot show a real fallback, so the
tests make hessrmt believe OpenBLAS chose a generic core
(HESSRMT_TEST_PRETEND_CORE) and check the whole path: the re-execution
bare and under mpiexec, the core OpenBLAS then really runs (its own
report), the plan line, the file's provenance, the --version line, a
user's OPENBLAS_CORETYPE left alone, and the one warning of a slow core.
The expected core comes from /proc/cpuinfo's flags, independently of the
program's CPUID reader."""
import os
import subprocess
import sys

import h5py

from e2e_common import Harness

AVX512 = ("avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")


def cpu_flags():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


def expected_core():
    """The core hessrmt must pick in place of a generic one, or None."""
    flags = cpu_flags()
    if all(f in flags for f in AVX512):
        return "SkylakeX"
    if "avx2" in flags and "fma" in flags:
        return "Haswell"
    return None


def env_with(**changes):
    env = dict(os.environ)
    env.pop("OPENBLAS_CORETYPE", None)
    env.pop("HESSRMT_BLAS_REPLACED", None)
    for k, v in changes.items():
        env[k] = v
    return env


def run(h, cmd, env):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True,
                          text=True, timeout=120, env=env)
    h.no_sanitizer_report(proc, cmd)
    if proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
    h.expect(proc.returncode == 0, f"{cmd}: exit {proc.returncode}")
    return proc


def version_line(proc):
    return next((l for l in proc.stdout.splitlines()
                 if l.startswith("OpenBLAS core")), "")


def case_version(h):
    """--version names the core and who chose it, for each way it is set."""
    want = expected_core()
    if want is None:
        print("skipped: this CPU has no AVX2 (nothing to replace)")
        return
    hr = h.args.hessrmt
    proc = run(h, [hr, "--version"], env_with(HESSRMT_TEST_PRETEND_CORE="Prescott"))
    line = version_line(proc)
    h.expect(line.startswith(f"OpenBLAS core {want} (set by hessrmt; "
                             "OpenBLAS chose Prescott)"), f"pretend: {line!r}")
    h.expect("warning" not in proc.stdout + proc.stderr, f"pretend warned: "
             f"{proc.stdout}{proc.stderr}")
    # A core OpenBLAS picked for a CPU it knows is left alone.
    for known in ("Haswell", "Zen", "SkylakeX", "Excavator"):
        proc = run(h, [hr, "--version"],
                   env_with(HESSRMT_TEST_PRETEND_CORE=known))
        h.expect("OpenBLAS's choice" in version_line(proc),
                 f"{known} replaced: {version_line(proc)!r}")
    # A user's OPENBLAS_CORETYPE is respected, and a slow one warned of.
    proc = run(h, [hr, "--version"], env_with(OPENBLAS_CORETYPE="Haswell",
                                              HESSRMT_TEST_PRETEND_CORE="Prescott"))
    h.expect(version_line(proc).startswith("OpenBLAS core Haswell (OPENBLAS_CORETYPE)"),
             f"user Haswell: {version_line(proc)!r}")
    proc = run(h, [hr, "--version"], env_with(OPENBLAS_CORETYPE="Prescott"))
    h.expect(version_line(proc).startswith("OpenBLAS core Prescott (OPENBLAS_CORETYPE)"),
             f"user Prescott: {version_line(proc)!r}")
    h.expect(f"set it to {want}" in proc.stdout, f"no warning: {proc.stdout!r}")


def case_ranks(h):
    """Under mpiexec at 1 and 2 ranks: every rank re-executed (the plan
    line is rank 0's, the file's core is what OpenBLAS really ran), and the
    spectra equal those of a run with the core set by hand."""
    want = expected_core()
    if want is None:
        print("skipped: this CPU has no AVX2 (nothing to replace)")
        return
    base = ["ensemble", "--kind", "goe", "--n", "300", "--count", "2",
            "--no-stats"]
    ref = h.path("by_hand.h5")
    run(h, h.command(2, base + ["-o", ref]), env_with(OPENBLAS_CORETYPE=want))
    with h5py.File(ref, "r") as f:
        h.expect(f.attrs["blas_core"] == want, f"by hand: {dict(f.attrs)}")
        h.expect(f.attrs["blas_core_chosen_by"] == "user", "by hand: chooser")
        ref_evals = f["hessian_evals"][...]
    for np_ in (1, 2):
        out = h.path(f"auto_{np_}.h5")
        proc = run(h, h.command(np_, base + ["-o", out]),
                   env_with(HESSRMT_TEST_PRETEND_CORE="Core2"))
        h.expect(f"BLAS core {want} (set by hessrmt; OpenBLAS chose Core2)"
                 in proc.stderr, f"plan at {np_}: {proc.stderr[:600]}")
        h.expect(proc.stderr.count("warning") == 0, f"warned: {proc.stderr}")
        with h5py.File(out, "r") as f:
            h.expect(f.attrs["blas_core"] == want,
                     f"{np_} ranks: core {f.attrs['blas_core']}")
            h.expect(f.attrs["blas_core_chosen_by"] == "hessrmt",
                     f"{np_} ranks: chooser {f.attrs['blas_core_chosen_by']}")
            h.expect(f.attrs["blas_core_openblas_choice"] == "Core2",
                     f"{np_} ranks: original {f.attrs['blas_core_openblas_choice']}")
            h.expect(abs(f["hessian_evals"][...] - ref_evals).max()
                     <= 1e-12 * abs(ref_evals).max(), f"{np_} ranks: spectra")
    # A user's slow core: kept, and one warning from rank 0 of 2.
    proc = run(h, h.command(2, base + ["-o", h.path("slow.h5")]),
               env_with(OPENBLAS_CORETYPE="Prescott"))
    h.expect(proc.stderr.count("hessrmt: warning: OPENBLAS_CORETYPE") == 1,
             f"slow-core warnings: {proc.stderr}")
    with h5py.File(h.path("slow.h5"), "r") as f:
        h.expect(f.attrs["blas_core"] == "Prescott", "user's slow core kept")


CASES = {"version": case_version, "ranks": case_ranks}

if __name__ == "__main__":
    sys.exit(Harness(__doc__, CASES).main())
