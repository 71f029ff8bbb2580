#include <llmcache/client.hpp>
#include <llmcache/errors.hpp>

#include "client/error_replies.hpp"
#include "client/lifecycle.hpp"
#include "client/transport.hpp"
#include "protocol/meta_protocol.hpp"

#include <asio/post.hpp>

#include "common/wait_for.hpp"

namespace llmcache {
namespace {

using protocol::Reply;
using protocol::Status;

using detail::throw_if_error_reply;
using detail::throw_unexpected;

/// Adapts a typed callback to a reply handler: error replies and `map` exceptions
/// reach `done` as errors.
template <class T, class Map>
detail::ReplyHandler on_reply(Callback<T> done, Map map) {
  return [done = std::move(done), map = std::move(map)](std::exception_ptr error, Reply reply,
                                                        const ServerAddress* server) mutable {
    if (error) return done(error, T{});
    T value{};
    try {
      throw_if_error_reply(reply, *server);
      value = map(std::move(reply), *server);
    } catch (...) {
      return done(std::current_exception(), T{});
    }
    done(nullptr, std::move(value));
  };
}

/// Completes `callback` with `error` on the I/O thread, where callbacks always run.
template <class T>
void fail_later(const asio::any_io_executor& executor, Callback<T> callback,
                std::exception_ptr error) {
  asio::post(executor, [callback = std::move(callback), error] { callback(error, T{}); });
}

// pymemcache applies key_prefix to every key it sends (check_key_helper): refuse at
// construction a prefix that would make every key invalid, rather than fail each request.
void check_key_prefix(const std::string& prefix) {
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const auto c = static_cast<unsigned char>(prefix[i]);
    if (c <= 0x20 || c == 0x7f) {
      throw InvalidArgumentError("key_prefix has a space or control byte at offset " +
                                 std::to_string(i) + "; memcached keys cannot hold one");
    }
  }
  if (prefix.size() >= protocol::kMaxKeyBytes) {
    throw InvalidArgumentError("key_prefix is " + std::to_string(prefix.size()) +
                               " bytes; with a key it must fit memcached's " +
                               std::to_string(protocol::kMaxKeyBytes) + "-byte limit");
  }
}

// memcached speaks TLS on its TCP listeners only, and a certificate names a host, which a
// socket path is not: rather than connect in the clear to a caller who asked for TLS,
// refuse the combination when the client is made.
void check_tls_over_unix(const ServerAddress& server, const ClientOptions& options) {
  if (options.tls.enabled && server.is_unix()) {
    throw InvalidArgumentError("memcached " + server.name() +
                               ": TLS is not available over a Unix socket (memcached serves "
                               "TLS on TCP only); turn TLS off for this server or use TCP");
  }
}

// The options checks that need no I/O, run before the transport (and its thread) exists.
ServerAddress checked(ServerAddress server, const ClientOptions& options) {
  check_key_prefix(options.key_prefix);
  check_tls_over_unix(server, options);
  return server;
}

std::vector<ServerAddress> checked(std::vector<ServerAddress> servers,
                                   const ClientOptions& options) {
  check_key_prefix(options.key_prefix);
  for (const auto& server : servers) check_tls_over_unix(server, options);
  return servers;
}

/// True (and `callback` failed with ClosedError) when the call found the client closed.
template <class T>
bool refuse_if_closed(const detail::Lifecycle::Use& transport, Callback<T>& callback) {
  if (!transport.closed()) return false;
  fail_later(transport->executor(), std::move(callback), detail::closed_error());
  return true;
}

std::uint32_t seconds_count(std::chrono::seconds s) {
  if (s.count() < 0) throw InvalidArgumentError("a TTL or delay cannot be negative");
  return static_cast<std::uint32_t>(s.count());
}

/// Runs an operation and blocks until its callback fires. The transport is held while the
/// operation starts, not while it waits: the wait needs the I/O thread, and a destructor
/// running there waits for every hold to end. The callback fires before the transport
/// goes (the destructor lets the I/O thread run out of work first).
template <class T, class Start>
T wait_for(detail::Lifecycle& lifecycle, Start start) {
  return detail::wait_for<T>([&](auto callback) {
    auto transport = lifecycle.enter_open();
    if (transport->in_io_thread()) {
      throw InvalidArgumentError("blocking llmcache call from the client's own I/O thread");
    }
    start(std::move(callback));
  });
}

// Classic commands to one server, for operators; they carry no opaque, so the reply is
// paired by order alone.
template <class T, class Map>
void send_to_server(detail::Transport& transport, std::size_t server_index,
                    void (*append)(std::string&), const char* command, Callback<T> callback,
                    Map map) {
  const std::size_t count = transport.servers().size();
  if (server_index >= count) {
    return fail_later(transport.executor(), std::move(callback),
                      std::make_exception_ptr(InvalidArgumentError(
                          "server index " + std::to_string(server_index) + " out of range (" +
                          std::to_string(count) + " servers)")));
  }
  detail::Request request;
  append(request.bytes);
  request.on_reply =
      on_reply<T>(std::move(callback),
                  [map = std::move(map), command](Reply reply, const ServerAddress& server) -> T {
                    return map(std::move(reply), command, server);
                  });
  transport.send_to(server_index, std::move(request));
}

// ---------------------------------------------------------------- single-key operations
// Each is a prepare_* (validate, build the bytes) and a map_* (reply to result), shared by
// the async path (send_prepared) and the blocking one (round_trip).

struct Prepared {
  std::string bytes;
  std::uint32_t opaque = 0;
};

Prepared prepare_meta_get(detail::Transport& transport, std::string_view key,
                          const MetaGetOptions& options) {
  protocol::validate_key(key);
  auto seconds = [](const std::optional<std::chrono::seconds>& s) {
    return s ? std::optional<std::uint32_t>(seconds_count(*s)) : std::nullopt;
  };
  protocol::MetaGetFlags flags;
  flags.value = options.value;
  flags.cas = options.cas;
  flags.ttl = options.ttl;
  flags.vivify_ttl = seconds(options.vivify_ttl);
  flags.recache_ttl = seconds(options.recache_ttl);
  flags.touch_ttl = seconds(options.touch_ttl);
  Prepared prepared{{}, transport.next_opaque()};
  protocol::append_meta_get(prepared.bytes, key, flags, prepared.opaque);
  return prepared;
}

MetaGetResult map_meta_get(Reply reply, const ServerAddress& server) {
  MetaGetResult result;
  if (reply.status == Status::kValue || reply.status == Status::kHeaderOnly) {
    result.item = Item{std::move(reply.value), reply.client_flags.value_or(0), reply.cas};
  } else if (reply.status != Status::kMiss) {
    throw_unexpected(reply, "mg", server);
  }
  result.ttl = reply.ttl;
  result.won = reply.won;
  result.stale = reply.stale;
  result.already_won = reply.already_won;
  return result;
}

Prepared prepare_set(detail::Transport& transport, std::string_view key, std::string_view value,
                     const SetOptions& options) {
  protocol::validate_key(key);
  protocol::MetaSetFlags flags;
  flags.client_flags = options.flags;
  flags.cas = options.cas;
  flags.ttl = seconds_count(options.ttl);
  Prepared prepared{{}, transport.next_opaque()};
  protocol::append_meta_set(prepared.bytes, key, value, flags, prepared.opaque);
  return prepared;
}

// ---------------------------------------------------------------- item size limits
// A set whose value cannot fit the server's item limit is refused before it is sent,
// because memcached would refuse it only after dropping the previous value.

using detail::ItemLimits;

/// The server that would store `key`, by name; empty if none is available (the set
/// itself will then fail and say why).
std::string server_name_for(const detail::Transport& transport, std::string_view key) {
  try {
    return transport.server_for(key).name();
  } catch (const Error&) {
    return {};
  }
}

std::exception_ptr refused_before_sending(const std::string& server, std::size_t value_size,
                                          std::size_t limit) {
  return std::make_exception_ptr(ValueTooLargeError(
      "a value of " + std::to_string(value_size) + " bytes cannot fit the item size limit of " +
          std::to_string(limit) + " bytes of memcached " + server +
          " (-I); nothing was sent and the previous value under the key, if any, is kept",
      false, server));
}

bool is_too_large(const std::exception_ptr& error) {
  try {
    std::rethrow_exception(error);
  } catch (const ValueTooLargeError&) {
    return true;
  } catch (...) {
    return false;
  }
}

/// Blocking: learns the limit of `server` if needed, then throws if the item cannot fit.
void check_fits_blocking(detail::Transport& transport, const std::string& server,
                         std::string_view key, std::size_t value_size, std::size_t item_bytes) {
  auto& limits = *transport.item_limits;
  auto action = limits.decide(server, item_bytes, ItemLimits::Clock::now());
  if (action == ItemLimits::Action::kLearn) {
    std::optional<std::size_t> limit;
    try {
      std::string request;
      protocol::append_stats_settings(request);
      limit = ItemLimits::parse(transport.round_trip(key, request, std::nullopt).reply);
    } catch (const Error&) {
      // Unknown: send the value and let the server judge; the set reports its own failure.
    }
    const auto now = ItemLimits::Clock::now();
    limits.learn(server, limit, now);
    action = limits.decide(server, item_bytes, now);
  }
  if (action == ItemLimits::Action::kRefuse) {
    std::rethrow_exception(refused_before_sending(server, value_size, limits.limit(server)));
  }
}

StoreResult map_set(Reply reply, const ServerAddress& server) {
  switch (reply.status) {
    case Status::kHeaderOnly:
      return StoreResult::kStored;
    case Status::kNotStored:
      return StoreResult::kNotStored;
    case Status::kExists:
      return StoreResult::kExists;
    default:
      throw_unexpected(reply, "ms", server);
  }
}

Prepared prepare_del(detail::Transport& transport, std::string_view key, bool invalidate) {
  protocol::validate_key(key);
  protocol::MetaDeleteFlags flags;
  flags.invalidate = invalidate;
  Prepared prepared{{}, transport.next_opaque()};
  protocol::append_meta_delete(prepared.bytes, key, flags, prepared.opaque);
  return prepared;
}

bool map_del(Reply reply, const ServerAddress& server) {
  if (reply.status == Status::kHeaderOnly) return true;
  if (reply.status == Status::kNotFound) return false;
  throw_unexpected(reply, "md", server);
}

/// The async path: prepare(key) (a caller mistake fails through the callback), then send.
template <class T, class Prepare>
void send_prepared(detail::Transport& transport, std::string key, Callback<T> callback,
                   T (*map)(Reply, const ServerAddress&), Prepare prepare) {
  Prepared prepared;
  try {
    prepared = prepare(key);
  } catch (...) {
    return fail_later(transport.executor(), std::move(callback), std::current_exception());
  }
  detail::Request request{std::move(prepared.bytes), prepared.opaque,
                          on_reply<T>(std::move(callback), map)};
  std::vector<detail::RoutedRequest> routed;
  routed.push_back({std::move(key), std::move(request)});
  transport.send(std::move(routed));
}

/// The blocking path: one round trip on the calling thread.
template <class T>
T round_trip(detail::Transport& transport, std::string_view key,
             T (*map)(Reply, const ServerAddress&), const Prepared& prepared) {
  detail::Answer answer = transport.round_trip(key, prepared.bytes, prepared.opaque);
  throw_if_error_reply(answer.reply, answer.server);
  return map(std::move(answer.reply), answer.server);
}

}  // namespace

