#!/usr/bin/env bash
# `compressor info` and `optimize` on the demo and PaddleOCR models: the outputs pass the independent ONNX
# checker (python3-onnx) and give the same outputs as the input models in ONNX Runtime.
# Usage: ort_optimize_test.sh COMPRESSOR_BIN SOURCE_DIR     (exit 77 = skipped)
set -u
# shellcheck source=ort_testing.sh
source "$(dirname "${BASH_SOURCE[0]}")/ort_testing.sh"
ort_testing_setup "$@"
check() {  # name model compare-args...
  local name="$1" model="$2"
  shift 2
  local out="$tmp/$name.onnx"
  if ! "$bin" -q info "$model" >"$tmp/$name.info" 2>&1; then
    echo "FAIL $name: info failed: $(tail -1 "$tmp/$name.info")"
    failed=$((failed + 1))
    return
  fi
  if ! "$bin" -q optimize "$model" -o "$out" >"$tmp/$name.log" 2>&1; then
    echo "FAIL $name: optimize failed: $(tail -1 "$tmp/$name.log")"
    failed=$((failed + 1))
    return
  fi
  if ! /usr/bin/python3 "$src/tools/scripts/check_model.py" "$out" >"$tmp/$name.check" 2>&1; then
    echo "FAIL $name: $(cat "$tmp/$name.check")"
    failed=$((failed + 1))
    return
  fi
  if ! node "$src/tools/scripts/ort_compare.js" "$model" "$out" --rtol 1e-4 "$@" >"$tmp/$name.cmp" 2>&1; then
    echo "FAIL $name: $(tail -2 "$tmp/$name.cmp")"
    failed=$((failed + 1))
    return
  fi
  echo "ok   $name: $(grep -m1 '^output' "$tmp/$name.cmp")"
  passed=$((passed + 1))
}

for m in tiny_cnn tiny_transformer tiny_mlp; do
  check "$m" "$src/models/$m/model.onnx" --dim batch=4 --samples 2
done
if [ -f "$deps/ocr/det.onnx" ]; then
  # Image-like inputs: ImageNet-normalized pixels span about [-2.1, 2.6]. On [0, 1] noise the
  # detector's output is ~1e-4 everywhere and a relative error there says nothing.
  check ocr_det "$deps/ocr/det.onnx" --dim p2o.DynamicDimension.1=320 \
    --dim p2o.DynamicDimension.2=320 --input-range -2,2
  check ocr_rec "$deps/ocr/rec.onnx" --dim p2o.DynamicDimension.1=320 --input-range -1,1
  check ocr_cls "$deps/ocr/cls.onnx" --dim p2o.DynamicDimension.1=48 \
    --dim p2o.DynamicDimension.2=192 --input-range -1,1
else
  echo "note: OCR models not fetched; only demo models checked"
fi
# The lossy passes: what they write passes the checker, loads in ONNX Runtime, and ONNX Runtime
# agrees with our executor on it (the drift against the original is the CLI tests' business).
lossy() {  # name model passes compare-args...
  local name="$1" model="$2" passes="$3"
  shift 3
  local out="$tmp/$name.onnx"
  if ! "$bin" -q optimize "$model" -o "$out" --passes "$passes" --no-drift >"$tmp/$name.log" 2>&1; then
    echo "FAIL $name: optimize failed: $(tail -1 "$tmp/$name.log")"
    failed=$((failed + 1))
    return
  fi
  if ! /usr/bin/python3 "$src/tools/scripts/check_model.py" "$out" >"$tmp/$name.check" 2>&1; then
    echo "FAIL $name: $(cat "$tmp/$name.check")"
    failed=$((failed + 1))
    return
  fi
  if ! node "$src/tools/scripts/ort_compare.js" --executor "$bin" "$out" --rtol 1e-4 "$@" \
    >"$tmp/$name.cmp" 2>&1; then
    echo "FAIL $name: $(tail -2 "$tmp/$name.cmp")"
    failed=$((failed + 1))
    return
  fi
  echo "ok   $name: $(grep -m1 '^output' "$tmp/$name.cmp")"
  passed=$((passed + 1))
}
for m in tiny_cnn tiny_transformer tiny_mlp; do
  lossy "$m-prune" "$src/models/$m/model.onnx" 'prune-magnitude{sparsity=0.5}' --dim batch=4 --samples 2
  lossy "$m-quantize" "$src/models/$m/model.onnx" quantize-weights --dim batch=4 --samples 2
  lossy "$m-factorize" "$src/models/$m/model.onnx" factorize-svd --dim batch=4 --samples 2
done
if [ -f "$deps/ocr/rec.onnx" ]; then
  lossy ocr_rec-quantize "$deps/ocr/rec.onnx" 'constants-to-initializers,quantize-weights' \
    --dim p2o.DynamicDimension.1=320 --input-range -1,1
  lossy ocr_rec-factorize "$deps/ocr/rec.onnx" 'constants-to-initializers,factorize-svd' \
    --dim p2o.DynamicDimension.1=320 --input-range -1,1
fi
ort_testing_summary
