#!/usr/bin/env bash
# Configure and build hessrmt into build/ (or $HR_BUILD_DIR).
# Extra arguments go to cmake's configure step, e.g. -DHR_WERROR=ON.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR="${HR_BUILD_DIR:-build}"
cmake -S . -B "$BUILD_DIR" "$@"
cmake --build "$BUILD_DIR" -j "$(nproc)"
