#pragma once
// The immutable state every worker reads: the config and what is compiled from it once
// (routers with their regexes). Published whole on reload; never changed after `build`.
#include <memory>
#include <vector>

#include "config/config.h"
#include "l7/router.h"

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
  uint64_t generation = 0;

  static std::shared_ptr<const Snapshot> build(std::shared_ptr<const config::Config> config,
                                               std::shared_ptr<LogFile> access_log,
                                               uint64_t generation);
  // Index of the listener with this name, or -1.
  int listener_index(std::string_view name) const;
};

}  // namespace sluice::l7
