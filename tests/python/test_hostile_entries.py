"""Entries planted by someone who can write to the pool: whatever the stored JSON claims,
a lookup builds only generations and messages, or misses (counted as a decode error,
logged once); it never constructs another class and never reads an environment secret."""

from __future__ import annotations

import json
import logging

import pytest
from langchain_core.prompts import PromptTemplate
from pymemcache.client.base import Client as PymemcacheClient

import langchain_memcached
from langchain_memcached import MemcachedCache

SECRET_ENV = "LLMCACHE_TEST_PLANTED_SECRET"
SECRET_VALUE = "sk-must-never-leak"
SECRET = {"lc": 1, "type": "secret", "id": [SECRET_ENV]}


def constructor(id_: list[str], kwargs: dict) -> dict:
    return {"lc": 1, "type": "constructor", "id": id_, "kwargs": kwargs}


def chat(message: dict) -> dict:
    return constructor(["langchain", "schema", "output", "ChatGeneration"],
                       {"type": "ChatGeneration", "message": message})


def ai_message(**kwargs) -> dict:
    return constructor(["langchain", "schema", "messages", "AIMessage"],
                       {"type": "ai", "tool_calls": [], "invalid_tool_calls": [], **kwargs})


HOSTILE = {
    "an LLM class with a secret from the environment": constructor(
        ["langchain", "llms", "openai", "OpenAI"], {"openai_api_key": SECRET}),
    "a chat model class": constructor(
        ["langchain_openai", "chat_models", "base", "ChatOpenAI"], {"openai_api_key": SECRET}),
    "a prompt template": constructor(
        ["langchain_core", "prompts", "prompt", "PromptTemplate"],
        {"template": "{x}", "input_variables": ["x"]}),
    "a prompt template as the message": chat(constructor(
        ["langchain", "prompts", "prompt", "PromptTemplate"],
        {"template": "{x}", "input_variables": ["x"]})),
    "a secret as the message content": chat(ai_message(content=SECRET)),
    "a secret deep in additional_kwargs": chat(
        ai_message(content="hi", additional_kwargs={"a": [{"b": SECRET}]})),
    "a not_implemented node": chat({"lc": 1, "type": "not_implemented",
                                    "id": ["langchain", "schema", "messages", "AIMessage"],
                                    "repr": "x"}),
    "a top-level secret node": SECRET,
}


@pytest.fixture
def planted(memcached, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, SECRET_VALUE)
    raw = PymemcacheClient(memcached.address, default_noreply=False)

    def plant(prompt: str, value: str | bytes) -> None:
        raw.set(langchain_memcached.langchain_key(prompt, "l"), value)

    return plant


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_constructor_is_a_counted_miss(memcached, planted, caplog, name):
    planted("p", json.dumps([json.dumps(HOSTILE[name])]))
    cache = MemcachedCache(memcached.spec)
    with caplog.at_level(logging.DEBUG):
        assert cache.lookup("p", "l") is None
    stats = cache.stats()
    assert (stats["misses"], stats["decode_errors"], stats["hits"]) == (1, 1, 0)
    assert SECRET_VALUE not in caplog.text


def test_no_other_class_is_constructed(memcached, planted, monkeypatch):
    built = []
    original = PromptTemplate.__init__

    def spy(self, *args, **kwargs):
        built.append(kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(PromptTemplate, "__init__", spy)
    planted("p", json.dumps([json.dumps(HOSTILE["a prompt template"])]))
    planted("q", json.dumps([json.dumps(HOSTILE["a prompt template as the message"])]))
    cache = MemcachedCache(memcached.spec)
    assert cache.lookup("p", "l") is None
    assert cache.lookup("q", "l") is None
    assert built == []


async def test_async_lookup_refuses_them_too(memcached, planted):
    planted("p", json.dumps([json.dumps(HOSTILE["a secret as the message content"])]))
    cache = MemcachedCache(memcached.spec)
    assert await cache.alookup("p", "l") is None
    assert cache.stats()["decode_errors"] == 1


def test_huge_nesting_and_numbers_are_misses_not_crashes(memcached, planted, caplog):
    generation = constructor(["langchain", "schema", "output", "Generation"], {"text": "t"})
    inner = json.dumps(generation)
    deep_info = inner[:-2] + ', "generation_info": {"n": ' + "[" * 100_000 + "]" * 100_000 + "}}}"
    huge_int = inner[:-2] + ', "generation_info": {"n": ' + "9" * 100_000 + "}}}"
    planted("deep outer", "[" * 200_000 + "]" * 200_000)
    planted("deep inner", json.dumps([deep_info]))
    planted("deep message", json.dumps([json.dumps(
        chat(ai_message(content="hi", additional_kwargs={"a": [[[[[[[[[[]]]]]]]]]]} | {
            "deep": json.loads("[" * 150 + "]" * 150)}))
    )]))
    planted("huge int", json.dumps([huge_int]))
    planted("huge outer", "[" + "9" * 100_000 + "]")
    cache = MemcachedCache(memcached.spec)
    prompts = ["deep outer", "deep inner", "deep message", "huge int", "huge outer"]
    with caplog.at_level(logging.WARNING, logger="langchain_memcached"):
        for prompt in prompts:
            assert cache.lookup(prompt, "l") is None, prompt
    assert cache.stats()["decode_errors"] == len(prompts)
    assert len([r for r in caplog.records if r.name == "langchain_memcached"]) == 1  # once per cause


def test_escaped_user_data_that_looks_like_a_secret_is_kept_as_data(memcached):
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration

    # A model's metadata that happens to look like a secret node: LangChain escapes it
    # when writing, so it must read back as the same data, not as a refusal.
    gens = [ChatGeneration(message=AIMessage(content="hi", additional_kwargs={"x": SECRET}))]
    cache = MemcachedCache(memcached.spec)
    cache.update("p", "l", gens)
    assert cache.lookup("p", "l") == gens
