// langchain_memcached._ext: the C++ clients for Python.
//
// Blocking calls release the GIL. Async calls never take the GIL on the client's I/O
// thread: completions are queued on an AsyncBridge and an eventfd wakes the asyncio loop,
// which resolves the futures on its own thread (see langchain_memcached/_aio.py).
#include <llmcache/codec.hpp>
#include <llmcache/llmcache.hpp>

#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <mutex>
#include <variant>

namespace nb = nanobind;
using namespace nb::literals;

namespace {

using llmcache::ClientBase;
using OptionalBytes = std::optional<std::string>;

// The Python exception types, created once at import and kept for the process's life
// (they are module attributes; holding plain pointers avoids decrefs at finalization).
struct ExceptionTypes {
  PyObject* error = nullptr;
  PyObject* io_error = nullptr;
  PyObject* timeout_error = nullptr;
  PyObject* closed_error = nullptr;
  PyObject* protocol_error = nullptr;
  PyObject* server_error = nullptr;
  PyObject* value_too_large_error = nullptr;
  PyObject* decode_error = nullptr;
  PyObject* invalid_argument_error = nullptr;
} exception_types;

/// The one place a C++ exception becomes a Python exception type (most derived first).
PyObject* python_type_of(const std::exception_ptr& error, std::string& message) {
  try {
    std::rethrow_exception(error);
  } catch (const llmcache::TimeoutError& e) {
    message = e.what();
    return exception_types.timeout_error;
  } catch (const llmcache::ClosedError& e) {
    message = e.what();
    return exception_types.closed_error;
  } catch (const llmcache::IoError& e) {
    message = e.what();
    return exception_types.io_error;
  } catch (const llmcache::ProtocolError& e) {
    message = e.what();
    return exception_types.protocol_error;
  } catch (const llmcache::ValueTooLargeError& e) {
    message = e.what();
    return exception_types.value_too_large_error;
  } catch (const llmcache::ServerError& e) {
    message = e.what();
    return exception_types.server_error;
  } catch (const llmcache::DecodeError& e) {
    message = e.what();
    return exception_types.decode_error;
  } catch (const llmcache::InvalidArgumentError& e) {
    message = e.what();
    return exception_types.invalid_argument_error;
  } catch (const std::exception& e) {
    message = e.what();
    return exception_types.error;
  }
}

std::string to_bytes(nb::handle value, const char* what) {
  if (nb::isinstance<nb::bytes>(value)) {
    nb::bytes b = nb::borrow<nb::bytes>(value);
    return std::string(b.c_str(), b.size());
  }
  if (nb::isinstance<nb::str>(value)) {
    Py_ssize_t size = 0;
    const char* data = PyUnicode_AsUTF8AndSize(value.ptr(), &size);
    if (!data) throw nb::python_error();
    return std::string(data, static_cast<std::size_t>(size));
  }
  throw nb::type_error(
      (std::string(what) + " must be str or bytes, not " + nb::type_name(value.type()).c_str())
          .c_str());
}

nb::object to_python(const OptionalBytes& value) {
  if (!value) return nb::none();
  return nb::bytes(value->data(), value->size());
}

/// The Python value json.loads would build for `value` (same types, same key order).
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

std::chrono::milliseconds millis(double seconds, const char* what) {
  if (!(seconds > 0)) {
    throw llmcache::InvalidArgumentError(std::string(what) +
                                         " must be a positive number of seconds");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0 + 0.5));
}

// ---------------------------------------------------------------- async bridge

using Result = std::variant<OptionalBytes, std::vector<OptionalBytes>, bool, std::size_t>;

struct Completion {
  PyObject* future;  // a strong reference taken under the GIL at submission
  std::exception_ptr error;
  Result value;
};

// Shared by the Python AsyncBridge object and every callback in flight, so neither
// outlives the eventfd or the queue.
class BridgeState {
 public:
  BridgeState() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  ~BridgeState() { ::close(fd_); }

  int fileno() const { return fd_; }

  /// I/O thread: queue, and wake the loop only when the queue was empty (one wake-up
  /// per batch of completions).
  void push(Completion completion) {
    bool was_empty;
    {
      std::lock_guard lock(mutex_);
      was_empty = queue_.empty();
      queue_.push_back(std::move(completion));
    }
    if (was_empty) {
      const std::uint64_t one = 1;
      [[maybe_unused]] auto written = ::write(fd_, &one, sizeof one);
    }
  }

