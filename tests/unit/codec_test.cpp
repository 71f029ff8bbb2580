// The codec against LangChain itself: expected bytes come from the vectors file that
// tests/vectors/generate_codec_vectors.py writes with the installed langchain-core.
#include <gtest/gtest.h>
#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "codec/python_json.hpp"

namespace llmcache {
namespace {

using namespace std::string_literals;

// ---------------------------------------------------------------- vectors

const Json* load_vectors() {
  const char* path = std::getenv("LLMCACHE_CODEC_VECTORS");
  if (path == nullptr || *path == '\0') return nullptr;
  static const Json vectors = [path] {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw std::runtime_error("cannot open "s + path);
    std::stringstream text;
    text << in.rdbuf();
    return Json::parse(text.str());
  }();
  return &vectors;
}

#define REQUIRE_VECTORS(vectors)                                                                 \
  const Json* vectors = load_vectors();                                                          \
  if (vectors == nullptr) {                                                                      \
    GTEST_SKIP() << "LLMCACHE_CODEC_VECTORS is not set; run "                                    \
                    "tests/vectors/generate_codec_vectors.py OUT.json and point it at OUT.json"; \
  }

AnyGeneration build(const Json& description) {
  std::optional<Json> info;
  if (description.contains("generation_info")) info = description.at("generation_info");
  const auto& text = description.at("text").get_ref<const std::string&>();
  if (description.at("kind") == "Generation") return Generation{text, info};
  return ChatGeneration{description.at("message"), text, info};
}

Generations build_all(const Json& descriptions) {
  Generations generations;
  for (const auto& description : descriptions) generations.push_back(build(description));
  return generations;
}

const Json& find_case(const Json& vectors, const char* section, std::string_view name) {
  for (const auto& entry : vectors.at(section)) {
    if (entry.at("name") == name) return entry;
  }
  throw std::runtime_error("no vector named "s + std::string(name));
}

void expect_encode_case(const Json& entry) {
  SCOPED_TRACE(entry.at("name").get<std::string>());
  const Generations generations = build_all(entry.at("generations"));
  const auto& expected = entry.at("expected").get_ref<const std::string&>();
  EXPECT_EQ(encode_generations(generations), expected);
  EXPECT_EQ(decode_generations(expected), generations);
}

void expect_decode_case(const Json& entry) {
  SCOPED_TRACE(entry.at("name").get<std::string>());
  EXPECT_EQ(decode_generations(entry.at("input").get<std::string>()),
            build_all(entry.at("generations")));
}

class CodecVectors : public ::testing::Test {
 protected:
  void check(std::string_view name) {
    const Json* vectors = load_vectors();
    if (vectors == nullptr) GTEST_SKIP() << "LLMCACHE_CODEC_VECTORS is not set";
    expect_encode_case(find_case(*vectors, "encode_cases", name));
  }
};

TEST_F(CodecVectors, Ascii) {
  check("ascii");
}
TEST_F(CodecVectors, EmptyTextIsWrittenForPlainGeneration) {
  check("empty_text");
}
TEST_F(CodecVectors, EmptyGenerationInfoIsWritten) {
  check("empty_generation_info");
}
TEST_F(CodecVectors, AccentedText) {
  check("accented");
}
TEST_F(CodecVectors, EmojiAsSurrogatePairs) {
  check("emoji");
}
TEST_F(CodecVectors, BmpEdges) {
  check("cjk_and_bmp_edges");
}
TEST_F(CodecVectors, EveryControlCharacterAndDel) {
  check("control_characters");
}
TEST_F(CodecVectors, QuotesAndBackslashes) {
  check("quotes_and_backslashes");
}
TEST_F(CodecVectors, NestedGenerationInfoWithNumbersBooleansNull) {
  check("nested_generation_info");
}
TEST_F(CodecVectors, ChatGeneration) {
  check("chat_simple");
}
TEST_F(CodecVectors, ChatGenerationWithEmptyContentDropsText) {
  check("chat_empty_content");
}
TEST_F(CodecVectors, ChatGenerationWithToolCallsAndUsage) {
  check("chat_tool_calls");
}
TEST_F(CodecVectors, SeveralGenerations) {
  check("several");
}
TEST_F(CodecVectors, EmptyList) {
  check("empty_list");
}
TEST_F(CodecVectors, LcKeysAreEscapedInGenerationInfoAndMessageKwargs) {
  check("lc_escaping");
}

TEST(CodecVectorFile, EveryEncodeCase) {
  REQUIRE_VECTORS(vectors);
  ASSERT_FALSE(vectors->at("encode_cases").empty());
  for (const auto& entry : vectors->at("encode_cases")) expect_encode_case(entry);
}

TEST(CodecVectorFile, EveryDecodeCase) {
  REQUIRE_VECTORS(vectors);
  for (const auto& name : {"legacy", "legacy_empty_text", "langchain_core_ids", "reordered_keys",
                           "compact_separators"}) {
    find_case(*vectors, "decode_cases", name);  // the cases this file relies on exist
  }
  for (const auto& entry : vectors->at("decode_cases")) expect_decode_case(entry);
}

TEST(CodecVectorFile, HelpersBuildWhatLangChainBuilds) {
  REQUIRE_VECTORS(vectors);
  const auto& simple = find_case(*vectors, "encode_cases", "chat_simple");
  const auto& described = simple.at("generations").at(0);
  EXPECT_EQ(ai_message("hi there"), described.at("message"));
  EXPECT_EQ(ai_message("hi there"), described.at("message_serialized"));
  const Generations built{chat_generation("hi there")};
  EXPECT_EQ(encode_generations(built), simple.at("expected").get<std::string>());

  const auto& empty = find_case(*vectors, "encode_cases", "chat_empty_content");
  EXPECT_EQ(encode_generations({chat_generation("")}), empty.at("expected").get<std::string>());
}

TEST(CodecVectorFile, LegacyFormatKeepsLcKeysUnescaped) {
  REQUIRE_VECTORS(vectors);
  const auto& legacy = find_case(*vectors, "decode_cases", "legacy");
  const Generations decoded = decode_generations(legacy.at("input").get<std::string>());
  ASSERT_EQ(decoded.size(), 4u);
  EXPECT_EQ(std::get<Generation>(decoded[3]).generation_info, Json({{"lc", 1}}));
}

// ---------------------------------------------------------------- Python formatting

TEST(PythonJsonDumps, FloatsAsPythonRepr) {
  // Each expectation was checked against Python 3.11's json.dumps.
  const std::vector<std::pair<double, std::string>> cases = {
      {0.1, "0.1"},
      {1e-07, "1e-07"},
      {1e16, "1e+16"},
      {-0.0, "-0.0"},
      {0.0, "0.0"},
      {3.0, "3.0"},
      {1.5e300, "1.5e+300"},
      {123456789012345.0, "123456789012345.0"},
      {1234567890123456.0, "1234567890123456.0"},
      {9999999999999998.0, "9999999999999998.0"},
      {1e15, "1000000000000000.0"},
      {1e22, "1e+22"},
      {1e100, "1e+100"},
      {5e-324, "5e-324"},
      {1.5e-323, "1.5e-323"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {0.0001, "0.0001"},
      {0.00001, "1e-05"},
      {2.5e-05, "2.5e-05"},
      {1.23e-18, "1.23e-18"},
      {100.0, "100.0"},
      {0.5, "0.5"},
      {-1.25, "-1.25"},
      {12345.678, "12345.678"},
      {std::numeric_limits<double>::quiet_NaN(), "NaN"},
      {std::numeric_limits<double>::infinity(), "Infinity"},
      {-std::numeric_limits<double>::infinity(), "-Infinity"},
  };
  for (const auto& [value, expected] : cases) {
    EXPECT_EQ(python_json_dumps(Json(value)), expected) << expected;
  }
}

TEST(PythonJsonDumps, SeparatorsKeyOrderAndIntegers) {
  Json value = Json::object();
  value["b"] = Json::array({1, true, nullptr, "x", Json::object()});
  value["a"] = -5;
  value["u"] = std::numeric_limits<std::uint64_t>::max();
  value["i"] = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(python_json_dumps(value),
            R"({"b": [1, true, null, "x", {}], "a": -5, "u": 18446744073709551615, )"
            R"("i": -9223372036854775808})");
  EXPECT_EQ(python_json_dumps(Json::array()), "[]");
}

TEST(PythonJsonDumps, DoesNotEscapeLcKeys) {
  EXPECT_EQ(python_json_dumps(Json{{"lc", 1}}), R"({"lc": 1})");
}

// ---------------------------------------------------------------- encode errors

TEST(Encode, RejectsInvalidUtf8) {
  const std::vector<std::string> bad = {
      "\x80",              // lone continuation byte
      "\xc0\x80",          // overlong NUL
      "\xe0\x80\xaf",      // overlong '/'
      "\xed\xa0\x80",      // UTF-16 surrogate
      "\xe2\x82",          // truncated
      "\xf4\x90\x80\x80",  // above U+10FFFF
      "\xf5\x80\x80\x80",  // invalid lead byte
      "\xff",
      "ok\xc3(",  // bad continuation
  };
  for (const auto& text : bad) {
    SCOPED_TRACE(testing::PrintToString(text));
    EXPECT_THROW(encode_generations({Generation{text, std::nullopt}}), InvalidArgumentError);
    EXPECT_THROW(encode_generations({Generation{"t", Json{{text, 1}}}}), InvalidArgumentError);
    EXPECT_THROW(encode_generations({chat_generation(text)}), InvalidArgumentError);
  }
}

TEST(Encode, RejectsShapesPythonCannotHold) {
  EXPECT_THROW(encode_generations({Generation{"t", Json::array()}}), InvalidArgumentError);
  EXPECT_THROW(encode_generations({Generation{"t", Json{{"b", Json::binary({1, 2})}}}}),
               InvalidArgumentError);
  EXPECT_THROW(encode_generations({ChatGeneration{Json("not a message"), "t", std::nullopt}}),
               InvalidArgumentError);
  EXPECT_THROW(encode_generations({ChatGeneration{Json{{"lc", 1}}, "t", std::nullopt}}),
               InvalidArgumentError);
}

TEST(Encode, NullGenerationInfoIsNotWritten) {
  EXPECT_EQ(encode_generations({Generation{"t", Json(nullptr)}}),
            encode_generations({Generation{"t", std::nullopt}}));
}

// generation_info is the third level of a serialized generation (constructor, kwargs).
Json nested_generation_info(int total_depth) {
  Json value = Json::array();
  for (int depth = total_depth; depth > 4; --depth) value = Json::array({std::move(value)});
  return Json{{"deep", std::move(value)}};
}

TEST(Codec, DeepestAllowedNestingRoundTrips) {
  const Generations deepest{Generation{"t", nested_generation_info(codec_detail::kMaxNesting)}};
  EXPECT_EQ(decode_generations(encode_generations(deepest)), deepest);
  const Generations deeper{Generation{"t", nested_generation_info(codec_detail::kMaxNesting + 1)}};
  EXPECT_THROW(encode_generations(deeper), InvalidArgumentError);

  // The reader's limit is the writer's: one level more is refused.
  const auto stored_with_depth = [](int total_depth) {
    const int arrays = total_depth - 4;  // constructor, kwargs, generation_info, "deep"
    const std::string inner =
        R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "output", )"
        R"("Generation"], "kwargs": {"text": "t", "generation_info": {"deep": )" +
        std::string(arrays + 1, '[') + std::string(arrays + 1, ']') + "}}}";
    return python_json_dumps(Json::array({inner}));
  };
  EXPECT_EQ(decode_generations(stored_with_depth(codec_detail::kMaxNesting)), deepest);
  EXPECT_THROW(decode_generations(stored_with_depth(codec_detail::kMaxNesting + 1)), DecodeError);
}

// Found with the round-trip check of fuzz/codec_decode_fuzzer.cpp: simdjson counts a scalar as a
// level of its own, so a generation the encoder wrote with a non-empty container at the deepest
// allowed level was refused by the decoder: stored, then a miss on every lookup.
TEST(Codec, DeepestAllowedNestingWithContentRoundTrips) {
  Json value = Json::array({1});
  for (int depth = codec_detail::kMaxNesting; depth > 4; --depth) {
    value = Json::array({std::move(value)});
  }
  const Generations deepest{Generation{"t", Json{{"deep", std::move(value)}}}};
  EXPECT_EQ(decode_generations(encode_generations(deepest)), deepest);
}

// Found the same way: the encoder wraps dicts holding "lc" that were stored
// unwrapped (legacy format, LangChain before 1.2.5), one level deeper than they were
// read. At the nesting limit a value then decoded but could not be written back (or was
// written and never read back). Whatever decodes must survive encode + decode.
TEST(Decode, WhatDecodesCanBeWrittenBack) {
  const auto chain = [](int objects) {
    std::string json = R"({"lc": 1})";
    for (int i = 1; i < objects; ++i) json = R"({"a": )" + json + "}";
    return json;
  };
  std::vector<std::string> values;
  // generation_info is the third level in both formats, so its last object sits at
  // level 2 + objects.
  for (int objects = codec_detail::kMaxNesting - 4; objects <= codec_detail::kMaxNesting;
       ++objects) {
    values.push_back(R"([{"text": "t", "generation_info": )" + chain(objects) + "}]");
    const std::string inner =
        R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "output", )"
        R"("Generation"], "kwargs": {"text": "t", "generation_info": )" +
        chain(objects) + "}}";
    values.push_back(python_json_dumps(Json::array({inner})));
  }
  int decoded = 0;
  for (const std::string& value : values) {
    Generations generations;
    try {
      generations = decode_generations(value);
    } catch (const DecodeError&) {
      continue;
    }
    ++decoded;
    std::string encoded;
    ASSERT_NO_THROW(encoded = encode_generations(generations)) << value.substr(0, 80);
    EXPECT_EQ(decode_generations(encoded), generations) << value.substr(0, 80);
  }
  // The shallower ones are ordinary values and must decode.
  EXPECT_GE(decoded, 4);
}

// ---------------------------------------------------------------- decode

TEST(Decode, GenerationInfoNullOrMissingIsUnset) {
  const auto inner = [](std::string kwargs) {
    std::string serialized =
        R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "output", "Generation"], "kwargs": )" +
        kwargs + "}";
    return python_json_dumps(Json::array({serialized}));
  };
  const Generations unset{Generation{"x", std::nullopt}};
  EXPECT_EQ(decode_generations(inner(R"({"text": "x"})")), unset);
  EXPECT_EQ(decode_generations(inner(R"({"text": "x", "generation_info": null})")), unset);
  EXPECT_EQ(decode_generations(inner(R"({"text": "x", "extra": [1], "type": "Generation"})")),
            unset);
}

