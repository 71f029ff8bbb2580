#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <optional>
#include <unordered_map>
#include <utility>

#include "codec/python_json.hpp"

namespace llmcache {
namespace {

using codec_detail::append_python_json;
using codec_detail::append_python_string;
using codec_detail::kLcEscapedKey;
using codec_detail::kMaxNesting;
using codec_detail::LcEscape;
namespace dom = simdjson::dom;

constexpr std::string_view kSecretNode = "secret";
constexpr std::string_view kNotImplementedNode = "not_implemented";

// ---------------------------------------------------------------- encode

// Nesting levels inside one serialized generation: the constructor object is 1, its
// kwargs 2, a kwarg value 3; a message's kwargs sit at 4 and their values at 5.
constexpr int kKwargValueDepth = 3;

void append_generation_info(std::string& out, const std::optional<Json>& info) {
  // A JSON null is Python's None: LangChain leaves the field out.
  if (!info || info->is_null()) return;
  if (!info->is_object()) throw InvalidArgumentError("generation_info must be a JSON object");
  out.append("\"generation_info\": ");
  append_python_json(out, *info, LcEscape::kUserData, kKwargValueDepth);
  out.append(", ");
}

// The message is already a constructor object; LangChain escapes user dicts in each
// of its kwargs (langchain_core.load._validation._serialize_lc_object) but not the
// constructor object itself.
void append_message(std::string& out, const Json& message) {
  const auto kwargs = message.is_object() ? message.find("kwargs") : message.end();
  if (kwargs == message.end() || !kwargs->is_object()) {
    throw InvalidArgumentError("ChatGeneration::message must be a constructor object with kwargs");
  }
  out.push_back('{');
  bool first = true;
  for (const auto& [key, value] : message.get_ref<const Json::object_t&>()) {
    if (!first) out.append(", ", 2);
    first = false;
    append_python_string(out, key);
    out.append(": ", 2);
    if (key != "kwargs") {
      append_python_json(out, value, LcEscape::kNone, kKwargValueDepth + 1);
      continue;
    }
    out.push_back('{');
    bool first_kwarg = true;
    for (const auto& [name, argument] : value.get_ref<const Json::object_t&>()) {
      if (!first_kwarg) out.append(", ", 2);
      first_kwarg = false;
      append_python_string(out, name);
      out.append(": ", 2);
      append_python_json(out, argument, LcEscape::kUserData, kKwargValueDepth + 2);
    }
    out.push_back('}');
  }
  out.push_back('}');
}

void append_inner(std::string& out, const Generation& generation) {
  out.append(
      R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "output", "Generation"], )"
      R"("kwargs": {"text": )");
  // Generation.text is a required field, so LangChain writes it even when empty.
  append_python_string(out, generation.text);
  out.append(", ");
  append_generation_info(out, generation.generation_info);
  out.append(R"("type": "Generation"}})");
}

void append_inner(std::string& out, const ChatGeneration& generation) {
  out.append(R"({"lc": 1, "type": "constructor", "id": ["langchain", "schema", "output", )"
             R"("ChatGeneration"], "kwargs": {)");
  // ChatGeneration.text defaults to "", and LangChain drops falsy fields equal to
  // their default.
  if (!generation.text.empty()) {
    out.append("\"text\": ");
    append_python_string(out, generation.text);
    out.append(", ");
  }
  append_generation_info(out, generation.generation_info);
  out.append(R"("type": "ChatGeneration", "message": )");
  append_message(out, generation.message);
  out.append("}}");
}

// ---------------------------------------------------------------- decode

[[noreturn]] void fail(const char* reason) {
  throw DecodeError(reason);
}

// One parser per level because the inner strings are views into the outer parser's
// buffers. Kept per thread so a hit reuses their allocations.
struct Parsers {
  dom::parser outer;
  dom::parser inner;
  std::string outer_buffer;
  std::string inner_buffer;

