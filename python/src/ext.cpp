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

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <type_traits>
#include <unordered_map>
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

// ---------------------------------------------------------------- the GIL and process lifecycle
//
// Interpreter exit. CPython 3.11 and 3.12 end a daemon thread that takes the GIL back after
// finalization began with pthread_exit(); the forced unwind cannot cross our frames
// (nanobind's dispatcher catches everything, its GIL guard's destructor is noexcept) and the
// process aborts with "terminate called without an active exception". So a thread coming
// back from a blocking call never takes the GIL once exit has begun: it parks for good, and
// the exiting process ends it. `exiting` is set by an atexit handler, which runs before
// CPython marks itself finalizing; the handler then waits (GIL released, bounded) until
// every thread that passed the check before the flag was set holds the GIL, so none is
// left between the check and PyEval_RestoreThread when finalization starts.
//
// Remaining windows (documented, not closed): a thread in our code *with* the GIL whose
// Python code (a __del__ run by the garbage collector, say) lets the GIL go exactly as
// finalization begins; a thread that needs more than the handler's 1 s bound to get the
// GIL back; interpreters finalized without atexit handlers running (Py_EndInterpreter of a
// subinterpreter). Calling atexit._run_exitfuncs() by hand parks every later blocking call
// of other threads. A client still referenced at exit keeps its I/O thread running while
// the process tears down its C++ statics. (Python 3.14 hangs such threads itself.)
//
// Fork. Only the thread that called fork() exists in the child: a mutex another thread held
// at that moment stays locked there for ever. The child's handler bumps fork_generation;
// anything made before the fork that a parent thread may have locked (a bridge's queue)
// is then left alone by the child, never locked.

std::atomic<bool> exiting{false};
std::atomic<std::thread::id> exiting_thread{};
// Threads between the `exiting` check and holding the GIL again.
std::atomic<int> taking_gil_back{0};
std::atomic<std::uint64_t> fork_generation{0};

[[noreturn]] void park_forever() {
  for (;;) ::pause();
}

void take_gil_back(PyThreadState* state) {
  taking_gil_back.fetch_add(1);
  if (exiting.load() && std::this_thread::get_id() != exiting_thread.load()) {
    taking_gil_back.fetch_sub(1);
    park_forever();
  }
  PyEval_RestoreThread(state);
  taking_gil_back.fetch_sub(1);
}

/// The one way this module runs C++ without the GIL: `work` runs with the GIL released,
/// its exception (if any) is rethrown once the GIL is back, and a thread that comes back
/// after interpreter exit began parks instead (see above).
template <class Work>
std::invoke_result_t<Work&> without_gil(Work&& work) {
  using R = std::invoke_result_t<Work&>;
  std::exception_ptr error;
  PyThreadState* state = PyEval_SaveThread();
  if constexpr (std::is_void_v<R>) {
    try {
      work();
    } catch (...) {
      error = std::current_exception();
    }
    take_gil_back(state);
    if (error) std::rethrow_exception(error);
  } else {
    std::optional<R> result;
    try {
      result.emplace(work());
    } catch (...) {
      error = std::current_exception();
    }
    take_gil_back(state);
    if (error) std::rethrow_exception(error);
    return std::move(*result);
  }
}

