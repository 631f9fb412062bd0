#!/usr/bin/env bash
# Build the libFuzzer harnesses for the npy, IDX and CSV readers with clang
# (ASan + UBSan) and run each for a bounded time over a copy of its seed
# corpus (tests/fuzz/corpus/<format>/; new inputs never go into the repo).
#
# Usage: tests/fuzz/run_fuzz.sh [SECONDS [FORMAT...]]
#   SECONDS  per harness (default 60); FORMAT: npy idx csv (default all)
# Environment:
#   CC                 a clang with libFuzzer (default: clang)
#   HR_FUZZ_WORK       work directory (default: a new temporary one; kept,
#                      with its logs and crash inputs, when a harness fails)
#   HR_FUZZ_JOBS       parallel fuzzing processes per harness (default 1)
#   HR_FUZZ_REPLAY_CRASHES=1  first replay tests/fuzz/crashes/<format>-*
#                      (inputs that crashed a reader once) and fail if any
#                      still crashes
# Exit status: 0 clean, 1 a crash, leak, UB, timeout or broken property (its
# input's path and the sanitizer report are printed), 77 when clang or its
# libFuzzer runtime is missing (CTest's SKIP_RETURN_CODE), 2 usage/build.
#
# The readers need only io/infile.c, io/read_{npy,idx,csv}.c and
# src/core/error.c; they are compiled here directly, so the main CMake build is
# not touched.  MPI is linked (error.c refers to it) but never initialised.
set -euo pipefail

SECS=${1:-60}
shift || true
FORMATS=("$@")
[ ${#FORMATS[@]} -eq 0 ] && FORMATS=(npy idx csv)
case "$SECS" in ''|*[!0-9]*) echo "usage: $0 [SECONDS [npy|idx|csv ...]]" >&2; exit 2;; esac
for f in "${FORMATS[@]}"; do
  case "$f" in npy|idx|csv) ;; *) echo "$0: unknown format '$f'" >&2; exit 2;; esac
done

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CC=${CC:-clang}
JOBS=${HR_FUZZ_JOBS:-1}

if ! command -v "$CC" >/dev/null 2>&1; then
  echo "fuzz: $CC not found; skipping (install clang and libclang-rt-14-dev)"
  exit 77
fi

WORK=${HR_FUZZ_WORK:-}
if [ -z "$WORK" ]; then
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/hr_fuzz.XXXXXX")
fi
mkdir -p "$WORK"
KEEP=0
# The harnesses rewrite one input file per execution: keep it in memory
# (/dev/shm) when possible, it is about twice as fast as a disk.
SCRATCH=$(mktemp -d /dev/shm/hr_fuzz.XXXXXX 2>/dev/null || mktemp -d "$WORK/tmp.XXXXXX")
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  rm -rf "$SCRATCH"
  [ "$KEEP" = 1 ] || [ -n "${HR_FUZZ_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

# ---- does this clang have libFuzzer? -------------------------------------
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n)'\
' { (void)d; (void)n; return 0; }\n' > "$WORK/probe.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$WORK/probe.c" \
     -o "$WORK/probe" >"$WORK/probe.log" 2>&1; then
  echo "fuzz: $CC cannot link -fsanitize=fuzzer,address,undefined; skipping"
  echo "      (Debian: apt-get install clang libclang-rt-14-dev)"
  sed 's/^/      /' "$WORK/probe.log" | tail -5
  exit 77
fi

# ---- build ---------------------------------------------------------------
MPI_CFLAGS=$(mpicc -showme:compile 2>/dev/null || pkg-config --cflags ompi-c 2>/dev/null || true)
MPI_LIBS=$(mpicc -showme:link 2>/dev/null || pkg-config --libs ompi-c 2>/dev/null || echo -lmpi)
# shellcheck disable=SC2054  # the commas are in -fsanitize=
CFLAGS=(-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1
        -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
        -fno-sanitize-recover=all -Wall -Wextra
        -I"$ROOT/include" -I"$ROOT/io" -I"$HERE")