// Every call holds its transport (lifecycle_->enter()) while it works on it: that is what
// lets close() and the destructor run while other threads call, and a fork child swap in
// its own transport (client/lifecycle.hpp).

ClientBase::ClientBase(std::function<std::unique_ptr<detail::Transport>()> make_transport,
                       std::string key_prefix)
    : lifecycle_(std::make_unique<detail::Lifecycle>(std::move(make_transport))),
      key_prefix_(std::move(key_prefix)) {}

std::string ClientBase::wire_key(std::string_view key) const {
  std::string wire;
  wire.reserve(key_prefix_.size() + key.size());
  return wire.append(key_prefix_).append(key);
}

ClientBase::~ClientBase() = default;

void ClientBase::close() {
  lifecycle_->close();
}

asio::any_io_executor ClientBase::executor() const {
  return lifecycle_->current().executor();
}

std::vector<ServerAddress> ClientBase::servers() const {
  return lifecycle_->enter()->servers();
}

bool ClientBase::on_io_thread() const {
  return lifecycle_->current().in_io_thread();
}

ServerAddress ClientBase::server_for(std::string_view key) const {
  return lifecycle_->enter()->server_for(key);
}

// ---------------------------------------------------------------- callback core

void ClientBase::start_get(std::string key, Callback<std::optional<Item>> callback) {
  MetaGetOptions options;
  start_meta_get(std::move(key), options,
                 [callback = std::move(callback)](std::exception_ptr error, MetaGetResult r) {
                   callback(error, std::move(r.item));
                 });
}

