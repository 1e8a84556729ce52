#pragma once
// The hash key of a request for consistent-hash balancers (`hash_on`), and cookie lookup.
#include <cstdint>
#include <optional>
#include <string_view>

#include "config/config.h"
#include "core/address.h"
#include "http/message.h"

namespace sluice::l7 {

// The value of cookie `name` in the request's Cookie headers, if any.
std::optional<std::string_view> find_cookie(const std::vector<http::Header>& headers,
                                            std::string_view name);

// Hash of the request's key per `hash_on` (source_ip balance always hashes the client IP).
// A request without the key (no such header or cookie) hashes its source IP, so one client
// still sticks to one endpoint.
uint64_t request_hash(const config::HashOn& hash_on, bool source_ip_balance,
                      const http::RequestHead& req, std::string_view normalized_path,
                      const core::IpAddress& source);

}  // namespace sluice::l7