  // A parser keeps the capacity of the largest document it has seen; a rare huge
  // value should not pin that much memory on every thread for good.
  static constexpr std::size_t kKeptCapacity = std::size_t{4} << 20;
  void trim() noexcept {
    if (outer.capacity() > kKeptCapacity) outer = dom::parser();
    if (inner.capacity() > kKeptCapacity) inner = dom::parser();
    if (outer_buffer.capacity() > kKeptCapacity) std::string().swap(outer_buffer);
    if (inner_buffer.capacity() > kKeptCapacity) std::string().swap(inner_buffer);
  }
};

Parsers& thread_parsers() {
  thread_local Parsers parsers;
  return parsers;
}

struct TrimOnExit {
  Parsers& parsers;
  ~TrimOnExit() { parsers.trim(); }
};

dom::element parse_padded(dom::parser& parser, std::string& buffer, std::string_view json,
                          const char* what) {
  // The depth limit is what keeps hostile nesting from exhausting memory or stack;
  // simdjson keeps it when it later grows the parser. simdjson counts a scalar as one
  // level below its container, the encoder does not: with kMaxNesting itself a
  // generation the encoder wrote 128 levels deep would never read back.
  if (parser.capacity() == 0 && parser.allocate(std::max<std::size_t>(json.size(), 4096),
                                                kMaxNesting + 1) != simdjson::SUCCESS) {
    throw std::bad_alloc();
  }
  buffer.resize(json.size() + simdjson::SIMDJSON_PADDING);
  std::memcpy(buffer.data(), json.data(), json.size());
  dom::element root;
  if (const auto error = parser.parse(buffer.data(), json.size(), false).get(root)) {
    throw DecodeError(std::string(what) + ": " + simdjson::error_message(error));
  }
  return root;
}

// LangChain's loader acts on two node types other than by building a class: it resolves
// a `secret` node from a secrets map or the environment, and raises on `not_implemented`,
// the placeholder its dumps() writes for an object it cannot serialize (a datetime, a
// set, bytes...). A cached value holding either is not a generation LangChain could
// return, so it is refused wherever it sits. The test is the Reviver's (`lc == 1`, with
// Python's equality: 1, 1.0 and true) on the last of duplicated keys, as json.loads keeps;
// it does not ask for an `id`, so a node trimmed of one is refused too.
std::optional<std::string_view> refused_node_type(dom::object object) {
  std::optional<dom::element> lc, type;
  for (const dom::key_value_pair field : object) {
    if (field.key == "lc") {
      lc = field.value;
    } else if (field.key == "type") {
      type = field.value;
    }
  }
  if (!lc || !type) return std::nullopt;
  std::string_view name;
  if (type->get_string().get(name)) return std::nullopt;
  if (name != kSecretNode && name != kNotImplementedNode) return std::nullopt;
  double number;  // simdjson converts either integer kind to double
  bool boolean;
  const bool is_one =
      (!lc->get_double().get(number) && number == 1.0) || (!lc->get_bool().get(boolean) && boolean);
  if (!is_one) return std::nullopt;
  return name == kSecretNode ? kSecretNode : kNotImplementedNode;
}

// The first refused node in `element`, at any depth. With `unescape` (the current
// format), the content of a {"__lc_escaped__": x} wrapper is user data that LangChain
// returns as is, never revived, so it is not searched; the legacy format is never
// escaped, so there everything is. Recursion is bounded by the parser's depth limit.
std::optional<std::string_view> first_refused_node(dom::element element, bool unescape) {
  if (element.type() == dom::element_type::ARRAY) {
    const dom::array items = element.get_array().value_unsafe();
    for (const dom::element item : items) {
      if (const auto found = first_refused_node(item, unescape)) return found;
    }
    return std::nullopt;
  }
  if (element.type() != dom::element_type::OBJECT) return std::nullopt;
  const dom::object object = element.get_object().value_unsafe();
  // The same test to_json() unwraps by, so what is skipped here is exactly what is
  // returned as data.
  if (unescape && object.size() == 1 && (*object.begin()).key == kLcEscapedKey) {
    return std::nullopt;
  }
  if (const auto found = refused_node_type(object)) return found;
  for (const dom::key_value_pair field : object) {
    if (const auto found = first_refused_node(field.value, unescape)) return found;
  }
  return std::nullopt;
}

