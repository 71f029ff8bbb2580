#pragma once
// What the registration files of langchain_memcached._ext share: the GIL and process
// lifecycle helpers, the one exception table, the log bridge, the asyncio bridge and the
// client handle. Each register_*.cpp binds one part of the C++ library; ext.cpp makes the
// module from them.
#include <llmcache/llmcache.hpp>

#include <nanobind/nanobind.h>

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <type_traits>
#include <unordered_map>
#include <variant>
#include <vector>

namespace llmcache_python {

namespace nb = nanobind;

using OptionalBytes = std::optional<std::string>;

// ---------------------------------------------------------------- registration (one per file)

void register_errors(nb::module_& m);  // register_errors.cpp
void register_codec(nb::module_& m);   // register_codec.cpp
void register_async(nb::module_& m);   // register_async.cpp
void register_client(nb::module_& m);  // register_client.cpp
void register_cache(nb::module_& m);   // register_cache.cpp (and the log bridge)

// ---------------------------------------------------------------- conversions

/// A str (as UTF-8) or bytes argument as bytes; TypeError naming `what` for anything else.
std::string to_bytes(nb::handle value, const char* what);

inline nb::object to_python(const OptionalBytes& value) {
  if (!value) return nb::none();
  return nb::bytes(value->data(), value->size());
}

/// The Python value json.loads would build for `value` (same types, same key order).
/// register_codec.cpp. Throws DecodeError for a value JSON has no type for.
nb::object json_to_python(const llmcache::Json& value);

// ---------------------------------------------------------------- lookups (register_cache.cpp)

/// A lookup's outcome on its way to Python: the verified bytes, and the generations they
/// hold when every one is a plain Generation (decoded by the C++ codec without the GIL:
/// on the I/O thread for an async lookup, on the caller's for a blocking one).
struct FetchedLookup {
  std::shared_ptr<llmcache::CacheCore> core;
  OptionalBytes value;
  bool plain = false;  // `generations` holds everything `value` holds
  std::vector<llmcache::Generation> generations;
};

/// Decodes `value` when the C++ codec reads it as plain generations alone; otherwise (chat
/// generations, what the codec refuses) leaves that to Python. Any thread; never throws.
FetchedLookup fetched_lookup(std::shared_ptr<llmcache::CacheCore> core, OptionalBytes value);

/// Ends the lookup (GIL held): a miss is counted and is None; plain generations are counted
/// as a hit and come back as LangChain Generation objects. Anything else comes back as the
/// bytes, unfinished: MemcachedCache._finish_lookup reads those (chat generations, numbers
/// the codec has no type for) and counts the lookup.
nb::object finish_lookup(FetchedLookup& fetched);

// ---------------------------------------------------------------- errors (register_errors.cpp)

/// The Python exception for a C++ one, built from the one exception table: its type, its
/// message, and the typed details (`reason`, `server`, and `reached_server` for
/// ValueTooLargeError). GIL held.
nb::object python_exception(const std::exception_ptr& error);

// ---------------------------------------------------------------- log bridge (register_cache.cpp)

/// Emits the lines llmcache logged (on any thread, the I/O thread included) to Python's
/// logger "langchain_memcached". Called with the GIL held after each call into the library
/// returns; costs one atomic load when nothing was logged. Never throws.
void drain_log() noexcept;

// ---------------------------------------------------------------- the GIL and process lifecycle
// (ext.cpp, which explains the interpreter-exit and fork rules)

extern std::atomic<std::uint64_t> fork_generation;

/// Takes the GIL back after PyEval_SaveThread, or parks the thread for good when the
/// interpreter is exiting.
void take_gil_back(PyThreadState* state);

/// The one way this module runs C++ without the GIL: `work` runs with the GIL released,
/// its exception (if any) is rethrown once the GIL is back, and a thread that comes back
/// after interpreter exit began parks instead (see ext.cpp).
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

// ---------------------------------------------------------------- async bridge
// (register_async.cpp)
//
// The I/O thread never touches a Python object: a completion carries the token of its
// future, and the loop thread looks the future up in its bridge. So a completion can be
// dropped anywhere (a bridge whose loop has closed, a child after fork) without the GIL,
// and nothing on the C++ side keeps a future, and through it an event loop, alive.

using Result = std::variant<OptionalBytes, std::vector<OptionalBytes>, bool, std::size_t,
                            std::vector<bool>, FetchedLookup>;

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

/// One per event loop (langchain_memcached/_aio.py). Holds the futures of the operations in
/// flight, by token; visible to the garbage collector (loop -> reader -> bridge -> future
/// -> loop is a cycle when a loop is dropped without being closed).
class AsyncBridge {
 public:
  AsyncBridge() : state_(std::make_shared<BridgeState>()) {}
  ~AsyncBridge() { state_->detach(); }

