// langchain_memcached._ext: the C++ clients and cache core for Python.
//
// Blocking calls release the GIL. Async calls never take the GIL on the client's I/O
// thread: completions are queued on an AsyncBridge and an eventfd wakes the asyncio loop,
// which resolves the futures on its own thread (see langchain_memcached/_aio.py).
//
// This file makes the module and owns the GIL and process lifecycle; each register_*.cpp
// binds one part of the library (binding.hpp lists them).
#include "binding.hpp"

#include <pthread.h>

#include <thread>

namespace llmcache_python {

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
// anything made before the fork that a parent thread may have locked (a bridge's queue,
// the log bridge's queue) is then left alone by the child, never locked.

namespace {

std::atomic<bool> exiting{false};
std::atomic<std::thread::id> exiting_thread{};
// Threads between the `exiting` check and holding the GIL again.
std::atomic<int> taking_gil_back{0};

[[noreturn]] void park_forever() {
  for (;;) ::pause();
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

}  // namespace

std::atomic<std::uint64_t> fork_generation{0};

void take_gil_back(PyThreadState* state) {
  taking_gil_back.fetch_add(1);
  if (exiting.load() && std::this_thread::get_id() != exiting_thread.load()) {
    taking_gil_back.fetch_sub(1);
    park_forever();
  }
  PyEval_RestoreThread(state);
  taking_gil_back.fetch_sub(1);
}

}  // namespace llmcache_python

NB_MODULE(_ext, m) {
  using namespace llmcache_python;
  m.doc() = "llmcache's compiled core (private: use the langchain_memcached package)";

  register_errors(m);  // first: the other parts raise these
  register_codec(m);
  register_async(m);
  register_client(m);
  register_cache(m);

  // Lifecycle hooks (see "the GIL and process lifecycle" above): registered once, at import.
  nb::module_::import_("atexit").attr("register")(nb::cpp_function([] { on_interpreter_exit(); }));
  if (int rc = ::pthread_atfork(nullptr, nullptr, after_fork_in_child); rc != 0) {
    throw std::system_error(rc, std::generic_category(), "pthread_atfork");
  }
}