void refuse_special_nodes(dom::element element, bool unescape) {
  if (const auto found = first_refused_node(element, unescape)) {
    throw DecodeError("the value holds a LangChain \"" + std::string(*found) +
                      "\" node, which is not generation data (LangChain's reader resolves a "
                      "secret and raises on not_implemented)");
  }
}

// Set when a value reaches the encoder's nesting limit: whether it can be written back
// is then checked by writing it (require_writable).
thread_local bool reached_nesting_limit = false;

// `depth` is the nesting level of `element` in its document.
Json to_json(dom::element element, bool unescape, int depth);

// Python keeps the last value of a duplicated key at its first position. Fills the
// ordered_map's vector directly: its own insertion default-constructs and copies.
Json object_to_json(dom::object source, bool unescape, int depth) {
  if (depth >= kMaxNesting) reached_nesting_limit = true;
  Json object = Json::object();
  auto& fields = static_cast<Json::object_t::Container&>(object.get_ref<Json::object_t&>());
  fields.reserve(source.size());
  // A linear search for duplicates is cheapest for the small objects models return;
  // large ones get an index so hostile input cannot go quadratic.
  constexpr std::size_t kLinearLimit = 16;
  std::unordered_map<std::string_view, std::size_t> positions;
  const bool indexed = source.size() > kLinearLimit;
  if (indexed) positions.reserve(source.size());
  for (const dom::key_value_pair field : source) {
    std::size_t position = fields.size();
    if (indexed) {
      position = positions.try_emplace(field.key, fields.size()).first->second;
    } else {
      for (std::size_t i = 0; i < fields.size(); ++i) {
        if (fields[i].first == field.key) {
          position = i;
          break;
        }
      }
    }
    if (position == fields.size()) {
      fields.emplace_back(std::string(field.key), to_json(field.value, unescape, depth + 1));
    } else {
      fields[position].second = to_json(field.value, unescape, depth + 1);
    }
  }
  return object;
}

// Converts a parsed value. With `unescape`, an object that is exactly
// {"__lc_escaped__": x} becomes x, taken as is: LangChain's loader does the same
// (langchain_core.load._validation._unescape_value).
Json to_json(dom::element element, bool unescape, int depth) {
  switch (element.type()) {
    case dom::element_type::ARRAY: {
      if (depth >= kMaxNesting) reached_nesting_limit = true;
      Json array = Json::array();
      auto& items = array.get_ref<Json::array_t&>();
      const dom::array source = element.get_array().value_unsafe();
      items.reserve(source.size());
      for (dom::element item : source) items.push_back(to_json(item, unescape, depth + 1));
      return array;
    }
    case dom::element_type::OBJECT: {
      const dom::object source = element.get_object().value_unsafe();
      if (unescape && source.size() == 1) {
        const dom::key_value_pair only = *source.begin();
        if (only.key == kLcEscapedKey) return to_json(only.value, false, depth + 1);
      }
      return object_to_json(source, unescape, depth);
    }
    case dom::element_type::INT64:
      return element.get_int64().value_unsafe();
    case dom::element_type::UINT64:
      return element.get_uint64().value_unsafe();
    case dom::element_type::DOUBLE:
      return element.get_double().value_unsafe();
    case dom::element_type::STRING:
      return std::string(element.get_string().value_unsafe());
    case dom::element_type::BOOL:
      return element.get_bool().value_unsafe();
    case dom::element_type::NULL_VALUE:
      return nullptr;
  }
  fail("unknown JSON value type");
}

std::string_view require_string(dom::element element, const char* reason) {
  std::string_view text;
  if (element.get_string().get(text)) fail(reason);
  return text;
}

// None (null) means "not set"; anything but an object is not a generation_info.
std::optional<Json> generation_info_of(const std::optional<dom::element>& element, bool unescape) {
  if (!element || element->is_null()) return std::nullopt;
  Json info = to_json(*element, unescape, kKwargValueDepth);
  if (!info.is_object()) fail("generation_info is not an object");
  return info;
}

