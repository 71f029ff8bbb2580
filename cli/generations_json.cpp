#include "generations_json.hpp"

#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>

namespace llmcache::cli {

Json to_simple_json(const Generations& generations) {
  Json list = Json::array();
  for (const auto& generation : generations) {
    Json item = Json::object();
    if (const auto* g = std::get_if<Generation>(&generation)) {
      item["type"] = "Generation";
      item["text"] = g->text;
      if (g->generation_info) item["generation_info"] = *g->generation_info;
    } else {
      const auto& chat = std::get<ChatGeneration>(generation);
      item["type"] = "ChatGeneration";
      item["text"] = chat.text;
      item["message"] = chat.message;
      if (chat.generation_info) item["generation_info"] = *chat.generation_info;
    }
    list.push_back(std::move(item));
  }
  return list;
}

namespace {

AnyGeneration from_simple(const Json& item, std::size_t index) {
  const std::string where = "generation " + std::to_string(index + 1);
  if (!item.is_object()) throw DecodeError(where + " is not a JSON object");
  std::optional<Json> info;
  if (auto it = item.find("generation_info"); it != item.end() && !it->is_null()) {
    if (!it->is_object()) throw DecodeError(where + ": generation_info must be an object");
    info = *it;
  }
  std::string type = "Generation";
  if (auto it = item.find("type"); it != item.end()) {
    if (!it->is_string()) throw DecodeError(where + ": type must be a string");
    type = it->get<std::string>();
  }
  std::optional<std::string> text;
  if (auto it = item.find("text"); it != item.end()) {
    if (!it->is_string()) throw DecodeError(where + ": text must be a string");
    text = it->get<std::string>();
  }
  if (type == "Generation") {
    if (!text) throw DecodeError(where + " has no \"text\"");
    return Generation{*text, info};
  }
  if (type == "ChatGeneration") {
    auto message = item.find("message");
    if (message == item.end() || message->is_string()) {
      // A bare string (or no message at all) is the common case: an AI reply.
      const std::string content =
          message == item.end() ? text.value_or("") : message->get<std::string>();
      return chat_generation(content, info);
    }
    if (!message->is_object()) throw DecodeError(where + ": message must be an object");
    ChatGeneration chat{*message, text.value_or(""), info};
    if (!text) {
      // LangChain derives the text from the message content.
      const auto kwargs = message->find("kwargs");
      if (kwargs != message->end() && kwargs->is_object()) {
        const auto content = kwargs->find("content");
        if (content != kwargs->end() && content->is_string())
          chat.text = content->get<std::string>();
      }
    }
    return chat;
  }
  throw DecodeError(where + ": unknown type \"" + type +
                    "\" (expected Generation or ChatGeneration)");
}

}  // namespace

Generations parse_generations_input(std::string_view text) {
  Json input;
  try {
    input = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    throw DecodeError(std::string("input is not JSON: ") + e.what());
  }
  // `get --json` output carries the list under "generations".
  if (input.is_object() && input.contains("generations")) {
    input = input["generations"];
  } else if (input.is_object()) {
    // Guessing that a bare object is one generation would also store a `get --json` miss
    // or any other object as if it were an answer: the documented input is a list.
    throw DecodeError(
        "input is a JSON object, not a list of generations; to store one generation, wrap "
        "it in a list: [{\"text\": \"...\"}]");
  }
  if (!input.is_array()) throw DecodeError("input is not a JSON list of generations");
  if (input.empty()) throw DecodeError("input is an empty list: nothing to store");
  if (input.front().is_string()) return decode_generations(input.dump());  // stored format
  if (input.front().is_object() && input.front().contains("lc")) {
    // Constructor objects, as json.loads(dumps(generation)) gives them: re-serialize each
    // as LangChain does and let the codec read the stored format.
    std::string stored = "[";
    for (std::size_t i = 0; i < input.size(); ++i) {
      if (i > 0) stored += ", ";
      try {
        stored += python_json_dumps(Json(python_json_dumps(input[i])));
      } catch (const InvalidArgumentError& e) {
        throw DecodeError("generation " + std::to_string(i + 1) + ": " + e.what());
      }
    }
    stored += "]";
    return decode_generations(stored);
  }
  Generations generations;
  for (std::size_t i = 0; i < input.size(); ++i) generations.push_back(from_simple(input[i], i));
  return generations;
}

}  // namespace llmcache::cli
