// The signed-entry envelope, without a server: what opens, what does not, and why.
#include <llmcache/errors.hpp>
#include <llmcache/signing.hpp>

#include <gtest/gtest.h>

#include <string>

namespace llmcache {
namespace {

const std::string kKey = "e9d5056781cb5de7386f768fd2eaa106";
const std::string kValue = R"(["hello"])";

TEST(Signer, SealedValueOpensUnderItsKey) {
  Signer signer("secret");
  const std::string stored = signer.seal(kKey, kValue);
  EXPECT_TRUE(stored.starts_with(Signer::kPrefix));
  EXPECT_EQ(stored.size(), kValue.size() + Signer::kOverhead);
  const auto opened = signer.open(kKey, stored);
  ASSERT_TRUE(opened);
  EXPECT_EQ(*opened.value, kValue);
}

// Pins the format: the MAC was computed independently, with Python's hmac module, over
// "llmcache-hmac-v1" + uint64_be(len(key)) + key + value.
TEST(Signer, EnvelopeMatchesTheDocumentedFormat) {
  Signer signer("secret");
  EXPECT_EQ(signer.seal(kKey, kValue),
            "llmcache-hmac-v1:1dd0da4c207b7627a7e427671e60692e3cbed2b05b5566d6b1f8953a68f7d5a7:" +
                kValue);
}

TEST(Signer, EmptySecretIsRefused) {
  EXPECT_THROW(Signer(""), InvalidArgumentError);
}

TEST(Signer, UnsignedValueDoesNotOpen) {
  Signer signer("secret");
  const auto opened = signer.open(kKey, kValue);
  EXPECT_FALSE(opened);
  EXPECT_EQ(opened.failure, SignatureFailure::kUnsigned);
}

TEST(Signer, AnotherSecretDoesNotOpen) {
  const std::string stored = Signer("other secret").seal(kKey, kValue);
  const auto opened = Signer("secret").open(kKey, stored);
  EXPECT_FALSE(opened);
  EXPECT_EQ(opened.failure, SignatureFailure::kMismatch);
}

TEST(Signer, AnyChangedByteDoesNotOpen) {
  Signer signer("secret");
  const std::string stored = signer.seal(kKey, kValue);
  for (std::size_t i = 0; i < stored.size(); ++i) {
    std::string tampered = stored;
    tampered[i] = static_cast<char>(tampered[i] ^ 0x01);
    EXPECT_FALSE(signer.open(kKey, tampered)) << "byte " << i;
  }
  EXPECT_FALSE(signer.open(kKey, stored + " "));
  EXPECT_FALSE(signer.open(kKey, stored.substr(0, stored.size() - 1)));
}

TEST(Signer, ValueMovedToAnotherKeyDoesNotOpen) {
  Signer signer("secret");
  const std::string stored = signer.seal(kKey, kValue);
  const auto opened = signer.open("06f2d459aad16b1a4cda257a5aa729d8", stored);
  EXPECT_FALSE(opened);
  EXPECT_EQ(opened.failure, SignatureFailure::kMismatch);
}

// The key is length-prefixed: moving bytes between key and value changes the MAC.
TEST(Signer, KeyAndValueBoundaryIsPartOfTheMac) {
  Signer signer("secret");
  const std::string stored = signer.seal("ab", "c");
  EXPECT_FALSE(signer.open("a", stored.substr(0, Signer::kOverhead) + "bc"));
  EXPECT_NE(stored.substr(0, Signer::kOverhead),
            signer.seal("a", "bc").substr(0, Signer::kOverhead));
}

TEST(Signer, DamagedAndFutureEnvelopesAreToldApart) {
  Signer signer("secret");
  EXPECT_EQ(signer.open(kKey, "llmcache-hmac-v1:abc").failure, SignatureFailure::kMalformed);
  EXPECT_EQ(signer.open(kKey, "llmcache-hmac-v2:" + std::string(64, '0') + ":x").failure,
            SignatureFailure::kUnknownVersion);
  EXPECT_EQ(signer.open(kKey, "").failure, SignatureFailure::kUnsigned);
}

}  // namespace
}  // namespace llmcache
