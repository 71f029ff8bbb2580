// The classic text protocol (ClientOptions::protocol) against real memcached, and the
// auto-detection against scripted fakes that answer the probe as twemproxy, memcached 1.5
// and memcached 1.6.9 do.
#include <llmcache/client.hpp>
#include <llmcache/errors.hpp>

#include "protocol/classic_requests.hpp"
#include "support/fake_server.hpp"
#include "support/memcached_server.hpp"

#include <gtest/gtest.h>
#include <asio/use_future.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

namespace llmcache {
namespace {

using namespace std::chrono_literals;
using testing::FakePeer;
using testing::FakeServer;
using testing::MemcachedServer;

ClientOptions with_protocol(Protocol protocol) {
  ClientOptions options;
  options.connect_timeout = 2s;
  options.request_timeout = 2s;
  options.protocol = protocol;
  return options;
}

TEST(ClassicProtocol, EveryOperationAgainstRealMemcached) {
  MemcachedServer server;
  Client client(server.address(), with_protocol(Protocol::kClassic));
  SetOptions options;
  options.flags = 7;
  options.ttl = 60s;
  EXPECT_EQ(client.set("a", "alpha\r\nEND\r\n", options), StoreResult::kStored);
  auto item = client.get("a");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->value, "alpha\r\nEND\r\n");
  EXPECT_EQ(item->flags, 7u);
  EXPECT_FALSE(client.get("missing"));
  EXPECT_EQ(client.async_set("b", "beta", {}, asio::use_future).get(), StoreResult::kStored);
  EXPECT_EQ(client.async_get("b", asio::use_future).get()->value, "beta");
  const std::vector<std::string> keys = {"a", "missing", "b"};
  const auto many = client.get_many(keys);
  ASSERT_EQ(many.size(), 3u);
  EXPECT_EQ(many[0]->value, "alpha\r\nEND\r\n");
  EXPECT_FALSE(many[1]);
  EXPECT_EQ(many[2]->value, "beta");
  SetOptions add;
  add.only_if_absent = true;
  EXPECT_EQ(client.set("a", "other", add), StoreResult::kNotStored);  // classic add
  EXPECT_EQ(client.set("fresh", "new", add), StoreResult::kStored);
  EXPECT_TRUE(client.del("a"));
  EXPECT_FALSE(client.del("a"));
  EXPECT_FALSE(client.version(0).empty());
  EXPECT_FALSE(client.server_stats(0).empty());
  EXPECT_EQ(client.flush_all(), 1u);
  EXPECT_FALSE(client.get("b"));
}

// ---------------------------------------------------------------- get_many in classic mode

// The values a get_many should find: every third key missing, and one key asked twice.
struct Batch {
  std::vector<std::string> keys;
  std::vector<std::optional<std::string>> expected;
};

Batch batch_of(std::size_t count, std::size_t key_bytes) {
  Batch batch;
  for (std::size_t i = 0; i < count; ++i) {
    std::string key = "k" + std::to_string(i) + "-";
    key.resize(std::max(key.size(), key_bytes), 'x');
    batch.keys.push_back(key);
    batch.expected.push_back(i % 3 == 1 ? std::nullopt
                                        : std::optional<std::string>("v" + std::to_string(i)));
  }
  batch.keys.push_back(batch.keys[0]);
  batch.expected.push_back(batch.expected[0]);
  return batch;
}

template <class C>
void store(C& client, const Batch& batch) {
  for (std::size_t i = 0; i < batch.keys.size(); ++i) {
    if (batch.expected[i]) client.set(batch.keys[i], *batch.expected[i]);
  }
}

std::vector<std::optional<std::string>> values_of(const std::vector<std::optional<Item>>& items) {
  std::vector<std::optional<std::string>> values;
  for (const auto& item : items) {
    values.push_back(item ? std::optional<std::string>(item->value) : std::nullopt);
  }
  return values;
}

TEST(ClassicGetMany, AgainstRealMemcachedFindsWhatMetaFinds) {
  MemcachedServer server;
  Client classic(server.address(), with_protocol(Protocol::kClassic));
  Client meta(server.address(), with_protocol(Protocol::kMeta));
  // 200-byte keys: 300 of them take several 16 KB request lines.
  const Batch batch = batch_of(300, 200);
  store(meta, batch);
  EXPECT_EQ(values_of(classic.get_many(batch.keys)), batch.expected);
  EXPECT_EQ(values_of(classic.async_get_many(batch.keys, asio::use_future).get()), batch.expected);
  EXPECT_EQ(values_of(classic.get_many(batch.keys)), values_of(meta.get_many(batch.keys)));
  // Flags travel with each item, and the connection stays in step for what follows.
  SetOptions flags;
  flags.flags = 9;
  classic.set(batch.keys[0], "flagged", flags);
  EXPECT_EQ(classic.get_many(std::vector<std::string>{batch.keys[0]})[0]->flags, 9u);
  EXPECT_EQ(classic.get(batch.keys[2])->value, "v2");
}

// Connection 0 answers classic gets as a proxy may: hits in reverse order, then END; it
// records each request line.
FakeServer::Script reordering_proxy(std::vector<std::string>& lines, const Batch& batch) {
  return [&lines, &batch](FakePeer& peer) {
    while (auto request = peer.read_request()) {
      lines.push_back(request->line);
      std::vector<std::string> hits;
      std::istringstream words(request->line);
      std::string key;
      words >> key;  // the command
      while (words >> key) {
        for (std::size_t i = 0; i < batch.keys.size(); ++i) {
          if (batch.keys[i] != key || !batch.expected[i]) continue;
          const std::string& value = *batch.expected[i];
          hits.push_back("VALUE " + key + " 0 " + std::to_string(value.size()) + "\r\n" + value +
                         "\r\n");
          break;
        }
      }
      std::string reply;
      for (auto hit = hits.rbegin(); hit != hits.rend(); ++hit) reply += *hit;
      if (!peer.send(reply + "END\r\n")) return;
    }
  };
}

TEST(ClassicGetMany, OneGetPerLineUnderTheLimitItemsPairedByKeyInAnyOrder) {
  const Batch batch = batch_of(200, 200);  // 40 KB of keys: three lines
  std::vector<std::string> lines;
  {
    FakeServer server({reordering_proxy(lines, batch)});
    Client client(server.address(), with_protocol(Protocol::kClassic));
    EXPECT_EQ(values_of(client.get_many(batch.keys)), batch.expected);
  }
  ASSERT_EQ(lines.size(), 3u);
  std::vector<std::string> asked;
  for (const auto& line : lines) {
    EXPECT_LE(line.size() + 2, protocol::kClassicGetLineLimit);
    std::istringstream words(line);
    std::string word;
    words >> word;
    EXPECT_EQ(word, "get");
    while (words >> word) asked.push_back(word);
  }
  // Each key once, the repeated one too, in the caller's order.
  EXPECT_EQ(asked, std::vector<std::string>(batch.keys.begin(), batch.keys.end() - 1));
}

TEST(ClassicGetMany, AHashClientAsksEachServerForItsOwnKeys) {
  std::array<MemcachedServer, 3> servers;
  const std::vector<ServerAddress> addresses = {servers[0].address(), servers[1].address(),
                                                servers[2].address()};
  HashClientOptions meta_options;
  meta_options.client = with_protocol(Protocol::kMeta);
  HashClientOptions classic_options;
  classic_options.client = with_protocol(Protocol::kClassic);
  HashClient meta(addresses, meta_options);
  HashClient classic(addresses, classic_options);
  const Batch batch = batch_of(90, 10);
  // Stored by the meta client: found by the classic one only where placement agrees.
  store(meta, batch);
  EXPECT_EQ(values_of(classic.get_many(batch.keys)), batch.expected);
  EXPECT_EQ(values_of(classic.async_get_many(batch.keys, asio::use_future).get()), batch.expected);
  // The batch really spans the servers: each holds some of its keys.
  for (auto& server : servers) {
    Client direct(server.address(), with_protocol(Protocol::kMeta));
    const auto held = values_of(direct.get_many(batch.keys));
    EXPECT_GT(std::count_if(held.begin(), held.end(), [](const auto& v) { return v.has_value(); }),
              0)
        << server.spec();
  }
}

TEST(ClassicGetMany, AFailedServerFailsTheCallAsInMeta) {
  for (const Protocol protocol : {Protocol::kMeta, Protocol::kClassic}) {
    std::array<MemcachedServer, 3> servers;
    HashClientOptions options;
    options.client = with_protocol(protocol);
    options.client.connect_timeout = 300ms;
    options.client.request_timeout = 300ms;
    options.retry_timeout = 10s;
    HashClient client({servers[0].address(), servers[1].address(), servers[2].address()}, options);
    const Batch batch = batch_of(30, 10);
    store(client, batch);
    const std::string victim = client.server_for(batch.keys[0]).name();
    for (auto& server : servers) {
      if (server.spec() == victim) server.kill();
    }
    // The first failure reaches the caller; then the server is skipped without I/O.
    for (const ErrorReason reason : {ErrorReason::kConnectionRefused, ErrorReason::kServerDown}) {
      try {
        client.get_many(batch.keys);
        ADD_FAILURE() << "get_many with a server down succeeded";
      } catch (const IoError& e) {
        EXPECT_EQ(e.reason(), reason) << e.what();
        EXPECT_EQ(e.server(), victim);
      }
    }
    // Keys of the other servers alone still work.
    std::vector<std::string> elsewhere;
    for (const auto& key : batch.keys) {
      if (client.server_for(key).name() != victim) elsewhere.push_back(key);
    }
    ASSERT_FALSE(elsewhere.empty());
    EXPECT_NO_THROW(client.get_many(elsewhere));
  }
}

// ------------------------------------------------ pipelined single-key gets in classic mode
// What each of a burst of async gets ended with: the value, a miss, or the error's reason.
using GetOutcome = std::variant<std::optional<std::string>, ErrorReason>;

// `keys` started one after another on the client's I/O thread (from a callback), so that
// all but the first queue behind a write in progress, as a pipeline's gets do.
std::vector<GetOutcome> burst_of_gets(Client& client, const std::vector<std::string>& keys) {
  std::vector<GetOutcome> outcomes(keys.size());
  std::promise<void> all_done;
  auto left = std::make_shared<std::size_t>(keys.size());
  client.start_get("burst-starter", [&](std::exception_ptr, std::optional<Item>) {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      client.start_get(keys[i], [&, i, left](std::exception_ptr error, std::optional<Item> item) {
        if (error) {
          try {
            std::rethrow_exception(error);
          } catch (const Error& e) {
            outcomes[i] = e.reason();
          }
        } else {
          outcomes[i] = item ? std::optional<std::string>(item->value) : std::nullopt;
        }
        if (--*left == 0) all_done.set_value();
      });
    }
  });
  all_done.get_future().wait();
  return outcomes;
}

