#!/usr/bin/env bash
# The installed package as its users see it: `cmake --install` into a scratch prefix, which is
# then moved (the package must be relocatable), examples/embed configured against it with
# find_package(compressor) and built, and the example run on tiny_mlp. Its output passes the
# independent ONNX checker and has half of every Gemm weight zero (numpy over the file).
#
#   bash tests/integration/install_test.sh BUILD_DIR SOURCE_DIR [CXX_COMPILER [LINKER_FLAGS]]
#
# CXX_COMPILER is the one the build used; LINKER_FLAGS what a program linking the library needs
# besides it (the sanitizers of a sanitizer build). The last line is `N passed, M failed`.
set -u
if [[ $# -lt 2 ]]; then
  echo "usage: $0 BUILD_DIR SOURCE_DIR [CXX_COMPILER [LINKER_FLAGS]]" >&2
  exit 2
fi
BUILD=$(realpath "$1")
SRC=$(realpath "$2")
CXX_COMPILER=${3:-}
LINKER_FLAGS=${4:-}
PY=/usr/bin/python3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/install_test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
PASSED=0
FAILED=0
ok() { echo "ok    $1"; PASSED=$((PASSED + 1)); }
fail() { echo "FAIL  $1: $2"; FAILED=$((FAILED + 1)); }
summary() {
  echo "$PASSED passed, $FAILED failed"
  [[ $FAILED -eq 0 ]]
}

# Install.
if cmake --install "$BUILD" --prefix "$TMP/prefix" >"$TMP/install.log" 2>&1; then
  ok "cmake --install"
else
  fail "cmake --install" "$(tail -c 600 "$TMP/install.log")"
  summary
  exit 1
fi
P=$TMP/prefix
config=$(find "$P" -name compressorConfig.cmake)
cmakedir=$(dirname "$config")
[[ -n $config && -f $cmakedir/compressorConfigVersion.cmake && -f $cmakedir/compressorTargets.cmake ]] &&
  ok "the CMake package: Config, ConfigVersion and Targets in ${cmakedir#"$P"/}" ||
  fail "the CMake package" "$(find "$P" -name '*.cmake')"
[[ -x $P/bin/compressor ]] && ok "bin/compressor" || fail "bin/compressor" "missing"
[[ $(find "$P" -name 'libcompressor.a' | wc -l) -eq 1 ]] && ok "libcompressor.a" ||
  fail "libcompressor.a" "$(find "$P" -name '*.a')"
# Every public header, and nothing else, under include/compressor.
(cd "$SRC/include" && find . -type f | sort) >"$TMP/headers.src"
(cd "$P/include" && find . -type f | sort) >"$TMP/headers.installed"
cmp -s "$TMP/headers.src" "$TMP/headers.installed" &&
  ok "include/: the $(wc -l <"$TMP/headers.src") public headers" ||
  fail "include/" "$(diff "$TMP/headers.src" "$TMP/headers.installed" | head -5)"
# No tests, benchmarks or fuzzers: bin/ holds the command only.
[[ $(ls "$P/bin") == compressor ]] && ok "bin/ holds only the command" ||
  fail "bin/ holds only the command" "$(ls "$P/bin" | tr '\n' ' ')"
# Besides the headers: the command, the two static libraries and the package files only.
(cd "$P" && find . -path ./include -prune -o -type f -print | sed "s|.*/||" | LC_ALL=C sort | tr '\n' ' ') >"$TMP/rest"
[[ $(cat "$TMP/rest") =~ ^compressor\ compressorConfig.cmake\ compressorConfigVersion.cmake\ compressorTargets-[a-z]*.cmake\ compressorTargets.cmake\ libcompressor.a\ libcompressor_model.a\ $ ]] &&
  ok "no tests, benchmarks or fuzzers installed" ||
  fail "no tests, benchmarks or fuzzers installed" "installed: $(cat "$TMP/rest")"
# Relocatable: no path into the source, build or install folder in the package files.
if grep -lF -e "$SRC" -e "$BUILD" -e "$P" "$cmakedir"/*.cmake >"$TMP/abs"; then
  fail "package files are relocatable" "absolute paths in $(cat "$TMP/abs")"
else
  ok "package files hold no path into the source, build or install folder"
fi
mv "$P" "$TMP/moved"
P=$TMP/moved
"$P/bin/compressor" info "$SRC/models/tiny_mlp/model.onnx" >"$TMP/info" 2>&1 &&
  ok "the installed command runs" || fail "the installed command runs" "$(head -c 300 "$TMP/info")"

# Build the example against the moved prefix, as a separate project.
args=(-S "$SRC/examples/embed" -B "$TMP/embed" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_BUILD_TYPE=Release)
command -v ninja >/dev/null && args+=(-G Ninja)
[[ -n $CXX_COMPILER ]] && args+=(-DCMAKE_CXX_COMPILER="$CXX_COMPILER")
[[ -n $LINKER_FLAGS ]] && args+=(-DCMAKE_EXE_LINKER_FLAGS="$LINKER_FLAGS")
if cmake "${args[@]}" >"$TMP/configure.log" 2>&1; then
  ok "examples/embed: find_package(compressor) against the moved prefix"
else
  fail "examples/embed: configure" "$(tail -c 800 "$TMP/configure.log")"
  summary
  exit 1
fi
grep -q "compressor_DIR:PATH=$P/" "$TMP/embed/CMakeCache.txt" &&
  ok "the package was found in the moved prefix" ||
  fail "the package was found in the moved prefix" "$(grep compressor_DIR "$TMP/embed/CMakeCache.txt")"
if cmake --build "$TMP/embed" >"$TMP/build.log" 2>&1; then
  ok "examples/embed builds"
else
  fail "examples/embed builds" "$(tail -c 1500 "$TMP/build.log")"
  summary
  exit 1
fi

# Run it.
OUT=$TMP/out/mlp.pruned.onnx
mkdir -p "$TMP/out"
if "$TMP/embed/embed" "$SRC/models/tiny_mlp/model.onnx" "$OUT" >"$TMP/run.out" 2>"$TMP/run.err"; then
  ok "embed runs on tiny_mlp"
else
  fail "embed runs on tiny_mlp" "exit $?: $(head -c 600 "$TMP/run.err")"
fi
cat "$TMP/run.out"
for p in constants-to-initializers eliminate-identity fold-batchnorm merge-duplicate-initializers \
  eliminate-dead-nodes prune-magnitude; do
  grep -q "^$p " "$TMP/run.out" || fail "a line for every pass" "no line for $p"
done
grep -q "^prune-magnitude .* cosine 0\.[0-9]" "$TMP/run.out" &&
  ok "prune-magnitude: drift measured (cosine below 1)" ||
  fail "prune-magnitude: drift measured" "$(grep prune-magnitude "$TMP/run.out")"
if $PY "$SRC/tools/scripts/check_model.py" "$OUT" >"$TMP/chk" 2>&1; then
  ok "the output passes onnx.checker"
else
  fail "the output passes onnx.checker" "$(cat "$TMP/chk")"
fi
if $PY - "$SRC/models/tiny_mlp/model.onnx" "$OUT" >"$TMP/py" 2>&1 <<'PYEOF'
import sys
import numpy as np
import onnx
from onnx import numpy_helper
src, out = onnx.load(sys.argv[1]), onnx.load(sys.argv[2])
w = {t.name: numpy_helper.to_array(t) for t in out.graph.initializer}
gemm = [w[n.input[1]] for n in out.graph.node if n.op_type == "Gemm"]
assert len(gemm) == 3, len(gemm)
for x in gemm:
    assert abs((x == 0).mean() - 0.5) < 0.01, (x == 0).mean()
# Biases are kept; the weights keep their largest magnitudes.
srcw = {t.name: numpy_helper.to_array(t) for t in src.graph.initializer}
for n in out.graph.node:
    if n.op_type == "Gemm":
        a, b = np.abs(srcw[n.input[1]]), w[n.input[1]]
        assert (np.abs(b[b != 0]).min() >= np.abs(a[b == 0]).max()), n.name
meta = {p.key: p.value for p in out.metadata_props}
assert any("prune-magnitude{sparsity=0.5}" in v for v in meta.values()), meta
PYEOF
then
  ok "the output: half of every Gemm weight zero, the largest kept, passes in the metadata"
else
  fail "the output" "$(tail -c 600 "$TMP/py")"
fi
summary
