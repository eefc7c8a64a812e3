#!/usr/bin/env bash
# Installs the Debian packages compressor needs (only those missing), then configures and builds.
#
# Usage: tools/setup.sh [BUILD_DIR] [extra cmake args...]     (default BUILD_DIR: build)
# Idempotent; works as root on a fresh Debian 12 machine (uses sudo when not root).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$repo/build}"
shift || true

packages=(cmake ninja-build g++ pkg-config libonnx-dev libprotobuf-dev protobuf-compiler
          libeigen3-dev libcli11-dev libspdlog-dev libgtest-dev nlohmann-json3-dev
          libonnx-testdata python3-onnx clang libclang-rt-14-dev zlib1g-dev
          libyaml-cpp-dev
          chromium)  # chromium: tests/cli/html_report_test.sh renders the HTML report headless
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js runs the ONNX Runtime cross-checks; any existing node will do.
command -v node >/dev/null 2>&1 || missing+=(nodejs npm)
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build "$build" -j "$(nproc)"
