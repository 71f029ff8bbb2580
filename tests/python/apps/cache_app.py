"""A tiny web app that answers from the cache, for the gunicorn --preload tests.

Imported once in gunicorn's master (--preload), which builds the cache and uses it before
forking the workers: what an application that checks its cache at start-up does.
``GET /<prompt>`` answers ``{"texts": [...]}`` (null on a miss) and the serving process id.
The WSGI app uses ``lookup``, the ASGI app ``alookup``.
"""

from __future__ import annotations

import json
import os
from urllib.parse import unquote

from langchain_memcached import MemcachedCache

LLM_STRING = "lifecycle-test-llm"

cache = MemcachedCache(os.environ["LLMCACHE_TEST_SERVER"])
cache.lookup("warm-up before fork", LLM_STRING)


def _answer(generations) -> bytes:
    texts = None if generations is None else [g.text for g in generations]
    return json.dumps({"texts": texts, "pid": os.getpid()}).encode()


def wsgi_app(environ, start_response):
    prompt = unquote(environ["PATH_INFO"].lstrip("/"))
    body = _answer(cache.lookup(prompt, LLM_STRING))
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


async def asgi_app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    prompt = unquote(scope["path"].lstrip("/"))
    body = _answer(await cache.alookup(prompt, LLM_STRING))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
