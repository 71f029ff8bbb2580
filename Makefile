# The two commands a newcomer needs: `make demo` and `make test`. Each installs what it
# needs first (`make deps`), so they work on a fresh Debian 12 machine. `make check` is the
# developer's inner loop: build, unit tests, Python suites.
PRESET ?= default
BUILD := build/$(PRESET)
JOBS ?= $(shell nproc)
# CTest's parallelism, one test per core. Most tests wait on processes and sockets, but
# more than one per core is not safe: at -j4 on 2 loaded cores, tests whose fake server
# paces thousands of tiny packets (HostileFragments.PipelinedRepliesSplitAcross...) ran
# out of their 8 s reply deadline in 2 of 3 full runs, and passed at -j2.
TEST_JOBS ?= $(JOBS)

# ccache (see LLMCACHE_CCACHE in CMakeLists.txt) shares objects between build trees of one
# checkout only if their compile commands hash alike: paths are made relative to the
# checkout (CCACHE_BASEDIR), and the build directory is left out of the hash
# (CCACHE_NOHASHDIR; ccache hashes it by default whenever -g is given, and every tree here
# has debug info). Then `make python` (build/python) reuses build/default's library objects
# and the ASan extension (build/python-asan) reuses build/asan's (checked: all 44 library
# objects hit). The cache itself stays in ccache's default place (~/.cache/ccache), so a
# fresh clone on a machine that built the same sources reuses that too; a project-local
# CCACHE_DIR would share nothing more (the misses came from the hash, not the place) and
# would start every fresh clone cold. Both are only defaults: a developer's settings win.
export CCACHE_BASEDIR ?= $(CURDIR)
export CCACHE_NOHASHDIR ?= 1

.PHONY: all deps build python check test test-cpp test-python demo bench soak sanitize \
        sanitize-cpp sanitize-python fuzz fuzz-smoke install-check source-lists typecheck format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake --preset $(PRESET) -DLLMCACHE_PYTHON=$(CURDIR)/.venv/bin/python >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# The CLI tests drive the command with pytest and share langchain_memcached.testing, so the
# Python package is installed first.
test-cpp: build python
	@ctest --test-dir $(BUILD) --output-on-failure -j $(TEST_JOBS)

# The Python package, built by scikit-build-core into .venv (incremental: build/python).
# Warnings are errors here as in the presets; a plain `pip install .` leaves them warnings.
# The presets' compiler (c++; scikit-build-core would take Python's g++, and ccache keys on
# the compiler's name) and build type (pyproject.toml) make the library's compile commands
# those of build/default, so ccache compiles only the binding and nanobind here.
python: deps
	@CXX=$${CXX:-c++} .venv/bin/pip install --quiet --disable-pip-version-check --no-build-isolation \
	  -C cmake.define.LLMCACHE_WERROR=ON -C cmake.define.LLMCACHE_CCACHE=ON .

# The inner loop (a few minutes): every source file listed in a build, the build, the C++
# unit tests and the Python suites. `make test` runs everything.
check: source-lists build python typecheck
	@ctest --test-dir $(BUILD) --output-on-failure -j $(TEST_JOBS) -L unit
	@.venv/bin/python -m pytest

# The stub generated from the built extension equals the committed one, and mypy --strict
# passes over the package and over tests/typing/user_code.py (code a user would write).
typecheck: python
	@scripts/typecheck.sh

# Source lists are explicit; this catches a .cpp file that no CMakeLists.txt names.
source-lists:
	@scripts/check-source-lists.sh

test-python: python
	@.venv/bin/python -m pytest

install-check: build
	@scripts/check-install.sh $(BUILD)

# Everything, the demo included, so the README's first command stays true.
test: source-lists test-cpp install-check demo test-python typecheck sanitize fuzz-smoke

demo: build python
	@scripts/demo.sh $(BUILD)

# The sanitizers: the C++ suites, and the Python suites against the extension built with them.
sanitize: sanitize-cpp sanitize-python

