#!/usr/bin/env bash
# Two compressor binaries (say the plain and the sanitizer build) must write byte-identical
# models for the same input and options. Quantizes the demo CNN and, when fetched, PP-OCRv4 det
# (the ONNX Runtime test's options) with each binary and compares the files.
#
# Usage: tools/scripts/same_bytes.sh BIN_A BIN_B    Exit codes: 0 same, 1 different or failed.
set -u
if [ $# -ne 2 ]; then
  echo "usage: tools/scripts/same_bytes.sh BIN_A BIN_B" >&2
  exit 2
fi
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
deps="${COMPRESSOR_DEPS_DIR:-$repo/.deps}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
status=0
check() {  # NAME MODEL OPTIONS...
  local name="$1" model="$2"
  shift 2
  local side bin
  for side in a b; do
    bin="$bin_a"
    [ "$side" = b ] && bin="$bin_b"
    if ! "$bin" -q quantize "$model" -o "$tmp/$name.$side.onnx" "$@" >"$tmp/$name.$side.log" 2>&1; then
      echo "FAIL $name: $bin: $(tail -1 "$tmp/$name.$side.log")"
      status=1
      return
    fi
  done
  if cmp -s "$tmp/$name.a.onnx" "$tmp/$name.b.onnx"; then
    echo "ok   $name: same bytes"
  else
    echo "FAIL $name: the two builds wrote different models"
    status=1
  fi
}
bin_a="$1"
bin_b="$2"
check tiny_cnn "$repo/models/tiny_cnn/model.onnx" --dim batch=1 --samples 8 --no-drift \
  --calibration percentile --equalize --bias-correction
if [ -f "$deps/ocr/det.onnx" ]; then
  det=(--dim p2o.DynamicDimension.1=160 --dim p2o.DynamicDimension.2=160 --random-range -2,2
       --samples 4 --no-drift)
  check ocr_det-static "$deps/ocr/det.onnx" --mode static --reduce-range "${det[@]}"
  check ocr_det-equalize "$deps/ocr/det.onnx" --mode static --reduce-range --equalize "${det[@]}"
fi
exit $status
