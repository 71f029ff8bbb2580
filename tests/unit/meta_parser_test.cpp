// The meta protocol's reply parser without a socket: replies are fed whole, byte by byte
// and in random fragments, and must come out the same. Reply bytes below were captured
// from memcached 1.6.18.
#include "protocol/meta_parser.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "llmcache/errors.hpp"

namespace llmcache::protocol {
namespace {

using namespace std::string_literals;

// A readable, comparable form of a Reply so mismatches print something useful.
std::string describe(const Reply& r) {
  std::string out = "status=" + std::to_string(static_cast<int>(r.status));
  out += " value=[" + r.value + "] message=[" + r.message + "]";
  if (r.opaque) out += " O" + std::to_string(*r.opaque);
  if (r.client_flags) out += " f" + std::to_string(*r.client_flags);
  if (r.cas) out += " c" + std::to_string(*r.cas);
  if (r.ttl) out += " t" + std::to_string(*r.ttl);
  if (r.won) out += " W";
  if (r.stale) out += " X";
  if (r.already_won) out += " Z";
  return out;
}

std::vector<std::string> drain(MetaParser& parser) {
  std::vector<std::string> out;
  while (auto reply = parser.next()) out.push_back(describe(*reply));
  return out;
}

// Feeds `bytes` in pieces whose sizes `next_size` picks, draining after every feed as a
// connection would.
std::vector<std::string> parse_pieces(std::string_view bytes,
                                      const std::function<std::size_t()>& next_size,
                                      ParserLimits limits = {}) {
  MetaParser parser(limits);
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    const std::size_t n = std::min(next_size(), bytes.size() - pos);
    parser.feed(bytes.substr(pos, n));
    pos += n;
    for (auto& r : drain(parser)) out.push_back(std::move(r));
  }
  EXPECT_EQ(parser.buffered(), 0u) << "bytes left over after a complete transcript";
  EXPECT_FALSE(parser.next().has_value());
  return out;
}

std::vector<std::string> parse_whole(std::string_view bytes, ParserLimits limits = {}) {
  return parse_pieces(
      bytes, [&] { return bytes.size(); }, limits);
}

std::vector<std::string> parse_bytewise(std::string_view bytes, ParserLimits limits = {}) {
  return parse_pieces(
      bytes, [] { return std::size_t{1}; }, limits);
}

std::vector<std::string> parse_random(std::string_view bytes, std::uint32_t seed,
                                      std::size_t max_piece, ParserLimits limits = {}) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<std::size_t> size(1, max_piece);
  return parse_pieces(
      bytes, [&] { return size(rng); }, limits);
}

Reply parse_one(std::string_view bytes) {
  MetaParser parser;
  parser.feed(bytes);
  auto reply = parser.next();
  EXPECT_TRUE(reply.has_value()) << bytes;
  EXPECT_FALSE(parser.next().has_value()) << bytes;
  EXPECT_EQ(parser.buffered(), 0u) << bytes;
  return reply.value_or(Reply{});
}

/// The reason of the ProtocolError `call` throws (kUnspecified if it throws none).
template <class F>
ErrorReason protocol_error_reason(F call) {
  try {
    call();
  } catch (const ProtocolError& e) {
    return e.reason();
  }
  return ErrorReason::kUnspecified;
}

// Every feeding pattern must reject malformed input; where it is noticed may differ.
void expect_protocol_error(std::string_view bytes, ParserLimits limits = {}) {
  EXPECT_EQ(protocol_error_reason([&] { parse_whole(bytes, limits); }),
            ErrorReason::kMalformedReply)
      << bytes;
  EXPECT_THROW(parse_whole(bytes, limits), ProtocolError) << "whole: " << bytes;
  EXPECT_THROW(parse_bytewise(bytes, limits), ProtocolError) << "bytewise: " << bytes;
  for (std::uint32_t seed = 1; seed <= 5; ++seed) {
    EXPECT_THROW(parse_random(bytes, seed, 7, limits), ProtocolError) << "random: " << bytes;
  }
}

// ---------------------------------------------------------------- each reply kind

