#include "l7/http_session.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <array>

#include "core/coarse_clock.h"
#include "l7/http_session_internal.h"

// The connection: construction and timers, the TLS handshake and the choice of HTTP/1.1 or
// HTTP/2, the HTTP/1.1 request loop, an HTTP/2 connection's streams, WebSocket tunnels, and the
// access log line. The request itself is http_session_exchange.cc.
namespace sluice::l7 {
using namespace session;

void HttpSession::spawn(Worker& worker, asio::ip::tcp::socket socket,
                        const asio::ip::tcp::endpoint& peer, std::string listener_name,
                        core::ClientSlot slot) {
  std::unique_ptr<HttpSession> session(
      new HttpSession(worker, std::move(socket), peer, std::move(listener_name)));
  session->client_slot_ = std::move(slot);
  start(std::move(session));
}

HttpSession::HttpSession(Worker& worker, asio::ip::tcp::socket socket,
                         const asio::ip::tcp::endpoint& peer, std::string listener_name)
    : worker_(worker),
      conn_(std::in_place, std::move(socket)),
      client_(&conn_->codec),
      up_(worker.io()),
      h1_backend_(up_),
      listener_name_(std::move(listener_name)) {
  // TCP_NODELAY is inherited from the listening socket (see open_listener).
  // The peer address comes from accept(), saving a getpeername() per connection.
  client_ip_ = core::IpAddress::from_sockaddr(peer.data());
  client_ip_text_ = client_ip_.to_string();
  client_text_ = client_ip_.is_v4 ? client_ip_text_ : "[" + client_ip_text_ + "]";
  client_text_.append(":").append(std::to_string(peer.port()));
  init();
}

HttpSession::HttpSession(Worker& worker, std::shared_ptr<H2Stream> stream,
                         const HttpSession& parent)
    : worker_(worker),
      up_(worker.io()),
      h1_backend_(up_),
      listener_name_(parent.listener_name_),
      client_ip_(parent.client_ip_),
      client_ip_text_(parent.client_ip_text_),
      client_text_(parent.client_text_) {
  // The parent's view, when it is the latest: no listener lookup by name per stream.
  if (parent.view_ == worker.view()) {
    view_ = parent.view_;
    listener_index_ = parent.listener_index_;
  }
  h2_client_.emplace(std::move(stream), parent.client_->is_tls(), parent.client_->client_subject());
  client_ = &*h2_client_;
  init();
}

void HttpSession::init() {
  worker_.link(this);
  up_req_.headers.set_arena(&arena_);
  resp_out_.headers.set_arena(&arena_);
  // One allocation each up front instead of a doubling series on the first request.
  resp_.headers.reserve(32);
  // An HTTP/2 stream's session serves one request: its head comes whole from the stream (a
  // swap), and a path is copied once, into the string's own 15 bytes when it is short.
  if (!client_->one_request()) {
    path_.reserve(128);
    log_target_.reserve(128);
    req_.headers.reserve(32);
  }
  if (view_ && listener_index_ >= 0) {
    apply_limits();  // a stream's session, on its parent's view
  } else {
    refresh_view();
  }
}

void HttpSession::spawn_stream(Worker& worker, std::shared_ptr<H2Stream> stream,
                               const HttpSession& parent) {
  start(std::unique_ptr<HttpSession>(new HttpSession(worker, std::move(stream), parent)));
}

void HttpSession::start(std::unique_ptr<HttpSession> session) {
  HttpSession* s = session.get();
  asio::co_spawn(s->worker_.io(), s->run(std::move(session)), asio::detached);
}

HttpSession::~HttpSession() {
  // The client's slot goes back before the gauge drops, so that a reader who sees no open
  // connections can rely on every per-client slot being free again.
  client_slot_ = core::ClientSlot();
  if (view_ && listener_index_ >= 0 && !client_->one_request())
    view_->listener_stats[listener_index_]->active_connections.dec();
  worker_.unlink(this);
}

void HttpSession::refresh_view() {
  const auto& latest = worker_.view();
  if (latest == view_ || !latest) return;
  int index = latest->snapshot->listener_index(listener_name_);
  if (index < 0 && view_) return;  // listener removed: finish on the config we started with
  // A stream of an HTTP/2 connection is not a connection: only its connection is counted.
  if (view_ && listener_index_ >= 0 && !client_->one_request())
    view_->listener_stats[listener_index_]->active_connections.dec();
  view_ = latest;
  listener_index_ = index;
  if (index < 0) return;
  if (!client_->one_request()) view_->listener_stats[index]->active_connections.inc();
  apply_limits();  // a reload may change them: the next head is parsed with the new ones
}

void HttpSession::apply_limits() {
  const auto& l = view_->snapshot->config->listeners[listener_index_];
  client_->set_limits({l.limits.max_request_line, l.limits.max_header_bytes, l.limits.max_headers},
                      std::max<size_t>(kBodyBufferMax, l.limits.max_header_bytes + 4096));
}

void HttpSession::arm(Deadline kind, std::chrono::milliseconds timeout) {
  // Armed about six times per request; the 100 ms sweep needs no finer clock (coarse_clock.h).
  deadline_kind_ = kind;
  deadline_ = core::coarse_now() + timeout;
}

void HttpSession::on_tick(Clock::time_point now) {
  if (now >= request_deadline_) {
    fired_ = Deadline::kRequestTotal;
    request_deadline_ = Clock::time_point::max();
  } else if (deadline_kind_ != Deadline::kNone && now >= deadline_) {
    fired_ = deadline_kind_;
  } else {
    return;
  }
  deadline_kind_ = Deadline::kNone;
  if (view_ && listener_index_ >= 0) {
    view_->listener_stats[listener_index_]->timeouts[static_cast<size_t>(fired_)].add();
  }
  client_->cancel();
  if (backend_->is_open()) backend_->cancel();
}

void HttpSession::on_drain() {
  if (!idle_) return;  // in-flight requests finish; the loop closes after them
  fired_ = Deadline::kDrain;
  client_->cancel();
}

void HttpSession::on_abort() {
  aborting_ = true;
  fired_ = Deadline::kDrain;
  client_->close();
  h1_backend_.close();
  h2_backend_.close();
}

asio::awaitable<IoResult> HttpSession::write_client(std::string_view data, bool tried_now) {
  arm(Deadline::kClientWrite,
      view_->snapshot->config->listeners[listener_index_].timeouts.request_body_idle);
  return client_->write(data, tried_now);
}

asio::awaitable<void> HttpSession::tunnel(std::chrono::milliseconds idle) {
  using namespace asio::experimental::awaitable_operators;
  // One deadline for both directions, pushed on by every byte; the tick cancels both sides.
  // Bytes that came after either head belong to the new protocol: the codecs hand them over
  // first.
  arm(Deadline::kTunnelIdle, idle);
  auto fail = [this] {
    client_->cancel();
    backend_->cancel();
  };
  auto client_to_upstream = [&]() -> asio::awaitable<void> {
    while (true) {
      const auto piece = co_await client_->read_raw();
      if (piece.kind == BodyRead::Kind::kEnd) co_return backend_->shutdown_send();
      if (piece.kind != BodyRead::Kind::kData) co_return fail();
      deadline_ = core::coarse_now() + idle;
      if (!co_await backend_->write_raw(piece.data)) co_return fail();
      bytes_received_ += piece.data.size();
    }
  };
  auto upstream_to_client = [&]() -> asio::awaitable<void> {
    while (true) {
      const auto piece = co_await backend_->read_raw();
      if (piece.kind == BodyRead::Kind::kEnd) co_return client_->shutdown_send();
      if (piece.kind != BodyRead::Kind::kData) co_return fail();
      deadline_ = core::coarse_now() + idle;
      if (!co_await client_->write_raw(piece.data)) co_return fail();
      bytes_sent_ += piece.data.size();
    }
  };
  co_await (client_to_upstream() && upstream_to_client());
  disarm();
}

asio::awaitable<void> HttpSession::serve_h2(std::string_view received) {
  const auto& listener = view_->snapshot->config->listeners[listener_index_];
  const auto keepalive = listener.timeouts.keepalive_idle;
  H2Connection::Limits limits;
  limits.max_header_bytes = listener.limits.max_header_bytes;
  H2Connection::Hooks hooks;
  hooks.start_stream = [this](std::shared_ptr<H2Stream> stream) {
    spawn_stream(worker_, std::move(stream), *this);
  };
  // No stream in flight: the connection is idle (keep-alive timeout, drain may close it).
  hooks.idle_changed = [this, keepalive](bool idle) {
    idle_ = idle;
    if (idle) {
      arm(Deadline::kKeepalive, keepalive);
    } else {
      disarm();
    }
  };
  hooks.draining = [this] { return worker_.draining(); };
  H2Connection h2(conn_->down, worker_.io().get_executor(), limits, std::move(hooks));
  idle_ = true;
  arm(Deadline::kKeepalive, keepalive);
  co_await h2.run(received);
  disarm();
  conn_->codec.drop_buffered();
  if (h2.closed_on_error()) {
    // Lingering close (as nginx does): closing with unread input would reset the connection
    // and could destroy the GOAWAY that says why. Read and drop for a bounded time first.
    conn_->down.shutdown_send();
    arm(Deadline::kDrain, std::chrono::seconds(1));
    std::array<char, 4096> sink;
    for (int i = 0; i < 256; ++i) {  // at most 1 MiB or the deadline, whichever comes first
      auto [ec, n] = co_await conn_->down.read_some(sink.data(), sink.size());
      if (ec) break;
    }
    disarm();
    take_fired();
  }
}

asio::awaitable<void> HttpSession::run([[maybe_unused]] std::unique_ptr<HttpSession> self) {
  if (!view_ || listener_index_ < 0) co_return;
  const auto& tls = view_->snapshot->tls[listener_index_];
  const auto codec = view_->snapshot->config->listeners[listener_index_].codec;
  const bool stream = client_->one_request();
  if (tls && !stream) {
    // The handshake has the time a request head has (slow handshakes are slowloris too).
    arm(Deadline::kRequestHead,
        view_->snapshot->config->listeners[listener_index_].timeouts.request_header);
    const char* why = nullptr;
    const bool ok = co_await conn_->down.handshake(tls, &why);
    disarm();
    auto* stats = view_->listener_stats[listener_index_];
    if (!ok) {
      stats->tls_handshake_failures.add();
      co_return;
    }
    stats->tls_handshakes.add();
    if (conn_->down.resumed()) stats->tls_resumed.add();
    if (conn_->down.alpn() == "h2" || codec == config::Listener::Codec::kHttp2) {
      co_await serve_h2({});
      co_return;
    }
  } else if (codec == config::Listener::Codec::kHttp2 && !stream) {
    // HTTP/2 only: nghttp2 checks the preface, and anything else is a connection error
    // (GOAWAY PROTOCOL_ERROR, RFC 9113 3.4).
    co_await serve_h2({});
    co_return;
  }
  // h2c with prior knowledge: the first bytes of a cleartext connection may be HTTP/2's preface.
  if (!stream) conn_->codec.detect_h2_preface(codec != config::Listener::Codec::kHttp1);
  bool first = true;
  while (true) {
    if (worker_.draining() && !client_->has_buffered()) break;
    request_deadline_ = Clock::time_point::max();  // set again when the next request starts
    grpc_ = false;
    refresh_view();
    const auto& listener = view_->snapshot->config->listeners[listener_index_];
    idle_ = !client_->has_buffered();
    if (idle_) {
      arm(first ? Deadline::kRequestHead : Deadline::kKeepalive,
          first ? listener.timeouts.request_header : listener.timeouts.keepalive_idle);
    } else {
      arm(Deadline::kRequestHead, listener.timeouts.request_header);
    }
    HeadRead head;
    while ((head = client_->parse_head(&req_)).kind == HeadRead::Kind::kMore) {
      auto [ec, n] = co_await client_->receive();
      if (ec) {
        disarm();
        auto fired = take_fired();
        if (fired == Deadline::kRequestHead && client_->has_buffered()) {
          method_.clear();
          co_await send_local(408, true);
        }
        co_return;
      }
      client_->received(n);
      idle_ = false;
      if (deadline_kind_ == Deadline::kKeepalive)
        arm(Deadline::kRequestHead, listener.timeouts.request_header);
    }
    disarm();
    if (head.kind == HeadRead::Kind::kH2Preface) {
      co_await serve_h2(conn_->codec.buffered());
      co_return;
    }
    if (head.kind == HeadRead::Kind::kBad) {
      view_->listener_stats[listener_index_]->parse_errors.add();
      method_.clear();
      started_ = Clock::now();
      log_target_ = "-";
      route_ = nullptr;
      upstream_key_ = nullptr;
      co_await send_local(head.status, true, head.reason);
      log_request(head.status);
      co_return;
    }
    bool keep = co_await handle_request();
    if (!keep || stream) break;  // a stream carries one request: no read to learn it ended
    first = false;
  }
  // Bytes the client sent that we will not read would turn close() into a reset, which can
  // destroy the response in the client's receive queue: send FIN first in that case. Otherwise
  // close() alone ends the connection cleanly, one syscall cheaper.
  if (client_->has_buffered()) client_->shutdown_send();
}

void HttpSession::note_try(const ClusterRuntime& cluster, int index, bool failed) {
  worker_.note_endpoint(cluster, index, failed);
}

void HttpSession::log_request(int status) {
  auto& log = worker_.access_log();
  auto elapsed =
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started_).count();
  if (listener_index_ >= 0)
    view_->listener_stats[listener_index_]->latency.observe(static_cast<uint64_t>(elapsed));
  if (!log.enabled()) return;
  AccessEntry e;
  e.client = client_text_;
  e.method = method_.empty() ? std::string_view("-") : std::string_view(method_);
  e.path = log_target_;
  e.status = status;
  e.bytes = bytes_sent_;
  e.upstream = upstream_key_ ? std::string_view(*upstream_key_) : std::string_view("-");
  e.route = route_ ? std::string_view(route_->name) : std::string_view("-");
  e.duration_us = static_cast<uint64_t>(elapsed);
  log.write(e);
}

}  // namespace sluice::l7
