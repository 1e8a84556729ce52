#pragma once
// One worker: one thread (the main one when it is the only worker), one asio io_context, its
// own SO_REUSEPORT listening sockets, its own upstream pool, balancer state and counters. Nothing
// here is shared with other workers except the read-only Snapshot, so the request path takes no
// lock.
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "balance/balancer.h"
#include "health/health_status.h"
#include "l4/udp_proxy.h"
#include "l7/access_log.h"
#include "l7/snapshot.h"
#include "l7/stats.h"
#include "l7/upstream_pool.h"
#include "l7/worker_session.h"
#include "tls/client_context.h"

namespace sluice::l7 {

struct H2UpStream;
class H2Client;

// Per worker, per snapshot: the mutable side of a cluster.
struct ClusterRuntime {
  const config::Cluster* config = nullptr;
  std::unique_ptr<balance::Balancer> balancer;
  bool hashed = false;
  bool source_ip = false;
  std::vector<std::string> endpoint_keys;  // "ip:port", the log name
  // The upstream pool's keys: the endpoint, prefixed for TLS clusters ("tls/<cluster>/ip:port")
  // so that connections with different TLS settings never mix.
  std::vector<std::string> pool_keys;
  std::shared_ptr<const tls::ClientContext> tls;  // clusters with `tls:`
  std::shared_ptr<EndpointGauges> gauges;
  ClusterStats* stats = nullptr;
  std::shared_ptr<ClusterShared> shared;  // set only when the cluster has max_requests
  // From the health checker: usable[i] != 0 if endpoint i may be picked. Ignored (all usable)
  // when every endpoint is healthy, or in panic mode (healthy share below panic_threshold).
  std::vector<uint8_t> usable;
  bool use_usable_mask = false;
  // Slow start: when each endpoint's ramp began (time_point{} = not ramping); empty if off.
  std::vector<std::chrono::steady_clock::time_point> ramp_start;
  bool ramping = false;
  // Consecutive failed tries per endpoint on this worker (outlier detection).
  mutable std::vector<uint32_t> consecutive_failures;
  // This worker's requests and retries in flight, for the retry budget.
  mutable uint32_t active_requests = 0;
  mutable uint32_t active_retries = 0;
};

// Everything a request needs from the current config, resolved once per snapshot per worker.
struct WorkerView {
  std::shared_ptr<const Snapshot> snapshot;
  std::vector<ClusterRuntime> clusters;               // parallel to config->clusters
  std::vector<std::vector<RouteStats*>> route_stats;  // [listener][route]
  std::vector<RouteStats*> no_route_stats;            // [listener], requests that matched no route
  std::vector<ListenerStats*> listener_stats;         // [listener]
  std::vector<l4::StreamStats*> stream_stats;         // [listener], tcp listeners only
  std::vector<int> listener_cluster;                  // [listener], tcp: cluster index
};

// A listening socket handed to a worker: created and bound by the runtime (so that a bind error
// fails the reload before any worker changes), accepted on by the worker.
struct ListenerSocket {
  std::string name;
  std::string address;  // "ip:port", or "udp:ip:port"
  int fd = -1;
  bool udp = false;
};

class Worker {
 public:
  using Clock = std::chrono::steady_clock;

  explicit Worker(uint32_t id);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Called on the worker thread when an endpoint failed outlier_detection.consecutive_failures
  // times in a row; it must be thread-safe (the runtime posts to its own thread). Set before
  // start().
  using OutlierReport = std::function<void(const std::string& cluster, const std::string& address)>;
  void set_outlier_report(OutlierReport report) { report_outlier_ = std::move(report); }
  void report_outlier(const std::string& cluster, const std::string& address) {
    if (report_outlier_) report_outlier_(cluster, address);
  }
  // Outlier detection: one try's result for endpoint `index` of `cluster`.
  void note_endpoint(const ClusterRuntime& cluster, int index, bool failed);

  // Starts the loop on a thread of its own, or with `own_thread` false only arms it: the caller
  // then runs io() itself (the runtime does with one worker, so the process has one thread).
  void start(bool own_thread = true);
  // Thread-safe: installs a new snapshot, opens `add` listeners, closes listeners not in the
  // snapshot. Existing connections keep running (an in-flight request finishes on the view it
  // started with).
  void apply(std::shared_ptr<const Snapshot> snapshot, std::vector<ListenerSocket> add);
  // Thread-safe: stop accepting, close idle connections, let in-flight requests finish.
  void begin_drain();
  // Thread-safe: new endpoint health from the checker.
  void apply_health(std::shared_ptr<const health::HealthStatus> health);
  size_t session_count() const { return session_count_.load(); }
  // Thread-safe: close every connection now (the drain timeout passed).
  void abort_all();
  void stop();  // thread-safe; ends the loop now
  void join();  // waits for the loop's thread; on the caller's loop, flushes the access log