TEST(MetaParser, ValueHitWithAllReturnFlags) {
  const Reply r = parse_one("VA 5 f9 O7 kfoo c1 t-1 s5\r\nab\r\nc\r\n");
  EXPECT_EQ(r.status, Status::kValue);
  EXPECT_EQ(r.value, "ab\r\nc");
  EXPECT_EQ(r.client_flags, 9u);
  EXPECT_EQ(r.opaque, 7u);
  EXPECT_EQ(r.cas, 1u);
  EXPECT_EQ(r.ttl, -1);
  EXPECT_FALSE(r.won || r.stale || r.already_won);
  EXPECT_TRUE(r.message.empty());
}

TEST(MetaParser, ValueWithoutFlags) {
  const Reply r = parse_one("VA 3\r\nabc\r\n");
  EXPECT_EQ(r.status, Status::kValue);
  EXPECT_EQ(r.value, "abc");
  EXPECT_FALSE(r.opaque || r.client_flags || r.cas || r.ttl);
}

TEST(MetaParser, ValueThatLooksLikeReplies) {
  const Reply r = parse_one("VA 11 O1\r\nEN\r\nHD O2\r\n\r\n");
  EXPECT_EQ(r.value, "EN\r\nHD O2\r\n");
  EXPECT_EQ(r.opaque, 1u);
}

TEST(MetaParser, BinaryValue) {
  const std::string value = "\0\r\n\xff\n\r"s;
  const Reply r = parse_one("VA 6\r\n" + value + "\r\n");
  EXPECT_EQ(r.value, value);
}

TEST(MetaParser, VivifyPlaceholderWonStaleAndAlreadyWon) {
  const Reply won = parse_one("VA 0 O14 W\r\n\r\n");
  EXPECT_EQ(won.status, Status::kValue);
  EXPECT_EQ(won.value, "");
  EXPECT_TRUE(won.won);
  EXPECT_FALSE(won.already_won);

  const Reply other = parse_one("VA 0 O15 Z\r\n\r\n");
  EXPECT_TRUE(other.already_won);
  EXPECT_FALSE(other.won);

  const Reply stale = parse_one("VA 0 c5 O17 X W\r\n\r\n");
  EXPECT_TRUE(stale.stale);
  EXPECT_TRUE(stale.won);
  EXPECT_EQ(stale.cas, 5u);
  EXPECT_EQ(stale.opaque, 17u);
}

TEST(MetaParser, HeaderOnly) {
  const Reply hit = parse_one("HD f9 O7\r\n");
  EXPECT_EQ(hit.status, Status::kHeaderOnly);
  EXPECT_EQ(hit.client_flags, 9u);
  EXPECT_EQ(hit.opaque, 7u);
  EXPECT_TRUE(hit.value.empty());

  const Reply stored = parse_one("HD O8 c1\r\n");
  EXPECT_EQ(stored.cas, 1u);

  const Reply ttl = parse_one("HD t100 O1\r\n");
  EXPECT_EQ(ttl.ttl, 100);

  const Reply bare = parse_one("HD\r\n");
  EXPECT_EQ(bare.status, Status::kHeaderOnly);
  EXPECT_FALSE(bare.opaque);
}

TEST(MetaParser, MissEchoesOpaqueAndKey) {
  const Reply bare = parse_one("EN\r\n");
  EXPECT_EQ(bare.status, Status::kMiss);
  EXPECT_FALSE(bare.opaque);

  // memcached 1.6.18 answers `mg foo v f O7 k` on a miss with exactly this.
  const Reply flagged = parse_one("EN O7 kfoo\r\n");
  EXPECT_EQ(flagged.status, Status::kMiss);
  EXPECT_EQ(flagged.opaque, 7u);
}

