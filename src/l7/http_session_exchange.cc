// HttpSession's request: the upstream request (forwarded headers), the route, the circuit
// breaker, the balancer's picks and the retries with their budget, connecting (pooled, new, or a
// stream on a shared HTTP/2 connection) and one try's exchange; the outcome decides what the
// client gets (outcome.h). Bodies are http_session_body.cc.
#include <asio/connect.hpp>

#include <algorithm>
#include <array>

#include "core/coarse_clock.h"
#include "http/path_normalizer.h"
#include "l7/forwarded_headers.h"
#include "l7/grpc_status.h"
#include "l7/http_session.h"
#include "l7/http_session_internal.h"
#include "l7/request_key.h"

namespace sluice::l7 {
using namespace session;

void HttpSession::build_upstream_request(const config::Listener& listener) {
  auto& up = up_req_;
  up.method = method_;
  up.scheme = client_->is_tls() ? "https" : "http";
  // An HTTP/1.0 client may send no Host; the upstream request is 1.1 and needs one.
  if (req_.host.empty()) listen_text_ = listener.listen.to_string();
  up.authority = req_.host.empty() ? std::string_view(listen_text_) : req_.host;
  up.path = path_;
  up.query = req_.query;
  // A WebSocket handshake, whichever way the client asked (an HTTP/1.1 Upgrade, an HTTP/2
  // extended CONNECT): the backend's codec says it its own way.
  up.protocol = upgrade_ ? std::string_view("websocket") : std::string_view();
  switch (req_framing_.body) {
    case http::BodyKind::kContentLength:
      up.body = http::BodyLength::known(req_framing_.content_length);
      break;
    case http::BodyKind::kNone:
      up.body = http::BodyLength::none();
      break;
    default:
      up.body = http::BodyLength::until_end();
      break;
  }
  // What the HTTP/1 codec alone knows of: the fields of this connection, the framing, Expect
  // (sluice answers 100 itself) and an h2c upgrade's settings (never to a backend: smuggling).
  auto& fields = up.headers.fields();
  fields.clear();
  fields.reserve(req_.headers.size() + 5);  // and the forwarded ones: one allocation at most
  for (const auto& h : req_.headers) {
    using http::HeaderId;
    if (http::is_hop_by_hop(h, req_.framing) || h.id == HeaderId::kHost ||
        h.id == HeaderId::kContentLength || h.id == HeaderId::kExpect) {
      continue;
    }
    if (h.id == HeaderId::kOther && h.name.size() == 14 && http::iequals(h.name, "http2-settings"))
      continue;
    fields.push_back(h);
  }
  ForwardedFacts facts;
  facts.client_ip = client_ip_text_;
  facts.client_is_v4 = client_ip_.is_v4;
  facts.proto = up.scheme;
  facts.host = req_.host;
  facts.add_forwarded = listener.add_forwarded;
  if (listener.tls) {
    facts.client_cert_header = listener.tls->client_cert_header;
    facts.client_subject = client_->client_subject();
  }
  rewrite_forwarded(facts, &up.headers);
}

asio::awaitable<bool> HttpSession::handle_request() {
  started_ = Clock::now();
  arena_.reset();  // the values made up for the last request are dead
  refresh_view();
  idle_ = false;
  if (auto limit = view_->snapshot->config->listeners[listener_index_].timeouts.request;
      limit.count() > 0) {
    request_deadline_ = started_ + limit;
  }
  const auto& snapshot = *view_->snapshot;
  const auto& listener = snapshot.config->listeners[listener_index_];
  const auto& router = *snapshot.routers[listener_index_];

  method_.assign(req_.method);
  req_framing_ = req_.framing;
  max_body_ = listener.limits.max_body_size;
  bytes_sent_ = 0;
  bytes_received_ = 0;
  local_status_ = 0;
  local_detail_ = {};
  status_ = 0;
  upstream_key_ = nullptr;
  route_ = nullptr;
  cluster_config_ = nullptr;
  if (req_.target == "*") {
    path_ = "*";
  } else {
    http::normalize_path(req_.path, &path_);
  }
  log_target_.assign(path_);
  if (!req_.query.empty()) log_target_.append("?").append(req_.query);
  canonical_host(req_.host, &host_);
  request_body_done_ = req_framing_.body == http::BodyKind::kNone;
  upgrade_ = client_->websocket();
  grpc_ = false;
  if (const auto* ct = req_.find("content-type");
      ct && ct->value.rfind("application/grpc", 0) == 0) {
    grpc_ = true;
    // The client's deadline bounds the whole call here too (answered DEADLINE_EXCEEDED).
    if (const auto* t = req_.find("grpc-timeout")) {
      if (auto timeout = parse_grpc_timeout(t->value)) {
        request_deadline_ = std::min(
            request_deadline_, started_ + std::chrono::duration_cast<Clock::duration>(*timeout));
      }
    }
  }
  client_keep_alive_ = req_framing_.keep_alive && !worker_.draining();

  auto finish_local = [&](int status, bool close,
                          std::string_view detail = {}) -> asio::awaitable<bool> {
    // A body we did not read would be parsed as the next request: close instead.
    if (!request_body_done_) close = true;
    client_->release_head();
    co_await send_local(status, close || !client_keep_alive_, detail);
    log_request(status);
    co_return !close && client_keep_alive_;
  };

  if (max_body_ != 0 && req_framing_.body == http::BodyKind::kContentLength &&
      req_framing_.content_length > max_body_) {
    co_return co_await finish_local(413, true);
  }
  // A chunked body whose bytes at hand are already malformed never reaches a backend: nothing
  // of the request is sent, and the connection closes (its framing can no longer be trusted).
  if (const char* bad = client_->early_body_error()) {
    view_->listener_stats[listener_index_]->body_errors_before_upstream.add();
    co_return co_await finish_local(400, true, bad);
  }
  if (listener.redirect_https) co_return co_await redirect_to_https(listener);
  RouteInput input{req_.method,   host_,      path_, req_.query,
                   &req_.headers, client_ip_, {},    client_->client_subject()};
  const CompiledRoute* route = router.match(input);
  if (!route) {
    view_->no_route_stats[listener_index_]->by_class[4].add();
    co_return co_await finish_local(404, false);
  }
  route_ = route->route;
  const ClusterRuntime& cluster = view_->clusters[route->cluster_index];
  cluster_config_ = cluster.config;
  cluster_stats_ = cluster.stats;
  const uint64_t hash = cluster.hashed ? request_hash(cluster.config->hash_on, cluster.source_ip,
                                                      req_, path_, client_ip_)
                                       : 0;
  // Circuit breaker: refuse at once rather than queue without bound.
  struct BreakerSlot {
    ClusterShared* shared = nullptr;
    ~BreakerSlot() {
      if (shared) shared->requests.fetch_sub(1, std::memory_order_relaxed);
    }
  } breaker;
  if (cluster.config->max_requests > 0) {
    if (cluster.shared->requests.fetch_add(1, std::memory_order_relaxed) >=
        cluster.config->max_requests) {
      cluster.shared->requests.fetch_sub(1, std::memory_order_relaxed);
      cluster.shared->overloaded.fetch_add(1, std::memory_order_relaxed);
      overloaded_ = true;
      co_return co_await finish_local(503, false);
    }
    breaker.shared = cluster.shared.get();
  }
  build_upstream_request(listener);
  // The upstream head's views point into the client codec's buffer: an HTTP/1.1 backend's codec
  // writes it out now, an h2 one submits it before that buffer is read again.
  backend_ = cluster.config->upstream_h2 ? static_cast<UpstreamCodec*>(&h2_backend_)
                                         : static_cast<UpstreamCodec*>(&h1_backend_);
  backend_->prepare(up_req_);
  client_->release_head();

  std::array<uint32_t, kMaxTries> excluded{};
  size_t excluded_count = 0;
  auto exclude = [&](int i) {
    if (excluded_count < excluded.size()) excluded[excluded_count++] = static_cast<uint32_t>(i);
  };
  const auto& policy = cluster.config->retries;
  // Resending is safe only for an idempotent request without a body (RFC 9110 9.2.2).
  const bool resendable = req_framing_.body == http::BodyKind::kNone && is_idempotent(method_);
  // A pooled connection the backend closed while idle fails before any response byte. For a
  // resendable request the pool skips its liveness probe (a syscall) and we resend on a fresh
  // connection instead; anything else is probed before it is sent.
  bool retried_stale = false;
  uint32_t retries_left = std::min<uint32_t>(policy.attempts, kMaxTries - 1);
  bool retrying = false;  // holds one unit of the cluster's retry budget
  auto may_retry = [&] {
    if (retries_left == 0 || aborting_ || Clock::now() >= request_deadline_) return false;
    if (retrying) return true;
    uint32_t budget = std::max<uint32_t>(policy.min_retry_concurrency,
                                         cluster.active_requests * policy.budget_percent / 100);
    if (cluster.active_retries >= budget) {
      cluster.stats->retries_over_budget.add();
      return false;
    }
    retrying = true;
    ++cluster.active_retries;
    return true;
  };
  ++cluster.active_requests;
  bool body_started = false;
  int status = 0;
  int index = -1;
  bool reused = false;
  Outcome outcome = Outcome::kNoEndpoint;
  while (!aborting_) {
    if (outcome != Outcome::kStale) {
      balance::PickContext ctx;
      ctx.hash = hash;
      ctx.random = worker_.next_random();
      ctx.active = cluster.gauges->active.get();
      ctx.excluded = std::span<const uint32_t>(excluded.data(), excluded_count);
      ctx.usable = cluster.use_usable_mask ? cluster.usable.data() : nullptr;
      index = cluster.balancer->pick(ctx);
      if (index < 0) {
        if (outcome != Outcome::kConnectFailed && outcome != Outcome::kReset &&
            outcome != Outcome::kRetryStatus && outcome != Outcome::kLocalResponse) {
          outcome = Outcome::kNoEndpoint;
        }
        break;
      }
      if (excluded_count > 0) cluster.stats->retries.add();  // a retry that actually goes out
      upstream_key_ = &cluster.endpoint_keys[index];
      pool_key_ = &cluster.pool_keys[index];
      if (cluster.config->upstream_h2) {
        reused = co_await take_h2_stream();
      } else {
        SSL* ssl = nullptr;
        reused = worker_.pool().take(*pool_key_, &up_.socket(), &ssl, &up_token_,
                                     /*probe=*/!resendable);
        if (reused) up_.adopt_ssl(ssl);
      }
    } else if (cluster.config->upstream_h2) {
      // A stream the backend closed unanswered (REFUSED_STREAM: RFC 9113 8.7 says resend) goes
      // again on a shared connection while one has room; a dead one is replaced.
      reused = co_await take_h2_stream();
    } else {
      reused = false;  // the retry of a stale pooled connection uses a fresh one
    }
    if (!reused) {
      auto connected = co_await connect(cluster.config->endpoints[index].address, cluster);
      if (connected == ConnectResult::kOverloaded) {
        outcome = Outcome::kOverloaded;
        break;
      }
      if (connected == ConnectResult::kFailed) {
        cluster.stats->connect_errors.add();
        outcome = Outcome::kConnectFailed;
        note_try(cluster, index, /*failed=*/true);
        exclude(index);
        // A request that never reached a backend adds no backend load when sent elsewhere, so
        // connect failures are retried outside the budget (as HAProxy's `retries` are).
        if (policy.on_connect_failure && retries_left > 0) {
          --retries_left;
          continue;
        }
        break;
      }
    } else {
      cluster.stats->upstream_reused.add();
    }
    auto& active = cluster.gauges->active[index];
    active.store(active.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    const bool status_retry_possible = resendable && retries_left > 0 && !policy.on_status.empty();
    outcome = co_await exchange(reused, &body_started,
                                status_retry_possible ? &policy.on_status : nullptr);
    active.store(active.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    if (outcome == Outcome::kStale && resendable && !retried_stale) {
      retried_stale = true;
      continue;
    }
    if (outcome == Outcome::kStale) outcome = Outcome::kReset;
    if (auto verdict = try_verdict(outcome, status_, local_status_); verdict != TryVerdict::kNone)
      note_try(cluster, index, verdict == TryVerdict::kFailed);
    if (wants_retry(outcome, local_status_, resendable, policy) && may_retry()) {
      exclude(index);
      --retries_left;
      close_upstream();
      continue;
    }
    break;
  }
  --cluster.active_requests;
  if (retrying) --cluster.active_retries;

  switch (outcome) {
    case Outcome::kDone:
      status = status_;
      break;
    case Outcome::kOverloaded:
    case Outcome::kConnectFailed:
    case Outcome::kNoEndpoint:
    case Outcome::kStale:
    case Outcome::kReset:
    case Outcome::kRetryStatus:
    case Outcome::kLocalResponse: {
      const auto answer =
          local_answer(outcome, status_, local_status_, local_detail_, excluded_count > 0);
      status = answer.status;
      if (outcome == Outcome::kOverloaded) {
        cluster.shared->overloaded.fetch_add(1, std::memory_order_relaxed);
        overloaded_ = true;
      } else if (outcome == Outcome::kConnectFailed || outcome == Outcome::kNoEndpoint) {
        cluster.stats->unavailable.add();
      } else if (outcome != Outcome::kRetryStatus) {
        if (status == 502) cluster.stats->bad_gateway.add();
        if (status == 504) cluster.stats->timeouts.add();
      }
      close_upstream();
      if (!request_body_done_ || status == 0) client_keep_alive_ = false;
      if (status != 0) co_await send_local(status, !client_keep_alive_, answer.detail);
      break;
    }
    case Outcome::kAborted:
      status = status_ ? status_ : 502;
      client_keep_alive_ = false;
      close_upstream();
      break;
    case Outcome::kUpgraded:
      status = status_;  // 101, or 200 to an HTTP/2 client's CONNECT
      co_await tunnel(listener.timeouts.tunnel_idle);
      client_keep_alive_ = false;
      close_upstream();
      break;
  }
  if (auto& rs = view_->route_stats[listener_index_]; route->index < rs.size()) {
    rs[route->index]->by_class[std::min(status / 100, 5)].add();
    rs[route->index]->bytes_sent.add(bytes_sent_);
    rs[route->index]->bytes_received.add(bytes_received_);
  }
  log_request(status);
  request_deadline_ = Clock::time_point::max();
  co_return client_keep_alive_&& outcome != Outcome::kAborted;
}

void HttpSession::close_upstream() {
  h2_backend_.close();
  if (up_.is_open()) up_.close();
  up_token_.reset();
}

asio::awaitable<bool> HttpSession::take_h2_stream() {
  // While another session opens a connection, wait until it is ready (its SETTINGS say how
  // many streams it takes) rather than open one each; a burst larger than that waits for the
  // next one, a few rounds at most, then opens its own.
  std::shared_ptr<H2UpStream> stream;
  if (!worker_.h2_stream(*pool_key_, &stream)) {
    for (int round = 0; round < 4 && !stream; ++round) {
      auto* opening = worker_.h2_waiter(*pool_key_);
      if (!opening) break;
      co_await opening->async_wait(kNoThrow);  // woken when it is ready or has failed
      worker_.h2_stream(*pool_key_, &stream);
    }
  }
  if (!stream) co_return false;
  h2_backend_.attach(std::move(stream));
  co_return true;
}

asio::awaitable<HttpSession::ConnectResult> HttpSession::connect(const core::SocketAddress& address,
                                                                 const ClusterRuntime& cluster) {
  close_upstream();
  const auto& cfg = *cluster.config;
  ClusterShared* shared = cluster.shared.get();
  // Circuit breaker: no new connection beyond max_connections, no more than max_pending
  // requests waiting for one; either way the answer is an immediate 503, never a queue.
  if (shared && cfg.max_connections > 0 &&
      shared->connections.load(std::memory_order_relaxed) >= cfg.max_connections) {
    co_return ConnectResult::kOverloaded;
  }
  struct PendingSlot {
    ClusterShared* shared = nullptr;
    ~PendingSlot() {
      if (shared) shared->pending.fetch_sub(1, std::memory_order_relaxed);
    }
  } pending;
  if (shared && cfg.max_pending > 0) {
    if (shared->pending.fetch_add(1, std::memory_order_relaxed) >= cfg.max_pending) {
      shared->pending.fetch_sub(1, std::memory_order_relaxed);
      co_return ConnectResult::kOverloaded;
    }
    pending.shared = shared;
  }
  // HTTP/2: this session opens the connection the others will share; they wait until it is
  // open or has failed (the guard also covers an abort mid-connect).
  struct H2Opening {
    Worker* worker = nullptr;
    const std::string* key = nullptr;
    H2Opening() = default;
    H2Opening(const H2Opening&) = delete;
    H2Opening& operator=(const H2Opening&) = delete;
    ~H2Opening() {
      if (worker) worker->h2_connect_end(*key);
    }
  } h2_opening;
  if (cfg.upstream_h2 && !worker_.h2_waiter(*pool_key_)) {
    worker_.h2_connect_begin(*pool_key_);
    // Set in place: assigning a temporary H2Opening would run its destructor, which ends the
    // announcement at once (the waiters then found nobody connecting and opened one each).
    h2_opening.worker = &worker_;
    h2_opening.key = pool_key_;
  }
  auto ep = address.to_endpoint<asio::ip::tcp::endpoint>();
  arm(Deadline::kConnect, cfg.timeouts.connect);
  auto [cec] = co_await up_.socket().async_connect(ep, kNoThrow);
  disarm();
  if (cec) {
    take_fired();
    close_upstream();
    co_return ConnectResult::kFailed;
  }
  std::error_code ec;
  up_.socket().set_option(asio::ip::tcp::no_delay(true), ec);
  if (cluster.tls) {
    // The handshake is part of connecting: same deadline, and a failure (an untrusted or
    // misnamed certificate too) is a connect failure, retried on another endpoint.
    arm(Deadline::kConnect, cfg.timeouts.connect);
    auto failed = co_await up_.handshake(*cluster.tls, *pool_key_);
    disarm();
    if (failed) {
      take_fired();
      close_upstream();
      co_return ConnectResult::kFailed;
    }
  }
  if (cfg.upstream_h2) {
    if (cluster.tls && up_.alpn() != "h2") {  // the endpoint must agree to speak HTTP/2
      close_upstream();
      co_return ConnectResult::kFailed;
    }
    // The waiters are woken when the connection's SETTINGS arrive (or it fails), not now.
    const bool opener = h2_opening.worker != nullptr;
    h2_opening.worker = nullptr;
    std::shared_ptr<H2UpStream> stream;
    worker_.adopt_h2(*pool_key_, std::move(up_.socket()), up_.release_ssl(), &stream, opener,
                     cfg.timeouts.connect);
    h2_backend_.attach(std::move(stream));
  }
  cluster_stats_->upstream_connections.add();
  if (shared) up_token_ = ConnectionToken(cluster.shared);
  co_return ConnectResult::kConnected;
}

asio::awaitable<Outcome> HttpSession::exchange(bool reused, bool* body_started,
                                               const std::vector<int>* retry_statuses) {
  // Closed before answering: on a pooled connection that is the stale case (safe to resend on
  // a fresh one), otherwise a reset of this try. An HTTP/2 stream the backend refused is as
  // safe to resend, whatever connection it was on.
  auto closed = [&] {
    return (reused || backend_->refused()) && !*body_started ? Outcome::kStale : Outcome::kReset;
  };
  // The head goes with the body bytes already at hand: one write for a small request.
  const auto first = client_->body_at_hand();
  const std::string_view prefix =
      first.kind == BodyRead::Kind::kData ? first.data : std::string_view();
  arm(Deadline::kResponse, cluster_config_->timeouts.response);
  const auto sent = std::get<0>(co_await backend_->send_head(up_req_, prefix));
  disarm();
  if (sent) {
    if (upstream_too_slow(take_fired())) {
      local_status_ = 504;
      co_return Outcome::kLocalResponse;
    }
    co_return closed();
  }
  if (first.kind == BodyRead::Kind::kData) {
    *body_started = true;
    bytes_received_ += prefix.size();
    if (first.last) {
      request_body_done_ = true;  // a length, all of it at hand: it ends by itself
    } else {
      Outcome outcome = Outcome::kDone;
      if (!co_await send_request_body(&outcome)) co_return outcome;
    }
  }
  auto outcome = co_await relay_response(retry_statuses);
  if (outcome == Outcome::kStale) outcome = closed();
  co_return outcome;
}

}  // namespace sluice::l7
