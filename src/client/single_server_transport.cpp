#include "client/transport.hpp"

namespace llmcache::detail {
namespace {

class SingleServerTransport final : public Transport {
 public:
  SingleServerTransport(ServerAddress server, const ClientOptions& options)
      : tls_(net::make_tls_context(options.tls)),
        server_(io_, server, options, tls_),
        blocking_(std::move(server), options, tls_, &close_signal()) {}
  ~SingleServerTransport() override { shutdown(); }

  Answer round_trip(std::string_view, std::string_view request,
                    std::optional<std::uint32_t> opaque) override {
    return {blocking_.round_trip(request, opaque), server_.address()};
  }

  std::vector<ServerAddress> servers() const override { return {server_.address()}; }
  ServerAddress server_for(std::string_view) const override { return server_.address(); }

 private:
  void dispatch(std::vector<RoutedRequest> requests) override {
    for (auto& routed : requests) server_.submit(std::move(routed.request));
  }
  void dispatch_to(std::size_t, Request request) override { server_.submit(std::move(request)); }
  void close_connections() override { server_.close(); }
  void close_blocking() override { blocking_.close(); }

  // One TLS context (trust store, client certificate) for both paths; null without TLS.
  std::shared_ptr<const net::TlsContext> tls_;
  ServerConnections server_;
  net::BlockingPool blocking_;
};

}  // namespace

std::unique_ptr<Transport> make_single_server_transport(ServerAddress server,
                                                        const ClientOptions& options) {
  return std::make_unique<SingleServerTransport>(std::move(server), options);
}

}  // namespace llmcache::detail
