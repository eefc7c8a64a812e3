#!/usr/bin/env bash
# Where ONNX Runtime and our executor first part on a quantized model: runs one seeded input
# (tools/scripts/ort_compare.js, ONNX Runtime with all graph optimizations) and then compares every
# dequantized tensor of the two runs, in the model's node order. ONNX Runtime runs the graph it
# optimized (its fused QLinear kernels, its int8-to-uint8 conversions) with each DequantizeLinear
# output made a graph output, so its computation is the one users get; our executor runs the model
# with the same outputs added, which leaves its QDQ units as they are. Prints the output comparison
# and the first differing tensors: node position, tensor, producer op, values that differ of all.
#
# Usage: bench/ort_first_difference.sh [--build DIR] [--seed S] [--count N] MODEL "DIMS" ["INPUTS"]
#   --build DIR  build tree holding tools/compressor/compressor (default <repo>/build)
#   --seed S     ort_compare's input seed (default 1); the first sample of that seed is traced
#   --count N    how many differing tensors to print (default 8)
#   DIMS         --dim options, e.g. "--dim p2o.DynamicDimension.1=160 --dim p2o.DynamicDimension.2=160"
#   INPUTS       ort_compare's input options (default --input-pattern document)
# onnxruntime-node comes from $COMPRESSOR_DEPS_DIR/node_modules (default <repo>/.deps); onnx and
# numpy from /usr/bin/python3.
#
# Exit codes: 0 printed (also when nothing differs); 1 a tool failed; 2 usage error.
set -u
usage() {
  echo "usage: bench/ort_first_difference.sh [--build DIR] [--seed S] [--count N] MODEL \"DIMS\" [\"INPUTS\"]" >&2
}
repo="$(cd "$(dirname "$0")/.." && pwd)"
build="$repo/build"
seed=1
count=8
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build | --seed | --count)
      [ $# -ge 2 ] || { usage; exit 2; }
      case "$1" in
        --build) build="$2" ;;
        --seed) seed="$2" ;;
        --count) count="$2" ;;
      esac
      shift 2 ;;
    -h | --help) usage; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ ${#args[@]} -lt 2 ] || [ ${#args[@]} -gt 3 ]; then usage; exit 2; fi
model="${args[0]}"
dims="${args[1]}"
inputs="${args[2]:---input-pattern document}"
bin="$build/tools/compressor/compressor"
deps="${COMPRESSOR_DEPS_DIR:-$repo/.deps}"
export COMPRESSOR_DEPS_DIR="$deps"
[ -f "$model" ] || { echo "ort_first_difference.sh: no such model: $model" >&2; exit 2; }
[ -x "$bin" ] || { echo "ort_first_difference.sh: no compressor binary at $bin" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/in" "$tmp/ours" "$tmp/ort"

# shellcheck disable=SC2086  # dims and inputs are option lists
node "$repo/tools/scripts/ort_compare.js" --executor "$bin" "$model" --ort-optimize --samples 1 \
  --seed "$seed" --min-cosine 0.999 --save-inputs "$tmp/in" $dims $inputs | grep '^output'
[ -f "$tmp/in/input_0.pb" ] || { echo "ort_first_difference.sh: ort_compare wrote no inputs" >&2; exit 1; }

# ONNX Runtime's optimized graph, then both graphs with every DequantizeLinear output as an output.
# shellcheck disable=SC2016  # JavaScript, not shell
NODE_PATH="$deps/node_modules" node -e '
const ort = require("onnxruntime-node");
ort.InferenceSession.create(process.argv[1], {graphOptimizationLevel: "all", intraOpNumThreads: 1,
                                              logSeverityLevel: 3, optimizedModelFilePath: process.argv[2]})
  .then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); });
' "$model" "$tmp/optimized.onnx" || exit 1
/usr/bin/python3 - "$model" "$tmp" <<'PY' || exit 1
import json, sys
import numpy as np
import onnx
from onnx import helper, numpy_helper
src_path, tmp = sys.argv[1], sys.argv[2]
src, opt = onnx.load(src_path), onnx.load(f"{tmp}/optimized.onnx")
produced = {o for n in src.graph.node for o in n.output}
names = list(dict.fromkeys(n.output[0] for n in opt.graph.node
                           if n.op_type == "DequantizeLinear" and n.output[0] in produced))
