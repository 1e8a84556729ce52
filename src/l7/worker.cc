#include "l7/worker.h"

#include "l7/h2_client.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <system_error>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include "core/client_limiter.h"
#include "core/hash.h"
#include "core/log.h"
#include "l4/tcp_proxy.h"
#include "l7/acceptor.h"

namespace sluice::l7 {
namespace {
constexpr auto kTick = std::chrono::milliseconds(100);

int make_eventfd() {
  int fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "eventfd");
  return fd;
}
}  // namespace

Worker::Worker(uint32_t id)
    : id_(id),
      wake_(io_, make_eventfd()),
      access_log_(-1, false),
      rng_(0x9e3779b97f4a7c15ULL ^ (uint64_t{id} << 32) ^ static_cast<uint64_t>(::getpid())) {}

Worker::~Worker() {
  stop();
  join();
}

void Worker::send(std::function<void()> fn) {
  {
    std::lock_guard lock(inbox_mutex_);
    inbox_.push_back(std::move(fn));
  }
  const uint64_t one = 1;
  (void)!::write(wake_.native_handle(), &one, sizeof one);  // only fails when the count is full
}

void Worker::read_inbox() {
  // A read, not a wait: Asio tries a read at once when an edge came while none was pending, so
  // a send() between two reads is never lost.
  wake_.async_read_some(asio::buffer(&wake_count_, sizeof wake_count_),
                        [this](std::error_code ec, size_t) {
                          if (ec) return;
                          std::vector<std::function<void()>> batch;
                          {
                            std::lock_guard lock(inbox_mutex_);
                            batch.swap(inbox_);
                          }
                          for (auto& fn : batch) fn();
                          if (!stopped_) read_inbox();
                        });
}

void Worker::start(bool own_thread) {
  tick();
  read_inbox();
  started_ = true;
  own_thread_ = own_thread;
  if (!own_thread) return;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), ("sluice-w" + std::to_string(id_)).c_str());
    io_.run();
    access_log_.flush();
  });
}

void Worker::apply(std::shared_ptr<const Snapshot> snapshot, std::vector<ListenerSocket> add) {
  send([this, snapshot = std::move(snapshot), add = std::move(add)]() mutable {
    install(std::move(snapshot), std::move(add));
  });
}