TEST(MetaParser, NotFoundNotStoredExists) {
  const Reply nf = parse_one("NF O12\r\n");
  EXPECT_EQ(nf.status, Status::kNotFound);
  EXPECT_EQ(nf.opaque, 12u);
  const Reply ns = parse_one("NS O10\r\n");
  EXPECT_EQ(ns.status, Status::kNotStored);
  EXPECT_EQ(ns.opaque, 10u);
  const Reply ex = parse_one("EX O11\r\n");
  EXPECT_EQ(ex.status, Status::kExists);
  EXPECT_EQ(ex.opaque, 11u);
  EXPECT_EQ(parse_one("NF\r\n").status, Status::kNotFound);
}

TEST(MetaParser, NoopOkVersion) {
  EXPECT_EQ(parse_one("MN\r\n").status, Status::kNoop);
  EXPECT_EQ(parse_one("OK\r\n").status, Status::kOk);
  const Reply v = parse_one("VERSION 1.6.18\r\n");
  EXPECT_EQ(v.status, Status::kVersion);
  EXPECT_EQ(v.message, "1.6.18");
}

TEST(MetaParser, ErrorReplies) {
  const Reply error = parse_one("ERROR\r\n");
  EXPECT_EQ(error.status, Status::kError);
  EXPECT_EQ(error.message, "");

  const Reply client = parse_one("CLIENT_ERROR bad command line format\r\n");
  EXPECT_EQ(client.status, Status::kClientError);
  EXPECT_EQ(client.message, "bad command line format");

  const Reply server = parse_one("SERVER_ERROR object too large for cache\r\n");
  EXPECT_EQ(server.status, Status::kServerError);
  EXPECT_EQ(server.message, "object too large for cache");

  const Reply no_text = parse_one("SERVER_ERROR\r\n");
  EXPECT_EQ(no_text.status, Status::kServerError);
  EXPECT_EQ(no_text.message, "");
}

// ---------------------------------------------------------------- listings (stats, metadump)

// Captured from memcached 1.6.18: metadump lines end with a bare \n, END with \r\n; the
// key "a%20b" is listed %XX-encoded.
constexpr std::string_view kMetadump =
    "key=abc exp=1795560390 la=1795560290 cas=1 fetch=no cls=1 size=64\n"
    "key=a%2520b exp=-1 la=1795560290 cas=2 fetch=yes cls=1 size=65\n"
    "key=k3 exp=-1 la=1795560290 cas=3 fetch=no cls=1 size=66 flags=5\n"
    "END\r\n";

TEST(MetaListing, StatsBecomeOneReplyInServerOrder) {
  const Reply r = parse_one(
      "STAT pid 12726\r\nSTAT version 1.6.18\r\nSTAT rusage_user 0.005390\r\n"
      "STAT curr_items 3\r\nSTAT odd value with spaces\r\nEND\r\n");
  EXPECT_EQ(r.status, Status::kStats);
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(r.stats, (Pairs{{"pid", "12726"},
                            {"version", "1.6.18"},
                            {"rusage_user", "0.005390"},
                            {"curr_items", "3"},
                            {"odd", "value with spaces"}}));
}

TEST(MetaListing, MetadumpEntriesAreParsedAndKeysDecoded) {
  const Reply r = parse_one(kMetadump);
  EXPECT_EQ(r.status, Status::kMetadump);
  ASSERT_EQ(r.metadump.size(), 3u);
  EXPECT_EQ(r.metadump[0], (MetadumpEntry{"abc", 1795560390, 1795560290, 1, false, 1, 64}));
  EXPECT_EQ(r.metadump[1], (MetadumpEntry{"a%20b", -1, 1795560290, 2, true, 1, 65}));
  EXPECT_EQ(r.metadump[2].key, "k3");
  EXPECT_EQ(r.metadump[2].size, 66u);
}

TEST(MetaListing, EmptyListingIsEnd) {
  EXPECT_EQ(parse_one("END\r\n").status, Status::kEnd);
  const Reply busy = parse_one("BUSY currently processing crawler request\r\n");
  EXPECT_EQ(busy.status, Status::kBusy);
  EXPECT_EQ(busy.message, "currently processing crawler request");
}

