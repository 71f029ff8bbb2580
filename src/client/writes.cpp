// Writes: set (with CAS), delete and invalidate. A set whose value cannot fit the server's
// item limit is refused before it is sent (client/item_limits.hpp), on both paths alike.
#include <llmcache/client.hpp>

#include "client/item_limits.hpp"
#include "client/lifecycle.hpp"
#include "client/operation.hpp"

namespace llmcache {
namespace {

using detail::ItemLimits;
using detail::LimitCheck;
using detail::Prepared;
using protocol::Reply;
using protocol::Status;

Prepared prepare_set(detail::Transport& transport, std::string_view routing_key,
                     std::string_view key, std::string_view value, const SetOptions& options) {
  protocol::validate_key(key);
  if (transport.wire(routing_key) == protocol::Wire::kClassic) {
    if (options.cas) detail::require_meta(protocol::Wire::kClassic, "compare-and-swap (cas)");
    Prepared prepared;
    protocol::append_classic_store(
        prepared.bytes,
        options.only_if_absent ? protocol::ClassicStore::kAdd : protocol::ClassicStore::kSet, key,
        value, options.flags, detail::seconds_count(options.ttl));
    prepared.accepts =
        protocol::accepts({Status::kHeaderOnly, Status::kNotStored, Status::kExists});
    prepared.wire = protocol::Wire::kClassic;
    return prepared;
  }
  protocol::MetaSetFlags flags;
  flags.client_flags = options.flags;
  flags.cas = options.cas;
  if (options.only_if_absent) flags.mode = protocol::SetMode::kAdd;
  flags.ttl = detail::seconds_count(options.ttl);
  Prepared prepared{{}, transport.next_opaque()};
  protocol::append_meta_set(prepared.bytes, key, value, flags, *prepared.opaque);
  return prepared;
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
      detail::throw_unexpected(reply, "ms", server);
  }
}

Prepared prepare_del(detail::Transport& transport, std::string_view routing_key,
                     std::string_view key, bool invalidate,
                     std::optional<std::uint64_t> cas = std::nullopt) {
  protocol::validate_key(key);
  if (transport.wire(routing_key) == protocol::Wire::kClassic) {
    if (invalidate) detail::require_meta(protocol::Wire::kClassic, "invalidate");
    if (cas) detail::require_meta(protocol::Wire::kClassic, "compare-and-delete (md C)");
    Prepared prepared;
    protocol::append_classic_delete(prepared.bytes, key);
    prepared.accepts = protocol::accepts({Status::kHeaderOnly, Status::kNotFound});
    prepared.wire = protocol::Wire::kClassic;
    return prepared;
  }
  protocol::MetaDeleteFlags flags;
  flags.invalidate = invalidate;
  flags.cas = cas;
  Prepared prepared{{}, transport.next_opaque()};
  protocol::append_meta_delete(prepared.bytes, key, flags, *prepared.opaque);
  return prepared;
}

bool map_del(Reply reply, const ServerAddress& server) {
  if (reply.status == Status::kHeaderOnly) return true;
  // EX: a conditional delete whose CAS no longer matches (the item was written since).
  if (reply.status == Status::kNotFound || reply.status == Status::kExists) return false;
  detail::throw_unexpected(reply, "md", server);
}

/// The server that would store `key`, by name; empty if none is available (the set
/// itself will then fail and say why).
std::string server_name_for(const detail::Transport& transport, std::string_view key) {
  try {
    return transport.server_for(key).name();
  } catch (const Error&) {
    return {};
  }
}

/// The item-limit check of a set of `value` under `key` (`wire`: with the key prefix).
LimitCheck limit_check(const detail::Transport& transport, std::string_view key,
                       std::string_view wire, std::string_view value, const SetOptions& options) {
  return LimitCheck(transport.item_limits(), server_name_for(transport, key), value.size(),
                    ItemLimits::item_bytes(wire.size(), value.size(), options.flags != 0),
                    ItemLimits::Clock::now());
}

/// Whether the server is asked its item limit (`stats settings`) at all. Not in classic
/// mode: proxies hang up on it (twemproxy) or refuse it (mcrouter, ElastiCache
/// Serverless), so there ClientOptions::item_size_max is assumed (LimitCheck::unasked).
bool asks_item_limit(detail::Transport& transport, std::string_view routing_key) {
  return transport.wire(routing_key) == protocol::Wire::kMeta;
}

/// An async set waiting for its server's item limit; copyable, for the reply handler.
struct PendingSet {
  detail::Transport* transport;  // outlives the callbacks: they run on its I/O thread
  LimitCheck check;
  std::string key;
  std::string wire;
  std::string value;
  SetOptions options;
  Callback<StoreResult> callback;

