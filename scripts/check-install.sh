#!/usr/bin/env bash
# Installs llmcache into a scratch prefix and builds examples/ against it twice, as the
# README tells users to: with find_package(llmcache) and with nothing but
# `pkg-config --cflags --libs llmcache`. Both programs then run against a private memcached,
# and every installed version (CMake package, llmcache.pc, llmcache/version.hpp,
# `llmcache --version`) must be the one in VERSION.
#
#   scripts/check-install.sh [BUILD_DIR]      (default: build/default)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/default}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
prefix=$scratch/usr
cmake --install "$build" --prefix "$prefix" >/dev/null

fail() {
  echo "install-check: $*" >&2
  exit 1
}

# 1. The CMake package.
cmake -S examples -B "$scratch/with-cmake" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$scratch/with-cmake" >/dev/null
cmake_example=$scratch/with-cmake/llmcache_example

# 2. pkg-config alone. The library is static, so this only links if llmcache.pc carries
# OpenSSL, simdjson, zstd and threads itself; the prefix it reports must be the scratch prefix
# (llmcache.pc locates itself), not the one configured at build time.
pc=$(find "$prefix" -name llmcache.pc -print -quit)
[ -n "$pc" ] || fail "no llmcache.pc installed under $prefix"
export PKG_CONFIG_PATH=$(dirname "$pc")
includedir=$(pkg-config --variable=includedir llmcache)
[ "$(realpath "$includedir")" = "$(realpath "$prefix/include")" ] ||
  fail "llmcache.pc points at $includedir, not the installed $prefix/include"
pkg_config_example=$scratch/with-pkg-config/llmcache_example
mkdir -p "$(dirname "$pkg_config_example")"
# shellcheck disable=SC2046  # pkg-config's flags are meant to be split
c++ -Wall -Wextra -Werror examples/cache_example.cpp -o "$pkg_config_example" \
  $(pkg-config --cflags --libs llmcache)

# 3. One version everywhere.
version=$(head -n1 VERSION)
[ "$(pkg-config --modversion llmcache)" = "$version" ] || fail "llmcache.pc's version is not $version"
grep -q "PACKAGE_VERSION \"$version\"" "$(find "$prefix" -name llmcacheConfigVersion.cmake)" ||
  fail "the CMake package's version is not $version"
grep -q "#define LLMCACHE_VERSION \"$version\"" "$prefix/include/llmcache/version.hpp" ||
  fail "llmcache/version.hpp does not say $version"
if [ -x "$prefix/bin/llmcache" ]; then
  [ "$("$prefix/bin/llmcache" --version)" = "llmcache $version" ] ||
    fail "llmcache --version does not say $version"
fi

# 4. Both programs work: each asks its question twice against a private memcached.
export cmake_example pkg_config_example
scripts/with-memcached.sh bash -c '"$cmake_example" "$MEMCACHED_SERVERS" && "$pkg_config_example" "$MEMCACHED_SERVERS"' \
  >"$scratch/run.log" 2>&1 || { cat "$scratch/run.log" >&2; fail "an installed example failed"; }
echo "install-check: examples built with find_package(llmcache) and with pkg-config from $version installed in a scratch prefix, and ran: ok"
