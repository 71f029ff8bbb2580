"""LangChain's stored value format, in and out.

Writing: plain ``Generation`` objects are serialized here directly (Python's own json, so
the bytes are LangChain's by construction); anything else goes through LangChain's own
``dumps``, so that no object is ever written differently from langchain_community.
Reading: the C++ decoder (simdjson) builds plain generations; values holding anything
else (chat generations, custom ids) go through LangChain's own ``loads``, restricted to
generation and message classes, with ``secret`` and ``not_implemented`` nodes refused.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core import messages
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


def _dumps_one(generation: Generation) -> str:
    if type(generation) is Generation and _is_plain_json(generation.generation_info):
        kwargs: dict[str, Any] = {"text": generation.text}
        if generation.generation_info is not None:
            kwargs["generation_info"] = generation.generation_info
        kwargs["type"] = "Generation"
        return json.dumps(
            {"lc": 1, "type": "constructor", "id": _GENERATION_ID, "kwargs": kwargs}
        )
    return lc_dumps(generation)


def dumps_generations(generations: Sequence[Generation]) -> str:
    """Exactly ``json.dumps([langchain_core.load.dumps(g) for g in generations])``."""
    return json.dumps([_dumps_one(g) for g in generations])


# Deeper than LangChain's own loader walks (and than the C++ decoder reads): refused.
_MAX_LOAD_DEPTH = 128
_REFUSED_NODE_TYPES = ("secret", "not_implemented")


def _refuse_special_nodes(tree: Any) -> None:
    """Raises if ``tree`` holds a node LangChain's loader would act on other than by
    building an allowed class: a ``secret`` (resolved from a secrets map or, if ever
    enabled, the environment) or a ``not_implemented`` node. Iterative, so that hostile
    nesting cannot exhaust the stack."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_LOAD_DEPTH:
            raise ValueError(f"a cached value nests deeper than {_MAX_LOAD_DEPTH} levels")
        if isinstance(node, dict):
            if len(node) == 1 and _LC_ESCAPED in node:
                continue  # escaped user data: LangChain returns it as is, unrevived
            # The same test as LangChain's Reviver, so nothing it would act on slips by.
            if (node.get("lc") == 1 and node.get("id") is not None
                    and node.get("type") in _REFUSED_NODE_TYPES):
                raise ValueError(f"a cached value holds a {node.get('type')!r} node")
            stack.extend((child, depth + 1) for child in node.values())
        elif isinstance(node, list):
            stack.extend((child, depth + 1) for child in node)


def _load_one(item: str) -> Any:
    _refuse_special_nodes(json.loads(item))
    # secrets_from_env=False and an empty secrets map: even if a secret node slipped by,
    # no environment variable or secret would ever be read into a cached value.
    return lc_loads(item, allowed_objects=_ALLOWED_OBJECTS, secrets_map={},
                    secrets_from_env=False)


def loads_generations(value: bytes) -> list[Generation]:
    """Reads what LangChain wrote (current and legacy formats). Raises on anything else."""
    try:
        plain = _ext.decode_plain_generations(value)
    except _ext.DecodeError:
        plain = None  # LangChain's reader accepts a little more (huge ints, NaN): try it
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
