#pragma once
// The HTTP messages. RequestHead and ResponseHead are what the HTTP/1 parsers make of a head
// (names and values are views into the connection's receive buffer: parsing allocates nothing,
// and the views stay valid until the connection compacts its buffer); Request and Response are
// the version-neutral messages that the proxy forwards, which every codec reads and writes.
#include <cstdint>
#include <string_view>
#include <vector>

#include "http/header.h"
#include "http/header_list.h"

namespace sluice::http {

enum class BodyKind : uint8_t { kNone, kContentLength, kChunked, kUntilClose };

// Hop-by-hop and framing facts the parser derived, so that the proxy never re-reads headers.
struct Framing {
  BodyKind body = BodyKind::kNone;
  uint64_t content_length = 0;
  bool has_content_length = false;
  bool keep_alive = true;  // after this message, per version and Connection
  bool expect_continue = false;
  bool has_upgrade = false;
  std::vector<std::string_view> connection_tokens;  // extra hop-by-hop header names
};

struct RequestHead {
  std::string_view method;
  std::string_view target;  // as received
  std::string_view path;    // target's path (origin-form), before normalisation
  std::string_view query;   // without '?', empty if none
  std::string_view host;    // Host header, or authority of an absolute-form target
  int version_minor = 1;    // HTTP/1.x
  std::vector<Header> headers;
  Framing framing;

  void clear() {
    method = target = path = query = host = {};
    version_minor = 1;
    headers.clear();
    framing = Framing{};
  }
  const Header* find(std::string_view lower_name) const;
};

struct ResponseHead {
  int status = 0;
  std::string_view reason;
  int version_minor = 1;
  std::vector<Header> headers;
  Framing framing;

  void clear() {
    status = 0;
    reason = {};
    version_minor = 1;
    headers.clear();
    framing = Framing{};
  }
};

// ---- the version-neutral message (HTTP/1.1, HTTP/2, and later HTTP/3 alike) ----

// What is known of a body before its bytes: none at all, a length, or bytes until the end of
// the stream. How the bytes are framed on a wire (chunked, DATA frames) is the codec's affair.
struct BodyLength {
  enum class Kind : uint8_t { kNone, kKnown, kUntilEnd };
  Kind kind = Kind::kNone;
  uint64_t length = 0;  // kKnown

  static BodyLength none() { return {}; }
  static BodyLength known(uint64_t n) { return {Kind::kKnown, n}; }
  static BodyLength until_end() { return {Kind::kUntilEnd, 0}; }
  bool empty() const { return kind == Kind::kNone || (kind == Kind::kKnown && length == 0); }
};

// A request head as the proxy forwards it: pseudo-header facts apart, fields in `headers`
// without any that concern one connection only.
struct Request {
  std::string_view method;
  std::string_view scheme;     // http | https
  std::string_view authority;  // host[:port]
  std::string_view path;       // origin-form path, without the query
  std::string_view query;      // without '?', empty if none
  std::string_view protocol;   // extended CONNECT's :protocol (RFC 8441), empty otherwise
  HeaderList headers;
  BodyLength body;
};

struct Response {
  int status = 0;
  HeaderList headers;
  BodyLength body;
};

// True for headers that only concern one connection (RFC 9110 7.6.1) plus those named in
// Connection; a proxy must not forward them.
bool is_hop_by_hop(const Header& header, const Framing& framing);

}  // namespace sluice::http
