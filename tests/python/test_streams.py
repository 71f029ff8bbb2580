"""cache_streams: streams served from and stored into the cache, against a real memcached,
with LangChain's fake models (GenericFakeChatModel, FakeListChatModel, FakeListLLM's
streaming kin), a chat model streaming tool-call chunks, and a LangGraph agent."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_community.cache import MemcachedCache as LangchainMemcachedCache
from langchain_core.caches import InMemoryCache
from langchain_core.globals import set_llm_cache
from langchain_core.language_models import (
    BaseChatModel,
    FakeListChatModel,
    FakeMessagesListChatModel,
    FakeStreamingListLLM,
    GenericFakeChatModel,
)
from langchain_core.language_models.fake_chat_models import FakeListChatModelError
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessageChunk, HumanMessage
from langchain_core.messages.utils import message_chunk_to_message
from langchain_core.runnables import RunnableLambda
from langchain_core.tools import tool
from pydantic import BaseModel
from pymemcache.client.base import Client as PymemcacheClient
from streaming_models import FailingStream, TokenRecorder, ToolCallingChatModel, WordStreamingLLM

from langchain_memcached import MemcachedCache, cache_streams

QUESTION = "What is the weather like in Paris today?"
ANSWER = "It is sunny in Paris today, with a light breeze from the west."
OTHER_ANSWER = "Something else entirely, which a cache hit must never say."
TOOL_CALL = {"name": "get_weather", "args": {"city": "Paris", "unit": "celsius"}, "id": "call_1"}
USAGE = {"input_tokens": 12, "output_tokens": 9, "total_tokens": 21}


@pytest.fixture
def cache(memcached):
    cache = MemcachedCache(memcached.spec)
    set_llm_cache(cache)
    yield cache
    set_llm_cache(None)


# ------------------------------------------------------------------ the models under test
@dataclass
class Case:
    """A streaming model wrapped by cache_streams, and how many times it was called."""

    model: BaseChatModel
    calls: Callable[[], int]


def generic_fake() -> Case:
    calls: list[int] = []

    def answers() -> Iterator[AIMessage]:
        for answer in [ANSWER, OTHER_ANSWER] * 10:
            calls.append(1)
            yield AIMessage(content=answer)

    return Case(cache_streams(GenericFakeChatModel(messages=answers())), lambda: len(calls))


def fake_list() -> Case:
    # Its position in the list is a field of the copy cache_streams returns.
    model = cache_streams(FakeListChatModel(responses=[ANSWER, OTHER_ANSWER, OTHER_ANSWER]))
    return Case(model, lambda: model.i)


def tool_calling() -> Case:
    answer = AIMessage(
        content="Let me look that up.",
        tool_calls=[TOOL_CALL],
        usage_metadata=USAGE,
        response_metadata={"model_name": "fake-1", "finish_reason": "tool_calls"},
    )
    model = ToolCallingChatModel(responses=[answer, AIMessage(content=OTHER_ANSWER)])
    return Case(cache_streams(model), lambda: len(model.calls))


CASES = {"GenericFakeChatModel": generic_fake, "FakeListChatModel": fake_list}
CASES["tool-call chunks"] = tool_calling


@pytest.fixture(params=list(CASES))
def case(request, cache) -> Case:
    return CASES[request.param]()


def total(chunks: list[AIMessageChunk]) -> AIMessage:
    """What a consumer of the stream ends up with: the chunks added up."""
    assert chunks, "the stream yielded nothing"
    added: BaseMessageChunk = chunks[0]
    for chunk in chunks[1:]:
        added = added + chunk
    message = message_chunk_to_message(added)
    assert isinstance(message, AIMessage)
    return message


def without_cost(usage: Any) -> Any:
    """LangChain zeroes total_cost in a hit's usage; the counts are the answer's."""
    if not usage:
        return None
    usage = {key: value for key, value in usage.items() if key != "total_cost"}
    return usage or None


def assert_same_answer(replayed: AIMessage, original: AIMessage) -> None:
    assert replayed.content == original.content
    assert replayed.tool_calls == original.tool_calls
    assert replayed.response_metadata == original.response_metadata
    assert without_cost(replayed.usage_metadata) == without_cost(original.usage_metadata)
    assert replayed.id == original.id


# ------------------------------------------------------------------ a hit streams
def test_second_stream_is_a_replay_of_the_first(case, cache):
    first = list(case.model.stream(QUESTION))
    assert case.calls() == 1

    recorder = TokenRecorder()
    second = list(case.model.stream(QUESTION, config={"callbacks": [recorder]}))

    assert case.calls() == 1, "the second stream called the model"
    assert len(second) > 1, "a hit came back as one blob"
    assert recorder.tokens == [chunk.content for chunk in second]
    assert (recorder.starts, recorder.ends, recorder.errors) == (1, 1, 0)
    assert_same_answer(total(second), total(first))
    assert cache.stats()["hits"] == 1


async def test_second_astream_is_a_replay_of_the_first(case, cache):
    first = [chunk async for chunk in case.model.astream(QUESTION)]
    assert case.calls() == 1

    recorder = TokenRecorder()
    second = [
        chunk async for chunk in case.model.astream(QUESTION, config={"callbacks": [recorder]})
    ]

    assert case.calls() == 1, "the second stream called the model"
    assert len(second) > 1, "a hit came back as one blob"
    assert recorder.tokens == [chunk.content for chunk in second]
    assert (recorder.starts, recorder.ends, recorder.errors) == (1, 1, 0)
    assert_same_answer(total(second), total(first))
    assert cache.stats()["hits"] == 1


def test_a_replay_sums_to_what_invoke_returns_on_a_hit(case, cache):
    list(case.model.stream(QUESTION))
    from_invoke = case.model.invoke(QUESTION)
    replayed = total(list(case.model.stream(QUESTION)))
    assert case.calls() == 1
    # Everything, usage's total_cost included: a hit is a hit, streamed or not. (A message
    # stored without usage is the one exception: LangChain's hit gives it
    # {"total_cost": 0}, which no chunk can carry.)
    if from_invoke.usage_metadata and "input_tokens" not in from_invoke.usage_metadata:
        from_invoke = from_invoke.model_copy(update={"usage_metadata": None})
    assert replayed == from_invoke


def test_a_hit_replays_text_in_pieces_and_tool_calls_as_tool_call_chunks(cache):
    case = tool_calling()
    list(case.model.stream(QUESTION))
    second = list(case.model.stream(QUESTION))
    texts = [chunk.content for chunk in second if chunk.content]
    assert "".join(texts) == "Let me look that up."
    assert len(texts) == 5
    calls = [call for chunk in second for call in chunk.tool_call_chunks]
    assert len(calls) > 1, "the arguments came as one blob"
    assert [(call["name"], call["id"]) for call in calls if call["name"]] == [
        ("get_weather", "call_1")
    ]
    assert total(second).tool_calls == [{**TOOL_CALL, "type": "tool_call"}]
    assert total(second).usage_metadata == {**USAGE, "total_cost": 0}


# ------------------------------------------------------------------ one entry for both
@pytest.fixture(params=["GenericFakeChatModel", "tool-call chunks"])
def counted_case(request, cache) -> Case:
    return CASES[request.param]()


def unwrapped(model: BaseChatModel) -> BaseChatModel:
    """The model as it was before cache_streams: its own class, same fields (and the same
    call counter)."""
    original = type(model).__mro__[1]
    return original.model_construct(**dict(model))


def test_stream_then_invoke_share_one_entry(counted_case, cache):
    streamed = total(list(counted_case.model.stream(QUESTION)))
    invoked = counted_case.model.invoke(QUESTION)
    assert counted_case.calls() == 1
    assert_same_answer(invoked, streamed)
    assert cache.stats()["hits"] == 1


def test_invoke_then_stream_share_one_entry(counted_case, cache):
    invoked = counted_case.model.invoke(QUESTION)
    chunks = list(counted_case.model.stream(QUESTION))
    assert counted_case.calls() == 1
    assert len(chunks) > 1
    assert_same_answer(total(chunks), invoked)


def test_stop_bound_kwargs_and_message_ids_key_streams_as_invokes(counted_case, cache):
    """stop and bound kwargs are part of the key, message ids are not (LangGraph gives
    every message a fresh id), for a stream exactly as for invoke()."""
    model = counted_case.model.bind(seed=7)
    streamed = total(list(model.stream([HumanMessage(QUESTION, id="a")], stop=["\n\n"])))
    invoked = model.invoke([HumanMessage(QUESTION, id="b")], stop=["\n\n"])
    assert counted_case.calls() == 1
    assert_same_answer(invoked, streamed)
    counted_case.model.invoke([HumanMessage(QUESTION)], stop=["\n\n"])  # no seed
    list(model.stream([HumanMessage(QUESTION)]))  # no stop
    assert counted_case.calls() == 3


def test_entries_are_shared_with_langchains_own_cache(counted_case, cache, memcached):
    """A process still on langchain_community's MemcachedCache (pymemcache) and LangChain's
    own invoke() path reads what a stream stored, and the other way round."""
    host, port = memcached.address
    # default_noreply=False: pymemcache's default sends sets without waiting for the server,
    # and the read that follows on our connection could overtake them.
    theirs = LangchainMemcachedCache(PymemcacheClient((host, port), default_noreply=False))
    plain = unwrapped(counted_case.model)

    streamed = total(list(counted_case.model.stream(QUESTION)))
    set_llm_cache(theirs)
    assert_same_answer(plain.invoke(QUESTION), streamed)
    assert counted_case.calls() == 1

    other_question = "And in Lyon?"
    invoked = plain.invoke(other_question)  # stored by LangChain on pymemcache
    assert counted_case.calls() == 2
    set_llm_cache(cache)
    chunks = list(counted_case.model.stream(other_question))
    assert counted_case.calls() == 2
    assert len(chunks) > 1
    assert_same_answer(total(chunks), invoked)


def test_an_explicit_cache_serves_streams_and_invokes(memcached):
    set_llm_cache(None)
    mine = MemcachedCache(memcached.spec)
    plain = ToolCallingChatModel(responses=[AIMessage(content=ANSWER)])
    model = cache_streams(cache_streams(plain), cache=mine)  # rewrapping sets the cache
    assert model.cache is mine and plain.cache is None
    streamed = total(list(model.stream(QUESTION)))
    assert_same_answer(model.invoke(QUESTION), streamed)
    assert mine.stats()["hits"] == 1
    assert len(plain.calls) == 1


def test_the_models_own_cache_is_used(memcached):
    set_llm_cache(None)
    own = MemcachedCache(memcached.spec)
    plain = ToolCallingChatModel(responses=[AIMessage(content=ANSWER)], cache=own)
    model = cache_streams(plain)
    list(model.stream(QUESTION))
    assert plain.invoke(QUESTION).content == ANSWER  # LangChain's path, the same entry
    assert own.stats()["hits"] == 1 and len(plain.calls) == 1


def test_any_langchain_cache_works(memcached):
    """Nothing here is memcached-specific: LangChain's InMemoryCache serves streams too."""
    set_llm_cache(InMemoryCache())
    try:
        case = generic_fake()
        first = total(list(case.model.stream(QUESTION)))
        assert_same_answer(total(list(case.model.stream(QUESTION))), first)
        assert case.calls() == 1
    finally:
        set_llm_cache(None)


