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

}  // namespace sluice::app
