#include "app/runtime.h"

#include "tls/client_context.h"
#include "tls/server_context.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/post.hpp>
#include <nlohmann/json.hpp>

#include <cstring>
#include <thread>

#include "core/log.h"
#include "core/version.h"

namespace sluice::app {
namespace {

// A SO_REUSEPORT listening socket: one per worker per listener, so the kernel spreads new
// connections over the workers without a shared accept queue or lock.
int open_listener(const core::SocketAddress& address, bool udp, std::string* error) {
  sockaddr_storage storage;
  socklen_t len = address.to_sockaddr(&storage);
  int fd = ::socket(storage.ss_family,
                    (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    *error = std::string("socket: ") + std::strerror(errno);
    return -1;
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (storage.ss_family == AF_INET6) ::setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  // Linux copies TCP_NODELAY from the listener to every accepted socket: one setsockopt here
  // instead of one per connection. (TCP_DEFER_ACCEPT was tried and dropped: it saved an empty
  // read per connection but added 0.35 ms to the median latency of short connections.)
  if (!udp) ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), len) != 0 ||
      (!udp && ::listen(fd, 4096) != 0)) {
    *error = "listen " + address.to_string() + ": " + std::strerror(errno);
    ::close(fd);
    return -1;
  }
  return fd;
}

std::shared_ptr<l7::LogFile> open_access_log(const config::AccessLog& cfg, std::string* error) {
  auto log = std::make_shared<l7::LogFile>();
  log->json = cfg.format == config::AccessLog::Format::kJson;
  if (!cfg.enabled || cfg.path == "off") return log;
  if (cfg.path == "stdout") {
    log->fd = STDOUT_FILENO;
  } else if (cfg.path == "stderr") {
    log->fd = STDERR_FILENO;
  } else {
    log->fd = ::open(cfg.path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (log->fd < 0) {
      *error = "access_log " + cfg.path + ": " + std::strerror(errno);
      return nullptr;
    }
    log->owned = true;
  }
  return log;
}

constexpr std::string_view kDashboard = R"(<!doctype html>
<html><head><meta charset="utf-8"><title>sluice</title>
<style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}h2{margin-top:1.5em}</style></head>
<body><h1>sluice</h1><p>Live view of clusters (refreshes every 2s). Metrics: <a href="/metrics">/metrics</a>,
config: <a href="/config">/config</a>.</p><div id="c">loading...</div>
<script>
async function refresh(){
  const r = await fetch('/clusters'); const j = await r.json(); let h='';
  for (const c of j.clusters){
    h += `<h2>${c.name} <small>(${c.balance})</small></h2><table><tr><th>endpoint</th><th>weight</th><th>state</th><th>active requests</th></tr>`;
    for (const e of c.endpoints) h += `<tr><td>${e.address}</td><td>${e.weight}</td><td>${e.state}</td><td>${e.active_requests}</td></tr>`;
    h += '</table>';
  }
  document.getElementById('c').innerHTML = h;
}
refresh(); setInterval(refresh, 2000);
</script></body></html>
)";

}  // namespace