// The encoder wraps user dicts holding "lc" that were stored unwrapped (by LangChain
// before 1.2.5, or in the legacy format) one level deeper than they were read, and
// rejects empty containers simdjson accepts one level below the limit. A value near the
// limit is therefore written once here: what could not be written back is a miss now,
// not an exception when the caller stores what it read.
void require_writable(const std::optional<Json>& info, const Json* message) {
  if (!reached_nesting_limit) return;
  reached_nesting_limit = false;
  std::string scratch;
  try {
    append_generation_info(scratch, info);
    if (message != nullptr) append_message(scratch, *message);
  } catch (const InvalidArgumentError&) {
    fail("generation nests too deeply to be written back");
  }
}

enum class Kind { kGeneration, kChatGeneration };

// The ids LangChain writes, and the langchain_core module paths its loader maps to
// the same classes (langchain_core/load/mapping.py).
Kind kind_of(dom::array id) {
  constexpr std::array<std::array<std::string_view, 4>, 4> kKnown = {{
      {"langchain", "schema", "output", "Generation"},
      {"langchain_core", "outputs", "generation", "Generation"},
      {"langchain", "schema", "output", "ChatGeneration"},
      {"langchain_core", "outputs", "chat_generation", "ChatGeneration"},
  }};
  if (id.size() != 4) fail("not a Generation or ChatGeneration id");
  std::array<std::string_view, 4> parts;
  std::size_t index = 0;
  for (dom::element part : id) parts[index++] = require_string(part, "id holds a non-string");
  for (std::size_t i = 0; i < kKnown.size(); ++i) {
    if (parts == kKnown[i]) return i < 2 ? Kind::kGeneration : Kind::kChatGeneration;
  }
  fail("not a Generation or ChatGeneration id");
}

bool is_int_one(dom::element element) {
  std::int64_t value;
  return !element.get_int64().get(value) && value == 1;
}

// Whatever a stored value claims, a ChatGeneration only ever holds one of LangChain's
// message classes: the same set Python's reader allows (llmcache/_codec.py), under the
// id LangChain writes or the langchain_core path its loader maps to the same class.
bool is_message_id(const Json& id) {
  struct Known {
    std::string_view module;  // langchain_core.messages.<module>
    std::string_view name;
  };
  static constexpr std::array<Known, 12> kMessages = {{
      {"ai", "AIMessage"},
      {"ai", "AIMessageChunk"},
      {"human", "HumanMessage"},
      {"human", "HumanMessageChunk"},
      {"system", "SystemMessage"},
      {"system", "SystemMessageChunk"},
      {"tool", "ToolMessage"},
      {"tool", "ToolMessageChunk"},
      {"function", "FunctionMessage"},
      {"function", "FunctionMessageChunk"},
      {"chat", "ChatMessage"},
      {"chat", "ChatMessageChunk"},
  }};
  if (!id.is_array() || id.size() != 4) return false;
  for (const auto& part : id) {
    if (!part.is_string()) return false;
  }
  const auto& p0 = id[0].get_ref<const std::string&>();
  const auto& p1 = id[1].get_ref<const std::string&>();
  const auto& p2 = id[2].get_ref<const std::string&>();
  const auto& p3 = id[3].get_ref<const std::string&>();
  for (const auto& known : kMessages) {
    if (p3 != known.name) continue;
    if (p0 == "langchain" && p1 == "schema" && p2 == "messages") return true;
    if (p0 == "langchain_core" && p1 == "messages" && p2 == known.module) return true;
  }
  return false;
}

// Keeps the message as a constructor object; like LangChain's loader, unescapes user
// dicts below it but not the message object itself.
Json message_of(dom::element element) {
  dom::object source;
  if (element.get_object().get(source)) fail("message is not an object");
  Json message = object_to_json(source, true, kKwargValueDepth);
  const auto lc = message.find("lc");
  const auto type = message.find("type");
  const auto id = message.find("id");
  const auto kwargs = message.find("kwargs");
  if (lc == message.end() || *lc != 1 || type == message.end() || *type != "constructor" ||
      id == message.end() || !id->is_array() || kwargs == message.end() || !kwargs->is_object()) {
    fail("message is not a constructor object");
  }
  if (!is_message_id(*id)) fail("message id is not one of LangChain's message classes");
  return message;
}