std::vector<GetOutcome> expected_outcomes(const Batch& batch) {
  return {batch.expected.begin(), batch.expected.end()};
}

TEST(ClassicPipelinedGets, EachGetsItsOwnAnswerFromRealMemcached) {
  MemcachedServer server;
  Client classic(server.address(), with_protocol(Protocol::kClassic));
  Client meta(server.address(), with_protocol(Protocol::kMeta));
  const Batch batch = batch_of(150, 40);  // misses, and one key asked twice
  store(meta, batch);
  EXPECT_EQ(burst_of_gets(classic, batch.keys), expected_outcomes(batch));
  // The connection stays in step for what follows.
  EXPECT_EQ(classic.get(batch.keys[2])->value, "v2");
}

TEST(ClassicPipelinedGets, QueuedGetsShareALineUnderTheLimitsAndAnswersArePairedByKey) {
  // 200-byte keys: 300 of them do not fit one 16 KB line (nor one line of the key limit).
  const Batch batch = batch_of(300, 200);
  std::vector<std::string> lines;
  {
    FakeServer server({reordering_proxy(lines, batch)});
    Client client(server.address(), with_protocol(Protocol::kClassic));
    EXPECT_EQ(burst_of_gets(client, batch.keys), expected_outcomes(batch));
  }
  std::size_t merged_lines = 0;
  std::vector<std::string> asked;
  for (const auto& line : lines) {
    EXPECT_LE(line.size() + 2, protocol::kClassicGetLineLimit);
    std::istringstream words(line);
    std::string word;
    words >> word;
    EXPECT_EQ(word, "get");
    std::vector<std::string> keys;
    while (words >> word) keys.push_back(word);
    EXPECT_LE(keys.size(), protocol::kClassicMergedGetKeys) << line;
    // A proxy may fold a key asked twice on one line into one answer: never sent so.
    std::vector<std::string> unique = keys;
    std::sort(unique.begin(), unique.end());
    EXPECT_EQ(std::adjacent_find(unique.begin(), unique.end()), unique.end()) << line;
    merged_lines += keys.size() > 1;
    if (keys != std::vector<std::string>{"burst-starter"})
      asked.insert(asked.end(), keys.begin(), keys.end());
  }
  EXPECT_GT(merged_lines, 0u);
  // Every get went out once, in the order it was made.
  EXPECT_EQ(asked, batch.keys);
}