# ------------------------------------------------------------------ a miss is stored only whole
def test_a_stream_abandoned_with_break_is_not_stored(case, cache):
    for _ in case.model.stream(QUESTION):
        break
    assert case.calls() == 1
    list(case.model.stream(QUESTION))
    assert case.calls() == 2, "a half-read answer was served from the cache"
    assert cache.stats()["hits"] == 0


def test_a_closed_stream_is_not_stored(case, cache):
    stream = case.model.stream(QUESTION)
    next(stream)
    next(stream)
    stream.close()  # GeneratorExit inside the model's stream
    list(case.model.stream(QUESTION))
    assert case.calls() == 2
    assert cache.stats()["hits"] == 0


async def test_an_async_stream_abandoned_with_break_is_not_stored(case, cache):
    stream = case.model.astream(QUESTION)
    async for _ in stream:
        break
    await stream.aclose()
    [chunk async for chunk in case.model.astream(QUESTION)]
    assert case.calls() == 2
    assert cache.stats()["hits"] == 0


async def test_a_cancelled_stream_is_not_stored(cache):
    model = cache_streams(FakeListChatModel(responses=[ANSWER, OTHER_ANSWER], sleep=0.01))
    first_chunk = asyncio.Event()

    async def consume() -> None:
        async for _ in model.astream(QUESTION):
            first_chunk.set()

    task = asyncio.create_task(consume())
    await first_chunk.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Had the cancelled answer been stored, this would replay ANSWER.
    assert total([chunk async for chunk in model.astream(QUESTION)]).content == OTHER_ANSWER


