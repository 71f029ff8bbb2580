// LangChain's key and pymemcache's placement, against fixed vectors that LangChain and
// pymemcache themselves produce.
#include <llmcache/errors.hpp>
#include <llmcache/key.hpp>
#include <llmcache/options.hpp>

#include <string>
#include <string_view>

#include "client/rendezvous_hash.hpp"

#include <gtest/gtest.h>

namespace llmcache {
namespace {

TEST(LangchainKey, MatchesTheStandardTestVectors) {
  EXPECT_EQ(langchain_key("Sample prompt for testing.", "Sample LLM string configuration."),
            "e9d5056781cb5de7386f768fd2eaa106");
  EXPECT_EQ(langchain_key("Nonexistent prompt", "Sample LLM string configuration."),
            "06f2d459aad16b1a4cda257a5aa729d8");
}

TEST(LangchainKey, HashesTheConcatenationWithoutDelimiter) {
  EXPECT_EQ(langchain_key("ab", "c"), langchain_key("a", "bc"));
  EXPECT_EQ(langchain_key("", ""), "d41d8cd98f00b204e9800998ecf8427e");  // MD5 of nothing
  EXPECT_EQ(langchain_key("caf\xc3\xa9", "").size(), 32u);
}

TEST(Murmur3, MatchesPymemcache) {
  EXPECT_EQ(detail::murmur3_32("6666"), 1361238019u);
  EXPECT_EQ(detail::murmur3_32("6666", 10), 2981722772u);
}

TEST(RendezvousHash, MatchesPymemcacheVectors) {
  detail::RendezvousHash ring({"0", "1", "2"});
  EXPECT_EQ(*ring.get_node("ok"), "0");
  EXPECT_EQ(*ring.get_node("mykey"), "1");
  EXPECT_EQ(*ring.get_node("wat"), "2");
}

TEST(RendezvousHash, RemovingANodeMovesOnlyItsKeys) {
  detail::RendezvousHash ring({"a:1", "b:1", "c:1"});
  std::vector<std::string> before;
  for (int i = 0; i < 300; ++i) before.push_back(*ring.get_node("key" + std::to_string(i)));
  ring.remove_node("b:1");
  for (int i = 0; i < 300; ++i) {
    const std::string now = *ring.get_node("key" + std::to_string(i));
    if (before[i] != "b:1") {
      EXPECT_EQ(now, before[i]);
    }
    EXPECT_NE(now, "b:1");
  }
  ring.remove_node("a:1");
  ring.remove_node("c:1");
  EXPECT_EQ(ring.get_node("x"), nullptr);
}

TEST(ParseServer, AcceptsWhatPymemcacheAccepts) {
  EXPECT_EQ(parse_server("localhost"), (ServerAddress{"localhost", 11211}));
  EXPECT_EQ(parse_server("10.0.0.1:11300"), (ServerAddress{"10.0.0.1", 11300}));
  EXPECT_EQ(parse_server("[::1]:11212"), (ServerAddress{"::1", 11212}));
  EXPECT_EQ(parse_server("[::1]"), (ServerAddress{"::1", 11211}));
  EXPECT_EQ(parse_server("127.0.0.1:11211").name(), "127.0.0.1:11211");
}

TEST(ParseServer, RejectsBadSpecsWithAClearMessage) {
  EXPECT_THROW(parse_server(""), InvalidArgumentError);
  EXPECT_THROW(parse_server("host:"), InvalidArgumentError);
  EXPECT_THROW(parse_server("host:0"), InvalidArgumentError);
  EXPECT_THROW(parse_server("host:65536"), InvalidArgumentError);
  EXPECT_THROW(parse_server("host:12ab"), InvalidArgumentError);
  EXPECT_THROW(parse_server(":11211"), InvalidArgumentError);
  EXPECT_THROW(parse_server("[::1"), InvalidArgumentError);
  try {
    parse_server("host:99999");
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("host:99999"), std::string::npos);
  }
}

// Found by fuzz/server_address_fuzzer.cpp: such hosts were accepted, and their name()
// did not parse back to the same address (or did not parse at all).
TEST(ParseServer, RejectsHostsWhoseNameWouldNotParseBack) {
  for (const std::string_view spec :
       {"\n", "a b:1", "[a,b]:1", "[a b]", "[[::1]:1", "a]b:1", "[a\x7f]", "h\t:1"}) {
    EXPECT_THROW(parse_server(spec), InvalidArgumentError) << spec;
  }
  const ServerAddress v6 = parse_server("[fe80::1%eth0]:11212");
  EXPECT_EQ(parse_server(v6.name()), v6);
  EXPECT_EQ(parse_servers(v6.name() + ",h:1").front(), v6);
}

// pymemcache's normalize_server_spec: "/path" and "unix:<path>" are Unix sockets, and
// HashClient names such a node by its path alone (what placement hashes).
TEST(ParseServer, TakesUnixSocketPathsAsPymemcacheDoes) {
  const ServerAddress plain = parse_server("/run/memcached/mc.sock");
  EXPECT_TRUE(plain.is_unix());
  EXPECT_EQ(plain.unix_path, "/run/memcached/mc.sock");
  EXPECT_EQ(plain.name(), "/run/memcached/mc.sock");
  EXPECT_EQ(parse_server("unix:/run/memcached/mc.sock"), plain);
  EXPECT_EQ(parse_server(plain.name()), plain);
  EXPECT_FALSE(parse_server("localhost").is_unix());
  EXPECT_EQ(parse_server("127.0.0.1:11211").name(), "127.0.0.1:11211");

  const auto mixed = parse_servers("unix:/tmp/a.sock, 10.0.0.1:11300,/tmp/b.sock");
  ASSERT_EQ(mixed.size(), 3u);
  EXPECT_EQ(mixed[0].name(), "/tmp/a.sock");
  EXPECT_EQ(mixed[1], (ServerAddress{"10.0.0.1", 11300}));
  EXPECT_EQ(mixed[2].name(), "/tmp/b.sock");
}

TEST(ParseServer, RejectsUnixSocketPathsItCannotUse) {
  auto message = [](std::string_view spec) {
    try {
      parse_server(spec);
    } catch (const InvalidArgumentError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message("unix:").find("must be absolute"), std::string::npos);
  EXPECT_NE(message("unix:mc.sock").find("must be absolute"), std::string::npos);
  EXPECT_NE(message("/tmp/a,b.sock").find("comma"), std::string::npos);
  EXPECT_NE(message("/tmp/a b.sock").find("space"), std::string::npos);
  EXPECT_NE(message("/" + std::string(107, 'x')).find("at most 107 bytes"), std::string::npos);
  EXPECT_EQ(message("/" + std::string(106, 'x')), "accepted");
  // Hosts whose name() would read back as a socket.
  const std::string reserved = "a host cannot be 'unix' or start with";
  EXPECT_NE(message("[/tmp/mc.sock]:1").find(reserved), std::string::npos);
  EXPECT_NE(message("[unix:h]:1").find(reserved), std::string::npos);
  // Found by the fuzzer: host "unix" would name itself "unix:11211", a (relative) socket.
  EXPECT_NE(message("unix").find(reserved), std::string::npos);
  EXPECT_NE(message("[unix]:1").find(reserved), std::string::npos);
  EXPECT_NE(message("unix:11211").find("must be absolute"), std::string::npos);
}

TEST(ParseServers, SplitsOnCommasAndSpaces) {
  auto servers = parse_servers("a:1, b:2,c");
  ASSERT_EQ(servers.size(), 3u);
  EXPECT_EQ(servers[2], (ServerAddress{"c", 11211}));
  EXPECT_THROW(parse_servers(" , "), InvalidArgumentError);
}

}  // namespace
}  // namespace llmcache
