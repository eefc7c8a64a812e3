#!/usr/bin/env bash
# `compressor prune` in every form on the demo models and PaddleOCR det and cls: the output passes
# the independent ONNX checker (python3-onnx), loads in ONNX Runtime with all graph optimizations,
# and ONNX Runtime's outputs match our executor's on the same pruned model (relative L2 <= 1e-4:
# pruned models are float models). det's output is a probability map that pruning without
# recovery drives to nearly zero everywhere on synthetic pages, where a relative difference is
# rounding noise: there an absolute difference of at most 1e-5 passes too.
# Usage: ort_prune_test.sh COMPRESSOR_BIN SOURCE_DIR     (exit 77 = skipped)
set -u
bin="$1"
src="$2"
deps="${COMPRESSOR_DEPS_DIR:-$src/.deps}"
export COMPRESSOR_DEPS_DIR="$deps"
if ! command -v node >/dev/null || [ ! -d "$deps/node_modules/onnxruntime-node" ]; then
  echo "skipped: onnxruntime-node not fetched (tools/scripts/fetch_test_deps.sh)"
  exit 77
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
prune() {  # name model "prune options" "dims and ranges for both tools"
  local name="$1" model="$2" popts="$3" common="$4"
  local out="$tmp/$name.onnx"
  # shellcheck disable=SC2086
  if ! "$bin" -q prune "$model" -o "$out" $popts --no-drift --samples 4 \
    $(echo "$common" | sed 's/--input-range/--random-range/; s/--input-pattern document/--random-range -2,2/; s/--atol [^ ]*//') \
    >"$tmp/$name.log" 2>&1; then
    echo "FAIL $name: prune failed: $(tail -1 "$tmp/$name.log")"
    failed=$((failed + 1))
    return
  fi
  if ! /usr/bin/python3 "$src/tools/scripts/check_model.py" "$out" >"$tmp/$name.check" 2>&1; then
    echo "FAIL $name: $(cat "$tmp/$name.check")"
    failed=$((failed + 1))
    return
  fi
  # shellcheck disable=SC2086
  if ! node "$src/tools/scripts/ort_compare.js" --executor "$bin" "$out" --ort-optimize \
    --samples 2 $common >"$tmp/$name.cmp" 2>&1; then
    echo "FAIL $name: $(tail -2 "$tmp/$name.cmp")"
    failed=$((failed + 1))
    return
  fi
  echo "ok   $name: $(grep -m1 '^output' "$tmp/$name.cmp")"
  passed=$((passed + 1))
}

forms=("magnitude:--sparsity 0.5"
       "wanda:--method wanda --sparsity 0.5"
       "sparsegpt:--method sparsegpt --sparsity 0.5"
       "2of4:--pattern 2:4"
       "sparse-storage:--sparsity 0.8 --sparse-storage"
       "channels:--structured channels --ratio 0.3")
for m in tiny_cnn tiny_transformer tiny_mlp; do
  for entry in "${forms[@]}"; do
    prune "$m-${entry%%:*}" "$src/models/$m/model.onnx" "${entry#*:}" "--dim batch=2"
  done
done
if [ -f "$deps/ocr/det.onnx" ]; then
  for entry in "${forms[@]}"; do
    prune "ocr_det-${entry%%:*}" "$deps/ocr/det.onnx" "${entry#*:}" \
      "--dim p2o.DynamicDimension.1=160 --dim p2o.DynamicDimension.2=160 --input-pattern document --atol 1e-5"
    prune "ocr_cls-${entry%%:*}" "$deps/ocr/cls.onnx" "${entry#*:}" \
      "--dim p2o.DynamicDimension.1=48 --dim p2o.DynamicDimension.2=192 --input-range -1,1"
  done
else
  echo "note: OCR models not fetched; only demo models checked"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