TEST(Decode, DuplicateKeysKeepLastValueAtFirstPosition) {
  // As Python's json.loads('{"a": 1, "b": 2, "a": 3}') == {"a": 3, "b": 2}.
  const Generations small = decode_generations(R"([{"text": "t", "generation_info": )"
                                               R"({"a": 1, "b": 2, "a": 3}}])");
  EXPECT_EQ(python_json_dumps(*std::get<Generation>(small.at(0)).generation_info),
            R"({"a": 3, "b": 2})");

  // Past the size where decode indexes keys instead of scanning.
  std::string big = R"([{"text": "t", "generation_info": {)";
  Json expected = Json::object();
  for (int i = 0; i < 40; ++i) {
    big += "\"k" + std::to_string(i) + "\": " + std::to_string(i) + ", ";
    expected["k" + std::to_string(i)] = i;
  }
  big += R"("k7": "last"}}])";
  expected["k7"] = "last";
  const Generations decoded = decode_generations(big);
  EXPECT_EQ(python_json_dumps(*std::get<Generation>(decoded.at(0)).generation_info),
            python_json_dumps(expected));
}

std::string wrap_inner(const std::string& inner_json) {
  return python_json_dumps(Json::array({inner_json}));
}

TEST(Decode, MalformedValuesThrowDecodeError) {
  const std::string generation_id = R"("id": ["langchain", "schema", "output", "Generation"])";
  const std::string chat_id = R"("id": ["langchain", "schema", "output", "ChatGeneration"])";
  const std::vector<std::string> bad = {
      "",
      " ",
      "not json",
      "{}",
      R"("a string")",
      "[1]",
      "[null]",
      "[[]]",
      "[] trailing",
      "[\"{}\", {}]",
      R"([{"text": "legacy"}, "mixed"])",
      R"([{"generation_info": {}}])",
      R"([{"text": 5}])",
      R"([{"text": "t", "generation_info": [1]}])",
      R"([{"text": "t", "type": "ChatGeneration"}])",
      R"([{"text": "t", "generation_info": {"n": 123456789012345678901234567890}}])",
      R"([{"text": "t", "generation_info": {"n": NaN}}])",
      R"([{"text": "t", "generation_info": {"n": Infinity}}])",
      R"([{"text": "t", "generation_info": {"n": 1e400}}])",
      "[\"\\ud800\"]",
      "[\"\xff\"]",
      "[{\"text\": \"\xc0\x80\"}]",
      "[\"{\\\"lc\\\": 1, \\\"text\\\": \\\"\xed\xa0\x80\\\"}\"]",
      std::string(100000, '['),
      std::string(100000, '[') + std::string(100000, ']'),
      wrap_inner("not json"),
      wrap_inner("[]"),
      wrap_inner("{}"),
      wrap_inner("\"text\""),
      wrap_inner(R"({"lc": 2, "type": "constructor", )" + generation_id +
                 R"(, "kwargs": {"text": "t"}})"),
      wrap_inner(R"({"lc": "1", "type": "constructor", )" + generation_id +
                 R"(, "kwargs": {"text": "t"}})"),
      wrap_inner(R"({"lc": 1, "type": "secret", )" + generation_id +
                 R"(, "kwargs": {"text": "t"}})"),
      wrap_inner(R"({"lc": 1, "type": "not_implemented", )" + generation_id + "}"),
      wrap_inner(
          R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "messages", "AIMessage"], "kwargs": {"content": "t"}})"),
      wrap_inner(
          R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "output", "Generation", "X"], "kwargs": {"text": "t"}})"),
      wrap_inner(
          R"({"lc": 1, "type": "constructor", "id": "Generation", "kwargs": {"text": "t"}})"),
      wrap_inner(R"({"lc": 1, "type": "constructor", )" + generation_id + "}"),
      wrap_inner(R"({"lc": 1, "type": "constructor", )" + generation_id + R"(, "kwargs": []})"),
      wrap_inner(R"({"lc": 1, "type": "constructor", )" + generation_id + R"(, "kwargs": {}})"),
      wrap_inner(R"({"lc": 1, "type": "constructor", )" + generation_id +
                 R"(, "kwargs": {"text": ["t"]}})"),
      wrap_inner(R"({"lc": 1, "type": "constructor", )" + generation_id +
                 R"(, "kwargs": {"text": "t", "generation_info": "x"}})"),
      wrap_inner(R"({"lc": 1, "type": "constructor", )" + generation_id +
                 R"(, "kwargs": {"text": "t", "generation_info": {"__lc_escaped__": [1]}}})"),
      wrap_inner(R"({"lc": 1, "type": "constructor", )" + generation_id +
                 R"(, "kwargs": {"text": "t", "type": "ChatGeneration"}})"),
      wrap_inner(R"({"lc": 1, "type": "constructor", )" + chat_id +
                 R"(, "kwargs": {"text": "t"}})"),
      wrap_inner(R"({"lc": 1, "type": "constructor", )" + chat_id +
                 R"(, "kwargs": {"message": "hi"}})"),
      wrap_inner(R"({"lc": 1, "type": "constructor", )" + chat_id +
                 R"(, "kwargs": {"message": {"content": "hi"}}})"),
      wrap_inner(
          R"({"lc": 1, "type": "constructor", )" + chat_id +
          R"(, "kwargs": {"message": {"__lc_escaped__": {"lc": 1, "type": "constructor", "id": [], "kwargs": {}}}}})"),
      wrap_inner(R"({"lc": 1, "type": "constructor", )" + generation_id +
                 R"(, "kwargs": {"text": "t", "generation_info": )" + std::string(1000, '[') +
                 std::string(1000, ']') + "}}"),
  };
  for (const auto& value : bad) {
    SCOPED_TRACE(testing::PrintToString(value.substr(0, 200)));
    EXPECT_THROW(decode_generations(value), DecodeError);
  }
}

