// Reads: get, get_many, meta_get (mg with its stampede-protection flags).
#include <llmcache/client.hpp>

#include "client/fan_out.hpp"
#include "client/lifecycle.hpp"
#include "client/operation.hpp"

namespace llmcache {
namespace {

using detail::Prepared;
using protocol::Reply;
using protocol::Status;

constexpr protocol::Accepts kClassicGetReplies = protocol::accepts({Status::kValue, Status::kEnd});

Prepared prepare_meta_get(detail::Transport& transport, std::string_view routing_key,
                          std::string_view key, const MetaGetOptions& options) {
  protocol::validate_key(key);
  if (transport.wire(routing_key) == protocol::Wire::kClassic) {
    // get/gets return the value and flags (and CAS) whatever was asked for.
    if (options.ttl) detail::require_meta(protocol::Wire::kClassic, "the remaining TTL (t)");
    if (options.vivify_ttl || options.recache_ttl) {
      detail::require_meta(protocol::Wire::kClassic, "stampede protection (vivify, recache)");
    }
    if (options.touch_ttl) detail::require_meta(protocol::Wire::kClassic, "get-and-touch (T)");
    Prepared prepared;
    const std::string_view keys[] = {key};
    protocol::append_classic_get(prepared.bytes, keys, options.cas);
    prepared.accepts = kClassicGetReplies;
    return prepared;
  }
  auto seconds = [](const std::optional<std::chrono::seconds>& s) {
    return s ? std::optional<std::uint32_t>(detail::seconds_count(*s)) : std::nullopt;
  };
  protocol::MetaGetFlags flags;
  flags.value = options.value;
  flags.cas = options.cas;
  flags.ttl = options.ttl;
  flags.vivify_ttl = seconds(options.vivify_ttl);
  flags.recache_ttl = seconds(options.recache_ttl);
  flags.touch_ttl = seconds(options.touch_ttl);
  Prepared prepared{{}, transport.next_opaque()};
  protocol::append_meta_get(prepared.bytes, key, flags, *prepared.opaque);
  return prepared;
}

/// A classic get of one key: its item (CAS only from gets), or nullopt for a miss.
std::optional<Item> classic_item(Reply& reply, const ServerAddress& server) {
  if (reply.status == Status::kEnd) return std::nullopt;
  if (reply.status != Status::kValue || reply.values.size() != 1) {
    detail::throw_unexpected(reply, "get", server);
  }
  protocol::ClassicValue& value = reply.values.front();
  return Item{std::move(value.data), value.client_flags, value.cas};
}

MetaGetResult map_meta_get(Reply reply, const ServerAddress& server) {
  MetaGetResult result;
  if (!reply.values.empty() || reply.status == Status::kEnd) {
    result.item = classic_item(reply, server);
    return result;
  }
  if (reply.status == Status::kValue || reply.status == Status::kHeaderOnly) {
    result.item = Item{std::move(reply.value), reply.client_flags.value_or(0), reply.cas};
  } else if (reply.status != Status::kMiss) {
    detail::throw_unexpected(reply, "mg", server);
  }
  result.ttl = reply.ttl;
  result.won = reply.won;
  result.stale = reply.stale;
  result.already_won = reply.already_won;
  return result;
}

/// get_many's reply: the item without its CAS, or a miss.
std::optional<Item> map_get(Reply reply, const ServerAddress& server) {
  detail::throw_if_error_reply(reply, server);
  if (!reply.values.empty() || reply.status == Status::kEnd) {
    auto item = classic_item(reply, server);
    if (item) item->cas.reset();
    return item;
  }
  if (reply.status == Status::kValue) {
    return Item{std::move(reply.value), reply.client_flags.value_or(0), {}};
  }
  if (reply.status != Status::kMiss) detail::throw_unexpected(reply, "mg", server);
  return std::nullopt;
}

}  // namespace

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
  if (detail::refuse_if_closed(transport, callback)) return;
  std::string wire = wire_key(key);
  detail::send_prepared(
      *transport, std::move(key), std::move(callback), map_meta_get,
      [transport = transport.get(), wire = std::move(wire), options](std::string_view k) {
        return prepare_meta_get(*transport, k, wire, options);
      });
}

namespace {

/// get_many's requests, one per key (`wires`: the keys as sent), once the protocol is known.
void send_get_many(detail::Transport* transport, std::vector<std::string> keys,
                   std::vector<std::string> wires,
                   Callback<std::vector<std::optional<Item>>> callback) {
  if (!transport->known_wire()) {
    std::string routing_key = keys.front();
    return detail::after_probe(
        *transport, std::move(routing_key), std::move(callback),
        [transport, keys = std::move(keys),
         wires = std::move(wires)](Callback<std::vector<std::optional<Item>>> callback) mutable {
          send_get_many(transport, std::move(keys), std::move(wires), std::move(callback));
        });
  }
  const bool classic = transport->wire(keys.front()) == protocol::Wire::kClassic;
  auto join = std::make_shared<detail::GetManyJoin>(keys.size(), std::move(callback));
  std::vector<detail::RoutedRequest> routed;
  routed.reserve(keys.size());
  protocol::MetaGetFlags flags;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    detail::Request request;
    const std::string& wire = wires[i];
    if (classic) {
      // One get per key, so that each reply is routed and paired like a meta one.
      const std::string_view one[] = {wire};
      protocol::append_classic_get(request.bytes, one);
      request.accepts = kClassicGetReplies;
    } else {
      request.opaque = transport->next_opaque();
      protocol::append_meta_get(request.bytes, wire, flags, *request.opaque);
    }
    request.on_reply = [join, i](std::exception_ptr error, Reply reply,
                                 const ServerAddress* server) {
      std::optional<Item> item;
      if (!error) {
        try {
          item = map_get(std::move(reply), *server);
        } catch (...) {
          error = std::current_exception();
        }
      }
      join->arrive(i, error, std::move(item));
    };
    routed.push_back({std::move(keys[i]), std::move(request)});
  }
  transport->send(std::move(routed));
}

}  // namespace

void ClientBase::start_get_many(std::vector<std::string> keys,
                                Callback<std::vector<std::optional<Item>>> callback) {
  auto transport = lifecycle_->enter();
  if (detail::refuse_if_closed(transport, callback)) return;
  std::vector<std::string> wires;
  wires.reserve(keys.size());
  try {
    for (const auto& key : keys) {
      wires.push_back(wire_key(key));
      protocol::validate_key(wires.back());
    }
  } catch (...) {
    return detail::fail_later(transport->executor(), std::move(callback), std::current_exception());
  }
  if (keys.empty()) {
    asio::post(transport->executor(), [callback = std::move(callback)] { callback(nullptr, {}); });
    return;
  }
  send_get_many(transport.get(), std::move(keys), std::move(wires), std::move(callback));
}

std::optional<Item> ClientBase::get(std::string_view key) {
  return meta_get(key, MetaGetOptions{}).item;
}

std::vector<std::optional<Item>> ClientBase::get_many(std::span<const std::string> keys) {
  return detail::blocking_call<std::vector<std::optional<Item>>>(*lifecycle_, [&](auto callback) {
    start_get_many(std::vector<std::string>(keys.begin(), keys.end()), std::move(callback));
  });
}

MetaGetResult ClientBase::meta_get(std::string_view key, const MetaGetOptions& options) {
  auto transport = lifecycle_->enter_open();
  return detail::round_trip(*transport, key, map_meta_get,
                            prepare_meta_get(*transport, key, wire_key(key), options));
}

}  // namespace llmcache