  void send() {
    if (auto refusal = check.refusal()) {
      return detail::fail_later(transport->executor(), std::move(callback), refusal);
    }
    Callback<StoreResult> done = [check = check, callback = std::move(callback)](
                                     std::exception_ptr error, StoreResult result) {
      check.after_set(error);
      callback(error, result);
    };
    detail::send_prepared(*transport, std::move(key), std::move(done), map_set,
                          [transport = transport, wire = std::move(wire), value = std::move(value),
                           options = options](std::string_view k) {
                            return prepare_set(*transport, k, wire, value, options);
                          });
  }
};

/// An async set with its key checked: asks the item limit first where that is needed,
/// then sends. On the I/O thread when an auto client had to probe first.
void send_set(detail::Transport* transport, std::string key, std::string wire, std::string value,
              const SetOptions& options, Callback<StoreResult> callback) {
  if (!transport->known_wire(key)) {
    std::string routing_key = key;
    return detail::after_probe(
        *transport, std::move(routing_key), std::move(callback),
        [transport, key = std::move(key), wire = std::move(wire), value = std::move(value),
         options](Callback<StoreResult> callback) mutable {
          send_set(transport, std::move(key), std::move(wire), std::move(value), options,
                   std::move(callback));
        });
  }
  LimitCheck check = limit_check(*transport, key, wire, value, options);
  const bool needs_limit = check.needs_limit() && asks_item_limit(*transport, key);
  if (check.needs_limit() && !needs_limit) check.unasked();
  std::string routing_key = key;  // the limit is asked of the server that will get the set
  PendingSet set{transport,        std::move(check), std::move(key),     std::move(wire),
                 std::move(value), options,          std::move(callback)};
  if (!needs_limit) return set.send();
  detail::Request request;
  protocol::append_stats_settings(request.bytes);
  request.wire = protocol::Wire::kMeta;  // asked of meta servers only (asks_item_limit)
  request.on_reply = [set = std::move(set)](std::exception_ptr error, Reply reply,
                                            const ServerAddress*) mutable {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const ClosedError&) {
        return set.callback(error, {});  // the client is closing: the set could not go out
      } catch (...) {
      }
    }
    set.check.learned(error ? std::nullopt : ItemLimits::parse(reply), ItemLimits::Clock::now());
    set.send();
  };
  std::vector<detail::RoutedRequest> routed;
  routed.push_back({std::move(routing_key), std::move(request)});
  transport->send(std::move(routed));
}

}  // namespace

void ClientBase::start_set(std::string key, std::string value, const SetOptions& options,
                           Callback<StoreResult> callback) {
  auto use = lifecycle_->enter();
  if (detail::refuse_if_closed(use, callback)) return;
  auto* transport = use.get();
  std::string wire = wire_key(key);
  try {
    protocol::validate_key(wire);  // before a stats request goes out on its behalf
  } catch (...) {
    return detail::fail_later(transport->executor(), std::move(callback), std::current_exception());
  }
  send_set(transport, std::move(key), std::move(wire), std::move(value), options,
           std::move(callback));
}

void ClientBase::start_del(std::string key, bool invalidate, Callback<bool> callback) {
  auto transport = lifecycle_->enter();
  if (detail::refuse_if_closed(transport, callback)) return;
  std::string wire = wire_key(key);
  detail::send_prepared(
      *transport, std::move(key), std::move(callback), map_del,
      [transport = transport.get(), wire = std::move(wire), invalidate](std::string_view k) {
        return prepare_del(*transport, k, wire, invalidate);
      });
}

void ClientBase::start_del_if_cas(std::string key, std::uint64_t cas, Callback<bool> callback) {
  auto transport = lifecycle_->enter();
  if (detail::refuse_if_closed(transport, callback)) return;
  std::string wire = wire_key(key);
  detail::send_prepared(
      *transport, std::move(key), std::move(callback), map_del,
      [transport = transport.get(), wire = std::move(wire), cas](std::string_view k) {
        return prepare_del(*transport, k, wire, false, cas);
      });
}

StoreResult ClientBase::set(std::string_view key, std::string_view value,
                            const SetOptions& options) {
  auto transport = lifecycle_->enter_open();
  const std::string wire = wire_key(key);
  const Prepared prepared = prepare_set(*transport, key, wire, value, options);
  LimitCheck check = limit_check(*transport, key, wire, value, options);
  if (check.needs_limit() && asks_item_limit(*transport, key)) {
    std::optional<std::size_t> limit;
    try {
      std::string request;
      protocol::append_stats_settings(request);
      limit = ItemLimits::parse(
          transport->round_trip(key, request, std::nullopt, 0, protocol::Wire::kMeta).reply);
    } catch (const Error&) {
      // Unknown: send the value and let the server judge; the set reports its own failure.
    }
    check.learned(limit, ItemLimits::Clock::now());
  } else if (check.needs_limit()) {
    check.unasked();
  }
  if (auto refusal = check.refusal()) std::rethrow_exception(refusal);
  try {
    return detail::round_trip(*transport, key, map_set, prepared);
  } catch (...) {
    check.after_set(std::current_exception());
    throw;
  }
}

bool ClientBase::del(std::string_view key) {
  auto transport = lifecycle_->enter_open();
  return detail::round_trip(*transport, key, map_del,
                            prepare_del(*transport, key, wire_key(key), false));
}

bool ClientBase::del_if_cas(std::string_view key, std::uint64_t cas) {
  auto transport = lifecycle_->enter_open();
  return detail::round_trip(*transport, key, map_del,
                            prepare_del(*transport, key, wire_key(key), false, cas));
}

bool ClientBase::invalidate(std::string_view key) {
  auto transport = lifecycle_->enter_open();
  return detail::round_trip(*transport, key, map_del,
                            prepare_del(*transport, key, wire_key(key), true));
}

}  // namespace llmcache
