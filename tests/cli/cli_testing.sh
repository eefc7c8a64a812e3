# Shared by the CLI test scripts (sourced, not run): arguments, a scratch folder, counters and
# the checks every script uses. After sourcing, call `cli_testing_setup NAME "$@"`.
#
# Each script ends with `cli_testing_summary`, whose last line is `N passed, M failed`.

# cli_testing_setup NAME COMPRESSOR_BINARY SOURCE_DIR: sets BIN, SRC, PY and TMP (removed on exit).
cli_testing_setup() {
  local name=$1
  shift
  if [[ $# -ne 2 ]]; then
    echo "usage: $0 COMPRESSOR_BINARY SOURCE_DIR" >&2
    exit 2
  fi
  BIN=$(realpath "$1")
  SRC=$(realpath "$2")
  PY=/usr/bin/python3
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/$name.XXXXXX")
  [[ -n ${KEEP_TMP:-} ]] || trap 'rm -rf "$TMP"' EXIT
  PASSED=0
  FAILED=0
}

ok() { echo "ok    $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL  $1: $2"; FAILED=$((FAILED + 1)); }

# run NAME EXPECTED_EXIT [SUBSTRING] -- ARGS...: runs the CLI, checks the exit code, that the
# substring is in stdout or stderr, and that a failure is a one-line error.
run() {
  local name=$1 want=$2 needle=$3
  shift 4
  timeout 300 "$BIN" "$@" >"$TMP/out" 2>"$TMP/err"
  local rc=$?
  if [[ $rc -ne $want ]]; then
    fail "$name" "exit $rc, expected $want; stderr: $(head -c 400 "$TMP/err")"
    return 1
  fi
  if [[ -n $needle ]] && ! grep -qF -- "$needle" "$TMP/out" "$TMP/err"; then
    fail "$name" "output lacks '$needle': $(head -c 400 "$TMP/out" "$TMP/err")"
    return 1
  fi
  # Errors are one line (option-parser usage errors add a "Run with --help" hint).
  if [[ $want -eq 1 || $want -eq 2 ]] && { [[ $(grep -vc "^Run with --help" "$TMP/err") -ne 1 ]] ||
    ! head -1 "$TMP/err" | grep -q "^error: "; }; then
    fail "$name" "expected a one-line error, got: $(cat "$TMP/err")"
    return 1
  fi
  ok "$name"
  return 0
}

# check NAME FILE PYTHON_EXPR: r is the parsed JSON file (jq-free).
check() {
  local name=$1 file=$2 expr=$3
  if $PY -c "import json,sys,math; r=json.load(open(sys.argv[1])); sys.exit(0 if ($expr) else 1)" \
    "$file" 2>"$TMP/pyerr"; then
    ok "$name"
  else
    fail "$name" "$expr is false for $file $(head -c 300 "$TMP/pyerr")"
  fi
}

# checker NAME MODEL: the independent ONNX checker with full shape inference.
checker() {
  if $PY "$SRC/tools/scripts/check_model.py" "$2" >"$TMP/chk" 2>&1; then
    ok "$1: passes onnx.checker"
  else
    fail "$1: onnx.checker" "$(cat "$TMP/chk")"
  fi
}

# Held-out digits (models/digits_eval) as sample folders: 100 for calibration ($TMP/calib) and
# 100 others for drift ($TMP/eval, labels in $TMP/eval_labels.npy).
digits_samples() {
  $PY - "$SRC" "$TMP" <<'PYEOF'
import os, sys
import numpy as np
src, tmp = sys.argv[1], sys.argv[2]
images = np.load(os.path.join(src, "models/digits_eval/images.npy"))
labels = np.load(os.path.join(src, "models/digits_eval/labels.npy"))
for name, lo, hi in [("calib", 0, 100), ("eval", 100, 200)]:
    for i in range(lo, hi):
        d = os.path.join(tmp, name, f"s{i:03d}")
        os.makedirs(d)
        np.save(os.path.join(d, "input.npy"), images[i:i + 1])
    np.save(os.path.join(tmp, name + "_labels.npy"), labels[lo:hi])
PYEOF
}

cli_testing_summary() {
  echo "$PASSED passed, $FAILED failed"
  [[ $FAILED -eq 0 ]]
}
