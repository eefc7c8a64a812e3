#!/usr/bin/env bash
# How often ONNX Runtime and our executor agree on one quantized model across inputs: the model
# is quantized once (`compressor quantize MODEL` with the given options), then for each of N seeds
# tools/scripts/ort_compare.js runs it in onnxruntime-node with all graph optimizations (its QDQ
# fusions) and in our executor on 2 seeded inputs and takes the worse output cosine. Prints how
# many seeds reach 0.999, the worst and the median cosine.
#
# Usage: bench/ort_agreement.sh [--build DIR] [--seeds N] MODEL "QUANTIZE OPTIONS" "DIMS" ["INPUTS"]
#   --build DIR  build tree holding tools/compressor/compressor (default <repo>/build)
#   --seeds N    input seeds 1..N (default 20)
#   DIMS         --dim options, given to both tools
#   INPUTS       ort_compare's input options (default --input-pattern document)
# Example (the det model of tests/integration/ort_quantize_test.sh):
#   bench/ort_agreement.sh .deps/ocr/det.onnx "--mode static --reduce-range --samples 4 \
#     --random-range -2,2" "--dim p2o.DynamicDimension.1=160 --dim p2o.DynamicDimension.2=160"
# onnxruntime-node comes from $COMPRESSOR_DEPS_DIR/node_modules (tools/scripts/fetch_test_deps.sh).
#
# Exit codes: 0 printed; 1 the quantize run or a comparison failed to run, or a tool is missing;
# 2 usage error.
set -u

usage() {
  echo "usage: bench/ort_agreement.sh [--build DIR] [--seeds N] MODEL \"QUANTIZE OPTIONS\" \"DIMS\" [\"INPUTS\"]" >&2
}
die() { echo "ort_agreement.sh: $*" >&2; exit 1; }

repo="$(cd "$(dirname "$0")/.." && pwd)"
build="$repo/build"
seeds=20
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build | --seeds)
      if [ $# -lt 2 ]; then echo "ort_agreement.sh: $1 needs a value" >&2; usage; exit 2; fi
      if [ "$1" = --build ]; then build="$2"; else seeds="$2"; fi
      shift 2
      ;;
    -h | --help) usage; exit 0 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [ ${#args[@]} -lt 3 ] || [ ${#args[@]} -gt 4 ]; then usage; exit 2; fi
if ! [[ $seeds =~ ^[1-9][0-9]*$ ]]; then
  echo "ort_agreement.sh: --seeds needs a positive integer, got '$seeds'" >&2
  usage
  exit 2
fi
model="${args[0]}"
qopts="${args[1]}"
dims="${args[2]}"
inputs="${args[3]:---input-pattern document}"

bin="$build/tools/compressor/compressor"
[ -x "$bin" ] || die "$bin: not built"
[ -f "$model" ] || die "$model: no such file"
deps="${COMPRESSOR_DEPS_DIR:-$repo/.deps}"
[ -d "$deps/node_modules/onnxruntime-node" ] ||
  die "$deps/node_modules/onnxruntime-node: missing (run tools/scripts/fetch_test_deps.sh or set COMPRESSOR_DEPS_DIR)"
export NODE_PATH="$deps/node_modules"

work="$(mktemp -d)" || die "cannot create a temporary folder"
trap 'rm -rf "$work"' EXIT
out="$work/quantized.onnx"
# shellcheck disable=SC2086  # option lists are split on purpose
"$bin" -q quantize "$model" -o "$out" $qopts $dims --no-drift >"$work/quantize.log" 2>&1 ||
  die "quantize failed: $(grep -v '^[[:space:]]*$' "$work/quantize.log" | tail -1)"

cosines=()
for ((s = 1; s <= seeds; ++s)); do
  # shellcheck disable=SC2086
  node "$repo/tools/scripts/ort_compare.js" --executor "$bin" "$out" --ort-optimize --seed "$s" \
    --samples 2 $dims $inputs --min-cosine 0.999 >"$work/compare.log" 2>&1
  c="$(grep -o 'cosine=[0-9.]*' "$work/compare.log" | sed 's/cosine=//' | sort -g | head -1)"
  [ -n "$c" ] || die "seed $s: no comparison: $(tail -1 "$work/compare.log")"
  cosines+=("$c")
done
printf '%s\n' "${cosines[@]}" | sort -g | awk -v n="$seeds" '
  { v[NR] = $1; if ($1 >= 0.999) ok++ }
  END { printf "%d of %d seeds at cosine >= 0.999; worst %.6f, median %.6f\n", ok, n, v[1], v[int((n + 1) / 2)] }'