/// atexit: from now on other threads park instead of taking the GIL back (see above).
void on_interpreter_exit() {
  exiting_thread.store(std::this_thread::get_id());
  exiting.store(true);
  // Threads that passed the check before the flag need the GIL to get past
  // PyEval_RestoreThread; they are at most a few instructions from it.
  without_gil([] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (taking_gil_back.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  // nanobind reports instances still alive at exit as leaks. Objects referenced from other
  // threads' frames (a daemon thread parked in a call, or one running an event loop) are
  // never freed by CPython, so with other threads alive the report would be a false alarm
  // printed to users' stderr. Without them it stays on: then it is a real leak.
  PyThreadState* self = PyThreadState_Get();
  for (PyThreadState* t = PyInterpreterState_ThreadHead(PyThreadState_GetInterpreter(self)); t;
       t = PyThreadState_Next(t)) {
    if (t != self) {
      nb::set_leak_warnings(false);
      break;
    }
  }
}

void after_fork_in_child() {
  fork_generation.fetch_add(1);
  taking_gil_back.store(0);  // those threads do not exist here
}

// ---------------------------------------------------------------- async bridge
//
// The I/O thread never touches a Python object: a completion carries the token of its
// future, and the loop thread looks the future up in its bridge. So a completion can be
// dropped anywhere (a bridge whose loop has closed, a child after fork) without the GIL,
// and nothing on the C++ side keeps a future, and through it an event loop, alive.

using Result = std::variant<OptionalBytes, std::vector<OptionalBytes>, bool, std::size_t>;

struct Completion {
  std::uint64_t token;
  std::exception_ptr error;
  Result value;
};

// The eventfd and the queue. Shared by the Python AsyncBridge and every callback in flight,
// so a late completion finds valid memory; detached when the AsyncBridge goes (its loop has
// closed), after which completions are dropped.
class BridgeState {
 public:
  BridgeState()
      : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)), generation_(fork_generation.load()) {
    if (fd_ < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  }
  ~BridgeState() {
    if (fd_ >= 0) ::close(fd_);
  }

  int fileno() const { return fd_; }

  /// I/O thread: queue, and wake the loop only when the queue was empty (one wake-up per
  /// batch of completions). Dropped once detached, and in a child process: the eventfd is
  /// then shared with the parent, whose loop would swallow the wake-up.
  void push(Completion completion) {
    if (from_parent()) return;
    std::lock_guard lock(mutex_);
    if (fd_ < 0) return;
    const bool was_empty = queue_.empty();
    queue_.push_back(std::move(completion));
    if (was_empty) {
      const std::uint64_t one = 1;
      [[maybe_unused]] auto written = ::write(fd_, &one, sizeof one);
    }
  }

  /// Loop thread, GIL held.
  std::vector<Completion> take() {
    std::vector<Completion> batch;
    if (from_parent()) return batch;
    std::lock_guard lock(mutex_);
    if (fd_ < 0) return batch;
    std::uint64_t count;
    [[maybe_unused]] auto n = ::read(fd_, &count, sizeof count);
    batch.swap(queue_);
    return batch;
  }

  /// Closes the eventfd and drops what is queued; later completions are dropped too.
  void detach() {
    if (from_parent()) {
      // A parent thread may have held the mutex at fork: never lock it here. Nothing in
      // this process uses the state (push and take return early), so close our copy.
      if (fd_ >= 0) ::close(fd_);
      fd_ = -1;
      return;
    }
    std::vector<Completion> dropped;
    std::lock_guard lock(mutex_);
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    dropped.swap(queue_);
  }

 private:
  bool from_parent() const {
    return generation_ != fork_generation.load(std::memory_order_relaxed);
  }

  int fd_;
  const std::uint64_t generation_;
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

/// One per event loop (langchain_memcached/_aio.py). Holds the futures of the operations in
/// flight, by token; visible to the garbage collector (loop -> reader -> bridge -> future
/// -> loop is a cycle when a loop is dropped without being closed).
class AsyncBridge {
 public:
  AsyncBridge() : state_(std::make_shared<BridgeState>()) {}
  ~AsyncBridge() { state_->detach(); }

  int fileno() const { return state_->fileno(); }

  /// Resolves every future whose operation completed; cancelled ones are skipped.
  void drain() {
    for (auto& completion : state_->take()) {
      auto found = futures_.find(completion.token);
      if (found == futures_.end()) continue;
      nb::object future = std::move(found->second);
      futures_.erase(found);
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

  /// Registers `future` and calls `start` with the callback that resolves it. If `start`
  /// throws, the future is forgotten and the exception goes to the caller.
  template <class T, class Start>
  void submit(nb::handle future, Start&& start) {
    const std::uint64_t token = next_token_++;
    futures_.emplace(token, nb::borrow(future));
    try {
      start(llmcache::Callback<T>([state = state_, token](std::exception_ptr error, T value) {
        state->push(Completion{token, std::move(error), Result(std::move(value))});
      }));
    } catch (...) {
      futures_.erase(token);
      throw;
    }
  }

  // Garbage-collector support (nb::type_slots below).
  static int traverse(PyObject* self, visitproc visit, void* arg) {
    Py_VISIT(Py_TYPE(self));
    if (!nb::inst_ready(self)) return 0;
    for (const auto& [token, future] : nb::inst_ptr<AsyncBridge>(self)->futures_) {
      Py_VISIT(future.ptr());
    }
    return 0;
  }
  static int clear(PyObject* self) {
    std::unordered_map<std::uint64_t, nb::object> futures;
    futures.swap(nb::inst_ptr<AsyncBridge>(self)->futures_);
    return 0;  // the futures are released here, after the bridge no longer lists them
  }

 private:
  std::shared_ptr<BridgeState> state_;
  std::unordered_map<std::uint64_t, nb::object> futures_;
  std::uint64_t next_token_ = 1;
};

PyType_Slot async_bridge_slots[] = {
    {Py_tp_traverse, reinterpret_cast<void*>(&AsyncBridge::traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(&AsyncBridge::clear)},
    {0, nullptr}};

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
    for (const auto& address : addresses) names_.push_back(address.name());
    if (hashed) {
      client_ = std::make_shared<llmcache::HashClient>(std::move(addresses), options);
    } else {
      if (addresses.size() != 1) throw llmcache::InvalidArgumentError("Client takes one server");
      client_ = std::make_shared<llmcache::Client>(addresses.front(), options.client);
    }
  }

  /// A reference for one call: close() in another thread cannot free the client under it.
  /// GIL held (the GIL is what guards client_).
  std::shared_ptr<ClientBase> client() const {
    if (!client_) throw llmcache::ClosedError("the client is closed");
    return client_;
  }

  /// Idempotent. Later calls raise ClosedError at once; calls in flight in other threads
  /// finish with ClosedError (pending operations fail), and the last of them frees the
  /// client. GIL held on entry; released while the I/O thread stops.
  void close() {
    std::shared_ptr<ClientBase> client = std::move(client_);
    if (!client) return;
    without_gil([&] {
      client->close();  // wakes the calls other threads are inside: they fail with ClosedError
      client.reset();
    });
  }

  /// The servers as given; still answered after close().
  const std::vector<std::string>& servers() const { return names_; }

 private:
  std::shared_ptr<ClientBase> client_;
  std::vector<std::string> names_;
};

/// A blocking call: `call(client)` runs without the GIL, on a reference of its own (the last
/// one, if close() came meanwhile, is dropped here too, off the GIL).
template <class Call>
auto blocking(const PyClient& self, Call&& call) {
  return without_gil([client = self.client(), &call]() mutable {
    auto keep = std::move(client);
    return call(*keep);
  });
}

/// An async call: registers `future` on `bridge` and starts the operation.
template <class T, class Start>
void start_async(const PyClient& self, AsyncBridge& bridge, nb::handle future, Start&& start) {
  std::shared_ptr<ClientBase> client = self.client();
  bridge.submit<T>(future, [&](llmcache::Callback<T> done) { start(*client, std::move(done)); });
}

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

  // Weakly referenceable: _aio finds a loop's bridge without keeping it alive (the loop's
  // reader registration owns it, so closing the loop frees it).
  nb::class_<AsyncBridge>(m, "AsyncBridge", nb::type_slots(async_bridge_slots),
                          nb::is_weak_referenceable())
      .def(nb::init<>())
      .def("fileno", &AsyncBridge::fileno)
      .def("drain", &AsyncBridge::drain);

  // The TLS and auth options as plain structs; langchain_memcached._client fills them from
  // keywords.
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
          [](const PyClient& self, nb::handle key) {
            return self.client()->server_for(to_bytes(key, "key")).name();
          },
          "key"_a.none())
      .def(
          "get",
          [](const PyClient& self, nb::handle key) {
            std::string k = to_bytes(key, "key");
            auto item = blocking(self, [&](ClientBase& client) { return client.get(k); });
            return item ? nb::object(nb::bytes(item->value.data(), item->value.size()))
                        : nb::none();
          },
          "key"_a.none())
      .def(
          "get_many",
          [](const PyClient& self, nb::iterable keys) {
            std::vector<std::string> k;
            for (nb::handle key : keys) k.push_back(to_bytes(key, "key"));
            auto items = blocking(self, [&](ClientBase& client) { return client.get_many(k); });
            nb::list result;
            for (const auto& item : items) {
              result.append(item ? nb::object(nb::bytes(item->value.data(), item->value.size()))
                                 : nb::none());
            }
            return result;
          },
          "keys"_a)
      .def(
          "set",
          [](const PyClient& self, nb::handle key, nb::handle value, std::int64_t ttl,
             std::uint32_t flags) {
            std::string k = to_bytes(key, "key");
            std::string v = to_bytes(value, "value");
            llmcache::SetOptions options{flags, std::chrono::seconds(ttl), std::nullopt};
            return blocking(self, [&](ClientBase& client) {
              return client.set(k, v, options) == llmcache::StoreResult::kStored;
            });
          },
          "key"_a.none(), "value"_a.none(), "ttl"_a = 0, "flags"_a = 0)
      .def(
          "delete",
          [](const PyClient& self, nb::handle key) {
            std::string k = to_bytes(key, "key");
            return blocking(self, [&](ClientBase& client) { return client.del(k); });
          },
          "key"_a.none())
      .def(
          "flush_all",
          [](const PyClient& self, std::int64_t delay, bool noreply) {
            return blocking(self, [&](ClientBase& client) {
              return client.flush_all(std::chrono::seconds(delay), noreply);
            });
          },
          "delay"_a = 0, "noreply"_a = false)
      // The start_* methods return at once; the future is resolved through the bridge.
      .def(
          "start_get",
          [](const PyClient& self, nb::handle key, AsyncBridge& bridge, nb::handle future) {
            std::string k = to_bytes(key, "key");
            start_async<OptionalBytes>(self, bridge, future, [&](ClientBase& client, auto done) {
              client.start_get(
                  std::move(k), [done = std::move(done)](std::exception_ptr e,
                                                         std::optional<llmcache::Item> item) {
                    done(e, item ? OptionalBytes(std::move(item->value)) : std::nullopt);
                  });
            });
          },
          "key"_a.none(), "bridge"_a, "future"_a)
      .def(
          "start_get_many",
          [](const PyClient& self, nb::iterable keys, AsyncBridge& bridge, nb::handle future) {
            std::vector<std::string> k;
            for (nb::handle key : keys) k.push_back(to_bytes(key, "key"));
            start_async<std::vector<OptionalBytes>>(
                self, bridge, future, [&](ClientBase& client, auto done) {
                  client.start_get_many(
                      std::move(k),
                      [done = std::move(done)](std::exception_ptr e,
                                               std::vector<std::optional<llmcache::Item>> items) {
                        std::vector<OptionalBytes> values;
                        values.reserve(items.size());
                        for (auto& item : items) {
                          values.push_back(item ? OptionalBytes(std::move(item->value))
                                                : std::nullopt);
                        }
                        done(e, std::move(values));
                      });
                });
          },
          "keys"_a, "bridge"_a, "future"_a)
      .def(
          "start_set",
          [](const PyClient& self, nb::handle key, nb::handle value, std::int64_t ttl,
             std::uint32_t flags, AsyncBridge& bridge, nb::handle future) {
            std::string k = to_bytes(key, "key");
            std::string v = to_bytes(value, "value");
            start_async<bool>(self, bridge, future, [&](ClientBase& client, auto done) {
              client.start_set(
                  std::move(k), std::move(v), {flags, std::chrono::seconds(ttl), std::nullopt},
                  [done = std::move(done)](std::exception_ptr e, llmcache::StoreResult r) {
                    done(e, r == llmcache::StoreResult::kStored);
                  });
            });
          },
          "key"_a.none(), "value"_a.none(), "ttl"_a, "flags"_a, "bridge"_a, "future"_a)
      .def(
          "start_delete",
          [](const PyClient& self, nb::handle key, AsyncBridge& bridge, nb::handle future) {
            std::string k = to_bytes(key, "key");
            start_async<bool>(self, bridge, future, [&](ClientBase& client, auto done) {
              client.start_del(std::move(k), false, std::move(done));
            });
          },
          "key"_a.none(), "bridge"_a, "future"_a)
      .def(
          "start_flush_all",
          [](const PyClient& self, std::int64_t delay, bool noreply, AsyncBridge& bridge,
             nb::handle future) {
            start_async<std::size_t>(self, bridge, future, [&](ClientBase& client, auto done) {
              client.start_flush_all(std::chrono::seconds(delay), noreply, std::move(done));
            });
          },
          "delay"_a, "noreply"_a, "bridge"_a, "future"_a);

  // Lifecycle hooks (see "the GIL and process lifecycle" above): registered once, at import.
  nb::module_::import_("atexit").attr("register")(nb::cpp_function([] { on_interpreter_exit(); }));
  if (int rc = ::pthread_atfork(nullptr, nullptr, after_fork_in_child); rc != 0) {
    throw std::system_error(rc, std::generic_category(), "pthread_atfork");
  }
}