# The C++ suites under ASan+UBSan (unit, integration, CLI) and under TSan (unit,
# integration), in separate build trees without benchmarks or examples. Any report fails
# the run: halt on the first error, with stack traces; leaks count as errors. The codec
# vectors and the CLI tests need the venv's Python and the installed package
# (langchain_memcached.testing).
# The TSan tree leaves out the CLI and its pytest-driven tests (tsan preset:
# LLMCACHE_BUILD_CLI=OFF), about a minute and a half of CI on 2 cores (a sixth of a
# sanitizer tree's compile, and 12 pytest sessions, 125 s of test time under ASan): the
# command is a face over the library, and the library's threads (I/O thread, callbacks,
# pools, close) are what the integration suite runs under TSan. Given up: TSan over the
# CLI's own few cross-thread spots (`llmcache bench`'s workers' tally under its mutex, the
# dump's skipped-item list filled from the I/O thread, the Ctrl-C flag). ASan+UBSan still
# runs every CLI test.
# The unit tests stay under TSan, though they are about a seventh of a tree's compile: most
# are single-threaded parsing that ASan+UBSan and the fuzz smoke cover, but
# LatencyRecorder's concurrent test is TSan's own business.
SANITIZE_PRESETS ?= asan tsan
ASAN_OPTIONS ?= halt_on_error=1:abort_on_error=1:detect_leaks=1:detect_stack_use_after_return=1
UBSAN_OPTIONS ?= halt_on_error=1:print_stacktrace=1
TSAN_OPTIONS ?= halt_on_error=1:second_deadlock_stack=1:suppressions=$(CURDIR)/tests/sanitizers/tsan.supp
sanitize-cpp: deps python
	@for preset in $(SANITIZE_PRESETS); do \
	  echo "sanitize: $$preset"; \
	  cmake --preset $$preset -DLLMCACHE_PYTHON=$(CURDIR)/.venv/bin/python >/dev/null && \
	  cmake --build build/$$preset -j $(JOBS) && \
	  ASAN_OPTIONS=$(ASAN_OPTIONS) UBSAN_OPTIONS=$(UBSAN_OPTIONS) TSAN_OPTIONS=$(TSAN_OPTIONS) \
	    ctest --test-dir build/$$preset --output-on-failure -j $(TEST_JOBS) || exit 1; \
	done

# The Python suites against an ASan+UBSan build of the extension (build/python-asan, apart
# from .venv's normal build), the sanitizer runtimes preloaded into CPython; see
# scripts/sanitize-python.sh for the options and why. The whole suite takes about a minute
# under ASan; the files that matter most are test_faults.py and test_lifecycle.py
# (`make sanitize-python SANITIZE_PYTHON_TESTS="tests/python/test_faults.py
# tests/python/test_lifecycle.py"`). Named files that do not exist (yet) are skipped.
SANITIZE_PYTHON_TESTS ?= tests/python
sanitize-python: deps
	@scripts/sanitize-python.sh $(wildcard $(SANITIZE_PYTHON_TESTS))

# libFuzzer targets (clang): FUZZ_SECONDS per target; make test runs a short smoke pass.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 15
fuzz: deps
	@scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-smoke: deps
	@scripts/fuzz.sh $(FUZZ_SMOKE_SECONDS)

# Side-by-side benchmarks on a private memcached; writes BENCHMARKS.md and bench/results.json.
bench: build python
	@.venv/bin/python bench/run.py --build $(BUILD)

# Mixed load with faults (kill -9, SIGSTOP, restarts, flushes) on three private memcached
# servers for SOAK_SECONDS; fails unless the workers' memory and fds stay flat and every
# hit held its own key's value. Writes build/soak/report.md and report.json.
SOAK_SECONDS ?= 600
soak: build python
	@.venv/bin/python soak/run.py --build $(BUILD) --seconds $(SOAK_SECONDS)

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf build
