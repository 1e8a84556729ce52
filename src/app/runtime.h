#pragma once
// The running process: workers, listening sockets, the admin API, signals, reload and drain.
// Runs on the main thread (with one worker, on that worker's loop); workers are only ever told
// things through Worker's thread-safe calls.
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "admin/admin_server.h"
#include "admin/prometheus.h"
#include "app/packet_node.h"
#include "config/loader.h"
#include "health/checker.h"
#include "l7/snapshot.h"
#include "l7/worker.h"

namespace sluice::app {

class Runtime {
 public:
  explicit Runtime(std::string config_path) : config_path_(std::move(config_path)) {}
  // Runs until SIGTERM/SIGINT and the drain that follows. Returns the process exit code.
  int run(std::shared_ptr<const config::Config> config);

 private:
  // Binds what is new, builds a snapshot and hands it to every worker. On error nothing changed.
  std::string apply(std::shared_ptr<const config::Config> config);
  // Reloads the file; returns "" or the errors (the old config keeps serving).
  std::string reload();
  admin::AdminResponse handle_admin(std::string_view method, std::string_view path);
  std::string clusters_json() const;
  std::string health_metrics() const;
  // Health from the checker plus the operator's drains, to the workers.
  void publish_health();
  admin::AdminResponse drain_endpoint(std::string_view path, bool drain);
  // On the main thread: a worker saw too many consecutive failures of an endpoint.
  void eject(const std::string& cluster, const std::string& address);
  void wait_signals();
  void begin_shutdown();
  void check_drained();

  std::string config_path_;
  // The main thread's loop. With one worker it is the worker's own (one thread in all: no second
  // thread sharing the file table makes every socket syscall take and drop a file reference).
  asio::io_context own_io_{1};
  asio::io_context* io_ = &own_io_;
  std::chrono::steady_clock::time_point drain_deadline_;
  bool shutting_down_ = false;
  bool aborted_ = false;
  std::vector<std::unique_ptr<l7::Worker>> workers_;
  // On *io_, which may be a worker's: declared after workers_, so destroyed before them.
  std::optional<asio::signal_set> signals_;
  std::optional<asio::steady_timer> drain_timer_;
  std::optional<asio::steady_timer> packet_timer_;
  std::shared_ptr<const l7::Snapshot> snapshot_;
  std::map<std::string, std::string> bound_;  // listener name -> address it is bound to
  std::unique_ptr<admin::AdminServer> admin_;
  std::unique_ptr<health::HealthChecker> checker_;
  std::set<std::pair<std::string, std::string>> drained_;  // (cluster, endpoint address)
  struct Ejection {
    uint32_t times = 0;  // how often it was ejected (the ejection time grows with it)
    bool ejected = false;
    std::shared_ptr<asio::steady_timer> timer;
  };
  std::map<std::pair<std::string, std::string>, Ejection> ejections_;
  std::shared_ptr<const health::HealthStatus> health_ = std::make_shared<health::HealthStatus>();
  admin::ProcessCounters counters_;
  std::unique_ptr<PacketNode> packet_;  // when the config has a packet section
  void watch_packet_gateway();
};

}  // namespace sluice::app
