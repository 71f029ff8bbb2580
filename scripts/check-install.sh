#!/usr/bin/env bash
# Installs llmcache into a scratch prefix and builds examples/ against it with
# find_package(llmcache) and with pkg-config, so the install rules stay true.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/default}
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT
cmake --install "$build" --prefix "$prefix/usr" >/dev/null
cmake -S examples -B "$prefix/examples" -G Ninja -DCMAKE_PREFIX_PATH="$prefix/usr" >/dev/null
cmake --build "$prefix/examples" >/dev/null
test -x "$prefix/examples/llmcache_example"
PKG_CONFIG_PATH="$prefix/usr/lib/pkgconfig" pkg-config --cflags --libs llmcache >/dev/null
echo "install-check: find_package(llmcache) and pkg-config work from an installed prefix: ok"
