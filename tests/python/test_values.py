"""Values LangChain cannot write back, and numbers only Python's json holds.

LangChain's ``dumps`` writes ``{"lc": 1, "type": "not_implemented", ...}`` for an object it
cannot serialize (a datetime, a set, bytes, a Decimal, a UUID, a numpy value): such an
update is refused (counted, logged once, raised with ``strict=True``, nothing stored), and a
stored value holding that node or a ``secret`` node anywhere is a counted miss. NaN,
infinities and ints beyond 64 bits are written as LangChain writes them and read back
equal. Expected bytes come from the installed langchain-core."""

from __future__ import annotations

import datetime
import decimal
import json
import logging
import math
import uuid

import pytest
from langchain_core.load import dumps as lc_dumps
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation
from pymemcache.client.base import Client as PymemcacheClient

import langchain_memcached
from langchain_memcached import InvalidArgumentError, MemcachedCache

try:
    import numpy
except ImportError:  # pragma: no cover - numpy is in requirements-dev today
    numpy = None

NEEDS_NUMPY = pytest.mark.skipif(numpy is None, reason="numpy is not installed in this venv")

UNSERIALIZABLE = {
    "datetime": lambda: datetime.datetime(2024, 1, 2, 3, 4, 5),
    "date": lambda: datetime.date(2024, 1, 2),
    "set": lambda: {1, 2},
    "bytes": lambda: b"\x00bytes",
    "Decimal": lambda: decimal.Decimal("1.25"),
    "UUID": lambda: uuid.UUID(int=7),
    "numpy float32": pytest.param(lambda: numpy.float32(1.5), marks=NEEDS_NUMPY),
    "numpy int64": pytest.param(lambda: numpy.int64(3), marks=NEEDS_NUMPY),
    "numpy array": pytest.param(lambda: numpy.array([1, 2]), marks=NEEDS_NUMPY),
}

OLD = [Generation(text="the old answer")]


def stored(generations) -> bytes:
    """What LangChain's MemcachedCache stores (langchain_community.cache._dumps_generations)."""
    return json.dumps([lc_dumps(g) for g in generations]).encode()


def cases(make):
    """The unserializable value at several places a model puts metadata."""
    return {
        "generation_info": [Generation(text="t", generation_info={"created": make()})],
        "nested generation_info": [Generation(
            text="t", generation_info={"a": [1, {"b": [make()]}], "n": float("nan")})],
        "second generation": [Generation(text="ok"),
                              Generation(text="t", generation_info={"v": make()})],
        "chat generation_info": [ChatGeneration(message=AIMessage(content="hi"),
                                                generation_info={"v": make()})],
        "additional_kwargs": [ChatGeneration(
            message=AIMessage(content="hi", additional_kwargs={"v": make()}))],
        "response_metadata": [ChatGeneration(
            message=AIMessage(content="hi", response_metadata={"usage": {"at": make()}}))],
    }


@pytest.fixture
def raw(memcached):
    return PymemcacheClient(memcached.address, default_noreply=False)


def key(prompt: str) -> str:
    return langchain_memcached.langchain_key(prompt, "l")


def our_records(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "langchain_memcached"]


# ---------------------------------------------------------------- writing


@pytest.mark.parametrize("make", UNSERIALIZABLE.values(), ids=UNSERIALIZABLE.keys())
def test_update_of_what_dumps_cannot_serialize_is_refused(memcached, raw, caplog, make):
    examples = cases(make)
    for place, generations in examples.items():
        # The premise, from LangChain itself: its dumps writes the placeholder.
        assert b"not_implemented" in stored(generations), place
    cache = MemcachedCache(memcached.spec)
    cache.update("p", "l", OLD)
    before = raw.get(key("p"))
    with caplog.at_level(logging.WARNING, logger="langchain_memcached"):
        for place, generations in examples.items():
            assert cache.update("p", "l", generations) is None, place  # LangChain: no raise
    assert raw.get(key("p")) == before  # never stored: the old entry stays
    assert cache.lookup("p", "l") == OLD
    stats = cache.stats()
    assert stats["update_failures"] == len(examples)
    assert stats["unserializable_values"] == len(examples)
    assert stats["updates"] == 1
    records = our_records(caplog)
    assert len(records) == 1  # once per cause
    assert "not_implemented" in records[0].getMessage()


