# The two commands a newcomer needs: `make demo` and `make test`. Each installs what it
# needs first (`make deps`), so they work on a fresh Debian 12 machine.
PRESET ?= default
BUILD := build/$(PRESET)
JOBS ?= $(shell nproc)

.PHONY: all deps build test test-cpp demo install-check format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake --preset $(PRESET) -DLLMCACHE_PYTHON=$(CURDIR)/.venv/bin/python >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

test-cpp: build
	@ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)

install-check: build
	@scripts/check-install.sh $(BUILD)

test: test-cpp install-check

demo: build
	@scripts/demo.sh $(BUILD)

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

clean:
	rm -rf build
