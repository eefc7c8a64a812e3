#!/usr/bin/env bash
# Honest storage through the CLI: the report's zip_bytes (input and output) equal a raw deflate
# at zlib level 6 of the files computed by Python's zlib, the text report shows "(zip ...)",
# zip_ratio works in gates, and store-sparse writes a smaller file with sparse weights that
# passes the ONNX checker (python3-onnx, full_check) while a dense 90%-pruned file is no smaller.
#
#   bash tests/cli/storage_test.sh BUILD/tools/compressor/compressor SOURCE_DIR
#
# The last line is `N passed, M failed`.
set -u

# shellcheck source=cli_testing.sh
source "$(dirname "${BASH_SOURCE[0]}")/cli_testing.sh"
cli_testing_setup storage_test "$@"

MODEL="$SRC/models/tiny_mlp/model.onnx"
PRUNE='prune-magnitude{sparsity=0.9}'


run "optimize: pruned, stored dense" 0 "" -- optimize "$MODEL" -o "$TMP/dense.onnx" --passes "$PRUNE" \
  --no-drift --report "$TMP/dense.json"
run "optimize: pruned, stored sparse" 0 "" -- optimize "$MODEL" -o "$TMP/sparse.onnx" \
  --passes "$PRUNE,store-sparse" --no-drift --report "$TMP/sparse.json"
grep -qE '^ +[0-9.]+ [KMGk]?i?B \(zip [0-9.]+ [KMGk]?i?B\), ' "$TMP/out" &&
  ok "text report shows the zip size beside the bytes" ||
  fail "text report" "no '(zip ...)' after the size: $(head -c 600 "$TMP/out")"

# zip_bytes against Python's zlib (raw deflate, level 6: what a zip entry stores).
if $PY - "$TMP" "$MODEL" <<'EOF' >"$TMP/py" 2>&1; then
import json, sys, zlib
tmp, model = sys.argv[1], sys.argv[2]
def zipped(path):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    with open(path, "rb") as f:
        data = f.read()
    return len(c.compress(data) + c.flush())
for name in ("dense", "sparse"):
    r = json.load(open(f"{tmp}/{name}.json"))
    assert r["model"]["zip_bytes"] == zipped(model), (name, r["model"]["zip_bytes"], zipped(model))
    out = f"{tmp}/{name}.onnx"
    assert r["output"]["zip_bytes"] == zipped(out), (name, r["output"]["zip_bytes"], zipped(out))
d = json.load(open(f"{tmp}/dense.json"))["output"]
s = json.load(open(f"{tmp}/sparse.json"))["output"]
i = json.load(open(f"{tmp}/dense.json"))["model"]
# Dense 90% zeros: not smaller on disk, but much smaller zipped.
assert d["bytes"] >= i["bytes"] * 0.99, (d["bytes"], i["bytes"])
assert d["zip_bytes"] < i["zip_bytes"] * 0.6, (d["zip_bytes"], i["zip_bytes"])
assert s["bytes"] < d["bytes"] * 0.5, (s["bytes"], d["bytes"])
print("ok", i["bytes"], i["zip_bytes"], d["bytes"], d["zip_bytes"], s["bytes"], s["zip_bytes"])
EOF
  ok "zip_bytes match Python zlib; sizes: $(cat "$TMP/py")"
else
  fail "zip_bytes" "$(tail -3 "$TMP/py")"
fi

# The sparse file: weights as Constant nodes holding a sparse_value (see store_sparse.cc), and
# the ONNX checker (full_check) accepts it.
if $PY - "$TMP/sparse.onnx" <<'EOF' >"$TMP/py" 2>&1; then
import sys, onnx
m = onnx.load(sys.argv[1])
sparse = [n for n in m.graph.node if n.op_type == "Constant" and n.attribute[0].name == "sparse_value"]
assert len(sparse) > 0
onnx.checker.check_model(m, full_check=True)
print(len(sparse))
EOF
  ok "sparse model passes full_check ($(cat "$TMP/py") sparse weights)"
else
  fail "sparse model checker" "$(tail -3 "$TMP/py")"
fi

# It loads back and is described like any model.
run "info reads the sparse model" 0 "" -- info "$TMP/sparse.onnx"
grep -q "sparse initializers" "$TMP/out" && ok "info counts the sparse initializers" ||
  fail "info" "no 'sparse initializers' in: $(head -c 400 "$TMP/out")"

# zip_ratio in gates.
run "gate zip_ratio<=0.6 passes" 0 "" -- optimize "$MODEL" -o "$TMP/g1.onnx" --passes "$PRUNE" \
  --no-drift --gate 'zip_ratio<=0.6'
run "gate zip_ratio<=0.01 fails (exit 3)" 3 "" -- optimize "$MODEL" -o "$TMP/g2.onnx" --passes "$PRUNE" \
  --no-drift --gate 'zip_ratio<=0.01'

cli_testing_summary
