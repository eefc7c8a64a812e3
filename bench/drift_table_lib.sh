# Shared by bench/quant_options.sh and bench/prune_options.sh (sourced, not run): held-out digits
# as sample folders, and one Markdown drift table per model from `compressor COMMAND` variants.
# Expects BIN, SRC, PY and TMP to be set.

# Held-out digits: 100 for calibration ($TMP/calib), 100 others for drift ($TMP/eval, with
# labels in $TMP/eval_labels.npy); the same as [1, 64] rows for the MLP in $TMP/calib_flat and
# $TMP/eval_flat.
digits_samples() {
  local images="$SRC/models/digits_eval/images.npy"
  $PY "$SRC/tools/scripts/npy_to_samples.py" "$TMP/calib" "input=$images" --count 100 >/dev/null || exit 1
  $PY "$SRC/tools/scripts/npy_to_samples.py" "$TMP/eval" "input=$images" --start 100 --count 100 \
    >/dev/null || exit 1
  $PY "$SRC/tools/scripts/npy_to_samples.py" "$TMP/calib_flat" "input=$images" --count 100 \
    --reshape input=1,64 >/dev/null || exit 1
  $PY "$SRC/tools/scripts/npy_to_samples.py" "$TMP/eval_flat" "input=$images" --start 100 \
    --count 100 --reshape input=1,64 >/dev/null || exit 1
  $PY -c "import numpy as np,sys; np.save(sys.argv[2], np.load(sys.argv[1])[100:200])" \
    "$SRC/models/digits_eval/labels.npy" "$TMP/eval_labels.npy" || exit 1
}

table() {  # COMMAND TITLE MODEL DATA_OPTIONS -- VARIANTS (label:options ...)
  local command=$1 title=$2 model=$3 data=$4
  shift 5
  echo "**$title**"
  echo
  echo "| options | cosine | rel_l2 | snr_db | max_abs | top-1 agreement | accuracy drop | params | MACs |"
  echo "|---|---|---|---|---|---|---|---|---|"
  local v
  for v in "$@"; do
    local label=${v%%:*} opts=${v#*:} n=$((${n:-0} + 1))
    # shellcheck disable=SC2086
    if "$BIN" -q "$command" "$model" -o "$TMP/$n.onnx" $data $opts --report "$TMP/$n.json" \
      >"$TMP/$n.log" 2>&1; then
      $PY - "$TMP/$n.json" "$label" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1]))
m = next(iter(r["drift"].values()))
f = lambda k, fmt: (fmt % m[k]) if m.get(k) is not None else "-"
ratio = lambda k: "%.3f" % (r["output"][k] / r["model"][k]) if r["model"][k] else "-"
print(f"| {sys.argv[2]} | {f('cosine', '%.6f')} | {f('rel_l2', '%.4f')} | {f('snr_db', '%.2f')} "
      f"| {f('max_abs', '%.4f')} | {f('top1_agreement', '%.3f')} | {f('accuracy_drop', '%.3f')} "
      f"| {ratio('params')} | {ratio('macs')} |")
PYEOF
    else
      echo "| $label | failed: $(tail -1 "$TMP/$n.log") | | | | | | | |"
    fi
  done
  echo
}
