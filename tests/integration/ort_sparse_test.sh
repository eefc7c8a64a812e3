#!/usr/bin/env bash
# Models written with sparse weights (prune-magnitude, then store-sparse: Constant nodes holding a
# sparse_value) pass the ONNX
# checker (python3-onnx, full_check), load in ONNX Runtime, and ONNX Runtime agrees with our
# executor on them and with itself on the same model stored dense.
# Usage: ort_sparse_test.sh COMPRESSOR_BIN SOURCE_DIR     (exit 77 = skipped)
set -u
# shellcheck source=ort_testing.sh
source "$(dirname "${BASH_SOURCE[0]}")/ort_testing.sh"
ort_testing_setup "$@"
check() {  # name model sparsity compare-args...
  local name="$1" model="$2" sparsity="$3"
  shift 3
  local dense="$tmp/$name.dense.onnx" sparse="$tmp/$name.sparse.onnx"
  if ! "$bin" -q optimize "$model" -o "$dense" --passes "prune-magnitude{sparsity=$sparsity}" \
    --no-drift >"$tmp/$name.log" 2>&1 ||
    ! "$bin" -q optimize "$model" -o "$sparse" \
      --passes "prune-magnitude{sparsity=$sparsity},store-sparse" --no-drift >"$tmp/$name.log" 2>&1; then
    echo "FAIL $name: optimize failed: $(tail -1 "$tmp/$name.log")"
    failed=$((failed + 1))
    return
  fi
  if ! /usr/bin/python3 -c 'import onnx, sys; m = onnx.load(sys.argv[1]); sys.exit(0 if any(a.name == "sparse_value" for n in m.graph.node for a in n.attribute) else 1)' \
    "$sparse"; then
    echo "FAIL $name: no sparse weight written"
    failed=$((failed + 1))
    return
  fi
  if ! /usr/bin/python3 "$src/tools/scripts/check_model.py" "$sparse" >"$tmp/$name.check" 2>&1; then
    echo "FAIL $name: $(cat "$tmp/$name.check")"
    failed=$((failed + 1))
    return
  fi
  if ! node "$src/tools/scripts/ort_compare.js" --executor "$bin" "$sparse" --rtol 1e-5 "$@" \
    >"$tmp/$name.cmp" 2>&1; then
    echo "FAIL $name (ORT vs executor): $(tail -2 "$tmp/$name.cmp")"
    failed=$((failed + 1))
    return
  fi
  if ! node "$src/tools/scripts/ort_compare.js" "$dense" "$sparse" --rtol 1e-6 "$@" \
    >"$tmp/$name.cmp2" 2>&1; then
    echo "FAIL $name (ORT dense vs sparse): $(tail -2 "$tmp/$name.cmp2")"
    failed=$((failed + 1))
    return
  fi
  echo "ok   $name: $(grep -m1 '^output' "$tmp/$name.cmp")" \
    "($(stat -c %s "$dense") -> $(stat -c %s "$sparse") bytes)"
  passed=$((passed + 1))
}

for m in tiny_cnn tiny_transformer tiny_mlp; do
  check "$m" "$src/models/$m/model.onnx" 0.9 --dim batch=4 --samples 2
done
ort_testing_summary
