// memcached's ASCII authentication (-Y authfile) against real memcached.
#include <llmcache/client.hpp>
#include <llmcache/errors.hpp>

#include "support/log_and_errors.hpp"
#include "support/memcached_server.hpp"

#include <gtest/gtest.h>
#include <asio/use_future.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>

namespace llmcache {
namespace {

using namespace std::chrono_literals;
using testing::MemcachedServer;
namespace fs = std::filesystem;

// An authfile in its own temp dir, removed afterwards.
class AuthFile {
 public:
  explicit AuthFile(const std::string& lines) {
    std::string pattern = (fs::temp_directory_path() / "llmcache-auth-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    std::ofstream(path()) << lines;
  }
  ~AuthFile() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  std::string path() const { return (dir_ / "authfile").string(); }

 private:
  fs::path dir_;
};

ClientOptions with_credentials(std::string username, std::string password) {
  ClientOptions options;
  // Generous: the tests run beside parallel builds, and none of them measures time.
  options.connect_timeout = 5000ms;
  options.request_timeout = 5000ms;
  options.credentials = {std::move(username), std::move(password)};
  return options;
}

std::string message_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& e) {
    return e.what();
  }
  return "no exception";
}

TEST(Auth, RightCredentialsWorkOnBothPaths) {
  AuthFile authfile("alice:secret\nbob:hunter2\n");
  MemcachedServer server({"-Y", authfile.path()});
  Client client(server.address(), with_credentials("bob", "hunter2"));
  EXPECT_EQ(client.set("k", "v"), StoreResult::kStored);
  EXPECT_EQ(client.get("k")->value, "v");
  EXPECT_EQ(client.async_get("k", asio::use_future).get()->value, "v");
  EXPECT_EQ(client.async_set("a", "b", {}, asio::use_future).get(), StoreResult::kStored);
  EXPECT_EQ(client.get("a")->value, "b");
}

TEST(Auth, WrongPasswordIsAnAuthenticationError) {
  AuthFile authfile("alice:secret\n");
  MemcachedServer server({"-Y", authfile.path()});
  Client client(server.address(), with_credentials("alice", "wrong"));
  const auto start = std::chrono::steady_clock::now();
  for (const auto& message : {message_of([&] { client.get("k"); }),
                              message_of([&] { client.async_get("k", asio::use_future).get(); })}) {
    EXPECT_NE(message.find("authentication failed"), std::string::npos) << message;
  }
  EXPECT_THROW(client.get("k"), IoError);  // every new connection tries again, and fails again
  for (const auto& error : {testing::thrown_by([&] { client.get("k"); }), testing::thrown_by([&] {
                              client.async_get("k", asio::use_future).get();
                            })}) {
    EXPECT_EQ(testing::reason_of(error), "authentication_failed") << testing::describe(error);
    EXPECT_EQ(testing::details_of(error).server, server.address().name());
  }
  // A refusal is an answer, not a wait for the deadline.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 3 * 5000ms);
}

TEST(Auth, MissingCredentialsAreRefusedByTheServer) {
  AuthFile authfile("alice:secret\n");
  MemcachedServer server({"-Y", authfile.path()});
  Client client(server.address(), with_credentials("", ""));
  const std::string message = message_of([&] { client.get("k"); });
  EXPECT_NE(message.find("unauthenticated"), std::string::npos) << message;
  EXPECT_NE(message_of([&] { client.async_get("k", asio::use_future).get(); }), "no exception");
}

TEST(Auth, CredentialsSentToAServerWithoutAuthLeaveNothingBehind) {
  MemcachedServer server;
  Client client(server.address(), with_credentials("alice", "secret"));
  client.set("k", "v");
  EXPECT_EQ(client.get("k")->value, "v");
  EXPECT_FALSE(client.get("llmcache-auth"));  // the password is not readable from the cache
}

TEST(Auth, BadCredentialsAreRefusedAtConstruction) {
  EXPECT_THROW(Client("127.0.0.1:1", with_credentials("", "secret")), InvalidArgumentError);
  EXPECT_THROW(Client("127.0.0.1:1", with_credentials("al ice", "secret")), InvalidArgumentError);
  EXPECT_THROW(Client("127.0.0.1:1", with_credentials("alice", "se\r\ncret")),
               InvalidArgumentError);
}

}  // namespace
}  // namespace llmcache
