#pragma once
#include <string>
#include <string_view>

namespace llmcache {

/// LangChain's cache key: lowercase hex MD5 of the UTF-8 bytes of `prompt + llm_string`
/// (no delimiter), 32 characters. Identical to langchain_community.cache._hash.
std::string langchain_key(std::string_view prompt, std::string_view llm_string);

}  // namespace llmcache
