// Operator commands: flush_all on every server; version, stats and lru_crawler metadump on
// one. Classic commands, which carry no opaque: each reply is paired by order alone. Each
// server is judged by its own protocol (an auto HashClient's servers may differ).
#include <llmcache/client.hpp>

#include "client/fan_out.hpp"
#include "client/lifecycle.hpp"
#include "client/operation.hpp"

#include <cstdio>
#include <functional>
#include <random>

namespace llmcache {
namespace {

using protocol::Reply;
using protocol::Status;

/// In classic mode a connection closed on an operator command is a proxy that does not
/// know it (twemproxy hangs up on flush_all and stats), not a failing server: that becomes
/// ServerError kNotUnderstood naming the server and the command. Other errors pass.
std::exception_ptr not_routed(std::exception_ptr error, bool classic, const char* command,
                              const std::string& server) {
  if (!classic) return error;
  try {
    std::rethrow_exception(error);
  } catch (const IoError& e) {
    if (e.reason() != ErrorReason::kClosedByServer) return error;
  } catch (...) {
    return error;
  }
  return std::make_exception_ptr(ServerError(
      server + " closed the connection instead of answering " + command +
          ": it speaks the classic protocol without that command (a proxy such as twemproxy)"
          "; clear a cache namespace instead (namespaced clear works through proxies), or run "
          "it against each memcached behind the proxy directly",
      {ErrorReason::kNotUnderstood, server}));
}

template <class T, class Map>
void send_to_server(detail::Transport& transport, std::size_t server_index,
                    void (*append)(std::string&), const char* command, Callback<T> callback,
                    Map map) {
  const std::size_t count = transport.servers().size();
  if (server_index >= count) {
    return detail::fail_later(transport.executor(), std::move(callback),
                              std::make_exception_ptr(InvalidArgumentError(
                                  "server index " + std::to_string(server_index) +
                                  " out of range (" + std::to_string(count) + " servers)")));
  }
  const auto wire = transport.known_server_wire(server_index);
  if (!wire) {
    return detail::after_server_probe(transport, server_index, std::move(callback),
                                      [&transport, server_index, append, command,
                                       map = std::move(map)](Callback<T> callback) mutable {
                                        send_to_server(transport, server_index, append, command,
                                                       std::move(callback), std::move(map));
                                      });
  }
  const bool classic = *wire == protocol::Wire::kClassic;
  detail::Request request;
  append(request.bytes);
  Callback<T> done = [callback = std::move(callback), classic, command,
                      name = transport.servers()[server_index].name()](std::exception_ptr error,
                                                                       T result) {
    callback(error ? not_routed(error, classic, command, name) : nullptr, std::move(result));
  };
  request.on_reply = detail::on_reply<T>(
      std::move(done),
      [map = std::move(map), command](Reply reply, const ServerAddress& server) -> T {
        return map(std::move(reply), command, server);
      });
  transport.send_to(server_index, std::move(request));
}

// ------------------------------------------------------------------ flush_all, checked
// A proxy may answer flush_all itself instead of passing it on: memcached's built-in proxy
// (1.6.23+) routes mg/ms/md to its backends but answers flush_all from its own local store
// with OK, so a clear() would report success and flush nothing. Checked by what a flush
// does, whatever answers it: a sentinel entry written through the server just before a
// flush_all (no delay) must be gone just after. A delayed flush_all cannot be checked so
// (the entries go later), nor one nobody waits for (noreply).

/// Long enough to outlast the check by far; short, so that a sentinel left behind (the
/// client closed mid-check) goes soon.
constexpr std::uint32_t kSentinelTtlSeconds = 30;

std::string sentinel_key() {
  std::random_device random;
  char hex[17];
  std::snprintf(hex, sizeof hex, "%08x%08x", random(), random());
  return std::string("llmcache-flush-check-") + hex;
}

/// One server's flush_all, with its check; shared by the steps' reply handlers, which run
/// in turn on the I/O thread (each step is sent when the previous one is answered, so the
/// steps cannot overtake each other on different connections).
struct ServerFlush {
  detail::Transport* transport;  // outlives the handlers: they run on its I/O thread
  std::size_t index;
  protocol::Wire wire;
  std::uint32_t delay_seconds;
  std::string name;
  std::string sentinel;  // empty: unchecked (a delay, nobody waiting, or not stored)
  std::function<void(std::exception_ptr)> done;

  bool classic() const { return wire == protocol::Wire::kClassic; }

  void send(detail::Request request,
            std::function<void(std::exception_ptr, Reply, const ServerAddress*)> then) {
    request.on_reply = std::move(then);
    transport->send_to(index, std::move(request));
  }

