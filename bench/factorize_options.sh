#!/usr/bin/env bash
# Drift of `compressor factorize` with each rank rule on the trained demo classifiers: calibrated
# on 100 held-out digits and measured on 100 others (real data). Prints one Markdown table per
# model and question: plain against data-aware SVD at the same ranks, and the rank rules at a
# budget of 60% of the parameters.
#
#   bash bench/factorize_options.sh [BUILD_DIR]
set -u
BUILD=${1:-build}
BIN=$(realpath "$BUILD/tools/compressor/compressor")
SRC=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/factorize_options.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# shellcheck source=drift_table_lib.sh
source "$SRC/bench/drift_table_lib.sh"
digits_samples
# The transformer reads [batch, 8, 8].
images="$SRC/models/digits_eval/images.npy"
$PY "$SRC/tools/scripts/npy_to_samples.py" "$TMP/calib_tr" "input=$images" --count 100 \
  --reshape input=1,8,8 >/dev/null || exit 1
$PY "$SRC/tools/scripts/npy_to_samples.py" "$TMP/eval_tr" "input=$images" --start 100 --count 100 \
  --reshape input=1,8,8 >/dev/null || exit 1

for m in tiny_transformer tiny_mlp tiny_cnn; do
  MODEL=$SRC/models/$m/model.onnx
  suffix=""
  [[ $m == tiny_mlp ]] && suffix=_flat
  [[ $m == tiny_transformer ]] && suffix=_tr
  DATA="--data $TMP/eval$suffix --labels $TMP/eval_labels.npy"
  CAL="--calibration-data $TMP/calib$suffix"
  CONV=""
  [[ $m == tiny_cnn ]] && CONV="--conv auto"
  # Uniform rules, each at the loosest setting that stays within 60% of the parameters.
  case $m in
    tiny_transformer) RULES=("--rank-ratio 0.3:--rank-ratio 0.3" "--energy 0.7:--energy 0.7") ;;
    tiny_mlp) RULES=("--rank-ratio 0.375:--rank-ratio 0.375" "--energy 0.9:--energy 0.9") ;;
    tiny_cnn) RULES=("--rank-ratio 0.5:--rank-ratio 0.5 $CONV" "--energy 0.8:--energy 0.8 $CONV") ;;
  esac
  table factorize "$m, plain against data-aware SVD at the same ranks" "$MODEL" "$DATA" -- \
    "--rank-ratio 0.5:--rank-ratio 0.5 $CONV" "--rank-ratio 0.5 --data-aware:--rank-ratio 0.5 --data-aware $CAL $CONV" \
    "--rank-ratio 0.375:--rank-ratio 0.375 $CONV" "--rank-ratio 0.375 --data-aware:--rank-ratio 0.375 --data-aware $CAL $CONV" \
    "--rank-ratio 0.25:--rank-ratio 0.25 $CONV" "--rank-ratio 0.25 --data-aware:--rank-ratio 0.25 --data-aware $CAL $CONV"
  table factorize "$m, rank rules at a budget of 60% of the parameters" "$MODEL" "$DATA" -- \
    "${RULES[@]}" \
    "--target params_ratio=0.6:--target params_ratio=0.6 $CONV" \
    "--target params_ratio=0.6 --data-aware:--target params_ratio=0.6 --data-aware $CAL $CONV"
done
