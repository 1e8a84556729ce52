#pragma once
// A bounded parser of the TLS ClientHello (RFC 8446 4.1.2, RFC 6066 3 for server_name,
// RFC 7301 for ALPN), for routing TLS by SNI without terminating it. It reads handshake
// records as they arrive (a ClientHello may span several records and TCP segments), takes only
// what it needs, and rejects anything malformed or larger than a sane bound.
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::tls {

struct ClientHelloInfo {
  std::string sni;  // lower-case host name, empty if the client sent none
  std::vector<std::string> alpn;
};

struct ClientHelloResult {
  enum class State { kIncomplete, kDone, kError };
  State state = State::kIncomplete;
  const char* error = "";
  ClientHelloInfo info;
};

inline constexpr size_t kMaxClientHelloBytes = 16 * 1024;  // handshake message, all records

// Parses from the start of what the client sent so far.
ClientHelloResult parse_client_hello(std::string_view bytes);

}  // namespace sluice::tls
