#!/usr/bin/env bash
# Reproduce the paper's experiments with hessrmt (see reproduce.py --help):
#   run/paper/reproduce.sh [--scale tiny|quick|full] [--out DIR] [--ranks P]
#                          [--mnist DIR] [--cifar DIR] [--resnet DIR] [--bike hour.csv]
# Finds the program through $HESSRMT, else `hessrmt` on PATH, else build/.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
source "$HERE/../env.sh"
export HESSRMT="${HESSRMT:-$(command -v hessrmt || echo "$HERE/../../build/hessrmt")}"
# Debian's python3, which has numpy (run/install-deps.sh installs it).
exec "${HR_PYTHON:-/usr/bin/python3}" "$HERE/reproduce.py" "$@"