TEST(MetaListing, FragmentsMatchWholeFeedAndMixWithMetaReplies) {
  const std::string stream = "HD O1\r\n" + std::string(kMetadump) +
                             "STAT curr_items 3\r\nEND\r\nVA 2 O2\r\nhi\r\nEND\r\nMN\r\n";
  const auto whole = parse_whole(stream);
  ASSERT_EQ(whole.size(), 6u);
  EXPECT_EQ(parse_bytewise(stream), whole);
  for (std::uint32_t seed = 1; seed <= 20; ++seed) {
    EXPECT_EQ(parse_random(stream, seed, 9), whole) << "seed " << seed;
  }
}

TEST(MetaListing, MalformedListingsThrow) {
  expect_protocol_error("STAT curr_items 3\n");                         // bare \n on a STAT
  expect_protocol_error("STAT curr_items 3\r\nHD\r\n");                 // interrupted
  expect_protocol_error("STAT curr_items 3\r\nkey=a exp=-1\nEND\r\n");  // kinds mixed
  expect_protocol_error("STAT \r\nEND\r\n");                            // no name
  expect_protocol_error("key=a exp=soon\nEND\r\n");
  expect_protocol_error("key=a%2 exp=-1\nEND\r\n");
  expect_protocol_error("key=a%zz exp=-1\nEND\r\n");
  expect_protocol_error("key= exp=-1\nEND\r\n");
  expect_protocol_error("key=a fetch=maybe\nEND\r\n");
  expect_protocol_error("key=a noequals\nEND\r\n");
  expect_protocol_error("key=a\rb exp=-1\nEND\r\n");
  expect_protocol_error("key=a exp=-1\nEND\n");
  expect_protocol_error("ENDX\r\n");
}

TEST(MetaListing, ListingIsBoundedByTheValueLimit) {
  ParserLimits limits;
  limits.max_value_bytes = 100;
  std::string listing;
  for (int i = 0; i < 10; ++i) listing += "key=k" + std::to_string(i) + " exp=-1\n";
  listing += "END\r\n";
  expect_protocol_error(listing, limits);
  limits.max_value_bytes = 1000;
  EXPECT_EQ(parse_whole(listing, limits).size(), 1u);
}

// ---------------------------------------------------------------- flags

TEST(MetaParser, FlagLimitsAndSigns) {
  const Reply r =
      parse_one("HD O4294967295 f4294967295 c18446744073709551615 t9223372036854775807\r\n");
  EXPECT_EQ(r.opaque, 4294967295u);
  EXPECT_EQ(r.client_flags, 4294967295u);
  EXPECT_EQ(r.cas, 18446744073709551615u);
  EXPECT_EQ(r.ttl, 9223372036854775807);

  const Reply zero = parse_one("HD O0 f0 c0 t0\r\n");
  EXPECT_EQ(zero.opaque, 0u);
  EXPECT_EQ(zero.client_flags, 0u);
  EXPECT_EQ(zero.cas, 0u);
  EXPECT_EQ(zero.ttl, 0);
}

TEST(MetaParser, UnusedFlagsAreSkipped) {
  const Reply r = parse_one("HD kZm9v b s5 h1 l10 O3 Enot-a-number\r\n");
  EXPECT_EQ(r.opaque, 3u);
  EXPECT_FALSE(r.already_won);
}

TEST(MetaParser, RepeatedFlagLastWinsAndExtraSpacesAreHarmless) {
  const Reply r = parse_one("HD O1  O2 \r\n");
  EXPECT_EQ(r.opaque, 2u);
}

// ---------------------------------------------------------------- streams and fragments

// One transcript with every reply kind, as a pipelined connection would see it.
const std::string kTranscript =
    "VA 5 f9 O7 kfoo c1 t-1 s5\r\nab\r\nc\r\n"
    "EN O7 kfoo\r\n"
    "HD O8 c1\r\n"
    "VA 0 O14 W\r\n\r\n"
    "VA 0 O15 Z\r\n\r\n"
    "VA 0 c5 O17 X W\r\n\r\n"
    "HD f9 O7\r\n"
    "NF O12\r\n"
    "NS O10\r\n"
    "EX O11\r\n"
    "MN\r\n"
    "VA 11 O1\r\nEN\r\nHD O2\r\n\r\n"
    "OK\r\n"
    "VERSION 1.6.18\r\n"
    "ERROR\r\n"
    "CLIENT_ERROR bad command line format\r\n"
    "SERVER_ERROR object too large for cache\r\n"
    "VA 2\r\n\r\n\r\n"
    "EN\r\n";