void Worker::install(std::shared_ptr<const Snapshot> snapshot, std::vector<ListenerSocket> add) {
  const auto& cfg = *snapshot->config;
  auto view = std::make_shared<WorkerView>();
  view->snapshot = snapshot;
  for (const auto& c : cfg.clusters) {
    ClusterRuntime rt;
    rt.config = &c;
    std::vector<balance::EndpointSpec> specs;
    for (const auto& e : c.endpoints) {
      specs.push_back({e.address.to_string(), e.weight});
      rt.endpoint_keys.push_back(specs.back().key);
    }
    rt.tls = snapshot->cluster_tls[&c - cfg.clusters.data()];
    for (const auto& key : rt.endpoint_keys)
      rt.pool_keys.push_back(rt.tls ? "tls/" + c.name + "/" + key : key);
    rt.balancer = balance::make_balancer(c.balance, specs, next_random());
    rt.hashed = balance::uses_hash(c.balance);
    rt.source_ip = c.balance == balance::Kind::kSourceIp;
    rt.gauges = std::make_shared<EndpointGauges>(rt.endpoint_keys);
    rt.stats = stats_.cluster(c.name);
    if (c.max_requests > 0 || c.max_connections > 0 || c.max_pending > 0) {
      rt.shared = ClusterShared::for_cluster(c.name);
    }
    if (c.outlier_detection) rt.consecutive_failures.assign(c.endpoints.size(), 0);
    if (c.slow_start.count() > 0) {
      rt.ramp_start.assign(c.endpoints.size(), Clock::time_point{});
      // After a reload, an endpoint the cluster did not have ramps up; ongoing ramps go on.
      const ClusterRuntime* old = nullptr;
      if (view_) {
        for (const auto& oc : view_->clusters) {
          if (oc.config->name == c.name) old = &oc;
        }
      }
      if (old) {
        for (size_t i = 0; i < rt.endpoint_keys.size(); ++i) {
          auto it =
              std::find(old->endpoint_keys.begin(), old->endpoint_keys.end(), rt.endpoint_keys[i]);
          if (it == old->endpoint_keys.end()) {
            rt.ramp_start[i] = Clock::now();
            rt.ramping = true;
          } else if (!old->ramp_start.empty()) {
            rt.ramp_start[i] =
                old->ramp_start[static_cast<size_t>(it - old->endpoint_keys.begin())];
            rt.ramping = rt.ramping || rt.ramp_start[i] != Clock::time_point{};
          }
        }
      }
    }
    stats_.set_endpoints(c.name, rt.gauges);
    view->clusters.push_back(std::move(rt));
  }
  for (const auto& l : cfg.listeners) {
    std::vector<RouteStats*> routes;
    for (const auto& r : l.routes) routes.push_back(stats_.route(l.name, r.name, r.cluster));
    view->route_stats.push_back(std::move(routes));
    view->no_route_stats.push_back(stats_.route(l.name, "", ""));
    view->listener_stats.push_back(stats_.listener(l.name));
    const bool http = l.is_http();
    view->stream_stats.push_back(http ? nullptr : stats_.stream(l.name));
    int cluster_index = -1;
    for (size_t c = 0; c < cfg.clusters.size(); ++c) {
      if (cfg.clusters[c].name == l.cluster) cluster_index = static_cast<int>(c);
    }
    view->listener_cluster.push_back(cluster_index);
  }
  view_ = std::move(view);
  for (auto& c : view_->clusters) {
    if (c.ramping) apply_ramp(c, Clock::now());
  }
  apply_usable();
  access_log_.flush();
  access_log_ = AccessLog(snapshot->access_log ? snapshot->access_log->fd : -1,
                          snapshot->access_log && snapshot->access_log->json);

  // Close acceptors whose listener is gone or moved; open the new ones.
  std::erase_if(acceptors_, [&](Acceptor& a) {
    int index = snapshot->listener_index(a.name);
    bool keep = index >= 0 && cfg.listeners[index].protocol != config::Listener::Protocol::kUdp &&
                cfg.listeners[index].listen.to_string() == a.address;
    if (!keep) {
      std::error_code ec;
      a.acceptor->close(ec);
    }
    return !keep;
  });
  std::erase_if(udp_, [&](UdpListener& u) {
    int index = snapshot->listener_index(u.name);
    bool keep = index >= 0 && cfg.listeners[index].protocol == config::Listener::Protocol::kUdp &&
                "udp:" + cfg.listeners[index].listen.to_string() == u.address;
    if (!keep) u.proxy->stop();
    return !keep;
  });
  for (auto& ls : add) {
    if (ls.udp) {
      bool v6 = ls.address.size() > 4 && ls.address[4] == '[';
      auto proxy = std::make_shared<l4::UdpProxy>(io_, ls.fd, v6);
      udp_.push_back({ls.name, ls.address, proxy});
      proxy->start();
      continue;
    }
    Acceptor a;
    a.name = ls.name;
    a.address = ls.address;
    a.acceptor = std::make_unique<asio::ip::tcp::acceptor>(io_);
    std::error_code ec;
    int family = ls.address.front() == '[' ? AF_INET6 : AF_INET;
    a.acceptor->assign(family == AF_INET6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), ls.fd, ec);
    if (ec) {
      core::log_error("worker {}: cannot adopt listener {}: {}", id_, ls.name, ec.message());
      ::close(ls.fd);
      continue;
    }
    acceptors_.push_back(std::move(a));
    accept_on(*this, acceptors_.back().acceptor.get(), acceptors_.back().name);
  }
  // UDP proxies (new ones included) take their target from the view just installed.
  for (auto& u : udp_) {
    int index = view_->snapshot->listener_index(u.name);
    if (index < 0) continue;
    int ci = view_->listener_cluster[index];
    if (ci < 0) continue;
    auto* cluster = &view_->clusters[ci];
    l4::UdpTarget target;
    target.listener = &view_->snapshot->config->listeners[index];
    target.cluster = cluster->config;
    target.keep = view_;
    target.pick = [this, cluster](std::span<const uint32_t> tried, const core::IpAddress& client) {
      return pick_stream_endpoint(*cluster, client, tried);
    };
    target.stats = view_->stream_stats[index];
    target.limiter = core::ClientLimiter::for_listener(u.name);
    target.log = stream_log();
    u.proxy->set_target(std::move(target));
  }
}

