"""cache_streams with single_flight: a caller that waits for another caller's streamed
answer gets it replayed as a stream, and a winner whose stream does not reach its end
(abandoned, failed, cancelled) gives its lease back so that a waiter takes over at once
instead of waiting for lease_ttl. Real memcached, LangChain's fake chat model."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from langchain_core.globals import set_llm_cache
from langchain_core.language_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.language_models.fake_chat_models import FakeListChatModelError
from langchain_core.messages import AIMessage, AIMessageChunk

from langchain_memcached import MemcachedCache, cache_streams

QUESTION = "What is the weather like in Paris today?"
ANSWER = "It is sunny in Paris today, with a light breeze from the west."

# A waiter would wait up to single_flight_wait for a lease nobody gives back, and a lease
# only ends by itself after lease_ttl: so without the give-back the waiter times out
# (lease_wait_timeouts == 1) instead of taking over.
LEASE_TTL = 60
WAIT = 8


@pytest.fixture
def cache(memcached):
    cache = MemcachedCache(
        memcached.spec, single_flight=True, lease_ttl=LEASE_TTL, single_flight_wait=WAIT
    )
    set_llm_cache(cache)
    yield cache
    set_llm_cache(None)


class Counted:
    """A streaming chat model wrapped by cache_streams that counts its model calls."""

    def __init__(self) -> None:
        self.calls = 0

        def answers() -> Iterator[AIMessage]:
            while True:
                self.calls += 1
                yield AIMessage(content=ANSWER)

        self.model = cache_streams(GenericFakeChatModel(messages=answers()))


def text(chunks: list[AIMessageChunk]) -> str:
    return "".join(str(chunk.content) for chunk in chunks)


def wait_until_waiting(cache: MemcachedCache, thread: threading.Thread) -> None:
    # The waiter's lookup is in flight once its thread has run a little; a waiter that
    # starts later still passes (it then wins a fresh lease), so this only makes the
    # interesting order likely.
    time.sleep(0.3)
    assert thread.is_alive()


def test_a_waiter_replays_the_winners_stream(cache):
    counted = Counted()
    winner = counted.model.stream(QUESTION)
    first = next(winner)  # the winner's lookup missed: it holds the lease
    waited: list[AIMessageChunk] = []
    waiter = threading.Thread(target=lambda: waited.extend(counted.model.stream(QUESTION)))
    waiter.start()
    wait_until_waiting(cache, waiter)
    rest = list(winner)  # the winner's stream ends and is stored
    waiter.join(timeout=WAIT + 5)
    assert not waiter.is_alive()
    assert text([first, *rest]) == ANSWER
    assert text(waited) == ANSWER
    assert len(waited) > 1, "the waiter got the answer as one piece, not as a stream"
    assert counted.calls == 1
    stats = cache.stats()
    assert stats["leases_won"] == 1
    assert stats["lease_waits"] == 1
    assert stats["lease_wait_timeouts"] == 0


def test_an_abandoned_winner_gives_its_lease_to_a_waiter(cache):
    counted = Counted()
    winner = counted.model.stream(QUESTION)
    next(winner)
    waited: list[AIMessageChunk] = []
    waiter = threading.Thread(target=lambda: waited.extend(counted.model.stream(QUESTION)))
    waiter.start()
    wait_until_waiting(cache, waiter)
    winner.close()  # the consumer stops early: nothing stored, the lease goes back
    waiter.join(timeout=WAIT + 5)
    assert text(waited) == ANSWER
    assert counted.calls == 2  # the waiter took over and called the model itself
    stats = cache.stats()
    assert stats["lease_wait_timeouts"] == 0, "the waiter waited out a lease nobody held"
    assert stats["leases_won"] == 2


@pytest.mark.parametrize("asynchronous", [False, True], ids=["stream", "astream"])
async def test_a_failing_winner_gives_its_lease_back(cache, asynchronous):
    # The model fails on its fifth chunk, every time: each failed stream must give its
    # lease back, or the next caller would wait it out (a lease_wait_timeout).
    model = cache_streams(FakeListChatModel(responses=[ANSWER], error_on_chunk_number=5))
    for _ in range(2):
        with pytest.raises(FakeListChatModelError):
            if asynchronous:
                [chunk async for chunk in model.astream(QUESTION)]
            else:
                list(model.stream(QUESTION))
    stats = cache.stats()
    assert stats["lease_wait_timeouts"] == 0
    assert stats["lease_waits"] == 0
    assert stats["leases_won"] == 2


async def test_an_async_waiter_replays_the_winners_stream(cache):
    counted = Counted()
    winner = counted.model.astream(QUESTION)
    first = await winner.__anext__()

    async def wait_for_it() -> list[AIMessageChunk]:
        return [chunk async for chunk in counted.model.astream(QUESTION)]

    waiter = asyncio.create_task(wait_for_it())
    await asyncio.sleep(0.3)
    assert not waiter.done()
    rest = [chunk async for chunk in winner]
    waited = await asyncio.wait_for(waiter, WAIT + 5)
    assert text([first, *rest]) == ANSWER
    assert text(waited) == ANSWER
    assert len(waited) > 1
    assert counted.calls == 1
    assert cache.stats()["lease_waits"] == 1


async def test_a_cancelled_async_winner_gives_its_lease_to_a_waiter(cache):
    counted = Counted()
    started = asyncio.Event()

    async def winner() -> None:
        async for _ in counted.model.astream(QUESTION):
            started.set()
            await asyncio.sleep(3600)  # a slow model; cancelled below

    winning = asyncio.create_task(winner())
    await started.wait()

    async def wait_for_it() -> list[AIMessageChunk]:
        return [chunk async for chunk in counted.model.astream(QUESTION)]

    waiter = asyncio.create_task(wait_for_it())
    await asyncio.sleep(0.3)
    winning.cancel()
    with pytest.raises(asyncio.CancelledError):
        await winning
    waited = await asyncio.wait_for(waiter, WAIT + 5)
    assert text(waited) == ANSWER
    assert counted.calls == 2
    stats = cache.stats()
    assert stats["lease_wait_timeouts"] == 0
    assert stats["leases_won"] == 2
