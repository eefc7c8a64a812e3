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

$PY "$SRC/tools/scripts/npy_to_samples.py" "$TMP/calib" "input=$SRC/models/digits_eval/images.npy" \
  --count 100 >/dev/null || exit 1
$PY "$SRC/tools/scripts/npy_to_samples.py" "$TMP/eval" "input=$SRC/models/digits_eval/images.npy" \
  --start 100 --count 100 >/dev/null || exit 1
$PY -c "import numpy as np,sys; np.save(sys.argv[2], np.load(sys.argv[1])[100:200])" \
  "$SRC/models/digits_eval/labels.npy" "$TMP/eval_labels.npy" || exit 1

table() {  # TITLE MODEL DATA_OPTIONS -- VARIANTS (label:options ...)
  local title=$1 model=$2 data=$3
  shift 4
  echo "**$title**"
  echo
  echo "| options | cosine | rel_l2 | snr_db | max_abs | top-1 agreement | accuracy drop |"
  echo "|---|---|---|---|---|---|---|"
  local v
  for v in "$@"; do
    local label=${v%%:*} opts=${v#*:} n=$((${n:-0} + 1))
    # shellcheck disable=SC2086
    if "$BIN" -q quantize "$model" -o "$TMP/$n.onnx" $data $opts --report "$TMP/$n.json" \
      >"$TMP/$n.log" 2>&1; then
      $PY - "$TMP/$n.json" "$label" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
m = next(iter(r["drift"].values()))
f = lambda k, fmt: (fmt % m[k]) if m.get(k) is not None else "-"
print(f"| {sys.argv[2]} | {f('cosine', '%.6f')} | {f('rel_l2', '%.4f')} | {f('snr_db', '%.2f')} "
      f"| {f('max_abs', '%.4f')} | {f('top1_agreement', '%.3f')} | {f('accuracy_drop', '%.3f')} |")
PYEOF
    else
      echo "| $label | failed: $(tail -1 "$TMP/$n.log") | | | | | |"
    fi
  done
  echo
}

CNN_DATA="--data $TMP/eval --labels $TMP/eval_labels.npy --calibration-data $TMP/calib"
table "tiny_cnn, static int8 QDQ, per-channel weights" "$SRC/models/tiny_cnn/model.onnx" "$CNN_DATA" -- \
  "plain:" "--equalize:--equalize" "--bias-correction:--bias-correction" \
  "--equalize --bias-correction:--equalize --bias-correction" \
  "--calibration entropy:--calibration entropy" "--calibration mse:--calibration mse"
table "tiny_cnn, static int8 QDQ, per-tensor weights" "$SRC/models/tiny_cnn/model.onnx" \
  "$CNN_DATA --no-per-channel" -- \
  "plain:" "--equalize:--equalize" "--bias-correction:--bias-correction" \
  "--equalize --bias-correction:--equalize --bias-correction"
TT_DATA="--samples 32 --seed 1 --calibration-samples 32"
table "tiny_transformer, static int8 QDQ, per-tensor weights" \
  "$SRC/models/tiny_transformer/model.onnx" "$TT_DATA --no-per-channel" -- \
  "plain:" "--smooth-quant 0.5:--smooth-quant 0.5" "--smooth-quant 0.8:--smooth-quant 0.8" \
  "--bias-correction:--bias-correction" \
  "--smooth-quant 0.5 --bias-correction:--smooth-quant 0.5 --bias-correction"
