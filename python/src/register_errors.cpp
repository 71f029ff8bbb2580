// The one exception table: each llmcache error type, its Python name and base, in one list.
// Raising (the translator for blocking calls) and resolving futures (AsyncBridge) both build
// the Python exception from it, with the typed details as attributes, so no Python code
// has to read message text.
#include "binding.hpp"

#include <array>

namespace llmcache_python {
namespace {

template <class E>
bool is(const std::exception& error) {
  return dynamic_cast<const E*>(&error) != nullptr;
}

/// The reason a C++ error of type E has unless its throw site says otherwise.
template <class E>
std::string_view default_reason() {
  return llmcache::to_string(E("").reason());
}

struct ErrorType {
  const char* name;
  int base;  // index of the Python base in the table; -1: Exception
  bool (*matches)(const std::exception&);
  std::string_view (*reason)();
  // Also a subclass of the builtin TimeoutError, so that `except TimeoutError` and
  // asyncio's timeout handling catch ours as they catch others'.
  bool builtin_timeout = false;
  PyObject* type = nullptr;  // made at import, kept for the process's life (a module attribute)
};

template <class E>
ErrorType error_type(const char* name, int base, bool builtin_timeout = false) {
  return {name, base, is<E>, default_reason<E>, builtin_timeout};
}

// Bases before their subclasses: lookups walk it backwards, so the most derived type wins.
std::array<ErrorType, 9> error_types{{
    error_type<llmcache::Error>("Error", -1),
    error_type<llmcache::IoError>("IoError", 0),
    error_type<llmcache::TimeoutError>("TimeoutError", 1, true),
    error_type<llmcache::ClosedError>("ClosedError", 1),
    error_type<llmcache::ProtocolError>("ProtocolError", 0),
    error_type<llmcache::ServerError>("ServerError", 0),
    error_type<llmcache::ValueTooLargeError>("ValueTooLargeError", 5),
    error_type<llmcache::DecodeError>("DecodeError", 0),
    error_type<llmcache::InvalidArgumentError>("InvalidArgumentError", 0),
}};

/// The table's entry for `error`; Error for a std::exception that is no llmcache::Error.
const ErrorType& entry_for(const std::exception& error) {
  for (auto it = error_types.rbegin(); it != error_types.rend(); ++it) {
    if (it->matches(error)) return *it;
  }
  return error_types.front();
}

nb::object make_exception(const std::exception& error) {
  const ErrorType& entry = entry_for(error);
  nb::object exception = nb::handle(entry.type)(nb::str(error.what()));
  if (const auto* ours = dynamic_cast<const llmcache::Error*>(&error)) {
    const std::string_view reason = llmcache::to_string(ours->reason());
    exception.attr("reason") = nb::str(reason.data(), reason.size());
    const std::string server = ours->server();
    exception.attr("server") = nb::str(server.data(), server.size());
    if (const auto* too_large = dynamic_cast<const llmcache::ValueTooLargeError*>(&error)) {
      exception.attr("reached_server") = nb::bool_(too_large->reached_server());
    }
  }
  return exception;
}

}  // namespace

nb::object python_exception(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return make_exception(e);
  } catch (...) {
    return nb::handle(error_types.front().type)(nb::str("unknown error"));
  }
}

void register_errors(nb::module_& m) {
  for (auto& entry : error_types) {
    nb::object bases;
    if (entry.base < 0) {
      bases = nb::borrow(PyExc_Exception);
    } else if (entry.builtin_timeout) {
      bases =
          nb::make_tuple(nb::handle(error_types[entry.base].type), nb::handle(PyExc_TimeoutError));
    } else {
      bases = nb::borrow(error_types[entry.base].type);
    }
    const std::string qualified =
        std::string(nb::borrow<nb::str>(m.attr("__name__")).c_str()) + "." + entry.name;
    entry.type = PyErr_NewException(qualified.c_str(), bases.ptr(), nullptr);
    if (!entry.type) throw nb::python_error();
    // The class attributes are the details of an exception raised from Python code (a
    // subclass such as UnwritableValueError): the C++ type's defaults. Ours set them on
    // the instance.
    nb::handle type(entry.type);
    const std::string_view reason = entry.reason();
    if (entry.base < 0 || reason != error_types[entry.base].reason()) {
      type.attr("reason") = nb::str(reason.data(), reason.size());
    }
    if (entry.base < 0) type.attr("server") = nb::str("");
    m.attr(entry.name) = type;
  }
  const llmcache::ValueTooLargeError too_large("");
  nb::handle(entry_for(too_large).type).attr("reached_server") =
      nb::bool_(too_large.reached_server());

  nb::register_exception_translator([](const std::exception_ptr& error, void*) {
    try {
      std::rethrow_exception(error);
    } catch (const llmcache::Error& e) {
      nb::object exception = make_exception(e);
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exception.ptr())), exception.ptr());
    }
    // Anything else goes on to nanobind's own translators (MemoryError, ValueError...).
  });
}

}  // namespace llmcache_python
