"""Signed entries (``signing_secret=``): only entries written with the secret read back;
LangChain's own entries, forgeries and other secrets are counted misses, never errors."""

from __future__ import annotations

import hashlib
import hmac
import logging
import struct

import pytest
from langchain_community.cache import MemcachedCache as LangchainMemcachedCache
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation
from pymemcache.client.base import Client as PymemcacheClient

import langchain_memcached
from langchain_memcached import _codec
from langchain_memcached import MemcachedCache

GENS = [Generation(text="Sample generated text.", generation_info={"reason": "test"})]
PREFIX = b"llmcache-hmac-v1:"


def raw_client(server) -> PymemcacheClient:
    return PymemcacheClient(server.address, default_noreply=False)


def signature_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "langchain_memcached" and "signature" in r.getMessage()]


def test_signed_round_trip_stores_the_documented_envelope(memcached):
    cache = MemcachedCache(memcached.spec, signing_secret="s3cret")
    cache.update("p", "l", GENS)
    assert cache.lookup("p", "l") == GENS
    key = langchain_memcached.langchain_key("p", "l")
    stored = raw_client(memcached).get(key)
    value = _codec.dumps_generations(GENS).encode()
    # The envelope, recomputed with Python's own hmac: the format is what README says.
    mac = hmac.new(b"s3cret", b"llmcache-hmac-v1" + struct.pack(">Q", len(key))
                   + key.encode() + value, hashlib.sha256).hexdigest()
    assert stored == PREFIX + mac.encode() + b":" + value
    assert cache.stats()["signature_failures"] == 0


def test_chat_generations_round_trip_signed(memcached):
    gens = [ChatGeneration(message=AIMessage(content="hi", tool_calls=[]))]
    cache = MemcachedCache(memcached.spec, signing_secret=b"\x00binary secret")
    cache.update("p", "l", gens)
    assert cache.lookup("p", "l") == gens


async def test_async_twins_sign_and_check(memcached):
    cache = MemcachedCache(memcached.spec, signing_secret="s3cret")
    await cache.aupdate("p", "l", GENS)
    assert await cache.alookup("p", "l") == GENS
    MemcachedCache(memcached.spec).update("p", "l", GENS)
    assert await cache.alookup("p", "l") is None
    assert cache.stats()["signature_failures"] == 1


def test_entry_planted_by_langchain_is_a_counted_miss_logged_once(memcached, caplog):
    langchain = LangchainMemcachedCache(raw_client(memcached))
    langchain.update("p", "l", GENS)
    langchain.update("q", "l", GENS)
    cache = MemcachedCache(memcached.spec, signing_secret="s3cret")
    with caplog.at_level(logging.WARNING, logger="langchain_memcached"):
        assert cache.lookup("p", "l") is None
        assert cache.lookup("q", "l") is None
    stats = cache.stats()
    assert (stats["signature_failures"], stats["misses"], stats["decode_errors"]) == (2, 2, 0)
    warnings = signature_warnings(caplog)
    assert len(warnings) == 1 and "unsigned" in warnings[0]


def test_entry_signed_with_another_secret_misses(memcached, caplog):
    MemcachedCache(memcached.spec, signing_secret="another").update("p", "l", GENS)
    cache = MemcachedCache(memcached.spec, signing_secret="s3cret")
    with caplog.at_level(logging.WARNING, logger="langchain_memcached"):
        assert cache.lookup("p", "l") is None
    assert cache.stats()["signature_failures"] == 1
    assert "mismatch" in signature_warnings(caplog)[0]


def test_tampered_byte_misses(memcached):
    cache = MemcachedCache(memcached.spec, signing_secret="s3cret")
    cache.update("p", "l", GENS)
    raw = raw_client(memcached)
    key = langchain_memcached.langchain_key("p", "l")
    tampered = raw.get(key).replace(b"text.", b"texT.")
    _codec.loads_generations(tampered[len(PREFIX) + 65:])  # still a valid LangChain value
    raw.set(key, tampered)
    assert cache.lookup("p", "l") is None
    assert cache.stats()["signature_failures"] == 1


def test_value_moved_to_another_key_misses(memcached):
    cache = MemcachedCache(memcached.spec, signing_secret="s3cret")
    cache.update("p", "l", GENS)
    raw = raw_client(memcached)
    raw.set(langchain_memcached.langchain_key("other", "l"), raw.get(langchain_memcached.langchain_key("p", "l")))
    assert cache.lookup("other", "l") is None
    assert cache.stats()["signature_failures"] == 1
    assert cache.lookup("p", "l") == GENS


def test_python_and_cpp_signers_are_the_same_code(memcached):
    signer = langchain_memcached._ext.Signer("s3cret")
    key = langchain_memcached.langchain_key("p", "l")
    MemcachedCache(memcached.spec, signing_secret="s3cret").update("p", "l", GENS)
    value, why = signer.open(key, raw_client(memcached).get(key))
    assert why is None and _codec.loads_generations(value) == GENS
    assert signer.open(key, b"[]") == (None, "unsigned")


def test_langchain_reading_a_signed_entry_gets_a_miss(memcached):
    MemcachedCache(memcached.spec, signing_secret="s3cret").update("p", "l", GENS)
    assert LangchainMemcachedCache(raw_client(memcached)).lookup("p", "l") is None


def test_empty_secret_is_refused(memcached):
    with pytest.raises(langchain_memcached.InvalidArgumentError):
        MemcachedCache(memcached.spec, signing_secret="")


def test_signing_off_stays_byte_identical_with_langchain(memcached):
    MemcachedCache(memcached.spec).update("p", "l", GENS)
    ours = raw_client(memcached).get(langchain_memcached.langchain_key("p", "l"))
    LangchainMemcachedCache(raw_client(memcached)).update("p", "l", GENS)
    assert raw_client(memcached).get(langchain_memcached.langchain_key("p", "l")) == ours
