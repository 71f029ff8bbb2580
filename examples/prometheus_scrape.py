"""A Prometheus scrape of an LLM cache: what an operator's dashboard reads.

A chat model answers through langchain_memcached.MemcachedCache on a real memcached
(MEMCACHED_SERVERS); the cache is registered with prometheus_client and served on
/metrics, which this script then scrapes over HTTP as Prometheus would, printing the
llmcache series: lookups by result, tokens the hits saved (from the answers'
usage_metadata), the latency histogram.

No network model is reachable here, so the model is LangChain's GenericFakeChatModel
answering with a message that carries usage metadata, as providers' messages do.

    pip install 'langchain-memcached[prometheus]'
    MEMCACHED_SERVERS=127.0.0.1:11211 python examples/prometheus_scrape.py
"""

from __future__ import annotations

import os
import urllib.request
import uuid

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from prometheus_client import start_http_server

from langchain_memcached import MemcachedCache
from langchain_memcached.metrics import register_prometheus


def main() -> None:
    servers = os.environ.get("MEMCACHED_SERVERS", "127.0.0.1:11211")
    port = int(os.environ.get("METRICS_PORT", "0"))  # 0: any free port
    # A namespace of its own, so a rerun against the same memcached starts with a miss.
    cache = MemcachedCache(servers, namespace=f"prometheus-example-{uuid.uuid4()}")
    register_prometheus(cache, name="llm")  # prometheus_client's default REGISTRY
    server, _ = start_http_server(port, addr="127.0.0.1")
    url = f"http://127.0.0.1:{server.server_port}/metrics"

    answer = AIMessage(
        content="Memcached is a distributed in-memory key-value cache.",
        usage_metadata={"input_tokens": 412, "output_tokens": 96, "total_tokens": 508},
    )
    model = GenericFakeChatModel(messages=iter([answer]), cache=cache)
    for _ in range(3):  # one miss (the model answers), then two hits
        model.invoke("What is memcached?")

    with urllib.request.urlopen(url, timeout=5) as response:  # what Prometheus scrapes
        scrape = response.read().decode()
    print(f"GET {url}")
    for line in scrape.splitlines():
        if line.startswith("llmcache_cache_") and not line.endswith(" 0.0"):
            print(line)
    server.shutdown()


if __name__ == "__main__":
    main()
