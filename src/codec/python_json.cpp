#include "codec/python_json.hpp"

#include <llmcache/errors.hpp>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

namespace llmcache::codec_detail {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

void append_u_escape(std::string& out, std::uint32_t code_unit) {
  const char escape[6] = {'\\',
                          'u',
                          kHexDigits[(code_unit >> 12) & 0xf],
                          kHexDigits[(code_unit >> 8) & 0xf],
                          kHexDigits[(code_unit >> 4) & 0xf],
                          kHexDigits[code_unit & 0xf]};
  out.append(escape, sizeof escape);
}

[[noreturn]] void throw_invalid_utf8() {
  throw InvalidArgumentError("string is not valid UTF-8");
}

// Bytes Python's ensure_ascii writes unchanged: printable ASCII except '"' and '\'.
constexpr bool is_plain(unsigned char c) {
  return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

template <typename Int>
void append_integer(std::string& out, Int value) {
  char buffer[24];
  const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
  out.append(buffer, result.ptr);
}

}  // namespace

void append_python_string(std::string& out, std::string_view utf8) {
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(utf8.data());
  const auto* const end = p + utf8.size();
  while (p < end) {
    const auto* run = p;
    while (p < end && is_plain(*p)) ++p;
    out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
    if (p == end) break;

    const unsigned char lead = *p;
    if (lead < 0x80) {
      switch (lead) {
        case '"':
          out.append("\\\"", 2);
          break;
        case '\\':
          out.append("\\\\", 2);
          break;
        case '\n':
          out.append("\\n", 2);
          break;
        case '\r':
          out.append("\\r", 2);
          break;
        case '\t':
          out.append("\\t", 2);
          break;
        case '\b':
          out.append("\\b", 2);
          break;
        case '\f':
          out.append("\\f", 2);
          break;
        default:
          append_u_escape(out, lead);
          break;  // other controls and DEL
      }
      ++p;
      continue;
    }

    // Python strings hold code points, so anything that is not well-formed UTF-8
    // (overlong forms, surrogates, > U+10FFFF) has no Python equivalent.
    std::uint32_t code_point;
    std::ptrdiff_t length;
    if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2;
      code_point = lead & 0x1fu;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      code_point = lead & 0x0fu;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      code_point = lead & 0x07u;
    } else {
      throw_invalid_utf8();
    }
    if (end - p < length) throw_invalid_utf8();
    for (std::ptrdiff_t i = 1; i < length; ++i) {
      if ((p[i] & 0xc0) != 0x80) throw_invalid_utf8();
      code_point = (code_point << 6) | (p[i] & 0x3fu);
    }
    if (length == 3 && (code_point < 0x800 || (code_point >= 0xd800 && code_point <= 0xdfff))) {
      throw_invalid_utf8();
    }
    if (length == 4 && (code_point < 0x10000 || code_point > 0x10ffff)) throw_invalid_utf8();
    p += length;

    if (code_point >= 0x10000) {
      // JSON \u escapes are UTF-16 code units: astral characters become a surrogate pair.
      const std::uint32_t offset = code_point - 0x10000;
      append_u_escape(out, 0xd800 + (offset >> 10));
      append_u_escape(out, 0xdc00 + (offset & 0x3ff));
    } else {
      append_u_escape(out, code_point);
    }
  }
  out.push_back('"');
}

void append_quoted_ascii_json(std::string& out, std::string_view ascii_json) {
  // Quotes are everywhere in JSON, so runs between them are short: write through a
  // pointer into worst-case room instead of appending run by run.
  const std::size_t start = out.size();
  out.resize(start + 2 * ascii_json.size() + 2);
  char* write = out.data() + start;
  *write++ = '"';
  for (const char c : ascii_json) {
    if (c == '"' || c == '\\') *write++ = '\\';
    *write++ = c;
  }
  *write++ = '"';
  out.resize(static_cast<std::size_t>(write - out.data()));
}

