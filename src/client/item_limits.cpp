#include "client/item_limits.hpp"

#include <llmcache/errors.hpp>

#include <charconv>

namespace llmcache::detail {
namespace {

// A server that would not tell its limit (a proxy, a timeout) is asked again after this,
// not before every set.
constexpr auto kRetryUnknown = std::chrono::seconds(10);
// Before refusing a value on a limit learned this long ago, ask again: an operator who
// restarts memcached with a larger -I (as our error message suggests) is obeyed soon.
constexpr auto kRecheckBeforeRefusing = std::chrono::seconds(10);

}  // namespace

ItemLimits::Action ItemLimits::decide(const std::string& server, std::size_t item_bytes,
                                      Clock::time_point now) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(server);
  if (it == entries_.end()) return Action::kLearn;
  const Entry& entry = it->second;
  if (!entry.limit) {
    return now - entry.learned >= kRetryUnknown ? Action::kLearn : judge_unknown(item_bytes);
  }
  if (item_bytes <= *entry.limit) return Action::kSend;
  return now - entry.learned >= kRecheckBeforeRefusing ? Action::kLearn : Action::kRefuse;
}

std::size_t ItemLimits::limit(const std::string& server) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(server);
  return it != entries_.end() && it->second.limit ? *it->second.limit : assumed_;
}

bool ItemLimits::told(const std::string& server) const {
  std::lock_guard lock(mutex_);
  const auto it = entries_.find(server);
  return it != entries_.end() && it->second.limit;
}

void ItemLimits::learn(const std::string& server, std::optional<std::size_t> limit,
                       Clock::time_point now) {
  std::lock_guard lock(mutex_);
  entries_[server] = Entry{limit, now};
}

void ItemLimits::forget(const std::string& server) {
  std::lock_guard lock(mutex_);
  entries_.erase(server);
}

std::optional<std::size_t> ItemLimits::parse(const protocol::Reply& reply) {
  if (reply.status != protocol::Status::kStats) return std::nullopt;
  for (const auto& [name, value] : reply.stats) {
    if (name != "item_size_max") continue;
    std::size_t limit = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), limit);
    if (error != std::errc{} || end != value.data() + value.size() || limit == 0) break;
    return limit;
  }
  return std::nullopt;
}

LimitCheck::LimitCheck(std::shared_ptr<ItemLimits> limits, std::string server,
                       std::size_t value_size, std::size_t item_bytes,
                       ItemLimits::Clock::time_point now)
    : limits_(std::move(limits)),
      server_(std::move(server)),
      value_size_(value_size),
      item_bytes_(item_bytes) {
  if (!server_.empty()) action_ = limits_->decide(server_, item_bytes_, now);
}

void LimitCheck::learned(std::optional<std::size_t> limit, ItemLimits::Clock::time_point now) {
  limits_->learn(server_, limit, now);
  action_ = limits_->decide(server_, item_bytes_, now);
}

std::exception_ptr LimitCheck::refusal() const {
  if (action_ != ItemLimits::Action::kRefuse) return nullptr;
  const std::string limit = std::to_string(limits_->limit(server_));
  const std::string whose =
      limits_->told(server_)
          ? "the item size limit of " + limit + " bytes of memcached " + server_ + " (-I)"
          : "the item size limit of " + limit + " bytes assumed for " + server_ +
                ", which does not tell its own (a proxy or an older server: raise "
                "ClientOptions::item_size_max / item_size_max= if its memcached runs a larger -I)";
  return std::make_exception_ptr(ValueTooLargeError(
      "a value of " + std::to_string(value_size_) + " bytes cannot fit " + whose +
          "; nothing was sent and the previous value under the key, if any, is kept",
      false, server_));
}

void LimitCheck::after_set(const std::exception_ptr& error) const {
  if (!error || server_.empty()) return;
  try {
    std::rethrow_exception(error);
  } catch (const ValueTooLargeError& e) {
    if (e.reached_server()) limits_->forget(server_);
  } catch (...) {
  }
}

}  // namespace llmcache::detail
