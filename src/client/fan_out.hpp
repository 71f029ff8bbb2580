#pragma once
// Joins for the operations that send one request per key or per server and complete once
// when every reply is in. Every reply handler runs on the I/O thread, so a join needs no
// lock; each is shared by its requests' handlers.
#include <llmcache/client.hpp>

#include <cstddef>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace llmcache::detail {

/// get_many: one result per key, in key order; the first error fails the whole call.
class GetManyJoin {
 public:
  using Results = std::vector<std::optional<Item>>;
  GetManyJoin(std::size_t keys, Callback<Results> done);
  /// Key `index`'s outcome: an error, or its item (nullopt: a miss).
  void arrive(std::size_t index, std::exception_ptr error, std::optional<Item> item);

 private:
  Results results_;
  std::size_t remaining_;
  std::exception_ptr error_;
  Callback<Results> done_;
};

/// flush_all: the number of servers flushed, or an error naming every server that failed.
class FlushJoin {
 public:
  /// `done` null: nobody waits (noreply), the replies are only drained.
  FlushJoin(std::size_t servers, Callback<std::size_t> done);
  /// Server `name`'s outcome.
  void arrive(const std::string& name, std::exception_ptr error);

 private:
  std::exception_ptr joined_error() const;

  std::size_t remaining_;
  std::size_t flushed_ = 0;
  std::size_t failed_ = 0;
  std::string failures_;
  std::exception_ptr first_error_;
  Callback<std::size_t> done_;
};

}  // namespace llmcache::detail
