#!/usr/bin/env bash
# Install the Debian packages, build with warnings as errors, and run the
# whole test suite (unit, MPI at 1/2/4 ranks, end-to-end) with CTest.
# HR_SKIP_INSTALL=1 skips the package step on a machine already set up.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${HR_SKIP_INSTALL:-0}" != 1 ]; then bash run/install-deps.sh; fi
HR_BUILD_DIR="${HR_BUILD_DIR:-build}" bash run/build.sh -DHR_WERROR=ON
source run/env.sh
cd "${HR_BUILD_DIR:-build}"
ctest --output-on-failure --timeout 900
