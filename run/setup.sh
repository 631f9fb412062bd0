#!/usr/bin/env bash
# The quick start: install the Debian packages, build, and run the main job
# on an embedded default (no download): exact Hessian spectra of a small
# MLP over 8 mini-batches of synthetic Gaussian-class data, on 2 ranks in 2
# groups; spectra and provenance go to quickstart.h5, a summary is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash run/install-deps.sh
bash run/build.sh
source run/env.sh
RANKS="${HR_RANKS:-2}"
echo "== hessrmt quick start: mpirun -n $RANKS build/hessrmt hessian ..."
mpirun --oversubscribe -n "$RANKS" build/hessrmt hessian \
  --data synthetic --n 4096 --dim 20 --classes 4 --model mlp:20-64-4 \
  --batch-size 64 --max-batches 8 --groups "$RANKS" -o quickstart.h5
