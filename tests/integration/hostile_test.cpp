// Hostile and malformed replies, from a scripted fake server (no real memcached sends
// them). For each: the caller gets ProtocolError (or IoError when the fake hangs up), never
// a value and never a hang; the client drops that connection (the fake sees it closed);
// its memory stays bounded; and the next request works over a fresh connection. Checked
// on the blocking fast path, the async pipelined path, and MemcachedCache::lookup (a miss,
// counted, never an exception).
#include <llmcache/cache.hpp>
#include <llmcache/client.hpp>
#include <llmcache/codec.hpp>
#include <llmcache/errors.hpp>
#include <llmcache/key.hpp>
#include <llmcache/log.hpp>

#include "support/fake_server.hpp"
#include "support/log_and_errors.hpp"

#include <gtest/gtest.h>
#include <asio/use_future.hpp>

#include <atomic>
#include <functional>
#include <future>
#include <random>

namespace llmcache {
namespace {

using testing::describe;
using testing::holds;

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using testing::FakePeer;
using testing::FakeRequest;
using testing::FakeServer;

// Long enough that a client which missed the fault would end in TimeoutError, which the
// tests tell apart from the error the fault should cause at once.
constexpr auto kRequestTimeout = 8s;
// How long the fake waits to see the client hang up after a bad reply.
constexpr auto kCloseWait = 5s;
// The parser's default limit on a header line (protocol::ParserLimits::max_line_bytes).
constexpr std::size_t kMaxLineBytes = 4096;

// The meta suite fixes the protocol, so the scripts see the request itself and not the
// auto-detection probe; the classic suite runs the same faults in classic terms.
ClientOptions patient_options(Protocol protocol) {
  ClientOptions options;
  options.protocol = protocol;
  options.connect_timeout = 2s;
  options.request_timeout = kRequestTimeout;
  options.max_value_bytes = 1u << 20;
  return options;
}

std::string opaque_of(const FakeRequest& request) {
  return request.opaque ? " O" + std::to_string(*request.opaque) : "";
}

// ---------------------------------------------------------------- the faults

enum class Expect { kProtocolError, kIoError };

struct Hostile {
  const char* name;
  /// The bytes the fake answers the first request with.
  std::function<std::string(const FakeRequest&)> reply;
  /// The fake hangs up after replying (the client then sees the connection end).
  bool fake_closes;
  Expect expect;
};

void PrintTo(const Hostile& hostile, std::ostream* os) {
  *os << hostile.name;
}

std::string garbage() {
  std::mt19937 random(20261125);
  std::string bytes(512, '\0');
  for (auto& c : bytes) c = static_cast<char>(random() & 0xff);
  // A NUL first: no reply code starts with one, whatever the random bytes say.
  bytes[0] = '\0';
  bytes += "\r\n";
  return bytes;
}

const std::vector<Hostile>& hostile_replies() {
  static const std::vector<Hostile> cases = {
      {"TruncatedLineThenClose", [](const FakeRequest& r) { return "VA 5 f0" + opaque_of(r); },
       true, Expect::kIoError},
      {"LineEndingCutAtCrThenClose",
       [](const FakeRequest& r) { return "EN" + opaque_of(r) + "\r"; }, true, Expect::kIoError},
      {"ValueShorterThanItsLengthThenClose",
       [](const FakeRequest& r) { return "VA 10 f0" + opaque_of(r) + "\r\nabc"; }, true,
       Expect::kIoError},
      {"ValueLongerThanItsLength",
       [](const FakeRequest& r) { return "VA 3 f0" + opaque_of(r) + "\r\n0123456789\r\n"; }, false,
       Expect::kProtocolError},
      {"LengthTwoToThe63",
       [](const FakeRequest& r) {
         return "VA 9223372036854775808 f0" + opaque_of(r) + "\r\nabc\r\n";
       },
       false, Expect::kProtocolError},
      {"LengthTwoToThe64PlusOne",
       [](const FakeRequest& r) {
         return "VA 18446744073709551617 f0" + opaque_of(r) + "\r\nabc\r\n";
       },
       false, Expect::kProtocolError},
      {"NegativeLength",
       [](const FakeRequest& r) { return "VA -1 f0" + opaque_of(r) + "\r\nabc\r\n"; }, false,
       Expect::kProtocolError},
      {"LengthAboveMaxValueBytes",
       [](const FakeRequest& r) { return "VA 2000000 f0" + opaque_of(r) + "\r\nabc"; }, false,
       Expect::kProtocolError},
      {"UnknownTwoLetterCode", [](const FakeRequest& r) { return "ZZ" + opaque_of(r) + "\r\n"; },
       false, Expect::kProtocolError},
      {"UnknownWord", [](const FakeRequest&) { return std::string("HELLO there\r\n"); }, false,
       Expect::kProtocolError},
      {"BinaryGarbage", [](const FakeRequest&) { return garbage(); }, false,
       Expect::kProtocolError},
      {"GarbageFlags", [](const FakeRequest& r) { return "EN" + opaque_of(r) + " \x01\x7f\r\n"; },
       false, Expect::kProtocolError},
      {"BareLineFeed", [](const FakeRequest& r) { return "EN" + opaque_of(r) + "\n"; }, false,
       Expect::kProtocolError},
      {"WrongOpaque",
       [](const FakeRequest& r) {
         return "VA 5 f0 O" + std::to_string(r.opaque.value_or(0) + 1000) + "\r\nwrong\r\n";
       },
       false, Expect::kProtocolError},
      {"NoOpaque", [](const FakeRequest&) { return std::string("VA 5 f0\r\nwrong\r\n"); }, false,
       Expect::kProtocolError},
      // A reply to a request never made, then the real one: the first is taken for the
      // answer unless the opaque is checked.
      {"UnsolicitedReplyBeforeTheRealOne",
       [](const FakeRequest& r) {
         return "VA 5 f0 O" + std::to_string(r.opaque.value_or(0) + 7) + "\r\nwrong\r\n" + "EN" +
                opaque_of(r) + "\r\n";
       },
       false, Expect::kProtocolError},
  };
  return cases;
}

// The same faults as the classic protocol's replies would carry them (no opaque there:
// pairing is by order alone, so a stray reply is told by its shape, not its number).
const std::vector<Hostile>& classic_hostile_replies() {
  static const std::vector<Hostile> cases = {
      {"TruncatedLineThenClose", [](const FakeRequest&) { return std::string("VALUE k 0 5"); },
       true, Expect::kIoError},
      {"TruncatedValueThenClose",
       [](const FakeRequest& r) { return "VALUE " + r.key + " 0 10\r\nabc"; }, true,
       Expect::kIoError},
      {"ValueLongerThanAnnounced",
       [](const FakeRequest& r) { return "VALUE " + r.key + " 0 3\r\n0123456789\r\nEND\r\n"; },
       false, Expect::kProtocolError},
      {"NegativeLength",
       [](const FakeRequest& r) { return "VALUE " + r.key + " 0 -1\r\nabc\r\nEND\r\n"; }, false,
       Expect::kProtocolError},
      {"LengthOverTheLimit",
       [](const FakeRequest& r) { return "VALUE " + r.key + " 0 2000000\r\nabc"; }, false,
       Expect::kProtocolError},
      {"NoEnd",
       [](const FakeRequest& r) { return "VALUE " + r.key + " 0 5\r\nwrong\r\nSTORED\r\n"; }, false,
       Expect::kProtocolError},
      {"MetaReply", [](const FakeRequest&) { return std::string("VA 5 f0\r\nwrong\r\n"); }, false,
       Expect::kProtocolError},
      {"UnknownWord", [](const FakeRequest&) { return std::string("HELLO there\r\n"); }, false,
       Expect::kProtocolError},
      {"BinaryGarbage", [](const FakeRequest&) { return garbage(); }, false,
       Expect::kProtocolError},
      {"BareLineFeed", [](const FakeRequest&) { return std::string("END\n"); }, false,
       Expect::kProtocolError},
      {"StoreReplyToAGet", [](const FakeRequest&) { return std::string("STORED\r\n"); }, false,
       Expect::kProtocolError},
      // Classic replies name their key instead of echoing an opaque: an item for a key the
      // request did not ask for answers another request.
      {"ValueForAKeyNotAskedFor",
       [](const FakeRequest& r) { return "VALUE " + r.key + "x 0 5\r\nwrong\r\nEND\r\n"; }, false,
       Expect::kProtocolError},
      {"ValueForTheKeyThenAnother",
       [](const FakeRequest& r) {
         return "VALUE " + r.key + " 0 3\r\nv:k\r\nVALUE other 0 5\r\nwrong\r\nEND\r\n";
       },
       false, Expect::kProtocolError},
      {"ValueForTheKeyTwice",
       [](const FakeRequest& r) {
         return "VALUE " + r.key + " 0 3\r\nv:k\r\nVALUE " + r.key + " 0 5\r\nwrong\r\nEND\r\n";
       },
       false, Expect::kProtocolError},
  };
  return cases;
}

// kBlockingGetMany and kCacheLookupMany: the blocking pipelined batch (get_many,
// lookup_many) of one key, which reads its replies with its own loop.
enum class Path {
  kBlocking,
  kAsync,
  kCacheLookup,
  kCacheAsyncLookup,
  kBlockingGetMany,
  kCacheLookupMany
};

const char* path_name(Path path) {
  switch (path) {
    case Path::kBlocking:
      return "Blocking";
    case Path::kAsync:
      return "Async";
    case Path::kCacheLookup:
      return "CacheLookup";
    case Path::kCacheAsyncLookup:
      return "CacheAsyncLookup";
    case Path::kBlockingGetMany:
      return "BlockingGetMany";
    case Path::kCacheLookupMany:
      return "CacheLookupMany";
  }
  return "?";
}

const char* kPrompt = "hostile prompt";
const char* kLlm = "hostile llm";

// What the well-behaved server holds: "k" for the client paths, one entry for the cache.
std::string stored_value(const std::string& key) {
  return key == "k" ? "v:k" : encode_generations({Generation{"cached", {}}});
}

// Connection 0 runs the hostile script; later connections are well behaved.
struct Fixture {
  explicit Fixture(FakeServer::Script script, Protocol protocol = Protocol::kMeta)
      : server(std::vector<FakeServer::Script>{std::move(script)}),
        client(std::make_shared<Client>(server.address(), patient_options(protocol))),
        cache(client) {
    server.store("k", stored_value("k"));
    const std::string cache_key = langchain_key(kPrompt, kLlm);
    server.store(cache_key, stored_value(cache_key));
  }
  FakeServer server;
  std::shared_ptr<Client> client;
  MemcachedCache cache;
};

struct Outcome {
  std::exception_ptr error;
  bool got_a_value = false;
  Clock::duration elapsed{};
};

// One request on `path`. Cache paths never throw: a miss there is reported as a null
// error with no value, and the counters say why.
Outcome request(Fixture& f, Path path) {
  Outcome outcome;
  const auto start = Clock::now();
  try {
    switch (path) {
      case Path::kBlocking:
        outcome.got_a_value = f.client->get("k").has_value();
        break;
      case Path::kAsync:
        outcome.got_a_value = f.client->async_get("k", asio::use_future).get().has_value();
        break;
      case Path::kCacheLookup:
        outcome.got_a_value = f.cache.lookup(kPrompt, kLlm).has_value();
        break;
      case Path::kCacheAsyncLookup:
        outcome.got_a_value =
            f.cache.async_lookup(kPrompt, kLlm, asio::use_future).get().has_value();
        break;
      case Path::kBlockingGetMany: {
        const std::vector<std::string> keys = {"k"};
        outcome.got_a_value = f.client->get_many(keys).at(0).has_value();
        break;
      }
      case Path::kCacheLookupMany: {
        const std::vector<std::pair<std::string, std::string>> prompts = {{kPrompt, kLlm}};
        outcome.got_a_value = f.cache.lookup_many(prompts).at(0).has_value();
        break;
      }
    }
  } catch (...) {
    outcome.error = std::current_exception();
  }
  outcome.elapsed = Clock::now() - start;
  return outcome;
}

bool is_cache_path(Path path) {
  return path == Path::kCacheLookup || path == Path::kCacheAsyncLookup ||
         path == Path::kCacheLookupMany;
}

// One hostile reply on `path`: that request fails (never with a value), the client drops
// the connection, and the next request works over a fresh one.
void expect_survives(const Hostile& hostile, Path path, Protocol protocol) {
  set_log_handler([](LogLevel, std::string_view) {});
  std::promise<bool> client_closed;
  Fixture f(
      [&, hostile = hostile](FakePeer& peer) {
        auto first = peer.read_request();
        if (!first) return client_closed.set_value(true);
        peer.send(hostile.reply(*first));
        if (hostile.fake_closes) {
          peer.close();
          return client_closed.set_value(true);
        }
        client_closed.set_value(peer.wait_for_client_close(kCloseWait));
      },
      protocol);

  const Outcome outcome = request(f, path);
  EXPECT_FALSE(outcome.got_a_value) << "a hostile reply was taken for a value";
  if (is_cache_path(path)) {
    EXPECT_FALSE(outcome.error) << "lookup must not throw: " << describe(outcome.error);
    const CacheStats stats = f.cache.stats();
    EXPECT_EQ(stats.misses, 1u);
    EXPECT_EQ(stats.timeouts, 0u);
    if (hostile.expect == Expect::kProtocolError) {
      EXPECT_EQ(stats.protocol_errors, 1u);
    } else {
      EXPECT_EQ(stats.io_errors, 1u);
    }
  } else if (hostile.expect == Expect::kProtocolError) {
    EXPECT_TRUE(holds<ProtocolError>(outcome.error)) << describe(outcome.error);
  } else {
    EXPECT_TRUE(holds<IoError>(outcome.error)) << describe(outcome.error);
    EXPECT_FALSE(holds<TimeoutError>(outcome.error)) << describe(outcome.error);
  }
  // Decided by the fault itself, not by the deadline.
  EXPECT_LT(outcome.elapsed, kRequestTimeout);

  auto closed = client_closed.get_future();
  ASSERT_EQ(closed.wait_for(kCloseWait + 2s), std::future_status::ready);
  EXPECT_TRUE(closed.get()) << "the client kept a connection that sent garbage";

  // The next request goes over a fresh, well-behaved connection and works.
  const Outcome next = request(f, path);
  EXPECT_FALSE(next.error) << describe(next.error);
  EXPECT_TRUE(next.got_a_value);
  EXPECT_EQ(f.server.accepted(), 2u);
  if (is_cache_path(path)) {
    EXPECT_EQ(f.cache.stats().hits, 1u);
  }
}

class HostileReply : public ::testing::TestWithParam<std::tuple<Hostile, Path>> {};

TEST_P(HostileReply, FailsThatRequestDropsTheConnectionAndCarriesOn) {
  expect_survives(std::get<0>(GetParam()), std::get<1>(GetParam()), Protocol::kMeta);
}

class ClassicHostileReply : public HostileReply {};

TEST_P(ClassicHostileReply, FailsThatRequestDropsTheConnectionAndCarriesOn) {
  expect_survives(std::get<0>(GetParam()), std::get<1>(GetParam()), Protocol::kClassic);
}

std::string hostile_name(const ::testing::TestParamInfo<HostileReply::ParamType>& info) {
  return std::string(std::get<0>(info.param).name) + "_" + path_name(std::get<1>(info.param));
}

const auto kEveryPath =
    ::testing::Values(Path::kBlocking, Path::kAsync, Path::kCacheLookup, Path::kCacheAsyncLookup,
                      Path::kBlockingGetMany, Path::kCacheLookupMany);

INSTANTIATE_TEST_SUITE_P(Replies, HostileReply,
                         ::testing::Combine(::testing::ValuesIn(hostile_replies()), kEveryPath),
                         hostile_name);
INSTANTIATE_TEST_SUITE_P(Replies, ClassicHostileReply,
                         ::testing::Combine(::testing::ValuesIn(classic_hostile_replies()),
                                            kEveryPath),
                         hostile_name);

// ---------------------------------------------------------------- bounded memory

using PathAndProtocol = std::tuple<Path, Protocol>;

std::string path_and_protocol_name(const ::testing::TestParamInfo<PathAndProtocol>& info) {
  return std::string(path_name(std::get<0>(info.param))) +
         (std::get<1>(info.param) == Protocol::kClassic ? "_Classic" : "");
}

const auto kEveryPathAndProtocol =
    ::testing::Combine(kEveryPath, ::testing::Values(Protocol::kMeta, Protocol::kClassic));

class EndlessLine : public ::testing::TestWithParam<PathAndProtocol> {};

// A peer that never ends its line must be cut off once the line passes the parser's limit,
// not buffered until memory runs out: the fake sends at most twice the limit and then
// waits; the client has to give up on those bytes alone, long before its deadline.
TEST_P(EndlessLine, IsCutOffWithinTwiceTheLineLimit) {
  set_log_handler([](LogLevel, std::string_view) {});
  std::promise<bool> client_closed;
  std::atomic<std::size_t> sent{0};
  const auto [path, protocol] = GetParam();
  Fixture f(
      [&, protocol = protocol](FakePeer& peer) {
        auto first = peer.read_request();
        if (!first) return client_closed.set_value(true);
        std::string line =
            protocol == Protocol::kClassic ? "SERVER_ERROR " : "EN" + opaque_of(*first) + " ";
        const std::string chunk(512, 'x');
        while (line.size() < 2 * kMaxLineBytes) line += chunk;
        line.resize(2 * kMaxLineBytes);
        for (std::size_t pos = 0; pos < line.size(); pos += chunk.size()) {
          if (!peer.send(std::string_view(line).substr(pos, chunk.size()))) break;
        }
        sent = peer.bytes_sent();
        client_closed.set_value(peer.wait_for_client_close(kCloseWait));
      },
      protocol);
  const Outcome outcome = request(f, path);
  EXPECT_FALSE(outcome.got_a_value);
  if (is_cache_path(path)) {
    EXPECT_FALSE(outcome.error) << describe(outcome.error);
    EXPECT_EQ(f.cache.stats().protocol_errors, 1u);
  } else {
    EXPECT_TRUE(holds<ProtocolError>(outcome.error)) << describe(outcome.error);
  }
  EXPECT_LT(outcome.elapsed, kRequestTimeout);
  auto closed = client_closed.get_future();
  ASSERT_EQ(closed.wait_for(kCloseWait + 2s), std::future_status::ready);
  EXPECT_TRUE(closed.get());
  EXPECT_LE(sent.load(), 2 * kMaxLineBytes);
  const Outcome next = request(f, path);
  EXPECT_FALSE(next.error) << describe(next.error);
  EXPECT_TRUE(next.got_a_value);
}

INSTANTIATE_TEST_SUITE_P(Paths, EndlessLine, kEveryPathAndProtocol, path_and_protocol_name);

// ---------------------------------------------------------------- unsolicited replies

class UnsolicitedReply : public ::testing::TestWithParam<PathAndProtocol> {};

// After a good reply the fake sends a reply to a request never made. The connection is
// out of sync from then on: the client must hang up on it rather than hand that reply to
// its next request, and the next request must still succeed (on a fresh connection).
TEST_P(UnsolicitedReply, OnAnIdleConnectionIsNeverTakenForTheNextAnswer) {
  set_log_handler([](LogLevel, std::string_view) {});
  std::promise<void> unsolicited_sent;
  std::promise<bool> client_closed;
  const auto [path, protocol] = GetParam();
  Fixture f(
      [&, protocol = protocol](FakePeer& peer) {
        auto first = peer.read_request();
        if (!first) return client_closed.set_value(true);
        const std::string value = stored_value(first->key);
        const std::string size = std::to_string(value.size());
        // memcached would never send the second reply: it answers requests, one reply each.
        if (protocol == Protocol::kClassic) {
          peer.send("VALUE " + first->key + " 0 " + size + "\r\n" + value + "\r\nEND\r\n");
          peer.send("VALUE " + first->key + " 0 5\r\nwrong\r\nEND\r\n");
        } else {
          peer.send("VA " + size + " f0" + opaque_of(*first) + "\r\n" + value + "\r\n");
          peer.send("VA 5 f0 O" + std::to_string(first->opaque.value_or(0) + 1) + "\r\nwrong\r\n");
        }
        unsolicited_sent.set_value();
        client_closed.set_value(peer.wait_for_client_close(kCloseWait));
      },
      protocol);
  const Outcome first = request(f, path);
  EXPECT_FALSE(first.error) << describe(first.error);
  EXPECT_TRUE(first.got_a_value);
  unsolicited_sent.get_future().wait();
  // The async path reads all the time and drops the connection by itself; the blocking
  // one finds the bytes when it next takes the idle socket. Either way the next request
  // is answered correctly, by a fresh connection.
  if (path == Path::kAsync || path == Path::kCacheAsyncLookup) {
    EXPECT_TRUE(f.server.wait_connection_ended(0, kCloseWait));
  }
  const Outcome second = request(f, path);
  EXPECT_FALSE(second.error) << describe(second.error);
  EXPECT_TRUE(second.got_a_value);
  auto closed = client_closed.get_future();
  ASSERT_EQ(closed.wait_for(kCloseWait + 2s), std::future_status::ready);
  EXPECT_TRUE(closed.get());
  EXPECT_EQ(f.server.accepted(), 2u);
  if (is_cache_path(path)) {
    EXPECT_EQ(f.cache.stats().hits, 2u);
    EXPECT_EQ(f.cache.stats().misses, 0u);
  }
}

INSTANTIATE_TEST_SUITE_P(Paths, UnsolicitedReply, kEveryPathAndProtocol, path_and_protocol_name);

// ---------------------------------------------------------------- fragmented replies

// Values that look like replies, so a parser that lost its place would show it.
std::string tricky_value(std::size_t i) {
  return "value-" + std::to_string(i) + "\r\nVA 3 f0 O" + std::to_string(i) + "\r\nEN\r\n" +
         std::string(i % 97, static_cast<char>('a' + i % 26));
}

TEST(HostileFragments, PipelinedRepliesSplitAcrossManyPacketsAllReachTheirOwnRequests) {
  constexpr std::size_t kRequests = 200;
  Fixture f([&](FakePeer& peer) {
    std::string replies;
    for (std::size_t n = 0; n < kRequests; ++n) {
      auto request = peer.read_request();
      if (!request) return;
      const std::size_t i = std::stoul(request->key.substr(1));
      const std::string value = tricky_value(i);
      replies += "VA " + std::to_string(value.size()) + " f0" + opaque_of(*request) + "\r\n" +
                 value + "\r\n";
    }
    // Every reply in pieces of 1..7 bytes: headers, values and terminators all split.
    peer.send_in_pieces(replies, 7, 42);
    peer.wait_for_client_close(kCloseWait);
  });
  std::vector<std::future<std::optional<Item>>> results;
  for (std::size_t i = 0; i < kRequests; ++i) {
    results.push_back(f.client->async_get("k" + std::to_string(i), asio::use_future));
  }
  std::size_t right = 0;
  for (std::size_t i = 0; i < kRequests; ++i) {
    auto item = results[i].get();
    if (item && item->value == tricky_value(i)) ++right;
  }
  EXPECT_EQ(right, kRequests);
}

TEST(HostileFragments, BlockingRepliesByteByByte) {
  constexpr std::size_t kRequests = 20;
  Fixture f([&](FakePeer& peer) {
    while (auto request = peer.read_request()) {
      const std::string value = tricky_value(std::stoul(request->key.substr(1)));
      peer.send_in_pieces("VA " + std::to_string(value.size()) + " f0" + opaque_of(*request) +
                              "\r\n" + value + "\r\n",
                          1, 7);
    }
  });
  for (std::size_t i = 0; i < kRequests; ++i) {
    auto item = f.client->get("k" + std::to_string(i));
    ASSERT_TRUE(item) << i;
    EXPECT_EQ(item->value, tricky_value(i));
  }
  EXPECT_EQ(f.server.accepted(), 1u);  // one connection, in sync throughout
}

// Two async gets, "a" then "b", whose replies `swapped(a, b)` gives in the wrong order: both
// fail with ProtocolError, neither gets the other's value, and the connection is dropped.
void expect_swapped_replies_fail(
    Protocol protocol,
    std::function<std::string(const FakeRequest& a, const FakeRequest& b)> swapped) {
  set_log_handler([](LogLevel, std::string_view) {});
  std::promise<void> a_read;
  Fixture f(
      [&](FakePeer& peer) {
        auto a = peer.read_request();
        a_read.set_value();
        auto b = peer.read_request();
        if (!a || !b) return;
        peer.send(swapped(*a, *b));
        peer.wait_for_client_close(kCloseWait);
      },
      protocol);
  auto a = f.client->async_get("a", asio::use_future);
  // "b" only once "a" is on the wire: classic gets queued together would share one line.
  a_read.get_future().wait();
  auto b = f.client->async_get("b", asio::use_future);
  for (auto* result : {&a, &b}) {
    try {
      auto item = result->get();
      ADD_FAILURE() << "got " << (item ? item->value : "a miss") << " from out-of-order replies";
    } catch (const ProtocolError&) {
    }
  }
  EXPECT_TRUE(f.server.wait_connection_ended(0, kCloseWait));
  EXPECT_EQ(f.client->get("k")->value, "v:k");
}

TEST(HostileFragments, RepliesInTheWrongOrderFailBothRequestsAndNeitherGetsTheOtherValue) {
  expect_swapped_replies_fail(Protocol::kMeta, [](const FakeRequest& a, const FakeRequest& b) {
    return "VA 3 f0" + opaque_of(b) + "\r\nv:b\r\nVA 3 f0" + opaque_of(a) + "\r\nv:a\r\n";
  });
}

TEST(HostileFragments, ClassicRepliesInTheWrongOrderFailBothRequestsAndNeitherGetsTheOtherValue) {
  // Without an opaque, only the key a VALUE names shows that it answers the other request.
  expect_swapped_replies_fail(Protocol::kClassic, [](const FakeRequest&, const FakeRequest&) {
    return std::string("VALUE b 0 3\r\nv:b\r\nEND\r\nVALUE a 0 3\r\nv:a\r\nEND\r\n");
  });
}

// A classic get_many asks for several keys in one request: an item for any other key fails
// the call, the connection is dropped, and the next get_many works on a fresh one.
TEST(HostileClassicGetMany, AValueForAKeyNotAskedForFailsTheCallAndDropsTheConnection) {
  set_log_handler([](LogLevel, std::string_view) {});
  std::promise<bool> client_closed;
  Fixture f(
      [&](FakePeer& peer) {
        auto request = peer.read_request();
        if (!request) return client_closed.set_value(true);
        EXPECT_EQ(request->line, "get k missing");
        peer.send("VALUE k 0 3\r\nv:k\r\nVALUE stranger 0 5\r\nwrong\r\nEND\r\n");
        client_closed.set_value(peer.wait_for_client_close(kCloseWait));
      },
      Protocol::kClassic);
  const std::vector<std::string> keys = {"k", "missing"};
  EXPECT_THROW(f.client->get_many(keys), ProtocolError);
  auto closed = client_closed.get_future();
  ASSERT_EQ(closed.wait_for(kCloseWait + 2s), std::future_status::ready);
  EXPECT_TRUE(closed.get()) << "the client kept a connection that answered another request";
  const auto items = f.client->get_many(keys);
  ASSERT_EQ(items.size(), 2u);
  ASSERT_TRUE(items[0]);
  EXPECT_EQ(items[0]->value, "v:k");
  EXPECT_FALSE(items[1]);
  EXPECT_EQ(f.server.accepted(), 2u);
}

}  // namespace
}  // namespace llmcache
