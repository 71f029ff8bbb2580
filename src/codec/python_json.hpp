#pragma once
/// Internal: a JSON writer that produces exactly what Python's `json.dumps` does with
/// default arguments (ensure_ascii, ", " and ": " separators, float repr, NaN allowed).
#include <llmcache/generation.hpp>

#include <string>
#include <string_view>

namespace llmcache::codec_detail {

/// The deepest container nesting the codec writes or reads inside one generation.
/// Python's own recursion limit sits near 1000; 128 keeps hostile input cheap and is
/// far beyond anything a model returns.
inline constexpr int kMaxNesting = 128;

/// How a writer treats user dicts (langchain_core.load._validation._serialize_value).
enum class LcEscape {
  /// Write objects as they are.
  kNone,
  /// Wrap an object holding an "lc" key, or holding only "__lc_escaped__", as
  /// {"__lc_escaped__": <object as is>}; otherwise recurse into its values.
  kUserData,
};

/// Appends `"..."` with Python's ensure_ascii escaping.
/// Throws InvalidArgumentError if `utf8` is not valid UTF-8.
void append_python_string(std::string& out, std::string_view utf8);

/// Appends an ASCII-only JSON text as a JSON string literal. Only `"` and `\` need
/// escaping because ensure_ascii output holds no control or non-ASCII bytes.
void append_quoted_ascii_json(std::string& out, std::string_view ascii_json);

/// Appends Python's repr of a float, or NaN / Infinity / -Infinity as json.dumps does.
void append_python_float(std::string& out, double value);

/// Appends `value` as json.dumps would. `depth` is the nesting level of `value` in the
/// document being written; deeper than kMaxNesting throws InvalidArgumentError, as do
/// binary and discarded values and invalid UTF-8.
void append_python_json(std::string& out, const Json& value, LcEscape escape, int depth);

/// The "__lc_escaped__" marker LangChain wraps user dicts in.
inline constexpr std::string_view kLcEscapedKey = "__lc_escaped__";

/// Whether LangChain would wrap this object (see LcEscape::kUserData).
bool needs_lc_escape(const Json& object);

}  // namespace llmcache::codec_detail
