#!/usr/bin/env bash
# Runs Python suites against langchain_memcached built with ASan+UBSan, so the sanitizers
# see the binding (GIL release, object lifetimes, callbacks from the I/O thread) as well
# as the C++ core under it.
#
#   scripts/sanitize-python.sh [PYTEST ARGS...]      (default: tests/python)
#
# The instrumented package is built by scikit-build-core in build/python-asan and installed
# with `pip --target` into build/python-asan/site, which goes first on PYTHONPATH; .venv
# keeps its normal build and supplies everything else (pytest, langchain-core, nanobind).
# Any sanitizer report fails the run and is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

root=build/python-asan
site=$root/site
logs=$root/sanitizer-logs
# The asan preset's flags and build type (CMakePresets.json is the one place they are
# written), in a build tree as deep as build/asan: the library's compile commands are then
# the same as there, so ccache reuses what `make sanitize-cpp` compiled and only the binding
# and nanobind are compiled here.
preset_value() {
  .venv/bin/python -c 'import json, sys
presets = {p["name"]: p for p in json.load(open("CMakePresets.json"))["configurePresets"]}
print(presets["asan"]["cacheVariables"][sys.argv[1]])' "$1"
}
sanitizers=$(preset_value CMAKE_CXX_FLAGS)
build_type=$(preset_value CMAKE_BUILD_TYPE)
# The compiler CMake picks for the presets; scikit-build-core would otherwise take Python's
# (g++), and ccache keys on the compiler's name.
compiler=${CXX:-c++}

echo "sanitize-python: building the extension with ASan+UBSan ($root)"
# --upgrade replaces the previous install in the target directory; --no-deps because the
# dependencies come from .venv.
CXX=$compiler .venv/bin/pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps \
  --upgrade --target "$site" \
  -C build-dir="$root" \
  -C cmake.build-type="$build_type" \
  -C "cmake.define.CMAKE_CXX_FLAGS=$sanitizers" \
  -C cmake.define.LLMCACHE_WERROR=ON \
  -C cmake.define.LLMCACHE_CCACHE=ON \
  -C cmake.define.LLMCACHE_PYTHON_STUB=OFF \
  .

# CPython itself is not instrumented, so ASan's runtime must be loaded before anything
# else (an instrumented module dlopen'ed later cannot install it); UBSan's likewise.
preload="$("$compiler" -print-file-name=libasan.so) $("$compiler" -print-file-name=libubsan.so)"
for library in $preload; do
  [ -f "$library" ] || { echo "sanitize-python: no $library (is $compiler gcc?)" >&2; exit 2; }
done

rm -rf "$logs"
mkdir -p "$logs"
# - detect_leaks=0: CPython never frees much of what it allocates (interned strings, static
#   types, module state, the allocator's arenas) and exits without tearing everything down,
#   so LeakSanitizer would drown the run in the interpreter's own "leaks". Leaks in our code
#   are the C++ suites' job (`make sanitize-cpp`, detect_leaks=1).
# - halt_on_error=1: the first report ends the run, as in the C++ suites.
# - log_path: pytest captures file descriptor 2, and a process that ASan ends loses what
#   was captured; reports go to files instead, printed below.
# - PYTHONMALLOC=malloc: every Python object comes from malloc, not from pymalloc's arenas,
#   so a reference the binding drops too early is a heap-use-after-free ASan can see.
asan_options="detect_leaks=0:halt_on_error=1:abort_on_error=0:log_path=$PWD/$logs/asan"
ubsan_options="halt_on_error=1:print_stacktrace=1:log_path=$PWD/$logs/ubsan"

run() {
  env LD_PRELOAD="$preload" ASAN_OPTIONS="$asan_options" UBSAN_OPTIONS="$ubsan_options" \
    PYTHONMALLOC=malloc LLMCACHE_SANITIZED=asan PYTHONPATH="$PWD/$site${PYTHONPATH:+:$PYTHONPATH}" "$@"
}

# The suites must import the instrumented build, not .venv's.
module=$(run .venv/bin/python -c 'import langchain_memcached._ext as m; print(m.__file__)')
case "$module" in
  "$PWD/$site"/*) ;;
  *) echo "sanitize-python: imported $module, not the ASan build in $site" >&2; exit 1 ;;
esac

(($#)) || set -- tests/python
echo "sanitize-python: pytest $* (ASan+UBSan extension, sanitizer runtimes preloaded)"
status=0
run .venv/bin/python -m pytest -p no:cacheprovider "$@" || status=$?

reports=$(find "$logs" -type f | sort)
if [ -n "$reports" ]; then
  for report in $reports; do
    echo "== $report" >&2
    cat "$report" >&2
  done
  echo "sanitize-python: sanitizer reports above" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "sanitize-python: pytest failed (exit $status)" >&2
  exit "$status"
fi
echo "sanitize-python: ok"
