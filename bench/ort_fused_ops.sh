#!/usr/bin/env bash
# Which ops ONNX Runtime runs a model with after its graph optimizations: writes the optimized
# model (session option optimizedModelFilePath, level 'all' or 'extended') and prints the op
# counts of the quantized kernels it fused into (QLinear*, *Integer, DynamicQuantize*, fused
# com.microsoft ops) and of the QuantizeLinear/DequantizeLinear nodes left unfused, one
# "OP<TAB>COUNT" line each, sorted by op.
#
# Usage: bench/ort_fused_ops.sh MODEL.onnx OPTIMIZED.onnx [all|extended]
# onnxruntime-node comes from $COMPRESSOR_DEPS_DIR/node_modules (default <repo>/.deps), counting
# from /usr/bin/python3 with onnx. Exit codes: 0 printed, 1 ORT or onnx failed, 2 usage error.
set -u
if [ $# -lt 2 ] || [ $# -gt 3 ]; then
  echo "usage: bench/ort_fused_ops.sh MODEL.onnx OPTIMIZED.onnx [all|extended]" >&2
  exit 2
fi
repo="$(cd "$(dirname "$0")/.." && pwd)"
deps="${COMPRESSOR_DEPS_DIR:-$repo/.deps}"
level="${3:-all}"
# shellcheck disable=SC2016  # JavaScript, not shell
NODE_PATH="$deps/node_modules" node -e '
const ort = require("onnxruntime-node");
const [model, out, level] = process.argv.slice(1);
ort.InferenceSession.create(model, {intraOpNumThreads: 1, graphOptimizationLevel: level, logSeverityLevel: 3,
                                    optimizedModelFilePath: out})
  .then(() => process.exit(0), (e) => { console.error(`ort_fused_ops: ${model}: ${e.message}`); process.exit(1); });
' "$1" "$2" "$level" || exit 1
/usr/bin/python3 - "$2" <<'PY' || exit 1
import collections, sys
import onnx
ops = collections.Counter(
    (n.domain + "." if n.domain not in ("", "ai.onnx") else "") + n.op_type
    for n in onnx.load(sys.argv[1], load_external_data=False).graph.node)
for op in sorted(ops):
    name = op.split(".")[-1]
    if name.startswith(("QLinear", "Dynamic", "Quantize", "Dequantize")) or name.endswith("Integer") \
            or op.startswith("com.microsoft"):
        print(f"{op}\t{ops[op]}")
PY
