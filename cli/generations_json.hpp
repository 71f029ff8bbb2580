#pragma once
// Generations as the command shows and accepts them in JSON: a list of
// {"type", "text", "generation_info", "message"} objects, so `get --json | put` round-trips.
#include <llmcache/generation.hpp>

#include <string_view>

namespace llmcache::cli {

Json to_simple_json(const Generations& generations);

/// Accepts, in this order: LangChain's stored value (a JSON list of serialized strings),
/// a list of LangChain constructor objects ({"lc": 1, ...}), and the simple form
/// [{"text": ..., "generation_info": {...}}] (with "type": "ChatGeneration" and a
/// "message", a chat generation). A single object stands for a list of one.
/// Throws DecodeError with a message naming what is wrong.
Generations parse_generations_input(std::string_view text);

}  // namespace llmcache::cli
