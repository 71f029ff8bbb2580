#!/usr/bin/env bash
# The demo: the same question asked twice; the first answer is slow, the second is cached.
# Uses MEMCACHED_SERVERS if set, otherwise a private memcached that is stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/default}
run() {
  echo "== Python: LangChain with langchain_memcached.MemcachedCache"
  .venv/bin/python examples/langchain_demo.py
  echo
  echo "== Python: a LangGraph node cached across two processes (MemcachedNodeCache)"
  .venv/bin/python examples/node_cache_demo.py --clear
  .venv/bin/python examples/node_cache_demo.py
  .venv/bin/python examples/node_cache_demo.py
  echo
  echo "== C++: llmcache::MemcachedCache (the model is a stand-in that sleeps 500 ms)"
  "$build/examples/llmcache_example" "$MEMCACHED_SERVERS"
}
export -f run
export build
scripts/with-memcached.sh bash -c run