  detail::Request sentinel_set() const {
    detail::Request request;
    if (classic()) {
      protocol::append_classic_store(request.bytes, protocol::ClassicStore::kSet, sentinel, "1", 0,
                                     kSentinelTtlSeconds);
      request.accepts =
          protocol::accepts({Status::kHeaderOnly, Status::kNotStored, Status::kExists});
    } else {
      protocol::MetaSetFlags flags;
      flags.ttl = kSentinelTtlSeconds;
      request.opaque = transport->next_opaque();
      protocol::append_meta_set(request.bytes, sentinel, "1", flags, *request.opaque);
    }
    return request;
  }
  detail::Request sentinel_get() const {
    detail::Request request;
    if (classic()) {
      const std::string_view keys[] = {sentinel};
      protocol::append_classic_get(request.bytes, keys);
      request.accepts = protocol::accepts({Status::kValue, Status::kEnd});
    } else {
      request.opaque = transport->next_opaque();
      protocol::append_meta_get(request.bytes, sentinel, protocol::MetaGetFlags{}, *request.opaque);
    }
    return request;
  }
  detail::Request sentinel_delete() const {
    detail::Request request;
    if (classic()) {
      protocol::append_classic_delete(request.bytes, sentinel);
      request.accepts = protocol::accepts({Status::kHeaderOnly, Status::kNotFound});
    } else {
      request.opaque = transport->next_opaque();
      protocol::append_meta_delete(request.bytes, sentinel, {}, *request.opaque);
    }
    return request;
  }
};

/// Removes the sentinel (its outcome does not matter: it expires anyway), then reports.
void finish_flush(std::shared_ptr<ServerFlush> flush, std::exception_ptr outcome) {
  if (flush->sentinel.empty()) return flush->done(outcome);
  flush->send(
      flush->sentinel_delete(),
      [flush, outcome](std::exception_ptr, Reply, const ServerAddress*) { flush->done(outcome); });
}

std::exception_ptr flush_not_routed(const std::string& server) {
  return std::make_exception_ptr(ServerError(
      server + " answered flush_all with OK but flushed nothing (an entry written through it "
               "just before was still there after): a proxy that answers flush_all itself "
               "instead of passing it on, such as memcached's built-in proxy. Clear a cache "
               "namespace instead (MemcachedCache(namespace=...).clear(), which works through "
               "proxies), or run flush_all against each memcached behind the proxy directly",
      {ErrorReason::kFlushNotRouted, server}));
}

/// After an OK: the sentinel must be gone. A read that fails leaves the flush unchecked,
/// as the server said OK.
void check_flushed(std::shared_ptr<ServerFlush> flush) {
  flush->send(flush->sentinel_get(),
              [flush](std::exception_ptr error, Reply reply, const ServerAddress*) {
                if (error || reply.status != Status::kValue) {
                  flush->sentinel.clear();  // gone, or unknown: nothing to remove
                  return flush->done(nullptr);
                }
                finish_flush(flush, flush_not_routed(flush->name));
              });
}

void flush_server(std::shared_ptr<ServerFlush> flush) {
  detail::Request request;
  protocol::append_flush_all(request.bytes, flush->delay_seconds);
  flush->send(std::move(request), [flush](std::exception_ptr error, Reply reply,
                                          const ServerAddress* server) {
    if (error) {
      return finish_flush(flush, not_routed(error, flush->classic(), "flush_all", flush->name));
    }
    try {
      detail::throw_if_error_reply(reply, *server);
      if (reply.status != Status::kOk) detail::throw_unexpected(reply, "flush_all", *server);
    } catch (...) {
      return finish_flush(flush, std::current_exception());
    }
    if (flush->sentinel.empty()) return flush->done(nullptr);
    check_flushed(flush);
  });
}

/// Server `index`'s flush_all, in its protocol; checked unless `check` is false.
void start_server_flush(detail::Transport& transport, std::size_t index, protocol::Wire wire,
                        std::uint32_t delay_seconds, bool check,
                        std::function<void(std::exception_ptr)> done) {
  auto flush = std::make_shared<ServerFlush>(ServerFlush{&transport,
                                                         index,
                                                         wire,
                                                         delay_seconds,
                                                         transport.servers()[index].name(),
                                                         {},
                                                         std::move(done)});
  if (!check) return flush_server(flush);
  flush->sentinel = sentinel_key();
  flush->send(flush->sentinel_set(),
              [flush](std::exception_ptr error, Reply reply, const ServerAddress*) {
                // Not stored (the server refuses writes, or is unreachable: the flush will
                // say so itself): flushed unchecked.
                if (error || reply.status != Status::kHeaderOnly) flush->sentinel.clear();
                flush_server(flush);
              });
}

/// flush_all on every server, each in its own protocol (probed first, on the I/O thread,
/// where undecided).
void send_flush_all(detail::Transport& transport, std::uint32_t delay_seconds, bool noreply,
                    Callback<std::size_t> callback) {
  const auto servers = transport.servers();
  if (noreply) {
    // The command is still sent with a reply (so an error cannot desynchronise the
    // stream); the caller just does not wait for it.
    asio::post(transport.executor(),
               [callback = std::move(callback), n = servers.size()] { callback(nullptr, n); });
    callback = nullptr;
  }
  const bool check = delay_seconds == 0 && !noreply;
  auto join = std::make_shared<detail::FlushJoin>(servers.size(), std::move(callback));
  asio::post(transport.executor(), [&transport, servers, delay_seconds, check, join] {
    for (std::size_t i = 0; i < servers.size(); ++i) {
      auto done = [join, name = servers[i].name()](std::exception_ptr error) {
        join->arrive(name, error);
      };
      protocol::Wire wire;
      try {
        wire = transport.server_wire(i);
      } catch (...) {
        done(std::current_exception());
        continue;
      }
      start_server_flush(transport, i, wire, delay_seconds, check, std::move(done));
    }
  });
}

}  // namespace

void ClientBase::start_flush_all(std::chrono::seconds delay, bool noreply,
                                 Callback<std::size_t> callback) {
  auto transport = lifecycle_->enter();
  if (detail::refuse_if_closed(transport, callback)) return;
  std::uint32_t delay_seconds = 0;
  try {
    delay_seconds = detail::seconds_count(delay);
  } catch (...) {
    return detail::fail_later(transport->executor(), std::move(callback), std::current_exception());
  }
  send_flush_all(*transport, delay_seconds, noreply, std::move(callback));
}

void ClientBase::start_version(std::size_t server_index, Callback<std::string> callback) {
  auto transport = lifecycle_->enter();
  if (detail::refuse_if_closed(transport, callback)) return;
  send_to_server<std::string>(*transport, server_index, protocol::append_version, "version",
                              std::move(callback),
                              [](Reply reply, const char* command, const ServerAddress& server) {
                                if (reply.status != Status::kVersion)
                                  detail::throw_unexpected(reply, command, server);
                                return std::move(reply.message);
                              });
}

void ClientBase::start_server_stats(std::size_t server_index, Callback<ServerStats> callback) {
  auto transport = lifecycle_->enter();
  if (detail::refuse_if_closed(transport, callback)) return;
  send_to_server<ServerStats>(*transport, server_index, protocol::append_stats, "stats",
                              std::move(callback),
                              [](Reply reply, const char* command, const ServerAddress& server) {
                                if (reply.status == Status::kEnd) return ServerStats{};
                                if (reply.status != Status::kStats)
                                  detail::throw_unexpected(reply, command, server);
                                return std::move(reply.stats);
                              });
}

void ClientBase::start_metadump(std::size_t server_index,
                                Callback<std::vector<MetadumpEntry>> callback) {
  using Entries = std::vector<MetadumpEntry>;
  auto transport = lifecycle_->enter();
  if (detail::refuse_if_closed(transport, callback)) return;
  // BUSY (another crawl runs) is an error reply: ServerError with reason kBusy.
  send_to_server<Entries>(
      *transport, server_index, protocol::append_metadump_all, "lru_crawler metadump",
      std::move(callback), [](Reply reply, const char* command, const ServerAddress& server) {
        if (reply.status == Status::kEnd) return Entries{};
        if (reply.status != Status::kMetadump) detail::throw_unexpected(reply, command, server);
        Entries entries;
        entries.reserve(reply.metadump.size());
        for (auto& e : reply.metadump) {
          entries.push_back(MetadumpEntry{std::move(e.key), e.exptime, e.last_access, e.cas,
                                          e.fetched, e.slab_class, e.size});
        }
        return entries;
      });
}

std::size_t ClientBase::flush_all(std::chrono::seconds delay, bool noreply) {
  return detail::blocking_call<std::size_t>(
      *lifecycle_, [&](auto callback) { start_flush_all(delay, noreply, std::move(callback)); });
}

std::string ClientBase::version(std::size_t server_index) {
  return detail::blocking_call<std::string>(
      *lifecycle_, [&](auto callback) { start_version(server_index, std::move(callback)); });
}

ServerStats ClientBase::server_stats(std::size_t server_index) {
  return detail::blocking_call<ServerStats>(
      *lifecycle_, [&](auto callback) { start_server_stats(server_index, std::move(callback)); });
}

std::vector<MetadumpEntry> ClientBase::metadump(std::size_t server_index) {
  return detail::blocking_call<std::vector<MetadumpEntry>>(
      *lifecycle_, [&](auto callback) { start_metadump(server_index, std::move(callback)); });
}

}  // namespace llmcache
