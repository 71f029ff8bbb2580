#pragma once
/// LangChain's cached value types: Generation and ChatGeneration.
///
/// JSON payloads (generation_info, a chat message) are nlohmann::ordered_json so that
/// key order survives a round trip: LangChain's bytes depend on it.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace llmcache {

/// An insertion-ordered JSON value.
using Json = nlohmann::ordered_json;

/// langchain_core.outputs.Generation: a completion from a text LLM.
struct Generation {
  std::string text;
  /// Provider metadata (finish reason, log probs...). Empty means "not set" (Python None);
  /// an empty JSON object is kept and written as `{}`, as LangChain does.
  std::optional<Json> generation_info;

  friend bool operator==(const Generation&, const Generation&) = default;
};

/// langchain_core.outputs.ChatGeneration: a completion from a chat model.
struct ChatGeneration {
  /// The message as LangChain serializes it: a constructor object
  /// `{"lc": 1, "type": "constructor", "id": [...,"AIMessage"], "kwargs": {...}}`.
  /// Use ai_message() to build the common case. Its kwargs hold user data as given:
  /// the codec wraps dicts with an "lc" key as LangChain's dumps() does, and unwraps
  /// them on decode, so this is `message.to_json()`, not `json.loads(dumps(message))`.
  Json message;
  /// LangChain derives this from the message content; empty is not written.
  std::string text;
  std::optional<Json> generation_info;

  friend bool operator==(const ChatGeneration&, const ChatGeneration&) = default;
};

using AnyGeneration = std::variant<Generation, ChatGeneration>;
using Generations = std::vector<AnyGeneration>;

/// Builds the constructor object LangChain writes for `AIMessage(content=content)`
/// with no tool calls: kwargs `content, type, tool_calls, invalid_tool_calls`.
Json ai_message(std::string_view content);

/// Builds a ChatGeneration whose text is the message content, as LangChain does.
ChatGeneration chat_generation(std::string_view content,
                               std::optional<Json> generation_info = std::nullopt);

/// The text of any generation.
const std::string& text_of(const AnyGeneration& generation);

}  // namespace llmcache
