#include "client/rendezvous_hash.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace llmcache::detail {

std::uint32_t murmur3_32(std::string_view data, std::uint32_t seed) {
  constexpr std::uint32_t c1 = 0xcc9e2d51;
  constexpr std::uint32_t c2 = 0x1b873593;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const std::size_t length = data.size();
  const std::size_t blocks_end = length & ~std::size_t{3};
  std::uint32_t h1 = seed;
  for (std::size_t i = 0; i < blocks_end; i += 4) {
    std::uint32_t k1 = std::uint32_t{bytes[i]} | std::uint32_t{bytes[i + 1]} << 8 |
                       std::uint32_t{bytes[i + 2]} << 16 | std::uint32_t{bytes[i + 3]} << 24;
    k1 *= c1;
    k1 = std::rotl(k1, 15);
    k1 *= c2;
    h1 ^= k1;
    h1 = std::rotl(h1, 13);
    h1 = h1 * 5 + 0xe6546b64;
  }
  std::uint32_t k1 = 0;
  switch (length & 3) {
    case 3:
      k1 ^= std::uint32_t{bytes[blocks_end + 2]} << 16;
      [[fallthrough]];
    case 2:
      k1 ^= std::uint32_t{bytes[blocks_end + 1]} << 8;
      [[fallthrough]];
    case 1:
      k1 ^= std::uint32_t{bytes[blocks_end]};
      k1 *= c1;
      k1 = std::rotl(k1, 15);
      k1 *= c2;
      h1 ^= k1;
  }
  h1 ^= static_cast<std::uint32_t>(length);
  h1 ^= h1 >> 16;
  h1 *= 0x85ebca6b;
  h1 ^= h1 >> 13;
  h1 *= 0xc2b2ae35;
  h1 ^= h1 >> 16;
  return h1;
}

RendezvousHash::RendezvousHash(std::vector<std::string> nodes) {
  for (const auto& node : nodes) add_node(node);
}

void RendezvousHash::add_node(const std::string& node) {
  if (std::find(nodes_.begin(), nodes_.end(), node) == nodes_.end()) nodes_.push_back(node);
}

void RendezvousHash::remove_node(const std::string& node) {
  std::erase(nodes_, node);
}

const std::string* RendezvousHash::get_node(std::string_view key) const {
  const std::string* winner = nullptr;
  std::int64_t high_score = -1;
  std::string scratch;
  for (const auto& node : nodes_) {
    scratch.assign(node);
    scratch += '-';
    scratch += key;
    const std::int64_t score = murmur3_32(scratch);
    if (score > high_score || (score == high_score && node > *winner)) {
      high_score = score;
      winner = &node;
    }
  }
  return winner;
}

}  // namespace llmcache::detail
