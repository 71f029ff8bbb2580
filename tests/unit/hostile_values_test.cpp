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

const std::string kNotImplementedNode =
    R"json({"lc": 1, "type": "not_implemented", "id": ["datetime", "datetime"], "repr": "datetime.datetime(2024, 1, 2, 0, 0)"})json";

std::string generation_with_info(const std::string& info) {
  return stored(
      R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "output", "Generation"], "kwargs": {"text": "t", "generation_info": )" +
      info + R"(, "type": "Generation"}})");
}

std::string chat_with_kwargs(const std::string& message_kwargs) {
  return chat_with_message(
      R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "AIMessage"], "kwargs": {"content": "hi", )" +
      message_kwargs + R"(, "type": "ai"}})");
}

// A `secret` node (LangChain's loader resolves it) and a `not_implemented` node (what
// LangChain's dumps writes for a datetime, a set, bytes...; its loader raises on it) are
// not data a generation can hold: wherever they sit, the value is refused.
TEST(HostileValues, SecretAndNotImplementedNodesAreRefusedAtAnyDepth) {
  for (const auto& node : {kSecretNode, kNotImplementedNode}) {
    const std::vector<std::string> values = {
        generation_with_info(R"({"k": )" + node + "}"),
        generation_with_info(R"({"a": [1, {"b": [[)" + node + "]]}]}"),
        generation_with_info(node),
        chat_with_kwargs(R"("additional_kwargs": {"d": )" + node + "}"),
        chat_with_kwargs(R"("response_metadata": {"a": [{"u": )" + node + "}]}"),
        chat_with_kwargs(R"("tool_calls": [{"name": "f", "args": {"x": )" + node +
                         R"(}, "id": "1", "type": "tool_call"}])"),
        // A kwarg the decoder ignores: LangChain's loader still revives it.
        stored(
            R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "output", "Generation"], "kwargs": {"text": "t", "extra": )" +
            node + "}}"),
        // The legacy format is never escaped, so a node there is never data.
        R"([{"text": "t", "generation_info": {"k": )" + node + "}}]",
    };
    for (const auto& value : values) {
      SCOPED_TRACE(value);
      EXPECT_THROW(decode_generations(value), DecodeError);
      EXPECT_TRUE(find_refused_node(value).has_value());
    }
  }
  EXPECT_EQ(find_refused_node(generation_with_info(R"({"k": )" + kSecretNode + "}")), "secret");
  EXPECT_EQ(find_refused_node(
                chat_with_kwargs(R"("additional_kwargs": {"d": )" + kNotImplementedNode + "}")),
            "not_implemented");
}

// LangChain's Reviver tests `lc == 1` in Python, where 1.0 and True are equal to 1; and
// json.loads keeps the last of duplicated keys.
TEST(HostileValues, NodesAreRecognisedAsPythonComparesThem) {
  for (const std::string lc : {"1", "1.0", "true", "1e0"}) {
    SCOPED_TRACE(lc);
    EXPECT_THROW(decode_generations(generation_with_info(R"({"k": {"lc": )" + lc +
                                                         R"(, "type": "secret", "id": ["X"]}})")),
                 DecodeError);
  }
  EXPECT_THROW(decode_generations(generation_with_info(
                   R"({"k": {"lc": 2, "type": "constructor", "lc": 1, "type": "secret"}})")),
               DecodeError);
  // Not nodes: other lc values and types, or the node type overwritten by a later key.
  for (const std::string info : {
           R"({"k": {"lc": 2, "type": "secret", "id": ["X"]}})",
           R"({"k": {"lc": false, "type": "secret", "id": ["X"]}})",
           R"({"k": {"lc": "1", "type": "secret", "id": ["X"]}})",
           R"({"k": {"type": "secret", "id": ["X"]}})",
           R"({"k": {"lc": 1, "type": "Secret", "id": ["X"]}})",
           R"({"k": {"lc": 1, "type": "secret", "type": "data", "id": ["X"]}})",
       }) {
    SCOPED_TRACE(info);
    const std::string value = generation_with_info(info);
    EXPECT_NO_THROW(decode_generations(value));
    EXPECT_FALSE(find_refused_node(value).has_value());
  }
}

// A user dict that merely looks like a node is escaped by LangChain (>= 1.2.5) when it
// writes it, and its loader returns the escaped content as data: so does the decoder.
TEST(HostileValues, EscapedUserDataThatLooksLikeANodeStaysData) {
  const std::string value =
      generation_with_info(R"({"k": {"__lc_escaped__": )" + kSecretNode +
                           R"(}, "n": {"__lc_escaped__": {"a": )" + kNotImplementedNode + "}}}");
  EXPECT_FALSE(find_refused_node(value).has_value());
  const auto generations = decode_generations(value);
  ASSERT_EQ(generations.size(), 1u);
  const auto& info = std::get<Generation>(generations[0]).generation_info;
  ASSERT_TRUE(info);
  EXPECT_EQ((*info)["k"], Json::parse(kSecretNode));
  EXPECT_EQ((*info)["n"]["a"], Json::parse(kNotImplementedNode));
  // What the encoder writes for such user data reads back as the same data.
  Json user_data = Json::object();
  user_data["k"] = Json::parse(kSecretNode);
  user_data["n"] = Json::parse(kNotImplementedNode);
  const Generations written = {Generation{"t", user_data},
                               chat_generation("hi", Json{{"m", Json::parse(kSecretNode)}})};
  EXPECT_EQ(decode_generations(encode_generations(written)), written);
}

// The encoder escapes generation_info and a message's kwargs; a message's other fields
// are written as built, so a node there is refused before it could plant a miss.
TEST(HostileValues, EncoderRefusesANodeItWouldWriteUnescaped) {
  Json extra_field = ai_message("hi");
  extra_field["extra"] = Json{{"a", Json::parse(kNotImplementedNode)}};
  Json node_id = ai_message("hi");
  node_id["id"] = Json::array({Json::parse(kSecretNode)});
  Json node_message = Json::parse(kSecretNode);
  node_message["kwargs"] = Json::object();
  for (const auto& message : {extra_field, node_id, node_message}) {
    SCOPED_TRACE(message.dump());
    EXPECT_THROW(encode_generations({ChatGeneration{message, "hi", std::nullopt}}),
                 InvalidArgumentError);
  }
  Json in_kwargs = ai_message("hi");
  in_kwargs["kwargs"]["additional_kwargs"] = Json{{"d", Json::parse(kNotImplementedNode)}};
  const Generations escaped = {ChatGeneration{in_kwargs, "hi", std::nullopt}};
  EXPECT_EQ(decode_generations(encode_generations(escaped)), escaped);
}

TEST(HostileValues, FindRefusedNodeNeedsJsonSimdjsonReads) {
  EXPECT_FALSE(find_refused_node("[]").has_value());
  EXPECT_THROW(find_refused_node("not json"), DecodeError);
  EXPECT_THROW(find_refused_node("{}"), DecodeError);
  EXPECT_THROW(find_refused_node(generation_with_info(R"({"n": NaN})")), DecodeError);
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
