#include "l7/http_session.h"

#include <asio/co_spawn.hpp>
#include <asio/connect.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/read.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <fmt/format.h>

#include <cstring>

#include "core/coarse_clock.h"
#include "core/log.h"
#include "http/http1_writer.h"
#include "http/path_normalizer.h"
#include "http/status.h"
#include "l7/forwarded_headers.h"
#include "l7/grpc_status.h"
#include "l7/request_key.h"

namespace sluice::l7 {
namespace {

constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr size_t kIoChunk = 16 * 1024;
constexpr size_t kBodyBufferMax = 64 * 1024;
constexpr uint32_t kMaxTries = 11;  // first try + retries.attempts (at most 10)

// Each try waits for the upstream up to retries.per_try_timeout when set, else timeouts.response.
std::chrono::milliseconds response_timeout_for(const config::Cluster& cluster) {
  return cluster.retries.per_try_timeout ? *cluster.retries.per_try_timeout
                                         : cluster.timeouts.response;
}

// The deadlines that mean "the upstream did not answer in time" (504) and "the client did not
// send in time" (408).
bool upstream_too_slow(TimeoutKind fired) {
  return fired == TimeoutKind::kResponse || fired == TimeoutKind::kRequestTotal;
}
bool client_too_slow(TimeoutKind fired) {
  return fired == TimeoutKind::kBodyIdle || fired == TimeoutKind::kRequestTotal;
}

// True if the comma-separated header value has `token` (case-insensitive) as one element.
bool list_has(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    auto item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (http::iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

bool upgrades_to_websocket(const std::vector<http::Header>& headers) {
  for (const auto& h : headers) {
    if (h.id == http::HeaderId::kUpgrade && list_has(h.value, "websocket")) return true;
  }
  return false;
}

// RFC 6455 4.1: a GET over HTTP/1.1 without a body, `Connection: upgrade`, `Upgrade: websocket`.
// Any other Upgrade (h2c above all: smuggling) is dropped with the other hop-by-hop headers.
bool is_websocket_upgrade(const http::RequestHead& req) {
  if (req.method != "GET" || req.version_minor != 1 || req.framing.body != http::BodyKind::kNone)
    return false;
  bool connection_upgrade = false;
  for (auto t : req.framing.connection_tokens) connection_upgrade |= http::iequals(t, "upgrade");
  return connection_upgrade && upgrades_to_websocket(req.headers);
}

bool is_websocket_switch(const http::ResponseHead& resp) {
  return upgrades_to_websocket(resp.headers);
}

constexpr std::string_view kH2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// The bytes so far agree with the HTTP/2 connection preface (RFC 9113 3.4).
bool could_be_h2_preface(std::string_view in) {
  return kH2Preface.substr(0, std::min(in.size(), kH2Preface.size())) ==
         in.substr(0, std::min(in.size(), kH2Preface.size()));
}

void append_header(std::string* out, std::string_view name, std::string_view value) {
  out->append(name).append(": ").append(value).append("\r\n");
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

http::Persistence HttpSession::persistence(bool close) const {
  if (close) return http::Persistence::kClose;
  return req_version_minor_ == 0 ? http::Persistence::kKeepAlive : http::Persistence::kDefault;
}

asio::awaitable<bool> HttpSession::write_response(std::string_view body, bool close) {
  // Written by the client's codec: HEADERS and DATA on an HTTP/2 stream, HTTP/1.1 bytes else.
  if (down_.is_stream()) {
    if (!down_.stream()->submit_response(resp_out_)) co_return false;
    if (body.empty()) co_return true;
    co_return co_await write_client(body);
  }
  out_.clear();
  http::write_response_head(resp_out_, /*chunked=*/false, persistence(close), &out_);
  co_return co_await write_client(out_, body);
}

asio::awaitable<void> HttpSession::send_local(int status, bool close, std::string_view detail) {
  status_ = status;
  if (grpc_) co_return co_await send_grpc_status(status, close, detail);
  auto reason = http::reason_phrase(status);
  std::string body = fmt::format("{} {}\n", status, reason);
  if (!detail.empty()) body = fmt::format("{} {}: {}\n", status, reason, detail);
  resp_out_.status = status;
  resp_out_.headers.clear();
  resp_out_.headers.add({"Content-Type", "text/plain; charset=utf-8", http::HeaderId::kOther});
  if (overloaded_) resp_out_.headers.add({"x-sluice-overloaded", "true", http::HeaderId::kOther});
  resp_out_.body = http::BodyLength::known(body.size());
  overloaded_ = false;
  if (method_ == "HEAD") body.clear();
  if (listener_index_ >= 0) view_->listener_stats[listener_index_]->local_responses[status].add();
  bytes_sent_ = body.size();
  co_await write_response(body, close);
}

asio::awaitable<bool> HttpSession::redirect_to_https(const config::Listener& listener,
                                                     size_t head_len) {
  in_.consume(head_len);
  if (host_.empty()) {  // HTTP/1.0 without Host: nowhere to send the client
    co_await send_local(400, true, "a redirect to https needs a Host header");
    log_request(400);
    co_return false;
  }
  status_ = 308;
  const bool close = !request_body_done_ || !client_keep_alive_;
  const bool bracket = host_.find(':') != std::string::npos;  // an IPv6 literal
  std::string_view port;
  std::string port_text;
  if (listener.redirect_https_port != 443) {
    port_text = ":" + std::to_string(listener.redirect_https_port);
    port = port_text;
  }
  resp_out_.status = 308;
  resp_out_.headers.clear();
  resp_out_.headers.add({"Location",
                         arena_.join(bracket ? "https://[" : "https://", host_,
                                     arena_.join(bracket ? "]" : "", port), log_target_),
                         http::HeaderId::kOther});
  resp_out_.body = http::BodyLength::known(0);
  view_->listener_stats[listener_index_]->local_responses[308].add();
  bytes_sent_ = 0;
  co_await write_response({}, close);
  log_request(308);
  co_return !close;
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

asio::awaitable<void> HttpSession::send_grpc_status(int status, bool close,
                                                    std::string_view detail) {
  // A trailers-only response: HTTP 200 whose header section carries the gRPC status.
  std::string message;
  append_grpc_message(&message, detail.empty() ? http::reason_phrase(status) : detail);
  resp_out_.status = 200;
  resp_out_.headers.clear();
  resp_out_.headers.add({"Content-Type", "application/grpc", http::HeaderId::kOther});
  resp_out_.headers.add({"grpc-status", arena_.copy(std::to_string(grpc_status_for(status))),
                         http::HeaderId::kOther});
  resp_out_.headers.add({"grpc-message", arena_.copy(message), http::HeaderId::kOther});
  resp_out_.body = http::BodyLength::known(0);
  overloaded_ = false;
  if (listener_index_ >= 0) view_->listener_stats[listener_index_]->local_responses[status].add();
  bytes_sent_ = 0;
  co_await write_response({}, close);
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

void HttpSession::build_upstream_request(const config::Listener& listener) {
  auto& up = up_req_;
  up.method = method_;
  up.scheme = down_.is_tls() ? "https" : "http";
  // An HTTP/1.0 client may send no Host; the upstream request is 1.1 and needs one.
  if (req_.host.empty()) listen_text_ = listener.listen.to_string();
  up.authority = req_.host.empty() ? std::string_view(listen_text_) : req_.host;
  up.path = path_;
  up.query = req_.query;
  up.protocol = {};
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
    facts.client_subject = down_.client_subject();
  }
  rewrite_forwarded(facts, &up.headers);
}

asio::awaitable<bool> HttpSession::handle_request(size_t head_len) {
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
  req_version_minor_ = req_.version_minor;
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
  upgrade_ = req_framing_.has_upgrade && is_websocket_upgrade(req_);
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
  // RFC 9110 6.5.1: trailers go to an HTTP/1.1 client only when it said `TE: trailers`; every
  // HTTP/2 message may carry them.
  client_takes_trailers_ = down_.is_stream();
  for (const auto& h : req_.headers) {
    if (h.id == http::HeaderId::kTe && list_has(h.value, "trailers")) client_takes_trailers_ = true;
  }

  auto finish_local = [&](int status, bool close,
                          std::string_view detail = {}) -> asio::awaitable<bool> {
    // A body we did not read would be parsed as the next request: close instead.
    if (!request_body_done_) close = true;
    in_.consume(head_len);
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
  if (req_framing_.body == http::BodyKind::kChunked) {
    if (const char* bad = http::chunked_prefix_error(in_.data().substr(head_len))) {
      view_->listener_stats[listener_index_]->body_errors_before_upstream.add();
      co_return co_await finish_local(400, true, bad);
    }
  }
  if (listener.redirect_https) co_return co_await redirect_to_https(listener, head_len);
  RouteInput input{req_.method,   host_,      path_, req_.query,
                   &req_.headers, client_ip_, {},    down_.client_subject()};
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
  // The upstream head's views point into in_ (and the HTTP/2 stream's storage): an HTTP/1.1
  // backend gets it written out now, an h2 one has it submitted before in_ is read again.
  out_.clear();
  if (!cluster.config->upstream_h2) http::write_request_head(up_req_, &out_, upgrade_);
  in_.consume(head_len);

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
    outcome = co_await exchange(cluster, reused, &body_started,
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

void HttpSession::note_try(const ClusterRuntime& cluster, int index, bool failed) {
  worker_.note_endpoint(cluster, index, failed);
}

void HttpSession::close_upstream() {
  if (up_.is_open()) up_.close();
  up_token_.reset();
}

asio::awaitable<bool> HttpSession::take_h2_stream() {
  // While another session opens a connection, wait until it is ready (its SETTINGS say how
  // many streams it takes) rather than open one each; a burst larger than that waits for the
  // next one, a few rounds at most, then opens its own.
  if (worker_.h2_stream(*pool_key_, &up_)) co_return true;
  for (int round = 0; round < 4; ++round) {
    auto* opening = worker_.h2_waiter(*pool_key_);
    if (!opening) break;
    co_await opening->async_wait(kNoThrow);  // woken when it is ready or has failed
    if (worker_.h2_stream(*pool_key_, &up_)) co_return true;
  }
  co_return false;
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
    worker_.adopt_h2(*pool_key_, std::move(up_.socket()), up_.release_ssl(), &up_, opener,
                     cfg.timeouts.connect);
  }
  cluster_stats_->upstream_connections.add();
  if (shared) up_token_ = ConnectionToken(cluster.shared);
  co_return ConnectResult::kConnected;
}

asio::awaitable<Outcome> HttpSession::exchange(const ClusterRuntime& cluster, bool reused,
                                               bool* body_started,
                                               const std::vector<int>* retry_statuses) {
  (void)cluster;
  std::string_view prefix;
  if (req_framing_.body == http::BodyKind::kContentLength) {
    prefix = in_.data().substr(
        0, static_cast<size_t>(std::min<uint64_t>(in_.size(), req_framing_.content_length)));
  }
  // Closed before answering: on a pooled connection that is the stale case (safe to resend on
  // a fresh one), otherwise a reset of this try. An HTTP/2 stream the backend refused is as
  // safe to resend, whatever connection it was on.
  auto closed = [&] {
    return (reused || up_.refused()) && !*body_started ? Outcome::kStale : Outcome::kReset;
  };
  // An HTTP/2 backend takes the head as it is; an HTTP/1.1 one gets out_, written at once.
  if (up_.is_stream() && !up_.stream()->submit_head(up_req_)) co_return closed();
  // write_upstream() written out: one coroutine frame fewer per request.
  arm(Deadline::kResponse, cluster_config_->timeouts.response);
  const auto head_ec = std::get<0>(co_await up_.write(out_, prefix));
  disarm();
  if (head_ec) {
    if (upstream_too_slow(take_fired())) {
      local_status_ = 504;
      co_return Outcome::kLocalResponse;
    }
    co_return closed();
  }
  if (!prefix.empty()) {
    *body_started = true;
    in_.consume(prefix.size());
    bytes_received_ += prefix.size();
  }
  if (req_framing_.body != http::BodyKind::kNone) {
    Outcome outcome = Outcome::kDone;
    *body_started = true;
    if (!co_await send_request_body(&outcome)) co_return outcome;
  }
  auto outcome = co_await relay_response(retry_statuses);
  if (outcome == Outcome::kStale) outcome = closed();
  co_return outcome;
}

asio::awaitable<bool> HttpSession::send_request_body(Outcome* outcome) {
  const auto& listener = view_->snapshot->config->listeners[listener_index_];
  uint64_t sent = bytes_received_;
  bool sent_continue = false;
  // Reads more body bytes from the client; on failure sets *outcome. `ended`: an HTTP/2 body
  // of unknown length, whose end is the end of its stream (EOF), which then sets *ended.
  auto read_more = [&](bool* ended = nullptr) -> asio::awaitable<bool> {
    if (req_framing_.expect_continue && !sent_continue && req_version_minor_ == 1 &&
        !down_.is_stream()) {
      sent_continue = true;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      if (!co_await write_client(kContinue)) {
        *outcome = Outcome::kAborted;
        co_return false;
      }
    }
    auto space = in_.prepare(kIoChunk);
    arm(Deadline::kBodyIdle, listener.timeouts.request_body_idle);
    auto [ec, n] = co_await down_.read_some(space.data(), space.size());
    disarm();
    if (ec == asio::error::eof && ended) {
      *ended = true;
      co_return true;
    }
    if (ec) {
      if (client_too_slow(take_fired())) {
        local_status_ = 408;
        *outcome = Outcome::kLocalResponse;
      } else {
        local_status_ = 0;  // the client is gone; nobody to answer
        *outcome = Outcome::kAborted;
      }
      co_return false;
    }
    in_.commit(n);
    co_return true;
  };
  auto upstream_failed = [&]() {
    local_status_ = upstream_too_slow(take_fired()) ? 504 : 502;
    *outcome = Outcome::kLocalResponse;
    return false;
  };

  if (req_framing_.body == http::BodyKind::kContentLength) {
    uint64_t remaining = req_framing_.content_length - sent;
    while (remaining > 0) {
      if (in_.empty() && !co_await read_more()) co_return false;
      auto chunk =
          in_.data().substr(0, static_cast<size_t>(std::min<uint64_t>(in_.size(), remaining)));
      if (!co_await write_upstream(chunk)) co_return upstream_failed();
      in_.consume(chunk.size());
      remaining -= chunk.size();
      bytes_received_ += chunk.size();
    }
    request_body_done_ = true;
    co_return true;
  }

  // A body of unknown length: chunks for an HTTP/1.1 backend, DATA as it is for an h2 one.
  std::string pending;  // CRLF that ends the previous chunk, sent with the next write
  char size_line[24];
  auto forward = [&](std::string_view data) -> asio::awaitable<bool> {
    if (up_.is_stream()) co_return co_await write_upstream(data);
    size_t n = http::write_chunk_size(data.size(), size_line);
    pending.append(size_line, n);
    const bool ok = co_await write_upstream(pending, data);
    pending.assign("\r\n");
    co_return ok;
  };
  // The end, with the trailers: a last chunk and trailer section, or a HEADERS frame.
  auto finish = [&](const std::vector<http::Header>& trailers) -> asio::awaitable<bool> {
    request_body_done_ = true;
    if (up_.is_stream()) {
      up_.stream()->end_body(trailers);
      co_return true;
    }
    pending.append("0\r\n");
    for (const auto& t : trailers)
      pending.append(t.name).append(": ").append(t.value).append("\r\n");
    pending.append("\r\n");
    co_return co_await write_upstream(pending);
  };

  if (down_.is_stream()) {
    // HTTP/2 DATA: the bytes are the body, the end of the stream its end.
    while (true) {
      bool ended = false;
      if (in_.empty() && !co_await read_more(&ended)) co_return false;
      if (ended) break;
      bytes_received_ += in_.size();
      if (max_body_ != 0 && bytes_received_ > max_body_) {
        local_status_ = 413;
        *outcome = Outcome::kLocalResponse;
        co_return false;
      }
      if (!co_await forward(in_.data())) co_return upstream_failed();
      in_.consume(in_.size());
    }
    if (!co_await finish(down_.stream()->request_trailer_fields())) co_return upstream_failed();
    co_return true;
  }

  // Chunked: decode strictly, re-encode canonically (no extensions reach the backend).
  chunked_.reset();
  while (true) {
    if (in_.empty() && !co_await read_more()) co_return false;
    auto step = chunked_.step(in_.data());
    if (step.error) {
      // Part of the request went upstream already: the caller closes that connection (never
      // pooled, the backend may be waiting for the rest of a body that will not come).
      view_->listener_stats[listener_index_]->body_errors_after_upstream.add();
      local_status_ = 400;
      local_detail_ = step.reason;
      *outcome = Outcome::kLocalResponse;
      co_return false;
    }
    if (!step.data.empty()) {
      bytes_received_ += step.data.size();
      if (max_body_ != 0 && bytes_received_ > max_body_) {
        local_status_ = 413;
        *outcome = Outcome::kLocalResponse;
        co_return false;
      }
      if (!co_await forward(step.data)) co_return upstream_failed();
    }
    if (step.done) {
      in_.consume(step.consumed);
      if (!co_await finish(chunked_.trailer_fields())) co_return upstream_failed();
      co_return true;
    }
    if (step.consumed == 0) {
      if (!co_await read_more()) co_return false;
      continue;
    }
    in_.consume(step.consumed);
  }
}

void HttpSession::make_client_response(const http::ResponseHead& resp) {
  resp_out_.status = resp.status;
  auto& fields = resp_out_.headers.fields();
  fields.clear();
  fields.reserve(resp.headers.size() + 1);  // one allocation, on a session's first response
  for (const auto& h : resp.headers) {
    if (http::is_hop_by_hop(h, resp.framing) || h.id == http::HeaderId::kContentLength) continue;
    fields.push_back(h);
  }
  switch (resp.framing.body) {
    case http::BodyKind::kContentLength:
      resp_out_.body = http::BodyLength::known(resp.framing.content_length);
      break;
    case http::BodyKind::kNone:
      resp_out_.body = http::BodyLength::none();
      // A HEAD (or 304) answer states the length a GET would have had.
      if (resp.framing.has_content_length && resp.status != 204 && resp.status >= 200) {
        fields.push_back({"Content-Length",
                          arena_.copy(std::to_string(resp.framing.content_length)),
                          http::HeaderId::kContentLength});
      }
      break;
    default:
      resp_out_.body = http::BodyLength::until_end();
      break;
  }
}

asio::awaitable<Outcome> HttpSession::relay_response(const std::vector<int>* retry_statuses) {
  up_in_.clear();
  const auto response_timeout = response_timeout_for(*cluster_config_);
  if (up_.is_stream()) {
    // An h2 backend's head comes as fields: no bytes to parse.
    arm(Deadline::kResponse, response_timeout);
    const auto ec = co_await up_.stream()->wait_for_head();
    disarm();
    if (ec) {
      if (upstream_too_slow(take_fired())) {
        local_status_ = 504;
        co_return Outcome::kLocalResponse;
      }
      co_return Outcome::kStale;  // closed before answering
    }
    up_.stream()->response_head(method_, &resp_);
  }
  while (!up_.is_stream()) {
    resp_parser_.reset();
    http::ParseResult pr;
    arm(Deadline::kResponse, response_timeout);
    while (true) {
      if (!up_in_.empty()) {
        pr = resp_parser_.parse(up_in_.data(), method_, &resp_);
        if (pr.state != http::ParseResult::State::kIncomplete) break;
      }
      auto space = up_in_.prepare(1);
      if (space.empty()) {
        pr = http::ParseResult::error(502, "response head too large");
        break;
      }
      auto [ec, n] = co_await up_.read_some(space.data(), space.size());
      if (ec) {
        disarm();
        if (upstream_too_slow(take_fired())) {
          local_status_ = 504;
          co_return Outcome::kLocalResponse;
        }
        if (up_in_.empty()) co_return Outcome::kStale;  // closed before answering
        local_status_ = 502;
        local_detail_ = "upstream closed mid-head";
        co_return Outcome::kLocalResponse;
      }
      up_in_.commit(n);
    }
    disarm();
    if (pr.is_error()) {
      local_status_ = 502;
      local_detail_ = pr.reason;
      co_return Outcome::kLocalResponse;
    }
    if (resp_.status >= 100 && resp_.status < 200) {
      if (resp_.status == 101) {
        // Only a WebSocket handshake we forwarded may switch; anything else is a protocol error.
        if (!upgrade_ || !is_websocket_switch(resp_)) {
          local_status_ = 502;
          local_detail_ = "unexpected 101 Switching Protocols";
          co_return Outcome::kLocalResponse;
        }
        up_in_.consume(pr.consumed);
        if (down_.is_stream()) {  // RFC 8441: the client's CONNECT succeeds with a 200
          status_ = 200;
          co_return down_.submit_tunnel(resp_) ? Outcome::kUpgraded : Outcome::kAborted;
        }
        out_.assign("HTTP/1.1 101 Switching Protocols\r\n");
        for (const auto& h : resp_.headers) {
          if (http::is_hop_by_hop(h, resp_.framing)) continue;
          append_header(&out_, h.name, h.value);
        }
        out_.append("Connection: upgrade\r\nUpgrade: websocket\r\n\r\n");
        status_ = 101;
        if (!co_await write_client(out_)) co_return Outcome::kAborted;
        co_return Outcome::kUpgraded;
      }
      up_in_.consume(pr.consumed);  // interim responses are not relayed (we answer 100 ourselves)
      continue;
    }
    up_in_.consume(pr.consumed);
    break;
  }

  if (retry_statuses && std::find(retry_statuses->begin(), retry_statuses->end(), resp_.status) !=
                            retry_statuses->end()) {
    // Another endpoint will be asked; this answer (and its connection) is dropped unseen.
    status_ = resp_.status;
    up_.close();
    co_return Outcome::kRetryStatus;
  }
  const auto body = resp_.framing.body;
  const bool delimited_by_chunks =
      body == http::BodyKind::kChunked || body == http::BodyKind::kUntilClose;
  // An HTTP/2 stream's DATA needs no framing; an HTTP/1.1 client gets chunks, an HTTP/1.0 one
  // the close.
  const bool chunk_to_client = delimited_by_chunks && req_version_minor_ == 1 && !down_.is_stream();
  if (delimited_by_chunks && req_version_minor_ == 0) client_keep_alive_ = false;
  if (worker_.draining()) client_keep_alive_ = false;
  if (!request_body_done_) client_keep_alive_ = false;
  make_client_response(resp_);
  const bool to_stream = down_.is_stream();
  if (to_stream) {
    if (!down_.stream()->submit_response(resp_out_)) co_return Outcome::kAborted;
  } else {
    out_.clear();
    http::write_response_head(resp_out_, chunk_to_client, persistence(!client_keep_alive_), &out_);
  }
  status_ = resp_.status;
  const bool upstream_keep_alive = resp_.framing.keep_alive;

  // The upstream connection goes back to the pool as soon as its last response byte is read,
  // which for a small response is before the client write: the next request can use it at once.
  bool upstream_released = false;
  auto release_upstream = [&] {
    if (upstream_released) return;
    upstream_released = true;
    if (upstream_keep_alive && body != http::BodyKind::kUntilClose && up_in_.empty() &&
        request_body_done_ && !up_.is_stream()) {
      worker_.pool().give_back(*pool_key_, std::move(up_.socket()), up_.release_ssl(),
                               std::move(up_token_), cluster_config_->max_idle_per_endpoint,
                               core::coarse_now());
      // A moved-from socket is a closed one on the same executor (Asio's move guarantee): no
      // new socket object, which would take the io_context's service-registry lock.
    } else {
      up_.close();  // an HTTP/2 stream ends here; its connection stays for the others
    }
  };
  std::string_view prefix;
  if (body == http::BodyKind::kContentLength) {
    prefix = up_in_.data().substr(
        0, static_cast<size_t>(std::min<uint64_t>(up_in_.size(), resp_.framing.content_length)));
  }
  const bool complete =
      body == http::BodyKind::kNone ||
      (body == http::BodyKind::kContentLength && prefix.size() == resp_.framing.content_length);
  if (complete) {
    // consume() only moves the cursor: `prefix` stays valid while the connection is pooled.
    up_in_.consume(prefix.size());
    release_upstream();  // reusable only if the upstream sent nothing after the response
  }
  std::string_view head = to_stream ? std::string_view() : std::string_view(out_);
  std::string_view rest = prefix;
  bool written = false;
  if (!write_client_now(&head, &rest, &written)) written = co_await write_client(head, rest, true);
  if (!written) co_return Outcome::kAborted;
  if (!complete) up_in_.consume(prefix.size());
  bytes_sent_ += prefix.size();
  // A complete response has no more body to relay: no coroutine is started for it.
  if (!complete && !co_await relay_response_body(chunk_to_client)) co_return Outcome::kAborted;
  release_upstream();
  co_return Outcome::kDone;
}

asio::awaitable<bool> HttpSession::relay_response_body(bool chunk_to_client) {
  const auto response_timeout = response_timeout_for(*cluster_config_);
  const auto body = resp_.framing.body;
  if (body == http::BodyKind::kNone) co_return true;
  // Reads more upstream bytes; false on error, timeout, or (unless `eof_ok`) end of stream.
  bool eof = false;
  auto read_more = [&](bool eof_ok) -> asio::awaitable<bool> {
    auto space = up_in_.prepare(kIoChunk);
    arm(Deadline::kResponse, response_timeout);
    auto [ec, n] = co_await up_.read_some(space.data(), space.size());
    disarm();
    if (ec) {
      take_fired();
      if (ec == asio::error::eof && eof_ok) {
        eof = true;
        co_return true;
      }
      co_return false;
    }
    up_in_.commit(n);
    co_return true;
  };

  if (body == http::BodyKind::kContentLength) {
    uint64_t remaining = resp_.framing.content_length - bytes_sent_;
    while (remaining > 0) {
      if (up_in_.empty() && !co_await read_more(false)) co_return false;
      auto chunk = up_in_.data().substr(
          0, static_cast<size_t>(std::min<uint64_t>(up_in_.size(), remaining)));
      std::string_view a = chunk, b;
      bool written = false;
      if (!write_client_now(&a, &b, &written)) written = co_await write_client(a, b, true);
      if (!written) co_return false;
      up_in_.consume(chunk.size());
      remaining -= chunk.size();
      bytes_sent_ += chunk.size();
    }
    co_return true;
  }

  std::string pending;
  char size_line[24];
  auto emit = [&](std::string_view data) -> asio::awaitable<bool> {
    bytes_sent_ += data.size();
    if (!chunk_to_client) co_return co_await write_client(data);
    size_t n = http::write_chunk_size(data.size(), size_line);
    pending.append(size_line, n);
    bool ok = co_await write_client(pending, data);
    pending.assign("\r\n");
    co_return ok;
  };

  if (body == http::BodyKind::kUntilClose) {
    while (true) {
      if (up_in_.empty()) {
        if (!co_await read_more(true)) co_return false;
        if (eof) break;
        continue;
      }
      if (!co_await emit(up_in_.data())) co_return false;
      up_in_.clear();
    }
    if (chunk_to_client) {
      pending.append("0\r\n\r\n");
      co_return co_await write_client(pending);
    }
    if (down_.is_stream()) down_.stream()->end_body({});  // the close was the end
    co_return true;
  }

  // The end of a body of unknown length, with its trailers: a last chunk and trailer section
  // for an HTTP/1.1 client (the trailers only if it said TE: trailers), HEADERS for an h2 one.
  auto finish = [&](const std::vector<http::Header>& trailers) -> asio::awaitable<bool> {
    if (down_.is_stream()) {
      down_.stream()->end_body(trailers);
      co_return true;
    }
    if (!chunk_to_client) co_return true;
    pending.append("0\r\n");
    if (client_takes_trailers_) {
      for (const auto& t : trailers)
        pending.append(t.name).append(": ").append(t.value).append("\r\n");
    }
    pending.append("\r\n");
    co_return co_await write_client(pending);
  };

  if (up_.is_stream()) {  // DATA until the stream ends, then its trailers
    while (true) {
      if (up_in_.empty()) {
        if (!co_await read_more(true)) co_return false;
        if (eof) break;
        continue;
      }
      if (!co_await emit(up_in_.data())) co_return false;
      up_in_.clear();
    }
    co_return co_await finish(up_.stream()->response_trailer_fields());
  }

  chunked_.reset();
  while (true) {
    if (up_in_.empty() && !co_await read_more(false)) co_return false;
    auto step = chunked_.step(up_in_.data());
    if (step.error) co_return false;  // the client sees a truncated response, never a bad one
    if (!step.data.empty() && !co_await emit(step.data)) co_return false;
    if (step.done) {
      up_in_.consume(step.consumed);
      co_return co_await finish(chunked_.trailer_fields());
    }
    if (step.consumed == 0) {
      if (!co_await read_more(false)) co_return false;
      continue;
    }
    up_in_.consume(step.consumed);
  }
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
