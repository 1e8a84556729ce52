#include "health/checker.h"

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <cstring>
#include <random>

#include "core/log.h"
#include "health/grpc_probe.h"

namespace sluice::health {
namespace {

constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr size_t kMaxRead = 64 * 1024;

struct Outcome {
  bool ok = false;
  std::string reason;
};

// The socket and the timeout flag outlive the coroutine if the timer fires late.
struct Attempt {
  explicit Attempt(asio::io_context& io) : socket(io), timer(io) {}
  asio::ip::tcp::socket socket;
  asio::steady_timer timer;
  bool timed_out = false;
};

// "HTTP/1.1 200 ..." -> 200, or 0.
int status_of(std::string_view response) {
  if (response.size() < 12 || response.substr(0, 7) != "HTTP/1." || response[8] != ' ') return 0;
  int status = 0;
  for (int i = 9; i < 12; ++i) {
    if (response[i] < '0' || response[i] > '9') return 0;
    status = status * 10 + (response[i] - '0');
  }
  return status;
}

asio::awaitable<Outcome> probe_once(asio::io_context& io, const core::SocketAddress& address,
                                    const config::HealthCheck& check) {
  auto attempt = std::make_shared<Attempt>(io);
  attempt->timer.expires_after(check.timeout);
  attempt->timer.async_wait([attempt](std::error_code ec) {
    if (ec) return;
    attempt->timed_out = true;
    std::error_code ignored;
    attempt->socket.close(ignored);
  });
  auto finish = [&](bool ok, std::string reason) {
    attempt->timer.cancel();
    std::error_code ignored;
    attempt->socket.close(ignored);
    if (attempt->timed_out)
      return Outcome{false, "timeout after " + std::to_string(check.timeout.count()) + "ms"};
    return Outcome{ok, std::move(reason)};
  };

  auto ep = address.to_endpoint<asio::ip::tcp::endpoint>();
  auto [cec] = co_await attempt->socket.async_connect(ep, kNoThrow);
  if (cec) co_return finish(false, "connect: " + cec.message());
  if (check.type == config::HealthCheck::Type::kGrpc) {
    // A named local, not a temporary in the co_await: GCC 12 destroys a conditional's temporary
    // twice there.
    std::string authority = address.to_string();
    auto result = co_await grpc_health_check(attempt->socket, authority, check.grpc_service);
    co_return finish(result.serving, std::move(result.reason));
  }

  std::string request;
  if (check.type == config::HealthCheck::Type::kHttp) {
    request = check.method + " " + check.path +
              " HTTP/1.1\r\nHost: " + (check.host.empty() ? address.to_string() : check.host) +
              "\r\nUser-Agent: sluice-health-check\r\nConnection: close\r\n\r\n";
  } else {
    request = check.send;
  }
  if (!request.empty()) {
    auto [wec, n] = co_await asio::async_write(attempt->socket, asio::buffer(request), kNoThrow);
    if (wec) co_return finish(false, "write: " + wec.message());
  }
  const std::string& expect =
      check.type == config::HealthCheck::Type::kHttp ? check.expect_body : check.expect;
  if (check.type == config::HealthCheck::Type::kTcp && expect.empty())
    co_return finish(true, "connected");

  // Read until we can decide: the status line (and, if asked, the body substring), or EOF.
  std::string got;
  char buf[4096];
  while (got.size() < kMaxRead) {
    if (check.type == config::HealthCheck::Type::kHttp && expect.empty() &&
        got.find("\r\n") != std::string::npos)
      break;
    if (!expect.empty() && got.find(expect) != std::string::npos) break;
    auto [rec, n] = co_await attempt->socket.async_read_some(asio::buffer(buf), kNoThrow);
    if (rec) break;  // EOF or error: decide on what arrived
    got.append(buf, n);
  }
  if (check.type == config::HealthCheck::Type::kTcp) {
    bool found = got.find(expect) != std::string::npos;
    co_return finish(found, found ? "answered" : "answer lacks '" + expect + "'");
  }
  int status = status_of(got);
  if (status == 0) co_return finish(false, got.empty() ? "no response" : "malformed response");
  bool status_ok = false;
  for (const auto& range : check.expect_status) {
    status_ok = status_ok || (status >= range.low && status <= range.high);
  }
  if (!status_ok) co_return finish(false, "status " + std::to_string(status));
  if (!expect.empty()) {
    auto body_start = got.find("\r\n\r\n");
    bool found =
        body_start != std::string::npos && got.find(expect, body_start) != std::string::npos;
    if (!found) co_return finish(false, "body lacks '" + expect + "'");
  }
  co_return finish(true, "status " + std::to_string(status));
}

}  // namespace

struct HealthChecker::Probe {
  Probe(asio::io_context& io) : timer(io) {}
  std::string cluster;
  std::string address_text;
  core::SocketAddress address;
  config::HealthCheck check;
  bool healthy = true;
  uint32_t successes = 0;
  uint32_t failures = 0;
  std::string reason = "not checked yet";
  bool stopped = false;
  asio::steady_timer timer;
};

HealthChecker::~HealthChecker() { stop(); }

void HealthChecker::stop() {
  for (auto& [key, probe] : probes_) {
    probe->stopped = true;
    probe->timer.cancel();
  }
  probes_.clear();
}

void HealthChecker::configure(const config::Config& config) {
  std::map<std::string, std::shared_ptr<Probe>> next;
  std::mt19937_64 rng(std::random_device{}());
  for (const auto& c : config.clusters) {
    if (!c.health_check) continue;
    for (const auto& e : c.endpoints) {
      std::string address = e.address.to_string();
      std::string key = c.name + " " + address;
      auto it = probes_.find(key);
      if (it != probes_.end()) {
        it->second->check = *c.health_check;  // new settings, same state
        next[key] = it->second;
        probes_.erase(it);
        continue;
      }
      auto probe = std::make_shared<Probe>(io_);
      probe->cluster = c.name;
      probe->address_text = address;
      probe->address = e.address;
      probe->check = *c.health_check;
      next[key] = probe;
      // Spread the first checks over a tenth of the interval, then keep a ±10% jitter so that
      // many endpoints never get probed in lockstep.
      auto first = std::chrono::milliseconds(rng() % (probe->check.interval.count() / 10 + 1));
      uint64_t seed = rng();
      asio::co_spawn(
          io_,
          [this, probe, first, seed]() -> asio::awaitable<void> {
            std::mt19937_64 jitter(seed);
            auto wait = first;
            while (!probe->stopped) {
              probe->timer.expires_after(wait);
              co_await probe->timer.async_wait(kNoThrow);  // cancelled on stop: checked below
              if (probe->stopped) co_return;
              auto outcome = co_await probe_once(io_, probe->address, probe->check);
              if (probe->stopped) co_return;
              on_result(*probe, outcome.ok, outcome.reason);
              auto base = probe->check.interval.count();
              wait = std::chrono::milliseconds(base * 9 / 10 +
                                               static_cast<int64_t>(jitter() % (base / 5 + 1)));
            }
          },
          asio::detached);
    }
  }
  for (auto& [key, probe] : probes_) {  // endpoints no longer checked
    probe->stopped = true;
    probe->timer.cancel();
  }
  probes_ = std::move(next);
  publish();
}

void HealthChecker::on_result(Probe& probe, bool ok, const std::string& reason) {
  auto& counts = counts_[probe.cluster];
  (ok ? counts.ok : counts.failed) += 1;
  if (ok) {
    probe.failures = 0;
    ++probe.successes;
  } else {
    probe.successes = 0;
    ++probe.failures;
  }
  bool change = false;
  if (probe.healthy && !ok && probe.failures >= probe.check.unhealthy) {
    probe.healthy = false;
    change = true;
    core::log_warn("health: {} in cluster '{}' is now unhealthy: {} ({} consecutive failures)",
                   probe.address_text, probe.cluster, reason, probe.failures);
  } else if (!probe.healthy && ok && probe.successes >= probe.check.healthy) {
    probe.healthy = true;
    change = true;
    core::log_info("health: {} in cluster '{}' is healthy again: {} ({} consecutive successes)",
                   probe.address_text, probe.cluster, reason, probe.successes);
  }
  // A new reason is published too (it shows in /clusters); the same result again is not, so a
  // steady cluster publishes nothing.
  if (change || probe.reason != reason) {
    probe.reason = reason;
    publish();
  }
}

void HealthChecker::publish() {
  auto status = std::make_shared<HealthStatus>();
  for (const auto& [key, probe] : probes_) {
    status->clusters[probe->cluster][probe->address_text] = {probe->healthy, false, false,
                                                             probe->reason};
  }
  status_ = status;
  publish_(status);
}

}  // namespace sluice::health