void append_python_float(std::string& out, double value) {
  if (std::isnan(value)) {
    out.append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out.append(value < 0 ? "-Infinity" : "Infinity");
    return;
  }

  // to_chars gives the shortest digits that round-trip, as Python's repr does; only
  // the layout differs, so take digits and exponent from the scientific form.
  char sci[40];
  const auto result = std::to_chars(sci, sci + sizeof sci, value, std::chars_format::scientific);
  const char* p = sci;
  if (*p == '-') {
    out.push_back('-');
    ++p;
  }
  char digits[24];
  std::size_t digit_count = 0;
  for (; p < result.ptr && *p != 'e'; ++p) {
    if (*p != '.') digits[digit_count++] = *p;
  }
  int exponent = 0;
  ++p;  // 'e'
  const bool negative_exponent = *p == '-';
  ++p;  // sign
  std::from_chars(p, result.ptr, exponent);
  if (negative_exponent) exponent = -exponent;

  // float_repr_style "short": scientific outside 1e-4 <= |x| < 1e16.
  if (exponent < -4 || exponent >= 16) {
    out.push_back(digits[0]);
    if (digit_count > 1) {
      out.push_back('.');
      out.append(digits + 1, digit_count - 1);
    }
    out.push_back('e');
    out.push_back(exponent < 0 ? '-' : '+');
    const int magnitude = exponent < 0 ? -exponent : exponent;
    if (magnitude < 10) out.push_back('0');
    append_integer(out, magnitude);
    return;
  }
  if (exponent < 0) {
    out.append("0.");
    out.append(static_cast<std::size_t>(-exponent - 1), '0');
    out.append(digits, digit_count);
    return;
  }
  const auto integer_digits = static_cast<std::size_t>(exponent) + 1;
  if (digit_count <= integer_digits) {
    out.append(digits, digit_count);
    out.append(integer_digits - digit_count, '0');
    out.append(".0");
  } else {
    out.append(digits, integer_digits);
    out.push_back('.');
    out.append(digits + integer_digits, digit_count - integer_digits);
  }
}

bool needs_lc_escape(const Json& object) {
  return object.contains("lc") || (object.size() == 1 && object.contains(kLcEscapedKey));
}

void append_python_json(std::string& out, const Json& value, LcEscape escape, int depth) {
  switch (value.type()) {
    case Json::value_t::null:
      out.append("null");
      return;
    case Json::value_t::boolean:
      out.append(value.get<bool>() ? "true" : "false");
      return;
    case Json::value_t::number_integer:
      append_integer(out, value.get<std::int64_t>());
      return;
    case Json::value_t::number_unsigned:
      append_integer(out, value.get<std::uint64_t>());
      return;
    case Json::value_t::number_float:
      append_python_float(out, value.get<double>());
      return;
    case Json::value_t::string:
      append_python_string(out, value.get_ref<const std::string&>());
      return;
    case Json::value_t::array: {
      if (depth > kMaxNesting) throw InvalidArgumentError("JSON value nested too deeply");
      out.push_back('[');
      bool first = true;
      for (const auto& item : value) {
        if (!first) out.append(", ", 2);
        first = false;
        append_python_json(out, item, escape, depth + 1);
      }
      out.push_back(']');
      return;
    }
    case Json::value_t::object: {
      if (depth > kMaxNesting) throw InvalidArgumentError("JSON value nested too deeply");
      if (escape == LcEscape::kUserData && needs_lc_escape(value)) {
        // LangChain wraps the dict and writes its contents untouched, so nothing
        // inside is escaped again.
        out.append("{\"__lc_escaped__\": ");
        append_python_json(out, value, LcEscape::kNone, depth + 1);
        out.push_back('}');
        return;
      }
      out.push_back('{');
      bool first = true;
      for (const auto& [key, item] : value.get_ref<const Json::object_t&>()) {
        if (!first) out.append(", ", 2);
        first = false;
        append_python_string(out, key);
        out.append(": ", 2);
        append_python_json(out, item, escape, depth + 1);
      }
      out.push_back('}');
      return;
    }
    case Json::value_t::binary:
    case Json::value_t::discarded:
      break;
  }
  throw InvalidArgumentError("JSON value has no Python equivalent (binary or discarded)");
}

}  // namespace llmcache::codec_detail
