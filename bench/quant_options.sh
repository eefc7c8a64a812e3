#!/usr/bin/env bash
# Drift of `compressor quantize` with each quality option, against plain static int8, on the demo
# models: tiny_cnn calibrated on 100 held-out digits and measured on 100 others (real data), and
# tiny_transformer on seeded random samples (32 for calibration, 32 others for drift). Prints one
# Markdown table per model.
#
#   bash bench/quant_options.sh [BUILD_DIR]
set -u
BUILD=${1:-build}
BIN=$(realpath "$BUILD/tools/compressor/compressor")
SRC=$(cd "$(dirname "$0")/.." && pwd)
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/quant_options.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

# shellcheck source=drift_table_lib.sh
source "$SRC/bench/drift_table_lib.sh"
digits_samples

CNN_DATA="--data $TMP/eval --labels $TMP/eval_labels.npy --calibration-data $TMP/calib"
table quantize "tiny_cnn, static int8 QDQ, per-channel weights" "$SRC/models/tiny_cnn/model.onnx" "$CNN_DATA" -- \
  "plain:" "--equalize:--equalize" "--bias-correction:--bias-correction" \
  "--equalize --bias-correction:--equalize --bias-correction" \
  "--calibration entropy:--calibration entropy" "--calibration mse:--calibration mse"
table quantize "tiny_cnn, static int8 QDQ, per-tensor weights" "$SRC/models/tiny_cnn/model.onnx" \
  "$CNN_DATA --no-per-channel" -- \
  "plain:" "--equalize:--equalize" "--bias-correction:--bias-correction" \
  "--equalize --bias-correction:--equalize --bias-correction"
TT_DATA="--samples 32 --seed 1 --calibration-samples 32"
table quantize "tiny_transformer, static int8 QDQ, per-tensor weights" \
  "$SRC/models/tiny_transformer/model.onnx" "$TT_DATA --no-per-channel" -- \
  "plain:" "--smooth-quant 0.5:--smooth-quant 0.5" "--smooth-quant 0.8:--smooth-quant 0.8" \
  "--bias-correction:--bias-correction" \
  "--smooth-quant 0.5 --bias-correction:--smooth-quant 0.5 --bias-correction"
