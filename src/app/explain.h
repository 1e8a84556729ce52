#pragma once
#include <string>
#include <vector>

#include "config/config.h"

namespace sluice::app {

struct ExplainRequest {
  std::string url;  // http://host[:port]/path?query
  std::string method = "GET";
  std::vector<std::string> headers;  // "Name: value"
  std::string source = "127.0.0.1";
};

// Prints which listener, route, cluster and endpoint the request would get, and why. Returns
// the process exit code (0 routed, 1 no route, 2 bad input).
int explain(const config::Config& config, const ExplainRequest& request);

// `explain --packet 'tcp 198.51.100.7:40000 -> 192.0.2.10:80'`: runs the packet tier's program
// (BPF_PROG_TEST_RUN, needs root) on that flow's first packet and prints the VIP, the hash, the
// Maglev slot and what the program did. 0: forwarded; 1: passed or dropped; 2: bad input.
int explain_packet(const config::Config& config, const std::string& flow);

}  // namespace sluice::app
