// TLS against real memcached started with -Z, with certificates made at test time by the
// openssl command: a CA, a server certificate for IP:127.0.0.1 and DNS:localhost, a client
// certificate, and a second CA nobody trusts with a server certificate of its own.
#include <llmcache/cache.hpp>
#include <llmcache/client.hpp>
#include <llmcache/errors.hpp>

#include "support/fake_server.hpp"
#include "support/forked_child.hpp"
#include "support/log_and_errors.hpp"
#include "support/memcached_server.hpp"

#include <gtest/gtest.h>
#include <asio/use_future.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace llmcache {
namespace {

using namespace std::chrono_literals;
using testing::MemcachedServer;
namespace fs = std::filesystem;

// Runs `call`, expects it to throw an llmcache::Error of type E whose message holds
// every one of `parts`, and returns the message.
template <class E>
std::string expect_error(const std::function<void()>& call,
                         std::initializer_list<std::string_view> parts) {
  try {
    call();
  } catch (const E& e) {
    const std::string message = e.what();
    for (auto part : parts) {
      EXPECT_NE(message.find(part), std::string::npos) << "'" << part << "' not in: " << message;
    }
    return message;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "wrong exception type: " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no exception";
  return {};
}

class Certificates {
 public:
  Certificates() {
    std::string pattern = (fs::temp_directory_path() / "llmcache-tls-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = pattern;
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    run("openssl req -x509" + ec +
        " -keyout ca.key -out ca.pem -days 2 -subj /CN=llmcache-test-ca");
    run("openssl req -x509" + ec +
        " -keyout other-ca.key -out other-ca.pem -days 2 -subj /CN=untrusted-ca");
    write("server.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
    write("client.ext", "extendedKeyUsage=clientAuth\n");
    issue("server", "ca", "server.ext", "/CN=localhost");
    issue("untrusted-server", "other-ca", "server.ext", "/CN=localhost");
    issue("client", "ca", "client.ext", "/CN=llmcache-client");
  }
  ~Certificates() {
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  /// memcached arguments serving `name`.pem with TLS; `extra` appended to -o.
  std::vector<std::string> server_args(const std::string& name = "server",
                                       const std::string& extra = "") const {
    return {"-Z", "-o",
            "ssl_chain_cert=" + path(name + ".pem") + ",ssl_key=" + path(name + ".key") + extra};
  }

  /// Verified TLS to 127.0.0.1 against our CA. Generous deadlines: the handshakes run on
  /// machines busy with parallel builds, and no test here measures time with them.
  ClientOptions options() const {
    ClientOptions options;
    options.connect_timeout = 5000ms;
    options.request_timeout = 5000ms;
    options.tls.enabled = true;
    options.tls.ca_file = path("ca.pem");
    return options;
  }

 private:
  void run(const std::string& command) const {
    const std::string line = "cd '" + dir_.string() + "' && " + command + " >/dev/null 2>&1";
    if (std::system(line.c_str()) != 0) throw std::runtime_error("failed: " + command);
  }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
  }
  void issue(const std::string& name, const std::string& ca, const std::string& ext,
             const std::string& subject) const {
    run("openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout " + name +
        ".key -out " + name + ".csr -subj " + subject);
    run("openssl x509 -req -in " + name + ".csr -CA " + ca + ".pem -CAkey " + ca +
        ".key -CAcreateserial -days 2 -out " + name + ".pem -extfile " + ext);
  }

  fs::path dir_;
};

class Tls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { certs_ = new Certificates(); }
  static void TearDownTestSuite() {
    delete certs_;
    certs_ = nullptr;
  }
  static const Certificates& certs() { return *certs_; }

 private:
  static inline Certificates* certs_ = nullptr;
};

TEST_F(Tls, VerifiedBlockingAndAsyncCallsWork) {
  MemcachedServer server(certs().server_args());
  Client client(server.address(), certs().options());
  EXPECT_EQ(client.set("k", "over tls"), StoreResult::kStored);
  EXPECT_EQ(client.get("k")->value, "over tls");
  // The async path has its own connection: it must speak TLS too.
  EXPECT_EQ(client.async_set("a", "async", {}, asio::use_future).get(), StoreResult::kStored);
  EXPECT_EQ(client.async_get("a", asio::use_future).get()->value, "async");
  EXPECT_EQ(client.async_get("k", asio::use_future).get()->value, "over tls");
  EXPECT_EQ(client.get("a")->value, "async");
}

// Values many TLS records long, and many requests pipelined in one write, both ways: the
// records are cut and joined wherever the socket splits them.
TEST_F(Tls, LargeValuesAndPipelinedRequestsOnBothPaths) {
  MemcachedServer server(certs().server_args());
  Client client(server.address(), certs().options());
  const std::string big(900 * 1024, 'b');
  std::string patterned(700 * 1024, '\0');
  for (std::size_t i = 0; i < patterned.size(); ++i) patterned[i] = static_cast<char>(i * 7 % 251);
  EXPECT_EQ(client.set("big", big), StoreResult::kStored);
  EXPECT_EQ(client.async_set("patterned", patterned, {}, asio::use_future).get(),
            StoreResult::kStored);
  EXPECT_EQ(client.get("patterned")->value, patterned);
  EXPECT_EQ(client.async_get("big", asio::use_future).get()->value, big);
  std::vector<std::future<std::optional<Item>>> gets;
  for (int i = 0; i < 200; ++i) {
    gets.push_back(client.async_get(i % 2 ? "big" : "patterned", asio::use_future));
  }
  for (int i = 0; i < 200; ++i) {
    const auto item = gets[static_cast<std::size_t>(i)].get();
    ASSERT_TRUE(item);
    EXPECT_EQ(item->value.size(), i % 2 ? big.size() : patterned.size());
    EXPECT_TRUE(item->value == (i % 2 ? big : patterned)) << "request " << i;
  }
}

// A child must neither use nor end the parent's TLS sessions (an SSL_shutdown from the
// child would write a close_notify into the parent's session): it makes its own.
TEST_F(Tls, ForkChildHasItsOwnSessionsAndLeavesTheParentsAlone) {
  SKIP_UNDER_TSAN();
  MemcachedServer server(certs().server_args());
  auto client = std::make_unique<Client>(server.address(), certs().options());
  ASSERT_EQ(testing::exercise(*client, "before fork", 3), "");
  testing::Child child([&] {
    std::string report = testing::exercise(*client, "child", 50);
    client->close();
    client.reset();
    return report;
  });
  EXPECT_EQ(testing::exercise(*client, "parent", 50), "");
  EXPECT_EQ(child.finish(), "ok");
  EXPECT_EQ(testing::exercise(*client, "parent after the child", 5), "");
}

TEST_F(Tls, HostNameIsVerifiedAgainstDnsSan) {
  MemcachedServer server(certs().server_args());
  Client client(ServerAddress{"localhost", server.port()}, certs().options());
  client.set("k", "v");
  EXPECT_EQ(client.get("k")->value, "v");
}

TEST_F(Tls, HashClientAcrossTwoTlsServers) {
  MemcachedServer a(certs().server_args());
  MemcachedServer b(certs().server_args());
  HashClient client({a.address(), b.address()}, HashClientOptions{.client = certs().options()});
  for (int i = 0; i < 20; ++i) client.set("key" + std::to_string(i), std::to_string(i));
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(client.get("key" + std::to_string(i))->value, std::to_string(i));
    EXPECT_EQ(client.async_get("key" + std::to_string(i), asio::use_future).get()->value,
              std::to_string(i));
  }
  // Both servers took keys, so both TLS connections carried traffic.
  Client only_a(a.address(), certs().options());
  Client only_b(b.address(), certs().options());
  int on_a = 0, on_b = 0;
  for (int i = 0; i < 20; ++i) {
    on_a += only_a.get("key" + std::to_string(i)) ? 1 : 0;
    on_b += only_b.get("key" + std::to_string(i)) ? 1 : 0;
  }
  EXPECT_GT(on_a, 0);
  EXPECT_GT(on_b, 0);
  EXPECT_EQ(on_a + on_b, 20);
  // The blocking batch over both TLS sessions: each server's share in one write.
  std::vector<std::string> keys;
  for (int i = 0; i < 21; ++i) keys.push_back("key" + std::to_string(i));
  const auto items = client.get_many(keys);
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(items[static_cast<std::size_t>(i)]) << i;
    EXPECT_EQ(items[static_cast<std::size_t>(i)]->value, std::to_string(i));
  }
  EXPECT_FALSE(items[20]);
}

TEST_F(Tls, MemcachedCacheLookupAndUpdate) {
  MemcachedServer server(certs().server_args());
  MemcachedCache cache(make_client(server.spec(), HashClientOptions{.client = certs().options()}),
                       MemcachedCacheOptions{.strict = true});
  EXPECT_FALSE(cache.lookup("prompt", "llm"));
  EXPECT_TRUE(cache.update("prompt", "llm", {Generation{"an answer", std::nullopt}}));
  auto hit = cache.lookup("prompt", "llm");
  ASSERT_TRUE(hit);
  EXPECT_EQ(text_of(hit->front()), "an answer");
}

TEST_F(Tls, UntrustedCertificateFailsWithAClearError) {
  MemcachedServer server(certs().server_args("untrusted-server"));
  Client client(server.address(), certs().options());
  const auto start = std::chrono::steady_clock::now();
  expect_error<IoError>([&] { client.get("k"); },
                        {"certificate could not be verified", "unable to get local issuer"});
  expect_error<IoError>([&] { client.async_get("k", asio::use_future).get(); },
                        {"certificate could not be verified"});
  // A failed verification is an answer, not a hang: well within the connect deadlines.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2 * 5000ms);
  for (const auto& error : {testing::thrown_by([&] { client.get("k"); }), testing::thrown_by([&] {
                              client.async_get("k", asio::use_future).get();
                            })}) {
    EXPECT_EQ(testing::reason_of(error), "certificate_unverified") << testing::describe(error);
    EXPECT_EQ(testing::details_of(error).server, server.address().name());
  }
}

TEST_F(Tls, TlsToAPlaintextServerThatClosesIsAHandshakeFailure) {
  // A plaintext memcached closes the connection on a ClientHello it cannot read as a
  // command only sometimes; a fake that hangs up at once makes it certain.
  const auto hang_up = [](testing::FakePeer& peer) { peer.close(); };
  testing::FakeServer server({hang_up, hang_up});  // one connection per path
  Client client(server.address(), certs().options());
  for (const auto& error : {testing::thrown_by([&] { client.get("k"); }), testing::thrown_by([&] {
                              client.async_get("k", asio::use_future).get();
                            })}) {
    EXPECT_TRUE(testing::holds<IoError>(error)) << testing::describe(error);
    EXPECT_EQ(testing::reason_of(error), "tls_handshake_failed") << testing::describe(error);
  }
}

TEST_F(Tls, SystemStoreDoesNotTrustATestCa) {
  MemcachedServer server(certs().server_args());
  auto options = certs().options();
  options.tls.ca_file.clear();  // default verification: the system's trust store
  Client client(server.address(), options);
  expect_error<IoError>([&] { client.get("k"); }, {"certificate could not be verified"});
}

TEST_F(Tls, WrongServerNameFails) {
  MemcachedServer server(certs().server_args());
  auto options = certs().options();
  options.tls.server_name = "cache.example.com";
  Client client(server.address(), options);
  expect_error<IoError>([&] { client.get("k"); },
                        {"certificate could not be verified", "hostname mismatch"});
  expect_error<IoError>([&] { client.async_get("k", asio::use_future).get(); },
                        {"hostname mismatch"});
}

TEST_F(Tls, VerifyOffAcceptsAnyCertificate) {
  MemcachedServer server(certs().server_args("untrusted-server"));
  auto options = certs().options();
  options.tls.verify = false;
  options.tls.ca_file.clear();
  Client client(server.address(), options);
  client.set("k", "v");
  EXPECT_EQ(client.get("k")->value, "v");
  EXPECT_EQ(client.async_get("k", asio::use_future).get()->value, "v");
}

TEST_F(Tls, ServerRequiringClientCertificates) {
  MemcachedServer server(certs().server_args(
      "server", ",ssl_ca_cert=" + certs().path("ca.pem") + ",ssl_verify_mode=2"));
  {
    Client anonymous(server.address(), certs().options());
    EXPECT_THROW(anonymous.get("k"), IoError);
    EXPECT_THROW(anonymous.async_get("k", asio::use_future).get(), IoError);
  }
  auto options = certs().options();
  options.tls.cert_file = certs().path("client.pem");
  options.tls.key_file = certs().path("client.key");
  Client client(server.address(), options);
  client.set("k", "v");
  EXPECT_EQ(client.get("k")->value, "v");
  EXPECT_EQ(client.async_get("k", asio::use_future).get()->value, "v");
}

TEST_F(Tls, PlaintextClientToTlsPortFailsWithinTheDeadline) {
  MemcachedServer server(certs().server_args());
  ClientOptions options;
  options.connect_timeout = 500ms;
  options.request_timeout = 500ms;
  Client client(server.address(), options);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_THROW(client.get("k"), IoError);
  EXPECT_THROW(client.async_get("k", asio::use_future).get(), IoError);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5 * 1000ms);
}

