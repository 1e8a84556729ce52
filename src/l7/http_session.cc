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
namespace {

constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// The bytes so far agree with the HTTP/2 connection preface (RFC 9113 3.4).
bool could_be_h2_preface(std::string_view in) {
  return kH2Preface.substr(0, std::min(in.size(), kH2Preface.size())) ==
         in.substr(0, std::min(in.size(), kH2Preface.size()));
}

}  // namespace

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
      down_(std::move(socket)),
      up_(worker.io()),
      listener_name_(std::move(listener_name)),
      in_(kIoChunk, kIoChunk),
      up_in_(kIoChunk, 64 * 1024 + 4096),
      parser_({}),
      resp_parser_(64 * 1024, 200) {
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
      down_(std::move(stream), worker.io().get_executor(), parent.down_.is_tls(),
            parent.down_.client_subject()),
      up_(worker.io()),
      listener_name_(parent.listener_name_),
      client_ip_(parent.client_ip_),
      client_ip_text_(parent.client_ip_text_),
      client_text_(parent.client_text_),
      in_(kIoChunk, kIoChunk),
      up_in_(kIoChunk, 64 * 1024 + 4096),
      parser_({}),
      resp_parser_(64 * 1024, 200) {
  init();
}

void HttpSession::init() {
  worker_.link(this);
  up_req_.headers.set_arena(&arena_);
  resp_out_.headers.set_arena(&arena_);
  // One allocation each up front instead of a doubling series on the first request.
  out_.reserve(2048);
  resp_.headers.reserve(32);
  // An HTTP/2 stream's session serves one request: its head comes whole from the stream (a
  // swap), and a path is copied once, into the string's own 15 bytes when it is short.
  if (!down_.is_stream()) {
    path_.reserve(128);
    log_target_.reserve(128);
    req_.headers.reserve(32);
  }
  refresh_view();
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
  if (view_ && listener_index_ >= 0 && !down_.is_stream())
    view_->listener_stats[listener_index_]->active_connections.dec();
  worker_.unlink(this);
}

void HttpSession::refresh_view() {
  const auto& latest = worker_.view();
  if (latest == view_ || !latest) return;
  int index = latest->snapshot->listener_index(listener_name_);
  if (index < 0 && view_) return;  // listener removed: finish on the config we started with
  // A stream of an HTTP/2 connection is not a connection: only its connection is counted.
  if (view_ && listener_index_ >= 0 && !down_.is_stream())
    view_->listener_stats[listener_index_]->active_connections.dec();
  view_ = latest;
  listener_index_ = index;
  if (index < 0) return;
  if (!down_.is_stream()) view_->listener_stats[index]->active_connections.inc();
  // A reload may change the limits: the next head is parsed with the new ones.
  const auto& l = view_->snapshot->config->listeners[index];
  parser_ = http::RequestParser(
      {l.limits.max_request_line, l.limits.max_header_bytes, l.limits.max_headers});
  in_.set_max_capacity(std::max<size_t>(kBodyBufferMax, l.limits.max_header_bytes + 4096));
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
  down_.cancel();
  if (up_.is_open()) up_.cancel();
}

void HttpSession::on_drain() {
  if (!idle_) return;  // in-flight requests finish; the loop closes after them
  fired_ = Deadline::kDrain;
  down_.cancel();
}

void HttpSession::on_abort() {
  aborting_ = true;
  fired_ = Deadline::kDrain;
  down_.close();
  up_.close();
}

bool HttpSession::write_client_now(std::string_view* a, std::string_view* b, bool* ok) {
  // An HTTP/2 stream's write is a copy into its connection's queue: done at once unless the
  // client's window is full. A socket's write goes through Asio even when it could go now: the
  // posted completion is what gives the peer time to answer before our next read, which Asio
  // tries before it waits (without it, 2 failed recv() per HTTP/1.1 request under wrk -c 50).
  std::error_code ec;
  if (!down_.is_stream() || !down_.write_now(a, b, &ec)) return false;
  *ok = !ec;
  return true;
}

asio::awaitable<bool> HttpSession::write_client(std::string_view a, std::string_view b,
                                                bool tried_now) {
  bool ok = false;
  if (!tried_now && write_client_now(&a, &b, &ok)) co_return ok;
  arm(Deadline::kClientWrite,
      view_->snapshot->config->listeners[listener_index_].timeouts.request_body_idle);
  auto ec = std::get<0>(co_await down_.write(a, b));
  disarm();
  co_return !ec;
}

asio::awaitable<bool> HttpSession::write_upstream(std::string_view a, std::string_view b) {
  arm(Deadline::kResponse, cluster_config_->timeouts.response);
  auto ec = std::get<0>(co_await up_.write(a, b));
  disarm();
  co_return !ec;
}

asio::awaitable<void> HttpSession::tunnel(std::chrono::milliseconds idle) {
  using namespace asio::experimental::awaitable_operators;
  // Bytes that came after either head belong to the new protocol.
  if (!in_.empty()) {
    bytes_received_ += in_.size();
    auto ec = std::get<0>(co_await up_.write(in_.data()));
    in_.consume(in_.size());
    if (ec) co_return;
  }
  if (!up_in_.empty()) {
    bytes_sent_ += up_in_.size();
    if (!co_await write_client(up_in_.data())) co_return;
    up_in_.consume(up_in_.size());
  }
  // One deadline for both directions, pushed on by every byte; the tick cancels both sides.
  arm(Deadline::kTunnelIdle, idle);
  auto fail = [this] {
    down_.cancel();
    up_.cancel();
  };
  auto client_to_upstream = [&]() -> asio::awaitable<void> {
    while (true) {
      auto space = in_.prepare(kIoChunk);
      auto [ec, n] = co_await down_.read_some(space.data(), space.size());
      if (ec) {
        if (ec == asio::error::eof) {
          up_.shutdown_send();
        } else {
          fail();
        }
        co_return;
      }
      in_.commit(n);
      deadline_ = core::coarse_now() + idle;
      auto wec = std::get<0>(co_await up_.write(in_.data()));
      in_.consume(in_.size());
      if (wec) co_return fail();
      bytes_received_ += n;
    }
  };
  auto upstream_to_client = [&]() -> asio::awaitable<void> {
    while (true) {
      auto space = up_in_.prepare(kIoChunk);
      auto [ec, n] = co_await up_.read_some(space.data(), space.size());
      if (ec) {
        if (ec == asio::error::eof)
          down_.shutdown_send();
        else
          fail();
        co_return;
      }
      up_in_.commit(n);
      deadline_ = core::coarse_now() + idle;
      auto wec = std::get<0>(co_await down_.write(up_in_.data()));
      up_in_.consume(up_in_.size());
      if (wec) co_return fail();
      bytes_sent_ += n;
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
  H2Connection h2(down_, worker_.io().get_executor(), limits, std::move(hooks));
  idle_ = true;
  arm(Deadline::kKeepalive, keepalive);
  co_await h2.run(received);
  disarm();
  in_.consume(in_.size());
  if (h2.closed_on_error()) {
    // Lingering close (as nginx does): closing with unread input would reset the connection
    // and could destroy the GOAWAY that says why. Read and drop for a bounded time first.
    down_.shutdown_send();
    arm(Deadline::kDrain, std::chrono::seconds(1));
    std::array<char, 4096> sink;
    for (int i = 0; i < 256; ++i) {  // at most 1 MiB or the deadline, whichever comes first
      auto [ec, n] = co_await down_.read_some(sink.data(), sink.size());
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
  if (tls && !down_.is_stream()) {
    // The handshake has the time a request head has (slow handshakes are slowloris too).
    arm(Deadline::kRequestHead,
        view_->snapshot->config->listeners[listener_index_].timeouts.request_header);
    const char* why = nullptr;
    const bool ok = co_await down_.handshake(tls, &why);
    disarm();
    auto* stats = view_->listener_stats[listener_index_];
    if (!ok) {
      stats->tls_handshake_failures.add();
      co_return;
    }
    stats->tls_handshakes.add();
    if (down_.resumed()) stats->tls_resumed.add();
    if (down_.alpn() == "h2" || codec == config::Listener::Codec::kHttp2) {
      co_await serve_h2({});
      co_return;
    }
  } else if (codec == config::Listener::Codec::kHttp2 && !down_.is_stream()) {
    // HTTP/2 only: nghttp2 checks the preface, and anything else is a connection error
    // (GOAWAY PROTOCOL_ERROR, RFC 9113 3.4).
    co_await serve_h2({});
    co_return;
  }
  bool first = true;
  while (true) {
    if (worker_.draining() && in_.empty()) break;
    request_deadline_ = Clock::time_point::max();  // set again when the next request starts
    grpc_ = false;
    refresh_view();
    const auto& listener = view_->snapshot->config->listeners[listener_index_];
    parser_.reset();
    idle_ = in_.empty();
    if (in_.empty()) {
      arm(first ? Deadline::kRequestHead : Deadline::kKeepalive,
          first ? listener.timeouts.request_header : listener.timeouts.keepalive_idle);
    } else {
      arm(Deadline::kRequestHead, listener.timeouts.request_header);
    }
    http::ParseResult pr;
    // HTTP/2: the head came split into fields, checked here as a parsed head would be; the
    // reads below are for HTTP/1.1 heads (a stream carries one request, then ends).
    const bool h2_head = first && down_.is_stream();
    if (h2_head) {
      std::swap(req_, down_.stream()->request);
      pr = parser_.accept_fields(&req_);  // consumed is 0: nothing of in_ was the head
    }
    while (!h2_head) {
      if (first && !down_.is_stream() && !in_.empty() && codec != config::Listener::Codec::kHttp1 &&
          could_be_h2_preface(in_.data())) {
        if (in_.size() >= kH2Preface.size()) {  // h2c with prior knowledge
          disarm();
          co_await serve_h2(in_.data());
          co_return;
        }
      } else if (!in_.empty()) {
        pr = parser_.parse(in_.data(), &req_);
        if (pr.state != http::ParseResult::State::kIncomplete) break;
      }
      auto space = in_.prepare(1);
      if (space.empty()) {
        pr = http::ParseResult::error(431, "request header section too large");
        break;
      }
      auto [ec, n] = co_await down_.read_some(space.data(), space.size());
      if (ec) {
        disarm();
        auto fired = take_fired();
        if (fired == Deadline::kRequestHead && !in_.empty()) {
          method_.clear();
          co_await send_local(408, true);
        }
        co_return;
      }
      in_.commit(n);
      idle_ = false;
      if (deadline_kind_ == Deadline::kKeepalive)
        arm(Deadline::kRequestHead, listener.timeouts.request_header);
    }
    disarm();
    if (pr.is_error()) {
      view_->listener_stats[listener_index_]->parse_errors.add();
      method_.clear();
      started_ = Clock::now();
      log_target_ = "-";
      route_ = nullptr;
      upstream_key_ = nullptr;
      co_await send_local(pr.status, true, pr.reason);
      log_request(pr.status);
      co_return;
    }
    bool keep = co_await handle_request(pr.consumed);
    if (!keep || h2_head) break;  // a stream carries one request: no read to learn it ended
    first = false;
  }
  // Bytes the client sent that we will not read would turn close() into a reset, which can
  // destroy the response in the client's receive queue: send FIN first in that case. Otherwise
  // close() alone ends the connection cleanly, one syscall cheaper.
  if (!in_.empty()) down_.shutdown_send();
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
