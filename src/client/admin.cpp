// Operator commands: flush_all on every server; version, stats and lru_crawler metadump on
// one. Classic commands, which carry no opaque: each reply is paired by order alone.
#include <llmcache/client.hpp>

#include "client/fan_out.hpp"
#include "client/lifecycle.hpp"
#include "client/operation.hpp"

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
  if (!transport.known_wire()) {
    return detail::after_probe(transport, {}, std::move(callback),
                               [&transport, server_index, append, command,
                                map = std::move(map)](Callback<T> callback) mutable {
                                 send_to_server(transport, server_index, append, command,
                                                std::move(callback), std::move(map));
                               });
  }
  const bool classic = transport.wire() == protocol::Wire::kClassic;
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

/// flush_all on every server, once the protocol is known.
void send_flush_all(detail::Transport& transport, std::uint32_t delay_seconds, bool noreply,
                    Callback<std::size_t> callback) {
  if (!transport.known_wire()) {
    return detail::after_probe(
        transport, {}, std::move(callback),
        [&transport, delay_seconds, noreply](Callback<std::size_t> callback) {
          send_flush_all(transport, delay_seconds, noreply, std::move(callback));
        });
  }
  const bool classic = transport.wire() == protocol::Wire::kClassic;
  const auto servers = transport.servers();
  if (noreply) {
    // The command is still sent with a reply (so an error cannot desynchronise the
    // stream); the caller just does not wait for it.
    asio::post(transport.executor(),
               [callback = std::move(callback), n = servers.size()] { callback(nullptr, n); });
    callback = nullptr;
  }
  auto join = std::make_shared<detail::FlushJoin>(servers.size(), std::move(callback));
  for (std::size_t i = 0; i < servers.size(); ++i) {
    detail::Request request;
    protocol::append_flush_all(request.bytes, delay_seconds);
    request.on_reply = [join, classic, name = servers[i].name()](
                           std::exception_ptr error, Reply reply, const ServerAddress* server) {
      if (error) {
        error = not_routed(error, classic, "flush_all", name);
      } else {
        try {
          detail::throw_if_error_reply(reply, *server);
          if (reply.status != Status::kOk) detail::throw_unexpected(reply, "flush_all", *server);
        } catch (...) {
          error = std::current_exception();
        }
      }
      join->arrive(name, error);
    };
    transport.send_to(i, std::move(request));
  }
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
