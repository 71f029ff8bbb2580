"""LangChain's stored value format, in and out.

Writing: plain ``Generation`` objects are serialized here directly (Python's own json, so
the bytes are LangChain's by construction); anything else goes through LangChain's own
``dumps``, so that no object is ever written differently from langchain_community.
Reading: the C++ decoder (simdjson) judges every value and builds plain generations;
chat generations, and the numbers it has no type for (NaN, Infinity, ints beyond 64
bits), go through LangChain's own ``loads``, restricted to generation and message classes.
The rules (which classes, no ``secret`` or ``not_implemented`` node anywhere) are the C++
codec's; this module only adapts Python's values to them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from langchain_core import messages
from langchain_core._api import suppress_langchain_beta_warning
from langchain_core.load import dumps as lc_dumps
from langchain_core.load import loads as lc_loads
from langchain_core.load.serializable import Serializable
from langchain_core.outputs import (
    ChatGeneration,
    ChatGenerationChunk,
    Generation,
    GenerationChunk,
)

from langchain_memcached import _ext

_GENERATION_ID = ["langchain", "schema", "output", "Generation"]
_LC_ESCAPED = "__lc_escaped__"
_MAX_DEPTH = 64

# Whatever a stored value claims, reading it only ever builds generations and messages:
# a pool anyone can write to must not be able to make us construct arbitrary classes
# (LangChain's default allow-list also admits models, prompts and retrievers).
_ALLOWED_OBJECTS: list[type[Serializable]] = [
    Generation,
    GenerationChunk,
    ChatGeneration,
    ChatGenerationChunk,
    messages.AIMessage,
    messages.AIMessageChunk,
    messages.HumanMessage,
    messages.HumanMessageChunk,
    messages.SystemMessage,
    messages.SystemMessageChunk,
    messages.ToolMessage,
    messages.ToolMessageChunk,
    messages.FunctionMessage,
    messages.FunctionMessageChunk,
    messages.ChatMessage,
    messages.ChatMessageChunk,
]


def _is_plain_json(value: Any, depth: int = 0) -> bool:
    """True if json.dumps writes ``value`` exactly as LangChain's dumps does: JSON-native
    types only, and no dict that LangChain would wrap in an escape marker."""
    kind = type(value)
    if value is None or kind in (str, int, float, bool):
        return True
    if depth > _MAX_DEPTH:
        return False
    if kind is list:
        return all(_is_plain_json(item, depth + 1) for item in value)
    if kind is dict:
        if "lc" in value or (len(value) == 1 and _LC_ESCAPED in value):
            return False
        return all(type(k) is str and _is_plain_json(v, depth + 1) for k, v in value.items())
    return False


class UnwritableValueError(_ext.InvalidArgumentError):
    """LangChain's ``dumps`` could not serialize a generation: it wrote its
    ``not_implemented`` placeholder (for a datetime, set, bytes, Decimal, UUID, numpy
    value...) where the object was, so the entry would never read back. Nothing is
    stored. An InvalidArgumentError: the caller passed a value the cache cannot hold."""


def _dumps_one(generation: Generation) -> tuple[str, bool]:
    """The serialized generation, and whether it went through LangChain's ``dumps``
    (only then can it hold a node that LangChain wrote for an object it could not
    serialize: the plain path admits JSON-native types only)."""
    if type(generation) is Generation and _is_plain_json(generation.generation_info):
        kwargs: dict[str, Any] = {"text": generation.text}
        if generation.generation_info is not None:
            kwargs["generation_info"] = generation.generation_info
        kwargs["type"] = "Generation"
        return json.dumps(
            {"lc": 1, "type": "constructor", "id": _GENERATION_ID, "kwargs": kwargs}
        ), False
    return lc_dumps(generation), True


def dumps_generations(generations: Sequence[Generation]) -> str:
    """Exactly ``json.dumps([langchain_core.load.dumps(g) for g in generations])``.

    Raises UnwritableValueError if that holds a node the C++ codec refuses on reading
    (LangChain's ``not_implemented`` placeholder): storing it would only plant a miss."""
    serialized = [_dumps_one(g) for g in generations]
    value = json.dumps([text for text, _ in serialized])
    if any(through_dumps for _, through_dumps in serialized):
        node = _refused_node(value)
        if node is not None:
            raise UnwritableValueError(
                f"LangChain's dumps could not serialize these generations (it wrote a "
                f"{node!r} node in place of a value it cannot represent: a datetime, set, "
                f"bytes, Decimal, UUID, numpy value...); convert such values to JSON types "
                f"(str, int, float, bool, None, list, dict) before caching them"
            )
    return value


def _refused_node(value: str) -> str | None:
    """The C++ codec's rule on LangChain nodes (llmcache::find_refused_node)."""
    try:
        return _ext.find_refused_node(value.encode())
    except _ext.DecodeError:
        pass
    # LangChain's own bytes, unreadable to simdjson: its numbers (NaN...) are the usual
    # reason. Anything else it cannot read (lone surrogates) the reader refuses anyway,
    # so such a value is stored as LangChain would store it.
    try:
        return _ext.find_refused_node(_CppNumbers().copy(value).encode())
    except _ext.DecodeError:
        return None


class _CppNumbers:
    """Python's json reads and writes NaN, +-Infinity, ints beyond 64 bits and floats
    beyond double range; the C++ codec has no type for them. Judging a copy of a value
    with them as 0 changes no verdict of its rules: none of them equals 1 (the only number
    the rules look at, in ``lc``), and the structure is untouched."""

    def __init__(self) -> None:
        self.replaced = 0

    def _zero(self, _: str) -> int:
        self.replaced += 1
        return 0

    def _int(self, text: str) -> int:
        number = int(text)
        if -(2**63) <= number < 2**64:
            return number
        self.replaced += 1
        return 0

    def _float(self, text: str) -> float:
        number = float(text)
        if math.isfinite(number):
            return number
        self.replaced += 1
        return 0.0

    def _document(self, text: str | bytes) -> str:
        return json.dumps(json.loads(text, parse_constant=self._zero, parse_int=self._int,
                                     parse_float=self._float))

    def copy(self, value: str | bytes) -> str:
        """The stored value with those numbers replaced at either level: inside the
        serialized generations or (legacy format) in the list itself."""
        items = json.loads(value)
        if isinstance(items, list) and items and all(isinstance(i, str) for i in items):
            return json.dumps([self._document(item) for item in items])
        return self._document(value)


def _load_one(item: str) -> Any:
    # The C++ decoder has already refused anything but generations and messages, and any
    # secret or not_implemented node. secrets_from_env=False and an empty secrets map
    # besides: no environment variable or secret is ever read into a cached value.
    # LangChain marks loads() as beta and warns on behalf of its caller: that would point
    # users' warning filters at this line on a chat lookup, about a choice that is ours.
    # LangChain's own switch silences only this call (per thread and task in current
    # langchain-core; warnings.catch_warnings, process-wide and racy, is not used here).
    with suppress_langchain_beta_warning():
        return lc_loads(item, allowed_objects=_ALLOWED_OBJECTS, secrets_map={},
                        secrets_from_env=False)


def loads_generations(value: bytes) -> list[Generation]:
    """Reads what LangChain wrote (current and legacy formats). Raises on anything else."""
    try:
        plain = _ext.decode_plain_generations(value)
    except _ext.DecodeError:
        # LangChain writes and reads NaN, Infinity and ints beyond 64 bits; the C++
        # decoder has no type for them. It judges a copy with those numbers as 0 (raising
        # for any other reason to refuse the entry), and LangChain's reader then builds
        # the entry with the numbers as stored.
        numbers = _CppNumbers()
        judged = numbers.copy(value)
        if not numbers.replaced:
            raise  # the C++ decoder refused the entry for what it holds, not its numbers
        _ext.decode_plain_generations(judged.encode())
        plain = None
    if plain is not None:
        return [Generation(text=text, generation_info=info) for text, info in plain]
    items = json.loads(value.decode("utf-8"))
    if not isinstance(items, list):
        raise ValueError(f"a cached value is a JSON list, not {type(items).__name__}")
    if all(isinstance(item, str) for item in items):
        generations = [_load_one(item) for item in items]
    else:
        # The legacy format: a list of Generation keyword dicts.
        generations = [Generation(**item) for item in items]
    for generation in generations:
        if not isinstance(generation, Generation):
            raise ValueError(f"a cached value holds a {type(generation).__name__}")
    return generations
