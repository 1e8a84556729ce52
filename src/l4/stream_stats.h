#pragma once
// Counters of one stream listener on one worker (single writer; see core/counter.h).
#include "core/counter.h"

namespace sluice::l4 {

struct StreamStats {
  core::Counter connections;  // accepted and proxied
  core::Gauge active;         // open now
  core::Counter bytes_from_client;
  core::Counter bytes_to_client;
  core::Counter connect_failures;  // upstream connect attempts that failed
  core::Counter no_endpoint;       // connections closed because no endpoint could be reached
  core::Counter idle_timeouts;
  core::Counter max_duration;      // connections cut by timeouts.max_duration
  core::Counter bad_client_hello;  // tls_passthrough: malformed, oversized or late ClientHello
  core::Counter no_route;          // tls_passthrough: no route for the SNI
  core::Counter bad_proxy_header;  // PROXY protocol expected but missing, malformed or late
  core::Counter untrusted_proxy_source;  // a source not in proxy_protocol.trusted_sources
  core::Counter udp_sessions_rejected;   // UDP: a new session over the listener's limits
  core::Counter udp_datagrams_dropped;   // UDP: a send that would have blocked (buffer full)
};

}  // namespace sluice::l4
