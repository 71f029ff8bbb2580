// The cache core (llmcache::CacheCore) for langchain_memcached.MemcachedCache, and the log
// bridge that brings the core's log lines to Python's logging.
//
// The core owns the cache policy: key derivation, TTL, sealing and opening signed entries,
// which failure is counted where, logging once per cause. The Python face only turns
// verified bytes into generations and back.
#include "binding.hpp"

#include <llmcache/codec.hpp>

#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <tuple>
#include <utility>

namespace llmcache_python {

using namespace nb::literals;

// ---------------------------------------------------------------- log bridge
//
// llmcache::log may run on any thread, the client's I/O thread included, which must never
// take the GIL. So the handler only queues the line under a mutex, and drain_log() emits
// the queued lines to the logger "langchain_memcached" on a Python thread, after each
// call into the library returns (and after an AsyncBridge resolved its futures). Logging
// once per cause is the core's rule; the bridge emits every line it is given.

namespace {

struct LogQueue {
  explicit LogQueue(std::uint64_t generation) : generation(generation) {}
  const std::uint64_t generation;  // the fork_generation it was made in
  std::mutex mutex;
  std::vector<std::pair<llmcache::LogLevel, std::string>> lines;
};

// A line waits here only until the next call returns to Python; the bound keeps the queue
// finite should none return for a long time (lines beyond it are dropped, the counters
// still count). Logging once per cause keeps real queues to a few lines.
constexpr std::size_t kMaxQueuedLines = 1000;

std::atomic<LogQueue*> log_queue{nullptr};
std::atomic<bool> log_pending{false};

/// This process's queue. A child after fork makes its own: a parent thread may have held
/// the inherited queue's mutex at fork, so that one is never locked (and never freed) here.
LogQueue& current_log_queue() {
  const std::uint64_t generation = fork_generation.load(std::memory_order_relaxed);
  LogQueue* queue = log_queue.load(std::memory_order_acquire);
  if (queue && queue->generation == generation) return *queue;
  auto* fresh = new LogQueue(generation);
  if (log_queue.compare_exchange_strong(queue, fresh, std::memory_order_acq_rel)) return *fresh;
  delete fresh;  // another thread of this process made it first
  return *queue;
}

void queue_log_line(llmcache::LogLevel level, std::string_view message) {
  LogQueue& queue = current_log_queue();
  {
    std::lock_guard lock(queue.mutex);
    if (queue.lines.size() >= kMaxQueuedLines) return;
    queue.lines.emplace_back(level, std::string(message));
  }
  log_pending.store(true, std::memory_order_release);
}

int python_level(llmcache::LogLevel level) {
  switch (level) {
    case llmcache::LogLevel::kDebug:
      return 10;  // logging.DEBUG
    case llmcache::LogLevel::kInfo:
      return 20;  // logging.INFO
    case llmcache::LogLevel::kWarning:
      return 30;  // logging.WARNING
    case llmcache::LogLevel::kError:
      return 40;  // logging.ERROR
  }
  return 30;
}

}  // namespace

void drain_log() noexcept {
  // The common case (nothing logged) is one plain load, no read-modify-write.
  if (!log_pending.load(std::memory_order_relaxed)) return;
  if (!log_pending.exchange(false, std::memory_order_acq_rel)) return;
  std::vector<std::pair<llmcache::LogLevel, std::string>> lines;
  {
    LogQueue& queue = current_log_queue();
    std::lock_guard lock(queue.mutex);
    lines.swap(queue.lines);
  }
  try {
    nb::object logger = nb::module_::import_("logging").attr("getLogger")("langchain_memcached");
    for (const auto& [level, message] : lines) {
      // An error message may quote bytes from the wire: never let them fail the logging.
      nb::object text = nb::steal(
          PyUnicode_DecodeUTF8(message.data(), static_cast<Py_ssize_t>(message.size()), "replace"));
      if (!text) throw nb::python_error();
      logger.attr("log")(python_level(level), "llmcache %s", text);
    }
  } catch (nb::python_error& e) {
    e.discard_as_unraisable("langchain_memcached: logging a line of llmcache");
  } catch (...) {
    // Out of memory while logging: the counters still say what happened.
  }
}

// ---------------------------------------------------------------- lookups finished in C++
//
// The common entry, plain Generations, is read by the C++ codec and ends its lookup here,
// with no Python code between the reply and the awaiting coroutine; what the codec leaves
// to Python (chat generations, LangChain-only numbers, entries it refuses) goes back as
// bytes to MemcachedCache._finish_lookup, which reads them as before.

FetchedLookup fetched_lookup(std::shared_ptr<llmcache::CacheCore> core, OptionalBytes value) {
  FetchedLookup fetched{std::move(core), std::move(value)};
  if (!fetched.value) return fetched;
  try {
    llmcache::Generations generations = llmcache::decode_generations(*fetched.value);
    fetched.generations.reserve(generations.size());
    for (auto& generation : generations) {
      auto* plain = std::get_if<llmcache::Generation>(&generation);
      if (!plain) {
        fetched.generations.clear();
        return fetched;
      }
      fetched.generations.push_back(std::move(*plain));
    }
    fetched.plain = true;
  } catch (...) {
    // Python reads it, and judges it (DecodeError or not) exactly as before.
    fetched.generations.clear();
  }
  return fetched;
}

namespace {

/// langchain_core.outputs.Generation, and what building one takes; looked up once and kept
/// for the life of the process (never released: a module-level nb::object would be
/// destroyed after the interpreter is gone). `type` stays nullptr if langchain_core cannot
/// be imported: then every entry goes to Python.
///
/// Generation(text=..., generation_info=...) runs LangChain's Python __init__ and pydantic's
/// validation, about 2 µs, a tenth of a lookup's client time; what it builds for a str text
/// and a fresh dict (or None) is fixed: the object with its __dict__ {text, generation_info,
/// type} and its fields set {text, generation_info}. `direct` builds exactly that as
/// pydantic's model_construct does, in C (0.3 µs); it is used only if, on this
/// langchain_core and pydantic, it compared identical to the validated object (see
/// builds_as_validated), so a pydantic or LangChain that works otherwise gets the call.
struct GenerationClass {
  bool looked_up = false;
  PyObject* type = nullptr;
  PyObject* keywords = nullptr;  // ("text", "generation_info")
  bool direct = false;
  PyObject* text = nullptr;        // "text"
  PyObject* info = nullptr;        // "generation_info"
  PyObject* type_field = nullptr;  // "type"
  PyObject* type_value = nullptr;  // "Generation"
  PyObject* dict_slot = nullptr;   // "__dict__"
  PyObject* fields_set_slot = nullptr;
  PyObject* extra_slot = nullptr;
  PyObject* private_slot = nullptr;
};

/// GIL held, which guards it (no C++ static-init guard: a thread blocked on one while
/// holding the GIL would deadlock with an import that lets the GIL go).
GenerationClass the_generation_class;

PyObject* interned(const char* name) {
  PyObject* s = PyUnicode_InternFromString(name);
  if (!s) throw nb::python_error();
  return s;
}

/// Generation(text=..., generation_info=...), validated by pydantic.
nb::object validated_generation(const GenerationClass& c, nb::handle text, nb::handle info) {
  PyObject* arguments[] = {text.ptr(), info.ptr()};
  PyObject* built = PyObject_Vectorcall(c.type, arguments, 0, c.keywords);
  if (!built) throw nb::python_error();
  return nb::steal(built);
}

/// The same object, built without __init__ and validation (what model_construct does):
/// object.__new__, then the four slots of a pydantic model set as object.__setattr__ sets
/// them (BaseModel's own __setattr__ would validate).
nb::object direct_generation(const GenerationClass& c, nb::handle text, nb::handle info) {
  auto* type = reinterpret_cast<PyTypeObject*>(c.type);
  nb::object empty = nb::steal(PyTuple_New(0));
  if (!empty) throw nb::python_error();
  nb::object built = nb::steal(PyBaseObject_Type.tp_new(type, empty.ptr(), nullptr));
  if (!built) throw nb::python_error();
  nb::object values = nb::steal(PyDict_New());
  nb::object fields_set = nb::steal(PySet_New(nullptr));
  if (!values || !fields_set) throw nb::python_error();
  if (PyDict_SetItem(values.ptr(), c.text, text.ptr()) < 0 ||
      PyDict_SetItem(values.ptr(), c.info, info.ptr()) < 0 ||
      PyDict_SetItem(values.ptr(), c.type_field, c.type_value) < 0 ||
      PySet_Add(fields_set.ptr(), c.text) < 0 || PySet_Add(fields_set.ptr(), c.info) < 0 ||
      PyObject_GenericSetAttr(built.ptr(), c.dict_slot, values.ptr()) < 0 ||
      PyObject_GenericSetAttr(built.ptr(), c.fields_set_slot, fields_set.ptr()) < 0 ||
      PyObject_GenericSetAttr(built.ptr(), c.extra_slot, Py_None) < 0 ||
      PyObject_GenericSetAttr(built.ptr(), c.private_slot, Py_None) < 0) {
    throw nb::python_error();
  }
  return built;
}

nb::object keys_of(nb::handle dict) {
  nb::object keys = nb::steal(PySequence_List(dict.ptr()));
  if (!keys) throw nb::python_error();
  return keys;
}

/// Whether direct_generation builds what validation builds: same type, equal, the same
/// __dict__ (keys in the same order), fields set, extra and private values, for a
/// generation_info dict and for None.
bool builds_as_validated(const GenerationClass& c) {
  nb::object text = nb::str("text");
  nb::dict info;
  info["finish_reason"] = nb::str("stop");
  info["token_usage"] = nb::dict();
  for (nb::handle sample_info : {nb::handle(info), nb::handle(Py_None)}) {
    nb::object validated = validated_generation(c, text, sample_info);
    nb::object direct = direct_generation(c, text, sample_info);
    nb::object validated_dict = validated.attr("__dict__");
    nb::object direct_dict = direct.attr("__dict__");
    if (!validated.type().is(direct.type()) || !validated.equal(direct) ||
        !validated_dict.equal(direct_dict) ||
        !keys_of(validated_dict).equal(keys_of(direct_dict)) ||
        !validated.attr("__pydantic_fields_set__").equal(direct.attr("__pydantic_fields_set__")) ||
        !validated.attr("__pydantic_extra__").equal(direct.attr("__pydantic_extra__")) ||
        !validated.attr("__pydantic_private__").equal(direct.attr("__pydantic_private__")) ||
        !nb::repr(validated).equal(nb::repr(direct))) {
      return false;
    }
  }
  return true;
}

const GenerationClass& generation_class() {
  GenerationClass& c = the_generation_class;
  if (c.looked_up) return c;
  c.looked_up = true;
  try {
    nb::object type = nb::module_::import_("langchain_core.outputs").attr("Generation");
    c.keywords = nb::make_tuple("text", "generation_info").release().ptr();
    c.type = type.release().ptr();
  } catch (const nb::python_error&) {
    // Left to Python, which reports the missing langchain_core itself.
    return c;
  }
  try {
    c.text = interned("text");
    c.info = interned("generation_info");
    c.type_field = interned("type");
    c.type_value = interned("Generation");
    c.dict_slot = interned("__dict__");
    c.fields_set_slot = interned("__pydantic_fields_set__");
    c.extra_slot = interned("__pydantic_extra__");
    c.private_slot = interned("__pydantic_private__");
    c.direct = PyType_Check(c.type) && builds_as_validated(c);
  } catch (...) {
    // A pydantic without these slots, or a check that failed in any way: every Generation
    // is validated, as before, and the lookup that got here is not failed for it.
    c.direct = false;
  }
  return c;
}

/// Generation(text=..., generation_info=...), as _codec.loads_generations builds it.
nb::object generation_to_python(const llmcache::Generation& generation, const GenerationClass& c) {
  nb::str text(generation.text.data(), generation.text.size());
  nb::object info =
      generation.generation_info ? json_to_python(*generation.generation_info) : nb::none();
  return c.direct ? direct_generation(c, text, info) : validated_generation(c, text, info);
}

}  // namespace

nb::object finish_lookup(FetchedLookup& fetched) {
  if (!fetched.value) {
    fetched.core->finish_lookup(false);
    return nb::none();
  }
  const GenerationClass& c = generation_class();
  if (fetched.plain && c.type) {
    try {
      nb::list generations;
      for (const auto& generation : fetched.generations) {
        generations.append(generation_to_python(generation, c));
      }
      // A plain Generation spares no counted tokens (only chat usage metadata says any).
      fetched.core->finish_lookup(true, fetched.value->size(), 0);
      return generations;
    } catch (...) {
      // Dropped (the Python error with it): _finish_lookup reads the bytes and reports
      // whatever the failure was, as it always has.
    }
  }
  return nb::bytes(fetched.value->data(), fetched.value->size());
}

// ---------------------------------------------------------------- CacheCore

namespace {

struct PyCache {
  std::shared_ptr<llmcache::CacheCore> core;

