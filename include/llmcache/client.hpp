#pragma once
/// Asynchronous, pipelined memcached clients over the meta protocol.
///
/// Client talks to one server; HashClient spreads keys over several with pymemcache's
/// rendezvous placement and failure rules. Both are thread-safe: any number of threads
/// may call any method at once. Each client owns one I/O thread that does all socket
/// work; every operation has a deadline (ClientOptions), so none waits forever.
///
/// Three ways to call each operation:
///   - blocking: `get(key)`; returns the result or throws an llmcache::Error;
///   - asio completion tokens: `async_get(key, token)` with asio::use_awaitable (C++20
///     coroutines; `co_await` rethrows the error), asio::use_future, or a callback
///     `void(std::exception_ptr, T)`. The handler runs on its associated executor, or on
///     the client's I/O thread if it has none;
///   - `start_get(key, callback)`: the type-erased core the others are built on, for
///     bindings. The callback runs on the I/O thread and must not block.
/// Every completion fires exactly once. A miss is an empty optional, never an error.
///
/// Lifetime: close() ends a client at any moment, from any thread; later calls fail with
/// ClosedError. The destructor closes, waits for the calls other threads are inside (close
/// wakes them) and for the completions already queued (and any work you posted on
/// executor() yourself), then joins the I/O thread. So destroy a client once no thread
/// will start a new call on it; calls already in progress are fine. Do not destroy it from
/// one of its own completions while other threads call.
///
/// fork(): nothing to do. A client made before fork() (and a MemcachedCache on it) works
/// in the child: the child's first call starts a new I/O thread and new connections.
/// Nothing the parent owns (connections, TLS sessions, pooled sockets, I/O thread) is used,
/// closed or shut down by the child, so the parent carries on unaffected, and close() or
/// the destructor in the child leave it alone too. The child leaks what it inherited of
/// the client: a few file descriptors and some memory per client, once per fork (a child
/// cannot release them without disturbing the parent). Calls that other threads of the
/// parent were inside at the moment of fork() do not exist in the child. Fork is detected
/// with pthread_atfork, which fork() honours; a process made by a raw clone() system call
/// is not covered.
#include <llmcache/detail/completion.hpp>
#include <llmcache/options.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmcache {

namespace detail {
class Lifecycle;
class Transport;
}  // namespace detail

/// A stored item as read back.
struct Item {
  std::string value;
  std::uint32_t flags = 0;
  /// Set when the read asked for it (meta_get with cas).
  std::optional<std::uint64_t> cas;

  friend bool operator==(const Item&, const Item&) = default;
};

struct SetOptions {
  /// memcached client flags stored with the value (LangChain/pymemcache use 0).
  std::uint32_t flags = 0;
  /// Time to live; 0 means no expiry. Up to 30 days it is relative, beyond that a unix time.
  std::chrono::seconds ttl{0};
  /// Store only if the item's CAS still equals this (compare-and-swap).
  std::optional<std::uint64_t> cas;
  /// Store only if no item exists under the key (memcached `add`); kNotStored otherwise.
  bool only_if_absent = false;
};

enum class StoreResult {
  kStored,
  kNotStored,  // add/replace condition failed
  kExists,     // CAS mismatch: someone else wrote first
};

/// The meta flags behind stampede protection and stale-while-revalidate.
struct MetaGetOptions {
  bool value = true;
  bool cas = false;
  bool ttl = false;
  /// N: on a miss, create a placeholder with this TTL; exactly one caller gets `won`.
  std::optional<std::chrono::seconds> vivify_ttl;
  /// R: when the remaining TTL drops below this, one caller gets `won` to recache early.
  std::optional<std::chrono::seconds> recache_ttl;
  /// T: reset the TTL.
  std::optional<std::chrono::seconds> touch_ttl;
};