std::string Runtime::apply(std::shared_ptr<const config::Config> config) {
  std::string error;
  auto log = open_access_log(config->access_log, &error);
  if (!log) return error;
  // Certificates and keys are read now, on every reload: a bad file keeps the running config.
  std::vector<std::shared_ptr<const tls::ServerContext>> tls(config->listeners.size());
  for (size_t i = 0; i < config->listeners.size(); ++i) {
    const auto& l = config->listeners[i];
    if (!l.tls) continue;
    tls[i] = tls::ServerContext::build(*l.tls, &error);
    if (!tls[i]) return "listener '" + l.name + "': " + error;
  }
  std::vector<std::shared_ptr<const tls::ClientContext>> cluster_tls(config->clusters.size());
  for (size_t i = 0; i < config->clusters.size(); ++i) {
    const auto& c = config->clusters[i];
    if (!c.tls) continue;
    cluster_tls[i] = tls::ClientContext::build(*c.tls, c.upstream_h2, &error);
    if (!cluster_tls[i]) return "cluster '" + c.name + "': " + error;
  }

  // Bind every new listener address for every worker before changing anything.
  std::vector<std::vector<l7::ListenerSocket>> per_worker(workers_.size());
  std::map<std::string, std::string> bound;
  auto close_all = [&] {
    for (auto& list : per_worker) {
      for (auto& ls : list) ::close(ls.fd);
    }
  };
  for (const auto& l : config->listeners) {
    const bool udp = l.protocol == config::Listener::Protocol::kUdp;
    auto address = (udp ? "udp:" : "") + l.listen.to_string();
    bound[l.name] = address;
    auto it = bound_.find(l.name);
    if (it != bound_.end() && it->second == address) continue;
    for (size_t w = 0; w < workers_.size(); ++w) {
      int fd = open_listener(l.listen, udp, &error);
      if (fd < 0) {
        close_all();
        return "listener '" + l.name + "': " + error;
      }
      per_worker[w].push_back({l.name, address, fd, udp});
    }
  }
  if (config->packet) {
    if (!packet_) packet_ = std::make_unique<PacketNode>();
    if (auto packet_error = packet_->apply(*config->packet, *health_); !packet_error.empty()) {
      close_all();
      return packet_error;
    }
  } else if (packet_) {
    core::log_info("packet: no packet section any more; XDP balancer detached");
    packet_.reset();
  }
  if (snapshot_ && snapshot_->config->workers != config->workers) {
    core::log_warn("config: 'workers' changes take effect at the next restart");
  }
  auto snapshot = l7::Snapshot::build(config, std::move(log), std::move(tls),
                                      std::move(cluster_tls), ++counters_.config_generation);
  for (size_t w = 0; w < workers_.size(); ++w)
    workers_[w]->apply(snapshot, std::move(per_worker[w]));
  snapshot_ = std::move(snapshot);
  bound_ = std::move(bound);
  // Publishes the endpoints' health to the workers (and the packet tier's reals' health).
  checker_->configure(PacketNode::with_health_clusters(*config));
  return {};
}

std::string Runtime::reload() {
  auto result = config::load_config_file(config_path_);
  std::string error;
  if (!result.errors.empty()) {
    for (const auto& e : result.errors) error += e.to_string() + "\n";
  } else {
    error = apply(result.config);
    if (!error.empty()) error += "\n";
  }
  if (!error.empty()) {
    ++counters_.reloads_failed;
    core::log_error("reload failed, the running config stays:\n{}", error);
    return error;
  }
  ++counters_.reloads_ok;
  core::log_info("reloaded {} (generation {})", config_path_, counters_.config_generation);
  return {};
}

std::string Runtime::clusters_json() const {
  // Active requests per endpoint, summed over workers.
  std::map<std::pair<std::string, std::string>, uint64_t> active;
  for (const auto& w : workers_) {
    w->stats().visit([&](const auto&, const auto&, const auto&, const auto& endpoints) {
      for (const auto& [cluster, gauges] : endpoints) {
        for (size_t i = 0; i < gauges->addresses.size(); ++i) {
          active[{cluster, gauges->addresses[i]}] +=
              gauges->active[i].load(std::memory_order_relaxed);
        }
      }
    });
  }
  nlohmann::json j;
  j["generation"] = snapshot_->generation;
  j["clusters"] = nlohmann::json::array();
  for (const auto& c : snapshot_->config->clusters) {
    nlohmann::json cj;
    cj["name"] = c.name;
    cj["balance"] = balance::kind_name(c.balance);
    cj["endpoints"] = nlohmann::json::array();
    for (const auto& e : c.endpoints) {
      auto address = e.address.to_string();
      const auto& status = health_;
      nlohmann::json ej = {{"address", address},
                           {"weight", e.weight},
                           {"state", status->state(c.name, address)},
                           {"active_requests", active[{c.name, address}]}};
      if (auto cit = status->clusters.find(c.name); cit != status->clusters.end()) {
        if (auto eit = cit->second.find(address);
            eit != cit->second.end() && !eit->second.reason.empty()) {
          ej["health_check"] = eit->second.reason;
        }
      }
      cj["endpoints"].push_back(std::move(ej));
    }
    j["clusters"].push_back(std::move(cj));
  }
  return j.dump(2) + "\n";
}