  std::string key(nb::handle prompt, nb::handle llm_string) const {
    return core->key(to_bytes(prompt, "prompt"), to_bytes(llm_string, "llm_string"));
  }
};

/// Emits what the call logged once it returns, normally or by an exception.
struct DrainLogOnReturn {
  DrainLogOnReturn() = default;
  DrainLogOnReturn(const DrainLogOnReturn&) = delete;
  DrainLogOnReturn& operator=(const DrainLogOnReturn&) = delete;
  ~DrainLogOnReturn() { drain_log(); }
};

nb::dict stats_to_python(const llmcache::CacheStats& s) {
  nb::dict d;
  d["hits"] = s.hits;
  d["misses"] = s.misses;
  d["updates"] = s.updates;
  d["update_failures"] = s.update_failures;
  d["io_errors"] = s.io_errors;
  d["timeouts"] = s.timeouts;
  d["server_errors"] = s.server_errors;
  d["protocol_errors"] = s.protocol_errors;
  d["decode_errors"] = s.decode_errors;
  d["too_large"] = s.too_large;
  d["signature_failures"] = s.signature_failures;
  d["unserializable_values"] = s.unserializable_values;
  d["bytes_read"] = s.bytes_read;
  d["bytes_written"] = s.bytes_written;
  d["bytes_saved_by_compression"] = s.bytes_saved_by_compression;
  d["tokens_saved"] = s.tokens_saved;
  d["stale_served"] = s.stale_served;
  d["leases_won"] = s.leases_won;
  d["lease_waits"] = s.lease_waits;
  d["lease_wait_timeouts"] = s.lease_wait_timeouts;
  return d;
}

/// A batch's keys (str as UTF-8, or bytes), in order.
std::vector<std::string> keys_from(nb::handle keys) {
  std::vector<std::string> out;
  for (nb::handle key : keys) out.push_back(to_bytes(key, "key"));
  return out;
}

std::optional<std::string> sub_namespace_from(nb::handle sub_namespace) {
  if (sub_namespace.is_none()) return std::nullopt;
  return to_bytes(sub_namespace, "sub_namespace");
}

/// One sub-namespace (str or bytes) or None per key.
std::vector<std::optional<std::string>> sub_namespaces_from(nb::handle sub_namespaces) {
  std::vector<std::optional<std::string>> out;
  for (nb::handle sub : sub_namespaces) out.push_back(sub_namespace_from(sub));
  return out;
}

/// store_many's items: (key, value, ttl seconds or None) tuples.
std::vector<llmcache::CacheCore::BatchItem> items_from(nb::handle items) {
  std::vector<llmcache::CacheCore::BatchItem> out;
  for (nb::handle item : items) {
    const nb::tuple fields = nb::cast<nb::tuple>(item);
    if (fields.size() != 3) {
      throw nb::type_error("store_many takes (key, value, ttl_seconds or None) tuples");
    }
    llmcache::CacheCore::BatchItem batch_item;
    batch_item.key = to_bytes(fields[0], "key");
    batch_item.value = to_bytes(fields[1], "value");
    if (!fields[2].is_none())
      batch_item.ttl = std::chrono::seconds(nb::cast<std::int64_t>(fields[2]));
    out.push_back(std::move(batch_item));
  }
  return out;
}

nb::list values_to_python(const std::vector<OptionalBytes>& values) {
  nb::list list;
  for (const auto& value : values) list.append(to_python(value));
  return list;
}

/// One call's cache control (langchain_memcached.cache_control), from its keywords.
llmcache::CacheControl control(bool refresh, bool no_store, bool no_cache,
                               std::optional<std::int64_t> ttl) {
  llmcache::CacheControl c;
  c.refresh = refresh;
  c.no_store = no_store;
  c.no_cache = no_cache;
  if (ttl) c.ttl = std::chrono::seconds(*ttl);
  return c;
}

}  // namespace

void register_cache(nb::module_& m) {
  llmcache::set_log_handler(queue_log_line);

  // Prompts and values are nb::handle with .none() so to_bytes names a wrong type, None
  // included, in a clear TypeError.
  nb::class_<PyCache>(m, "CacheCore")
      .def(
          "__init__",
          [](PyCache* self, const PyClient& client, std::int64_t ttl, bool strict,
             nb::handle signing_secret, nb::handle namespace_, double namespace_refresh,
             bool compress, std::size_t compress_min_bytes, int compress_level, bool single_flight,
             double single_flight_wait, std::int64_t lease_ttl, std::int64_t stale_ttl) {
            llmcache::MemcachedCacheOptions options;
            options.ttl = std::chrono::seconds(ttl);
            options.strict = strict;
            if (!signing_secret.is_none()) {
              options.signing_secret = to_bytes(signing_secret, "signing_secret");
            }
            if (!namespace_.is_none()) options.namespace_ = to_bytes(namespace_, "namespace");
            options.namespace_refresh =
                std::chrono::milliseconds(static_cast<std::int64_t>(namespace_refresh * 1000.0));
            options.compress = compress;
            options.compress_min_bytes = compress_min_bytes;
            options.compress_level = compress_level;
            options.single_flight = single_flight;
            options.single_flight_wait =
                std::chrono::milliseconds(static_cast<std::int64_t>(single_flight_wait * 1000.0));
            options.lease_ttl = std::chrono::seconds(lease_ttl);
            options.stale_ttl = std::chrono::seconds(stale_ttl);
            new (self)
                PyCache{std::make_shared<llmcache::CacheCore>(client.client(), std::move(options))};
          },
          "client"_a, "ttl"_a = 0, "strict"_a = false, "signing_secret"_a.none() = nb::none(),
          "namespace"_a.none() = nb::none(), "namespace_refresh"_a = 1.0, "compress"_a = false,
          "compress_min_bytes"_a = 1024, "compress_level"_a = 3, "single_flight"_a = false,
          "single_flight_wait"_a = 60.0, "lease_ttl"_a = 30, "stale_ttl"_a = 0,
          "The cache policy over `client`: keys, namespace, TTL, compression, signing, "
          "single flight and stale serving, counters, logging once per cause. Raises "
          "InvalidArgumentError for a negative ttl, an empty secret or namespace, a "
          "non-positive namespace_refresh, a bad compress_level, a non-positive "
          "single_flight_wait or lease_ttl (with single_flight), a negative stale_ttl or a "
          "positive one without ttl.")
      .def("key", &PyCache::key, "prompt"_a.none(), "llm_string"_a.none(),
           "The key the entry for this prompt and llm_string is stored under.")
      // ---- lookup (or start_lookup); when it hands back bytes, finish_lookup exactly once
      .def(
          "lookup",
          [](const PyCache& self, nb::handle prompt, nb::handle llm_string, bool refresh,
             bool no_store, bool no_cache, std::optional<std::int64_t> ttl) {
            std::string key = self.key(prompt, llm_string);
            const auto c = control(refresh, no_store, no_cache, ttl);
            DrainLogOnReturn drain;
            FetchedLookup fetched =
                without_gil([&] { return fetched_lookup(self.core, self.core->fetch(key, c)); });
            return finish_lookup(fetched);
          },
          "prompt"_a.none(), "llm_string"_a.none(), "refresh"_a = false, "no_store"_a = false,
          "no_cache"_a = false, "ttl"_a.none() = nb::none(),
          "The lookup, ended in C++ when it can be: None (a miss, counted) or a list of "
          "LangChain Generations (a hit, counted). Bytes otherwise (the verified bytes of chat "
          "generations, entries the C++ codec does not read): decode them and call "
          "finish_lookup() once. Server trouble and entries failing their signature check are "
          "counted misses.")
      .def(
          "start_lookup",
          [](const PyCache& self, nb::handle prompt, nb::handle llm_string, AsyncBridge& bridge,
             nb::handle future, bool refresh, bool no_store, bool no_cache,
             std::optional<std::int64_t> ttl) {
            std::string key = self.key(prompt, llm_string);
            const auto c = control(refresh, no_store, no_cache, ttl);
            DrainLogOnReturn drain;  // a refusal before anything was queued is logged at once
            bridge.submit<OptionalBytes>(
                future,
                [&](llmcache::Callback<OptionalBytes> done) {
                  self.core->start_fetch(std::move(key), std::move(done), c);
                },
                [core = self.core](OptionalBytes value) {
                  return fetched_lookup(core, std::move(value));
                });
          },
          "prompt"_a.none(), "llm_string"_a.none(), "bridge"_a, "future"_a, "refresh"_a = false,
          "no_store"_a = false, "no_cache"_a = false, "ttl"_a.none() = nb::none())
      .def(
          "finish_lookup",
          [](const PyCache& self, bool decoded, std::size_t value_bytes,
             std::uint64_t tokens_saved) {
            self.core->finish_lookup(decoded, value_bytes, tokens_saved);
          },
          "decoded"_a, "value_bytes"_a = 0, "tokens_saved"_a = 0,
          "Ends one lookup: a hit if the fetched value `decoded` (of `value_bytes` bytes, "
          "sparing `tokens_saved` model tokens), else a miss.")
      .def(
          "record_decode_failure",
          [](const PyCache& self, const std::string& why) {
            DrainLogOnReturn drain;
            self.core->record_decode_failure(why);
          },
          "why"_a,
          "A fetched value did not decode: counted and logged once. Then finish_lookup(False).")
      // ---- update
      .def(
          "store",
          [](const PyCache& self, nb::handle prompt, nb::handle llm_string, nb::handle value,
             bool refresh, bool no_store, bool no_cache, std::optional<std::int64_t> ttl) {
            std::string key = self.key(prompt, llm_string);
            std::string bytes = to_bytes(value, "value");
            const auto c = control(refresh, no_store, no_cache, ttl);
            DrainLogOnReturn drain;
            return without_gil([&] { return self.core->store(key, bytes, c); });
          },
          "prompt"_a.none(), "llm_string"_a.none(), "value"_a.none(), "refresh"_a = false,
          "no_store"_a = false, "no_cache"_a = false, "ttl"_a.none() = nb::none(),
          "Stores `value` (LangChain's bytes) for this prompt and llm_string; whether it was "
          "stored. A failure is counted and logged once per cause, or raised when strict.")
      .def(
          "start_store",
          [](const PyCache& self, nb::handle prompt, nb::handle llm_string, nb::handle value,
             AsyncBridge& bridge, nb::handle future, bool refresh, bool no_store, bool no_cache,
             std::optional<std::int64_t> ttl) {
            std::string key = self.key(prompt, llm_string);
            std::string bytes = to_bytes(value, "value");
            const auto c = control(refresh, no_store, no_cache, ttl);
            DrainLogOnReturn drain;
            bridge.submit<bool>(future, [&](llmcache::Callback<bool> done) {
              self.core->start_store(std::move(key), bytes, std::move(done), c);
            });
          },
          "prompt"_a.none(), "llm_string"_a.none(), "value"_a.none(), "bridge"_a, "future"_a,
          "refresh"_a = false, "no_store"_a = false, "no_cache"_a = false,
          "ttl"_a.none() = nb::none())
      .def(
          "refuse_update",
          [](const PyCache& self, nb::handle error, nb::handle prompt, nb::handle llm_string) {
            // The lease (single_flight) this lookup's key holds is given back.
            std::string key;
            if (!prompt.is_none() || !llm_string.is_none()) key = self.key(prompt, llm_string);
            // The core needs the reason's text for its log line, and rethrows when strict:
            // then the caller gets its own exception back, not a copy.
            const std::string why = nb::str(error).c_str();
            bool refused_strictly = false;
            bool result = false;
            {
              DrainLogOnReturn drain;
              try {
                result = without_gil([&] {
                  return self.core->refuse_update(
                      std::make_exception_ptr(llmcache::InvalidArgumentError(why)), key);
                });
              } catch (const llmcache::InvalidArgumentError&) {
                refused_strictly = true;
              }
            }
            if (refused_strictly) {
              PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(error.ptr())), error.ptr());
              throw nb::python_error();
            }
            return result;
          },
          "error"_a, "prompt"_a.none() = nb::none(), "llm_string"_a.none() = nb::none(),
          "An update the face could not encode (`error` says why): nothing is sent, the old "
          "entry stays; counted as unserializable_values and logged once (and the lease of "
          "prompt and llm_string, if held, given back). Returns False, or raises `error` "
          "again when strict.")
      .def(
          "release_lease",
          [](const PyCache& self, nb::handle prompt, nb::handle llm_string) {
            std::string key = self.key(prompt, llm_string);
            without_gil([&] { self.core->release_lease(key); });
          },
          "prompt"_a.none(), "llm_string"_a.none(),
          "single_flight: gives back the lease a lookup of this prompt and llm_string won, "
          "for a caller that will not store (its model call failed), so that waiters need "
          "not wait lease_ttl. Does nothing when no lease is held.")
      .def(
          "start_release_lease",
          [](const PyCache& self, nb::handle prompt, nb::handle llm_string, AsyncBridge& bridge,
             nb::handle future) {
            std::string key = self.key(prompt, llm_string);
            bridge.submit<bool>(future, [&](llmcache::Callback<bool> done) {
              self.core->start_release_lease(key, std::move(done));
            });
          },
          "prompt"_a.none(), "llm_string"_a.none(), "bridge"_a, "future"_a)
      // ---- the rest
      .def(
          "clear",
          [](const PyCache& self, std::int64_t delay, bool noreply) {
            without_gil([&] { self.core->clear(std::chrono::seconds(delay), noreply); });
          },
          "delay"_a = 0, "noreply"_a = false,
          "Without a namespace, `flush_all [delay]` on every server: wipes each WHOLE server. "
          "With one, a new generation: only the namespace's entries go.")
      .def(
          "start_clear",
          [](const PyCache& self, std::int64_t delay, bool noreply, AsyncBridge& bridge,
             nb::handle future) {
            bridge.submit<bool>(future, [&](llmcache::Callback<bool> done) {
              self.core->start_clear(std::chrono::seconds(delay), noreply, std::move(done));
            });
          },
          "delay"_a, "noreply"_a, "bridge"_a, "future"_a)
      // ---- batches by key (the node cache, the byte store): need a namespace
      .def(
          "fetch_many",
          [](const PyCache& self, nb::handle keys, nb::handle sub_namespace) {
            const auto names = keys_from(keys);
            const auto sub = sub_namespace_from(sub_namespace);
            DrainLogOnReturn drain;
            auto values = without_gil([&] { return self.core->fetch_many(names, sub); });
            return values_to_python(values);
          },
          "keys"_a, "sub_namespace"_a.none() = nb::none(),
          "One value (verified bytes) or None per key, in order: pipelined, one round trip "
          "per server. Failures are counted misses. Call finish_lookup() once per key "
          "afterwards. Raises InvalidArgumentError without a namespace.")
      .def(
          "start_fetch_many",
          [](const PyCache& self, nb::handle keys, AsyncBridge& bridge, nb::handle future,
             nb::handle sub_namespace) {
            auto names = keys_from(keys);
            auto sub = sub_namespace_from(sub_namespace);
            DrainLogOnReturn drain;
            bridge.submit<std::vector<OptionalBytes>>(
                future, [&](llmcache::Callback<std::vector<OptionalBytes>> done) {
                  self.core->start_fetch_many(std::move(names), std::move(done), std::move(sub));
                });
          },
          "keys"_a, "bridge"_a, "future"_a, "sub_namespace"_a.none() = nb::none())
      .def(
          "fetch_many_across",
          [](const PyCache& self, nb::handle keys, nb::handle sub_namespaces) {
            const auto names = keys_from(keys);
            const auto subs = sub_namespaces_from(sub_namespaces);
            DrainLogOnReturn drain;
            auto values = without_gil([&] { return self.core->fetch_many_across(names, subs); });
            return values_to_python(values);
          },
          "keys"_a, "sub_namespaces"_a,
          "As fetch_many, key i in sub_namespaces[i] (None: none): one batch over several "
          "sub-namespaces, one round trip per server. Raises InvalidArgumentError unless there "
          "is one per key.")
      .def(
          "start_fetch_many_across",
          [](const PyCache& self, nb::handle keys, nb::handle sub_namespaces, AsyncBridge& bridge,
             nb::handle future) {
            auto names = keys_from(keys);
            auto subs = sub_namespaces_from(sub_namespaces);
            DrainLogOnReturn drain;
            bridge.submit<std::vector<OptionalBytes>>(
                future, [&](llmcache::Callback<std::vector<OptionalBytes>> done) {
                  self.core->start_fetch_many_across(std::move(names), std::move(subs),
                                                     std::move(done));
                });
          },
          "keys"_a, "sub_namespaces"_a, "bridge"_a, "future"_a)
      .def(
          "store_many_across",
          [](const PyCache& self, nb::handle items, nb::handle sub_namespaces) {
            const auto batch = items_from(items);
            const auto subs = sub_namespaces_from(sub_namespaces);
            DrainLogOnReturn drain;
            return without_gil([&] { return self.core->store_many_across(batch, subs); });
          },
          "items"_a, "sub_namespaces"_a, "As store_many, item i in sub_namespaces[i] (None: none).")
      .def(
          "start_store_many_across",
          [](const PyCache& self, nb::handle items, nb::handle sub_namespaces, AsyncBridge& bridge,
             nb::handle future) {
            auto batch = items_from(items);
            auto subs = sub_namespaces_from(sub_namespaces);
            DrainLogOnReturn drain;
            bridge.submit<std::vector<bool>>(
                future, [&](llmcache::Callback<std::vector<bool>> done) {
                  self.core->start_store_many_across(std::move(batch), std::move(subs),
                                                     std::move(done));
                });
          },
          "items"_a, "sub_namespaces"_a, "bridge"_a, "future"_a)
      .def(
          "store_many",
          [](const PyCache& self, nb::handle items, nb::handle sub_namespace) {
            const auto batch = items_from(items);
            const auto sub = sub_namespace_from(sub_namespace);
            DrainLogOnReturn drain;
            return without_gil([&] { return self.core->store_many(batch, sub); });
          },
          "items"_a, "sub_namespace"_a.none() = nb::none(),
          "Stores (key, value, ttl) items, ttl in seconds (None: the cache's ttl, 0: no "
          "expiry); whether each was stored. Pipelined. Failures are counted and logged once "
          "per cause (a value above the item limit in too_large), or raised when strict.")
      .def(
          "start_store_many",
          [](const PyCache& self, nb::handle items, AsyncBridge& bridge, nb::handle future,
             nb::handle sub_namespace) {
            auto batch = items_from(items);
            auto sub = sub_namespace_from(sub_namespace);
            DrainLogOnReturn drain;
            bridge.submit<std::vector<bool>>(
                future, [&](llmcache::Callback<std::vector<bool>> done) {
                  self.core->start_store_many(std::move(batch), std::move(done), std::move(sub));
                });
          },
          "items"_a, "bridge"_a, "future"_a, "sub_namespace"_a.none() = nb::none())
      .def(
          "remove_many",
          [](const PyCache& self, nb::handle keys, nb::handle sub_namespace) {
            const auto names = keys_from(keys);
            const auto sub = sub_namespace_from(sub_namespace);
            DrainLogOnReturn drain;
            return without_gil([&] { return self.core->remove_many(names, sub); });
          },
          "keys"_a, "sub_namespace"_a.none() = nb::none(),
          "Removes each key's entry; whether it existed. Server trouble raises.")
      .def(
          "start_remove_many",
          [](const PyCache& self, nb::handle keys, AsyncBridge& bridge, nb::handle future,
             nb::handle sub_namespace) {
            auto names = keys_from(keys);
            auto sub = sub_namespace_from(sub_namespace);
            DrainLogOnReturn drain;
            bridge.submit<std::vector<bool>>(
                future, [&](llmcache::Callback<std::vector<bool>> done) {
                  self.core->start_remove_many(std::move(names), std::move(done), std::move(sub));
                });
          },
          "keys"_a, "bridge"_a, "future"_a, "sub_namespace"_a.none() = nb::none())
      .def(
          "clear_sub_namespaces",
          [](const PyCache& self, nb::handle sub_namespaces) {
            const auto subs = keys_from(sub_namespaces);
            DrainLogOnReturn drain;
            without_gil([&] { self.core->clear_sub_namespaces(subs); });
          },
          "sub_namespaces"_a,
          "A new generation for each sub-namespace listed: only their entries go, in O(1) "
          "each. Raises if a server failed.")
      .def(
          "start_clear_sub_namespaces",
          [](const PyCache& self, nb::handle sub_namespaces, AsyncBridge& bridge,
             nb::handle future) {
            auto subs = keys_from(sub_namespaces);
            DrainLogOnReturn drain;
            bridge.submit<bool>(future, [&](llmcache::Callback<bool> done) {
              self.core->start_clear_sub_namespaces(std::move(subs), std::move(done));
            });
          },
          "sub_namespaces"_a, "bridge"_a, "future"_a)
      .def(
          "list_stored",
          [](const PyCache& self) {
            DrainLogOnReturn drain;
            const auto values = without_gil([&] { return self.core->list_stored(); });
            nb::list list;
            for (const auto& value : values) list.append(nb::bytes(value.data(), value.size()));
            return list;
          },
          "The stored values of every entry of the namespace's current generation (outside "
          "sub-namespaces): lru_crawler metadump on every server, then pipelined reads. A "
          "full scan. Raises ServerError (reason not_understood or client_error_reply) where "
          "a server or proxy refuses the crawl, reason busy while another crawl runs.")
      .def(
          "stats", [](const PyCache& self) { return stats_to_python(self.core->stats()); },
          "Counters since the cache was made: every lookup is one hit or one miss; the rest "
          "say why.")
      .def(
          "lookup_latency",
          [](const PyCache& self) {
            const llmcache::LatencyHistogram h = self.core->lookup_latency();
            return std::make_tuple(h.bounds, h.counts, h.sum_seconds);
          },
          "The lookup latency histogram: (upper bounds in seconds, observations per bucket "
          "(not cumulative; one more than the bounds, the last +Inf's), sum in seconds). One "
          "observation per fetch, from the call to its result.");
}

}  // namespace llmcache_python