@pytest.mark.parametrize("asynchronous", [False, True], ids=["stream", "astream"])
async def test_a_failing_stream_is_not_stored(cache, asynchronous):
    failing = FakeListChatModel(responses=[ANSWER], error_on_chunk_number=5)
    model = cache_streams(failing)
    with pytest.raises(FakeListChatModelError):
        if asynchronous:
            [chunk async for chunk in model.astream(QUESTION)]
        else:
            list(model.stream(QUESTION))
    # The same model, now healthy, must be asked again: nothing was stored.
    healthy = cache_streams(failing.model_copy(update={"error_on_chunk_number": None}))
    assert total(list(healthy.stream(QUESTION))).content == ANSWER
    assert healthy.i == 0 and cache.stats()["hits"] == 0


def test_a_failing_tool_call_stream_is_not_stored(cache):
    model = ToolCallingChatModel(
        responses=[AIMessage(content="a b c", tool_calls=[TOOL_CALL])], fail_after_chunks=4
    )
    with pytest.raises(FailingStream):
        list(cache_streams(model).stream(QUESTION))
    model.fail_after_chunks = None
    list(cache_streams(model).stream(QUESTION))
    assert len(model.calls) == 2
    assert cache.stats()["hits"] == 0


# ------------------------------------------------------------------ streaming consumers
async def test_astream_events_shows_the_tokens_of_a_hit(case, cache):
    list(case.model.stream(QUESTION))
    events = [event async for event in case.model.astream_events(QUESTION, version="v2")]
    assert case.calls() == 1
    streamed = [event for event in events if event["event"] == "on_chat_model_stream"]
    assert len(streamed) > 1
    chunks = [event["data"]["chunk"] for event in streamed]
    assert total(chunks).content == total(list(case.model.stream(QUESTION))).content


