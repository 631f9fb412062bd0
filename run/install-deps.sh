#!/usr/bin/env bash
# Install every Debian package hessrmt needs to build, test and make figures.
# Works as root on a fresh Debian 12 machine, non-interactively; uses sudo otherwise.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

PACKAGES=(
  build-essential cmake pkg-config
  openmpi-bin libopenmpi-dev            # MPI (C bindings, mpiexec)
  libscalapack-openmpi-dev              # ScaLAPACK + BLACS
  libelpa-dev                           # ELPA eigensolver
  libhdf5-openmpi-dev hdf5-tools        # parallel HDF5 (+ h5dump for tests)
  libopenblas-dev liblapack-dev         # BLAS / LAPACK
  libgsl-dev                            # special functions, RNG, fitting
  zlib1g-dev                            # .gz inputs
  libjansson-dev                        # JSON output
  libplplot-dev plplot-driver-cairo     # figures (optional at build time)
  python3-numpy python3-h5py            # independent references in tests
  python3-plplot                        # figures of run/scaling.py
  python3-torch                         # float64 autograd reference, converter (run/torch)
  clang libclang-rt-14-dev              # libFuzzer harnesses (tests/fuzz)
  valgrind                              # memcheck of every command (tests/valgrind)
  dataset-fashion-mnist                 # real data for tests and benchmarks
)

$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${PACKAGES[@]}"