SOURCES=("$ROOT/io/infile.c" "$ROOT/io/read_npy.c" "$ROOT/io/read_idx.c"
         "$ROOT/io/read_csv.c" "$ROOT/src/core/error.c")
for f in "${FORMATS[@]}"; do
  # shellcheck disable=SC2086
  if ! "$CC" "${CFLAGS[@]}" $MPI_CFLAGS "$HERE/fuzz_$f.c" "${SOURCES[@]}" \
       -o "$WORK/fuzz_$f" $MPI_LIBS -lz -lm >"$WORK/build_$f.log" 2>&1; then
    echo "fuzz: building fuzz_$f failed:" >&2
    cat "$WORK/build_$f.log" >&2
    KEEP=1
    exit 2
  fi
done

# ---- run -----------------------------------------------------------------
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$HERE/lsan.supp:print_suppressions=0}
export TMPDIR="$SCRATCH"      # the harnesses write their input file here

# The crash report in a libFuzzer log: from the first sanitizer, libFuzzer
# (timeout, out-of-memory) or harness-property line on.
report() {
  local log=$1
  awk '/^==[0-9]+==.*(ERROR|WARNING)|runtime error:|hr_fuzz: property|ERROR: libFuzzer/ {p=1} p' "$log" | head -150
}

status=0
for f in "${FORMATS[@]}"; do
  bin="$WORK/fuzz_$f"
  if [ "${HR_FUZZ_REPLAY_CRASHES:-0}" = 1 ]; then
    for c in "$HERE"/crashes/"$f"-*; do
      [ -f "$c" ] || continue
      if ! "$bin" -runs=1 "$c" >"$WORK/replay.log" 2>&1; then
        echo "fuzz[$f]: known crash input still crashes: $c"
        report "$WORK/replay.log"
        status=1
      fi
    done
  fi

  corpus="$WORK/corpus/$f"
  art="$WORK/artifacts/$f"
  mkdir -p "$corpus" "$art"
  cp "$HERE/corpus/$f"/* "$corpus/"
  log="$WORK/fuzz_$f.log"
  echo "fuzz[$f]: ${SECS}s over $(find "$corpus" -type f | wc -l) seeds ..."
  rc=0
  if [ "$JOBS" -gt 1 ]; then
    (cd "$WORK" && "$bin" -max_total_time="$SECS" -max_len=4096 -timeout=10 \
       -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" \
       -jobs="$JOBS" -workers="$JOBS" "$corpus" >"$log" 2>&1) || rc=$?
    cat "$WORK"/fuzz-*.log >>"$log" 2>/dev/null || true
    rm -f "$WORK"/fuzz-*.log
  else
    "$bin" -max_total_time="$SECS" -max_len=4096 -timeout=10 \
      -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/" \
      "$corpus" >"$log" 2>&1 || rc=$?
  fi
  stats=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -1 || true)
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | tail -1 | awk '{print $2}' || true)
  echo "fuzz[$f]: ${stats:-no stats} (execs: ${execs:-?}, rc $rc)"
  crashes=$(ls "$art" 2>/dev/null || true)
  if [ "$rc" -ne 0 ] || [ -n "$crashes" ]; then
    status=1
    KEEP=1
    echo "fuzz[$f]: FAILED (rc $rc); log: $log"
    for c in $crashes; do echo "fuzz[$f]: crashing input: $art/$c"; done
    report "$log"
  fi
done

if [ "$status" -ne 0 ]; then
  echo "fuzz: failures; work directory kept: $WORK"
  echo "fuzz: reproduce with $WORK/fuzz_<format> <input>; minimise with" \
       "$WORK/fuzz_<format> -minimize_crash=1 -runs=10000 <input>"
else
  echo "fuzz: no crashes"
fi
exit $status