TEST(ClassicPipelinedGets, AnItemForAKeyNoGetAskedForFailsEveryGetOfTheLine) {
  // Connection 0 answers lines of one key with a miss, and the first line of several keys
  // (gets merged) with an item for a key none of them asked for.
  std::vector<std::string> hostile_line;
  FakeServer server({[&hostile_line](FakePeer& peer) {
    while (auto request = peer.read_request()) {
      std::istringstream words(request->line);
      std::string word;
      words >> word;
      std::vector<std::string> keys;
      while (words >> word) keys.push_back(word);
      if (keys.size() == 1) {
        if (!peer.send("END\r\n")) return;
        continue;
      }
      hostile_line = keys;
      peer.send("VALUE stranger 0 5\r\nwrong\r\nEND\r\n");
      peer.wait_for_client_close(5s);
      return;
    }
  }});
  server.store("a", "v:a");
  Client client(server.address(), with_protocol(Protocol::kClassic));
  const std::vector<std::string> keys = {"a", "b", "c", "d"};
  const std::vector<GetOutcome> outcomes = burst_of_gets(client, keys);
  ASSERT_GT(hostile_line.size(), 1u);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (std::find(hostile_line.begin(), hostile_line.end(), keys[i]) == hostile_line.end())
      continue;
    EXPECT_EQ(outcomes[i], GetOutcome(ErrorReason::kUnexpectedReply)) << keys[i];
  }
  // The stream was dropped, not trusted: a new connection answers.
  EXPECT_EQ(client.get("a")->value, "v:a");
}