struct MetaGetResult {
  /// The item, if one exists (with vivify, the placeholder reads as a hit with an empty
  /// value and `won` or `already_won` set).
  std::optional<Item> item;
  /// Remaining TTL when asked for; -1 means no expiry.
  std::optional<std::int64_t> ttl;
  bool won = false;          // this caller should compute and store the value
  bool stale = false;        // the item was marked stale (md with invalidate)
  bool already_won = false;  // another caller is already computing it
};

/// One item as memcached's `lru_crawler metadump` lists it.
struct MetadumpEntry {
  std::string key;
  /// Unix time the item expires; -1 means never.
  std::int64_t exptime = -1;
  /// Unix time of the last access.
  std::int64_t last_access = 0;
  std::uint64_t cas = 0;
  /// Whether the item was read since it was stored.
  bool fetched = false;
  std::uint32_t slab_class = 0;
  /// Bytes the item occupies in memcached (key, value and item header).
  std::uint64_t size = 0;

  friend bool operator==(const MetadumpEntry&, const MetadumpEntry&) = default;
};

/// A server's classic `stats`: name/value pairs as text, in the server's order.
using ServerStats = std::vector<std::pair<std::string, std::string>>;

/// The operations shared by Client and HashClient.
class ClientBase {
 public:
  virtual ~ClientBase();
  ClientBase(const ClientBase&) = delete;
  ClientBase& operator=(const ClientBase&) = delete;

  /// Closes the client. Thread-safe and idempotent; returns without waiting. Every call
  /// that starts afterwards (blocking, start_*, async_*) fails with ClosedError. Calls in
  /// progress end promptly, each exactly once: with ClosedError, or with their result if
  /// it was already in; blocking calls waiting for a server are woken. Connections are
  /// closed; the I/O thread stays until the destructor (completions still run on it).
  /// In a fork child, closes only the child's side (see the top of this file).
  void close();

  // ------------------------------------------------------------ blocking
  /// The value under `key`, or nullopt on a miss. Throws InvalidArgumentError for a key
  /// memcached cannot store, IoError/TimeoutError/ProtocolError/ServerError otherwise.
  /// An error the server caused names it (Error::server()) and says why (Error::reason():
  /// e.g. kNotUnderstood for ERROR, kUnauthenticated when the server wants credentials).
  std::optional<Item> get(std::string_view key);
  /// One result per key, in order; requests are pipelined (per server on a HashClient).
  /// On the calling thread, as get(): one write per server and the replies read in order
  /// (several servers: written to all, then read one after another).
  std::vector<std::optional<Item>> get_many(std::span<const std::string> keys);
  /// Key `index`'s outcome in get_each: its item, nullopt for a miss, or the error that
  /// failed it.
  using GetEach =
      std::function<void(std::size_t index, std::exception_ptr error, std::optional<Item> item)>;
  /// get_many for callers that work on each value while the others are on their way:
  /// blocking, on the calling thread, with get_many's requests, each key's outcome handed
  /// to `on_item` once, as soon as its reply is parsed (in each server's reply order, a
  /// server after another), failures included: a key memcached cannot store, its server
  /// skipped or failing, the client closed, each fails its own keys only. Never throws
  /// itself; `on_item` must not throw.
  void get_each(std::span<const std::string> keys, const GetEach& on_item);
  /// Stores `value`. A value that cannot fit the server's item limit (learned once per
  /// server from `stats settings`) throws ValueTooLargeError before anything is sent, so
  /// the old value is kept; if the server itself refuses it (a value within a few bytes
  /// of the limit), ValueTooLargeError::reached_server() is true and memcached has
  /// dropped the old value under the key. Either way its reason() is kTooLarge and its
  /// server() the server concerned.
  StoreResult set(std::string_view key, std::string_view value, const SetOptions& options = {});
  /// Deletes `key`; false if it did not exist.
  bool del(std::string_view key);
  /// Marks `key` stale (md I): readers see it with `stale`, one of them wins the recache.
  bool invalidate(std::string_view key);
  /// Deletes `key` only while its CAS still equals `cas` (md C): false if it is gone or was
  /// written since. Meta protocol only (InvalidArgumentError in classic mode).
  bool del_if_cas(std::string_view key, std::uint64_t cas);
  MetaGetResult meta_get(std::string_view key, const MetaGetOptions& options);
  /// Classic `flush_all [delay]` on every server: wipes each whole server, not only
  /// LangChain's keys. With noreply, returns once the command is queued.
  /// Returns the number of servers flushed; throws if any server failed. Without a delay
  /// (and without noreply) each flush is checked: a sentinel entry written through the
  /// server just before must be gone after, else ServerError kFlushNotRouted names it (a
  /// proxy answering flush_all itself, such as memcached's built-in proxy). A delayed
  /// flush cannot be checked so.
  std::size_t flush_all(std::chrono::seconds delay = std::chrono::seconds{0}, bool noreply = false);

