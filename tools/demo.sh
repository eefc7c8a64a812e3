#!/usr/bin/env bash
# The demo: builds compressor, then runs it on the demo CNN in models/ and shows what it did:
# info, the cleanup passes, the optimized model checked against the reference outputs, and
# where the executor spends its time.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$repo/tools/setup.sh" "$repo/build"
bin="$repo/build/tools/compressor/compressor"
out="$(mktemp -d)"
echo
echo "== compressor info models/tiny_cnn/model.onnx"
"$bin" info "$repo/models/tiny_cnn/model.onnx"
echo
echo "== compressor optimize models/tiny_cnn/model.onnx -o $out/tiny_cnn.optimized.onnx"
"$bin" optimize "$repo/models/tiny_cnn/model.onnx" -o "$out/tiny_cnn.optimized.onnx"
echo
echo "== compressor exec (the optimized model against the original's reference outputs)"
"$bin" exec "$out/tiny_cnn.optimized.onnx" --test-data-dir "$repo/models/tiny_cnn/test_data_set_0"
echo
echo "== compressor profile models/tiny_cnn/model.onnx --dim batch=8 --top 5"
"$bin" profile "$repo/models/tiny_cnn/model.onnx" --dim batch=8 --top 5
rm -rf "$out"