async def test_a_hit_reached_through_invoke_streams_to_streaming_handlers(case, cache):
    """A chain that invoke()s the model inside astream_events: LangChain's invoke path
    with a streaming handler attached, as LangGraph calls models."""
    first = await case.model.ainvoke(QUESTION)

    async def ask(question: str) -> AIMessage:
        return await case.model.ainvoke(question)

    events = [event async for event in RunnableLambda(ask).astream_events(QUESTION, version="v2")]
    assert case.calls() == 1
    chunks = [e["data"]["chunk"] for e in events if e["event"] == "on_chat_model_stream"]
    assert len(chunks) > 1
    assert total(chunks).content == first.content

    # And the sync path: a streaming handler on invoke().
    def ask_sync(question: str) -> AIMessage:
        return case.model.invoke(question)

    sync_events = [
        event async for event in RunnableLambda(ask_sync).astream_events(QUESTION, version="v2")
    ]
    sync_chunks = [
        event["data"]["chunk"] for event in sync_events if event["event"] == "on_chat_model_stream"
    ]
    assert case.calls() == 1
    assert [chunk.content for chunk in sync_chunks] == [chunk.content for chunk in chunks]


async def test_a_miss_streamed_inside_invoke_is_looked_up_and_stored_once(case, cache):
    """invoke() with a streaming handler streams the model inside LangChain's generate
    path, which looks up and stores by itself."""

    async def ask(question: str) -> AIMessage:
        return await case.model.ainvoke(question)

    events = [event async for event in RunnableLambda(ask).astream_events(QUESTION, version="v2")]
    assert len([e for e in events if e["event"] == "on_chat_model_stream"]) > 1
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["updates"]) == (0, 1, 1)
    assert case.calls() == 1