TEST(MetaParser, ManyRepliesInOneFeed) {
  const auto replies = parse_whole(kTranscript);
  ASSERT_EQ(replies.size(), 19u);
  EXPECT_EQ(replies[0], describe(parse_one("VA 5 f9 O7 kfoo c1 t-1 s5\r\nab\r\nc\r\n")));
  EXPECT_EQ(replies[11], describe(parse_one("VA 11 O1\r\nEN\r\nHD O2\r\n\r\n")));
  EXPECT_EQ(replies[17], describe(parse_one("VA 2\r\n\r\n\r\n")));
  EXPECT_EQ(replies[18], describe(parse_one("EN\r\n")));
}

TEST(MetaParser, ByteAtATimeMatchesWholeFeed) {
  EXPECT_EQ(parse_bytewise(kTranscript), parse_whole(kTranscript));
}

TEST(MetaParser, RandomFragmentsMatchWholeFeed) {
  const auto expected = parse_whole(kTranscript);
  for (std::uint32_t seed = 1; seed <= 200; ++seed) {
    const std::size_t max_piece = 1 + seed % 40;
    ASSERT_EQ(parse_random(kTranscript, seed, max_piece), expected)
        << "seed " << seed << " max piece " << max_piece;
  }
}

TEST(MetaParser, FeedingSeveralTimesBeforeDrainingMatches) {
  MetaParser parser;
  for (std::size_t pos = 0; pos < kTranscript.size(); pos += 3) {
    parser.feed(std::string_view(kTranscript).substr(pos, 3));
  }
  EXPECT_EQ(drain(parser), parse_whole(kTranscript));
  EXPECT_EQ(parser.buffered(), 0u);
}

TEST(MetaParser, IncompleteReplyWaitsForMoreBytes) {
  MetaParser parser;
  EXPECT_FALSE(parser.next().has_value());
  parser.feed("VA 5 O1\r");
  EXPECT_FALSE(parser.next().has_value());
  parser.feed("\nab");
  EXPECT_FALSE(parser.next().has_value());
  parser.feed("cde\r");
  EXPECT_FALSE(parser.next().has_value());
  parser.feed("\nHD");
  const auto reply = parser.next();
  ASSERT_TRUE(reply.has_value());
  EXPECT_EQ(reply->value, "abcde");
  EXPECT_EQ(reply->opaque, 1u);
  EXPECT_FALSE(parser.next().has_value());
  EXPECT_EQ(parser.buffered(), 2u);
  parser.feed(" O2\r\n");
  const auto hd = parser.next();
  ASSERT_TRUE(hd.has_value());
  EXPECT_EQ(hd->status, Status::kHeaderOnly);
  EXPECT_EQ(hd->opaque, 2u);
  EXPECT_EQ(parser.buffered(), 0u);
}

TEST(MetaParser, LargeValueInFragments) {
  std::string value(3u << 20, '\0');
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> byte(0, 255);
  for (char& c : value) c = static_cast<char>(byte(rng));
  const std::string bytes =
      "HD O1\r\nVA " + std::to_string(value.size()) + " O2\r\n" + value + "\r\nVA 1 O3\r\nx\r\n";
  const auto whole = parse_whole(bytes);
  ASSERT_EQ(whole.size(), 3u);
  EXPECT_EQ(whole[1],
            describe(parse_one("VA " + std::to_string(value.size()) + " O2\r\n" + value + "\r\n")));
  EXPECT_EQ(parse_random(bytes, 7, 65536), whole);
}

