#!/usr/bin/env bash
# `compressor quantize` in every mode on the demo and PaddleOCR models: the output passes the
# independent ONNX checker (python3-onnx), loads in ONNX Runtime with all graph optimizations
# (its QDQ fusions), and ONNX Runtime's outputs agree with our executor's on the same quantized
# model (cosine >= 0.999). Static modes use --reduce-range: without VNNI, ONNX Runtime's fused int8
# kernels saturate their 16-bit intermediate sums with full-range 8-bit weights and then compute
# something other than the model's QDQ semantics (README, "compressor quantize").
# Usage: ort_quantize_test.sh COMPRESSOR_BIN SOURCE_DIR     (exit 77 = skipped)
set -u
# shellcheck source=ort_testing.sh
source "$(dirname "${BASH_SOURCE[0]}")/ort_testing.sh"
ort_testing_setup "$@"
quant() {  # name model "quantize options" "dims and ranges for both tools"
  local drift="--no-drift"
  # --auto-fallback measures drift against its gate.
  [[ $3 == *--auto-fallback* ]] && drift=""
  compress_and_compare "$1" quantize "$2" "$3 $drift" "$4" --min-cosine 0.999
}

modes=("static:--mode static --reduce-range" "qoperator:--mode static --format qoperator --reduce-range"
       "dynamic:--mode dynamic"
       "weights:--mode weight-only")
for m in tiny_cnn tiny_transformer tiny_mlp; do
  for entry in "${modes[@]}"; do
    quant "$m-${entry%%:*}" "$src/models/$m/model.onnx" "${entry#*:}" "--dim batch=2"
  done
done
# A mixed-precision model from --auto-fallback: some layers int8, the ones that cost the most
# accuracy left in float.
quant "tiny_transformer-fallback" "$src/models/tiny_transformer/model.onnx" \
  "--mode static --reduce-range --auto-fallback --gate cosine>=0.9997" "--dim batch=2"
# The quality options: their rewrites must run in ONNX Runtime too.
quant "tiny_cnn-equalize-bias" "$src/models/tiny_cnn/model.onnx" \
  "--mode static --reduce-range --equalize --bias-correction" "--dim batch=2"
quant "tiny_transformer-smooth-bias" "$src/models/tiny_transformer/model.onnx" \
  "--mode static --reduce-range --smooth-quant 0.5 --bias-correction" "--dim batch=2"
quant "tiny_mlp-dynamic-bias" "$src/models/tiny_mlp/model.onnx" \
  "--mode dynamic --bias-correction" "--dim batch=2"
# Asymmetric weights (a zero point per tensor) in every integer form: Conv and MatMul units, the
# QLinear ops, ConvInteger and MatMulInteger.
for m in tiny_cnn tiny_transformer; do
  for entry in "static:--mode static --reduce-range" "qoperator:--mode static --format qoperator --reduce-range" \
    "dynamic:--mode dynamic"; do
    quant "$m-${entry%%:*}-asymmetric" "$src/models/$m/model.onnx" \
      "${entry#*:} --no-per-channel --asymmetric-weights" "--dim batch=2"
  done
