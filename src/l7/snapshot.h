#pragma once
// The immutable state every worker reads: the config and what is compiled from it once
// (routers with their regexes). Published whole on reload; never changed after `build`.
#include <memory>
#include <vector>

#include "config/config.h"
#include "l7/router.h"
#include "tls/client_context.h"
#include "tls/server_context.h"

namespace sluice::l7 {

// An open access log file, shared by the snapshots that name it; closed with the last one.
struct LogFile {
  int fd = -1;  // -1: logging off
  bool json = false;
  bool owned = false;
  ~LogFile();
};

struct Snapshot {
  std::shared_ptr<const config::Config> config;
  std::shared_ptr<LogFile> access_log;
  std::vector<std::unique_ptr<Router>> routers;  // parallel to config->listeners
  // https listeners' TLS contexts, parallel to config->listeners (null for the others). A
  // connection keeps the one it started with across reloads.
  std::vector<std::shared_ptr<const tls::ServerContext>> tls;
  // Clusters' TLS client contexts, parallel to config->clusters (null without `tls:`).
  std::vector<std::shared_ptr<const tls::ClientContext>> cluster_tls;
  uint64_t generation = 0;

  static std::shared_ptr<const Snapshot> build(
      std::shared_ptr<const config::Config> config, std::shared_ptr<LogFile> access_log,
      std::vector<std::shared_ptr<const tls::ServerContext>> tls,
      std::vector<std::shared_ptr<const tls::ClientContext>> cluster_tls, uint64_t generation);
  // Index of the listener with this name, or -1.
  int listener_index(std::string_view name) const;
};

}  // namespace sluice::l7
