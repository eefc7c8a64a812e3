#!/usr/bin/env bash
# The reference executor against ONNX Runtime: the demo models and PP-OCRv4 det, rec and cls give
# the same outputs in `compressor exec` as in onnxruntime-node on the same seeded inputs
# (relative L2 error per output <= 1e-4).
# Usage: ort_executor_test.sh COMPRESSOR_BIN SOURCE_DIR     (exit 77 = skipped)
set -u
# shellcheck source=ort_testing.sh
source "$(dirname "${BASH_SOURCE[0]}")/ort_testing.sh"
ort_testing_setup "$@"
check() {  # name model compare-args...
  local name="$1" model="$2"
  shift 2
  local log
  if log=$(node "$src/tools/scripts/ort_compare.js" --executor "$bin" "$model" --rtol 1e-4 "$@" 2>&1); then
    echo "ok   $name: $(grep '^output' <<<"$log" | tr '\n' ' ')"
    passed=$((passed + 1))
  else
    echo "FAIL $name: $(tail -3 <<<"$log")"
    failed=$((failed + 1))
  fi
}

for m in tiny_cnn tiny_transformer tiny_mlp; do
  check "$m" "$src/models/$m/model.onnx" --dim batch=4 --samples 2
done
if [ -f "$deps/ocr/det.onnx" ]; then
  # Synthetic pages (dark strokes in lines on white, ImageNet-normalized): on noise the detector's
  # probabilities are ~1e-6 everywhere, where a relative error measures only rounding.
  check ocr_det_320 "$deps/ocr/det.onnx" --dim p2o.DynamicDimension.1=320 \
    --dim p2o.DynamicDimension.2=320 --input-pattern document --samples 2
  check ocr_det_224x416 "$deps/ocr/det.onnx" --dim p2o.DynamicDimension.1=224 \
    --dim p2o.DynamicDimension.2=416 --input-pattern document --seed 7
  check ocr_rec "$deps/ocr/rec.onnx" --dim p2o.DynamicDimension.1=320 --input-pattern document \
    --samples 2
  check ocr_rec_noise "$deps/ocr/rec.onnx" --dim p2o.DynamicDimension.1=160 --input-range -1,1
  check ocr_cls "$deps/ocr/cls.onnx" --dim p2o.DynamicDimension.1=48 \
    --dim p2o.DynamicDimension.2=192 --input-pattern document --samples 2
else
  echo "note: OCR models not fetched; only demo models checked"
fi
ort_testing_summary