admin::AdminResponse Runtime::handle_admin(std::string_view method, std::string_view path) {
  const bool get = method == "GET" || method == "HEAD";
  if (path == "/metrics" && get) {
    std::vector<const l7::WorkerStats*> stats;
    for (const auto& w : workers_) stats.push_back(&w->stats());
    return {200, "text/plain; version=0.0.4; charset=utf-8",
            admin::render_prometheus(stats, counters_) + health_metrics() +
                (packet_ ? packet_->metrics() : std::string())};
  }
  if (path == "/clusters" && get) return {200, "application/json", clusters_json()};
  if (path == "/config" && get) {
    return {200, "application/yaml",
            "# " + snapshot_->config->file + " (generation " +
                std::to_string(snapshot_->generation) + ")\n" + snapshot_->config->source_text};
  }
  if (path == "/ready" && get)
    return {shutting_down_ ? 503 : 200, "text/plain; charset=utf-8",
            shutting_down_ ? "draining\n" : "ready\n"};
  if (path == "/" && get) return {200, "text/html; charset=utf-8", std::string(kDashboard)};
  if (path.substr(0, 10) == "/clusters/" &&
      (path.ends_with("/drain") || path.ends_with("/enable"))) {
    if (method != "POST") return {405, "text/plain; charset=utf-8", "use POST\n"};
    return drain_endpoint(path, path.ends_with("/drain"));
  }
  if (path == "/packet" && get) {
    if (!packet_) return {404, "text/plain; charset=utf-8", "no packet tier configured\n"};
    return {200, "application/json", packet_->json()};
  }
  if (path.substr(0, 14) == "/packet/reals/" &&
      (path.ends_with("/drain") || path.ends_with("/enable"))) {
    if (method != "POST") return {405, "text/plain; charset=utf-8", "use POST\n"};
    const bool drain = path.ends_with("/drain");
    auto real = path.substr(14, path.rfind('/') - 14);
    if (!packet_ || !packet_->drain(std::string(real), drain))
      return {404, "text/plain; charset=utf-8", "no packet real " + std::string(real) + "\n"};
    return {200, "text/plain; charset=utf-8", drain ? "draining\n" : "enabled\n"};
  }
  if (path == "/reload") {
    if (method != "POST") return {405, "text/plain; charset=utf-8", "use POST\n"};
    auto error = reload();
    if (error.empty()) return {200, "text/plain; charset=utf-8", "ok\n"};
    return {400, "text/plain; charset=utf-8", error};
  }
  if (path == "/metrics" || path == "/clusters" || path == "/config" || path == "/" ||
      path == "/ready") {
    return {405, "text/plain; charset=utf-8", "method not allowed\n"};
  }
  return {404, "text/plain; charset=utf-8", "not found\n"};
}

std::string Runtime::health_metrics() const {
  std::string out =
      "# HELP sluice_endpoint_healthy 1 if the endpoint passes its active health check (or has "
      "none).\n# TYPE sluice_endpoint_healthy gauge\n";
  auto status = checker_->status();
  for (const auto& c : snapshot_->config->clusters) {
    for (const auto& e : c.endpoints) {
      auto address = e.address.to_string();
      out += "sluice_endpoint_healthy{cluster=\"" + c.name + "\",endpoint=\"" + address + "\"} " +
             (status->healthy(c.name, address) ? "1" : "0") + "\n";
    }
  }
  out +=
      "# HELP sluice_endpoint_ejected 1 while outlier detection keeps the endpoint out.\n"
      "# TYPE sluice_endpoint_ejected gauge\n";
  for (const auto& [key, e] : ejections_) {
    out += "sluice_endpoint_ejected{cluster=\"" + key.first + "\",endpoint=\"" + key.second +
           "\"} " + (e.ejected ? "1" : "0") + "\n";
  }
  out +=
      "# HELP sluice_outlier_ejections_total Ejections by outlier detection.\n"
      "# TYPE sluice_outlier_ejections_total counter\n";
  for (const auto& [key, e] : ejections_) {
    out += "sluice_outlier_ejections_total{cluster=\"" + key.first + "\",endpoint=\"" + key.second +
           "\"} " + std::to_string(e.times) + "\n";
  }
  out +=
      "# HELP sluice_upstream_overloaded_total Requests refused by the circuit breaker.\n"
      "# TYPE sluice_upstream_overloaded_total counter\n";
  for (const auto& c : snapshot_->config->clusters) {
    if (c.max_requests == 0 && c.max_connections == 0 && c.max_pending == 0) continue;
    out += "sluice_upstream_overloaded_total{cluster=\"" + c.name + "\"} " +
           std::to_string(l7::ClusterShared::for_cluster(c.name)->overloaded.load()) + "\n";
    auto shared = l7::ClusterShared::for_cluster(c.name);
    out += "sluice_upstream_open_connections{cluster=\"" + c.name + "\"} " +
           std::to_string(shared->connections.load()) + "\n";
    out += "sluice_upstream_pending{cluster=\"" + c.name + "\"} " +
           std::to_string(shared->pending.load()) + "\n";
  }
  out +=
      "# HELP sluice_health_checks_total Active health checks by result.\n# TYPE "
      "sluice_health_checks_total counter\n";
  for (const auto& [cluster, counts] : checker_->counts()) {
    out += "sluice_health_checks_total{cluster=\"" + cluster + "\",result=\"ok\"} " +
           std::to_string(counts.ok) + "\n";
    out += "sluice_health_checks_total{cluster=\"" + cluster + "\",result=\"failed\"} " +
           std::to_string(counts.failed) + "\n";
  }
  return out;
}

