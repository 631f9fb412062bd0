#!/usr/bin/env bash
# Runs the tutorial's steps (docs/tutorial.md) and keeps what the manual
# shows: small PNG figures in docs/figures/ and each step's output in
# docs/output/.  Rerun it after a change to the statistics or the figures:
#   bash run/make-doc-figures.sh            # about 3 minutes on 2 cores
# The program: $HESSRMT, else build/hessrmt; data: Debian's
# dataset-fashion-mnist (run/install-deps.sh installs it).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
source "$ROOT/run/env.sh"
BIN="${HESSRMT:-$ROOT/build/hessrmt}"
PY="${PYTHON:-/usr/bin/python3}"  # with torch (Debian's python3-torch)
FM="${HR_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
OUT="$ROOT/docs/output" FIG="$ROOT/docs/figures"
mkdir -p "$OUT" "$FIG"
SIZE=(--plot-width 640 --plot-height 400)
cd "$WORK"
run() {  # run NAME COMMAND...: the command's output into docs/output/NAME.txt
  local name="$1"; shift
  echo "== $name: $*"
  { echo "\$ ${*/#$BIN/hessrmt}"; "$@" 2>&1; } | sed "s|$WORK/||g; s|$BIN|hessrmt|g; s|$ROOT/||g" \
    | tee "$OUT/$name.txt"
}
IMG=(--data "$FM/train-images-idx3-ubyte.gz" --scale-pixels)
# 1. the paper's MLP, trained on Fashion-MNIST
run train mpirun -n 2 "$BIN" train "${IMG[@]}" --test-data "$FM/t10k-images-idx3-ubyte.gz" \
  --model mnist-mlp --epochs 3 --history mlp.csv -o mlp.h5
# 2. the exact spectrum of a whole-dataset Hessian: logistic regression on 10,000 images
run logistic mpirun -n 2 "$BIN" hessian "${IMG[@]}" --limit 10000 -o logistic.h5 \
  --plots logistic-figures "${SIZE[@]}"
# 3. batch-64 spectra of the trained MLP, and their statistics
run batches mpirun -n 2 "$BIN" hessian "${IMG[@]}" --weights mlp.h5 --batch-size 64 \
  --max-batches 16 --reduction sum -o mlp-batches.h5 --no-stats
run stats "$BIN" stats mlp-batches.h5 --json mlp-stats.json --plots mlp-figures "${SIZE[@]}"
# 4. a PyTorch model of one's own
"$PY" - <<'PY'
import torch
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 32),
                            torch.nn.ReLU(), torch.nn.Linear(32, 10))
torch.save(model, "my_model.pt")
PY
run convert "$PY" "$ROOT/run/torch/hessrmt_torch.py" to-hessrmt my_model.pt \
  --input 1x28x28 -o my_model.h5
run mine mpirun -n 2 "$BIN" hessian "${IMG[@]}" --weights my_model.h5 --batch-size 64 \
  --max-batches 8 -o mine.h5 --plots mine-figures "${SIZE[@]}"
rm -f "$FIG"/*.png
for f in density degeneracy spacings number_variance; do
  cp "logistic-figures/$f.png" "$FIG/logistic-$f.png"
done
for f in ratios density; do cp "mlp-figures/$f.png" "$FIG/mlp-$f.png"; done
cp mine-figures/ratios.png "$FIG/mine-ratios.png"
ls -l "$FIG"