void Worker::tick() {
  ticker_.expires_after(kTick);
  ticker_.async_wait([this](std::error_code ec) {
    if (ec) return;
    now_ = Clock::now();
    for (WorkerSession* s = sessions_; s;) {
      WorkerSession* next = s->next_;
      s->on_tick(now_);
      s = next;
    }
    if (view_) {
      std::chrono::milliseconds max_idle{30'000};
      for (const auto& c : view_->snapshot->config->clusters)
        max_idle = std::min(max_idle, c.timeouts.pool_idle);
      pool_.sweep(now_, max_idle);
    }
    access_log_.flush();
    if (view_) {
      for (auto& c : view_->clusters) {
        if (c.ramping) apply_ramp(c, now_);
      }
    }
    for (auto& u : udp_) u.proxy->sweep(now_);
    l4::sweep_tcp_sessions(now_);
    if (id_ == 0 && view_) {  // one worker sweeps the shared per-client state
      for (const auto& l : view_->snapshot->config->listeners) {
        if (l.limits.connection_rate_per_ip > 0 || l.limits.max_connections_per_ip > 0) {
          core::ClientLimiter::for_listener(l.name)->sweep(now_);
        }
      }
    }
    tick();
  });
}

int Worker::pick_stream_endpoint(const ClusterRuntime& cluster, const core::IpAddress& client,
                                 std::span<const uint32_t> tried) {
  balance::PickContext ctx;
  // The stream tier's only key is the client: source_ip, maglev and ring_hash hash its address.
  ctx.hash = cluster.hashed ? core::hash_bytes(std::string_view(
                                  reinterpret_cast<const char*>(client.bytes.data()), 16))
                            : 0;
  ctx.random = next_random();
  ctx.active = cluster.gauges->active.get();
  ctx.excluded = tried;
  ctx.usable = cluster.use_usable_mask ? cluster.usable.data() : nullptr;
  return cluster.balancer->pick(ctx);
}

std::function<void(std::string_view)> Worker::stream_log() {
  if (!access_log_.enabled()) return {};
  return [this](std::string_view line) {  // "<time> <line>", one line per connection or session
    char ts[32];
    size_t n = core::format_utc_now(ts);
    std::string full(ts, n);
    full.push_back(' ');
    full.append(line);
    access_log_.write_line(full);
  };
}

void Worker::note_endpoint(const ClusterRuntime& cluster, int index, bool failed) {
  if (cluster.consecutive_failures.empty() || index < 0) return;
  auto& count = cluster.consecutive_failures[index];
  if (!failed) {
    count = 0;
    return;
  }
  if (++count >= cluster.config->outlier_detection->consecutive_failures) {
    count = 0;
    report_outlier(cluster.config->name, cluster.endpoint_keys[index]);
  }
}

void Worker::apply_health(std::shared_ptr<const health::HealthStatus> health) {
  send([this, health = std::move(health)]() mutable {
    health_ = std::move(health);
    apply_usable();
  });
}

void Worker::apply_usable() {
  if (!view_) return;
  for (auto& c : view_->clusters) {
    const size_t n = c.endpoint_keys.size();
    std::vector<uint8_t> before = std::move(c.usable);
    c.usable.assign(n, 1);
    size_t healthy = n;
    if (health_) {
      for (size_t i = 0; i < n; ++i) {
        if (!health_->usable(c.config->name, c.endpoint_keys[i])) {
          c.usable[i] = 0;
          --healthy;
        }
      }
    }
    const bool panic =
        c.config->panic_threshold > 0 && healthy * 100 < c.config->panic_threshold * n;
    c.use_usable_mask = healthy < n && !panic;
    if (!c.ramp_start.empty() && before.size() == n) {
      bool started = false;
      for (size_t i = 0; i < n; ++i) {
        if (!before[i] && c.usable[i]) {  // back in rotation: start cold
          c.ramp_start[i] = Clock::now();
          started = true;
        }
      }
      if (started) {
        c.ramping = true;
        apply_ramp(c, Clock::now());
      }
    }
  }
}

void Worker::apply_ramp(ClusterRuntime& c, Clock::time_point now) {
  // Weights are scaled by 100 so that a ramp can start near zero even for weight 1.
  const double window = static_cast<double>(c.config->slow_start.count());
  std::vector<balance::EndpointSpec> specs;
  bool still = false;
  for (size_t i = 0; i < c.endpoint_keys.size(); ++i) {
    double full = c.config->endpoints[i].weight * 100.0;
    double w = full;
    if (c.ramp_start[i] != Clock::time_point{}) {
      double elapsed = std::chrono::duration<double, std::milli>(now - c.ramp_start[i]).count();
      if (elapsed >= window) {
        c.ramp_start[i] = Clock::time_point{};
      } else {
        w = std::max(1.0, full * elapsed / window);
        still = true;
      }
    }
    specs.push_back({c.endpoint_keys[i], static_cast<uint32_t>(w)});
  }
  c.balancer = balance::make_balancer(c.config->balance, specs, next_random());
  c.ramping = still;
}

bool Worker::h2_stream(const std::string& endpoint, std::shared_ptr<H2UpStream>* stream) {
  auto it = h2_clients_.find(endpoint);
  if (it == h2_clients_.end()) return false;
  auto& clients = it->second;
  std::erase_if(clients, [](const std::shared_ptr<H2Client>& c) { return !c->alive(); });
  for (auto& c : clients) {
    if (c->has_room()) {
      *stream = c->open_stream();
      return true;
    }
  }
  return false;
}

void Worker::h2_connect_begin(const std::string& endpoint) {
  auto& timer = h2_connecting_[endpoint];
  if (!timer) timer = std::make_unique<asio::steady_timer>(io_, Clock::time_point::max());
}

void Worker::h2_connect_end(const std::string& endpoint) {
  auto it = h2_connecting_.find(endpoint);
  if (it == h2_connecting_.end()) return;
  it->second->cancel();  // the waiters resume and look again
  h2_connecting_.erase(it);
}

asio::steady_timer* Worker::h2_waiter(const std::string& endpoint) {
  auto it = h2_connecting_.find(endpoint);
  return it == h2_connecting_.end() ? nullptr : it->second.get();
}

void Worker::adopt_h2(const std::string& endpoint, asio::ip::tcp::socket socket, SSL* ssl,
                      std::shared_ptr<H2UpStream>* stream, bool opener,
                      std::chrono::milliseconds settings_timeout) {
  auto client = std::make_shared<H2Client>(io_, std::move(socket), ssl);
  if (opener) client->when_ready([this, endpoint] { h2_connect_end(endpoint); });
  client->start(settings_timeout);
  *stream = client->open_stream();
  h2_clients_[endpoint].push_back(std::move(client));
}

void Worker::begin_drain() {
  send([this] {
    draining_ = true;
    for (auto& a : acceptors_) {
      std::error_code ec;
      a.acceptor->close(ec);
    }
    for (auto& u : udp_) u.proxy->stop();
    pool_.clear();
    h2_clients_.clear();  // in-flight streams keep their connection alive until they end
    for (WorkerSession* s = sessions_; s;) {
      WorkerSession* next = s->next_;
      s->on_drain();
      s = next;
    }
  });
}

void Worker::abort_all() {
  send([this] {
    for (WorkerSession* s = sessions_; s;) {
      WorkerSession* next = s->next_;
      s->on_abort();
      s = next;
    }
  });
}

void Worker::stop() {
  // Nothing runs the loop, or its thread was joined.
  if (!started_ || (own_thread_ && !thread_.joinable())) return;
  send([this] {
    stopped_ = true;
    work_.reset();
    io_.stop();
  });
}

void Worker::join() {
  if (thread_.joinable()) {
    thread_.join();
  } else if (started_ && !own_thread_) {
    access_log_.flush();  // the loop ran on the caller's thread, which flushes it
  }
}

void Worker::link(WorkerSession* s) {
  s->next_ = sessions_;
  s->prev_ = nullptr;
  if (sessions_) sessions_->prev_ = s;
  sessions_ = s;
  session_count_.fetch_add(1, std::memory_order_relaxed);
}

void Worker::unlink(WorkerSession* s) {
  if (s->prev_) s->prev_->next_ = s->next_;
  if (s->next_) s->next_->prev_ = s->prev_;
  if (sessions_ == s) sessions_ = s->next_;
  session_count_.fetch_sub(1, std::memory_order_relaxed);
}

}  // namespace sluice::l7
