// The asyncio bridge: one AsyncBridge (an eventfd and a queue of completions) per event
// loop and process; langchain_memcached/_aio.py makes them and registers their readers.
#include "binding.hpp"

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

namespace llmcache_python {
namespace {

nb::object result_to_python(Result& value) {
  return std::visit(
      [](auto& v) -> nb::object {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, FetchedLookup>) {
          return finish_lookup(v);
        } else if constexpr (std::is_same_v<T, OptionalBytes>) {
          return to_python(v);
        } else if constexpr (std::is_same_v<T, std::vector<OptionalBytes>>) {
          nb::list list;
          for (const auto& item : v) list.append(to_python(item));
          return list;
        } else if constexpr (std::is_same_v<T, std::vector<bool>>) {
          nb::list list;
          for (const bool item : v) list.append(nb::bool_(item));
          return list;
        } else {
          return nb::cast(v);
        }
      },
      value);
}

PyType_Slot async_bridge_slots[] = {
    {Py_tp_traverse, reinterpret_cast<void*>(&AsyncBridge::traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(&AsyncBridge::clear)},
    {0, nullptr}};

}  // namespace

namespace {

/// An asyncio.Future method's name, made once (nanobind's attr("...") makes a new str on
/// every call, three per completion here). Never released, like the module's other statics.
PyObject* method_name(const char* name) {
  PyObject* interned = PyUnicode_InternFromString(name);
  if (!interned) throw nb::python_error();
  return interned;
}

nb::object call_method(nb::handle self, PyObject* name, nb::handle argument) {
  PyObject* result = argument ? PyObject_CallMethodOneArg(self.ptr(), name, argument.ptr())
                              : PyObject_CallMethodNoArgs(self.ptr(), name);
  if (!result) throw nb::python_error();
  return nb::steal(result);
}

}  // namespace

void AsyncBridge::drain() {
  static PyObject* const done = method_name("done");
  static PyObject* const set_result = method_name("set_result");
  static PyObject* const set_exception = method_name("set_exception");
  for (auto& completion : state_->take()) {
    auto found = futures_.find(completion.token);
    if (found == futures_.end()) continue;
    nb::object future = std::move(found->second);
    futures_.erase(found);
    try {
      if (nb::cast<bool>(call_method(future, done, nb::handle()))) continue;
      if (completion.error) {
        call_method(future, set_exception, python_exception(completion.error));
      } else {
        call_method(future, set_result, result_to_python(completion.value));
      }
    } catch (const nb::python_error&) {
      // The future's loop is closed or the future was resolved meanwhile: nobody waits.
    }
  }
  // What the operations logged on the I/O thread reaches Python's logger before the
  // awaiting coroutines resume.
  drain_log();
}

int AsyncBridge::traverse(PyObject* self, visitproc visit, void* arg) {
  Py_VISIT(Py_TYPE(self));
  if (!nb::inst_ready(self)) return 0;
  for (const auto& [token, future] : nb::inst_ptr<AsyncBridge>(self)->futures_) {
    Py_VISIT(future.ptr());
  }
  return 0;
}

int AsyncBridge::clear(PyObject* self) {
  std::unordered_map<std::uint64_t, nb::object> futures;
  futures.swap(nb::inst_ptr<AsyncBridge>(self)->futures_);
  return 0;  // the futures are released here, after the bridge no longer lists them
}

void register_async(nb::module_& m) {
  // Weakly referenceable: _aio finds a loop's bridge without keeping it alive (the loop's
  // reader registration owns it, so closing the loop frees it).
  nb::class_<AsyncBridge>(m, "AsyncBridge", nb::type_slots(async_bridge_slots),
                          nb::is_weak_referenceable())
      .def(nb::init<>())
      .def("fileno", &AsyncBridge::fileno)
      .def("drain", &AsyncBridge::drain);
}

}  // namespace llmcache_python
