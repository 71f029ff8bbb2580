"""A tiny web app that answers from the cache, for the gunicorn --preload tests.

Imported once in gunicorn's master (--preload), which builds the cache before forking the
workers and, with LLMCACHE_TEST_WARM=1, uses it too (an application that checks its cache
at start-up): the workers then inherit live connections.
``GET /<prompt>`` answers ``{"texts": [...], "atexts": [...]}`` (null on a miss), read with
``lookup`` and with ``alookup``, and the serving process id. The WSGI app runs ``alookup``
under ``asyncio.run``, as sync views calling LangChain's async API do.
"""

from __future__ import annotations

import asyncio
import json
import os
from urllib.parse import unquote

from langchain_memcached import MemcachedCache

LLM_STRING = "lifecycle-test-llm"

cache = MemcachedCache(os.environ["LLMCACHE_TEST_SERVER"])
if os.environ.get("LLMCACHE_TEST_WARM") == "1":
    cache.lookup("warm-up before fork", LLM_STRING)


def _texts(generations):
    return None if generations is None else [g.text for g in generations]


def _answer(generations, async_generations) -> bytes:
    return json.dumps({"texts": _texts(generations), "atexts": _texts(async_generations),
                       "pid": os.getpid()}).encode()


def wsgi_app(environ, start_response):
    prompt = unquote(environ["PATH_INFO"].lstrip("/"))
    body = _answer(cache.lookup(prompt, LLM_STRING),
                   asyncio.run(cache.alookup(prompt, LLM_STRING)))
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
    body = _answer(cache.lookup(prompt, LLM_STRING), await cache.alookup(prompt, LLM_STRING))
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
