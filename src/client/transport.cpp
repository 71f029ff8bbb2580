#include "client/transport.hpp"

#include <llmcache/errors.hpp>

#include <asio/post.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

#include "client/protocol_probe.hpp"

namespace llmcache::detail {

std::exception_ptr closed_error() {
  return std::make_exception_ptr(ClosedError("llmcache client closed"));
}

Transport::Transport(const std::vector<ServerAddress>& servers, const ClientOptions& options,
                     std::unique_ptr<Router> router)
    : generation_(fork_generation()),
      item_limits_(std::make_shared<ItemLimits>(options.item_size_max)),
      uniform_wire_(fixed_wire(options.protocol)),
      pool_(io_.context(), servers, options, close_signal_, fixed_wire(options.protocol)),
      router_(std::move(router)),
      records_outcomes_(router_->records_outcomes()) {}

Transport::~Transport() {
  close();
  // close() has woken the calls inside; none waits for the I/O thread (see arrive()), so
  // each leaves within moments. Polled, not notified: a call's decrement must be its last
  // touch of the transport, which is destroyed as soon as the count reaches zero.
  for (int polls = 0; active_calls_.load() != 0; ++polls) {
    if (polls < 1000) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
  // The close, the sends queued behind it (failing with ClosedError) and the completions
  // they post all run before the thread ends, so that every callback fires once. With the
  // connections closed, nothing of ours keeps the context busy for long.
  io_.finish();
}

namespace {

std::string_view name_of(protocol::Wire wire) {
  return wire == protocol::Wire::kClassic ? "classic" : "meta";
}

}  // namespace

protocol::Wire Transport::probe_server(std::size_t index) {
  PooledServer& server = pool_.at(index);
  std::lock_guard lock(server.probing);
  if (auto known = server.wire.get()) return *known;
  if (closed_.load()) std::rethrow_exception(closed_error());
  const protocol::Wire wire = probe_wire(server.blocking);
  // Its sockets were opened speaking meta: classic requests must not reuse them.
  if (wire == protocol::Wire::kClassic) server.blocking.drop_idle();
  // Under a lock of the whole pool: two servers decided at once still see each other.
  std::lock_guard all(deciding_);
  server.wire.set(wire);
  bool alike = true;
  for (std::size_t i = 0; i < pool_.size() && alike; ++i) alike = pool_.at(i).wire.get() == wire;
  if (alike) uniform_wire_.set(wire);
  return wire;
}

protocol::Wire Transport::decide(const Router::Route& route) {
  try {
    const protocol::Wire wire = probe_server(route.server);
    if (records_outcomes_) router_->record_success(route);
    return wire;
  } catch (const ClosedError&) {
    throw;
  } catch (const Error&) {
    if (records_outcomes_) router_->record_failure(route, std::current_exception(), Clock::now());
    throw;
  }
}

std::optional<protocol::Wire> Transport::known_wire(std::string_view routing_key) const {
  if (auto all = uniform_wire_.get()) return all;
  try {
    return pool_.at(router_->server_for(routing_key)).wire.get();
  } catch (const Error&) {
    return std::nullopt;  // no server left: wire() says so
  }
}

protocol::Wire Transport::routed_wire(std::string_view routing_key) {
  if (closed_.load()) std::rethrow_exception(closed_error());
  if (auto known = known_wire(routing_key)) return *known;
  const Router::Route route =
      router_->choose(routing_key, records_outcomes_ ? Clock::now() : Clock::time_point{});
  if (route.skip) std::rethrow_exception(route.skip);
  return decide(route);
}

protocol::Wire Transport::server_wire(std::size_t index) {
  if (auto known = pool_.at(index).wire.get()) return *known;
  return probe_server(index);
}

std::exception_ptr Transport::check_wire(const Router::Route& route, protocol::Wire built_for) {
  const PooledServer& server = pool_.at(route.server);
  std::optional<protocol::Wire> spoken = server.wire.get();
  if (spoken == built_for) return nullptr;
  if (!spoken) {
    try {
      spoken = decide(route);
    } catch (...) {
      return std::current_exception();
    }
    if (spoken == built_for) return nullptr;
  }
  const std::string name = server.address().name();
  return std::make_exception_ptr(
      IoError("request not sent: it was built in the " + std::string(name_of(built_for)) +
                  " protocol, and its key now goes to " + name + ", which speaks " +
                  std::string(name_of(*spoken)) +
                  " (a server was set aside or came back between building and sending); "
                  "retry it",
              {ErrorReason::kRerouted, name}));
}

const ServerAddress* Transport::address_of(const Router::Route& route) const {
  return route.server < pool_.size() ? &pool_.address(route.server) : nullptr;
}

void Transport::send(std::vector<RoutedRequest> requests) {
  asio::post(io_.context(), [this, requests = std::move(requests)]() mutable {
    // Checked here, on the I/O thread, as well as by the caller: a send that was on its
    // way while close() ran arrives after the connections closed and must not reconnect.
    if (closed_.load()) {
      for (auto& routed : requests) routed.request.on_reply(closed_error(), {}, nullptr);
      return;
    }
    const auto now = records_outcomes_ ? Clock::now() : Clock::time_point{};
    for (auto& routed : requests) dispatch(std::move(routed), now);
  });
}

void Transport::send_grouped(std::vector<std::string> routing_keys, GroupRequests build) {
  asio::post(io_.context(),
             [this, keys = std::move(routing_keys), build = std::move(build)]() mutable {
               if (closed_.load()) {
                 std::vector<std::size_t> all(keys.size());
                 for (std::size_t i = 0; i < all.size(); ++i) all[i] = i;
                 // Sent nowhere: either protocol will do.
                 for (auto& request : build(std::move(all), protocol::Wire::kMeta))
                   request.on_reply(closed_error(), {}, nullptr);
                 return;
               }
               // Each key is placed on its own, exactly as send() would place its request; keys of
               // the same server and fate (sent, or skipped without I/O) then share requests.
               struct Group {
                 Router::Route route;
                 std::vector<std::size_t> keys;
               };
               std::vector<Group> groups;
               const auto now = records_outcomes_ ? Clock::now() : Clock::time_point{};
               for (std::size_t i = 0; i < keys.size(); ++i) {
                 Router::Route route = router_->choose(keys[i], now);
                 auto same = std::find_if(groups.begin(), groups.end(), [&](const Group& group) {
                   return group.route.server == route.server && !group.route.skip == !route.skip;
                 });
                 if (same == groups.end()) {
                   groups.push_back({std::move(route), {}});
                   same = groups.end() - 1;
                 }
                 same->keys.push_back(i);
               }
               for (auto& group : groups) {
                 // In the protocol its server speaks, probed here if undecided; the requests
                 // of a group that cannot be sent are built in either and fail unsent.
                 protocol::Wire wire = protocol::Wire::kMeta;
                 std::exception_ptr unsendable = group.route.skip;
                 if (!unsendable) {
                   try {
                     const auto known = known_server_wire(group.route.server);
                     wire = known ? *known : decide(group.route);
                   } catch (...) {
                     unsendable = std::current_exception();
                   }
                 }
                 for (auto& request : build(std::move(group.keys), wire)) {
                   if (unsendable) {
                     request.on_reply(unsendable, {}, address_of(group.route));
                   } else {
                     submit(group.route, std::move(request));
                   }
                 }
               }
             });
}

void Transport::dispatch(RoutedRequest routed, Clock::time_point now) {
  submit(router_->choose(routed.routing_key, now), std::move(routed.request));
}

void Transport::submit(const Router::Route& route, Request request) {
  if (route.skip) return request.on_reply(route.skip, {}, address_of(route));
  PooledServer& server = pool_.at(route.server);
  if (request.wire && server.wire.get() != request.wire) {
    if (auto refused = check_wire(route, *request.wire)) {
      return request.on_reply(refused, {}, &server.address());
    }
  }
  if (!records_outcomes_) return server.connections.submit(std::move(request));
  server.connections.submit(net::PendingRequest{
      std::move(request.bytes), request.opaque,
      [router = router_.get(), route, address = &server.address(),
       on_reply = std::move(request.on_reply)](std::exception_ptr error, protocol::Reply reply) {
        if (error) {
          router->record_failure(route, error, Clock::now());
        } else {
          router->record_success(route);
        }
        on_reply(error, std::move(reply), address);
      },
      request.accepts});
}

void Transport::send_to(std::size_t index, Request request) {
  asio::post(io_.context(), [this, index, request = std::move(request)]() mutable {
    if (closed_.load()) return request.on_reply(closed_error(), {}, nullptr);
    pool_.at(index).connections.submit(std::move(request));
  });
}

Answer Transport::round_trip(std::string_view routing_key, std::string_view request,
                             std::optional<std::uint32_t> opaque, protocol::Accepts accepts,
                             protocol::Wire built_for) {
  const Router::Route route =
      router_->choose(routing_key, records_outcomes_ ? Clock::now() : Clock::time_point{});
  if (route.skip) std::rethrow_exception(route.skip);
  PooledServer& server = pool_.at(route.server);
  if (server.wire.get() != built_for) {
    if (auto refused = check_wire(route, built_for)) std::rethrow_exception(refused);
  }
  if (!records_outcomes_)
    return {server.blocking.round_trip(request, opaque, accepts), server.address()};
  try {
    protocol::Reply reply = server.blocking.round_trip(request, opaque, accepts);
    router_->record_success(route);
    return {std::move(reply), server.address()};
  } catch (...) {
    router_->record_failure(route, std::current_exception(), Clock::now());
    throw;
  }
}

ServerAddress Transport::server_for(std::string_view key) const {
  return pool_.address(router_->server_for(key));
}

void Transport::close() {
  if (closed_.exchange(true)) return;
  close_signal_.raise();
  pool_.close_blocking();
  if (in_io_thread()) {
    pool_.close_connections();
  } else {
    asio::post(io_.context(), [this] { pool_.close_connections(); });
  }
}

void Transport::round_trip_batch(std::span<const std::string> routing_keys, BatchHandler& handler) {
  struct Group {
    Router::Route route;
    std::vector<std::size_t> keys;
    BatchGroup batch;
    std::unique_ptr<net::BlockingConnection> connection;  // set while its pipeline runs
  };
  // Each key is placed on its own, as round_trip() places it; keys of the same server and
  // fate (sent, or skipped without I/O) share a group.
  std::vector<Group> groups;
  const auto now = records_outcomes_ ? Clock::now() : Clock::time_point{};
  for (std::size_t i = 0; i < routing_keys.size(); ++i) {
    Router::Route route = router_->choose(routing_keys[i], now);
    auto same = std::find_if(groups.begin(), groups.end(), [&](const Group& group) {
      return group.route.server == route.server && !group.route.skip == !route.skip;
    });
    if (same == groups.end()) {
      groups.push_back({std::move(route), {}, {}, nullptr});
      same = groups.end() - 1;
    }
    same->keys.push_back(i);
  }
  const auto fail_group = [&](std::size_t g, std::size_t from, const std::exception_ptr& error,
                              bool record) {
    Group& group = groups[g];
    group.connection.reset();  // its stream position is unknown: closed with it
    if (record && records_outcomes_) router_->record_failure(group.route, error, Clock::now());
    handler.failed(g, from, error, address_of(group.route));
  };
  // Written to every server first, so that the servers work on their shares together.
  for (std::size_t g = 0; g < groups.size(); ++g) {
    Group& group = groups[g];
    // Built in the protocol of the server the keys were just placed on (decided there, on
    // the calling thread, if it is new: decide() records a failed probe), so the bytes
    // always match the server they are written to. Keys that go nowhere are built too
    // (in meta, never sent), so that the handler knows them when they fail.
    std::optional<protocol::Wire> wire;
    std::exception_ptr undecided;
    if (!group.route.skip) {
      wire = pool_.at(group.route.server).wire.get();
      if (!wire) {
        try {
          wire = decide(group.route);
        } catch (...) {
          undecided = std::current_exception();
        }
      }
    }
    try {
      handler.build(g, group.keys, wire.value_or(protocol::Wire::kMeta), group.batch);
    } catch (...) {
      fail_group(g, 0, std::current_exception(), false);
      continue;
    }
    if (group.route.skip || undecided) {
      fail_group(g, 0, group.route.skip ? group.route.skip : undecided, false);
      continue;
    }
    if (group.batch.expected.empty()) continue;
    net::BlockingPool& pool = pool_.at(group.route.server).blocking;
    group.connection = pool.take();
    try {
      group.connection->start_pipeline(group.batch.requests);
    } catch (...) {
      fail_group(g, 0, std::current_exception(), true);
    }
  }
  for (std::size_t g = 0; g < groups.size(); ++g) {
    Group& group = groups[g];
    if (!group.connection) continue;
    PooledServer& server = pool_.at(group.route.server);
    struct Sink final : net::PipelineSink {
      BatchHandler& handler;
      std::size_t group;
      const ServerAddress& server;
      std::size_t answered = 0;
      Sink(BatchHandler& h, std::size_t g, const ServerAddress& s)
          : handler(h), group(g), server(s) {}
      void reply(std::size_t request, std::string_view bytes, protocol::Reply& reply) override {
        answered = request + 1;
        handler.reply(group, request, bytes, reply, server);
      }
    } sink(handler, g, server.address());
    try {
      group.connection->finish_pipeline(group.batch.expected, sink);
    } catch (...) {
      fail_group(g, sink.answered, std::current_exception(), true);
      continue;
    }
    if (records_outcomes_) router_->record_success(group.route);
    server.blocking.give_back(std::move(group.connection));
  }
}

std::unique_ptr<Transport> make_single_server_transport(ServerAddress server,
                                                        const ClientOptions& options) {
  return std::make_unique<Transport>(std::vector{std::move(server)}, options,
                                     make_single_server_router());
}

std::unique_ptr<Transport> make_hash_transport(std::vector<ServerAddress> servers,
                                               const HashClientOptions& options) {
  auto router = make_hash_router(servers, options);
  return std::make_unique<Transport>(servers, options.client, std::move(router));
}

}  // namespace llmcache::detail
