#include "client/router.hpp"

namespace llmcache::detail {
namespace {

class SingleServerRouter final : public Router {
 public:
  Route choose(std::string_view, Clock::time_point) override { return {}; }
  void record_success(const Route&) override {}
  void record_failure(const Route&, const std::exception_ptr&, Clock::time_point) override {}
  bool records_outcomes() const override { return false; }
  std::size_t server_for(std::string_view) const override { return 0; }
};

}  // namespace

std::unique_ptr<Router> make_single_server_router() {
  return std::make_unique<SingleServerRouter>();
}

}  // namespace llmcache::detail
