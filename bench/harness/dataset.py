"""The data every contender reads: prompts, the model string, values in LangChain's
format (written by LangChain's own serializer), loaded once into the server."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

warnings.filterwarnings("ignore")

from langchain_community.cache import _dumps_generations, _hash  # noqa: E402
from langchain_core.outputs import Generation  # noqa: E402
from pymemcache.client.base import Client  # noqa: E402

# What a chat model's LLM call passes as params; LangChain's llm_string for it.
PARAMS = {"_type": "openai-chat", "model_name": "gpt-4o-mini", "temperature": 0.0,
          "max_tokens": 512, "stop": None}
LLM_STRING = str(sorted(PARAMS.items()))

PROMPTS_PER_SET = 2000
SWEEP_PROMPTS = 50
# Answer text sizes of the value-size sweep (the stored value adds ~250 bytes of envelope).
SWEEP_SIZES = [100, 1_000, 4_000, 16_000, 64_000, 256_000, 512_000]
ANSWER_BYTES = 1_000

_SENTENCE = ("Memcached keeps the answer in memory, so the second call with the same "
             "prompt returns at once instead of asking the model again. ")


def answer(size: int) -> Generation:
    """A Generation shaped like a real answer: `size` bytes of text, small metadata."""
    text = (_SENTENCE * (size // len(_SENTENCE) + 1))[:size]
    return Generation(text=text, generation_info={
        "finish_reason": "stop", "logprobs": None, "model_name": "gpt-4o-mini",
        "token_usage": {"prompt_tokens": 42, "completion_tokens": size // 4}})


def value(size: int = ANSWER_BYTES) -> str:
    """The stored bytes, exactly as langchain_community's MemcachedCache writes them."""
    return _dumps_generations([answer(size)])


def _prompts(kind: str, count: int) -> list[str]:
    return [f"[{kind} {i}] Summarise in two paragraphs what a cache in front of an LLM "
            f"saves, for customer {i * 7919 % 10007}." for i in range(count)]


def build(directory: Path) -> dict:
    """Writes manifest.json (read by every worker) and returns it."""
    manifest = {
        "llm_string": LLM_STRING,
        "update_value": value(),
        "prompts": {
            "hit": _prompts("hit", PROMPTS_PER_SET),
            "miss": _prompts("miss", PROMPTS_PER_SET),
            "update": _prompts("update", PROMPTS_PER_SET),
            **{f"sweep_{s}": _prompts(f"sweep {s}", SWEEP_PROMPTS) for s in SWEEP_SIZES},
        },
        "value_bytes": {"hit": len(value()), **{f"sweep_{s}": len(value(s)) for s in SWEEP_SIZES}},
    }
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return manifest


def load(server_spec: str, manifest: dict) -> int:
    """Stores the hit and sweep sets (flags 0, no expiry, as LangChain does); returns
    the number of items. The miss set is deleted, so that it surely misses."""
    host, port = server_spec.rsplit(":", 1)
    client = Client((host, int(port)))
    stored = 0
    for name, prompts in manifest["prompts"].items():
        keys = [_hash(p + LLM_STRING) for p in prompts]
        if name == "hit" or name.startswith("sweep_"):
            size = ANSWER_BYTES if name == "hit" else int(name.removeprefix("sweep_"))
            data = value(size).encode()
            failed = client.set_many({k: data for k in keys}, noreply=False)
            if failed:
                raise RuntimeError(f"memcached refused {len(failed)} values of set {name}")
            stored += len(keys)
        elif name == "miss":
            client.delete_many(keys, noreply=False)
    client.close()
    return stored
