#!/usr/bin/env bash
# Drift tables of `compressor quantize` on the PaddleOCR models (PP-OCRv4 det and rec, mobile v2
# direction classifier): for each model, disjoint calibration and evaluation sets of synthetic
# document images (tools/scripts/make_document_samples.py, different seeds), one quantize run per
# mode, and one Markdown table per model on stdout (tools/scripts are run with /usr/bin/python3,
# which needs numpy and onnx). Progress goes to stderr.
#
# Usage: bench/quant_ocr_drift.sh [--build DIR] [--calib N] [--eval N] [--keep DIR]
#   --build DIR  build tree holding tools/compressor/compressor (default <repo>/build)
#   --calib N    calibration samples per model (default 32)
#   --eval N     evaluation samples per model (default 16)
#   --keep DIR   keep the samples, quantized models, reports and logs in DIR (default: a
#                temporary folder, removed at exit)
# The models come from tools/scripts/fetch_test_deps.sh into $COMPRESSOR_DEPS_DIR/ocr (default
# <repo>/.deps/ocr).
#
# Exit codes: 0 every run succeeded; 1 a run failed (its error line is in its table row, the
# tables are still printed) or the models, binary or python modules are missing; 2 usage error.
set -u

usage() { echo "usage: bench/quant_ocr_drift.sh [--build DIR] [--calib N] [--eval N] [--keep DIR]" >&2; }
die() { echo "quant_ocr_drift.sh: $*" >&2; exit 1; }

repo="$(cd "$(dirname "$0")/.." && pwd)"
build="$repo/build"
calib=32
eval_count=16
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build | --calib | --eval | --keep)
      if [ $# -lt 2 ]; then echo "quant_ocr_drift.sh: $1 needs a value" >&2; usage; exit 2; fi
      case "$1" in
        --build) build="$2" ;;
        --calib) calib="$2" ;;
        --eval) eval_count="$2" ;;
        --keep) keep="$2" ;;
      esac
      shift 2
      ;;
    -h | --help) usage; exit 0 ;;
    *) echo "quant_ocr_drift.sh: unknown argument: $1" >&2; usage; exit 2 ;;
  esac
done
for n in "$calib" "$eval_count"; do
  if ! [[ $n =~ ^[1-9][0-9]*$ ]]; then
    echo "quant_ocr_drift.sh: --calib and --eval need a positive integer, got '$n'" >&2
    usage
    exit 2
  fi
done

bin="$build/tools/compressor/compressor"
[ -x "$bin" ] || die "$bin: not built (cmake --build $build --target compressor_cli)"
deps="${COMPRESSOR_DEPS_DIR:-$repo/.deps}"
for m in det rec cls; do
  [ -f "$deps/ocr/$m.onnx" ] || die "$deps/ocr/$m.onnx: missing (run tools/scripts/fetch_test_deps.sh or set COMPRESSOR_DEPS_DIR)"
done
python=/usr/bin/python3
"$python" -c 'import numpy, onnx' 2>/dev/null || die "$python needs numpy and onnx"

if [ -n "$keep" ]; then
  mkdir -p "$keep" || die "$keep: cannot create"
  work="$(cd "$keep" && pwd)"
else
  work="$(mktemp -d)" || die "cannot create a temporary folder"
  trap 'rm -rf "$work"' EXIT
fi

# name | input height | width | normalization | --dim options | per-model quantize options
models=(
  "det|320|320|imagenet|--dim p2o.DynamicDimension.1=320 --dim p2o.DynamicDimension.2=320|"
  "rec|48|320|half|--dim p2o.DynamicDimension.1=320|"
  "cls|48|192|half|--dim p2o.DynamicDimension.1=48 --dim p2o.DynamicDimension.2=192|"
)
# label | quantize options (static ones calibrate on the calibration set)
modes=(
  "static QDQ, minmax|--mode static --reduce-range"
  "static QDQ, entropy|--mode static --reduce-range --calibration entropy"
  "static QDQ, percentile|--mode static --reduce-range --calibration percentile"
  "static QDQ, percentile, bias correction|--mode static --reduce-range --calibration percentile --bias-correction"
  "static QDQ, per-tensor weights|--mode static --reduce-range --no-per-channel"
  "static QDQ, 8-bit ranges|--mode static"
  "static QOperator, minmax|--mode static --format qoperator --reduce-range"
  "dynamic|--mode dynamic"
  "weight-only|--mode weight-only"
  "weight-only, bias correction|--mode weight-only --bias-correction"
)

cpu="$(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')"
echo "Command: \`bench/quant_ocr_drift.sh --calib $calib --eval $eval_count\` on $(date -u +%Y-%m-%d)," \
  "CPU: ${cpu:-unknown} ($(nproc) cores), compressor $(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo '?')."
echo "Per model: $calib calibration samples (seed 1) and $eval_count disjoint evaluation samples (seed 2)."

failures=0
for entry in "${models[@]}"; do
  IFS='|' read -r name height width norm dims extra <<<"$entry"
  model="$deps/ocr/$name.onnx"
  dir="$work/$name"
  mkdir -p "$dir" || die "$dir: cannot create"
  for set in calib:1:$calib eval:2:$eval_count; do
    IFS=: read -r what seed count <<<"$set"
    rm -rf "${dir:?}/$what"
    "$python" "$repo/tools/scripts/make_document_samples.py" "$dir/$what" --count "$count" \
      --seed "$seed" --height "$height" --width "$width" --norm "$norm" >/dev/null ||
      die "$name: cannot write the $what samples"
  done
  : >"$dir/runs.tsv"
  k=0
  for mode in "${modes[@]}"; do
    label="${mode%%|*}"
    qopts="${mode#*|}"
    k=$((k + 1))
    out="$dir/mode$k.onnx"
    report="$dir/mode$k.json"
    log="$dir/mode$k.log"
    calib_opts=""
    [[ $qopts == *"--mode static"* || $qopts == *--bias-correction* ]] &&
      calib_opts="--calibration-data $dir/calib"
    echo "$name: $label" >&2
    # One thread, so the numbers do not depend on how many cores the machine has (parallel
    # kernels split their sums by thread count).
    # shellcheck disable=SC2086  # option lists are split on purpose
    "$bin" quantize "$model" -o "$out" $qopts $extra $dims --data "$dir/eval" $calib_opts \
      --threads 1 --report "$report" >"$log" 2>&1
    rc=$?
    if [ "$rc" -eq 0 ] && [ -f "$out" ] && [ -f "$report" ]; then
      printf '%s\tok\t%s\t%s\t\n' "$label" "$report" "$out" >>"$dir/runs.tsv"
    else
      error="$(grep -v '^[[:space:]]*$' "$log" | tail -1)"
      echo "$name: $label failed (exit $rc): $error" >&2
      printf '%s\tfail\t\t\texit %s: %s\n' "$label" "$rc" "$error" >>"$dir/runs.tsv"
      failures=$((failures + 1))
    fi
  done
  echo
  echo "### $name ($(basename "$model"), input 1x3x${height}x${width})"
  echo
  # rec's [1, T, 6625] and cls's [1, 2] outputs are class scores: top-1 agreement per position.
  top1=""
  [ "$name" != det ] && top1="--top1"
  # shellcheck disable=SC2086
  "$python" "$repo/bench/quant_ocr_table.py" "$model" "$dir/runs.tsv" $top1 || die "$name: cannot make the table"
done
[ "$failures" -eq 0 ]