void ClientBase::start_meta_get(std::string key, const MetaGetOptions& options,
                                Callback<MetaGetResult> callback) {
  auto transport = lifecycle_->enter();
  if (refuse_if_closed(transport, callback)) return;
  send_prepared(
      *transport, std::move(key), std::move(callback), map_meta_get,
      [&](std::string_view k) { return prepare_meta_get(*transport, wire_key(k), options); });
}

void ClientBase::start_get_many(std::vector<std::string> keys,
                                Callback<std::vector<std::optional<Item>>> callback) {
  using Results = std::vector<std::optional<Item>>;
  auto transport = lifecycle_->enter();
  if (refuse_if_closed(transport, callback)) return;
  try {
    for (const auto& key : keys) protocol::validate_key(wire_key(key));
  } catch (...) {
    return fail_later(transport->executor(), std::move(callback), std::current_exception());
  }
  if (keys.empty()) {
    asio::post(transport->executor(), [callback = std::move(callback)] { callback(nullptr, {}); });
    return;
  }
  // Every reply callback runs on the I/O thread, so the join needs no lock.
  struct Join {
    Results results;
    std::size_t remaining;
    std::exception_ptr error;
    Callback<Results> done;
  };
  auto join =
      std::make_shared<Join>(Join{Results(keys.size()), keys.size(), nullptr, std::move(callback)});
  std::vector<detail::RoutedRequest> routed;
  routed.reserve(keys.size());
  protocol::MetaGetFlags flags;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    detail::Request request;
    request.opaque = transport->next_opaque();
    protocol::append_meta_get(request.bytes, wire_key(keys[i]), flags, *request.opaque);
    request.on_reply = [join, i](std::exception_ptr error, Reply reply,
                                 const ServerAddress* server) {
      if (!error) {
        try {
          throw_if_error_reply(reply, *server);
          if (reply.status == Status::kValue) {
            join->results[i] = Item{std::move(reply.value), reply.client_flags.value_or(0), {}};
          } else if (reply.status != Status::kMiss) {
            throw_unexpected(reply, "mg", *server);
          }
        } catch (...) {
          error = std::current_exception();
        }
      }
      if (error && !join->error) join->error = error;
      if (--join->remaining == 0) {
        if (join->error) {
          join->done(join->error, {});
        } else {
          join->done(nullptr, std::move(join->results));
        }
      }
    };
    routed.push_back({std::move(keys[i]), std::move(request)});
  }
  transport->send(std::move(routed));
}

