"""Environment shared by the benchmark scripts, set before numpy or torch
load OpenBLAS:

- one BLAS thread per process unless the script says otherwise, so rates
  are one core's and every MPI rank uses one core;
- Open MPI's consent to run as root;
- one OpenBLAS core for everything the benchmark runs: hessrmt's own choice
  (`hessrmt --version`; on CPUs Debian's OpenBLAS 0.3.21 does not know it
  replaces the generic Prescott kernels), exported as OPENBLAS_CORETYPE so
  that numpy, torch and every hessrmt rank run the same kernels and ratios
  between them are fair.  A core already set in the environment is kept.

BLAS_CORE and machine_line() say which core and CPU produced the numbers."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
if os.geteuid() == 0:
    os.environ["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    os.environ["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"


def _hessrmt_path():
    """The --hessrmt of the script's command line, else build/hessrmt."""
    argv = sys.argv[1:]
    for i, a in enumerate(argv):
        if a == "--hessrmt" and i + 1 < len(argv):
            return argv[i + 1]
        if a.startswith("--hessrmt="):
            return a.split("=", 1)[1]
    return os.environ.get("HESSRMT", os.path.join(ROOT, "build", "hessrmt"))


def _pin_core():
    """(core, who chose it) from hessrmt --version; exports the core."""
    try:
        out = subprocess.run([_hessrmt_path(), "--version"], capture_output=True,
                             text=True, timeout=60).stdout
    except OSError:
        return os.environ.get("OPENBLAS_CORETYPE", "unknown"), "no hessrmt"
    line = next((l for l in out.splitlines() if l.startswith("OpenBLAS core ")), "")
    # "OpenBLAS core SkylakeX (set by hessrmt; OpenBLAS chose Prescott); ..."
    core, _, rest = line[len("OpenBLAS core "):].partition(" (")
    if not core:
        return os.environ.get("OPENBLAS_CORETYPE", "unknown"), "unknown"
    os.environ["OPENBLAS_CORETYPE"] = core
    return core, rest.partition(")")[0]


BLAS_CORE, BLAS_CORE_CHOOSER = _pin_core()


def machine_line():
    """'CPU ...; OpenBLAS core ...' for a benchmark record."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(l.split(":", 1)[1].strip() for l in f
                         if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return (f"CPU: {model}, {os.cpu_count()} cores; OpenBLAS core {BLAS_CORE} "
            f"({BLAS_CORE_CHOOSER}) for hessrmt and every peer")