AnyGeneration decode_constructor(dom::element root) {
  dom::object object;
  if (root.get_object().get(object)) fail("generation is not a JSON object");
  // Python's json.loads keeps the last of duplicated keys, so scan rather than look up.
  std::optional<dom::element> lc, type, id, kwargs;
  for (const dom::key_value_pair field : object) {
    if (field.key == "lc") {
      lc = field.value;
    } else if (field.key == "type") {
      type = field.value;
    } else if (field.key == "id") {
      id = field.value;
    } else if (field.key == "kwargs") {
      kwargs = field.value;
    }
  }
  if (!lc || !is_int_one(*lc)) fail("generation is not an lc=1 object");
  if (!type || require_string(*type, "type is not a string") != "constructor") {
    fail("generation is not a constructor object");
  }
  dom::array id_parts;
  if (!id || id->get_array().get(id_parts)) fail("generation id is not an array");
  const Kind kind = kind_of(id_parts);
  dom::object arguments;
  if (!kwargs || kwargs->get_object().get(arguments)) fail("generation kwargs is not an object");

  std::optional<dom::element> text, info, declared_type, message;
  for (const dom::key_value_pair field : arguments) {
    if (field.key == "text") {
      text = field.value;
    } else if (field.key == "generation_info") {
      info = field.value;
    } else if (field.key == "type") {
      declared_type = field.value;
    } else if (field.key == "message") {
      message = field.value;
    }
    // Other kwargs are ignored, as pydantic does with extra="ignore".
  }

  if (kind == Kind::kGeneration) {
    if (declared_type && require_string(*declared_type, "type is not a string") != "Generation") {
      fail("Generation with a different type");
    }
    if (!text) fail("Generation without text");
    Generation generation{std::string(require_string(*text, "text is not a string")),
                          generation_info_of(info, true)};
    require_writable(generation.generation_info, nullptr);
    return generation;
  }
  if (declared_type && require_string(*declared_type, "type is not a string") != "ChatGeneration") {
    fail("ChatGeneration with a different type");
  }
  if (!message) fail("ChatGeneration without message");
  ChatGeneration generation;
  generation.message = message_of(*message);
  if (text) generation.text = require_string(*text, "text is not a string");
  generation.generation_info = generation_info_of(info, true);
  require_writable(generation.generation_info, &generation.message);
  return generation;
}

// The pre-serializer format: `Generation(**item)` for each dict, with no unescaping.
Generation decode_legacy(dom::object object) {
  std::optional<dom::element> text, info;
  for (const dom::key_value_pair field : object) {
    if (field.key == "text") {
      text = field.value;
    } else if (field.key == "generation_info") {
      info = field.value;
    } else if (field.key == "type") {
      if (require_string(field.value, "type is not a string") != "Generation") {
        fail("legacy item with a type other than Generation");
      }
    }
  }
  if (!text) fail("legacy item without text");
  Generation generation{std::string(require_string(*text, "text is not a string")),
                        generation_info_of(info, false)};
  require_writable(generation.generation_info, nullptr);
  return generation;
}

// The encoder escapes user data (generation_info, a message's kwargs), so the only place
// a node can reach its bytes is a message's own fields besides kwargs, which it writes as
// the caller built them. True when those fields hold anything but a constructor's usual
// scalars and string id, so that the written generation is worth checking.
bool message_fields_need_check(const AnyGeneration& generation) {
  const auto* chat = std::get_if<ChatGeneration>(&generation);
  if (chat == nullptr || !chat->message.is_object()) return false;
  for (const auto& [key, value] : chat->message.items()) {
    if (key == "kwargs") continue;
    if (key == "type" && value != "constructor") return true;
    if (value.is_object()) return true;
    if (value.is_array() && std::any_of(value.begin(), value.end(),
                                        [](const Json& part) { return part.is_structured(); })) {
      return true;
    }
  }
  return false;
}

// A value holding a node never reads back (decode_generations refuses it): refuse to
// write it rather than plant a miss.
void refuse_nodes_written(std::string_view inner) {
  Parsers& parsers = thread_parsers();
  const TrimOnExit trim{parsers};
  dom::element root;
  try {
    root = parse_padded(parsers.inner, parsers.inner_buffer, inner, "encoded generation");
  } catch (const DecodeError&) {
    return;  // NaN or Infinity, which simdjson does not read: this reader refuses it anyway
  }
  if (const auto found = first_refused_node(root, true)) {
    throw InvalidArgumentError("ChatGeneration::message holds a LangChain \"" +
                               std::string(*found) +
                               "\" node outside its kwargs, which would never read back");
  }
}

}  // namespace

