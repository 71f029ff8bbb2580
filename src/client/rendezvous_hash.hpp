#pragma once
// pymemcache's placement: rendezvous (highest random weight) hashing with MurmurHash3.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace llmcache::detail {

/// MurmurHash3 x86_32 of the bytes of `data`.
std::uint32_t murmur3_32(std::string_view data, std::uint32_t seed = 0);

/// For each node, score = murmur3_32(node + "-" + key); the highest score wins and a
/// tie goes to the greater node name, exactly as pymemcache.client.rendezvous does.
class RendezvousHash {
 public:
  explicit RendezvousHash(std::vector<std::string> nodes = {});
  void add_node(const std::string& node);
  void remove_node(const std::string& node);
  /// The winning node, or nullptr if there are no nodes.
  const std::string* get_node(std::string_view key) const;
  const std::vector<std::string>& nodes() const { return nodes_; }

 private:
  std::vector<std::string> nodes_;
};

}  // namespace llmcache::detail
