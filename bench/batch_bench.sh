#!/usr/bin/env bash
# Speed-up of `compressor batch -j 2` over `-j 1` on the batch zoo (tools/scripts/make_batch_zoo.py:
# the demo models, three small made ones, four broken files, and the PaddleOCR cls/det/rec models
# when $COMPRESSOR_DEPS_DIR/ocr has them). Runs -j 1 and -j 2 alternately, each into a fresh
# output folder, for several rounds, and prints each round's wall times and the median of the
# per-round ratios (j1 / j2). Progress goes to stderr.
#
# Each worker gets its default share of the cores (cores / -j threads), so -j 1 runs each model on
# both cores and -j 2 runs two models on one core each.
#
# Usage: bench/batch_bench.sh [--build DIR] [--rounds N] [--no-ocr] [--recipe FILE]
#   --build DIR    build tree holding tools/compressor/compressor (default <repo>/build)
#   --rounds N     rounds of (-j 1, -j 2) (default 5)
#   --no-ocr       leave the OCR models out even when they are there
#   --recipe FILE  recipe for the models (default: constants-to-initializers, eliminate-identity,
#                  quantize-weights; drift on 4 random samples)
#
# Exit codes: 0 done; 1 the binary, python modules or a batch run failed unexpectedly; 2 usage.
set -u

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$repo/build
rounds=5
ocr=1
recipe=
die() {
  echo "batch_bench: $*" >&2
  exit 1
}
while [[ $# -gt 0 ]]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --no-ocr) ocr=0; shift ;;
    --recipe) recipe=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--rounds N] [--no-ocr] [--recipe FILE]" >&2; exit 2 ;;
  esac
done
bin=$build/tools/compressor/compressor
[[ -x $bin ]] || die "$bin: missing (build the compressor_cli target)"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/batch_bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

deps="${COMPRESSOR_DEPS_DIR:-$repo/.deps}"
zoo_args=("$repo" "$tmp/zoo")
if [[ $ocr -eq 1 && -f $deps/ocr/det.onnx && -f $deps/ocr/rec.onnx && -f $deps/ocr/cls.onnx ]]; then
  zoo_args+=(--ocr "$deps/ocr")
fi
/usr/bin/python3 "$repo/tools/scripts/make_batch_zoo.py" "${zoo_args[@]}" >"$tmp/zoo.txt" ||
  die "make_batch_zoo.py failed (needs numpy and onnx)"
if [[ -z $recipe ]]; then
  recipe=$tmp/recipe.yaml
  printf '%s\n' "data:" "  samples: 4" "passes:" "  - pass: constants-to-initializers" \
    "  - pass: eliminate-identity" "  - pass: quantize-weights" >"$recipe"
fi
# A manifest over the zoo: every file with the recipe, except the OCR models, whose dynamic
# input sizes get their own recipes (a 320-wide text line, a 48x192 crop, a 320x320 page).
/usr/bin/python3 - "$tmp" "$recipe" <<'PYEOF' || die "cannot write the manifest"
import os, sys
tmp, recipe = sys.argv[1], sys.argv[2]
dims = {"ocr_rec": "{p2o.DynamicDimension.0: 1, p2o.DynamicDimension.1: 320}",
        "ocr_cls": "{p2o.DynamicDimension.0: 1, p2o.DynamicDimension.1: 48, p2o.DynamicDimension.2: 192}",
        "ocr_det": "{p2o.DynamicDimension.0: 1, p2o.DynamicDimension.1: 320, p2o.DynamicDimension.2: 320}"}
lines = ["recipe: %s" % recipe, "models:"]
for f in sorted(os.listdir(os.path.join(tmp, "zoo"))):
    name = f[:-len(".onnx")]
    if name in dims:
        r = os.path.join(tmp, name + ".yaml")
        with open(r, "w") as out:
            out.write("data:\n  samples: 4\n  dims: %s\npasses:\n"
                      "  - pass: constants-to-initializers\n  - pass: eliminate-identity\n"
                      "  - pass: quantize-weights\n" % dims[name])
        lines.append("  - {model: zoo/%s, recipe: %s}" % (f, r))
    else:
        lines.append("  - zoo/%s" % f)
open(os.path.join(tmp, "zoo.yaml"), "w").write("\n".join(lines) + "\n")
PYEOF
echo "zoo: $(awk '$1 == "good"' "$tmp/zoo.txt" | wc -l) models, $(awk '$1 == "broken"' "$tmp/zoo.txt" | wc -l) broken files; $(nproc) cores" >&2

run_once() {
  local j=$1 out=$tmp/out_j$1
  rm -rf "$out"
  local t0 t1
  t0=$(date +%s.%N)
  "$bin" -q batch "$tmp/zoo.yaml" --out-dir "$out" -j "$j" >/dev/null 2>"$tmp/err"
  local rc=$?
  t1=$(date +%s.%N)
  # 1 is expected: the broken files are error rows.
  [[ $rc -eq 0 || $rc -eq 1 || $rc -eq 3 ]] || die "-j $j exited $rc: $(tail -c 300 "$tmp/err")"
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }'
}

ratios=()
printf '| round | -j 1 (s) | -j 2 (s) | speed-up |\n|---:|---:|---:|---:|\n'
for ((r = 1; r <= rounds; r++)); do
  a=$(run_once 1)
  b=$(run_once 2)
  ratio=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f", a / b }')
  ratios+=("$ratio")
  printf '| %d | %.2f | %.2f | %.2fx |\n' "$r" "$a" "$b" "$ratio"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR] = $1} END {
  if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
printf '\nmedian speed-up of -j 2 over -j 1: %.2fx over %d rounds\n' "$median" "$rounds"
/usr/bin/python3 -c "
import json, sys
c = json.load(open(sys.argv[1]))['counts']
print('last -j 2 run: %d models, %d ok, %d errors (the broken files)' % (c['models'], c['ok'], c['error']))
" "$tmp/out_j2/summary.json"