void ClientBase::start_set(std::string key, std::string value, const SetOptions& options,
                           Callback<StoreResult> callback) {
  auto use = lifecycle_->enter();
  if (refuse_if_closed(use, callback)) return;
  // Callbacks below use the transport after this call returns: they run on its I/O thread,
  // which the transport outlives.
  auto* transport = use.get();
  const std::string server = server_name_for(*transport, key);
  if (server.empty()) {
    return send_prepared(
        *transport, std::move(key), std::move(callback), map_set,
        [&](std::string_view k) { return prepare_set(*transport, wire_key(k), value, options); });
  }
  std::string wire = wire_key(key);
  try {
    protocol::validate_key(wire);  // before a stats request goes out on its behalf
  } catch (...) {
    return fail_later(transport->executor(), std::move(callback), std::current_exception());
  }
  const auto limits = transport->item_limits;
  const std::size_t item_bytes = ItemLimits::item_bytes(wire.size(), value.size(), options.flags);
  std::string routing_key = key;  // the limit is asked of the server that will get the set
  // The set itself: refused here if the known limit says it cannot fit; a refusal by the
  // server makes us learn the limit again.
  auto proceed = [transport, limits, server, item_bytes, key = std::move(key),
                  wire = std::move(wire), value = std::move(value), options,
                  callback = std::move(callback)](std::exception_ptr closed) mutable {
    if (closed) return callback(closed, StoreResult{});
    if (limits->decide(server, item_bytes, ItemLimits::Clock::now()) ==
        ItemLimits::Action::kRefuse) {
      return fail_later(transport->executor(), std::move(callback),
                        refused_before_sending(server, value.size(), limits->limit(server)));
    }
    Callback<StoreResult> done = [limits, server, callback = std::move(callback)](
                                     std::exception_ptr error, StoreResult result) {
      if (error && is_too_large(error)) limits->forget(server);
      callback(error, result);
    };
    send_prepared(*transport, std::move(key), std::move(done), map_set,
                  [&](std::string_view) { return prepare_set(*transport, wire, value, options); });
  };
  if (limits->decide(server, item_bytes, ItemLimits::Clock::now()) != ItemLimits::Action::kLearn) {
    return proceed(nullptr);
  }
  detail::Request request;
  protocol::append_stats_settings(request.bytes);
  request.on_reply = [limits, server, proceed = std::move(proceed)](
                         std::exception_ptr error, Reply reply, const ServerAddress*) mutable {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const ClosedError&) {
        return proceed(error);  // the client is closing: the set could not go out either
      } catch (...) {
      }
    }
    limits->learn(server, error ? std::nullopt : ItemLimits::parse(reply),
                  ItemLimits::Clock::now());
    proceed(nullptr);
  };
  std::vector<detail::RoutedRequest> routed;
  routed.push_back({std::move(routing_key), std::move(request)});
  transport->send(std::move(routed));
}

