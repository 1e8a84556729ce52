#pragma once
// The gRPC health check (grpc.health.v1.Health/Check) over HTTP/2 in cleartext, as one
// exchange on a connected socket: nghttp2 frames the call, and the endpoint is healthy when the
// call ends with grpc-status 0 and the answer says SERVING.
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <string>

namespace sluice::health {

struct GrpcProbeResult {
  bool serving = false;
  std::string reason;
};

// `authority` fills :authority; `service` is the name asked about ("" = the whole server).
asio::awaitable<GrpcProbeResult> grpc_health_check(asio::ip::tcp::socket& socket,
                                                   const std::string& authority,
                                                   const std::string& service);

// The HealthCheckRequest message as a gRPC frame (exposed for unit tests).
std::string grpc_health_request(const std::string& service);
// The status in a HealthCheckResponse message (after the 5-byte gRPC prefix); -1 if malformed.
int grpc_health_status(std::string_view message);

}  // namespace sluice::health