  // ------------------------------------------------------------ one server (for operators)
  // These go to server `server_index` of servers() directly, bypassing placement and the
  // failure rules (a HashClient skipping a server still asks it), so they report its real
  // health. Each has the request deadline. Throw InvalidArgumentError for a bad index,
  // IoError/TimeoutError when the server cannot be reached.

  /// Classic `version`: the server's version text, e.g. "1.6.18".
  std::string version(std::size_t server_index);
  /// Classic `stats`.
  ServerStats server_stats(std::size_t server_index);
  /// `lru_crawler metadump hash` (memcached 1.6.9+): every item the server holds, unordered
  /// (expired items it has not reclaimed yet may be listed). The whole listing is held in memory,
  /// bounded by ClientOptions::max_value_bytes of listing text (~75 bytes per item). Throws
  /// ServerError with reason() kBusy while another crawl runs on that server: retry later.
  std::vector<MetadumpEntry> metadump(std::size_t server_index);

  // ------------------------------------------------------------ completion tokens
  template <class Token>
  auto async_get(std::string_view key, Token&& token) {
    return detail::initiate<std::optional<Item>>(
        std::forward<Token>(token), executor(),
        [this, key = std::string(key)](auto callback) mutable {
          start_get(std::move(key), std::move(callback));
        });
  }
  template <class Token>
  auto async_get_many(std::vector<std::string> keys, Token&& token) {
    return detail::initiate<std::vector<std::optional<Item>>>(
        std::forward<Token>(token), executor(),
        [this, keys = std::move(keys)](auto callback) mutable {
          start_get_many(std::move(keys), std::move(callback));
        });
  }
  template <class Token>
  auto async_set(std::string_view key, std::string value, SetOptions options, Token&& token) {
    return detail::initiate<StoreResult>(
        std::forward<Token>(token), executor(),
        [this, key = std::string(key), value = std::move(value), options](auto callback) mutable {
          start_set(std::move(key), std::move(value), options, std::move(callback));
        });
  }
  template <class Token>
  auto async_del(std::string_view key, Token&& token) {
    return detail::initiate<bool>(std::forward<Token>(token), executor(),
                                  [this, key = std::string(key)](auto callback) mutable {
                                    start_del(std::move(key), false, std::move(callback));
                                  });
  }
  template <class Token>
  auto async_meta_get(std::string_view key, MetaGetOptions options, Token&& token) {
    return detail::initiate<MetaGetResult>(
        std::forward<Token>(token), executor(),
        [this, key = std::string(key), options](auto callback) mutable {
          start_meta_get(std::move(key), options, std::move(callback));
        });
  }
  template <class Token>
  auto async_flush_all(std::chrono::seconds delay, bool noreply, Token&& token) {
    return detail::initiate<std::size_t>(std::forward<Token>(token), executor(),
                                         [this, delay, noreply](auto callback) mutable {
                                           start_flush_all(delay, noreply, std::move(callback));
                                         });
  }

