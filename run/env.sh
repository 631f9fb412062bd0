# Source this before running hessrmt under MPI on a workstation or in CI:
# one thread per rank (ranks must not fight over cores), and Open MPI's
# consent to run as root (containers and CI run as root).
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
# More ranks than cores is fine for tests and small runs on a workstation;
# Open MPI refuses it unless told.
export OMPI_MCA_rmaps_base_oversubscribe="${OMPI_MCA_rmaps_base_oversubscribe:-1}"
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
