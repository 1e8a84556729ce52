#include "l7/snapshot.h"

#include <unistd.h>

namespace sluice::l7 {

LogFile::~LogFile() {
  if (owned && fd >= 0) ::close(fd);
}

std::shared_ptr<const Snapshot> Snapshot::build(
    std::shared_ptr<const config::Config> config, std::shared_ptr<LogFile> access_log,
    std::vector<std::shared_ptr<const tls::ServerContext>> tls,
    std::vector<std::shared_ptr<const tls::ClientContext>> cluster_tls, uint64_t generation) {
  auto s = std::make_shared<Snapshot>();
  s->tls = std::move(tls);
  s->cluster_tls = std::move(cluster_tls);
  s->cluster_tls.resize(config->clusters.size());
  s->tls.resize(config->listeners.size());
  s->access_log = std::move(access_log);
  s->config = std::move(config);
  s->generation = generation;
  for (const auto& l : s->config->listeners) {
    s->routers.push_back(std::make_unique<Router>(l, *s->config));
  }
  return s;
}

int Snapshot::listener_index(std::string_view name) const {
  for (size_t i = 0; i < config->listeners.size(); ++i) {
    if (config->listeners[i].name == name) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace sluice::l7