  int fileno() const { return state_->fileno(); }

  /// Resolves every future whose operation completed; cancelled ones are skipped.
  void drain();

  /// Registers `future` and calls `start` with the callback that resolves it; `convert`
  /// turns the operation's value into the completion's (on the thread that completes it,
  /// without the GIL). If `start` throws, the future is forgotten and the exception goes to
  /// the caller.
  template <class T, class Start, class Convert>
  void submit(nb::handle future, Start&& start, Convert convert) {
    const std::uint64_t token = next_token_++;
    futures_.emplace(token, nb::borrow(future));
    try {
      start(llmcache::Callback<T>(
          [state = state_, token, convert = std::move(convert)](std::exception_ptr error, T value) {
            state->push(Completion{token, std::move(error), Result(convert(std::move(value)))});
          }));
    } catch (...) {
      futures_.erase(token);
      throw;
    }
  }

  template <class T, class Start>
  void submit(nb::handle future, Start&& start) {
    submit<T>(future, std::forward<Start>(start), [](T value) { return value; });
  }

  // Garbage-collector support (nb::type_slots in register_async.cpp).
  static int traverse(PyObject* self, visitproc visit, void* arg);
  static int clear(PyObject* self);

 private:
  std::shared_ptr<BridgeState> state_;
  std::unordered_map<std::uint64_t, nb::object> futures_;
  std::uint64_t next_token_ = 1;
};

// ---------------------------------------------------------------- clients (register_client.cpp)

/// ClientCore: a client shared with the calls in flight, so that close() in one thread
/// cannot free it under a call in another.
template <class Rep, class Period>
double seconds(std::chrono::duration<Rep, Period> duration) {
  return std::chrono::duration<double>(duration).count();
}

/// ClientCore's settings as Python gives them (seconds as floats), named fields instead of
/// positional arguments; langchain_memcached._client fills them from Client's and
/// HashClient's keywords. The defaults are the library's.
struct ClientSettings {
  double connect_timeout = seconds(llmcache::ClientOptions{}.connect_timeout);
  double timeout = seconds(llmcache::ClientOptions{}.request_timeout);
  std::size_t connections = llmcache::ClientOptions{}.connections;
  std::size_t max_value_bytes = llmcache::ClientOptions{}.max_value_bytes;
  std::size_t item_size_max = llmcache::ClientOptions{}.item_size_max;
  double blocking_spin = seconds(llmcache::ClientOptions{}.blocking_spin);
  // HashClient's failure rules; a Client (one server) has none.
  int retry_attempts = llmcache::HashClientOptions{}.retry_attempts;
  double retry_timeout = seconds(llmcache::HashClientOptions{}.retry_timeout);
  double dead_timeout = seconds(llmcache::HashClientOptions{}.dead_timeout);
  llmcache::TlsOptions tls;
  llmcache::Credentials credentials;
  std::string key_prefix;
  std::string protocol = "auto";  // auto, meta or classic (llmcache::parse_protocol)
};

class PyClient {
 public:
  PyClient(const std::vector<std::string>& servers, bool hashed, const ClientSettings& settings);

  /// A reference for one call: close() in another thread cannot free the client under it.
  /// GIL held (the GIL is what guards client_).
  std::shared_ptr<llmcache::ClientBase> client() const {
    if (!client_) throw llmcache::ClosedError("the client is closed");
    return client_;
  }

  /// Idempotent. Later calls raise ClosedError at once; calls in flight in other threads
  /// finish with ClosedError (pending operations fail), and the last of them frees the
  /// client. GIL held on entry; released while the I/O thread stops.
  void close() {
    std::shared_ptr<llmcache::ClientBase> client = std::move(client_);
    if (!client) return;
    without_gil([&] {
      client->close();  // wakes the calls other threads are inside: they fail with ClosedError
      client.reset();
    });
  }

  /// The servers as given; still answered after close().
  const std::vector<std::string>& servers() const { return names_; }

 private:
  std::shared_ptr<llmcache::ClientBase> client_;
  std::vector<std::string> names_;
};

}  // namespace llmcache_python