@pytest.mark.parametrize("make", UNSERIALIZABLE.values(), ids=UNSERIALIZABLE.keys())
def test_strict_update_raises_and_stores_nothing(memcached, raw, make):
    cache = MemcachedCache(memcached.spec, strict=True)
    cache.update("p", "l", OLD)
    before = raw.get(key("p"))
    for place, generations in cases(make).items():
        with pytest.raises(InvalidArgumentError, match="not_implemented"):
            cache.update("p", "l", generations)
        assert raw.get(key("p")) == before, place
    assert cache.stats()["unserializable_values"] == len(cases(make))


async def test_async_update_is_refused_the_same_way(memcached, raw):
    cache = MemcachedCache(memcached.spec)
    await cache.aupdate("p", "l", OLD)
    generations = [Generation(text="t", generation_info={"at": datetime.datetime(2024, 1, 1)})]
    await cache.aupdate("p", "l", generations)
    assert await cache.alookup("p", "l") == OLD
    stats = cache.stats()
    assert (stats["updates"], stats["update_failures"], stats["unserializable_values"]) == (1, 1, 1)
    strict = MemcachedCache(memcached.spec, strict=True)
    with pytest.raises(InvalidArgumentError):
        await strict.aupdate("p", "l", generations)
    assert raw.get(key("p")) == stored(OLD)


