// The clients: ClientCore (a Client or a HashClient, by `hashed`), its settings, and the
// TLS and auth option structs. langchain_memcached._client fills the settings from
// keywords and wraps ClientCore in Client and HashClient.
#include "binding.hpp"

#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

namespace llmcache_python {

using namespace nb::literals;
using llmcache::ClientBase;

namespace {

std::chrono::milliseconds millis(double seconds, const char* what) {
  if (!(seconds > 0)) {
    throw llmcache::InvalidArgumentError(std::string(what) +
                                         " must be a positive number of seconds");
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(seconds * 1000.0 + 0.5));
}

/// A spin limit: 0 (never spin) up to a second (beyond that it is no longer a spin, and
/// the cast below would overflow).
std::chrono::microseconds micros(double seconds, const char* what) {
  if (!(seconds >= 0 && seconds <= 1)) {
    throw llmcache::InvalidArgumentError(std::string(what) + " must be between 0 and 1 second");
  }
  return std::chrono::microseconds(static_cast<std::int64_t>(seconds * 1e6 + 0.5));
}

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

PyClient::PyClient(const std::vector<std::string>& servers, bool hashed,
                   const ClientSettings& settings) {
  llmcache::HashClientOptions options;
  options.client.key_prefix = settings.key_prefix;
  options.client.tls = settings.tls;
  options.client.credentials = settings.credentials;
  options.client.protocol = llmcache::parse_protocol(settings.protocol);
  options.client.connect_timeout = millis(settings.connect_timeout, "connect_timeout");
  options.client.request_timeout = millis(settings.timeout, "timeout");
  options.client.connections = settings.connections;
  options.client.max_value_bytes = settings.max_value_bytes;
  options.client.item_size_max = settings.item_size_max;
  options.client.blocking_spin = micros(settings.blocking_spin, "blocking_spin");
  options.retry_attempts = settings.retry_attempts;
  options.retry_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(settings.retry_timeout * 1000));
  options.dead_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(settings.dead_timeout * 1000));
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

void register_client(nb::module_& m) {
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
  // Named fields rather than a dozen positional arguments: a setting a client does not use
  // (a Client's failure rules) keeps its default instead of a placeholder value.
  nb::class_<ClientSettings>(m, "ClientSettings")
      .def(nb::init<>())
      .def_rw("connect_timeout", &ClientSettings::connect_timeout)
      .def_rw("timeout", &ClientSettings::timeout)
      .def_rw("connections", &ClientSettings::connections)
      .def_rw("max_value_bytes", &ClientSettings::max_value_bytes)
      .def_rw("item_size_max", &ClientSettings::item_size_max)
      .def_rw("blocking_spin", &ClientSettings::blocking_spin)
      .def_rw("retry_attempts", &ClientSettings::retry_attempts)
      .def_rw("retry_timeout", &ClientSettings::retry_timeout)
      .def_rw("dead_timeout", &ClientSettings::dead_timeout)
      .def_rw("tls", &ClientSettings::tls)
      .def_rw("credentials", &ClientSettings::credentials)
      .def_rw("key_prefix", &ClientSettings::key_prefix)
      .def_rw("protocol", &ClientSettings::protocol);

  nb::class_<PyClient>(m, "ClientCore")
      .def(nb::init<const std::vector<std::string>&, bool, const ClientSettings&>(), "servers"_a,
           "hashed"_a, "settings"_a)
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
}

}  // namespace llmcache_python