TEST(ClassicProtocol, SharesEntriesWithAMetaClient) {
  MemcachedServer server;
  Client classic(server.address(), with_protocol(Protocol::kClassic));
  Client meta(server.address(), with_protocol(Protocol::kMeta));
  SetOptions options;
  options.flags = 3;
  classic.set("from-classic", "c", options);
  meta.set("from-meta", "m", options);
  EXPECT_EQ(meta.get("from-classic")->value, "c");
  EXPECT_EQ(meta.get("from-classic")->flags, 3u);
  EXPECT_EQ(classic.get("from-meta")->value, "m");
  EXPECT_EQ(classic.get("from-meta")->flags, 3u);
}

TEST(ClassicProtocol, MetaOnlyFeaturesAreRefusedNotFaked) {
  MemcachedServer server;
  Client client(server.address(), with_protocol(Protocol::kClassic));
  SetOptions cas;
  cas.cas = 1;
  EXPECT_THROW(client.set("k", "v", cas), InvalidArgumentError);
  EXPECT_THROW(client.invalidate("k"), InvalidArgumentError);
  MetaGetOptions vivify;
  vivify.vivify_ttl = 30s;
  EXPECT_THROW(client.meta_get("k", vivify), InvalidArgumentError);
}

// Classic mode never asks `stats settings` (proxies hang up on it): the limit is
// ClientOptions::item_size_max, 1 MiB unless raised.
TEST(ClassicProtocol, ValueOverTheAssumedItemLimitIsRefusedUnsentAndTheOldValueKept) {
  MemcachedServer server({"-I", "1m"});
  Client client(server.address(), with_protocol(Protocol::kClassic));
  ASSERT_EQ(client.set("big", "old"), StoreResult::kStored);
  for (const bool async : {false, true}) {
    try {
      const std::string value(2u << 20, 'x');
      if (async) {
        client.async_set("big", value, SetOptions{}, asio::use_future).get();
      } else {
        client.set("big", value);
      }
      ADD_FAILURE() << "no ValueTooLargeError";
    } catch (const ValueTooLargeError& e) {
      EXPECT_FALSE(e.reached_server()) << e.what();
      EXPECT_NE(std::string(e.what()).find("item_size_max"), std::string::npos) << e.what();
    }
    EXPECT_EQ(client.get("big")->value, "old");  // nothing was sent: memcached kept it
  }
  const std::string fits(512u << 10, 'y');
  EXPECT_EQ(client.set("big", fits), StoreResult::kStored);
  EXPECT_EQ(client.get("big")->value, fits);
}

