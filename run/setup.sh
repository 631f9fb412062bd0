#!/usr/bin/env bash
# The quick start: install the Debian packages, build, and run the main job
# on an embedded default (no download): a GOE ensemble on 2 ranks, whose
# spectra and provenance go to quickstart.h5 and whose summary is printed.
set -euo pipefail
cd "$(dirname "$0")/.."
bash run/install-deps.sh
bash run/build.sh
source run/env.sh
RANKS="${HR_RANKS:-2}"
echo "== hessrmt quick start: mpirun -n $RANKS build/hessrmt ensemble ..."
mpirun --oversubscribe -n "$RANKS" build/hessrmt ensemble \
  --kind goe --n 2000 --count 4 --seed 1 -o quickstart.h5
