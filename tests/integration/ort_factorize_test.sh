#!/usr/bin/env bash
# `compressor factorize` in every form on the demo models and PaddleOCR det, rec (its MatMul-heavy
# sequence head) and cls: the output passes the independent ONNX checker (python3-onnx), loads in
# ONNX Runtime with all graph optimizations, and ONNX Runtime's outputs match our executor's on
# the same factorized model (relative L2 <= 1e-4: factorized models are float models). det's
# output is a probability map that heavy factorization drives to nearly zero on synthetic pages,
# where a relative difference is rounding noise: there an absolute difference of at most 1e-5
# passes too.
# Usage: ort_factorize_test.sh COMPRESSOR_BIN SOURCE_DIR     (exit 77 = skipped)
set -u
# shellcheck source=ort_testing.sh
source "$(dirname "${BASH_SOURCE[0]}")/ort_testing.sh"
ort_testing_setup "$@"
factorize() {  # name model "factorize options" "dims and ranges for both tools"
  compress_and_compare "$1" factorize "$2" "$3" "$4"
}

forms=("rank-ratio:--rank-ratio 0.25 --no-drift"
       "energy:--energy 0.9 --no-drift"
       "spatial:--conv spatial --rank-ratio 0.25 --no-drift"
       "auto:--conv auto --energy 0.8 --no-drift"
       "round-to:--rank-ratio 0.2 --round-to 4 --no-drift"
       "randomized:--svd randomized --rank-ratio 0.25 --no-drift"
       "data-aware:--data-aware --rank-ratio 0.25"
       "target:--target params_ratio=0.6")
for m in tiny_cnn tiny_transformer tiny_mlp; do
  for entry in "${forms[@]}"; do
    factorize "$m-${entry%%:*}" "$src/models/$m/model.onnx" "${entry#*:}" "--dim batch=2"
  done
done
# A recipe that prunes, factorizes and quantizes (`compressor run`): what it writes runs in ONNX
# Runtime like each pass's output alone (int8 as ort_quantize_test.sh holds it: 7-bit ranges,
# outputs at cosine >= 0.999).
cat >"$tmp/chain.json" <<'EOF'
{"data": {"samples": 4, "dims": {"batch": 2}},
 "passes": ["constants-to-initializers", "eliminate-identity", "eliminate-dead-nodes",
            {"pass": "prune-channels", "options": {"ratio": 0.25}}, "fold-batchnorm",
            "eliminate-dead-nodes", {"pass": "factorize-svd", "options": {"energy": 0.95}},
            {"pass": "convert-opset", "options": {"opset": 13}},
            {"pass": "quantize-static", "options": {"reduce_range": true}}]}
EOF
for m in tiny_cnn tiny_transformer; do
  if "$bin" -q run "$tmp/chain.json" "$src/models/$m/model.onnx" -o "$tmp/$m-chain.onnx" \
    >"$tmp/$m-chain.log" 2>&1 &&
    /usr/bin/python3 "$src/tools/scripts/check_model.py" "$tmp/$m-chain.onnx" \
      >"$tmp/$m-chain.check" 2>&1 &&
    node "$src/tools/scripts/ort_compare.js" --executor "$bin" "$tmp/$m-chain.onnx" \
      --ort-optimize --samples 2 --dim batch=2 --min-cosine 0.999 >"$tmp/$m-chain.cmp" 2>&1; then
    echo "ok   $m-recipe-chain: $(grep -m1 '^output' "$tmp/$m-chain.cmp")"
    passed=$((passed + 1))
  else
    echo "FAIL $m-recipe-chain: $(tail -q -n 2 "$tmp/$m-chain".{log,check,cmp} 2>&1)"
    failed=$((failed + 1))
  fi
done

if [ -f "$deps/ocr/det.onnx" ]; then
  for entry in "${forms[@]}"; do
    case "${entry%%:*}" in target) continue ;; esac  # a budget search on OCR takes minutes
    factorize "ocr_rec-${entry%%:*}" "$deps/ocr/rec.onnx" "${entry#*:}" \
      "--dim p2o.DynamicDimension.1=160 --input-range -1,1"
    factorize "ocr_det-${entry%%:*}" "$deps/ocr/det.onnx" "${entry#*:}" \
      "--dim p2o.DynamicDimension.1=160 --dim p2o.DynamicDimension.2=160 --input-pattern document --atol 1e-5"
    factorize "ocr_cls-${entry%%:*}" "$deps/ocr/cls.onnx" "${entry#*:}" \
      "--dim p2o.DynamicDimension.1=48 --dim p2o.DynamicDimension.2=192 --input-range -1,1"
  done
else
  echo "note: OCR models not fetched; only demo models checked"
fi
ort_testing_summary
