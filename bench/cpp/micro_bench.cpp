// CPU-only parts, no server: the key, the codec and the reply parser. Regressions here
// show without memcached and without network noise.
#include <benchmark/benchmark.h>
#include <llmcache/llmcache.hpp>

#include <string>

#include "protocol/meta_protocol.hpp"

namespace {

using llmcache::Generations;
using llmcache::Json;

// ~1 KB of answer text, as a chat model writes it.
std::string answer_text(std::size_t bytes) {
  static const std::string sentence =
      "Memcached keeps the answer in memory, so the second call returns at once. ";
  std::string text;
  while (text.size() < bytes) text += sentence;
  text.resize(bytes);
  return text;
}

Generations plain_entry() {
  Json info = {{"finish_reason", "stop"}, {"model", "gpt-4o-mini"}};
  return {llmcache::Generation{answer_text(1000), info}};
}

Generations chat_entry_with_tool_calls() {
  Json message = llmcache::ai_message("");
  auto& kwargs = message["kwargs"];
  kwargs["tool_calls"] =
      Json::array({Json{{"name", "get_weather"},
                        {"args", {{"city", "Zürich"}, {"days", 3}, {"metric", true}}},
                        {"id", "call_1"},
                        {"type", "tool_call"}},
                   Json{{"name", "search"},
                        {"args", {{"query", answer_text(200)}}},
                        {"id", "call_2"},
                        {"type", "tool_call"}}});
  kwargs["response_metadata"] = {{"model_name", "gpt-4o-mini"}, {"finish_reason", "tool_calls"}};
  kwargs["usage_metadata"] = {{"input_tokens", 120}, {"output_tokens", 48}, {"total_tokens", 168}};
  Json info = {{"finish_reason", "tool_calls"}, {"logprobs", nullptr}};
  return {llmcache::ChatGeneration{message, "", info}};
}

void BM_LangchainKey(benchmark::State& state) {
  const std::string prompt = "What is the capital of France? Answer in one word.";
  const std::string llm_string =
      "[('_type', 'openai-chat'), ('model_name', 'gpt-4o-mini'), ('temperature', 0.0)]";
  for (auto _ : state) benchmark::DoNotOptimize(llmcache::langchain_key(prompt, llm_string));
}
BENCHMARK(BM_LangchainKey);

template <Generations (*Make)()>
void BM_Encode(benchmark::State& state) {
  const auto entry = Make();
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto value = llmcache::encode_generations(entry);
    bytes = value.size();
    benchmark::DoNotOptimize(value);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.counters["value_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_Encode<plain_entry>)->Name("BM_Encode/plain_1KB");
BENCHMARK(BM_Encode<chat_entry_with_tool_calls>)->Name("BM_Encode/chat_tool_calls");

template <Generations (*Make)()>
void BM_Decode(benchmark::State& state) {
  const auto value = llmcache::encode_generations(Make());
  for (auto _ : state) benchmark::DoNotOptimize(llmcache::decode_generations(value));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * value.size()));
  state.counters["value_bytes"] = static_cast<double>(value.size());
}
BENCHMARK(BM_Decode<plain_entry>)->Name("BM_Decode/plain_1KB");
BENCHMARK(BM_Decode<chat_entry_with_tool_calls>)->Name("BM_Decode/chat_tool_calls");

// A pipelined stream of 100 hits with 1 KB values and an mn fence, fed in 16 KiB reads
// as a socket delivers it; one iteration parses the whole stream.
void BM_MetaParserPipelined(benchmark::State& state) {
  const std::string value = llmcache::encode_generations(plain_entry());
  std::string stream;
  for (int i = 0; i < 100; ++i) {
    stream += "VA " + std::to_string(value.size()) + " f0 O" + std::to_string(i) + "\r\n";
    stream += value + "\r\n";
  }
  stream += "MN\r\n";
  const std::size_t chunk = static_cast<std::size_t>(state.range(0));
  std::size_t replies = 0;
  for (auto _ : state) {
    llmcache::protocol::MetaParser parser;
    for (std::size_t at = 0; at < stream.size(); at += chunk) {
      parser.feed(std::string_view(stream).substr(at, chunk));
      while (auto reply = parser.next()) {
        benchmark::DoNotOptimize(reply);
        ++replies;
      }
    }
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
  state.SetItemsProcessed(static_cast<std::int64_t>(replies));
}
BENCHMARK(BM_MetaParserPipelined)->Arg(16 << 10)->Arg(1 << 20);

}  // namespace

BENCHMARK_MAIN();