done
if [ -f "$deps/ocr/det.onnx" ]; then
  for entry in "${modes[@]}"; do
    quant "ocr_det-${entry%%:*}" "$deps/ocr/det.onnx" "${entry#*:}" \
      "--dim p2o.DynamicDimension.1=160 --dim p2o.DynamicDimension.2=160 --input-pattern document"
    # rec and cls import opset 9. Per-channel scales move them to opset 13 (their Softmax
    # ranks measured on one run, see convert-opset); these rows check per-tensor scales, the
    # per-channel forms follow.
    quant "ocr_rec-${entry%%:*}" "$deps/ocr/rec.onnx" "${entry#*:} --no-per-channel" \
      "--dim p2o.DynamicDimension.1=160 --input-range -1,1"
    quant "ocr_cls-${entry%%:*}" "$deps/ocr/cls.onnx" "${entry#*:} --no-per-channel" \
      "--dim p2o.DynamicDimension.1=48 --dim p2o.DynamicDimension.2=192 --input-range -1,1"
  done
  # Per-channel static rec and equalized det amplify a single value rounded one step apart into
  # output cosines of 0.97-0.999. They agree with ONNX Runtime since the executor runs QDQ Conv
  # and MatMul units on integers, as ONNX Runtime's fused kernels do (src/exec/qdq_units.h; 20
  # seeds each in docs/quantization.md).
  quant "ocr_rec-static-per-channel" "$deps/ocr/rec.onnx" "--mode static --reduce-range" \
    "--dim p2o.DynamicDimension.1=160 --input-range -1,1"
  quant "ocr_det-equalize" "$deps/ocr/det.onnx" "--mode static --reduce-range --equalize" \
    "--dim p2o.DynamicDimension.1=160 --dim p2o.DynamicDimension.2=160 --input-pattern document"
  quant "ocr_rec-weights-per-channel" "$deps/ocr/rec.onnx" "--mode weight-only" \
    "--dim p2o.DynamicDimension.1=160 --input-range -1,1"
  quant "ocr_cls-dynamic-per-channel" "$deps/ocr/cls.onnx" "--mode dynamic" \
    "--dim p2o.DynamicDimension.1=48 --dim p2o.DynamicDimension.2=192 --input-range -1,1"
  # cls's wide depthwise layers keep float16 weight scales behind a Cast (the default), which
  # ONNX Runtime folds when it loads the model (QLinearConv reads them too, with a scalar zero
  # point); --float32-scales writes plain float32 scales.
  for entry in "static:--mode static --reduce-range" "weights:--mode weight-only" \
    "qoperator:--mode static --format qoperator --reduce-range"; do
    quant "ocr_cls-${entry%%:*}-per-channel" "$deps/ocr/cls.onnx" "${entry#*:}" \
      "--dim p2o.DynamicDimension.1=48 --dim p2o.DynamicDimension.2=192 --input-range -1,1"
  done
  quant "ocr_det-bias" "$deps/ocr/det.onnx" "--mode static --reduce-range --bias-correction" \
    "--dim p2o.DynamicDimension.1=160 --dim p2o.DynamicDimension.2=160 --input-pattern document"
  quant "ocr_rec-smooth-bias" "$deps/ocr/rec.onnx" \
    "--mode static --reduce-range --no-per-channel --smooth-quant 0.5 --bias-correction" \
    "--dim p2o.DynamicDimension.1=160 --input-range -1,1"
  # The clipping calibrations: ranges narrower than min-max, the same integer units (cls with
  # uint8 activations, which ONNX Runtime fuses in every unit).
  quant "ocr_cls-entropy" "$deps/ocr/cls.onnx" \
    "--mode static --reduce-range --calibration entropy --activation-type uint8" \
    "--dim p2o.DynamicDimension.1=48 --dim p2o.DynamicDimension.2=192 --input-range -1,1"
  quant "ocr_rec-mse" "$deps/ocr/rec.onnx" "--mode static --reduce-range --calibration mse" \
    "--dim p2o.DynamicDimension.1=160 --input-range -1,1"
else
  echo "note: OCR models not fetched; only demo models checked"
fi
# Near half-step requantizations: ONNX Runtime's fused QLinearConv and our executor's integer
# unit round them alike, bit for bit, while ONNX Runtime's float evaluation of the same unit
# (no graph optimizations) rounds some of them the other way, which shows the inputs reach them.
tie="$tmp/near_tie_unit.onnx"
if ! /usr/bin/python3 "$src/tests/integration/make_near_tie_unit.py" "$tie" >"$tmp/tie.log" 2>&1; then
  echo "FAIL near-tie unit: cannot write the model: $(tail -1 "$tmp/tie.log")"
  failed=$((failed + 1))
elif ! node "$src/tools/scripts/ort_compare.js" --executor "$bin" "$tie" --ort-optimize --rtol 0 \
  --input-range -40,40 --samples 3 >"$tmp/tie.cmp" 2>&1; then
  echo "FAIL near-tie unit, fused: $(tail -2 "$tmp/tie.cmp")"
  failed=$((failed + 1))
elif node "$src/tools/scripts/ort_compare.js" --executor "$bin" "$tie" --rtol 0 \
  --input-range -40,40 --samples 3 >"$tmp/tie_float.cmp" 2>&1; then
  echo "FAIL near-tie unit: ONNX Runtime's float evaluation met no near tie; the test checks nothing"
  failed=$((failed + 1))
else
  echo "ok   near-tie unit: fused equal bit for bit, float evaluation differs"
  passed=$((passed + 1))
fi
ort_testing_summary