std::string encode_generations(const Generations& generations) {
  if (generations.empty()) return "[]";
  std::size_t estimate = 2;
  for (const auto& generation : generations) estimate += 2 * text_of(generation).size() + 512;
  std::string out;
  out.reserve(estimate);
  std::string inner;
  inner.reserve(estimate);
  out.push_back('[');
  bool first = true;
  for (const auto& generation : generations) {
    if (!first) out.append(", ", 2);
    first = false;
    inner.clear();
    std::visit([&inner](const auto& g) { append_inner(inner, g); }, generation);
    if (message_fields_need_check(generation)) refuse_nodes_written(inner);
    codec_detail::append_quoted_ascii_json(out, inner);
  }
  out.push_back(']');
  return out;
}

Generations decode_generations(std::string_view value) {
  Parsers& parsers = thread_parsers();
  const TrimOnExit trim{parsers};

  reached_nesting_limit = false;
  const dom::element root =
      parse_padded(parsers.outer, parsers.outer_buffer, value, "invalid JSON");
  dom::array items;
  if (root.get_array().get(items)) fail("value is not a JSON array");
  Generations generations;
  generations.reserve(items.size());
  if (items.size() == 0) return generations;

  // LangChain first reads a list of serialized strings and, failing that, a legacy
  // list of dicts; a mix of the two is neither.
  const bool legacy = (*items.begin()).is_object();
  for (dom::element item : items) {
    if (legacy) {
      dom::object object;
      if (item.get_object().get(object)) fail("legacy list holds a non-object");
      refuse_special_nodes(item, false);
      generations.emplace_back(decode_legacy(object));
      continue;
    }
    std::string_view serialized;
    if (item.get_string().get(serialized)) fail("list item is neither a string nor an object");
    const dom::element inner =
        parse_padded(parsers.inner, parsers.inner_buffer, serialized, "invalid inner JSON");
    // The whole document, kwargs the decoder ignores included: LangChain's loader
    // revives every node before it builds the generation.
    refuse_special_nodes(inner, true);
    generations.push_back(decode_constructor(inner));
  }
  return generations;
}

std::optional<std::string> find_refused_node(std::string_view value) {
  Parsers& parsers = thread_parsers();
  const TrimOnExit trim{parsers};

  const dom::element root =
      parse_padded(parsers.outer, parsers.outer_buffer, value, "invalid JSON");
  dom::array items;
  if (root.get_array().get(items)) fail("value is not a JSON array");
  for (dom::element item : items) {
    std::string_view serialized;
    std::optional<std::string_view> found;
    if (item.get_string().get(serialized)) {
      found = first_refused_node(item, false);  // a legacy item
    } else {
      found = first_refused_node(
          parse_padded(parsers.inner, parsers.inner_buffer, serialized, "invalid inner JSON"),
          true);
    }
    if (found) return std::string(*found);
  }
  return std::nullopt;
}

std::string python_json_dumps(const Json& value) {
  std::string out;
  append_python_json(out, value, LcEscape::kNone, 1);
  return out;
}

Json ai_message(std::string_view content) {
  Json kwargs = Json::object();
  kwargs["content"] = std::string(content);
  kwargs["type"] = "ai";
  kwargs["tool_calls"] = Json::array();
  kwargs["invalid_tool_calls"] = Json::array();
  Json message = Json::object();
  message["lc"] = 1;
  message["type"] = "constructor";
  message["id"] = Json::array({"langchain", "schema", "messages", "AIMessage"});
  message["kwargs"] = std::move(kwargs);
  return message;
}

ChatGeneration chat_generation(std::string_view content, std::optional<Json> generation_info) {
  return ChatGeneration{ai_message(content), std::string(content), std::move(generation_info)};
}

const std::string& text_of(const AnyGeneration& generation) {
  return std::visit([](const auto& g) -> const std::string& { return g.text; }, generation);
}

}  // namespace llmcache
