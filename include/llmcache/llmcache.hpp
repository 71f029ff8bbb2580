#pragma once
/// llmcache: a LangChain-compatible LLM response cache on memcached.
#include <llmcache/cache.hpp>
#include <llmcache/cache_core.hpp>
#include <llmcache/client.hpp>
#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>
#include <llmcache/generation.hpp>
#include <llmcache/key.hpp>
#include <llmcache/log.hpp>
#include <llmcache/options.hpp>
#include <llmcache/signing.hpp>
