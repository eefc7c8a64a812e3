#!/usr/bin/env bash
# `compressor prune` in every form on the demo models and PaddleOCR det and cls: the output passes
# the independent ONNX checker (python3-onnx), loads in ONNX Runtime with all graph optimizations,
# and ONNX Runtime's outputs match our executor's on the same pruned model (relative L2 <= 1e-4:
# pruned models are float models). det's output is a probability map that pruning without
# recovery drives to nearly zero everywhere on synthetic pages, where a relative difference is
# rounding noise: there an absolute difference of at most 1e-5 passes too.
# Usage: ort_prune_test.sh COMPRESSOR_BIN SOURCE_DIR     (exit 77 = skipped)
set -u
# shellcheck source=ort_testing.sh
source "$(dirname "${BASH_SOURCE[0]}")/ort_testing.sh"
ort_testing_setup "$@"
prune() {  # name model "prune options" "dims and ranges for both tools"
  compress_and_compare "$1" prune "$2" "$3 --no-drift" "$4"
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
ort_testing_summary
