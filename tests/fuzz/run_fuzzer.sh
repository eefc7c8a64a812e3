#!/usr/bin/env bash
# Runs the loader fuzzer for a while, seeded with the bad-input corpus and the demo models.
#
#   tests/fuzz/run_fuzzer.sh BUILD_DIR SECONDS
#
# BUILD_DIR is a clang build configured with -DCOMPRESSOR_FUZZ=ON -DCOMPRESSOR_BUILD_TESTS=ON
# (see tests/fuzz/CMakeLists.txt). The seeds are copied into a temporary corpus, so the source
# tree is never written; crash inputs go to BUILD_DIR/fuzz-artifacts/. Exits non-zero when the
# fuzzer finds a crash, a leak, a timeout (10 s per input) or an input that needs over 2 GiB.
#
# By default the run stops at the first finding. With KEEP_GOING=1 it runs in libFuzzer's fork
# mode with -ignore_crashes=1 for the whole time (one child process at a time), collects every
# finding in fuzz-artifacts/, and still exits non-zero if there was any.
set -euo pipefail

if [[ $# -ne 2 ]]; then
  echo "usage: $0 BUILD_DIR SECONDS" >&2
  exit 2
fi
BUILD=$(realpath "$1")
TIME=$2
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
FUZZER="$BUILD/tests/fuzz/load_fuzzer"
if [[ ! -x $FUZZER ]]; then
  echo "error: $FUZZER not found; build it with: ninja -C $1 load_fuzzer" >&2
  exit 2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/load_fuzzer.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/corpus" "$WORK/tmp" "$BUILD/fuzz-artifacts"

for f in "$SRC"/tests/data/bad_inputs/*.onnx; do
  [[ -f $f ]] && cp "$f" "$WORK/corpus/bad_$(basename "$f")"
done
for f in "$SRC"/models/*/model.onnx; do
  cp "$f" "$WORK/corpus/model_$(basename "$(dirname "$f")").onnx"
done
echo "seeds: $(ls "$WORK/corpus" | wc -l) files; running $FUZZER for $TIME s"

# The fuzzer's own scratch folders (external-data base, round-trip saves) go under $TMPDIR.
mode=()
if [[ ${KEEP_GOING:-0} == 1 ]]; then
  mode=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
fi
before=$(ls "$BUILD/fuzz-artifacts" | wc -l)
rc=0
TMPDIR="$WORK/tmp" \
  ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}" \
  UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
  "$FUZZER" "$WORK/corpus" \
  -dict="$SRC/tests/fuzz/onnx.dict" \
  -max_total_time="$TIME" -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="$BUILD/fuzz-artifacts/" -print_final_stats=1 "${mode[@]}" || rc=$?
found=$(($(ls "$BUILD/fuzz-artifacts" | wc -l) - before))
((found == 0 || rc != 0)) || rc=1

echo "corpus grew to $(ls "$WORK/corpus" | wc -l) inputs"
if ((rc != 0)); then
  echo "FAILED: the fuzzer exited with $rc; $found new reproducer(s) in $BUILD/fuzz-artifacts/:" >&2
  ls -t "$BUILD/fuzz-artifacts/" | head -"$((found > 0 ? found : 1))" >&2
  echo "rerun one with: $FUZZER FILE" >&2
fi
exit "$rc"
