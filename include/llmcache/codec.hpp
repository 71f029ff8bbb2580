#pragma once
/// LangChain's value format for cached generations (DESIGN.md 1.2).
///
/// A stored value is `json.dumps([langchain_core.load.dumps(g) for g in generations])`:
/// a JSON array of JSON strings, each string itself the JSON serialization of one
/// generation. Both levels use Python's json defaults (", " and ": " separators,
/// ensure_ascii, float repr). encode_generations() writes those bytes exactly.
#include <llmcache/generation.hpp>

#include <string>
#include <string_view>

namespace llmcache {

/// Serializes generations byte-for-byte as LangChain's MemcachedCache does.
/// Dicts holding an "lc" key in generation_info and in the message's kwargs are wrapped
/// as {"__lc_escaped__": {...}}, as langchain-core >= 1.2.5 does.
/// Throws InvalidArgumentError if a string is not valid UTF-8 (Python could not hold it),
/// generation_info is not an object, a message has no kwargs object, or JSON nests
/// deeper than 128 levels in one generation.
std::string encode_generations(const Generations& generations);

/// Parses a stored value: the current LangChain format and the legacy one
/// (a JSON list of `{"text": ...}` objects). Throws DecodeError on anything else;
/// never crashes on hostile input. Undoes the "__lc_escaped__" wrapping. Rejects what
/// Python would read but encode_generations() cannot write back: integers outside
/// int64/uint64, NaN/Infinity, numbers beyond double range, lone surrogate escapes,
/// nesting deeper than 128 levels.
Generations decode_generations(std::string_view value);

/// Serializes one JSON value as Python's `json.dumps` would (default arguments).
/// Throws InvalidArgumentError on invalid UTF-8, binary values, or nesting deeper than 128.
std::string python_json_dumps(const Json& value);

}  // namespace llmcache