@tool
def get_weather(city: str, unit: str) -> str:
    """The weather in a city."""
    return f"sunny, 24 degrees {unit} in {city}"


def weather_agent() -> tuple[Any, ToolCallingChatModel]:
    model = ToolCallingChatModel(
        responses=[
            AIMessage(content="", tool_calls=[TOOL_CALL], usage_metadata=USAGE),
            AIMessage(content=ANSWER, usage_metadata=USAGE),
        ],
        by_turn=True,
    )
    return create_agent(cache_streams(model), tools=[get_weather]), model


def model_tokens(parts: list[tuple[Any, dict[str, Any]]]) -> list[AIMessageChunk]:
    return [
        message
        for message, metadata in parts
        if metadata.get("langgraph_node") == "model" and isinstance(message, AIMessageChunk)
    ]


# A hit's usage gets total_cost 0 from LangChain, and that message is part of the next
# model call's prompt: so the first replayed run of an agent hits its first step only, and
# stores the later ones under the new prompts; from then on every step hits. That is
# LangChain's key (shared with its own cache), not something cache_streams may change.
def test_a_langgraph_agent_streams_the_tokens_of_cached_answers(cache):
    agent, model = weather_agent()
    question = {"messages": [("user", QUESTION)]}
    agent.invoke(question)
    assert len(model.calls) == 2  # the tool call, then the answer

    parts = list(agent.stream(question, stream_mode="messages"))
    assert len(model.calls) == 3  # the tool call was a hit (see above)
    calls = [call for chunk in model_tokens(parts) for call in chunk.tool_call_chunks]
    assert [(call["name"], call["id"]) for call in calls if call["name"]] == [
        ("get_weather", "call_1")
    ]

    parts = list(agent.stream(question, stream_mode="messages"))
    assert len(model.calls) == 3, "the agent called the model again"
    tokens = model_tokens(parts)
    text = [chunk.content for chunk in tokens if chunk.content]
    assert len(text) > 1 and "".join(text) == ANSWER
    names = [call["name"] for chunk in tokens for call in chunk.tool_call_chunks]
    assert [name for name in names if name] == ["get_weather"]


async def test_a_langgraph_agent_astreams_the_tokens_of_cached_answers(cache):
    agent, model = weather_agent()
    question = {"messages": [("user", QUESTION)]}
    for _ in range(2):  # stores the first step, then the second after a hit (see above)
        [part async for part in agent.astream(question, stream_mode="messages")]
    assert len(model.calls) == 3

    parts = [part async for part in agent.astream(question, stream_mode="messages")]
    assert len(model.calls) == 3, "the agent called the model again"
    text = [chunk.content for chunk in model_tokens(parts) if chunk.content]
    assert len(text) > 1 and "".join(text) == ANSWER


# ------------------------------------------------------------------ string LLMs
def test_llm_stream_twice(cache):
    llm = WordStreamingLLM(responses=[ANSWER, OTHER_ANSWER])
    model = cache_streams(llm)
    first = list(model.stream(QUESTION))
    recorder = TokenRecorder()
    second = list(model.stream(QUESTION, config={"callbacks": [recorder]}))
    assert len(llm.calls) == 1
    assert len(second) > 1 and "".join(second) == "".join(first) == ANSWER
    assert recorder.tokens == second
    assert (recorder.starts, recorder.ends) == (1, 1)


async def test_llm_astream_twice(cache):
    llm = WordStreamingLLM(responses=[ANSWER, OTHER_ANSWER])
    model = cache_streams(llm)
    first = [chunk async for chunk in model.astream(QUESTION)]
    recorder = TokenRecorder()
    second = [chunk async for chunk in model.astream(QUESTION, config={"callbacks": [recorder]})]
    assert len(llm.calls) == 1
    assert len(second) > 1 and "".join(second) == "".join(first) == ANSWER
    assert recorder.tokens == second


