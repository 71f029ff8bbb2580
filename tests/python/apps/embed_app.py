"""One process embedding texts through CacheBackedEmbeddings on a MemcachedStore, with a
fake model that appends every text it really embeds to a file shared by all processes.

Usage: embed_app.py SERVER CALLS_FILE sync|async TEXT... Prints the vectors as JSON.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from langchain_classic.embeddings import CacheBackedEmbeddings
from langchain_core.embeddings import Embeddings

from langchain_memcached import MemcachedStore


class CountingEmbeddings(Embeddings):
    """A deterministic vector per text; each text embedded is one line of `calls_file`
    (one O_APPEND write per line, so lines of two processes never interleave)."""

    model = "counting-embeddings-v1"

    def __init__(self, calls_file: str) -> None:
        self.calls_file = calls_file

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        fd = os.open(self.calls_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            for text in texts:
                os.write(fd, (json.dumps(text) + "\n").encode())
        finally:
            os.close(fd)
        return [[float(len(text)), float(sum(map(ord, text)) % 997), 0.5] for text in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def main() -> None:
    server, calls_file, mode, *texts = sys.argv[1:]
    model = CountingEmbeddings(calls_file)
    store = MemcachedStore(server, namespace="embeddings")
    embedder = CacheBackedEmbeddings.from_bytes_store(
        model, store, namespace=model.model, key_encoder="sha256"
    )
    if mode == "async":
        vectors = asyncio.run(embedder.aembed_documents(texts))
    else:
        vectors = embedder.embed_documents(texts)
    print(json.dumps({"vectors": vectors, "stats": store.stats()}))


if __name__ == "__main__":
    main()