void Runtime::publish_health() {
  auto merged = std::make_shared<health::HealthStatus>(*checker_->status());
  for (const auto& [cluster, address] : drained_) {
    merged->clusters[cluster][address].draining = true;
  }
  for (const auto& [key, e] : ejections_) {
    if (e.ejected) merged->clusters[key.first][key.second].ejected = true;
  }
  health_ = merged;
  for (auto& w : workers_) w->apply_health(merged);
  if (packet_) packet_->update_health(*merged);
}

void Runtime::eject(const std::string& cluster, const std::string& address) {
  if (shutting_down_) return;
  const auto* c = snapshot_->config->find_cluster(cluster);
  if (!c || !c->outlier_detection) return;  // reloaded away meanwhile
  const auto& od = *c->outlier_detection;
  auto& e = ejections_[{cluster, address}];
  if (e.ejected) return;
  size_t ejected = 0;
  for (const auto& [key, other] : ejections_) ejected += key.first == cluster && other.ejected;
  if ((ejected + 1) * 100 > od.max_ejection_percent * c->endpoints.size()) {
    core::log_warn(
        "outlier: {} in cluster '{}' keeps failing but stays in: {} of {} endpoints are "
        "ejected already (max_ejection_percent {})",
        address, cluster, ejected, c->endpoints.size(), od.max_ejection_percent);
    return;
  }
  ++e.times;
  auto duration = std::min(od.base_ejection_time * e.times, od.max_ejection_time);
  e.ejected = true;
  core::log_warn(
      "outlier: ejecting {} from cluster '{}' for {} ms ({} consecutive failures, ejection {})",
      address, cluster, duration.count(), od.consecutive_failures, e.times);
  e.timer = std::make_shared<asio::steady_timer>(*io_, duration);
  e.timer->async_wait([this, key = std::make_pair(cluster, address)](std::error_code ec) {
    if (ec) return;
    auto it = ejections_.find(key);
    if (it == ejections_.end() || !it->second.ejected) return;
    it->second.ejected = false;
    core::log_info("outlier: {} in cluster '{}' is back after its ejection", key.second, key.first);
    publish_health();
  });
  publish_health();
}

// POST /clusters/{cluster}/endpoints/{address}/drain | enable
admin::AdminResponse Runtime::drain_endpoint(std::string_view path, bool drain) {
  constexpr std::string_view kText = "text/plain; charset=utf-8";
  auto rest = path.substr(std::string_view("/clusters/").size());
  auto slash = rest.find('/');
  std::string cluster(rest.substr(0, slash));
  rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  constexpr std::string_view kEndpoints = "/endpoints/";
  auto action_at = rest.rfind('/');
  if (rest.substr(0, kEndpoints.size()) != kEndpoints || action_at <= kEndpoints.size()) {
    return {404, std::string(kText), "not found\n"};
  }
  std::string address(rest.substr(kEndpoints.size(), action_at - kEndpoints.size()));
  const auto* c = snapshot_->config->find_cluster(cluster);
  if (!c) return {404, std::string(kText), "no cluster '" + cluster + "'\n"};
  bool found = false;
  for (const auto& e : c->endpoints) found = found || e.address.to_string() == address;
  if (!found)
    return {404, std::string(kText), "no endpoint " + address + " in cluster '" + cluster + "'\n"};
  if (drain) {
    drained_.insert({cluster, address});
    core::log_info("admin: draining {} in cluster '{}': no new requests, in-flight ones finish",
                   address, cluster);
  } else {
    drained_.erase({cluster, address});
    core::log_info("admin: {} in cluster '{}' takes new requests again", address, cluster);
  }
  publish_health();
  return {200, std::string(kText), drain ? "draining\n" : "enabled\n"};
}

