"""Writes the codec test vectors, using the installed langchain-core as the oracle.

Usage: python generate_codec_vectors.py OUT.json

Every expected byte string comes from the code that LangChain's MemcachedCache runs
(langchain_community.cache._dumps_generations), never from a hand-written copy, so the
C++ test fails when LangChain changes its format.

OUT.json holds:
  "versions":      the langchain-core version used;
  "encode_cases":  [{"name", "generations": [GEN...], "expected": "<stored bytes>"}];
  "decode_cases":  [{"name", "input": "<stored bytes>", "generations": [GEN...]}],
                   values LangChain reads but does not write any more (legacy format,
                   langchain_core-style ids).
GEN is {"kind": "Generation" | "ChatGeneration", "text", "generation_info" (absent when
None), and for chat generations "message": the constructor object with its kwargs as
user data (unescaped) and "message_serialized": json.loads(dumps(message))}.
"""

import json
import logging
import sys
import warnings

# The oracle's deprecation notices and legacy-format log lines are noise in ctest output.
warnings.filterwarnings("ignore")
warnings.showwarning = lambda *args, **kwargs: None
logging.disable(logging.WARNING)

import langchain_core  # noqa: E402
from langchain_community.cache import _dumps_generations, _loads_generations  # noqa: E402
from langchain_core.load import dumps  # noqa: E402
from langchain_core.messages import AIMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, Generation  # noqa: E402


def describe(gen):
    out = {"kind": type(gen).__name__, "text": gen.text}
    if gen.generation_info is not None:
        out["generation_info"] = gen.generation_info
    if isinstance(gen, ChatGeneration):
        # to_json() leaves kwargs as the Python objects the user passed: the C++
        # ChatGeneration::message holds that form; the codec escapes it on write.
        out["message"] = json.loads(json.dumps(gen.message.to_json()))
        out["message_serialized"] = json.loads(dumps(gen.message))
    return out


def check_round_trip(value, gens):
    back = _loads_generations(value)
    assert back == gens, (value, back, gens)


CONTROL = "".join(chr(c) for c in range(0x20)) + "\x7f"

FLOATS = {
    "tenth": 0.1,
    "tiny": 1e-07,
    "big": 1e16,
    "neg_zero": -0.0,
    "three": 3.0,
    "huge": 1.5e300,
    "long": 123456789012345.0,
    "below_sci": 1234567890123456.0,
    "above_fixed": 12345678901234567890.0,
    "ten_thousandth": 0.0001,
    "hundred_thousandth": 0.00001,
    "subnormal": 5e-324,
    "max": 1.7976931348623157e308,
    "third": 1 / 3,
    "neg": -2.5e-10,
    "e22": 1e22,
}

INTS = {
    "zero": 0,
    "neg": -42,
    "int64_max": 2**63 - 1,
    "int64_min": -(2**63),
    "uint64_max": 2**64 - 1,
}


def tool_call_message():
    return AIMessage(
        content="",
        additional_kwargs={"refusal": None},
        response_metadata={
            "model_name": "gpt-4o-mini",
            "finish_reason": "tool_calls",
            "token_usage": {"prompt_tokens": 12, "completion_tokens": 7},
        },
        id="run-1234",
        tool_calls=[
            {
                "name": "get_weather",
                "args": {"city": "Zürich", "days": 3, "metric": True},
                "id": "call_1",
            },
            {"name": "noop", "args": {}, "id": "call_2"},
        ],
        invalid_tool_calls=[
            {"name": "bad", "args": "{not json", "id": "call_3", "error": "parse"}
        ],
        usage_metadata={
            "input_tokens": 12,
            "output_tokens": 7,
            "total_tokens": 19,
            "input_token_details": {"cache_read": 0},
        },
    )


def lc_message():
    return AIMessage(
        content=[{"type": "text", "text": "see "}, {"type": "text", "text": "this"}],
        additional_kwargs={"lc": 5, "x": 1},
        response_metadata={"a": {"lc": 1}, "b": [{"lc": 2}, {"c": 3}]},
        tool_calls=[{"name": "f", "args": {"lc": 1, "x": [{"lc": 2}]}, "id": "c1"}],
    )