TEST(MetaParser, LongStreamKeepsNothingBuffered) {
  MetaParser parser;
  std::size_t count = 0;
  for (std::uint32_t i = 0; i < 10000; ++i) {
    parser.feed("VA 3 O" + std::to_string(i) + "\r\nabc\r\nHD O");
    while (auto r = parser.next()) {
      ++count;
      EXPECT_EQ(r->value, "abc");
      EXPECT_EQ(r->opaque, i);
    }
    EXPECT_EQ(parser.buffered(), 4u);
    parser.feed("1\r\n");
    EXPECT_TRUE(parser.next().has_value());
    EXPECT_EQ(parser.buffered(), 0u);
  }
  EXPECT_EQ(count, 10000u);
}

// ---------------------------------------------------------------- limits

TEST(MetaParser, EndlessLineThrowsAsSoonAsTheLimitIsPassed) {
  const ParserLimits limits;  // max_line_bytes = 4096
  const std::string chunk(1000, 'a');
  MetaParser parser(limits);
  std::size_t fed = 0;
  bool thrown = false;
  while (fed < (1u << 20) && !thrown) {
    try {
      parser.feed(chunk);
      fed += chunk.size();
      EXPECT_FALSE(parser.next().has_value());
    } catch (const ProtocolError&) {
      thrown = true;
      fed += chunk.size();
    }
    // Memory held is one line's worth plus the current feed, never the whole stream.
    EXPECT_LE(parser.buffered(), limits.max_line_bytes + chunk.size());
  }
  EXPECT_TRUE(thrown);
  EXPECT_EQ(fed, 5000u);  // the first feed that takes the line past 4096 bytes
}

TEST(MetaParser, EndlessLineInOneFeedThrowsFromFeed) {
  MetaParser parser;
  EXPECT_EQ(protocol_error_reason([&] { parser.feed(std::string(1u << 20, 'H')); }),
            ErrorReason::kMalformedReply);
}

TEST(MetaParser, EndlessLineAfterAValueThrows) {
  MetaParser parser;
  parser.feed("VA 1 O1\r\nx\r\n");
  ASSERT_TRUE(parser.next().has_value());
  const std::string chunk(4096, 'a');
  EXPECT_NO_THROW(parser.feed(chunk));
  EXPECT_THROW(parser.feed("b"), ProtocolError);
}

TEST(MetaParser, LineLengthBoundary) {
  ParserLimits limits;
  limits.max_line_bytes = 16;
  const std::string exact = "HD t123456789012";  // 16 bytes
  ASSERT_EQ(exact.size(), 16u);
  EXPECT_EQ(parse_bytewise(exact + "\r\n", limits).size(), 1u);
  EXPECT_EQ(parse_whole(exact + "\r\n", limits).size(), 1u);
  expect_protocol_error(exact + "3\r\n", limits);

  // The line may wait at exactly the limit plus a '\r', but not one byte more.
  MetaParser parser(limits);
  EXPECT_NO_THROW(parser.feed(exact + "\r"));
  EXPECT_FALSE(parser.next().has_value());
  MetaParser over(limits);
  EXPECT_NO_THROW(over.feed(exact + "\r"));
  EXPECT_THROW(over.feed("x"), ProtocolError);
}

TEST(MetaParser, ValueLengthBoundary) {
  ParserLimits limits;
  limits.max_value_bytes = 16;
  const std::string exact(16, 'v');
  EXPECT_EQ(parse_bytewise("VA 16\r\n" + exact + "\r\n", limits).size(), 1u);
  expect_protocol_error("VA 17\r\n" + exact + "v\r\n", limits);
  // Refused from the header alone, before any data arrives.
  MetaParser parser(limits);
  parser.feed("VA 17 O1\r\n");
  EXPECT_THROW(parser.next(), ProtocolError);
}

TEST(MetaParser, DefaultValueLimitRejectsHugeLengthWithoutData) {
  MetaParser parser;
  parser.feed("VA 67108865\r\n");  // 64 MiB + 1
  EXPECT_THROW(parser.next(), ProtocolError);
  MetaParser ok;
  ok.feed("VA 67108864\r\n");
  EXPECT_FALSE(ok.next().has_value());
}

// ---------------------------------------------------------------- malformed input