  // --- used by sessions, on the worker thread ---
  asio::io_context& io() { return io_; }
  const std::shared_ptr<WorkerView>& view() const { return view_; }
  UpstreamPool& pool() { return pool_; }
  // h2/h2c clusters: a stream on one of this worker's connections to `endpoint` that has room
  // (the backend's SETTINGS_MAX_CONCURRENT_STREAMS), if there is one.
  bool h2_stream(const std::string& endpoint, std::shared_ptr<H2UpStream>* stream);
  // A new connection to `endpoint` joins the worker's HTTP/2 connections to it; `stream` is one
  // on it. `opener`: it was announced with h2_connect_begin, and its SETTINGS (or its
  // failure) end that.
  void adopt_h2(const std::string& endpoint, asio::ip::tcp::socket socket, SSL* ssl,
                std::shared_ptr<H2UpStream>* stream, bool opener,
                std::chrono::milliseconds settings_timeout);
  // While one session opens the HTTP/2 connection to an endpoint, the others wait for it instead
  // of opening their own (a burst of streams on a cold worker would open one each).
  void h2_connect_begin(const std::string& endpoint);
  void h2_connect_end(const std::string& endpoint);  // ready or failed: wakes the waiters
  // What to wait on while a connection to `endpoint` is being opened (null when none is).
  asio::steady_timer* h2_waiter(const std::string& endpoint);
  AccessLog& access_log() { return access_log_; }
  WorkerStats& stats() { return stats_; }
  const WorkerStats& stats() const { return stats_; }
  bool draining() const { return draining_; }
  Clock::time_point now() const { return now_; }
  uint64_t next_random() {
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  }
  // The connections this worker carries (sweep, drain, abort).
  void link(WorkerSession* s);
  void unlink(WorkerSession* s);
  // The stream tier's balancer choice for a TCP connection or UDP session from `client`, and its
  // access log sink (empty when the log is off).
  int pick_stream_endpoint(const ClusterRuntime& cluster, const core::IpAddress& client,
                           std::span<const uint32_t> tried);
  std::function<void(std::string_view)> stream_log();

 private:
  struct Acceptor {
    std::string name;
    std::string address;
    std::unique_ptr<asio::ip::tcp::acceptor> acceptor;
  };
  void install(std::shared_ptr<const Snapshot> snapshot, std::vector<ListenerSocket> add);
  void apply_usable();  // health_ -> view_->clusters[].usable
  // Slow start: rebuilds the balancer with ramped weights; ends the ramp when all are done.
  void apply_ramp(ClusterRuntime& c, Clock::time_point now);
  void tick();
  // Runs `fn` on this worker's thread; callable from any thread. The only way in from outside.
  void send(std::function<void()> fn);
  void read_inbox();

  uint32_t id_;
  // UNSAFE: only this thread touches the io_context, so neither the scheduler nor the reactor
  // takes a lock (an h2c request completed about four handlers, each with a lock pair). Other
  // threads reach the worker only through send(): a locked inbox and an eventfd.
  asio::io_context io_{ASIO_CONCURRENCY_HINT_UNSAFE};
  asio::executor_work_guard<asio::io_context::executor_type> work_{io_.get_executor()};
  std::mutex inbox_mutex_;
  std::vector<std::function<void()>> inbox_;
  asio::posix::stream_descriptor wake_;
  uint64_t wake_count_ = 0;  // read buffer of wake_'s eventfd
  bool stopped_ = false;     // on this thread: the loop is ending
  // Touched only by the thread that calls start(), stop() and join().
  bool started_ = false;     // start() ran
  bool own_thread_ = false;  // and gave the loop thread_
  std::thread thread_;
  std::shared_ptr<WorkerView> view_;
  std::shared_ptr<const health::HealthStatus> health_;
  OutlierReport report_outlier_;
  std::vector<Acceptor> acceptors_;
  struct UdpListener {
    std::string name;
    std::string address;
    std::shared_ptr<l4::UdpProxy> proxy;
  };
  std::vector<UdpListener> udp_;
  UpstreamPool pool_;
  // Per endpoint, in the order they were opened; the first with room takes the next stream, so
  // that later ones empty out when the load falls. A dead one leaves the list at the next look
  // (its in-flight streams keep it alive until they end).
  std::unordered_map<std::string, std::vector<std::shared_ptr<H2Client>>> h2_clients_;
  std::unordered_map<std::string, std::unique_ptr<asio::steady_timer>> h2_connecting_;
  AccessLog access_log_;
  WorkerStats stats_;
  asio::steady_timer ticker_{io_};
  Clock::time_point now_ = Clock::now();
  bool draining_ = false;
  uint64_t rng_;
  WorkerSession* sessions_ = nullptr;  // intrusive list, for the timeout sweep and draining
  std::atomic<size_t> session_count_{0};
};

}  // namespace sluice::l7