def test_llm_stream_and_invoke_share_one_entry(cache, memcached):
    llm = WordStreamingLLM(responses=[ANSWER, OTHER_ANSWER, OTHER_ANSWER])
    model = cache_streams(llm)
    assert "".join(model.stream(QUESTION)) == ANSWER
    assert model.invoke(QUESTION) == ANSWER
    host, port = memcached.address
    set_llm_cache(LangchainMemcachedCache(PymemcacheClient((host, port), default_noreply=False)))
    assert llm.invoke(QUESTION) == ANSWER  # LangChain's own path on pymemcache
    assert llm.invoke("another prompt") == OTHER_ANSWER
    set_llm_cache(cache)
    chunks = list(model.stream("another prompt"))
    assert len(chunks) > 1 and "".join(chunks) == OTHER_ANSWER
    assert len(llm.calls) == 2


def test_llm_failing_and_abandoned_streams_are_not_stored(cache):
    llm = WordStreamingLLM(responses=[ANSWER], fail_after_chunks=3)
    with pytest.raises(FailingStream):
        list(cache_streams(llm).stream(QUESTION))
    llm.fail_after_chunks = None
    for _ in cache_streams(llm).stream(QUESTION):
        break
    assert "".join(cache_streams(llm).stream(QUESTION)) == ANSWER
    assert len(llm.calls) == 3
    assert cache.stats()["hits"] == 0


@pytest.mark.parametrize("asynchronous", [False, True], ids=["invoke", "ainvoke"])
async def test_an_llm_generating_through_its_stream_is_looked_up_and_stored_once(
    cache, asynchronous
):
    """LangChain's generate path has looked the prompt up and will store the answer: the
    model's own _stream, called inside it, must not do either a second time."""
    llm = cache_streams(WordStreamingLLM(responses=[ANSWER], generate_by_streaming=True))
    answer = await llm.ainvoke(QUESTION) if asynchronous else llm.invoke(QUESTION)
    assert answer == ANSWER
    stats = cache.stats()
    assert (stats["hits"], stats["misses"], stats["updates"]) == (0, 1, 1)
    assert "".join(llm.stream(QUESTION)) == ANSWER
    assert cache.stats()["hits"] == 1


def test_an_llm_streaming_by_its_own_stream_method_is_served_by_invoke(cache):
    """FakeStreamingListLLM streams by overriding stream() itself on top of invoke();
    cache_streams leaves that alone and LangChain's invoke path caches it."""
    model = cache_streams(FakeStreamingListLLM(responses=[ANSWER, OTHER_ANSWER]))
    assert "".join(model.stream(QUESTION)) == ANSWER
    second = list(model.stream(QUESTION))
    assert len(second) > 1 and "".join(second) == ANSWER


# ------------------------------------------------------------------ the same model otherwise
class Weather(BaseModel):
    city: str
    unit: str


def test_the_wrapped_model_is_the_model(cache):
    model = ToolCallingChatModel(responses=[AIMessage(content=ANSWER)])
    wrapped = cache_streams(model)
    assert isinstance(wrapped, ToolCallingChatModel)
    assert type(wrapped).__name__ == "ToolCallingChatModel"
    assert wrapped.get_name() == model.get_name()
    assert wrapped._serialized == model._serialized  # traces and the cache key
    assert wrapped._get_llm_string(stop=["x"]) == model._get_llm_string(stop=["x"])
    assert wrapped.responses == model.responses
    assert type(model) is ToolCallingChatModel, "cache_streams changed the model it was given"
    assert cache_streams(wrapped).__class__ is wrapped.__class__  # no second layer


def test_a_wrapped_model_pickles(cache):
    wrapped = cache_streams(ToolCallingChatModel(responses=[AIMessage(content=ANSWER)]))
    list(wrapped.stream(QUESTION))
    again = pickle.loads(pickle.dumps(wrapped))
    assert type(again) is type(wrapped)
    assert total(list(again.stream(QUESTION))).content == ANSWER
    assert again.calls == ["It is sunny in Paris today, with a light breeze from the west."]