TEST(Decode, EveryTruncationThrowsDecodeError) {
  Json info = Json::object();
  info["n"] = 1.5;
  info["s"] = "caf\xc3\xa9 \xf0\x9f\x91\x8b";
  const std::string value =
      encode_generations({Generation{"hello", info}, chat_generation("hi \xf0\x9f\x91\x8b")});
  for (std::size_t length = 0; length < value.size(); ++length) {
    EXPECT_THROW(decode_generations(std::string_view(value).substr(0, length)), DecodeError)
        << length;
  }
}

TEST(Decode, RandomCorruptionNeverCrashes) {
  const std::string value = encode_generations(
      {Generation{"hello \"world\"", Json{{"a", Json::array({1, 2.5, nullptr})}}},
       chat_generation("hi", Json{{"lc", 1}})});
  std::mt19937 random(12345);
  std::uniform_int_distribution<std::size_t> position(0, value.size() - 1);
  std::uniform_int_distribution<int> byte(0, 255);
  int decoded = 0;
  for (int round = 0; round < 5000; ++round) {
    std::string corrupt = value;
    for (int flips = 1 + round % 3; flips > 0; --flips) {
      corrupt[position(random)] = static_cast<char>(byte(random));
    }
    try {
      decode_generations(corrupt);
      ++decoded;
    } catch (const DecodeError&) {
    }
  }
  EXPECT_LT(decoded, 5000);
}

TEST(Decode, ValuesRoundTrip) {
  Json info = Json::object();
  info["lc"] = 1;
  const Generations generations{Generation{"", Json::object()}, chat_generation("", info),
                                Generation{"x", Json{{"z", {{"lc", {{"lc", 2}}}}}}}};
  EXPECT_EQ(decode_generations(encode_generations(generations)), generations);
}

TEST(Generations, TextOf) {
  EXPECT_EQ(text_of(Generation{"plain", std::nullopt}), "plain");
  EXPECT_EQ(text_of(chat_generation("chat")), "chat");
}

}  // namespace
}  // namespace llmcache