void ClientBase::start_del(std::string key, bool invalidate, Callback<bool> callback) {
  auto transport = lifecycle_->enter();
  if (refuse_if_closed(transport, callback)) return;
  send_prepared(*transport, std::move(key), std::move(callback), map_del, [&](std::string_view k) {
    return prepare_del(*transport, wire_key(k), invalidate);
  });
}

void ClientBase::start_flush_all(std::chrono::seconds delay, bool noreply,
                                 Callback<std::size_t> callback) {
  auto transport = lifecycle_->enter();
  if (refuse_if_closed(transport, callback)) return;
  std::uint32_t delay_seconds = 0;
  try {
    delay_seconds = seconds_count(delay);
  } catch (...) {
    return fail_later(transport->executor(), std::move(callback), std::current_exception());
  }
  const auto servers = transport->servers();
  struct Join {
    std::size_t remaining;
    std::size_t flushed = 0;
    std::size_t failed = 0;
    std::string failures;
    std::exception_ptr first_error;
    Callback<std::size_t> done;
  };
  auto join = std::make_shared<Join>(Join{servers.size(), 0, 0, {}, nullptr, nullptr});
  if (noreply) {
    // The command is still sent with a reply (so an error cannot desynchronise the
    // stream); the caller just does not wait for it.
    asio::post(transport->executor(),
               [callback = std::move(callback), n = servers.size()] { callback(nullptr, n); });
  } else {
    join->done = std::move(callback);
  }
  for (std::size_t i = 0; i < servers.size(); ++i) {
    detail::Request request;
    protocol::append_flush_all(request.bytes, delay_seconds);
    request.on_reply = [join, name = servers[i].name()](std::exception_ptr error, Reply reply,
                                                        const ServerAddress* server) {
      if (!error) {
        try {
          throw_if_error_reply(reply, *server);
          if (reply.status != Status::kOk) throw_unexpected(reply, "flush_all", *server);
        } catch (...) {
          error = std::current_exception();
        }
      }
      if (error) {
        if (!join->first_error) join->first_error = error;
        ++join->failed;
        try {
          std::rethrow_exception(error);
        } catch (const std::exception& e) {
          join->failures += (join->failures.empty() ? "" : "; ") + name + ": " + e.what();
        }
      } else {
        ++join->flushed;
      }
      if (--join->remaining > 0 || !join->done) return;
      if (join->failures.empty()) return join->done(nullptr, join->flushed);
      // Keep the class and reason of the first failure (timeout, I/O...) but name every
      // server in the message; the details name a server when it alone failed.
      ErrorDetails details;
      bool io = false;
      try {
        std::rethrow_exception(join->first_error);
      } catch (const IoError& e) {
        io = true;
        details = e.details();
      } catch (const Error& e) {
        details = e.details();
      } catch (...) {
      }
      if (join->failed > 1) details.server.clear();
      const std::string what = "flush_all failed on " + join->failures;
      join->done(io ? std::make_exception_ptr(IoError(what, std::move(details)))
                    : std::make_exception_ptr(ServerError(what, std::move(details))),
                 0);
    };
    transport->send_to(i, std::move(request));
  }
}