void Runtime::wait_signals() {
  signals_->async_wait([this](std::error_code ec, int signo) {
    if (ec) return;
    if (signo == SIGHUP) {
      core::log_info("SIGHUP: reloading {}", config_path_);
      reload();
    } else {
      core::log_info("{}: draining (up to {} ms), then exiting",
                     signo == SIGTERM ? "SIGTERM" : "SIGINT",
                     snapshot_->config->shutdown_timeout.count());
      if (!shutting_down_) {
        begin_shutdown();
      } else {
        drain_deadline_ = std::chrono::steady_clock::now();  // a second signal: stop waiting
      }
    }
    wait_signals();
  });
}

void Runtime::watch_packet_gateway() {
  packet_timer_->expires_after(std::chrono::seconds(1));
  packet_timer_->async_wait([this](std::error_code ec) {
    if (ec || shutting_down_) return;
    if (packet_) packet_->refresh_gateway();
    watch_packet_gateway();
  });
}

void Runtime::begin_shutdown() {
  shutting_down_ = true;
  packet_timer_->cancel();
  if (admin_) admin_->stop();
  checker_->stop();
  for (auto& [key, e] : ejections_) {
    if (e.timer) e.timer->cancel();
  }
  for (auto& w : workers_) w->begin_drain();
  drain_deadline_ = std::chrono::steady_clock::now() + snapshot_->config->shutdown_timeout;
  check_drained();
}

void Runtime::check_drained() {
  size_t open = 0;
  for (const auto& w : workers_) open += w->session_count();
  auto now = std::chrono::steady_clock::now();
  if (open == 0 || (aborted_ && now > drain_deadline_ + std::chrono::seconds(2))) {
    if (open) core::log_warn("exiting with {} connections still open", open);
    for (auto& w : workers_) w->stop();
    for (auto& w : workers_) w->join();
    signals_->cancel();
    io_->stop();
    return;
  }
  if (now >= drain_deadline_ && !aborted_) {
    core::log_warn("drain timeout: closing {} connections", open);
    for (auto& w : workers_) w->abort_all();
    aborted_ = true;
  }
  drain_timer_->expires_after(std::chrono::milliseconds(20));
  drain_timer_->async_wait([this](std::error_code ec) {
    if (!ec) check_drained();
  });
}

int Runtime::run(std::shared_ptr<const config::Config> config) {
  ::signal(SIGPIPE, SIG_IGN);
  uint32_t n =
      config->workers ? config->workers : std::max(1u, std::thread::hardware_concurrency());
  for (uint32_t i = 0; i < n; ++i) {
    workers_.push_back(std::make_unique<l7::Worker>(i));
    workers_.back()->set_outlier_report(
        [this](const std::string& cluster, const std::string& address) {
          asio::post(*io_, [this, cluster, address] { eject(cluster, address); });
        });
  }
  if (n == 1) io_ = &workers_[0]->io();
  signals_.emplace(*io_, SIGINT, SIGTERM, SIGHUP);
  drain_timer_.emplace(*io_);
  packet_timer_.emplace(*io_);
  checker_ = std::make_unique<health::HealthChecker>(
      *io_, [this](std::shared_ptr<const health::HealthStatus>) { publish_health(); });
  if (auto error = apply(config); !error.empty()) {
    core::log_error("{}", error);
    return 1;
  }
  if (config->admin_listen) {
    admin_ = std::make_unique<admin::AdminServer>(
        *io_, [this](std::string_view m, std::string_view p) { return handle_admin(m, p); });
    if (auto error = admin_->start(*config->admin_listen); !error.empty()) {
      core::log_error("{}", error);
      for (auto& w : workers_) w->stop();
      return 1;
    }
  }
  for (auto& w : workers_) w->start(/*own_thread=*/n > 1);
  wait_signals();
  watch_packet_gateway();
  std::string listeners;
  for (const auto& l : config->listeners) listeners += " " + l.name + "=" + l.listen.to_string();
  core::log_info("sluice {} running with {} workers; listeners:{}{}", core::kVersion, n, listeners,
                 config->admin_listen ? "; admin=" + config->admin_listen->to_string() : "");
  io_->run();
  if (packet_) {
    packet_.reset();  // detaches the XDP program
    core::log_info("packet: XDP balancer detached");
  }
  core::log_info("stopped");
  return 0;
}

}  // namespace sluice::app
