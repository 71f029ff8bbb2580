// Reads: get, get_many, meta_get (mg with its stampede-protection flags).
#include <llmcache/client.hpp>

#include "client/fan_out.hpp"
#include "client/lifecycle.hpp"
#include "client/operation.hpp"

#include <algorithm>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

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
    prepared.wire = protocol::Wire::kClassic;
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

/// get_many's reply in meta: the item without its CAS, or a miss.
std::optional<Item> map_get(Reply reply, const ServerAddress& server) {
  detail::throw_if_error_reply(reply, server);
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

/// One classic multi-key get's items, paired back to its keys by key (`request`: its
/// bytes; a key without an item is a miss). The reply was already checked to ask for no
/// other key (net::check_answers), so a pairing that fails here means the same.
std::vector<std::optional<Item>> map_classic_get_many(Reply reply, std::string_view request,
                                                      std::size_t keys,
                                                      const ServerAddress& server) {
  detail::throw_if_error_reply(reply, server);
  std::vector<std::optional<Item>> items(keys);
  if (reply.status == Status::kEnd) return items;
  std::vector<std::size_t> key_of_item(reply.values.size());
  if (reply.status != Status::kValue ||
      !protocol::pair_classic_items(request, reply.values, key_of_item)) {
    detail::throw_unexpected(reply, "get", server);
  }
  for (std::size_t n = 0; n < reply.values.size(); ++n) {
    protocol::ClassicValue& value = reply.values[n];
    items[key_of_item[n]] = Item{std::move(value.data), value.client_flags, {}};
  }
  return items;
}

/// Classic get_many's requests for the keys one server holds (`group`: indices into
/// `wires`, the keys as sent): multi-key gets, each line under the proxies' limit. A key
/// named twice is asked once (a server need not answer it twice) and its item copied.
std::vector<detail::Request> classic_get_many_requests(
    const std::shared_ptr<detail::GetManyJoin>& join, const std::vector<std::string>& wires,
    const std::vector<std::size_t>& group) {
  // Positions in `group` sorted by key, so a repeated key follows its first occurrence.
  std::vector<std::size_t> by_key(group.size());
  for (std::size_t p = 0; p < by_key.size(); ++p) by_key[p] = p;
  std::sort(by_key.begin(), by_key.end(), [&](std::size_t a, std::size_t b) {
    const int order = wires[group[a]].compare(wires[group[b]]);
    return order != 0 ? order < 0 : a < b;
  });
  constexpr std::size_t kFirst = static_cast<std::size_t>(-1);
  std::vector<std::size_t> first_of(group.size(), kFirst);  // a repeat's first position
  for (std::size_t n = 1; n < by_key.size(); ++n) {
    const std::size_t prev = by_key[n - 1];
    if (wires[group[by_key[n]]] == wires[group[prev]]) {
      first_of[by_key[n]] = first_of[prev] == kFirst ? prev : first_of[prev];
    }
  }
  std::vector<std::size_t> asked;  // positions of the keys sent, in group order
  std::vector<std::string_view> asked_keys;
  for (std::size_t p = 0; p < group.size(); ++p) {
    if (first_of[p] != kFirst) continue;
    asked.push_back(p);
    asked_keys.emplace_back(wires[group[p]]);
  }

  // One request per line; `slot_of` says where each key sent stands (line, place in it).
  struct Line {
    std::string bytes;
    std::vector<std::size_t> indices;  // get_many indices of its keys, in line order
    std::vector<std::pair<std::size_t, std::size_t>> repeats;  // (index, place it repeats)
  };
  std::vector<Line> lines;
  std::vector<std::pair<std::size_t, std::size_t>> slot_of(group.size());
  std::size_t begin = 0;
  for (const std::size_t count : protocol::split_classic_get(asked_keys)) {
    Line& line = lines.emplace_back();
    protocol::append_classic_get(
        line.bytes, std::span<const std::string_view>(asked_keys).subspan(begin, count));
    for (std::size_t k = 0; k < count; ++k) {
      const std::size_t position = asked[begin + k];
      line.indices.push_back(group[position]);
      slot_of[position] = {lines.size() - 1, k};
    }
    begin += count;
  }
  for (std::size_t p = 0; p < group.size(); ++p) {
    if (first_of[p] == kFirst) continue;
    const auto [line, k] = slot_of[first_of[p]];
    lines[line].repeats.emplace_back(group[p], k);
  }

  std::vector<detail::Request> requests;
  requests.reserve(lines.size());
  for (Line& line : lines) {
    detail::Request request;
    request.bytes = line.bytes;  // the handler keeps the line to pair the items with
    request.accepts = kClassicGetReplies;
    request.wire = protocol::Wire::kClassic;
    request.on_reply = [join, line = std::move(line)](std::exception_ptr error, Reply reply,
                                                      const ServerAddress* server) {
      std::vector<std::optional<Item>> items(line.indices.size());
      if (!error) {
        try {
          items = map_classic_get_many(std::move(reply), line.bytes, line.indices.size(), *server);
        } catch (...) {
          error = std::current_exception();
        }
      }
      // Repeats first: the last arrival completes the join.
      for (const auto& [index, k] : line.repeats) join->arrive(index, error, items[k]);
      for (std::size_t k = 0; k < line.indices.size(); ++k) {
        join->arrive(line.indices[k], error, std::move(items[k]));
      }
    };
    requests.push_back(std::move(request));
  }
  return requests;
}

/// Meta get_many's requests for the keys one server holds (`group`: indices into `wires`,
/// the keys as sent): one mg per key.
std::vector<detail::Request> meta_get_many_requests(
    detail::Transport& transport, const std::shared_ptr<detail::GetManyJoin>& join,
    const std::vector<std::string>& wires, const std::vector<std::size_t>& group) {
  std::vector<detail::Request> requests;
  requests.reserve(group.size());
  protocol::MetaGetFlags flags;
  for (const std::size_t i : group) {
    detail::Request& request = requests.emplace_back();
    request.opaque = transport.next_opaque();
    request.wire = protocol::Wire::kMeta;
    protocol::append_meta_get(request.bytes, wires[i], flags, *request.opaque);
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
  }
  return requests;
}

/// get_many's requests, built on the I/O thread for each server in the protocol it speaks
/// (a HashClient's servers may differ: a memcached and a proxy), so no caller waits for
/// a probe: meta, one mg per key; classic, one multi-key get per server (split under the
/// line limit). `wires`: the keys as sent.
void send_get_many(detail::Transport* transport, std::vector<std::string> keys,
                   std::vector<std::string> wires,
                   Callback<std::vector<std::optional<Item>>> callback) {
  auto join = std::make_shared<detail::GetManyJoin>(keys.size(), std::move(callback));
  transport->send_grouped(
      std::move(keys), [transport, join, wires = std::move(wires)](std::vector<std::size_t> group,
                                                                   protocol::Wire wire) {
        if (wire == protocol::Wire::kClassic) {
          return classic_get_many_requests(join, wires, group);
        }
        return meta_get_many_requests(*transport, join, wires, group);
      });
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
