#!/usr/bin/env bash
# The demo: the same question asked twice; the first answer is slow, the second is cached.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/default}
echo "== C++: llmcache::MemcachedCache (the model is a stand-in that sleeps 500 ms)"
scripts/with-memcached.sh sh -c "$build/examples/llmcache_example \"\$MEMCACHED_SERVERS\""
