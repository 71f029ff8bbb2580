// The one rule that pairs replies with requests, for both connection paths: the oldest
// request owns the next reply, and the opaque the server echoes must agree.
#include <llmcache/errors.hpp>

#include "net/reply_matcher.hpp"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <vector>

namespace llmcache::net {
namespace {

const ServerAddress kServer{"127.0.0.1", 11211};

protocol::Reply reply(std::optional<std::uint32_t> opaque,
                      protocol::Status status = protocol::Status::kHeaderOnly) {
  protocol::Reply r;
  r.status = status;
  r.opaque = opaque;
  return r;
}

// The reason and server of the ProtocolError `call` throws, or a note that it threw none.
template <class F>
std::string failure_of(F&& call) {
  try {
    call();
  } catch (const ProtocolError& e) {
    return std::string(to_string(e.reason())) + " " + e.server();
  }
  return "no ProtocolError";
}

TEST(ReplyMatcher, RepliesInOrderGoToTheirRequests) {
  ReplyMatcher<std::string> matcher(kServer);
  matcher.expect(1, "first");
  matcher.expect(2, "second");
  matcher.expect(std::nullopt, "classic");
  EXPECT_EQ(matcher.size(), 3u);
  EXPECT_EQ(matcher.oldest(), "first");
  EXPECT_EQ(matcher.match(reply(1)), "first");
  EXPECT_EQ(matcher.match(reply(2)), "second");
  EXPECT_EQ(matcher.match(reply(std::nullopt, protocol::Status::kOk)), "classic");
  EXPECT_TRUE(matcher.empty());
}

TEST(ReplyMatcher, AnotherRequestsOpaqueIsAnUnexpectedReplyAndLeavesTheQueueAlone) {
  ReplyMatcher<std::string> matcher(kServer);
  matcher.expect(1, "first");
  matcher.expect(2, "second");
  EXPECT_EQ(failure_of([&] { matcher.match(reply(2)); }), "unexpected_reply 127.0.0.1:11211");
  EXPECT_EQ(matcher.size(), 2u);
  EXPECT_EQ(matcher.oldest(), "first");
}

TEST(ReplyMatcher, AReplyWithoutTheOpaqueAnswersOnlyWhenItIsAnError) {
  ReplyMatcher<int> matcher(kServer);
  matcher.expect(7, 1);
  EXPECT_EQ(failure_of([&] { matcher.match(reply(std::nullopt)); }),
            "unexpected_reply 127.0.0.1:11211");
  // memcached's CLIENT_ERROR for a request it could not read carries no opaque.
  for (auto status :
       {protocol::Status::kError, protocol::Status::kClientError, protocol::Status::kServerError}) {
    ReplyMatcher<int> fresh(kServer);
    fresh.expect(7, 1);
    EXPECT_EQ(fresh.match(reply(std::nullopt, status)), 1) << "status " << static_cast<int>(status);
  }
}

TEST(ReplyMatcher, AnOpaqueOnAClassicCommandsReplyIsUnexpected) {
  ReplyMatcher<int> matcher(kServer);
  matcher.expect(std::nullopt, 1);
  EXPECT_EQ(failure_of([&] { matcher.match(reply(3)); }), "unexpected_reply 127.0.0.1:11211");
}

TEST(ReplyMatcher, AReplyToNothingIsUnexpected) {
  ReplyMatcher<int> matcher(kServer);
  EXPECT_EQ(failure_of([&] { matcher.match(reply(1)); }), "unexpected_reply 127.0.0.1:11211");
  matcher.expect(1, 1);
  EXPECT_EQ(matcher.match(reply(1)), 1);
  EXPECT_EQ(failure_of([&] { matcher.match(reply(1)); }), "unexpected_reply 127.0.0.1:11211");
}

protocol::Reply items(std::initializer_list<const char*> keys) {
  protocol::Reply r = reply(std::nullopt, protocol::Status::kValue);
  for (const char* key : keys) r.values.push_back({key, 0, {}, "v"});
  return r;
}

TEST(ReplyMatcher, AClassicGetIsAnsweredOnlyWithItemsForTheKeysItAskedFor) {
  const auto get = protocol::accepts({protocol::Status::kValue, protocol::Status::kEnd});
  ReplyMatcher<int> matcher(kServer);
  matcher.expect(std::nullopt, get, "get a b\r\n", 1);
  matcher.expect(std::nullopt, get, "get c\r\n", 2);
  // c's item, while a and b's get is the oldest: the stream is out of step.
  EXPECT_EQ(failure_of([&] { matcher.match(items({"c"})); }), "unexpected_reply 127.0.0.1:11211");
  EXPECT_EQ(failure_of([&] {
              matcher.match(items({"a", "a"}));
            }),
            "unexpected_reply 127.0.0.1:11211");
  EXPECT_EQ(matcher.size(), 2u);
  EXPECT_EQ(matcher.match(items({"b", "a"})), 1);
  EXPECT_EQ(matcher.match(reply(std::nullopt, protocol::Status::kEnd)), 2);
}

TEST(ReplyMatcher, TakeAllHandsBackEveryWaiterOldestFirst) {
  ReplyMatcher<int> matcher(kServer);
  for (int i = 0; i < 4; ++i) matcher.expect(static_cast<std::uint32_t>(i), i);
  const auto all = matcher.take_all();
  EXPECT_EQ(std::vector<int>(all.begin(), all.end()), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_TRUE(matcher.empty());
}

}  // namespace
}  // namespace llmcache::net