for m, out in ((opt, "ort.onnx"), (src, "ours.onnx")):
    have = {o.name for o in m.graph.output}
    m.graph.output.extend(helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
                          for n in names if n not in have)
    onnx.save(m, f"{tmp}/{out}")
feeds = []
k = 0
while True:
    try:
        t = onnx.load_tensor(f"{tmp}/in/input_{k}.pb")
    except FileNotFoundError:
        break
    a = numpy_helper.to_array(t)
    if a.dtype != np.float32:
        sys.exit(f"ort_first_difference.sh: input {t.name} is {a.dtype}; only float32 inputs are replayed")
    a.tofile(f"{tmp}/in/{k}.raw")
    feeds.append({"name": t.name, "dims": list(a.shape), "file": f"{tmp}/in/{k}.raw"})
    k += 1
json.dump(feeds, open(f"{tmp}/feeds.json", "w"))
with open(f"{tmp}/in/exec_inputs", "w") as f:  # NAME=FILE per line, for `compressor exec --input`
    f.writelines(f"{x['name']}={tmp}/in/input_{i}.pb\n" for i, x in enumerate(feeds))
PY
# shellcheck disable=SC2016  # JavaScript, not shell
NODE_PATH="$deps/node_modules" node -e '
const fs = require("fs");
const ort = require("onnxruntime-node");
const [model, tmp] = process.argv.slice(1);
(async () => {
  const s = await ort.InferenceSession.create(model, {graphOptimizationLevel: "disabled",
                                                      intraOpNumThreads: 1, logSeverityLevel: 3});
  const feeds = {};
  for (const f of JSON.parse(fs.readFileSync(`${tmp}/feeds.json`))) {
    const b = fs.readFileSync(f.file);
    feeds[f.name] = new ort.Tensor("float32", new Float32Array(b.buffer, b.byteOffset, b.length / 4), f.dims);
  }
  const out = await s.run(feeds);
  s.outputNames.forEach((n, i) => {
    const d = out[n].data;
    fs.writeFileSync(`${tmp}/ort/${i}.raw`, Buffer.from(d.buffer, d.byteOffset, d.byteLength));
  });
  fs.writeFileSync(`${tmp}/ort/names.json`, JSON.stringify(s.outputNames));
})().catch((e) => { console.error(e.message); process.exit(1); });
' "$tmp/ort.onnx" "$tmp" || exit 1
feeds=()
while IFS= read -r entry; do feeds+=(--input "$entry"); done <"$tmp/in/exec_inputs"
"$bin" -q exec "$tmp/ours.onnx" "${feeds[@]}" --threads 1 --output-dir "$tmp/ours" >/dev/null || exit 1
/usr/bin/python3 - "$tmp" "$count" <<'PY'
import json, sys
import numpy as np
import onnx
from onnx import numpy_helper
tmp, count = sys.argv[1], int(sys.argv[2])
ours = onnx.load(f"{tmp}/ours.onnx", load_external_data=False)
producer = {o: (i, n) for i, n in enumerate(ours.graph.node) for o in n.output}


def origin(name):
    """Node position and the layer whose quantized output a DequantizeLinear output reads back."""
    pos, node = producer.get(name, (len(producer), None))
    for op in ("DequantizeLinear", "QuantizeLinear"):  # walk DQ <- Q <- layer
        if node is None or node.op_type != op or not node.input:
            break
        pos, node = producer.get(node.input[0], (pos, None))
    return pos, (f"{node.op_type} {node.name}".strip() if node is not None else "a graph input")


our_outputs = [o.name for o in ours.graph.output]
found = []
for i, name in enumerate(json.load(open(f"{tmp}/ort/names.json"))):
    if name not in our_outputs:
        continue
    a = np.fromfile(f"{tmp}/ort/{i}.raw", np.float32)
    b = numpy_helper.to_array(onnx.load_tensor(f"{tmp}/ours/output_{our_outputs.index(name)}.pb")).ravel()
    differ = int(np.count_nonzero(a != b)) if a.size == b.size else -1
    if differ:
        pos, layer = origin(name)
        found.append((pos, name, layer, differ, a.size))
found.sort()
if not found:
    print("every dequantized tensor and output is equal")
for pos, name, layer, differ, size in found[:count]:
    print(f"node {pos}\t{name}\tfrom {layer}\t{differ} of {size} values differ")
PY
