# Shared by the ONNX Runtime integration scripts (sourced, not run). After sourcing, call
# `ort_testing_setup "$@"` (arguments: COMPRESSOR_BIN SOURCE_DIR); it exits 77 (skipped) when
# onnxruntime-node has not been fetched, and sets bin, src, deps, tmp (removed on exit) and the
# passed/failed counters. End with `ort_testing_summary`.

ort_testing_setup() {
  bin="$1"
  src="$2"
  deps="${COMPRESSOR_DEPS_DIR:-$src/.deps}"
  export COMPRESSOR_DEPS_DIR="$deps"
  if ! command -v node >/dev/null || [ ! -d "$deps/node_modules/onnxruntime-node" ]; then
    echo "skipped: onnxruntime-node not fetched (tools/scripts/fetch_test_deps.sh)"
    exit 77
  fi
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  passed=0
  failed=0
}

ort_testing_summary() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# compress_and_compare NAME COMMAND MODEL "COMMAND OPTIONS" "COMMON" [ORT_COMPARE OPTIONS...]:
# `compressor COMMAND MODEL` with the options and 4 samples, the independent checker on the
# result, then ONNX Runtime (all graph optimizations) against our executor on it. COMMON holds
# ort_compare's dims and input options; the same dims and ranges go to compressor (--input-range
# becomes --random-range, the document pattern a -2,2 range, --atol is ort_compare's only).
compress_and_compare() {
  local name="$1" command="$2" model="$3" opts="$4" common="$5"
  shift 5
  local out="$tmp/$name.onnx"
  # shellcheck disable=SC2086
  if ! "$bin" -q "$command" "$model" -o "$out" $opts --samples 4 \
    $(echo "$common" | sed 's/--input-range/--random-range/; s/--input-pattern document/--random-range -2,2/; s/--atol [^ ]*//') \
    >"$tmp/$name.log" 2>&1; then
    echo "FAIL $name: $command failed: $(tail -1 "$tmp/$name.log")"
    failed=$((failed + 1))
    return
  fi
  if ! /usr/bin/python3 "$src/tools/scripts/check_model.py" "$out" >"$tmp/$name.check" 2>&1; then
    echo "FAIL $name: $(cat "$tmp/$name.check")"
    failed=$((failed + 1))
    return
  fi
  # shellcheck disable=SC2086
  if ! node "$src/tools/scripts/ort_compare.js" --executor "$bin" "$out" --ort-optimize \
    --samples 2 $common "$@" >"$tmp/$name.cmp" 2>&1; then
    echo "FAIL $name: $(tail -2 "$tmp/$name.cmp")"
    failed=$((failed + 1))
    return
  fi
  echo "ok   $name: $(grep -m1 '^output' "$tmp/$name.cmp")"
  passed=$((passed + 1))
}