TEST(ClassicProtocol, ItemSizeMaxZeroLetsTheServerJudge) {
  MemcachedServer server({"-I", "1m"});
  ClientOptions options = with_protocol(Protocol::kClassic);
  options.item_size_max = 0;
  Client client(server.address(), options);
  try {
    client.set("big", std::string(2u << 20, 'x'));
    FAIL() << "no ValueTooLargeError";
  } catch (const ValueTooLargeError& e) {
    EXPECT_TRUE(e.reached_server()) << e.what();
  }
  EXPECT_EQ(client.set("small", "ok"), StoreResult::kStored);  // still in step
}

TEST(ClassicProtocol, RaisedItemSizeMaxMatchesALargerServerLimit) {
  MemcachedServer server({"-I", "4m"});
  ClientOptions options = with_protocol(Protocol::kClassic);
  options.item_size_max = 4u << 20;
  Client client(server.address(), options);
  const std::string value(2u << 20, 'x');
  EXPECT_EQ(client.set("big", value), StoreResult::kStored);
  EXPECT_EQ(client.get("big")->value.size(), value.size());
}

TEST(AutoProtocol, RealMemcachedGetsMeta) {
  MemcachedServer server;
  Client client(server.address(), with_protocol(Protocol::kAuto));
  client.set("k", "v");
  EXPECT_EQ(client.get("k")->value, "v");
  EXPECT_TRUE(client.invalidate("k"));  // meta only: the probe chose meta
}

// Connection 0 answers the probe as `probe` does; later connections are the fake's
// well-behaved imitation, which speaks both protocols.
void expect_classic_chosen(FakeServer::Script probe) {
  FakeServer server({std::move(probe)});
  server.store("k", "v:k");
  Client client(server.address(), with_protocol(Protocol::kAuto));
  const auto item = client.get("k");
  ASSERT_TRUE(item);
  EXPECT_EQ(item->value, "v:k");
  EXPECT_EQ(client.async_get("k", asio::use_future).get()->value, "v:k");
  EXPECT_THROW(client.invalidate("k"), InvalidArgumentError);  // classic was chosen
}

TEST(AutoProtocol, ProxyThatHangsUpOnMetaGetsClassic) {
  // twemproxy closes the connection on any command it does not know.
  expect_classic_chosen([](FakePeer& peer) {
    auto probe = peer.read_request();
    EXPECT_TRUE(probe && probe->command == "mn");
    peer.close();
  });
}

TEST(AutoProtocol, ServerWithoutMetaGetsClassic) {
  // memcached 1.5 (and mcrouter, with CLIENT_ERROR) refuses mn.
  expect_classic_chosen([](FakePeer& peer) {
    if (peer.read_request()) peer.send("ERROR\r\n");
    peer.wait_for_client_close(5s);
  });
}

TEST(AutoProtocol, MemcachedBefore1610GetsClassic) {
  // 1.6.0-1.6.9 know mn, but their meta syntax differs from the one the client speaks.
  expect_classic_chosen([](FakePeer& peer) {
    if (peer.read_request()) peer.send("MN\r\n");
    if (peer.read_request()) peer.send("VERSION 1.6.9\r\n");
    peer.wait_for_client_close(5s);
  });
}

TEST(ClassicProtocol, FlushAllAProxyHangsUpOnIsAClearServerError) {
  FakeServer server({[](FakePeer& peer) {
    // The flush check's sentinel is stored first; flush_all is hung up on.
    while (auto request = peer.read_request()) {
      if (request->command == "flush_all") break;
      EXPECT_EQ(request->command, "set");
      if (!peer.send("STORED\r\n")) return;
    }
    peer.close();
  }});
  Client client(server.address(), with_protocol(Protocol::kClassic));
  try {
    client.flush_all();
    FAIL() << "flush_all reported success";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.reason(), ErrorReason::kNotUnderstood) << e.what();
    EXPECT_EQ(e.server(), server.address().name());
  }
}

}  // namespace
}  // namespace llmcache
