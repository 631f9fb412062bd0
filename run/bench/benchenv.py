"""Environment shared by the benchmark scripts: one BLAS thread per process
(set before numpy loads OpenBLAS, so rates are one core's and every MPI rank
uses one core), and Open MPI's consent to run as root."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
if os.geteuid() == 0:
    os.environ["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    os.environ["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
