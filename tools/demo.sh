#!/usr/bin/env bash
# The demo: builds compressor, then runs it on the demo CNN in models/ and shows what it did.
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
