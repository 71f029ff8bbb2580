"""Real LangChain flows with set_llm_cache and LangChain's fake models."""

from __future__ import annotations

import pytest
from langchain_core.globals import set_llm_cache
from langchain_core.language_models import FakeListChatModel, FakeListLLM

from langchain_memcached import MemcachedCache


@pytest.fixture
def cache(memcached):
    cache = MemcachedCache(memcached.spec)
    set_llm_cache(cache)
    yield cache
    set_llm_cache(None)


def test_second_invoke_is_served_from_the_cache(cache):
    llm = FakeListLLM(responses=["first answer", "second answer"])
    question = "Which city is the most crowded city in the USA?"
    assert llm.invoke(question) == "first answer"
    assert llm.invoke(question) == "first answer"  # the model would have said "second"
    assert cache.stats()["hits"] == 1


def test_batch_over_several_prompts(cache):
    llm = FakeListLLM(responses=[f"answer {i}" for i in range(6)])
    prompts = ["a", "b", "c"]
    first = llm.batch(prompts)
    assert sorted(first) == ["answer 0", "answer 1", "answer 2"]
    assert llm.batch(prompts) == first
    assert cache.stats()["hits"] == 3


def test_chat_model_repeated_call(cache):
    chat = FakeListChatModel(responses=["hello there", "something else"])
    first = chat.invoke("hi")
    second = chat.invoke("hi")
    assert first.content == second.content == "hello there"
    assert cache.stats()["hits"] == 1


async def test_ainvoke_and_abatch(cache):
    llm = FakeListLLM(responses=[f"async answer {i}" for i in range(8)])
    first = await llm.ainvoke("q")
    assert await llm.ainvoke("q") == first
    prompts = ["x", "y", "z"]
    batch = await llm.abatch(prompts)
    assert await llm.abatch(prompts) == batch
    assert cache.stats()["hits"] == 4
