#!/usr/bin/env bash
# Builds compressor and runs every test. ONNX Runtime (npm onnxruntime-node) and the PaddleOCR
# models are fetched into .deps/ when the npm registry is reachable; the tests that need them
# skip with a message otherwise.
#
# Usage: tools/test.sh [--sanitize]    (--sanitize: AddressSanitizer + UBSan build in build-asan/)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$repo/build"
args=()
if [ "${1:-}" = "--sanitize" ]; then
  build="$repo/build-asan"
  args=(-DCOMPRESSOR_SANITIZE=ON)
fi
"$repo/tools/setup.sh" "$build" "${args[@]}"
"$repo/tools/scripts/fetch_test_deps.sh" >/dev/null
cd "$build"
ctest --output-on-failure -j "$(nproc)"
