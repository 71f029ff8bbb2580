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

struct ErrorType {
  const char* name;
  int base;  // index of the Python base in the table; -1: Exception
  bool (*matches)(const std::exception&);
  const char* reason;        // the class's default `reason`: the C++ type's default
  PyObject* type = nullptr;  // made at import, kept for the process's life (a module attribute)
};

// Bases before their subclasses: lookups walk it backwards, so the most derived type wins.
std::array<ErrorType, 9> error_types{{
    {"Error", -1, is<llmcache::Error>, "unspecified"},
    {"IoError", 0, is<llmcache::IoError>, "unspecified"},
    {"TimeoutError", 1, is<llmcache::TimeoutError>, "timed_out"},
    {"ClosedError", 1, is<llmcache::ClosedError>, "closed_by_client"},
    {"ProtocolError", 0, is<llmcache::ProtocolError>, "unspecified"},
    {"ServerError", 0, is<llmcache::ServerError>, "unspecified"},
    {"ValueTooLargeError", 5, is<llmcache::ValueTooLargeError>, "too_large"},
    {"DecodeError", 0, is<llmcache::DecodeError>, "unspecified"},
    {"InvalidArgumentError", 0, is<llmcache::InvalidArgumentError>, "unspecified"},
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
    exception.attr("server") = nb::str(ours->server().data(), ours->server().size());
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
    } else if (entry.matches == is<llmcache::TimeoutError>) {
      // Also the builtin TimeoutError, so that `except TimeoutError` and asyncio's timeout
      // handling catch ours as they catch others'.
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
    // subclass such as UnwritableValueError); ours set them on the instance.
    nb::handle type(entry.type);
    if (entry.base < 0 || std::string_view(entry.reason) != error_types[entry.base].reason) {
      type.attr("reason") = nb::str(entry.reason);
    }
    if (entry.base < 0) type.attr("server") = nb::str("");
    if (entry.matches == is<llmcache::ValueTooLargeError>) type.attr("reached_server") = true;
    m.attr(entry.name) = type;
  }

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
