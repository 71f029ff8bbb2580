// get, key, put, delete and clear: one entry (or the whole pool) at a time.
#include "common.hpp"
#include "generations_json.hpp"

#include <iostream>
#include <iterator>
#include <sstream>

namespace llmcache::cli {
namespace {

struct EntryArgs {
  std::string prompt;
  std::string llm_string;
};

void add_entry_args(CLI::App* command, EntryArgs& args) {
  command->add_option("PROMPT", args.prompt, "The prompt, exactly as LangChain saw it")->required();
  command
      ->add_option("LLM_STRING", args.llm_string,
                   "The model configuration string LangChain derives from the LLM")
      ->required();
}

/// The server that holds `key`, named for messages.
std::string holder(const ClientBase& pool, const std::string& key) {
  try {
    return pool.server_for(key).name();
  } catch (const IoError&) {
    return "no server (all are down)";
  }
}

void print_text(const Generations& generations) {
  for (std::size_t i = 0; i < generations.size(); ++i) {
    if (generations.size() > 1) {
      std::cout << "--- generation " << i + 1 << " of " << generations.size() << " ---\n";
    }
    const std::string& text = text_of(generations[i]);
    std::cout << text;
    if (text.empty() || text.back() != '\n') std::cout << '\n';
  }
}

/// Why an entry that is there would read as a miss, or nothing when it reads back.
std::optional<std::string> unreadable_because(const CacheCore::StoredEntry& entry) {
  switch (entry.state) {
    case CacheCore::EntryState::kReadable:
      return std::nullopt;
    case CacheCore::EntryState::kSignatureFailed:
      return std::string("its signature does not check out with this secret (") +
             to_string(entry.signature_failure) + ")\nhint: `llmcache get --raw` shows it";
    case CacheCore::EntryState::kSealedNoSecret:
      return std::string(
          "it is a signed entry\nhint: give its secret with --signing-secret-file or "
          "LLMCACHE_SIGNING_SECRET");
    case CacheCore::EntryState::kCorruptCompressed:
      return std::string(
          "it is flagged zstd-compressed but does not decompress\nhint: `llmcache get --raw` "
          "shows it");
  }
  return std::nullopt;
}

int run_get(const GlobalOptions& global, const EntryArgs& args, bool raw) {
  const auto cache = global.make_cache();  // a bad secret file is a usage error, even on a miss
  const std::string key = cache->stored_key(cache->key(args.prompt, args.llm_string));
  const std::string server = holder(cache->client(), key);
  note(global, "key " + key + " on " + server);
  const auto entry = cache->inspect(key);
  if (!entry) {
    if (global.json) {
      std::cout << Json{{"key", key}, {"server", server}, {"hit", false}}.dump() << '\n';
    } else {
      std::cerr << "llmcache: miss: nothing cached for this prompt and llm_string (key " << key
                << " on " << server << ")\n";
    }
    return kNotFound;
  }
  if (raw) {
    std::cout << entry->stored << '\n';
    return kOk;
  }
  const std::string unreadable = "the value under key " + key + " on " + server +
                                 " does not read back (a cache reading it misses): ";
  if (const auto why = unreadable_because(*entry)) throw Failure(kData, unreadable + *why);
  Generations generations;
  try {
    generations = decode_generations(entry->value());
  } catch (const DecodeError& e) {
    throw Failure(kData, unreadable + e.what() + "\nhint: `llmcache get --raw` shows it");
  }
  if (global.json) {
    std::cout << Json{{"key", key},
                      {"server", server},
                      {"hit", true},
                      {"generations", to_simple_json(generations)}}
                     .dump()
              << '\n';
  } else {
    print_text(generations);
  }
  return kOk;
}

int run_key(const GlobalOptions& global, const EntryArgs& args) {
  const auto cache = global.make_cache_without_secret();
  const std::string key = cache->stored_key(cache->key(args.prompt, args.llm_string));
  const std::string server = holder(cache->client(), key);
  if (global.json) {
    std::cout << Json{{"key", key}, {"server", server}}.dump() << '\n';
  } else {
    std::cout << "key     " << key << "\nserver  " << server << '\n';
  }
  return kOk;
}

struct PutArgs {
  std::vector<std::string> texts;
  bool chat = false;
  int ttl = 0;
};

int run_put(const GlobalOptions& global, const EntryArgs& args, const PutArgs& put) {
  Generations generations;
  if (put.texts.empty()) {
    if (stdin_is_terminal()) {
      std::cerr << "llmcache: reading generations as JSON from stdin; end with Ctrl-D\n";
    }
    const std::string input(std::istreambuf_iterator<char>(std::cin), {});
    generations = parse_generations_input(input);
  } else {
    for (const auto& text : put.texts) {
      if (put.chat) {
        generations.emplace_back(chat_generation(text));
      } else {
        generations.emplace_back(Generation{text, std::nullopt});
      }
    }
  }
  const std::string value = encode_generations(generations);
  const auto cache = global.make_cache(std::chrono::seconds(put.ttl));
  const std::string entry_key = cache->key(args.prompt, args.llm_string);
  const std::string key = cache->stored_key(entry_key);
  const std::string server = holder(cache->client(), key);
  // Strict: a store that fails throws why, and is reported as a server error.
  if (!cache->store(entry_key, value)) {
    throw Failure(kServer, "the server did not store the entry under " + key + " on " + server);
  }
  // What memcached holds: the value, in its envelope when signing.
  const std::uint64_t stored_bytes = cache->stats().bytes_written;
  if (global.json) {
    std::cout << Json{{"key", key},
                      {"server", server},
                      {"stored", true},
                      {"generations", generations.size()},
                      {"bytes", stored_bytes}}
                     .dump()
              << '\n';
  } else {
    std::cout << "stored " << generations.size()
              << (generations.size() == 1 ? " generation" : " generations") << " (" << stored_bytes
              << " bytes) under " << key << " on " << server << '\n';
  }
  return kOk;
}

int run_delete(const GlobalOptions& global, const EntryArgs& args) {
  const auto cache = global.make_cache_without_secret();
  const std::string key = cache->stored_key(cache->key(args.prompt, args.llm_string));
  const std::string server = holder(cache->client(), key);
  const bool deleted = cache->remove(key);
  if (global.json) {
    std::cout << Json{{"key", key}, {"server", server}, {"deleted", deleted}}.dump() << '\n';
  } else if (deleted) {
    std::cout << "deleted " << key << " from " << server << '\n';
  } else {
    std::cerr << "llmcache: not found: nothing cached under " << key << " on " << server << '\n';
  }
  return deleted ? kOk : kNotFound;
}

/// A namespaced clear: a new generation for the namespace, every other item stays. Asks no
/// confirmation, as it reaches nothing outside the namespace it names.
int run_clear_namespace(const GlobalOptions& global, int delay) {
  if (delay != 0)
    throw Failure(kUsage,
                  "--delay cannot be used with --namespace: a namespace is "
                  "cleared at once");
  const auto cache = global.make_cache_without_secret();
  cache->clear();
  if (global.json) {
    std::cout << Json{{"cleared_namespace", global.namespace_name}}.dump() << '\n';
  } else {
    std::cout << "cleared namespace " << global.namespace_name << '\n';
  }
  return kOk;
}

int run_clear(const GlobalOptions& global, int delay, bool yes) {
  if (!global.namespace_name.empty()) return run_clear_namespace(global, delay);
  const auto servers = global.server_list();
  std::string names;
  for (const auto& s : servers) names += (names.empty() ? "" : ", ") + s.name();
  if (!yes) {
    if (!stdin_is_terminal()) {
      throw Failure(kUsage, "clear wipes every item on " + names +
                                ", not only LangChain's; without a terminal to confirm on, "
                                "pass --yes");
    }
    std::cerr << "This runs flush_all on " << servers.size()
              << (servers.size() == 1 ? " server" : " servers") << " (" << names
              << ").\nIt wipes EVERY item there, not only LangChain's. Continue? [y/N] "
              << std::flush;
    std::string answer;
    std::getline(std::cin, answer);
    if (answer != "y" && answer != "Y" && answer != "yes" && answer != "YES") {
      std::cerr << "llmcache: nothing cleared\n";
      return kNotFound;
    }
  }
  const auto cache = global.make_cache_without_secret();
  cache->clear(std::chrono::seconds(delay));  // throws unless every server was flushed
  const std::size_t flushed = servers.size();
  if (global.json) {
    std::cout << Json{{"cleared", flushed}, {"delay", delay}}.dump() << '\n';
  } else {
    std::cout << "cleared " << flushed << (flushed == 1 ? " server" : " servers")
              << (delay > 0 ? " (effective in " + std::to_string(delay) + " s)" : "") << '\n';
  }
  return kOk;
}

}  // namespace

void add_entry_commands(CLI::App& app, const GlobalOptions& global, std::vector<Command>& out) {
  {
    auto args = std::make_shared<EntryArgs>();
    auto raw = std::make_shared<bool>(false);
    auto* command =
        app.add_subcommand("get", "Show what LangChain would get back for a prompt and model");
    add_entry_args(command, *args);
    command->add_flag("--raw", *raw, "Print the stored value exactly, undecoded");
    out.push_back({command, [&global, args, raw] { return run_get(global, *args, *raw); }});
  }
  {
    auto args = std::make_shared<EntryArgs>();
    auto* command = app.add_subcommand("key", "Show the memcached key and the server holding it");
    add_entry_args(command, *args);
    out.push_back({command, [&global, args] { return run_key(global, *args); }});
  }
  {
    auto args = std::make_shared<EntryArgs>();
    auto put = std::make_shared<PutArgs>();
    auto* command = app.add_subcommand(
        "put", "Store generations: one per TEXT, or a JSON list of generations from stdin");
    add_entry_args(command, *args);
    command->add_option("TEXT", put->texts, "The text of each generation");
    command->add_flag("--chat", put->chat, "Store ChatGenerations (AI messages), not Generations");
    command
        ->add_option("--ttl", put->ttl,
                     "Seconds until the entry expires (at most 30 days); 0 means never")
        ->check(CLI::Range(0, 30 * 24 * 3600))
        ->capture_default_str();
    out.push_back({command, [&global, args, put] { return run_put(global, *args, *put); }});
  }
  {
    auto args = std::make_shared<EntryArgs>();
    auto* command = app.add_subcommand("delete", "Remove the entry for a prompt and model");
    add_entry_args(command, *args);
    out.push_back({command, [&global, args] { return run_delete(global, *args); }});
  }
  {
    auto delay = std::make_shared<int>(0);
    auto yes = std::make_shared<bool>(false);
    auto* command = app.add_subcommand(
        "clear",
        "flush_all on every server: wipes whole servers, not only LangChain's entries (with "
        "--namespace: empties only that namespace, at once)");
    command->add_option("--delay", *delay, "Seconds before the flush takes effect")
        ->check(CLI::Range(0, 30 * 24 * 3600))
        ->capture_default_str();
    command->add_flag("-y,--yes", *yes, "Do not ask for confirmation");
    out.push_back({command, [&global, delay, yes] { return run_clear(global, *delay, *yes); }});
  }
}

}  // namespace llmcache::cli
