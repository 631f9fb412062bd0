#!/usr/bin/env bash
# The quick start: install the Debian packages, build into build/, and run
# the main job on an embedded default (no download): run/quickstart.sh,
# the paper's workflow in small (train an MLP, take the exact Hessian
# spectra of 8 of its mini-batches, test them against random matrix
# theory), writing quickstart* files into the source tree's root.
set -euo pipefail
cd "$(dirname "$0")/.."
bash run/install-deps.sh
bash run/build.sh
bash run/quickstart.sh
