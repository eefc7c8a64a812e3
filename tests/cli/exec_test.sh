#!/usr/bin/env bash
# `compressor exec`: runs the demo models against their test_data_set_0, writes outputs that
# reproduce, fails naming a differing output, and refuses bad options and data with one-line
# errors (exit 2 for usage, 1 for bad data).
#
#   bash tests/cli/exec_test.sh BUILD/tools/compressor/compressor SOURCE_DIR
#
# Exits 77 (skip) when the executor has no kernel for an op of a demo model and nothing failed.
# The last line is `N passed, M failed`.
set -u

if [[ $# -ne 2 ]]; then
  echo "usage: $0 COMPRESSOR_BINARY SOURCE_DIR" >&2
  exit 2
fi
BIN=$(realpath "$1")
SRC=$(realpath "$2")
TMP=$(mktemp -d "${TMPDIR:-/tmp}/exec_test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

PASSED=0
FAILED=0
UNSUPPORTED=()

ok() { echo "ok    $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL  $1: $2"; FAILED=$((FAILED + 1)); }

# run NAME EXPECTED_EXIT [SUBSTRING_IN_OUTPUT] -- ARGS...
run() {
  local name=$1 want=$2 needle=$3
  shift 4
  timeout 60 "$BIN" "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  if grep -q "no kernel for" "$TMP/err"; then
    UNSUPPORTED+=("$name: $(head -1 "$TMP/err")")
    echo "skip  $name (unsupported op)"
    return 1
  fi
  if [[ $rc -ne $want ]]; then
    fail "$name" "exit $rc, expected $want; stderr: $(head -c 300 "$TMP/err")"
    return 1
  fi
  if [[ -n $needle ]] && ! grep -qF -- "$needle" "$TMP/out" "$TMP/err"; then
    fail "$name" "output lacks '$needle': $(head -c 300 "$TMP/out" "$TMP/err")"
    return 1
  fi
  if [[ $want -ne 0 ]] && [[ $(wc -l <"$TMP/err") -ne 1 ]]; then
    fail "$name" "expected a one-line error, got: $(cat "$TMP/err")"
    return 1
  fi
  ok "$name"
  return 0
}

CNN=$SRC/models/tiny_cnn
MLP=$SRC/models/tiny_mlp

# Usage and data errors come before any kernel is needed.
run "unknown input name is a usage error" 2 "'nope'" -- \
  exec "$CNN/model.onnx" --input "nope=$CNN/test_data_set_0/input_0.pb"
run "malformed --input is a usage error" 2 "NAME=FILE" -- exec "$CNN/model.onnx" --input noequals
run "malformed --dim is a usage error" 2 "--dim" -- exec "$CNN/model.onnx" --dim batch=zero
run "missing --test-data-dir is a usage error" 2 "--test-data-dir" -- \
  exec "$CNN/model.onnx" --test-data-dir "$TMP/none"
run "input of another model's shape is bad data" 1 "does not match the declared" -- \
  exec "$CNN/model.onnx" --test-data-dir "$MLP/test_data_set_0"

# The demo models against their reference outputs.
for model in tiny_cnn tiny_mlp tiny_transformer; do
  dir=$SRC/models/$model
  [[ -d $dir/test_data_set_0 ]] || continue
  run "$model matches test_data_set_0" 0 "outputs match" -- \
    exec "$dir/model.onnx" --test-data-dir "$dir/test_data_set_0" --threads 2
done

# Outputs written with --output-dir reproduce as a test data set; a wrong one is named.
if run "tiny_cnn writes output_0.pb" 0 "" -- \
  exec "$CNN/model.onnx" --test-data-dir "$CNN/test_data_set_0" --output-dir "$TMP"; then
  mkdir -p "$TMP/set" "$TMP/rand" "$TMP/wrong"
  cp "$CNN/test_data_set_0/input_0.pb" "$TMP/set/"
  cp "$TMP/output_0.pb" "$TMP/set/"
  run "written outputs reproduce" 0 "outputs match" -- \
    exec "$CNN/model.onnx" --test-data-dir "$TMP/set" --threads 1
  run "random inputs with a seed" 0 "min" -- \
    exec "$CNN/model.onnx" --seed 7 --dim batch=1 --output-dir "$TMP/rand"
  cp "$CNN/test_data_set_0/input_0.pb" "$TMP/wrong/"
  cp "$TMP/rand/output_0.pb" "$TMP/wrong/"
  run "a differing output is named and exits 1" 1 "differs from" -- \
    exec "$CNN/model.onnx" --test-data-dir "$TMP/wrong"
fi

# `compressor profile`: tables and JSON that account for every node, batching, bad options.
run "profile prints op types and nodes" 0 "slowest of 17 nodes" -- \
  profile "$CNN/model.onnx" --runs 2 --threads 1 --dim batch=1
run "profile --json, one sample" 0 "" -- \
  profile "$CNN/model.onnx" --runs 1 --dim batch=1 --json && cp "$TMP/out" "$TMP/one.json"
if run "profile --json" 0 "" -- \
  profile "$CNN/model.onnx" --runs 2 --samples 4 --batch 4 --dim batch=1 --json; then
  if /usr/bin/python3 - "$TMP/out" "$TMP/one.json" <<'PY'; then ok "profile JSON accounts for every node"; else fail "profile JSON" "$(head -c 300 "$TMP/out")"; fi
import json, sys
j = json.load(open(sys.argv[1]))
assert j["batch"] == 4 and j["samples"] == 4, j
assert len(j["nodes"]) == 17, len(j["nodes"])
assert sum(o["nodes"] for o in j["op_types"]) == 17
assert abs(sum(n["share"] for n in j["nodes"]) - 1) < 1e-6
conv = [o for o in j["op_types"] if o["op_type"] == "Conv"][0]
assert conv["macs_per_run"] == sum(n["macs_per_run"] for n in j["nodes"] if n["op_type"] == "Conv")
# Four samples of batch 1 per run: four times the MACs of one sample.
one = json.load(open(sys.argv[2]))
assert j["macs_per_run"] == 4 * one["macs_per_run"] > 0, (j["macs_per_run"], one["macs_per_run"])
PY
fi
run "profile --runs 0 is a usage error" 2 "--runs" -- profile "$CNN/model.onnx" --runs 0
run "profile --samples 0 is a usage error" 2 "--samples" -- profile "$CNN/model.onnx" --samples 0
run "profile --batch 0 is a usage error" 2 "--batch" -- profile "$CNN/model.onnx" --batch 0
run "profile --threads -1 is a usage error" 2 "--threads" -- profile "$CNN/model.onnx" --threads -1
run "profile on a missing model fails naming it" 1 "nope.onnx" -- profile "$TMP/nope.onnx"

if [[ ${#UNSUPPORTED[@]} -gt 0 ]]; then
  for u in "${UNSUPPORTED[@]}"; do echo "unsupported: $u"; done
fi
echo "$PASSED passed, $FAILED failed"
if [[ $FAILED -gt 0 ]]; then exit 1; fi
if [[ ${#UNSUPPORTED[@]} -gt 0 ]]; then
  echo "skipping: compressor exec reports an unsupported op (kernels not all registered yet)"
  exit 77
fi
exit 0