TEST_F(Tls, TlsClientToPlaintextPortFailsWithinTheDeadline) {
  MemcachedServer server;
  auto options = certs().options();
  options.connect_timeout = 500ms;
  options.request_timeout = 500ms;
  Client client(server.address(), options);
  const auto start = std::chrono::steady_clock::now();
  expect_error<IoError>([&] { client.get("k"); }, {"TLS handshake"});
  expect_error<IoError>([&] { client.async_get("k", asio::use_future).get(); }, {"TLS handshake"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5 * 1000ms);
}

TEST_F(Tls, ReconnectsAfterTheServerRestarts) {
  MemcachedServer server(certs().server_args());
  Client client(server.address(), certs().options());
  client.set("k", "v");
  EXPECT_EQ(client.async_get("k", asio::use_future).get()->value, "v");
  server.kill();
  EXPECT_THROW(client.get("k"), IoError);
  EXPECT_THROW(client.async_get("k", asio::use_future).get(), IoError);
  server.start();
  EXPECT_FALSE(client.get("k"));  // restarted empty; a new TLS session
  EXPECT_FALSE(client.async_get("k", asio::use_future).get());
  client.set("k", "again");
  EXPECT_EQ(client.get("k")->value, "again");
}

TEST_F(Tls, BadOptionsAreRefusedAtConstruction) {
  auto options = certs().options();
  options.tls.key_file = certs().path("client.key");
  expect_error<InvalidArgumentError>([&] { Client("127.0.0.1:1", options); },
                                     {"key_file", "without tls.cert_file"});
  options = certs().options();
  options.tls.ca_file = certs().path("no-such-file.pem");
  expect_error<InvalidArgumentError>([&] { Client("127.0.0.1:1", options); },
                                     {"tls.ca_file", "no-such-file.pem", "cannot read"});
  options = certs().options();
  options.tls.cert_file = certs().path("client.pem");
  options.tls.key_file = certs().path("server.key");
  expect_error<InvalidArgumentError>([&] { Client("127.0.0.1:1", options); },
                                     {"tls.key_file", "does not match"});
  ClientOptions plain;
  plain.tls.ca_file = certs().path("ca.pem");
  expect_error<InvalidArgumentError>([&] { Client("127.0.0.1:1", plain); },
                                     {"tls.ca_file", "TLS is off"});
}

TEST_F(Tls, AuthenticatesOverTls) {
  const std::string authfile = certs().path("authfile");
  std::ofstream(authfile) << "alice:secret\n";
  auto args = certs().server_args();
  args.insert(args.end(), {"-Y", authfile});
  MemcachedServer server(args);
  auto options = certs().options();
  options.credentials = {"alice", "secret"};
  Client client(server.address(), options);
  client.set("k", "v");
  EXPECT_EQ(client.get("k")->value, "v");
  EXPECT_EQ(client.async_get("k", asio::use_future).get()->value, "v");
}

}  // namespace
}  // namespace llmcache