  /// Loop thread, GIL held.
  std::vector<Completion> take() {
    std::uint64_t count;
    [[maybe_unused]] auto n = ::read(fd_, &count, sizeof count);
    std::vector<Completion> batch;
    std::lock_guard lock(mutex_);
    batch.swap(queue_);
    return batch;
  }

 private:
  int fd_;
  std::mutex mutex_;
  std::vector<Completion> queue_;
};

nb::object result_to_python(const Result& value) {
  return std::visit(
      [](const auto& v) -> nb::object {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, OptionalBytes>) {
          return to_python(v);
        } else if constexpr (std::is_same_v<T, std::vector<OptionalBytes>>) {
          nb::list list;
          for (const auto& item : v) list.append(to_python(item));
          return list;
        } else {
          return nb::cast(v);
        }
      },
      value);
}

class AsyncBridge {
 public:
  AsyncBridge() : state_(std::make_shared<BridgeState>()) {}
  ~AsyncBridge() {
    // Completions nobody will drain any more: drop their futures (GIL is held here).
    for (auto& completion : state_->take()) Py_DECREF(completion.future);
  }

  int fileno() const { return state_->fileno(); }

  /// Resolves every queued future that is still pending; cancelled ones are skipped.
  void drain() {
    for (auto& completion : state_->take()) {
      nb::object future = nb::steal(completion.future);
      try {
        if (nb::cast<bool>(future.attr("done")())) continue;
        if (completion.error) {
          std::string message;
          PyObject* type = python_type_of(completion.error, message);
          future.attr("set_exception")(nb::handle(type)(message));
        } else {
          future.attr("set_result")(result_to_python(completion.value));
        }
      } catch (const nb::python_error&) {
        // The future's loop is closed or the future was resolved meanwhile: nobody waits.
      }
    }
  }

  template <class T>
  llmcache::Callback<T> callback(nb::handle future) {
    future.inc_ref();
    return [state = state_, future = future.ptr()](std::exception_ptr error, T value) {
      state->push(Completion{future, error, Result(std::move(value))});
    };
  }

 private:
  std::shared_ptr<BridgeState> state_;
};

// ---------------------------------------------------------------- clients

class PyClient {
 public:
  PyClient(const std::vector<std::string>& servers, bool hashed, double connect_timeout,
           double timeout, std::size_t connections, std::size_t max_value_bytes, int retry_attempts,
           double retry_timeout, double dead_timeout, llmcache::TlsOptions tls,
           llmcache::Credentials credentials, std::string key_prefix) {
    llmcache::HashClientOptions options;
    options.client.key_prefix = std::move(key_prefix);
    options.client.tls = std::move(tls);
    options.client.credentials = std::move(credentials);
    options.client.connect_timeout = millis(connect_timeout, "connect_timeout");
    options.client.request_timeout = millis(timeout, "timeout");
    options.client.connections = connections;
    options.client.max_value_bytes = max_value_bytes;
    options.retry_attempts = retry_attempts;
    options.retry_timeout =
        std::chrono::milliseconds(static_cast<std::int64_t>(retry_timeout * 1000));
    options.dead_timeout =
        std::chrono::milliseconds(static_cast<std::int64_t>(dead_timeout * 1000));
    std::vector<llmcache::ServerAddress> addresses;
    for (const auto& spec : servers) addresses.push_back(llmcache::parse_server(spec));
    if (addresses.empty()) throw llmcache::InvalidArgumentError("no memcached servers given");
    if (hashed) {
      client_ = std::make_shared<llmcache::HashClient>(std::move(addresses), options);
    } else {
      if (addresses.size() != 1) throw llmcache::InvalidArgumentError("Client takes one server");
      client_ = std::make_shared<llmcache::Client>(addresses.front(), options.client);
    }
  }

  ClientBase& client() {
    if (!client_) throw llmcache::ClosedError("the client is closed");
    return *client_;
  }

  /// Stops the I/O thread; pending operations fail with ClosedError. The I/O thread never
  /// takes the GIL, so joining it while holding the GIL cannot deadlock.
  void close() { client_.reset(); }

  std::vector<std::string> servers() {
    std::vector<std::string> names;
    for (const auto& address : client().servers()) names.push_back(address.name());
    return names;
  }

 private:
  std::shared_ptr<ClientBase> client_;
};

}  // namespace