def test_user_data_that_looks_like_a_node_is_stored_and_read_back(memcached, raw):
    # LangChain escapes a user dict holding "lc": it is data, not a node, both ways.
    look_alikes = [{"lc": 1, "type": "not_implemented", "id": ["x"], "repr": "x"},
                   {"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]}]
    generations = [Generation(text="t", generation_info={"a": look_alikes}),
                   ChatGeneration(message=AIMessage(content="hi",
                                                    response_metadata={"b": look_alikes}))]
    cache = MemcachedCache(memcached.spec, strict=True)
    cache.update("p", "l", generations)
    assert raw.get(key("p")) == stored(generations)
    assert cache.lookup("p", "l") == generations
    assert cache.stats()["decode_errors"] == 0


# ---------------------------------------------------------------- reading

SECRET = {"lc": 1, "type": "secret", "id": ["LLMCACHE_TEST_PLANTED_SECRET"]}
NOT_IMPLEMENTED = json.loads(lc_dumps(datetime.datetime(2024, 1, 1)))


def plant_node(node: dict) -> dict[str, bytes]:
    """Stored values holding `node` at several depths, the rest written by LangChain."""
    marker = "PLANTED-NODE"  # replaced after LangChain serialized the rest

    def with_node(generations) -> bytes:
        inner = [lc_dumps(g).replace(json.dumps(marker), json.dumps(node)) for g in generations]
        return json.dumps(inner).encode()

    return {
        "generation_info value": with_node([Generation(text="t", generation_info={"k": marker})]),
        "deep in generation_info": with_node(
            [Generation(text="t", generation_info={"a": [{"b": [[marker]]}]})]),
        "second generation": with_node(
            [Generation(text="ok"), Generation(text="t", generation_info={"k": marker})]),
        "message additional_kwargs": with_node(
            [ChatGeneration(message=AIMessage(content="hi", additional_kwargs={"k": marker}))]),
        "message response_metadata": with_node([ChatGeneration(message=AIMessage(
            content="hi", response_metadata={"a": {"b": [marker]}}))]),
        "chat generation_info": with_node(
            [ChatGeneration(message=AIMessage(content="hi"), generation_info={"k": marker})]),
        "beside numbers only Python holds": with_node([Generation(
            text="t", generation_info={"k": marker, "n": float("nan"), "b": 2**70})]),
        "legacy format": json.dumps([{"text": "t", "generation_info": {"k": node}}]).encode(),
    }


@pytest.mark.parametrize("node", [NOT_IMPLEMENTED, SECRET], ids=["not_implemented", "secret"])
def test_stored_nodes_anywhere_are_counted_misses(memcached, raw, caplog, node):
    planted = plant_node(node)
    for place, value in planted.items():
        raw.set(key(place), value)
    cache = MemcachedCache(memcached.spec)
    with caplog.at_level(logging.WARNING, logger="langchain_memcached"):
        for place in planted:
            assert cache.lookup(place, "l") is None, place
    stats = cache.stats()
    assert (stats["hits"], stats["misses"]) == (0, len(planted))
    assert stats["decode_errors"] == len(planted)
    assert len(our_records(caplog)) == 1


async def test_async_lookup_of_a_node_is_a_miss(memcached, raw):
    raw.set(key("p"), plant_node(NOT_IMPLEMENTED)["message additional_kwargs"])
    cache = MemcachedCache(memcached.spec)
    assert await cache.alookup("p", "l") is None
    assert cache.stats()["decode_errors"] == 1


def test_what_langchain_stored_for_a_datetime_is_a_miss(memcached):
    # Written by LangChain's own MemcachedCache (pymemcache), as users have them today.
    from langchain_community.cache import MemcachedCache as LangChainCache

    LangChainCache(PymemcacheClient(memcached.address, default_noreply=False)).update(
        "p", "l", [Generation(text="t", generation_info={"at": datetime.datetime(2024, 1, 1)})])
    cache = MemcachedCache(memcached.spec)
    assert cache.lookup("p", "l") is None
    assert cache.stats()["decode_errors"] == 1


# ---------------------------------------------------------------- numbers only Python holds

PYTHON_NUMBERS = {"big": 2**70, "negative big": -(2**80), "nan": float("nan"),
                  "inf": float("inf"), "-inf": float("-inf"), "max": 1.7976931348623157e308,
                  "list": [2**64, float("nan")]}


def same(a, b) -> bool:
    """Equality with NaN equal to itself."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def test_big_ints_nan_and_infinities_round_trip(memcached, raw):
    generations = [
        Generation(text="t", generation_info=dict(PYTHON_NUMBERS)),
        ChatGeneration(message=AIMessage(content="hi", response_metadata={"n": PYTHON_NUMBERS}),
                       generation_info={"logprob": float("-inf")}),
    ]
    cache = MemcachedCache(memcached.spec, strict=True)
    cache.update("p", "l", generations)
    assert raw.get(key("p")) == stored(generations)  # LangChain's bytes: NaN, Infinity...
    hit = cache.lookup("p", "l")
    assert hit is not None
    assert hit[0].text == "t" and same(hit[0].generation_info, PYTHON_NUMBERS)
    assert same(hit[1].message.response_metadata, {"n": PYTHON_NUMBERS})
    assert same(hit[1].generation_info, {"logprob": float("-inf")})
    assert cache.stats()["decode_errors"] == 0


def test_numbers_written_by_langchain_read_back_equal(memcached):
    from langchain_community.cache import MemcachedCache as LangChainCache

    generations = [Generation(text="t", generation_info={"n": 2**100, "x": float("inf")})]
    LangChainCache(PymemcacheClient(memcached.address, default_noreply=False)).update(
        "p", "l", generations)
    cache = MemcachedCache(memcached.spec)
    assert cache.lookup("p", "l") == generations
    assert cache.stats()["hits"] == 1


def test_legacy_format_with_big_numbers_reads_back(memcached, raw):
    raw.set(key("p"), b'[{"text": "t", "generation_info": {"n": 123456789012345678901234567890,'
                      b' "x": -Infinity}}]')
    cache = MemcachedCache(memcached.spec)
    assert cache.lookup("p", "l") == [
        Generation(text="t", generation_info={"n": 123456789012345678901234567890,
                                              "x": float("-inf")})]
