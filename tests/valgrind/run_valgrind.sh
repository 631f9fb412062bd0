#!/usr/bin/env bash
# Every command of hessrmt on one rank under valgrind's memcheck, on small
# inputs: no invalid read or write, no use of uninitialised values, and no
# memory of hessrmt's own definitely lost.  Open MPI, HDF5, OpenBLAS and
# ELPA allocate once per process and keep it; their reports are suppressed
# (Open MPI's own suppression file plus tests/valgrind/libs.supp).
#
# Usage: tests/valgrind/run_valgrind.sh HESSRMT [WORKDIR]
# Exit status: 0 clean, 1 a report (printed), 77 without valgrind (CTest's
# SKIP_RETURN_CODE).
set -euo pipefail

HESSRMT=$1
WORK=${2:-$(mktemp -d)}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PY=/usr/bin/python3

if ! command -v valgrind >/dev/null 2>&1; then
  echo "valgrind: not installed; skipping (apt-get install valgrind)"
  exit 77
fi
rm -rf "$WORK" && mkdir -p "$WORK" && cd "$WORK"

SUPP=(--suppressions="$HERE/libs.supp")
[ -f /usr/share/openmpi/openmpi-valgrind.supp ] &&
  SUPP+=(--suppressions=/usr/share/openmpi/openmpi-valgrind.supp)
# One rank without mpiexec (MPI's singleton start); no BLAS threads.
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1

# Small inputs: 60 rows of 5 features in 3 classes, and a loss history.
"$PY" - <<'EOF'
import numpy as np
rng = np.random.default_rng(5)
x = rng.normal(size=(60, 5))
y = rng.integers(0, 3, 60)
np.save("x.npy", x)
np.save("y.npy", y)
np.save("xi.npy", rng.normal(size=(60, 36)))  # 1x6x6 images
with open("history.csv", "w") as f:
    f.write("epoch,test_loss\n")
    for t in range(25):
        f.write(f"{t},{0.2 + 1.5 * np.exp(-0.3 * t) + 0.002 * np.sin(7 * t):.10g}\n")
EOF

failed=0
VG_ENV=(env)  # what `run` puts before valgrind
# run NAME STATUS ARGS...: hessrmt ARGS must exit with STATUS and memcheck
# must find nothing (its own exit status 99 says it did).
run() {
  local name=$1 want=$2
  shift 2
  local log="$WORK/$name.log" rc=0
  echo "valgrind: $name: hessrmt $*"
  # --trace-children: hessrmt re-executes itself where OpenBLAS picked
  # generic kernels (src/core/blas_core.c); the second start is checked too.
  "${VG_ENV[@]}" valgrind --tool=memcheck --trace-children=yes \
    --trace-children-skip="*/orted" --error-exitcode=99 --errors-for-leak-kinds=definite \
    --leak-check=full --show-leak-kinds=definite --track-origins=yes \
    --num-callers=30 "${SUPP[@]}" --log-file="$log" "$HESSRMT" "$@" \
    >"$WORK/$name.out" 2>&1 || rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "valgrind: $name FAILED (exit $rc, expected $want); report:"
    grep -v "^==[0-9]*== *$" "$log" | tail -60
    tail -5 "$WORK/$name.out"
    failed=1
  fi
}

DATA=(--data x.npy --labels y.npy --model mlp:5-4-3)
run ensemble 0 ensemble --n 60 --count 3 --no-stats -q -o ens.h5
run hessian 0 hessian "${DATA[@]}" --method dense --no-stats -q -o h.h5
run hessian_batches 0 hessian "${DATA[@]}" --batch-size 20 --method lowrank --no-stats -q -o hb.h5
run hessian_gram 0 hessian --data x.npy --labels y.npy --model logistic --batch-size 4 --max-batches 3 --method gram --no-stats -q -o hg.h5
run train 0 train "${DATA[@]}" --epochs 2 --batch-size 20 --history hist.csv -q -o w.h5
# a conv net through every layer kind and method, and its training
CNN=(--data xi.npy --labels y.npy --model "input 1x6x6, conv 2 3 pad 1, relu, maxpool 2 stride 1, conv 2 2 stride 2, tanh, avgpool 2, flatten, linear 3")
run hessian_conv 0 hessian "${CNN[@]}" --batch-size 20 --max-batches 1 --method dense --no-stats -q -o hc.h5
run hessian_conv_lowrank 0 hessian "${CNN[@]}" --batch-size 5 --max-batches 1 --method lowrank --no-stats -q -o hcl.h5
run hessian_conv_gram 0 hessian "${CNN[@]}" --batch-size 5 --max-batches 1 --part gn --method gram --no-stats -q -o hcg.h5
run train_conv 0 train "${CNN[@]}" --epochs 1 --batch-size 20 -q -o wc.h5
run stats 0 stats ens.h5 --json stats.json --plots plots
run relu_sim 0 relu-sim --n0 4 --n1 3 --n2 2 --m 10 --iters 50 --runs 1 -q -o relu.h5
run lossfit 0 lossfit history.csv --json fit.json
# merge needs job-array parts of one batch run
run part0 0 hessian "${DATA[@]}" --batch-size 20 --max-batches 2 --no-stats -q -o p0.h5
run part1 0 hessian "${DATA[@]}" --batch-size 20 --first-batch 2 --no-stats -q -o p1.h5
run merge 0 merge p0.h5 p1.h5 -o merged.h5
# the OpenBLAS core replaced (as on a CPU OpenBLAS does not know): the
# re-executed program runs under valgrind too (a process that left
# valgrind by exec writes no summary), and valgrind hides AVX-512
VG_ENV=(env -u OPENBLAS_CORETYPE HESSRMT_TEST_PRETEND_CORE=Prescott)
run reexec 0 ensemble --n 60 --count 1 --no-stats -o reexec.h5
VG_ENV=(env)
if ! grep -q "BLAS core Haswell (set by hessrmt; OpenBLAS chose Prescott)" "$WORK/reexec.out" ||
   ! grep -q "ERROR SUMMARY" "$WORK/reexec.log"; then
  echo "valgrind: reexec FAILED: the re-executed run was not under valgrind with Haswell:"
  head -5 "$WORK/reexec.out"
  failed=1
fi
# and one failing run: the error path frees what it took
run error_path 4 hessian --data missing.npy --labels y.npy --model mlp:5-4-3 -q -o bad.h5

if [ "$failed" -ne 0 ]; then exit 1; fi
echo "valgrind: all commands clean"
