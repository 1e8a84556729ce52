#pragma once
// gRPC's view of sluice's own failures: which gRPC status a call gets for the HTTP status sluice
// would have answered, the client's grpc-timeout, and grpc-message's percent-encoding.
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::l7 {

// gRPC's "HTTP to gRPC status code mapping", with timeouts as DEADLINE_EXCEEDED (4) and size
// limits as RESOURCE_EXHAUSTED (8); anything else is UNKNOWN (2).
int grpc_status_for(int http_status);

// grpc-timeout: 1 to 8 digits and a unit (H M S m u n); nullopt when malformed. Nanoseconds
// round down to whole microseconds, but never to zero.
std::optional<std::chrono::microseconds> parse_grpc_timeout(std::string_view value);

// grpc-message: printable ASCII but '%' as is, every other byte as %XX (the gRPC spec).
void append_grpc_message(std::string* out, std::string_view text);

}  // namespace sluice::l7
