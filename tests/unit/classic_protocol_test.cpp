// The classic text protocol without a socket: request bytes, and the reply parser fed
// whole, byte by byte and split at every offset, which must all give the same replies.
// Reply bytes below are those memcached 1.6 sends for the classic commands.
#include "protocol/classic_parser.hpp"
#include "protocol/classic_requests.hpp"

#include <gtest/gtest.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "llmcache/errors.hpp"

namespace llmcache::protocol {
namespace {

using namespace std::string_literals;

std::string describe(const Reply& r) {
  std::string out = "status=" + std::to_string(static_cast<int>(r.status));
  out += " message=[" + r.message + "]";
  for (const auto& v : r.values) {
    out += " {" + v.key + " f" + std::to_string(v.client_flags) +
           (v.cas ? " c" + std::to_string(*v.cas) : "") + " [" + v.data + "]}";
  }
  for (const auto& [name, value] : r.stats) out += " STAT " + name + "=" + value;
  for (const auto& e : r.metadump) out += " key=" + e.key;
  if (r.opaque) out += " O";
  return out;
}

std::vector<std::string> feed_in(std::string_view bytes, const std::vector<std::size_t>& cuts,
                                 ParserLimits limits = {}) {
  ClassicParser parser(limits);
  std::vector<std::string> out;
  std::size_t from = 0;
  auto drain = [&] {
    while (auto reply = parser.next()) out.push_back(describe(*reply));
  };
  for (const std::size_t cut : cuts) {
    parser.feed(bytes.substr(from, cut - from));
    from = cut;
    drain();
  }
  parser.feed(bytes.substr(from));
  drain();
  EXPECT_EQ(parser.buffered(), 0u) << "bytes left over after a complete transcript";
  return out;
}

// The replies of `bytes` fed whole, after checking that every split into two fragments and
// byte-at-a-time feeding give the same.
std::vector<std::string> parse_all(std::string_view bytes, ParserLimits limits = {}) {
  const auto whole = feed_in(bytes, {}, limits);
  for (std::size_t cut = 1; cut < bytes.size(); ++cut) {
    EXPECT_EQ(feed_in(bytes, {cut}, limits), whole) << "split at " << cut;
  }
  std::vector<std::size_t> each;
  for (std::size_t i = 1; i < bytes.size(); ++i) each.push_back(i);
  EXPECT_EQ(feed_in(bytes, each, limits), whole) << "byte at a time";
  return whole;
}

Reply parse_one(std::string_view bytes) {
  parse_all(bytes);
  ClassicParser parser;
  parser.feed(bytes);
  auto reply = parser.next();
  EXPECT_TRUE(reply.has_value()) << bytes;
  EXPECT_FALSE(parser.next().has_value()) << bytes;
  return reply.value_or(Reply{});
}

void expect_malformed(std::string_view bytes, ParserLimits limits = {}) {
  for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
    ErrorReason reason = ErrorReason::kUnspecified;
    try {
      feed_in(bytes, cut == 0 ? std::vector<std::size_t>{} : std::vector<std::size_t>{cut}, limits);
    } catch (const ProtocolError& e) {
      reason = e.reason();
    }
    EXPECT_EQ(reason, ErrorReason::kMalformedReply) << bytes << " split at " << cut;
  }
}

// ---------------------------------------------------------------- each reply kind

TEST(ClassicParser, OneValue) {
  const Reply r = parse_one("VALUE foo 9 5\r\nab\r\nc\r\nEND\r\n");
  EXPECT_EQ(r.status, Status::kValue);
  ASSERT_EQ(r.values.size(), 1u);
  EXPECT_EQ(r.values[0], (ClassicValue{"foo", 9, std::nullopt, "ab\r\nc"}));
  EXPECT_FALSE(r.opaque);
}

TEST(ClassicParser, SeveralValuesWithCas) {
  const Reply r = parse_one("VALUE a 0 1 7\r\nx\r\nVALUE b 4294967295 0 8\r\n\r\nEND\r\n");
  ASSERT_EQ(r.values.size(), 2u);
  EXPECT_EQ(r.values[0], (ClassicValue{"a", 0, 7, "x"}));
  EXPECT_EQ(r.values[1], (ClassicValue{"b", 4294967295u, 8, ""}));
}

TEST(ClassicParser, ValueThatLooksLikeReplies) {
  const Reply r = parse_one("VALUE k 0 11\r\nEND\r\nSTORED\r\nEND\r\n");
  ASSERT_EQ(r.values.size(), 1u);
  EXPECT_EQ(r.values[0].data, "END\r\nSTORED");
}

TEST(ClassicParser, BinaryValue) {
  const std::string value = "\0\r\n\xff\n\r"s;
  const Reply r = parse_one("VALUE k 1 6\r\n" + value + "\r\nEND\r\n");
  EXPECT_EQ(r.values.at(0).data, value);
}

TEST(ClassicParser, MissIsEnd) {
  EXPECT_EQ(parse_one("END\r\n").status, Status::kEnd);
}

TEST(ClassicParser, StoreDeleteTouchReplies) {
  EXPECT_EQ(parse_one("STORED\r\n").status, Status::kHeaderOnly);
  EXPECT_EQ(parse_one("DELETED\r\n").status, Status::kHeaderOnly);
  EXPECT_EQ(parse_one("TOUCHED\r\n").status, Status::kHeaderOnly);
  EXPECT_EQ(parse_one("NOT_STORED\r\n").status, Status::kNotStored);
  EXPECT_EQ(parse_one("EXISTS\r\n").status, Status::kExists);
  EXPECT_EQ(parse_one("NOT_FOUND\r\n").status, Status::kNotFound);
  EXPECT_EQ(parse_one("OK\r\n").status, Status::kOk);
}

TEST(ClassicParser, VersionAndErrors) {
  const Reply v = parse_one("VERSION 1.5.16\r\n");
  EXPECT_EQ(v.status, Status::kVersion);
  EXPECT_EQ(v.message, "1.5.16");
  EXPECT_EQ(parse_one("ERROR\r\n").status, Status::kError);
  const Reply e = parse_one("ERROR unknown command\r\n");
  EXPECT_EQ(e.status, Status::kError);
  EXPECT_EQ(e.message, "unknown command");
  const Reply c = parse_one("CLIENT_ERROR bad data chunk\r\n");
  EXPECT_EQ(c.status, Status::kClientError);
  EXPECT_EQ(c.message, "bad data chunk");
  const Reply s = parse_one("SERVER_ERROR object too large for cache\r\n");
  EXPECT_EQ(s.status, Status::kServerError);
  EXPECT_EQ(s.message, "object too large for cache");
}

TEST(ClassicParser, StatsListing) {
  const Reply r = parse_one("STAT pid 1\r\nSTAT version 1.4.25\r\nEND\r\n");
  EXPECT_EQ(r.status, Status::kStats);
  ASSERT_EQ(r.stats.size(), 2u);
  EXPECT_EQ(r.stats[1].second, "1.4.25");
}

TEST(ClassicParser, ManyRepliesInOneStream) {
  const auto replies = parse_all(
      "STORED\r\nVALUE a 0 1\r\nx\r\nEND\r\nEND\r\nDELETED\r\nNOT_FOUND\r\nVERSION 1.6.9\r\n"
      "SERVER_ERROR out of memory\r\nTOUCHED\r\n");
  EXPECT_EQ(replies.size(), 8u);
}

TEST(ClassicParser, NoCrossTalkWithMetaCodes) {
  // Meta replies are not classic ones: a stream carrying them is out of sync.
  expect_malformed("HD\r\n");
  expect_malformed("EN\r\n");
  expect_malformed("VA 1\r\nx\r\n");
  expect_malformed("MN\r\n");
}

// ---------------------------------------------------------------- malformed replies

TEST(ClassicParser, MalformedValueHeaders) {
  expect_malformed("VALUE\r\n");
  expect_malformed("VALUE k\r\n");
  expect_malformed("VALUE k 0\r\n");
  expect_malformed("VALUE k x 1\r\nx\r\nEND\r\n");
  expect_malformed("VALUE k 0 -1\r\nx\r\nEND\r\n");
  expect_malformed("VALUE k 4294967296 1\r\nx\r\nEND\r\n");
  expect_malformed("VALUE k 0 1 x\r\nx\r\nEND\r\n");
  expect_malformed("VALUE k 0 1 2 3\r\nx\r\nEND\r\n");
  expect_malformed("VALUE " + std::string(251, 'k') + " 0 1\r\nx\r\nEND\r\n");
  expect_malformed("VALUE k\x01 0 1\r\nx\r\nEND\r\n");
}

TEST(ClassicParser, MalformedDataBlocks) {
  expect_malformed("VALUE k 0 3\r\n0123456789\r\nEND\r\n");  // longer than announced
  expect_malformed("VALUE k 0 3\r\nabc\n\rEND\r\n");
  expect_malformed("VALUE k 0 3\r\nabcXY");
}

TEST(ClassicParser, GetReplyInterrupted) {
  expect_malformed("VALUE k 0 1\r\nx\r\nSTORED\r\n");
  expect_malformed("VALUE k 0 1\r\nx\r\nSERVER_ERROR out of memory\r\n");
  expect_malformed("VALUE k 0 1\r\nx\r\nSTAT pid 1\r\nEND\r\n");
  expect_malformed("STAT pid 1\r\nVALUE k 0 1\r\nx\r\nEND\r\n");
  expect_malformed("STAT pid 1\r\nOK\r\n");
}

TEST(ClassicParser, MalformedLines) {
  expect_malformed("HELLO there\r\n");
  expect_malformed("STORED\n");
  expect_malformed("STORED extra\r\n");
  expect_malformed("END now\r\n");
  expect_malformed("STO\rRED\r\n");
  expect_malformed("\r\n");
}

TEST(ClassicParser, Limits) {
  ParserLimits limits;
  limits.max_line_bytes = 32;
  limits.max_value_bytes = 8;
  expect_malformed(std::string(40, 'A'), limits);  // no line end within the limit
  expect_malformed("SERVER_ERROR " + std::string(40, 'x') + "\r\n", limits);
  expect_malformed("VALUE k 0 9\r\n123456789\r\nEND\r\n", limits);
  // Each value fits, their sum does not.
  expect_malformed("VALUE a 0 5\r\n12345\r\nVALUE b 0 5\r\n12345\r\nEND\r\n", limits);
  const auto fits = parse_all("VALUE a 0 4\r\n1234\r\nVALUE b 0 4\r\n1234\r\nEND\r\n", limits);
  EXPECT_EQ(fits.size(), 1u);
}

// ---------------------------------------------------------------- requests

TEST(ClassicRequests, Get) {
  std::string out;
  const std::vector<std::string_view> keys = {"a", "bb"};
  append_classic_get(out, keys);
  EXPECT_EQ(out, "get a bb\r\n");
  out.clear();
  append_classic_get(out, std::span(keys).first(1), true);
  EXPECT_EQ(out, "gets a\r\n");
}

TEST(ClassicRequests, GetSplitStaysUnderTheLineLimit) {
  const std::string key(100, 'k');
  const std::vector<std::string_view> keys(500, key);
  const auto counts = split_classic_get(keys);
  std::size_t total = 0;
  for (const std::size_t count : counts) {
    std::string line;
    append_classic_get(line, std::span(keys).subspan(total, count), true);
    EXPECT_LE(line.size(), kClassicGetLineLimit);
    total += count;
  }
  EXPECT_EQ(total, keys.size());
  EXPECT_GT(counts.size(), 1u);
  EXPECT_EQ(counts[0], (kClassicGetLineLimit - 6) / 101);
  EXPECT_TRUE(split_classic_get({}).empty());
  // A key that cannot share a line still gets one.
  const std::vector<std::string_view> tiny = {"abc", "defg"};
  EXPECT_EQ(split_classic_get(tiny, 4), (std::vector<std::size_t>{1, 1}));
}

// ---------------------------------------------------------------- pairing items with keys

std::vector<ClassicValue> items(const std::vector<std::string>& keys) {
  std::vector<ClassicValue> out;
  for (const auto& key : keys) out.push_back(ClassicValue{key, 0, {}, "v:" + key});
  return out;
}

// Each item's key index, or {} when the items do not answer the request.
std::optional<std::vector<std::size_t>> pairing(std::string_view request,
                                                const std::vector<std::string>& keys) {
  const auto values = items(keys);
  std::vector<std::size_t> key_of_item(values.size(), 999);
  if (!pair_classic_items(request, values, key_of_item)) return std::nullopt;
  // The check alone (what the connection runs) agrees.
  EXPECT_TRUE(pair_classic_items(request, values));
  return key_of_item;
}

using Pairing = std::optional<std::vector<std::size_t>>;

TEST(ClassicPairing, ItemsInRequestOrderWithMissesBetween) {
  EXPECT_EQ(pairing("get a b c d\r\n", {"a", "c", "d"}), (Pairing{{0, 2, 3}}));
  EXPECT_EQ(pairing("gets a b\r\n", {"b"}), (Pairing{{1}}));
  EXPECT_EQ(pairing("get a b\r\n", {}), Pairing{std::vector<std::size_t>{}});
}

TEST(ClassicPairing, ItemsInAnotherOrderArePairedByKey) {
  // A proxy may merge its backends' replies in its own order.
  EXPECT_EQ(pairing("get a b c d\r\n", {"d", "b", "a"}), (Pairing{{3, 1, 0}}));
}

TEST(ClassicPairing, AKeyAskedTwiceIsAnsweredAtMostTwice) {
  EXPECT_EQ(pairing("get a b a\r\n", {"a", "a"}), (Pairing{{0, 2}}));
  EXPECT_EQ(pairing("get a b a\r\n", {"a", "a", "a"}), std::nullopt);
  EXPECT_EQ(pairing("get a b\r\n", {"a", "a"}), std::nullopt);
}

TEST(ClassicPairing, AnItemForAKeyNotAskedForAnswersAnotherRequest) {
  EXPECT_EQ(pairing("get a b\r\n", {"c"}), std::nullopt);
  EXPECT_EQ(pairing("get a b\r\n", {"a", "c"}), std::nullopt);
  // Prefixes and extensions of a key asked for are other keys.
  EXPECT_EQ(pairing("get ab\r\n", {"a"}), std::nullopt);
  EXPECT_EQ(pairing("get a\r\n", {"ab"}), std::nullopt);
  // The command word is not a key; a request that is not a get asks for none.
  EXPECT_EQ(pairing("get a\r\n", {"get"}), std::nullopt);
  EXPECT_EQ(pairing("version\r\n", {"version"}), std::nullopt);
  EXPECT_EQ(pairing("", {"a"}), std::nullopt);
}

TEST(ClassicPairing, ABatchOfHundredsOfKeysInAnyOrder) {
  // Past the 64 keys whose answers are tracked without allocating.
  std::vector<std::string> keys;
  std::vector<std::string_view> views;
  for (int i = 0; i < 300; ++i) keys.push_back("key" + std::to_string(i));
  for (const auto& key : keys) views.emplace_back(key);
  std::string request;
  append_classic_get(request, views);
  std::vector<std::string> answered;
  std::vector<std::size_t> expected;
  for (std::size_t i = keys.size(); i-- > 0;) {
    if (i % 3 == 0) continue;  // misses
    answered.push_back(keys[i]);
    expected.push_back(i);
  }
  EXPECT_EQ(pairing(request, answered), Pairing{expected});
  answered.push_back(keys[200]);  // once more than asked
  EXPECT_EQ(pairing(request, answered), std::nullopt);
}

TEST(ClassicGetMerge, SingleKeyGetsJoinOneLineInOrder) {
  ClassicGetMerge merge;
  std::string line = "get a\r\n";
  ASSERT_TRUE(merge.start(line));
  EXPECT_EQ(merge.merge(line, "get b\r\n"), "b");
  EXPECT_EQ(merge.merge(line, "get c\r\n"), "c");
  EXPECT_EQ(line, "get a b c\r\n");
  std::string cas_line = "gets a\r\n";
  ASSERT_TRUE(merge.start(cas_line));
  EXPECT_EQ(merge.merge(cas_line, "gets b\r\n"), "b");
  EXPECT_EQ(cas_line, "gets a b\r\n");
}

TEST(ClassicGetMerge, RefusesWhatWouldChangeTheAnswers) {
  ClassicGetMerge merge;
  EXPECT_FALSE(merge.start("get a b\r\n"));  // a get_many's line is answered as a whole
  EXPECT_FALSE(merge.start("delete a\r\n"));
  EXPECT_FALSE(merge.start("get a\r\nget b\r\n"));
  std::string line = "get a\r\n";
  ASSERT_TRUE(merge.start(line));
  for (const std::string_view refused :
       {"gets b\r\n", "get b c\r\n", "delete b\r\n", "get\r\n", "get b\r\nget c\r\n", "get b"}) {
    EXPECT_EQ(merge.merge(line, refused), "") << refused;
  }
  // A key already on the line: a proxy may fold the two into one answer.
  EXPECT_EQ(merge.merge(line, "get a\r\n"), "");
  EXPECT_EQ(merge.merge(line, "get ab\r\n"), "ab");  // a longer key is another key
  EXPECT_EQ(merge.merge(line, "get a\r\n"), "");
  EXPECT_EQ(merge.merge(line, "get b\r\n"), "b");
  EXPECT_EQ(line, "get a ab b\r\n");
  // The line stays under the limit.
  EXPECT_EQ(merge.merge(line, "get cc\r\n", line.size() + 2), "");
  EXPECT_EQ(merge.merge(line, "get cc\r\n", line.size() + 3), "cc");
  EXPECT_EQ(line, "get a ab b cc\r\n");
}

TEST(ClassicGetMerge, ManyKeysWithoutFalseRepeats) {
  ClassicGetMerge merge;
  std::string line = "get key0\r\n";
  ASSERT_TRUE(merge.start(line));
  // Both limits raised: only a repeated key may be refused here.
  for (int i = 1; i < 1000; ++i) {
    const std::string single = "get key" + std::to_string(i) + "\r\n";
    ASSERT_FALSE(merge.merge(line, single, 1 << 20, 1000).empty()) << i;
  }
  for (int i = 0; i < 1000; i += 97) {
    EXPECT_EQ(merge.merge(line, "get key" + std::to_string(i) + "\r\n", 1 << 20, 1001), "") << i;
  }
}

TEST(ClassicGetMerge, ALineHoldsAtMostTheKeyLimit) {
  ClassicGetMerge merge;
  std::string line = "get k0\r\n";
  ASSERT_TRUE(merge.start(line));
  for (std::size_t i = 1; i < kClassicMergedGetKeys; ++i) {
    ASSERT_FALSE(merge.merge(line, "get k" + std::to_string(i) + "\r\n").empty()) << i;
  }
  EXPECT_EQ(merge.merge(line, "get next\r\n"), "");
  // A new line starts the count anew.
  std::string next = "get next\r\n";
  ASSERT_TRUE(merge.start(next));
  EXPECT_EQ(merge.merge(next, "get k0\r\n"), "k0");
}

std::string describe_all(const std::vector<Reply>& replies) {
  std::string text;
  for (const Reply& reply : replies) text += describe(reply) + ";";
  return text;
}

TEST(ClassicGetMerge, AMergedReplyIsSplitIntoWhatEachGetWouldHaveHadAlone) {
  const Reply reply = parse_one("VALUE c 2 1\r\nC\r\nVALUE a 1 1\r\nA\r\nEND\r\n");
  const auto split = split_classic_get_reply(reply, "get a b c\r\n");
  ASSERT_EQ(split.size(), 3u);
  EXPECT_EQ(describe(split[0]), describe(parse_one("VALUE a 1 1\r\nA\r\nEND\r\n")));
  EXPECT_EQ(describe(split[1]), describe(parse_one("END\r\n")));
  EXPECT_EQ(describe(split[2]), describe(parse_one("VALUE c 2 1\r\nC\r\nEND\r\n")));
  // Nothing found: a miss each; an error reply: the same error for each.
  EXPECT_EQ(describe_all(split_classic_get_reply(parse_one("END\r\n"), "get a b\r\n")),
            describe(parse_one("END\r\n")) + ";" + describe(parse_one("END\r\n")) + ";");
  const Reply error = parse_one("SERVER_ERROR out of memory\r\n");
  EXPECT_EQ(describe_all(split_classic_get_reply(error, "get a b\r\n")),
            describe(error) + ";" + describe(error) + ";");
  // An item for a key not on the line is not handed to anyone.
  try {
    split_classic_get_reply(parse_one("VALUE z 0 1\r\nZ\r\nEND\r\n"), "get a b\r\n");
    ADD_FAILURE() << "split an item nobody asked for";
  } catch (const ProtocolError& e) {
    EXPECT_EQ(e.reason(), ErrorReason::kMalformedReply);
  }
}

TEST(ClassicRequests, StoreDeleteTouch) {
  std::string out;
  append_classic_store(out, ClassicStore::kSet, "k", "a\r\nb", 7, 60);
  EXPECT_EQ(out, "set k 7 60 4\r\na\r\nb\r\n");
  out.clear();
  append_classic_store(out, ClassicStore::kAdd, "k", "", 0, 0);
  EXPECT_EQ(out, "add k 0 0 0\r\n\r\n");
  out.clear();
  append_classic_delete(out, "k");
  EXPECT_EQ(out, "delete k\r\n");
  out.clear();
  append_classic_touch(out, "k", 10);
  EXPECT_EQ(out, "touch k 10\r\n");
}

}  // namespace
}  // namespace llmcache::protocol
