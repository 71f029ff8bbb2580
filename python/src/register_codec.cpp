// The codec and key parts: LangChain's key, the C++ decoder's verdict on stored values, and
// the C++ Signer, so that Python and C++ derive keys, judge values and seal entries with
// one implementation.
#include "binding.hpp"

#include <llmcache/codec.hpp>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

namespace llmcache_python {

using namespace nb::literals;

nb::object json_to_python(const llmcache::Json& value) {
  switch (value.type()) {
    case llmcache::Json::value_t::null:
      return nb::none();
    case llmcache::Json::value_t::boolean:
      return nb::bool_(value.get<bool>());
    case llmcache::Json::value_t::number_integer:
      return nb::int_(value.get<std::int64_t>());
    case llmcache::Json::value_t::number_unsigned:
      return nb::steal(PyLong_FromUnsignedLongLong(value.get<std::uint64_t>()));
    case llmcache::Json::value_t::number_float:
      return nb::float_(value.get<double>());
    case llmcache::Json::value_t::string: {
      const auto& text = value.get_ref<const std::string&>();
      return nb::str(text.data(), text.size());
    }
    case llmcache::Json::value_t::array: {
      nb::list list;
      for (const auto& item : value) list.append(json_to_python(item));
      return list;
    }
    case llmcache::Json::value_t::object: {
      nb::dict dict;
      for (const auto& [key, item] : value.items()) {
        dict[nb::str(key.data(), key.size())] = json_to_python(item);
      }
      return dict;
    }
    default:
      throw llmcache::DecodeError("unsupported JSON value in generation_info");
  }
}

void register_codec(nb::module_& m) {
  m.def(
      "langchain_key",
      [](nb::handle prompt, nb::handle llm_string) {
        return llmcache::langchain_key(to_bytes(prompt, "prompt"),
                                       to_bytes(llm_string, "llm_string"));
      },
      // .none(): None reaches to_bytes, whose TypeError names the argument, as for an int
      // (nanobind's own refusal of None lists C++ signatures instead).
      "prompt"_a.none(), "llm_string"_a.none(),
      "LangChain's cache key: hex MD5 of prompt + llm_string.");

  m.def(
      "decode_plain_generations",
      [](nb::bytes value) -> nb::object {
        const std::string_view bytes(value.c_str(), value.size());
        llmcache::Generations generations =
            without_gil([bytes] { return llmcache::decode_generations(bytes); });
        nb::list result;
        for (const auto& generation : generations) {
          const auto* plain = std::get_if<llmcache::Generation>(&generation);
          if (!plain) return nb::none();
          nb::object info =
              plain->generation_info ? json_to_python(*plain->generation_info) : nb::none();
          result.append(nb::make_tuple(plain->text, info));
        }
        return result;
      },
      "value"_a,
      "Decodes a stored value made only of plain Generations into (text, generation_info) "
      "pairs; None if it holds anything else. Raises DecodeError if it does not parse.");

  // The C++ codec's rule on LangChain nodes, for the Python writer: what goes through
  // LangChain's dumps is checked here rather than by a second copy of the rule.
  m.def(
      "find_refused_node",
      [](nb::bytes value) -> std::optional<std::string> {
        const std::string_view bytes(value.c_str(), value.size());
        return without_gil([&] { return llmcache::find_refused_node(bytes); });
      },
      "value"_a,
      "The type ('secret' or 'not_implemented') of the first LangChain node in a stored "
      "value that the decoder refuses, or None. Raises DecodeError if it does not parse.");

  // The C++ Signer itself, so that Python and C++ caches seal and open entries with the
  // same code (and read each other's signed entries).
  nb::class_<llmcache::Signer>(m, "Signer")
      .def(
          "__init__",
          [](llmcache::Signer* self, nb::handle secret) {
            new (self) llmcache::Signer(to_bytes(secret, "signing_secret"));
          },
          "secret"_a, "HMAC-SHA256 signing with `secret` (str or bytes, not empty).")
      .def(
          "seal",
          [](const llmcache::Signer& self, nb::handle key, nb::handle value) {
            const std::string sealed = self.seal(to_bytes(key, "key"), to_bytes(value, "value"));
            return nb::bytes(sealed.data(), sealed.size());
          },
          "key"_a, "value"_a, "The bytes to store for `value` under `key`.")
      .def(
          "open",
          [](const llmcache::Signer& self, nb::handle key, nb::bytes stored) {
            const auto opened =
                self.open(to_bytes(key, "key"), std::string_view(stored.c_str(), stored.size()));
            if (!opened) return nb::make_tuple(nb::none(), llmcache::to_string(opened.failure));
            return nb::make_tuple(nb::bytes(opened.value->data(), opened.value->size()),
                                  nb::none());
          },
          "key"_a, "stored"_a,
          "(value, None) if `stored` was sealed under `key` with this secret, else "
          "(None, why): 'unsigned', 'signature mismatch', 'malformed envelope'...");
}

}  // namespace llmcache_python