NB_MODULE(_ext, m) {
  m.doc() = "llmcache's compiled core (private: use the langchain_memcached package)";

  // Base classes first: nanobind tries the most recently registered translator first.
  auto error = nb::exception<llmcache::Error>(m, "Error");
  auto io_error = nb::exception<llmcache::IoError>(m, "IoError", error);
  // Also the builtin TimeoutError (PyErr_NewException takes a tuple of bases), so that
  // `except TimeoutError` and asyncio's timeout handling catch ours as they catch others'.
  auto timeout_error = nb::exception<llmcache::TimeoutError>(
      m, "TimeoutError", nb::make_tuple(io_error, nb::handle(PyExc_TimeoutError)));
  auto closed_error = nb::exception<llmcache::ClosedError>(m, "ClosedError", io_error);
  auto protocol_error = nb::exception<llmcache::ProtocolError>(m, "ProtocolError", error);
  auto server_error = nb::exception<llmcache::ServerError>(m, "ServerError", error);
  auto too_large =
      nb::exception<llmcache::ValueTooLargeError>(m, "ValueTooLargeError", server_error);
  auto decode_error = nb::exception<llmcache::DecodeError>(m, "DecodeError", error);
  auto invalid = nb::exception<llmcache::InvalidArgumentError>(m, "InvalidArgumentError", error);
  exception_types = {error.ptr(),        io_error.ptr(),       timeout_error.ptr(),
                     closed_error.ptr(), protocol_error.ptr(), server_error.ptr(),
                     too_large.ptr(),    decode_error.ptr(),   invalid.ptr()};

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
        llmcache::Generations generations;
        {
          nb::gil_scoped_release release;
          generations = llmcache::decode_generations(std::string_view(value.c_str(), value.size()));
        }
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
        nb::gil_scoped_release release;
        return llmcache::find_refused_node(std::string_view(value.c_str(), value.size()));
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

  nb::class_<AsyncBridge>(m, "AsyncBridge")
      .def(nb::init<>())
      .def("fileno", &AsyncBridge::fileno)
      .def("drain", &AsyncBridge::drain);

  // The TLS and auth options as plain structs; langchain_memcached._client fills them from keywords.
  nb::class_<llmcache::TlsOptions>(m, "TlsOptions")
      .def(nb::init<>())
      .def_rw("enabled", &llmcache::TlsOptions::enabled)
      .def_rw("verify", &llmcache::TlsOptions::verify)
      .def_rw("ca_file", &llmcache::TlsOptions::ca_file)
      .def_rw("cert_file", &llmcache::TlsOptions::cert_file)
      .def_rw("key_file", &llmcache::TlsOptions::key_file)
      .def_rw("server_name", &llmcache::TlsOptions::server_name);
  nb::class_<llmcache::Credentials>(m, "Credentials")
      .def(nb::init<>())
      .def_rw("username", &llmcache::Credentials::username)
      .def_rw("password", &llmcache::Credentials::password);

  nb::class_<PyClient>(m, "ClientCore")
      .def(
          nb::init<const std::vector<std::string>&, bool, double, double, std::size_t, std::size_t,
                   int, double, double, llmcache::TlsOptions, llmcache::Credentials, std::string>(),
          "servers"_a, "hashed"_a, "connect_timeout"_a, "timeout"_a, "connections"_a,
          "max_value_bytes"_a, "retry_attempts"_a, "retry_timeout"_a, "dead_timeout"_a,
          "tls"_a = llmcache::TlsOptions{}, "credentials"_a = llmcache::Credentials{},
          "key_prefix"_a = "")
      .def("close", &PyClient::close)
      .def("servers", &PyClient::servers)
      // Keys and values are nb::handle with .none() so to_bytes names a wrong type, None
      // included, in a clear TypeError.
      .def(
          "server_for",
          [](PyClient& self, nb::handle key) {
            return self.client().server_for(to_bytes(key, "key")).name();
          },
          "key"_a.none())
      .def(
          "get",
          [](PyClient& self, nb::handle key) {
            std::string k = to_bytes(key, "key");
            std::optional<llmcache::Item> item;
            {
              nb::gil_scoped_release release;
              item = self.client().get(k);
            }
            return item ? nb::object(nb::bytes(item->value.data(), item->value.size()))
                        : nb::none();
          },
          "key"_a.none())
      .def("get_many",
           [](PyClient& self, nb::iterable keys) {
             std::vector<std::string> k;
             for (nb::handle key : keys) k.push_back(to_bytes(key, "key"));
             std::vector<std::optional<llmcache::Item>> items;
             {
               nb::gil_scoped_release release;
               items = self.client().get_many(k);
             }
             nb::list result;
             for (const auto& item : items) {
               result.append(item ? nb::object(nb::bytes(item->value.data(), item->value.size()))
                                  : nb::none());
             }
             return result;
           }, "keys"_a)
      .def(
          "set",
          [](PyClient& self, nb::handle key, nb::handle value, std::int64_t ttl,
             std::uint32_t flags) {
            std::string k = to_bytes(key, "key");
            std::string v = to_bytes(value, "value");
            llmcache::SetOptions options{flags, std::chrono::seconds(ttl), std::nullopt};
            nb::gil_scoped_release release;
            return self.client().set(k, v, options) == llmcache::StoreResult::kStored;
          },
          "key"_a.none(), "value"_a.none(), "ttl"_a = 0, "flags"_a = 0)
      .def(
          "delete",
          [](PyClient& self, nb::handle key) {
            std::string k = to_bytes(key, "key");
            nb::gil_scoped_release release;
            return self.client().del(k);
          },
          "key"_a.none())
      .def(
          "flush_all",
          [](PyClient& self, std::int64_t delay, bool noreply) {
            nb::gil_scoped_release release;
            return self.client().flush_all(std::chrono::seconds(delay), noreply);
          },
          "delay"_a = 0, "noreply"_a = false)
      // The start_* methods return at once; the future is resolved through the bridge.
      .def(
          "start_get",
          [](PyClient& self, nb::handle key, AsyncBridge& bridge, nb::handle future) {
            std::string k = to_bytes(key, "key");
            auto& client = self.client();
            auto done = bridge.callback<OptionalBytes>(future);
            client.start_get(
                std::move(k),
                [done = std::move(done)](std::exception_ptr e, std::optional<llmcache::Item> item) {
                  done(e, item ? OptionalBytes(std::move(item->value)) : std::nullopt);
                });
          },
          "key"_a.none(), "bridge"_a, "future"_a)
      .def("start_get_many",
           [](PyClient& self, nb::iterable keys, AsyncBridge& bridge, nb::handle future) {
             std::vector<std::string> k;
             for (nb::handle key : keys) k.push_back(to_bytes(key, "key"));
             auto& client = self.client();
             auto done = bridge.callback<std::vector<OptionalBytes>>(future);
             client.start_get_many(
                 std::move(k),
                 [done = std::move(done)](std::exception_ptr e,
                                          std::vector<std::optional<llmcache::Item>> items) {
                   std::vector<OptionalBytes> values;
                   values.reserve(items.size());
                   for (auto& item : items) {
                     values.push_back(item ? OptionalBytes(std::move(item->value)) : std::nullopt);
                   }
                   done(e, std::move(values));
                 });
           }, "keys"_a, "bridge"_a, "future"_a)
      .def(
          "start_set",
          [](PyClient& self, nb::handle key, nb::handle value, std::int64_t ttl,
             std::uint32_t flags, AsyncBridge& bridge, nb::handle future) {
            std::string k = to_bytes(key, "key");
            std::string v = to_bytes(value, "value");
            auto& client = self.client();
            auto done = bridge.callback<bool>(future);
            client.start_set(
                std::move(k), std::move(v), {flags, std::chrono::seconds(ttl), std::nullopt},
                [done = std::move(done)](std::exception_ptr e, llmcache::StoreResult r) {
                  done(e, r == llmcache::StoreResult::kStored);
                });
          },
          "key"_a.none(), "value"_a.none(), "ttl"_a, "flags"_a, "bridge"_a, "future"_a)
      .def(
          "start_delete",
          [](PyClient& self, nb::handle key, AsyncBridge& bridge, nb::handle future) {
            std::string k = to_bytes(key, "key");
            auto& client = self.client();
            client.start_del(std::move(k), false, bridge.callback<bool>(future));
          },
          "key"_a.none(), "bridge"_a, "future"_a)
      .def("start_flush_all", [](PyClient& self, std::int64_t delay, bool noreply,
                                 AsyncBridge& bridge, nb::handle future) {
        auto& client = self.client();
        client.start_flush_all(std::chrono::seconds(delay), noreply,
                               bridge.callback<std::size_t>(future));
      }, "delay"_a, "noreply"_a, "bridge"_a, "future"_a);
}
