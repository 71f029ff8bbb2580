// The meta protocol's request bytes and key rules: exactly what goes on the wire.
#include "protocol/meta_requests.hpp"
#include "protocol/keys.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>

#include "llmcache/errors.hpp"

namespace llmcache::protocol {
namespace {

using namespace std::string_literals;

// ---------------------------------------------------------------- requests

TEST(MetaRequest, GetDefaults) {
  std::string out;
  append_meta_get(out, "k", MetaGetFlags{}, 7);
  EXPECT_EQ(out, "mg k v f O7\r\n");
}

TEST(MetaRequest, GetAllFlagsInFixedOrder) {
  MetaGetFlags flags;
  flags.cas = true;
  flags.ttl = true;
  flags.vivify_ttl = 30;
  flags.recache_ttl = 10;
  flags.touch_ttl = 60;
  std::string out;
  append_meta_get(out, "some:key", flags, 4294967295u);
  EXPECT_EQ(out, "mg some:key v f c t N30 R10 T60 O4294967295\r\n");
}

TEST(MetaRequest, GetNoReturnFlags) {
  MetaGetFlags flags;
  flags.value = false;
  flags.client_flags = false;
  flags.touch_ttl = 0;
  std::string out;
  append_meta_get(out, "k", flags, 0);
  EXPECT_EQ(out, "mg k T0 O0\r\n");
}

TEST(MetaRequest, SetDefaults) {
  std::string out;
  append_meta_set(out, "k", "hello", MetaSetFlags{}, 7);
  EXPECT_EQ(out, "ms k 5 O7\r\nhello\r\n");
}

TEST(MetaRequest, SetAllFlagsInFixedOrder) {
  MetaSetFlags flags;
  flags.client_flags = 9;
  flags.ttl = 60;
  flags.cas = 123;
  flags.invalidate = true;
  flags.return_cas = true;
  flags.mode = SetMode::kAdd;
  std::string out;
  append_meta_set(out, "k", "hello", flags, 7);
  EXPECT_EQ(out, "ms k 5 F9 T60 C123 I c ME O7\r\nhello\r\n");
}

TEST(MetaRequest, SetModes) {
  const std::pair<SetMode, std::string> cases[] = {{SetMode::kSet, "ms k 1 O1\r\nx\r\n"},
                                                   {SetMode::kAdd, "ms k 1 ME O1\r\nx\r\n"},
                                                   {SetMode::kReplace, "ms k 1 MR O1\r\nx\r\n"},
                                                   {SetMode::kAppend, "ms k 1 MA O1\r\nx\r\n"},
                                                   {SetMode::kPrepend, "ms k 1 MP O1\r\nx\r\n"}};
  for (const auto& [mode, expected] : cases) {
    MetaSetFlags flags;
    flags.mode = mode;
    std::string out;
    append_meta_set(out, "k", "x", flags, 1);
    EXPECT_EQ(out, expected);
  }
}

TEST(MetaRequest, SetBinaryAndEmptyValues) {
  std::string out;
  append_meta_set(out, "k", "a\r\nb\0"s, MetaSetFlags{}, 2);
  EXPECT_EQ(out, "ms k 5 O2\r\na\r\nb\0\r\n"s);
  out.clear();
  append_meta_set(out, "k", "", MetaSetFlags{}, 3);
  EXPECT_EQ(out, "ms k 0 O3\r\n\r\n");
}

TEST(MetaRequest, Delete) {
  std::string out;
  append_meta_delete(out, "k", MetaDeleteFlags{}, 3);
  EXPECT_EQ(out, "md k O3\r\n");
  out.clear();
  MetaDeleteFlags flags;
  flags.invalidate = true;
  flags.cas = 5;
  append_meta_delete(out, "k", flags, 3);
  EXPECT_EQ(out, "md k C5 I O3\r\n");
}

TEST(MetaRequest, NoopFlushVersion) {
  std::string out;
  append_meta_noop(out);
  EXPECT_EQ(out, "mn\r\n");
  out.clear();
  append_flush_all(out, 0);
  EXPECT_EQ(out, "flush_all 0\r\n");
  out.clear();
  append_flush_all(out, 30);
  EXPECT_EQ(out, "flush_all 30\r\n");
  out.clear();
  append_version(out);
  EXPECT_EQ(out, "version\r\n");
  out.clear();
  append_stats(out);
  EXPECT_EQ(out, "stats\r\n");
  out.clear();
  append_metadump_all(out);
  EXPECT_EQ(out, "lru_crawler metadump hash\r\n");
}

TEST(MetaRequest, BuildersAppendToExistingBytes) {
  std::string out = "prefix|";
  append_meta_get(out, "a", MetaGetFlags{}, 1);
  append_meta_set(out, "b", "v", MetaSetFlags{}, 2);
  append_meta_delete(out, "c", MetaDeleteFlags{}, 3);
  append_meta_noop(out);
  EXPECT_EQ(out, "prefix|mg a v f O1\r\nms b 1 O2\r\nv\r\nmd c O3\r\nmn\r\n");
}

// ---------------------------------------------------------------- keys

TEST(MetaKey, LengthLimits) {
  EXPECT_NO_THROW(validate_key("k"));
  EXPECT_NO_THROW(validate_key(std::string(250, 'k')));
  try {
    validate_key(std::string(251, 'k'));
    FAIL() << "251-byte key accepted";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("251 bytes; the limit is 250"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(validate_key(""), InvalidArgumentError);
}

TEST(MetaKey, SpacesAndControlBytes) {
  for (const std::string& key : {"a b"s, "a\nb"s, "a\rb"s, "a\tb"s, "\0"s, "ab\x1f"s, "a\x7f"s,
                                 " "s, "k\r\n"s, std::string(249, 'k') + " "}) {
    EXPECT_THROW(validate_key(key), InvalidArgumentError) << key;
  }
}

TEST(MetaKey, PrintableAndHighBytesAreAllowed) {
  for (const std::string& key :
       {"!"s, "~"s, "llm:v1:\xc3\xa9t\xc3\xa9"s, "\x80\xff"s, "a-b_c.d/e:f"s}) {
    EXPECT_NO_THROW(validate_key(key)) << key;
  }
}

TEST(MetaKey, MessageNamesTheOffset) {
  try {
    validate_key("ab c");
    FAIL() << "key with a space accepted";
  } catch (const InvalidArgumentError& e) {
    EXPECT_NE(std::string(e.what()).find("offset 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace llmcache::protocol
