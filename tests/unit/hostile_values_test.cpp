// Stored values written by an attacker who can write to the pool: whatever the JSON
// claims, decoding yields LangChain generations holding LangChain messages, or a
// DecodeError (which the cache turns into a counted miss). Nothing else comes back.
#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace llmcache {
namespace {

// The stored form: a JSON list holding one JSON string (the serialized generation).
std::string stored(const std::string& inner) {
  std::string quoted;
  for (char c : inner) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return "[\"" + quoted + "\"]";
}

std::string chat_with_message(const std::string& message) {
  return stored(
      R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "output", "ChatGeneration"], "kwargs": {"type": "ChatGeneration", "message": )" +
      message + "}}");
}

const std::string kSecretNode = R"({"lc": 1, "type": "secret", "id": ["OPENAI_API_KEY"]})";

TEST(HostileValues, GenerationClaimingAnLlmClassIsRefused) {
  EXPECT_THROW(
      decode_generations(stored(
          R"({"lc": 1, "type": "constructor", "id": ["langchain", "llms", "openai", "OpenAI"], "kwargs": {"openai_api_key": )" +
          kSecretNode + "}}")),
      DecodeError);
  EXPECT_THROW(
      decode_generations(stored(
          R"({"lc": 1, "type": "constructor", "id": ["langchain_core", "prompts", "prompt", "PromptTemplate"], "kwargs": {"template": "x", "input_variables": []}})")),
      DecodeError);
}

TEST(HostileValues, ChatGenerationHoldingANonMessageIsRefused) {
  const std::vector<std::string> messages = {
      R"({"lc": 1, "type": "constructor", "id": ["langchain", "llms", "openai", "OpenAI"], "kwargs": {"openai_api_key": )" +
          kSecretNode + "}}",
      R"({"lc": 1, "type": "constructor", "id": ["langchain_core", "prompts", "prompt", "PromptTemplate"], "kwargs": {"template": "x"}})",
      R"({"lc": 1, "type": "constructor", "id": [], "kwargs": {"content": "x"}})",
      R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "NotAMessage"], "kwargs": {"content": "x"}})",
      R"({"lc": 1, "type": "constructor", "id": ["langchain_core", "messages", "tool", "AIMessage"], "kwargs": {"content": "x"}})",
      R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", 7], "kwargs": {"content": "x"}})",
      kSecretNode,
      R"({"lc": 1, "type": "not_implemented", "id": ["langchain", "schema", "messages", "AIMessage"], "repr": "x"})",
  };
  for (const auto& message : messages) {
    SCOPED_TRACE(message);
    EXPECT_THROW(decode_generations(chat_with_message(message)), DecodeError);
  }
}

TEST(HostileValues, EveryKnownMessageClassIsStillRead) {
  for (const std::string name : {"AIMessage", "HumanMessage", "SystemMessage", "ChatMessage",
                                 "ToolMessage", "FunctionMessage", "AIMessageChunk"}) {
    SCOPED_TRACE(name);
    const auto generations = decode_generations(chat_with_message(
        R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", ")" + name +
        R"("], "kwargs": {"content": "hi"}})"));
    ASSERT_EQ(generations.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<ChatGeneration>(generations[0]));
  }
  EXPECT_NO_THROW(decode_generations(chat_with_message(
      R"({"lc": 1, "type": "constructor", "id": ["langchain_core", "messages", "ai", "AIMessage"], "kwargs": {"content": "hi"}})")));
}

TEST(HostileValues, SecretAndNotImplementedNodesAreRefusedAtTheTop) {
  EXPECT_THROW(decode_generations(stored(kSecretNode)), DecodeError);
  EXPECT_THROW(
      decode_generations(stored(
          R"({"lc": 1, "type": "not_implemented", "id": ["langchain", "schema", "output", "Generation"], "repr": "x"})")),
      DecodeError);
}

// A secret node inside generation_info is plain data to the C++ decoder: it is returned
// as the JSON it is, never resolved against the environment.
TEST(HostileValues, SecretNodeInGenerationInfoStaysData) {
  const auto generations = decode_generations(stored(
      R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "output", "Generation"], "kwargs": {"text": "t", "generation_info": {"k": )" +
      kSecretNode + "}}}"));
  ASSERT_EQ(generations.size(), 1u);
  const auto& info = std::get<Generation>(generations[0]).generation_info;
  ASSERT_TRUE(info);
  EXPECT_EQ((*info)["k"], Json::parse(kSecretNode));
}

TEST(HostileValues, HugeNestingAndNumbersAreRefusedWithoutCrashing) {
  const std::string generation =
      R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "output", "Generation"], "kwargs": {"text": "t", "generation_info": {"n": )";
  const std::vector<std::string> values = {
      stored(generation + std::string(200000, '[') + std::string(200000, ']') + "}}}"),
      stored(generation + std::string(200000, '{') + "}}}"),
      std::string(1 << 20, '['),
      stored(generation + std::string(100000, '9') + "}}}"),
      stored(generation + "1e999999}}}"),
      stored(generation + "-1e999999}}}"),
      "[" + std::string(100000, '9') + "]",
  };
  for (const auto& value : values) {
    SCOPED_TRACE(value.substr(0, 120));
    EXPECT_THROW(decode_generations(value), DecodeError);
  }
}

}  // namespace
}  // namespace llmcache
