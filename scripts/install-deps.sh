#!/usr/bin/env bash
# Installs everything llmcache needs on Debian 12, and nothing more. Idempotent: packages
# already present are not touched, and apt is only consulted when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

debian_packages=(
  build-essential cmake ninja-build pkg-config  # toolchain
  ccache               # make test compiles the library in six trees (LLMCACHE_CCACHE)
  libasio-dev          # standalone Asio: networking and coroutines
  libssl-dev           # OpenSSL: MD5 for LangChain's keys, TLS, HMAC-signed entries
  libsimdjson-dev      # simdjson: decoding cached values on the hot path
  libzstd-dev          # zstd: compressed entries (MemcachedCacheOptions::compress)
  nlohmann-json3-dev   # nlohmann::ordered_json: the JSON value type users build
  libgtest-dev         # GoogleTest
  libbenchmark-dev     # Google Benchmark
  libcli11-dev         # CLI11: the llmcache command
  libsqlite3-dev       # llmcache import-sqlite reads LangChain's SQLiteCache
  tmux                 # the CLI's terminal (progress bar) tests
  memcached            # the server the tests start
  nutcracker           # twemproxy, the proxy the classic-protocol tests put in front of it
  libmemcached-tools   # memcslap, the reference point of the benchmarks
  libmemcached-dev     # libmemcached's C API: the benchmarks' limit, and pylibmc's build
  linux-perf           # make bench profiles where the time goes (skipped if unusable)
  clang-format
  clang libclang-rt-14-dev  # libFuzzer targets and the sanitizer runtimes (make fuzz)
  iproute2             # network namespaces for the partition tests
  openssl              # certificates made at test time for the TLS tests
  python3-venv python3-dev
)

missing=()
for package in "${debian_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$package")
done
if ((${#missing[@]})); then
  echo "deps: installing Debian packages: ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends \
    "${missing[@]}"
fi

# Python: a private venv with pinned versions, rebuilt only when the pins change.
python=${PYTHON:-python3}
requirements=(requirements-dev.txt bench/requirements.txt)
stamp=.venv/.requirements-installed
if [ ! -x .venv/bin/python ]; then
  echo "deps: creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
if [ ! -f "$stamp" ] || ! cat "${requirements[@]}" | cmp -s - "$stamp"; then
  echo "deps: installing pinned Python packages into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "${requirements[@]/#/-r}"
  cat "${requirements[@]}" >"$stamp"
fi

# The oldest langchain-core pyproject.toml accepts, apart from .venv (whose pins are newer):
# tests/python/test_dependency_floor.py puts it first on sys.path to check that the floor
# we declare still works.
floor=$(sed -n 's/^dependencies = \["langchain-core>=\([0-9.]*\)"\]$/\1/p' pyproject.toml)
floor_dir=.venv/floor/langchain-core-$floor
if [ -n "$floor" ] && [ ! -d "$floor_dir" ]; then
  echo "deps: langchain-core $floor (pyproject.toml's floor) into $floor_dir"
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps --target "$floor_dir" \
    "langchain-core==$floor"
fi
