#!/usr/bin/env bash
# The quick-start job of run/setup.sh, in the current directory, on an
# embedded default (no download): the paper's workflow in small:
#   1. train an MLP on synthetic Gaussian-class data (data-parallel SGD);
#   2. take the exact Hessian spectra of the trained model over 8
#      mini-batches, on 2 ranks in 2 groups;
#   3. the random-matrix statistics of those spectra (printed at the end of
#      step 2; figures in quickstart-figures/, JSON in quickstart-stats.json).
# The program: $HESSRMT, else the source tree's build/hessrmt.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/env.sh"
BIN="${HESSRMT:-$HERE/../build/hessrmt}"
RANKS="${HR_RANKS:-2}"
DATA=(--data synthetic --n 4096 --dim 20 --classes 4 --model mlp:20-64-4)
echo "== 1. mpirun -n $RANKS hessrmt train ..."
mpirun --oversubscribe -n "$RANKS" "$BIN" train "${DATA[@]}" \
  --epochs 5 --history quickstart-history.csv -o quickstart-weights.h5
echo "== 2-3. mpirun -n $RANKS hessrmt hessian --weights quickstart-weights.h5 ..."
mpirun --oversubscribe -n "$RANKS" "$BIN" hessian "${DATA[@]}" \
  --weights quickstart-weights.h5 --batch-size 64 --max-batches 8 \
  --groups "$RANKS" -o quickstart.h5 \
  --json quickstart-stats.json --plots quickstart-figures