void ClientBase::start_version(std::size_t server_index, Callback<std::string> callback) {
  auto transport = lifecycle_->enter();
  if (refuse_if_closed(transport, callback)) return;
  send_to_server<std::string>(*transport, server_index, protocol::append_version, "version",
                              std::move(callback),
                              [](Reply reply, const char* command, const ServerAddress& server) {
                                if (reply.status != Status::kVersion) {
                                  throw_unexpected(reply, command, server);
                                }
                                return std::move(reply.message);
                              });
}

void ClientBase::start_server_stats(std::size_t server_index, Callback<ServerStats> callback) {
  auto transport = lifecycle_->enter();
  if (refuse_if_closed(transport, callback)) return;
  send_to_server<ServerStats>(*transport, server_index, protocol::append_stats, "stats",
                              std::move(callback),
                              [](Reply reply, const char* command, const ServerAddress& server) {
                                if (reply.status == Status::kEnd) return ServerStats{};
                                if (reply.status != Status::kStats) {
                                  throw_unexpected(reply, command, server);
                                }
                                return std::move(reply.stats);
                              });
}

void ClientBase::start_metadump(std::size_t server_index,
                                Callback<std::vector<MetadumpEntry>> callback) {
  using Entries = std::vector<MetadumpEntry>;
  auto transport = lifecycle_->enter();
  if (refuse_if_closed(transport, callback)) return;
  send_to_server<Entries>(
      *transport, server_index, protocol::append_metadump_all, "lru_crawler metadump",
      std::move(callback), [](Reply reply, const char* command, const ServerAddress& server) {
        if (reply.status == Status::kEnd) return Entries{};
        if (reply.status != Status::kMetadump) throw_unexpected(reply, command, server);
        Entries entries;
        entries.reserve(reply.metadump.size());
        for (auto& e : reply.metadump) {
          entries.push_back(MetadumpEntry{std::move(e.key), e.exptime, e.last_access, e.cas,
                                          e.fetched, e.slab_class, e.size});
        }
        return entries;
      });
}

