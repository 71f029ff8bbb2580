"""CacheBackedEmbeddings on memcached: two processes, each text embedded once.

    MEMCACHED_SERVERS=127.0.0.1:11211 python examples/cached_embeddings.py

Without MEMCACHED_SERVERS a private memcached is started for the run (needs `memcached`
on PATH). Two worker processes embed overlapping texts, one after the other, through
CacheBackedEmbeddings on a MemcachedStore; the model (a stand-in that counts its calls)
runs only for texts no process has embedded yet. Replace `CountingModel` by your
embeddings model (OpenAIEmbeddings(...), ...): nothing else changes.
"""

from __future__ import annotations

import multiprocessing
import os

from langchain_classic.embeddings import CacheBackedEmbeddings
from langchain_core.embeddings import DeterministicFakeEmbedding

from langchain_memcached import MemcachedStore


class CountingModel(DeterministicFakeEmbedding):
    """Stands in for a paid embeddings API: says which texts it really embeds."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        print(f"  [pid {os.getpid()}] the model embeds {texts}")
        return super().embed_documents(texts)


def worker(servers: str, texts: list[str]) -> None:
    store = MemcachedStore(servers, namespace="embeddings")
    embedder = CacheBackedEmbeddings.from_bytes_store(
        CountingModel(size=16),
        store,
        namespace="counting-model-16",  # the model's name: another model gets other vectors
        key_encoder="sha256",
    )
    vectors = embedder.embed_documents(texts)
    stats = store.stats()
    print(f"  [pid {os.getpid()}] {len(vectors)} vectors: {stats['hits']} from memcached, "
          f"{stats['misses']} computed")


def main(servers: str) -> None:
    spawn = multiprocessing.get_context("spawn")  # fresh interpreters, as separate services
    for texts in (["alpha", "beta", "gamma"], ["gamma", "alpha", "delta"]):
        print(f"a process embeds {texts}:")
        process = spawn.Process(target=worker, args=(servers, texts))
        process.start()
        process.join()
        if process.exitcode != 0:
            raise SystemExit(f"the worker failed (exit code {process.exitcode})")


if __name__ == "__main__":
    servers = os.environ.get("MEMCACHED_SERVERS")
    if servers:
        main(servers)
    else:
        from langchain_memcached.testing import MemcachedProcess

        with MemcachedProcess() as server:
            main(server.spec)
