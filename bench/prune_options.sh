#!/usr/bin/env bash
# Drift of `compressor prune` with each criterion on the trained demo classifiers: calibrated on
# 100 held-out digits and measured on 100 others (real data). Prints one Markdown table per model
# and form (unstructured 50%, 2:4, structured channels).
#
#   bash bench/prune_options.sh [BUILD_DIR]
set -u
BUILD=${1:-build}
BIN=$(realpath "$BUILD/tools/compressor/compressor")
SRC=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/prune_options.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# shellcheck source=drift_table_lib.sh
source "$SRC/bench/drift_table_lib.sh"
digits_samples

for m in tiny_cnn tiny_mlp; do
  MODEL=$SRC/models/$m/model.onnx
  flat=""
  [[ $m == tiny_mlp ]] && flat=_flat
  DATA="--data $TMP/eval$flat --labels $TMP/eval_labels.npy"
  CAL="--calibration-data $TMP/calib$flat"
  table prune "$m, unstructured 50%" "$MODEL" "$DATA" -- \
    "magnitude:--sparsity 0.5" "wanda:--method wanda --sparsity 0.5 $CAL" \
    "sparsegpt:--method sparsegpt --sparsity 0.5 $CAL"
  table prune "$m, 2:4" "$MODEL" "$DATA" -- \
    "magnitude:--pattern 2:4" "wanda:--method wanda --pattern 2:4 $CAL" \
    "sparsegpt:--method sparsegpt --pattern 2:4 $CAL"
  table prune "$m, unstructured 70%" "$MODEL" "$DATA" -- \
    "magnitude:--sparsity 0.7" "wanda:--method wanda --sparsity 0.7 $CAL" \
    "sparsegpt:--method sparsegpt --sparsity 0.7 $CAL"
  table prune "$m, structured, 30% of the channels of every group" "$MODEL" "$DATA" -- \
    "l1:--structured channels --ratio 0.3" "l2:--structured channels --ratio 0.3 --criterion l2" \
    "bn_scale:--structured channels --ratio 0.3 --criterion bn_scale" \
    "activation:--structured channels --ratio 0.3 --criterion activation $CAL" \
    "l1 --reconstruct:--structured channels --ratio 0.3 --reconstruct $CAL" \
    "activation --reconstruct:--structured channels --ratio 0.3 --criterion activation --reconstruct $CAL"
  table prune "$m, structured to a budget of 60% of the parameters" "$MODEL" "$DATA" -- \
    "uniform --ratio 0.25:--structured channels --ratio 0.25" \
    "--target params_ratio=0.6:--structured channels --target params_ratio=0.6" \
    "--target params_ratio=0.6 --reconstruct:--structured channels --target params_ratio=0.6 --reconstruct $CAL"
done