// ---------------------------------------------------------------- blocking

std::string ClientBase::version(std::size_t server_index) {
  return wait_for<std::string>(
      *lifecycle_, [&](auto callback) { start_version(server_index, std::move(callback)); });
}

ServerStats ClientBase::server_stats(std::size_t server_index) {
  return wait_for<ServerStats>(
      *lifecycle_, [&](auto callback) { start_server_stats(server_index, std::move(callback)); });
}

std::vector<MetadumpEntry> ClientBase::metadump(std::size_t server_index) {
  return wait_for<std::vector<MetadumpEntry>>(
      *lifecycle_, [&](auto callback) { start_metadump(server_index, std::move(callback)); });
}

std::optional<Item> ClientBase::get(std::string_view key) {
  return meta_get(key, MetaGetOptions{}).item;
}

std::vector<std::optional<Item>> ClientBase::get_many(std::span<const std::string> keys) {
  return wait_for<std::vector<std::optional<Item>>>(*lifecycle_, [&](auto callback) {
    start_get_many(std::vector<std::string>(keys.begin(), keys.end()), std::move(callback));
  });
}

// The blocking calls below do their round trip on the calling thread (the fast path in
// net/blocking_connection.hpp); requests and replies are the same as the async ones.

StoreResult ClientBase::set(std::string_view key, std::string_view value,
                            const SetOptions& options) {
  auto transport = lifecycle_->enter_open();
  const std::string wire = wire_key(key);
  Prepared prepared = prepare_set(*transport, wire, value, options);
  const std::string server = server_name_for(*transport, key);
  if (server.empty()) return round_trip(*transport, key, map_set, prepared);
  check_fits_blocking(*transport, server, key, value.size(),
                      ItemLimits::item_bytes(wire.size(), value.size(), options.flags));
  try {
    return round_trip(*transport, key, map_set, prepared);
  } catch (const ValueTooLargeError&) {
    transport->item_limits->forget(server);
    throw;
  }
}

bool ClientBase::del(std::string_view key) {
  auto transport = lifecycle_->enter_open();
  return round_trip(*transport, key, map_del, prepare_del(*transport, wire_key(key), false));
}

bool ClientBase::invalidate(std::string_view key) {
  auto transport = lifecycle_->enter_open();
  return round_trip(*transport, key, map_del, prepare_del(*transport, wire_key(key), true));
}

MetaGetResult ClientBase::meta_get(std::string_view key, const MetaGetOptions& options) {
  auto transport = lifecycle_->enter_open();
  return round_trip(*transport, key, map_meta_get,
                    prepare_meta_get(*transport, wire_key(key), options));
}

std::size_t ClientBase::flush_all(std::chrono::seconds delay, bool noreply) {
  return wait_for<std::size_t>(
      *lifecycle_, [&](auto callback) { start_flush_all(delay, noreply, std::move(callback)); });
}

// ---------------------------------------------------------------- the two clients

Client::Client(ServerAddress server, ClientOptions options)
    : ClientBase([server = checked(std::move(server), options),
                  options] { return detail::make_single_server_transport(server, options); },
                 options.key_prefix) {}

Client::Client(std::string_view server, ClientOptions options)
    : Client(parse_server(server), options) {}

HashClient::HashClient(std::vector<ServerAddress> servers, HashClientOptions options)
    : ClientBase([servers = checked(std::move(servers), options.client),
                  options] { return detail::make_hash_transport(servers, options); },
                 options.client.key_prefix) {}

HashClient::HashClient(std::string_view servers, HashClientOptions options)
    : HashClient(parse_servers(servers), options) {}

}  // namespace llmcache
