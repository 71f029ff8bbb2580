// The authentication exchange both connection paths run, without a socket.
#include <llmcache/errors.hpp>

#include "net/auth.hpp"

#include <gtest/gtest.h>

#include <string>

namespace llmcache::net {
namespace {

const ServerAddress kServer{"127.0.0.1", 11211};
const Credentials kAlice{"alice", "secret"};

TEST(AuthExchange, RequestIsASetOfUserAndPasswordThatExpiresAtOnce) {
  AuthExchange exchange(kAlice, kServer);
  EXPECT_EQ(exchange.request(), "set llmcache-auth 0 -1 12\r\nalice secret\r\n");
}

TEST(AuthExchange, StoredInPiecesIsSuccessAndWhatFollowsIsKept) {
  AuthExchange exchange(kAlice, kServer);
  EXPECT_FALSE(exchange.feed("STO"));
  EXPECT_FALSE(exchange.feed("RED\r"));
  EXPECT_TRUE(exchange.feed("\nHD O1\r\n"));
  EXPECT_EQ(exchange.rest(), "HD O1\r\n");
}

TEST(AuthExchange, AnyOtherAnswerIsAnAuthenticationFailureNamingTheServer) {
  AuthExchange exchange(kAlice, kServer);
  try {
    exchange.feed("CLIENT_ERROR authentication failure\r\n");
    FAIL() << "no exception";
  } catch (const IoError& e) {
    EXPECT_EQ(e.reason(), ErrorReason::kAuthenticationFailed);
    EXPECT_EQ(e.server(), "127.0.0.1:11211");
    EXPECT_NE(std::string(e.what()).find("CLIENT_ERROR authentication failure"), std::string::npos)
        << e.what();
  }
}

TEST(AuthExchange, AnAnswerLongerThanALineIsAnAuthenticationFailure) {
  AuthExchange exchange(kAlice, kServer);
  EXPECT_FALSE(exchange.feed(std::string(1000, 'x')));
  try {
    exchange.feed(std::string(1000, 'x'));
    FAIL() << "no exception";
  } catch (const IoError& e) {
    EXPECT_EQ(e.reason(), ErrorReason::kAuthenticationFailed);
  }
}

}  // namespace
}  // namespace llmcache::net