def test_invoke_batch_and_config_behave_as_the_models(cache):
    case = tool_calling()
    model = case.model
    assert model.invoke(QUESTION).tool_calls == [{**TOOL_CALL, "type": "tool_call"}]
    assert [m.content for m in model.batch(["q1", "q2"])] == [OTHER_ANSWER, "Let me look that up."]
    assert [m.content for m in model.batch(["q1", "q2"])] == [OTHER_ANSWER, "Let me look that up."]
    recorder = TokenRecorder()
    named = model.with_config(run_name="weather", callbacks=[recorder])
    assert len(list(named.stream(QUESTION))) > 1  # a hit of the first invoke
    assert recorder.tokens and recorder.ends == 1
    assert case.calls() == 3


async def test_abatch_and_ainvoke_behave_as_the_models(cache):
    case = generic_fake()
    answers = await case.model.abatch(["q1", "q2"])
    assert sorted(a.content for a in answers) == sorted([ANSWER, OTHER_ANSWER])
    again = await case.model.abatch(["q1", "q2"])
    assert [a.content for a in again] == [a.content for a in answers]
    assert (await case.model.ainvoke("q1")).content == answers[0].content
    assert case.calls() == 2


def test_bound_tools_and_structured_output_stream_from_the_cache(cache):
    model = ToolCallingChatModel(
        responses=[AIMessage(content="", tool_calls=[{**TOOL_CALL, "name": "Weather"}])]
    )
    wrapped = cache_streams(model)

    bound = wrapped.bind_tools([get_weather])
    first = total(list(bound.stream(QUESTION)))
    second = list(bound.stream(QUESTION))
    assert len(model.calls) == 1 and len(second) > 1
    assert total(second).tool_calls == first.tool_calls

    structured = wrapped.with_structured_output(Weather)
    assert structured.invoke("weather, structured") == Weather(city="Paris", unit="celsius")
    assert list(structured.stream("weather, structured"))[-1] == Weather(
        city="Paris", unit="celsius"
    )
    assert len(model.calls) == 2


def test_a_model_that_cannot_stream_is_left_to_langchains_cache(cache):
    model = FakeMessagesListChatModel(responses=[AIMessage(content=ANSWER)])
    wrapped = cache_streams(model)
    assert type(wrapped) is FakeMessagesListChatModel
    assert [chunk.content for chunk in wrapped.stream(QUESTION)] == [ANSWER]
    assert [chunk.content for chunk in wrapped.stream(QUESTION)] == [ANSWER]
    assert cache.stats()["hits"] == 1


def test_what_cannot_be_wrapped(cache):
    with pytest.raises(TypeError, match="bind_tools"):
        cache_streams(tool_calling().model.bind_tools([get_weather]))  # type: ignore[type-var]
    with pytest.raises(ValueError, match="cache=False"):
        cache_streams(FakeListChatModel(responses=["x"], cache=False))


# ------------------------------------------------------------------ cache_control applies to streams
@pytest.mark.parametrize("asynchronous", [False, True], ids=["stream", "astream"])
async def test_cache_control_applies_to_streams(cache, asynchronous):
    from langchain_memcached import cache_control

    case = generic_fake()  # answers ANSWER, OTHER_ANSWER, ANSWER... per model call

    async def stream() -> str:
        if asynchronous:
            return "".join([str(c.content) async for c in case.model.astream(QUESTION)])
        return "".join(str(c.content) for c in case.model.stream(QUESTION))

    with cache_control(no_store=True):
        assert await stream() == ANSWER  # a miss, not stored
    with cache_control(no_cache=True):
        assert await stream() == OTHER_ANSWER  # neither read nor stored
    assert await stream() == ANSWER  # still a miss: stored now
    assert case.calls() == 3
    assert await stream() == ANSWER  # a replay
    with cache_control(refresh=True):
        assert await stream() == OTHER_ANSWER  # recomputed, not read, and stored
    assert case.calls() == 4
    assert await stream() == OTHER_ANSWER  # the refreshed answer replays
    assert case.calls() == 4
