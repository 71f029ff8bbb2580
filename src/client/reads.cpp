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
  // One allocation for the line as a lookup sends it ("mg", " v f", the opaque's up to 10
  // digits and the line end fit in 32 bytes beside the key); rarer flags may grow it.
  prepared.bytes.reserve(key.size() + 32);
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

/// One multi-key get line of classic get_many: its bytes and the keys it answers.
struct ClassicGetLine {
  std::string bytes;
  std::vector<std::size_t> indices;  // get_many indices of its keys, in line order
  std::vector<std::pair<std::size_t, std::size_t>> repeats;  // (index, place it repeats)
};

/// Classic get_many's lines for the keys one server holds (`group`: indices into `wires`,
/// the keys as sent): multi-key gets, each line under the proxies' limit. A key named
/// twice is asked once (a server need not answer it twice) and its item copied.
std::vector<ClassicGetLine> classic_get_many_lines(std::span<const std::string> wires,
                                                   std::span<const std::size_t> group) {
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
  std::vector<ClassicGetLine> lines;
  std::vector<std::pair<std::size_t, std::size_t>> slot_of(group.size());
  std::size_t begin = 0;
  for (const std::size_t count : protocol::split_classic_get(asked_keys)) {
    ClassicGetLine& line = lines.emplace_back();
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
  return lines;
}

/// A classic line's outcome, handed to `arrive(index, error, item)` for each of its keys:
/// its items paired back to them (`reply` null: `error` fails them all).
template <class Arrive>
void arrive_classic_line(const ClassicGetLine& line, std::exception_ptr error, Reply* reply,
                         const ServerAddress* server, Arrive&& arrive) {
  std::vector<std::optional<Item>> items(line.indices.size());
  if (!error && reply) {
    try {
      items = map_classic_get_many(std::move(*reply), line.bytes, line.indices.size(), *server);
    } catch (...) {
      error = std::current_exception();
    }
  }
  // Repeats first: with a join, the last arrival completes it.
  for (const auto& [index, k] : line.repeats) arrive(index, error, items[k]);
  for (std::size_t k = 0; k < line.indices.size(); ++k) {
    arrive(line.indices[k], error, std::move(items[k]));
  }
}

/// Classic get_many's async requests for the keys one server holds: its lines, each
/// arriving at `join`.
std::vector<detail::Request> classic_get_many_requests(
    const std::shared_ptr<detail::GetManyJoin>& join, const std::vector<std::string>& wires,
    const std::vector<std::size_t>& group) {
  std::vector<ClassicGetLine> lines = classic_get_many_lines(wires, group);
  std::vector<detail::Request> requests;
  requests.reserve(lines.size());
  for (ClassicGetLine& line : lines) {
    detail::Request request;
    request.bytes = line.bytes;  // the handler keeps the line to pair the items with
    request.accepts = kClassicGetReplies;
    request.wire = protocol::Wire::kClassic;
    request.on_reply = [join, line = std::move(line)](std::exception_ptr error, Reply reply,
                                                      const ServerAddress* server) {
      arrive_classic_line(line, error, &reply, server,
                          [&](std::size_t index, std::exception_ptr e, std::optional<Item> item) {
                            join->arrive(index, e, std::move(item));
                          });
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

/// The blocking get_many (Transport::round_trip_batch): per server, one mg per key (meta)
/// or its multi-key get lines (classic), each key's outcome handed to `arrive` as its
/// reply is parsed. `wires`: the keys as sent, null where a key is invalid (it arrives
/// at once with `invalid[i]`, and is not sent).
class GetBatch final : public detail::Transport::BatchHandler {
 public:
  using Arrive = std::function<void(std::size_t, std::exception_ptr, std::optional<Item>)>;
  GetBatch(detail::Transport& transport, std::span<const std::string> wires, const Arrive& arrive)
      : transport_(transport), wires_(wires), arrive_(arrive) {}

  void build(std::size_t group, std::span<const std::size_t> keys, protocol::Wire wire,
             detail::Transport::BatchGroup& out) override {
    if (groups_.size() <= group) groups_.resize(group + 1);
    Group& g = groups_[group];
    g.keys.assign(keys.begin(), keys.end());
    g.wire = wire;
    if (g.wire == protocol::Wire::kClassic) {
      g.lines = classic_get_many_lines(wires_, keys);
      for (const ClassicGetLine& line : g.lines) {
        out.expected.push_back(
            {std::nullopt, kClassicGetReplies, out.requests.size(), line.bytes.size()});
        out.requests += line.bytes;
      }
      return;
    }
    const protocol::MetaGetFlags flags;
    out.requests.reserve(keys.size() * (wires_[keys.front()].size() + 16));
    out.expected.reserve(keys.size());
    for (const std::size_t i : keys) {
      const std::uint32_t opaque = transport_.next_opaque();
      const std::size_t offset = out.requests.size();
      protocol::append_meta_get(out.requests, wires_[i], flags, opaque);
      out.expected.push_back({opaque, 0, offset, out.requests.size() - offset});
    }
  }

  void reply(std::size_t group, std::size_t request, std::string_view, Reply& reply,
             const ServerAddress& server) override {
    const Group& g = groups_[group];
    if (g.wire == protocol::Wire::kClassic) {
      return arrive_classic_line(g.lines[request], nullptr, &reply, &server, arrive_);
    }
    std::optional<Item> item;
    std::exception_ptr error;
    try {
      item = map_get(std::move(reply), server);
    } catch (...) {
      error = std::current_exception();
    }
    arrive_(g.keys[request], error, std::move(item));
  }

  void failed(std::size_t group, std::size_t from, const std::exception_ptr& error,
              const ServerAddress* server) override {
    const Group& g = groups_[group];
    if (g.wire == protocol::Wire::kClassic && !g.lines.empty()) {
      for (std::size_t n = from; n < g.lines.size(); ++n) {
        arrive_classic_line(g.lines[n], error, nullptr, server, arrive_);
      }
      return;
    }
    for (std::size_t n = from; n < g.keys.size(); ++n) arrive_(g.keys[n], error, std::nullopt);
  }

 private:
  struct Group {
    std::vector<std::size_t> keys;
    protocol::Wire wire = protocol::Wire::kMeta;
    std::vector<ClassicGetLine> lines;  // classic: its requests
  };
  detail::Transport& transport_;
  std::span<const std::string> wires_;
  const Arrive& arrive_;
  std::vector<Group> groups_;
};

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
  auto transport = lifecycle_->enter_open();
  if (transport->in_io_thread()) {
    throw InvalidArgumentError("blocking llmcache call from the client's own I/O thread");
  }
  // Every key checked before anything is sent, as start_get_many does.
  std::vector<std::string> wires;
  wires.reserve(keys.size());
  for (const auto& key : keys) {
    wires.push_back(wire_key(key));
    protocol::validate_key(wires.back());
  }
  std::vector<std::optional<Item>> items(keys.size());
  if (keys.empty()) return items;
  // The first error fails the whole call, as the async get_many's join does.
  std::exception_ptr first_error;
  const GetBatch::Arrive arrive = [&](std::size_t i, std::exception_ptr error,
                                      std::optional<Item> item) {
    if (error) {
      if (!first_error) first_error = error;
    } else {
      items[i] = std::move(item);
    }
  };
  GetBatch batch(*transport, wires, arrive);
  transport->round_trip_batch(keys, batch);
  if (first_error) std::rethrow_exception(first_error);
  return items;
}

void ClientBase::get_each(std::span<const std::string> keys, const GetEach& on_item) {
  std::optional<detail::Lifecycle::Use> transport;
  try {
    transport.emplace(lifecycle_->enter_open());
  } catch (...) {
    for (std::size_t i = 0; i < keys.size(); ++i) on_item(i, std::current_exception(), {});
    return;
  }
  // The common case without copies: no key prefix, every key valid.
  const auto valid = [](const std::string& key) {
    try {
      protocol::validate_key(key);
      return true;
    } catch (const InvalidArgumentError&) {
      return false;
    }
  };
  if (key_prefix_.empty() && std::all_of(keys.begin(), keys.end(), valid)) {
    if (keys.empty()) return;
    GetBatch batch(**transport, keys, on_item);
    return (*transport)->round_trip_batch(keys, batch);
  }
  // A key memcached cannot store fails alone, as its get would; the others are sent.
  std::vector<std::string> routing;
  std::vector<std::string> wires;
  std::vector<std::size_t> sent;  // indices of the keys sent, in order
  routing.reserve(keys.size());
  wires.reserve(keys.size());
  sent.reserve(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    std::string wire = wire_key(keys[i]);
    try {
      protocol::validate_key(wire);
    } catch (...) {
      on_item(i, std::current_exception(), {});
      continue;
    }
    routing.push_back(keys[i]);
    wires.push_back(std::move(wire));
    sent.push_back(i);
  }
  if (sent.empty()) return;
  const GetBatch::Arrive arrive = [&](std::size_t n, std::exception_ptr error,
                                      std::optional<Item> item) {
    on_item(sent[n], std::move(error), std::move(item));
  };
  GetBatch batch(**transport, wires, arrive);
  (*transport)->round_trip_batch(routing, batch);
}

MetaGetResult ClientBase::meta_get(std::string_view key, const MetaGetOptions& options) {
  auto transport = lifecycle_->enter_open();
  // Without a key prefix the key goes out as it is: no copy on every blocking lookup.
  std::string prefixed;
  if (!key_prefix_.empty()) prefixed = wire_key(key);
  const std::string_view wire = key_prefix_.empty() ? key : std::string_view(prefixed);
  return detail::round_trip(*transport, key, map_meta_get,
                            prepare_meta_get(*transport, key, wire, options));
}

}  // namespace llmcache
