"""Streams through LangChain's cache: :func:`cache_streams`.

LangChain's ``stream()``/``astream()`` skip the LLM cache whenever the model can stream: a
streamed answer is never stored and a stored answer never streams. And a hit reached through
``invoke()`` returns the whole message without ``on_llm_new_token``, so token callbacks,
``astream_events`` and LangGraph's ``stream_mode="messages"`` see nothing of it.

``cache_streams(model)`` returns the same model whose streams go through the cache:

- **One entry for both.** The key is what LangChain's own cache path computes for the same
  call (``BaseChatModel._generate_with_cache``: ``dumps`` of the messages without their ids,
  and ``_get_llm_string(stop, **kwargs)``; ``BaseLLM.generate``: the prompt string and the
  sorted ``dict()`` with ``stop``), and the value is the generations LangChain would store, so
  ``invoke()`` and ``stream()`` share entries, with each other and with processes on
  LangChain's own caches.
- **A hit streams** as several chunks (small pieces of the text, one chunk per tool call),
  each firing ``on_llm_new_token``, also when the hit is reached through ``invoke()`` with a
  streaming handler attached. The chunks sum to the message LangChain's own cache returns on
  a hit (``_convert_cached_generations``: usage with ``total_cost`` 0).
- **A miss passes the live stream through** unchanged and stores the aggregate only when
  the stream ran to its end; a stream the consumer abandons (``break``, cancellation,
  ``close()``) or that raises is never stored.

Why a subclass, not a wrapper runnable: agents and chains need the model itself.
``create_agent`` and ``bind_tools``/``with_structured_output`` take a ``BaseChatModel`` and
bind *it* (``RunnableBinding(bound=model)``), so a wrapper would be left out of every bound
call; traces name the model by its class name, and LangChain's cache key (``_serialized``,
``lc_id``) by its class name and module. The returned object is therefore a copy of the
model whose class is a subclass of the model's class with the same name and module that
overrides only ``_stream``/``_astream`` (where the model implements them), LangChain's
generate-with-cache entry points (to mark that they handle the cache themselves), its
cache-hit hook (to replay tokens) and ``__reduce__`` (pickling). Everything else
(``invoke``, ``batch``, ``bind_tools``, parameters, callbacks) is the model's own code.

Pinned to LangChain's internals (langchain-core 1.8.3, checked by tests/python/
test_streams.py): the key derivation of ``_generate_with_cache``, the mutation of each
chunk by ``stream()`` before the next is asked for, and the hit hook
``_replay_v2_events_for_cache_hit``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextvars import ContextVar
from importlib.metadata import version as distribution_version
from typing import Any, TypeVar, cast

from langchain_core.caches import BaseCache
from langchain_core.globals import get_llm_cache
from langchain_core.language_models import BaseChatModel, BaseLanguageModel, BaseLLM
from langchain_core.language_models.chat_models import (
    _gen_info_and_msg_metadata,  # what _generate_with_cache does to each stored generation
    generate_from_stream,
)
from langchain_core.load import dumps
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import ToolCallChunk, tool_call_chunk
from langchain_core.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    Generation,
    GenerationChunk,
)
from langchain_core.runnables.config import run_in_executor
from langchain_core.utils.utils import LC_ID_PREFIX

__all__ = ["cache_streams"]

ModelT = TypeVar("ModelT", bound=BaseLanguageModel[Any])
_T = TypeVar("_T")

# Set while LangChain's own generate path runs for a model: it has looked the call up and
# will store the result itself, so the model's _stream called from inside it (invoke with a
# streaming handler attached) passes the live stream through untouched. A ContextVar, not an
# attribute: one model object serves many threads and tasks at once.
_GENERATING: ContextVar[object | None] = ContextVar("llmcache_generating", default=None)

# Replayed text is cut after whitespace, and long runs without any (code, URLs, CJK) every
# few characters, so a replay looks like a model's tokens and joins back exactly.
_PIECE = re.compile(r"\S{1,16}\s*|\s+")

# The counts every UsageMetadata has.
_USAGE_COUNTS = {"input_tokens", "output_tokens", "total_tokens"}


def _text_pieces(text: str) -> list[str]:
    return _PIECE.findall(text) or [text]


def _resolve_cache(model: BaseLanguageModel[Any]) -> BaseCache | None:
    """The cache LangChain's generate path uses for ``model`` (its ``cache`` field, else
    the global one); None when the model opted out with ``cache=False`` or none is set."""
    if isinstance(model.cache, BaseCache):
        return model.cache
    if model.cache is False:
        return None
    llm_cache = get_llm_cache()
    if llm_cache is None and model.cache is True:
        # LangChain's own message for the same case on invoke().
        raise ValueError("Asked to cache, but no cache found at `langchain.cache`.")
    return llm_cache


# ---------------------------------------------------------------------- chat models
def _chat_key(
    model: BaseChatModel, messages: list[BaseMessage], stop: list[str] | None, kwargs: Any
) -> tuple[str, str]:
    """(prompt, llm_string) exactly as BaseChatModel._generate_with_cache derives them from
    the same arguments (stream() and generate() both pass _stream the normalized messages
    and the kwargs without ls_structured_output_format)."""
    llm_string = model._get_llm_string(stop=stop, **kwargs)
    normalized = [
        message.model_copy(update={"id": None})
        if getattr(message, "id", None) is not None
        else message
        for message in messages
    ]
    return dumps(normalized), llm_string


def _chat_replay(generation: Generation, default_id: str | None) -> Iterator[ChatGenerationChunk]:
    """A stored chat answer as stream chunks that add up to it.

    Text in small pieces, then each tool call as tool_call_chunks with their own index
    (name and id, then the JSON arguments in pieces), which adding the chunks parses back
    into tool_calls (an invalid tool call's arguments stay as they were). Fields that
    merge_dicts/add_usage would combine go on exactly one chunk: additional_kwargs and
    usage on the first, response_metadata on the last (adding usage to a chunk that has
    none is the identity only from the left). Every chunk carries the stored message id,
    so handlers that group or de-duplicate by id (LangGraph) see one message.

    Usage: LangChain's hit path sets ``total_cost`` 0 in it, and for a message stored without
    usage makes ``{"total_cost": 0}``, which is no valid usage for a chunk (adding chunks
    validates it and fails); such a replay carries no usage.
    """
    message = generation.message if isinstance(generation, ChatGeneration) else None
    if not isinstance(message, AIMessage):
        message = AIMessage(content=generation.text)
    content = message.content
    empty: str | list[str | dict[str, Any]] = "" if isinstance(content, str) else []
    # What each chunk holds, decided up front (cheap); the chunks themselves are made one at
    # a time as the consumer asks, so the first arrives without waiting for the last.
    parts: list[tuple[str | list[str | dict[str, Any]], list[ToolCallChunk]]]
    if isinstance(content, str):
        parts = [(piece, []) for piece in _text_pieces(content)] if content else []
    else:
        parts = [([block], []) for block in content]
    calls: list[tuple[str | None, str | None, str | None]] = [
        (call["name"], json.dumps(call["args"]), call["id"]) for call in message.tool_calls
    ]
    calls += [(bad["name"], bad["args"], bad["id"]) for bad in message.invalid_tool_calls]
    for index, (name, arguments, call_id) in enumerate(calls):
        # As providers stream them: name and id first, the arguments in pieces after.
        for number, argument in enumerate(_text_pieces(arguments) if arguments else [arguments]):
            first_piece = number == 0
            call = tool_call_chunk(
                name=name if first_piece else None,
                args=argument,
                id=call_id if first_piece else None,
                index=index,
            )
            parts.append((empty, [call]))
    if not parts:
        parts = [(empty, [])]

    usage = message.usage_metadata
    if not (usage and _USAGE_COUNTS <= usage.keys()):
        usage = None
    last_number = len(parts) - 1
    for number, (piece, call_chunks) in enumerate(parts):
        first, last = number == 0, number == last_number
        chunk = AIMessageChunk(
            content=piece,
            tool_call_chunks=call_chunks,
            id=message.id or default_id,
            additional_kwargs=dict(message.additional_kwargs) if first else {},
            usage_metadata=usage if first else None,
            name=message.name if first else None,
            response_metadata=dict(message.response_metadata) if last else {},
            chunk_position="last" if last else None,
        )
        yield ChatGenerationChunk(message=chunk)


def _chat_generations_to_store(chunks: list[ChatGenerationChunk]) -> list[Generation]:
    """What BaseChatModel._generate_with_cache stores for a streamed answer.

    The chunks are the objects the live stream yielded; stream()/astream() set each one's
    id and response_metadata before asking for the next, so by the time the stream has
    ended they are exactly the chunks LangChain's own streaming branch would aggregate.
    Like it: a closing empty chunk when the model sent none, generate_from_stream, then the
    generation info folded into response_metadata.
    """
    chunks = list(chunks)
    last = chunks[-1].message
    if isinstance(last, AIMessageChunk) and not last.chunk_position:
        empty: str | list[str | dict[str, Any]] = "" if isinstance(last.content, str) else []
        closing = AIMessageChunk(content=empty, chunk_position="last", id=last.id)
        chunks.append(ChatGenerationChunk(message=closing))
    result = generate_from_stream(iter(chunks))
    for generation in result.generations:
        generation.message.response_metadata = _gen_info_and_msg_metadata(generation)
    return list(result.generations)


async def _iterate_in_executor(make: Callable[[], Iterator[_T]]) -> AsyncIterator[_T]:
    """A blocking iterator driven from asyncio the way BaseChatModel._astream drives a
    sync-only _stream: each step on the default executor."""
    iterator = await run_in_executor(None, make)
    done = object()
    while True:
        item = await run_in_executor(None, next, iterator, done)
        if item is done:
            break
        yield cast(_T, item)


class _LeaseGuard:
    """Around a miss's pass-through stream: with ``single_flight``, that miss won the
    lease and other callers (other processes too) wait for its answer. A stream that does
    not reach its update (the model raised, the consumer stopped early or was cancelled)
    gives the lease back on the way out, so the waiters need not wait ``lease_ttl``. The
    update itself settles the lease (the cache gives it back if the store fails)."""

    def __init__(self, cache: BaseCache, prompt: str, llm_string: str) -> None:
        self._release = getattr(cache, "release_lease", None)
        self._arelease = getattr(cache, "arelease_lease", None)
        self._key = (prompt, llm_string)
        self._settled = False

    def settled(self) -> None:
        self._settled = True

    def __enter__(self) -> _LeaseGuard:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._settled and self._release is not None:
            self._release(*self._key)

    async def __aenter__(self) -> _LeaseGuard:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if not self._settled and self._arelease is not None:
            await self._arelease(*self._key)


def _chat_overrides(original: type[BaseChatModel]) -> dict[str, Any]:
    streams_sync = original._stream is not BaseChatModel._stream
    streams_async = original._astream is not BaseChatModel._astream
    if not (streams_sync or streams_async):
        return {}  # stream() is invoke(): LangChain's own cache path already serves it

    def live_astream(
        self: BaseChatModel,
        messages: list[BaseMessage],
        stop: list[str] | None,
        run_manager: Any,
        kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if streams_async:
            return original._astream(self, messages, stop, run_manager, **kwargs)
        sync_manager = run_manager.get_sync() if run_manager else None
        return _iterate_in_executor(
            lambda: original._stream(self, messages, stop, sync_manager, **kwargs)
        )

    def _stream(
        self: BaseChatModel,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        # The model's _stream is called only on a miss: some call the provider when
        # called, not when iterated.
        cache = None if _GENERATING.get() is self else _resolve_cache(self)
        if cache is None:
            yield from original._stream(self, messages, stop, run_manager, **kwargs)
            return
        prompt, llm_string = _chat_key(self, messages, stop, kwargs)
        found = cache.lookup(prompt, llm_string)
        if isinstance(found, list) and found:
            for chunk in _chat_replay(self._convert_cached_generations(found)[0], None):
                if run_manager:  # _stream's contract: it reports its tokens when given one
                    run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
                yield chunk
            return
        chunks: list[ChatGenerationChunk] = []
        with _LeaseGuard(cache, prompt, llm_string) as lease:
            for chunk in original._stream(self, messages, stop, run_manager, **kwargs):
                chunks.append(chunk)
                yield chunk
            # Only reached when the stream ended normally: a consumer that stops early
            # closes this generator at the yield above, and an error from the model
            # propagates; either way the guard gives the lease back.
            if chunks:
                lease.settled()
                cache.update(prompt, llm_string, _chat_generations_to_store(chunks))

    async def _astream(
        self: BaseChatModel,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        cache = None if _GENERATING.get() is self else _resolve_cache(self)
        if cache is None:
            async for chunk in live_astream(self, messages, stop, run_manager, kwargs):
                yield chunk
            return
        prompt, llm_string = _chat_key(self, messages, stop, kwargs)
        found = await cache.alookup(prompt, llm_string)
        if isinstance(found, list) and found:
            for chunk in _chat_replay(self._convert_cached_generations(found)[0], None):
                if run_manager:
                    await run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
                yield chunk
            return
        chunks: list[ChatGenerationChunk] = []
        async with _LeaseGuard(cache, prompt, llm_string) as lease:
            async for chunk in live_astream(self, messages, stop, run_manager, kwargs):
                chunks.append(chunk)
                yield chunk
            if chunks:  # see _stream: only a stream that ran to its end is stored
                lease.settled()
                await cache.aupdate(prompt, llm_string, _chat_generations_to_store(chunks))

    def _generate_with_cache(self: BaseChatModel, *args: Any, **kwargs: Any) -> Any:
        token = _GENERATING.set(self)
        try:
            return original._generate_with_cache(self, *args, **kwargs)
        finally:
            _GENERATING.reset(token)

    async def _agenerate_with_cache(self: BaseChatModel, *args: Any, **kwargs: Any) -> Any:
        token = _GENERATING.set(self)
        try:
            return await original._agenerate_with_cache(self, *args, **kwargs)
        finally:
            _GENERATING.reset(token)

    # LangChain's hit path in _(a)generate_with_cache calls this hook with the run manager
    # for every hit (to replay v2 protocol events). Where LangChain's miss path would have
    # streamed with on_llm_new_token (a v1 streaming handler attached: astream_events,
    # LangGraph's stream_mode="messages"), the hit replays the answer the same way.
    def wants_token_replay(
        self: BaseChatModel, async_api: bool, run_manager: Any, kwargs: Any
    ) -> bool:
        return bool(
            run_manager is not None
            and not self._should_use_protocol_streaming(
                async_api=async_api, run_manager=run_manager, **kwargs
            )
            and self._should_stream(async_api=async_api, run_manager=run_manager, **kwargs)
        )

    def _replay_v2_events_for_cache_hit(
        self: BaseChatModel,
        generations: list[ChatGeneration],
        *,
        run_manager: Any,
        **kwargs: Any,
    ) -> None:
        original._replay_v2_events_for_cache_hit(
            self, generations, run_manager=run_manager, **kwargs
        )
        if generations and wants_token_replay(self, False, run_manager, kwargs):
            default_id = f"{LC_ID_PREFIX}-{run_manager.run_id}"
            for chunk in _chat_replay(generations[0], default_id):
                run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)

    async def _areplay_v2_events_for_cache_hit(
        self: BaseChatModel,
        generations: list[ChatGeneration],
        *,
        run_manager: Any,
        **kwargs: Any,
    ) -> None:
        await original._areplay_v2_events_for_cache_hit(
            self, generations, run_manager=run_manager, **kwargs
        )
        if generations and wants_token_replay(self, True, run_manager, kwargs):
            default_id = f"{LC_ID_PREFIX}-{run_manager.run_id}"
            for chunk in _chat_replay(generations[0], default_id):
                await run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)

    overrides: dict[str, Any] = {
        # Async streams are served even for a sync-only _stream (BaseChatModel would run
        # it on the executor; so does live_astream), with the cache's async methods.
        "_astream": _astream,
        "_generate_with_cache": _generate_with_cache,
        "_agenerate_with_cache": _agenerate_with_cache,
        "_replay_v2_events_for_cache_hit": _replay_v2_events_for_cache_hit,
        "_areplay_v2_events_for_cache_hit": _areplay_v2_events_for_cache_hit,
    }
    if streams_sync:
        # Only where the model has one: BaseChatModel.stream() tells a streaming model from
        # one it must invoke() by whether _stream is overridden.
        overrides["_stream"] = _stream
    return overrides


# ---------------------------------------------------------------------- string LLMs
def _llm_string(model: BaseLLM, stop: list[str] | None) -> str:
    """BaseLLM.generate's llm_string: the model's dict() with stop (not the call kwargs)."""
    params = model._dict_for_compat()
    params["stop"] = stop
    return str(sorted(params.items()))


def _llm_replay(generation: Generation) -> list[GenerationChunk]:
    pieces = _text_pieces(generation.text) if generation.text else [""]
    chunks = [GenerationChunk(text=piece) for piece in pieces]
    chunks[-1].generation_info = generation.generation_info
    return chunks


def _llm_generation_to_store(chunks: list[GenerationChunk]) -> list[Generation]:
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    # A plain Generation, as BaseLLM._generate returns: LangChain's bytes name the class.
    return [Generation(text=total.text, generation_info=total.generation_info)]


def _llm_overrides(original: type[BaseLLM]) -> dict[str, Any]:
    streams_sync = original._stream is not BaseLLM._stream
    streams_async = original._astream is not BaseLLM._astream
    if not (streams_sync or streams_async):
        return {}  # stream() is invoke(): LangChain's own cache path already serves it

    def live_astream(
        self: BaseLLM, prompt: str, stop: list[str] | None, run_manager: Any, kwargs: Any
    ) -> AsyncIterator[GenerationChunk]:
        if streams_async:
            return original._astream(self, prompt, stop, run_manager, **kwargs)
        sync_manager = run_manager.get_sync() if run_manager else None
        return _iterate_in_executor(
            lambda: original._stream(self, prompt, stop, sync_manager, **kwargs)
        )

    def _stream(
        self: BaseLLM,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> Iterator[GenerationChunk]:
        cache = None if _GENERATING.get() is self else _resolve_cache(self)
        if cache is None:
            yield from original._stream(self, prompt, stop, run_manager, **kwargs)
            return
        llm_string = _llm_string(self, stop)
        found = cache.lookup(prompt, llm_string)
        if isinstance(found, list) and found:
            for chunk in _llm_replay(found[0]):
                if run_manager:  # BaseLLM.stream leaves on_llm_new_token to _stream
                    run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
            return
        chunks: list[GenerationChunk] = []
        with _LeaseGuard(cache, prompt, llm_string) as lease:
            for chunk in original._stream(self, prompt, stop, run_manager, **kwargs):
                chunks.append(chunk)
                yield chunk
            if chunks:  # only a stream that ran to its end (see the chat model's _stream)
                lease.settled()
                cache.update(prompt, llm_string, _llm_generation_to_store(chunks))

    async def _astream(
        self: BaseLLM,
        prompt: str,
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> AsyncIterator[GenerationChunk]:
        cache = None if _GENERATING.get() is self else _resolve_cache(self)
        if cache is None:
            async for chunk in live_astream(self, prompt, stop, run_manager, kwargs):
                yield chunk
            return
        llm_string = _llm_string(self, stop)
        found = await cache.alookup(prompt, llm_string)
        if isinstance(found, list) and found:
            for chunk in _llm_replay(found[0]):
                if run_manager:
                    await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
                yield chunk
            return
        chunks: list[GenerationChunk] = []
        async with _LeaseGuard(cache, prompt, llm_string) as lease:
            async for chunk in live_astream(self, prompt, stop, run_manager, kwargs):
                chunks.append(chunk)
                yield chunk
            if chunks:
                lease.settled()
                await cache.aupdate(prompt, llm_string, _llm_generation_to_store(chunks))

    # BaseLLM.generate looks calls up and stores them itself; a model whose _generate
    # streams through its own _stream must not look up and store a second time.
    def _generate_helper(self: BaseLLM, *args: Any, **kwargs: Any) -> Any:
        token = _GENERATING.set(self)
        try:
            return original._generate_helper(self, *args, **kwargs)
        finally:
            _GENERATING.reset(token)

    async def _agenerate_helper(self: BaseLLM, *args: Any, **kwargs: Any) -> Any:
        token = _GENERATING.set(self)
        try:
            return await original._agenerate_helper(self, *args, **kwargs)
        finally:
            _GENERATING.reset(token)

    overrides: dict[str, Any] = {
        "_astream": _astream,
        "_generate_helper": _generate_helper,
        "_agenerate_helper": _agenerate_helper,
    }
    if streams_sync:  # BaseLLM.stream() also decides by whether _stream is overridden
        overrides["_stream"] = _stream
    return overrides


# ---------------------------------------------------------------------- the subclass
# The class attribute naming the model's own class; a dunder so pydantic leaves it alone.
_ORIGINAL = "__llmcache_streams_original__"
_subclasses: dict[type[Any], type[Any]] = {}
_subclasses_lock = threading.Lock()


def _plain(model: Any) -> Any:
    """A copy of a wrapped model as its own class again."""
    plain = model.model_copy()
    object.__setattr__(plain, "__class__", getattr(type(model), _ORIGINAL))
    return plain


def _reduce(self: Any) -> tuple[Any, ...]:
    # pickle names classes by module and qualname, which find the model's own class, not
    # this one: a wrapped model pickles as the model, and unpickles wrapped again.
    return (cache_streams, (_plain(self),))


def _streams_subclass(original: type[Any]) -> type[Any]:
    """``original`` with cached streams: same name, qualname and module (so traces, lc_id
    and LangChain's cache key are the model's), made once per class."""
    with _subclasses_lock:
        made = _subclasses.get(original)
        if made is None:
            if issubclass(original, BaseChatModel):
                overrides = _chat_overrides(original)
            else:
                overrides = _llm_overrides(original)
            if not overrides:
                made = original
            else:
                namespace = {
                    "__module__": original.__module__,
                    "__qualname__": original.__qualname__,
                    "__doc__": original.__doc__,
                    "__reduce__": _reduce,
                    _ORIGINAL: original,
                    **overrides,
                }
                metaclass: Any = type(original)  # pydantic's: it builds the subclass
                made = metaclass(original.__name__, (original,), namespace)
            _subclasses[original] = made
        return made


def cache_streams(model: ModelT, cache: BaseCache | None = None) -> ModelT:
    """``model`` with its streams served from and stored into LangChain's LLM cache.

    Args:
        model: a chat model (``BaseChatModel``) or string model (``BaseLLM``), before
            ``bind_tools``/``with_structured_output`` (those keep working on the result).
        cache: the cache to use for this model's calls, streamed or not; by default the
            model's own ``cache``, else the one given to ``set_llm_cache`` (looked up at
            each call, as LangChain does).

    Returns:
        A copy of ``model`` (``model`` itself is not changed) of a subclass of its class
        with the same name: ``invoke``, ``batch``, ``bind_tools``, callbacks and traces are
        the model's own; ``stream``/``astream`` replay a cached answer as several chunks
        (firing ``on_llm_new_token``), and store a streamed answer once it has ended. A hit
        through ``invoke`` with a streaming callback handler attached (``astream_events``,
        LangGraph's ``stream_mode="messages"``) is replayed as tokens too.

    A model that cannot stream at all is returned as a plain copy: its ``stream()`` is
    ``invoke()``, which LangChain's cache already serves.

    Raises:
        TypeError: ``model`` is not a ``BaseChatModel`` or ``BaseLLM`` (e.g. it is already
            bound: wrap the model first, then bind).
        ValueError: the model was made with ``cache=False`` and no ``cache`` is given.
        RuntimeError: the installed langchain-core is older than 1.4.
    """
    if not isinstance(model, (BaseChatModel, BaseLLM)):
        raise TypeError(
            "cache_streams takes a chat model (BaseChatModel) or an LLM (BaseLLM); got "
            f"{type(model).__name__}. Wrap the model before bind_tools/with_structured_output."
        )
    if cache is None and model.cache is False:
        raise ValueError("the model was made with cache=False: pass the cache to use")
    if not hasattr(BaseChatModel, "_replay_v2_events_for_cache_hit"):
        # Before langchain-core 1.4 a hit has no replay hook, so a hit through invoke()
        # with a streaming handler would reach no token callback: refuse rather than
        # serve streams that silently stop streaming.
        raise RuntimeError(
            "cache_streams needs langchain-core 1.4 or later (installed: "
            f"{distribution_version('langchain-core')}); upgrade langchain-core"
        )
    original = getattr(type(model), _ORIGINAL, type(model))
    wrapped = model.model_copy(update={"cache": cache} if cache is not None else None)
    # The copy keeps the model's fields, private attributes and clients; only its class
    # changes, to a subclass with the same layout (it adds methods, no fields or slots).
    object.__setattr__(wrapped, "__class__", _streams_subclass(original))
    return cast(ModelT, wrapped)
