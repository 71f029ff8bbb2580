// import-sqlite: moves a LangChain SQLiteCache database into memcached, storing each
// entry exactly as LangChain's MemcachedCache would after reading it from SQLite.
#include "common.hpp"
#include "pipeline.hpp"
#include "progress.hpp"

#include <sqlite3.h>

#include <iostream>

namespace llmcache::cli {
namespace {

class Database {
 public:
  explicit Database(const std::string& path) {
    // Read-only, and never created: a typo in the path must not leave an empty database.
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      throw Failure(kData, "cannot open " + path + " as a SQLite database: " + message);
    }
  }
  ~Database() { sqlite3_close(db_); }
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
};

class Statement {
 public:
  Statement(const Database& db, const char* sql, const std::string& path) {
    if (sqlite3_prepare_v2(db.get(), sql, -1, &statement_, nullptr) != SQLITE_OK) {
      throw Failure(kData, path + " is not a LangChain SQLiteCache database (" +
                               sqlite3_errmsg(db.get()) +
                               "); expected a table full_llm_cache(prompt, llm, idx, response)");
    }
  }
  ~Statement() { sqlite3_finalize(statement_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  /// True while there is a row.
  bool step(const Database& db) {
    const int rc = sqlite3_step(statement_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw Failure(kData, std::string("reading the database failed: ") + sqlite3_errmsg(db.get()));
  }
  std::string text(int column) const {
    const auto* data = sqlite3_column_text(statement_, column);
    return data ? std::string(reinterpret_cast<const char*>(data),
                              static_cast<std::size_t>(sqlite3_column_bytes(statement_, column)))
                : std::string();
  }
  std::int64_t integer(int column) const { return sqlite3_column_int64(statement_, column); }

 private:
  sqlite3_stmt* statement_ = nullptr;
};

/// What langchain_community's SQLAlchemyCache.lookup returns for these rows: every row
/// loads()ed, or, if any row fails to load, every row as Generation(text=row).
Generations generations_of(const std::vector<std::string>& responses) {
  Generations generations;
  try {
    for (const auto& response : responses) {
      auto one = decode_generations("[" + python_json_dumps(Json(response)) + "]");
      if (one.size() != 1) throw DecodeError("not one generation");
      generations.push_back(std::move(one.front()));
    }
    return generations;
  } catch (const Error&) {
    generations.clear();
  }
  for (const auto& response : responses) generations.emplace_back(Generation{response, {}});
  return generations;
}

struct ImportArgs {
  std::string file;
  int ttl = 0;
};

int run_import(const GlobalOptions& global, const ImportArgs& args) {
  const Database db(args.file);
  std::uint64_t total = 0;
  {
    Statement count(db, "SELECT COUNT(*) FROM (SELECT DISTINCT prompt, llm FROM full_llm_cache)",
                    args.file);
    if (count.step(db)) total = static_cast<std::uint64_t>(count.integer(0));
  }
  note(global, args.file + " holds " + std::to_string(total) + " entries");
  // Keys, TTL and sealing as every llmcache cache stores entries; strict, so a failed
  // store reaches the pipeline with its reason.
  const auto cache = global.make_cache(std::chrono::seconds(args.ttl));
  Statement rows(db, "SELECT prompt, llm, response FROM full_llm_cache ORDER BY prompt, llm, idx",
                 args.file);

  Progress progress("import", total, "entries");
  Pipeline pipeline(256);
  std::uint64_t entries = 0, legacy = 0, unusable = 0;
  bool interrupted = false;
  std::string prompt, llm;
  std::vector<std::string> responses;
  auto store = [&] {
    if (responses.empty()) return;
    const Generations generations = generations_of(responses);
    // A row LangChain could not load comes back as its raw text, as LangChain reads it.
    if (std::holds_alternative<Generation>(generations.front()) &&
        text_of(generations.front()) == responses.front()) {
      ++legacy;
    }
    std::string value;
    try {
      value = encode_generations(generations);
    } catch (const InvalidArgumentError& e) {
      ++unusable;  // e.g. invalid UTF-8 in a row: Python could not have read it either
      note(global, "skipped an entry: " + std::string(e.what()));
      responses.clear();
      return;
    }
    pipeline.acquire();
    cache->start_store(cache->key(prompt, llm), value,
                       [&pipeline](std::exception_ptr error, bool stored) {
                         if (!stored && !error) {
                           error = std::make_exception_ptr(ServerError("the entry was not stored"));
                         }
                         pipeline.release(error);
                       });
    ++entries;
    progress.update(entries);
    responses.clear();
  };
  while (rows.step(db)) {
    if (g_interrupted) {
      interrupted = true;
      break;
    }
    std::string row_prompt = rows.text(0), row_llm = rows.text(1);
    if (row_prompt != prompt || row_llm != llm) {
      store();
      prompt = std::move(row_prompt);
      llm = std::move(row_llm);
    }
    responses.push_back(rows.text(2));
  }
  if (!interrupted) store();
  pipeline.drain();
  progress.finish();
  const std::uint64_t failed = pipeline.failed();
  if (global.json) {
    std::cout << Json{{"imported", entries - failed},
                      {"failed", failed},
                      {"legacy_text_entries", legacy},
                      {"skipped", unusable},
                      {"interrupted", interrupted}}
                     .dump()
              << '\n';
  } else {
    std::cout << "imported " << entries - failed << " entries from " << args.file;
    if (legacy > 0)
      std::cout << " (" << legacy << " stored as plain text, as LangChain reads them)";
    if (unusable > 0) std::cout << "; skipped " << unusable << " unreadable";
    std::cout << '\n';
  }
  return store_outcome(failed, pipeline.first_error(), interrupted);
}

}  // namespace

void add_import_sqlite_command(CLI::App& app, const GlobalOptions& global,
                               std::vector<Command>& out) {
  auto args = std::make_shared<ImportArgs>();
  auto* command = app.add_subcommand(
      "import-sqlite", "Copy a LangChain SQLiteCache database (full_llm_cache) into the pool");
  command->add_option("FILE", args->file, "The SQLite database file")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("--ttl", args->ttl, "Seconds until imported entries expire; 0 means never")
      ->check(CLI::Range(0, 30 * 24 * 3600))
      ->capture_default_str();
  out.push_back({command, [&global, args] { return run_import(global, *args); }});
}

}  // namespace llmcache::cli