def encode_cases():
    return {
        "ascii": [Generation(text="Hello, world!")],
        "empty_text": [Generation(text="")],
        "empty_generation_info": [Generation(text="x", generation_info={})],
        "accented": [Generation(text="café naïve Ünïcödé — ñ ß ø ¿¡")],
        "emoji": [Generation(text="hi 👋🌍 😀 𝄞 \U0010ffff end")],
        "cjk_and_bmp_edges": [Generation(text="漢字 \u0800 \uffff \ue000 \u00a0")],
        "control_characters": [
            Generation(text=CONTROL, generation_info={CONTROL: CONTROL})
        ],
        "quotes_and_backslashes": [
            Generation(text='He said "hi" \\ and / and \\"x\\" \\\\n')
        ],
        "nested_generation_info": [
            Generation(
                text="The answer",
                generation_info={
                    "finish_reason": "stop",
                    "ints": INTS,
                    "floats": FLOATS,
                    "flags": [True, False, None],
                    "nested": {"list": [[1, [2, [3, {}]]], [], {"k": []}], "d": {"e": {}}},
                    "logprobs": None,
                    "ünïcode 👋": "välue",
                },
            )
        ],
        "chat_simple": [ChatGeneration(message=AIMessage(content="hi there"))],
        "chat_empty_content": [ChatGeneration(message=AIMessage(content=""))],
        "chat_tool_calls": [
            ChatGeneration(
                message=tool_call_message(),
                generation_info={"finish_reason": "tool_calls", "logprobs": None},
            )
        ],
        "several": [
            Generation(text="first", generation_info={"i": 0}),
            ChatGeneration(message=AIMessage(content="second 👋")),
            Generation(text="third"),
        ],
        "empty_list": [],
        "lc_escaping": [
            Generation(
                text="esc",
                generation_info={
                    "a": {"lc": 1, "b": {"lc": 2}},
                    "l": [{"lc": 3}, {"ok": {"lc": 4}}],
                    "only_marker": {"__lc_escaped__": 5},
                    "__lc_escaped__": 6,
                },
            ),
            Generation(text="top", generation_info={"lc": 1, "type": "constructor"}),
            Generation(text="marker", generation_info={"__lc_escaped__": {"lc": 1}}),
            ChatGeneration(message=lc_message(), generation_info={"lc": 7}),
        ],
    }


def decode_cases():
    cases = {}

    legacy = [
        {"text": "legacy one"},
        {"text": "legacy two", "generation_info": {"finish_reason": "stop", "n": 1.5}},
        {"text": "legacy three", "generation_info": None, "type": "Generation"},
        {"text": "legacy keeps lc", "generation_info": {"lc": 1}},
    ]
    value = json.dumps(legacy)
    gens = _loads_generations(value)
    assert [type(g) for g in gens] == [Generation] * 4
    cases["legacy"] = (value, gens)

    value = json.dumps([{"text": ""}])
    cases["legacy_empty_text"] = (value, _loads_generations(value))

    # Ids as langchain-core's own module paths, which load/mapping.py maps too.
    core_ids = [
        {
            "lc": 1,
            "type": "constructor",
            "id": ["langchain_core", "outputs", "generation", "Generation"],
            "kwargs": {"text": "core id", "generation_info": {"k": {"__lc_escaped__": {"lc": 1}}}},
        },
        {
            "lc": 1,
            "type": "constructor",
            "id": ["langchain_core", "outputs", "chat_generation", "ChatGeneration"],
            "kwargs": {"text": "core chat", "message": json.loads(dumps(AIMessage(content="core chat")))},
        },
    ]
    value = json.dumps([json.dumps(o) for o in core_ids])
    gens = _loads_generations(value)
    assert [type(g) for g in gens] == [Generation, ChatGeneration]
    cases["langchain_core_ids"] = (value, gens)

    # Key order inside the constructor object does not matter to the reader.
    reordered = {
        "kwargs": {"type": "Generation", "text": "reordered"},
        "id": ["langchain", "schema", "output", "Generation"],
        "type": "constructor",
        "lc": 1,
    }
    value = json.dumps([json.dumps(reordered)])
    cases["reordered_keys"] = (value, _loads_generations(value))

    # Compact separators (another writer) are read too.
    value = json.dumps([dumps(Generation(text="compact", generation_info={"a": [1, 2]}))], separators=(",", ":"))
    cases["compact_separators"] = (value, _loads_generations(value))

    out = []
    for name, (value, gens) in cases.items():
        assert gens is not None, name
        out.append({"name": name, "input": value, "generations": [describe(g) for g in gens]})
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: generate_codec_vectors.py OUT.json")
    encode = []
    for name, gens in encode_cases().items():
        value = _dumps_generations(gens)
        check_round_trip(value, gens)
        encode.append({"name": name, "generations": [describe(g) for g in gens], "expected": value})
    doc = {
        "versions": {"langchain_core": langchain_core.__version__},
        "encode_cases": encode,
        "decode_cases": decode_cases(),
    }
    with open(sys.argv[1], "w", encoding="ascii") as f:
        json.dump(doc, f, indent=1, ensure_ascii=True, allow_nan=False)
        f.write("\n")


if __name__ == "__main__":
    main()