// END alone is an empty listing (MetaListing.EmptyListingIsEnd); a connection still rejects
// it as the answer to a meta request, which must echo an opaque.
TEST(MetaParser, UnknownReplyCodes) {
  for (const char* bytes : {"XX\r\n", "va 1\r\nx\r\n", "HDX\r\n", "H\r\n", "\r\n", " HD\r\n",
                            "END O1\r\n", "VALUE k 0 1\r\nx\r\n", "STORED\r\n", "OK O1\r\n",
                            "version 1.6.18\r\n", "SERVER_ERRORX\r\n"}) {
    expect_protocol_error(bytes);
  }
}

TEST(MetaParser, LinesMustEndWithCrLf) {
  for (const char* bytes : {"HD O1\n", "\n", "EN\nHD\r\n", "HD\rO1\r\n", "HD O1\r\r\n",
                            "VERSION 1.6\r18\r\n", "VA 1\nx\r\n"}) {
    expect_protocol_error(bytes);
  }
}

TEST(MetaParser, BadValueLengths) {
  for (const char* bytes :
       {"VA -1\r\n", "VA abc\r\n", "VA\r\n", "VA \r\n", "VA +5\r\nabcde\r\n", "VA 5x\r\nabcde\r\n",
        "VA 0x5\r\n", "VA 9223372036854775808\r\n", "VA 18446744073709551616\r\n",
        "VA 99999999999999999999\r\n", "VA 1.5\r\n", "VA  5\r\nabcde\r\n"}) {
    expect_protocol_error(bytes);
  }
}

TEST(MetaParser, DataBlockMustEndWithCrLf) {
  for (const std::string& bytes :
       {"VA 2\r\nabc\r\n"s, "VA 2\r\nab\n\r"s, "VA 2\r\nab\rX"s, "VA 0\r\nX"s, "VA 3\r\nab\r\n"s,
        "VA 1\r\nx\n"s, "VA 1\r\nx\r\r"s, "VA 0\r\n\n\r"s}) {
    expect_protocol_error(bytes);
  }
}

TEST(MetaParser, BadTerminatorIsNoticedAtItsFirstByte) {
  MetaParser parser;
  parser.feed("VA 2\r\nab");
  EXPECT_FALSE(parser.next().has_value());
  parser.feed("X");
  EXPECT_THROW(parser.next(), ProtocolError);
}

TEST(MetaParser, MalformedFlags) {
  for (const char* bytes : {"HD Oabc\r\n",
                            "HD O\r\n",
                            "HD O4294967296\r\n",
                            "HD O-1\r\n",
                            "HD O+1\r\n",
                            "HD O1x\r\n",
                            "HD O 1\r\n",
                            "HD f4294967296\r\n",
                            "HD f\r\n",
                            "HD fx\r\n",
                            "HD c18446744073709551616\r\n",
                            "HD c-1\r\n",
                            "HD c\r\n",
                            "HD t9223372036854775808\r\n",
                            "HD t-9223372036854775809\r\n",
                            "HD t\r\n",
                            "HD t1.5\r\n",
                            "HD Wx\r\n",
                            "HD X1\r\n",
                            "HD Z0\r\n",
                            "HD 1\r\n",
                            "HD -\r\n",
                            "HD \x01\r\n",
                            "EN Ox\r\n",
                            "NF O99999999999\r\n",
                            "NS f-\r\n",
                            "EX c?\r\n",
                            "MN O1a\r\n",
                            "VA 1 Oabc\r\nx\r\n",
                            "VA 1 W1\r\nx\r\n"}) {
    expect_protocol_error(bytes);
  }
}

TEST(MetaParser, ErrorMessageQuotesTheLineSafely) {
  MetaParser parser;
  parser.feed("HD O\x01\xff" + std::string(200, 'y') + "\r\n");
  try {
    parser.next();
    FAIL() << "no ProtocolError";
  } catch (const ProtocolError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("\\x01\\xff"), std::string::npos) << what;
    EXPECT_LT(what.size(), 200u) << what;
  }
}

}  // namespace
}  // namespace llmcache::protocol
