#pragma once
/// LangChain's value format for cached generations (the README's "Compatibility with
/// LangChain and pymemcache" states the byte contract).
///
/// A stored value is `json.dumps([langchain_core.load.dumps(g) for g in generations])`:
/// a JSON array of JSON strings, each string itself the JSON serialization of one
/// generation. Both levels use Python's json defaults (", " and ": " separators,
/// ensure_ascii, float repr). encode_generations() writes those bytes exactly.
#include <llmcache/generation.hpp>

#include <optional>
#include <string>
#include <string_view>

namespace llmcache {

/// Serializes generations byte-for-byte as LangChain's MemcachedCache does.
/// Dicts holding an "lc" key in generation_info and in the message's kwargs are wrapped
/// as {"__lc_escaped__": {...}}, as langchain-core >= 1.2.5 does.
/// Throws InvalidArgumentError if a string is not valid UTF-8 (Python could not hold it),
/// generation_info is not an object, a message has no kwargs object, a message holds a
/// `secret` or `not_implemented` node outside its kwargs (it would never read back; see
/// find_refused_node()), or JSON nests deeper than 128 levels in one generation.
std::string encode_generations(const Generations& generations);

/// Parses a stored value: the current LangChain format and the legacy one
/// (a JSON list of `{"text": ...}` objects). Throws DecodeError on anything else;
/// never crashes on hostile input. Undoes the "__lc_escaped__" wrapping.
/// Refuses (DecodeError) a value holding, at any depth outside escaped user data, a
/// LangChain `secret` node or a `not_implemented` node (the placeholder LangChain's
/// dumps() writes for an object it cannot serialize): see find_refused_node().
/// Also rejects what Python would read but Json cannot hold or encode_generations()
/// cannot write back: integers outside int64/uint64, NaN/Infinity, numbers beyond
/// double range, lone surrogate escapes, nesting deeper than 128 levels.
Generations decode_generations(std::string_view value);

/// The rule decode_generations() applies to LangChain nodes, on its own: the type
/// ("secret" or "not_implemented") of the first such node in a stored value, or
/// nullopt. A node is an object whose `type` is one of these and whose `lc` equals 1
/// (as Python compares: 1, 1.0, true); the content of a {"__lc_escaped__": ...} wrapper
/// in the current format is user data and is not searched. Used by writers that
/// produce the value some other way (Python, through LangChain's dumps) to refuse what
/// would never read back. Throws DecodeError if the value is not JSON simdjson reads
/// (NaN, Infinity and integers beyond 64 bits included).
std::optional<std::string> find_refused_node(std::string_view value);

/// Serializes one JSON value as Python's `json.dumps` would (default arguments).
/// Throws InvalidArgumentError on invalid UTF-8, binary values, or nesting deeper than 128.
std::string python_json_dumps(const Json& value);

}  // namespace llmcache