  // ------------------------------------------------------------ callback core
  void start_get(std::string key, Callback<std::optional<Item>> callback);
  void start_get_many(std::vector<std::string> keys,
                      Callback<std::vector<std::optional<Item>>> callback);
  void start_set(std::string key, std::string value, const SetOptions& options,
                 Callback<StoreResult> callback);
  /// With `invalidate`, marks the item stale instead of removing it.
  void start_del(std::string key, bool invalidate, Callback<bool> callback);
  void start_meta_get(std::string key, const MetaGetOptions& options,
                      Callback<MetaGetResult> callback);
  void start_del_if_cas(std::string key, std::uint64_t cas, Callback<bool> callback);
  void start_flush_all(std::chrono::seconds delay, bool noreply, Callback<std::size_t> callback);
  void start_version(std::size_t server_index, Callback<std::string> callback);
  void start_server_stats(std::size_t server_index, Callback<ServerStats> callback);
  void start_metadump(std::size_t server_index, Callback<std::vector<MetadumpEntry>> callback);

  // ------------------------------------------------------------ introspection
  /// The I/O thread's executor.
  asio::any_io_executor executor() const;
  /// True on the client's I/O thread, where blocking calls are refused (they would
  /// wait for the very thread they block).
  bool on_io_thread() const;
  /// The protocol the server holding `key` now speaks: Protocol::kMeta or kClassic (never
  /// kAuto). Under kAuto each server decides by its own probe: one not decided yet is
  /// probed now, on the calling thread (so not on the I/O thread); throws as a request
  /// would when it cannot.
  Protocol protocol(std::string_view key);
  /// The same without blocking: `callback` runs once, at once on the calling thread when
  /// the protocol is decided, else on the I/O thread after the probe (or with its error).
  void start_protocol(std::string key, Callback<Protocol> callback);
  /// The servers, in the order given.
  std::vector<ServerAddress> servers() const;
  /// The server that currently holds `key` (after failover, if any). Throws IoError
  /// (reason kNoServerAvailable) if every server is down.
  ServerAddress server_for(std::string_view key) const;

 protected:
  /// `make_transport` builds the transport now, and again in a fork child on its first call.
  /// `key_prefix`: ClientOptions::key_prefix, already checked.
  ClientBase(std::function<std::unique_ptr<detail::Transport>()> make_transport,
             std::string key_prefix);

 private:
  /// `key` as memcached sees it: after key_prefix_. Placement uses `key` itself.
  std::string wire_key(std::string_view key) const;

  std::unique_ptr<detail::Lifecycle> lifecycle_;
  std::string key_prefix_;
};

/// A client for one memcached server. Reconnects by itself after a failure; unlike
/// HashClient it never skips its server, so every call during an outage fails fast
/// with IoError (connection refused) or TimeoutError.
class Client final : public ClientBase {
 public:
  explicit Client(ServerAddress server, ClientOptions options = {});
  /// `server` is "host:port" or a Unix socket "/path" (see parse_server). Throws
  /// InvalidArgumentError for TLS over a Unix socket.
  explicit Client(std::string_view server, ClientOptions options = {});
};

/// Keys spread over several servers exactly as pymemcache's HashClient places them
/// (rendezvous hashing on MurmurHash3 of "host:port-key"), with its failure rules:
/// a failing server is skipped without I/O for retry_timeout, removed after
/// retry_attempts failures (its keys move), and tried again after dead_timeout.
/// Requests for a skipped server fail fast with IoError (reason kServerDown, server() the
/// one skipped); with every server removed, with IoError (reason kNoServerAvailable).
class HashClient final : public ClientBase {
 public:
  explicit HashClient(std::vector<ServerAddress> servers, HashClientOptions options = {});
  /// `servers` is a list such as "h1:11211,h2:11211" (see parse_servers).
  explicit HashClient(std::string_view servers, HashClientOptions options = {});
};

}  // namespace llmcache
