#pragma once
// What sluice tells a backend about the client: X-Forwarded-For (appended to what the client
// sent), X-Forwarded-Proto and X-Forwarded-Host (replaced: only sluice knows them), RFC 7239
// Forwarded when the listener asks for it (appended to), and the verified client certificate's
// subject (replaced: only sluice verified it). A pure rewrite of the forwarded request's fields.
#include <string_view>

#include "http/header_list.h"

namespace sluice::l7 {

struct ForwardedFacts {
  std::string_view client_ip;  // as text, without brackets
  bool client_is_v4 = true;
  std::string_view proto;  // http | https
  std::string_view host;   // the request's Host or authority, empty if none
  bool add_forwarded = false;
  std::string_view client_cert_header;  // empty unless the listener terminates TLS
  std::string_view client_subject;      // empty without a verified client certificate
};

// Rewrites `headers` in place; the values it makes up live in the list's arena (which must be
// set). Fields it does not own keep their order; the ones it adds come last.
void rewrite_forwarded(const ForwardedFacts& facts, http::HeaderList* headers);

}  // namespace sluice::l7
