"""llmcache and langchain_community's MemcachedCache on pymemcache share one pool:
same bytes stored, each reads the other's entries as equal objects."""

from __future__ import annotations

import json
import pickle

import pytest
from langchain_community.cache import MemcachedCache as LangchainMemcachedCache
from langchain_core.load import dumps
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatGeneration, Generation
from pymemcache.client.base import Client as PymemcacheClient

import langchain_memcached
from langchain_memcached import MemcachedCache

CONTROL = "".join(chr(c) for c in range(0x20)) + "\x7f"

CASES = {
    "ascii": [Generation(text="hello")],
    "empty text": [Generation(text="")],
    "accents": [Generation(text="café naïve Ångström")],
    "emoji": [Generation(text="rocket 🚀 and 𝄞")],
    "control characters": [Generation(text=CONTROL)],
    "quotes and backslashes": [Generation(text='say "hi" \\ back\\slash \\"')],
    "nested generation_info": [
        Generation(
            text="x",
            generation_info={
                "ints": [0, -1, 2**62],
                "floats": [0.1, 1e-07, 1e16, -0.0, 3.0, 1.5e300],
                "flags": [True, False, None],
                "nested": {"a": {"b": [1, {"c": "d"}]}, "é": "ü"},
            },
        )
    ],
    "empty generation_info": [Generation(text="x", generation_info={})],
    "lc key in generation_info": [Generation(text="x", generation_info={"lc": 1, "k": "v"})],
    "chat with tool calls and usage": [
        ChatGeneration(
            message=AIMessage(
                content="calling a tool",
                tool_calls=[{"name": "search", "args": {"q": "weather", "n": 3}, "id": "c1"}],
                usage_metadata={"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
                response_metadata={"model_name": "fake", "finish_reason": "tool_calls"},
                id="run-1",
            ),
            generation_info={"finish_reason": "tool_calls"},
        )
    ],
    "chat with empty content": [ChatGeneration(message=AIMessage(content=""))],
    "several generations": [
        Generation(text="one"),
        Generation(text="two", generation_info={"i": 2}),
        ChatGeneration(message=AIMessage(content="three")),
    ],
    "no generations": [],
}


@pytest.fixture
def both(memcached):
    return (
        MemcachedCache(memcached.spec),
        LangchainMemcachedCache(PymemcacheClient(memcached.address, default_noreply=False)),
        PymemcacheClient(memcached.address, default_noreply=False),
    )


@pytest.mark.parametrize("name", CASES)
def test_stored_bytes_are_identical(both, name):
    ours, theirs, raw = both
    gens = CASES[name]
    ours.update("prompt ours", "llm", gens)
    theirs.update("prompt theirs", "llm", gens)
    ours_bytes = raw.get(langchain_memcached.langchain_key("prompt ours", "llm"))
    theirs_bytes = raw.get(langchain_memcached.langchain_key("prompt theirs", "llm"))
    assert ours_bytes == theirs_bytes
    # and both are what LangChain's serializer produces with the installed langchain-core
    assert ours_bytes == json.dumps([dumps(g) for g in gens]).encode()


@pytest.mark.parametrize("name", CASES)
def test_each_reads_the_other(both, name):
    ours, theirs, _ = both
    gens = CASES[name]
    theirs.update("written by langchain", "llm", gens)
    ours.update("written by llmcache", "llm", gens)
    assert ours.lookup("written by langchain", "llm") == gens
    assert theirs.lookup("written by llmcache", "llm") == gens


@pytest.mark.parametrize("name", CASES)
async def test_alookup_reads_langchain_entries_and_counts_each_lookup(both, name):
    # Plain generations are read and counted in C++, anything else in Python: either way
    # the caller gets LangChain's objects, and each lookup is one hit or one miss.
    ours, theirs, _ = both
    gens = CASES[name]
    theirs.update("written by langchain", "llm", gens)
    assert await ours.alookup("written by langchain", "llm") == gens
    assert await ours.alookup("never written", "llm") is None
    stats = ours.stats()
    assert (stats["hits"], stats["misses"], stats["decode_errors"]) == (1, 1, 0)


def test_key_matches_langchain(memcached):
    assert (
        langchain_memcached.langchain_key("Sample prompt for testing.", "Sample LLM string configuration.")
        == "e9d5056781cb5de7386f768fd2eaa106"
    )


def test_reads_the_legacy_format(memcached):
    raw = PymemcacheClient(memcached.address, default_noreply=False)
    raw.set(
        langchain_memcached.langchain_key("old", "llm"),
        json.dumps([{"text": "legacy", "generation_info": {"a": 1}}]),
    )
    assert MemcachedCache(memcached.spec).lookup("old", "llm") == [
        Generation(text="legacy", generation_info={"a": 1})
    ]


def test_hit_is_a_real_list_of_real_generations(memcached):
    cache = MemcachedCache(memcached.spec)
    cache.update("p", "l", (Generation(text="a"),))
    hit = cache.lookup("p", "l")
    assert type(hit) is list
    assert type(hit[0]) is Generation


async def test_a_hit_behaves_as_the_generation_langchain_would_build(memcached):
    # The binding builds plain hits without running pydantic's validation: each must be the
    # object Generation(text=..., generation_info=...) is, to every use a caller has for it.
    cache = MemcachedCache(memcached.spec)
    plain = {name: gens for name, gens in CASES.items() if all(type(g) is Generation for g in gens)}
    for name, gens in plain.items():
        cache.update(name, "l", gens)
        want = [Generation(text=g.text, generation_info=g.generation_info) for g in gens]
        for hit in (cache.lookup(name, "l"), await cache.alookup(name, "l")):
            for got, built in zip(hit, want, strict=True):
                assert type(got) is Generation
                assert got == built
                assert list(vars(got).items()) == list(vars(built).items())
                assert got.model_fields_set == built.model_fields_set
                assert got.model_dump_json(exclude_unset=True) == built.model_dump_json(
                    exclude_unset=True)
                assert repr(got) == repr(built)
                assert dumps(got) == dumps(built)
                assert pickle.loads(pickle.dumps(got)) == built
                assert got.model_copy(update={"text": "other"}).text == "other"
