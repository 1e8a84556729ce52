#include "l7/h2_client.h"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <asio/experimental/awaitable_operators.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <vector>

#include "http/chunked_decoder.h"
#include "http/status.h"
#include "l7/h2_bridge.h"
#include "l7/tls_io.h"

namespace sluice::l7 {
namespace {
using namespace std::string_view_literals;  // appends of known length, no strlen
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kWriteBatch = 64 * 1024;

std::string_view view(const uint8_t* p, size_t n) { return {reinterpret_cast<const char*>(p), n}; }

using h2_bridge::make_nv;

// Fields an HTTP/2 request must not carry: those of one connection, and Host (the authority
// goes as :authority).
bool not_for_h2(std::string_view name) {
  const auto id = http::classify_header(name);
  return http::is_connection_specific(id) || id == http::HeaderId::kHost;
}

}  // namespace

// ---- a stream, as the session sees it ----

void H2UpStream::reopen_window(size_t n) { client->consumed(*this, n); }

asio::awaitable<std::tuple<std::error_code, size_t>> H2UpStream::write(std::string_view a,
                                                                       std::string_view b) {
  const std::tuple<std::error_code, size_t> reset{asio::error::connection_reset, 0};
  if (closed || !client || id < 0) co_return reset;
  // Body bytes, DATA as they are: a known length ends the stream when it is all there, an
  // unknown one at end_body().
  out.append(a);
  out.append(b);
  if (known_length) {
    const uint64_t n = a.size() + b.size();
    remaining = n < remaining ? remaining - n : 0;
    if (remaining == 0) out_eof = true;
  }
  client->resume(*this);
  auto ec = co_await wait_for_room();
  co_return std::tuple{ec, ec ? size_t{0} : a.size() + b.size()};
}

bool H2UpStream::submit_head(const http::Request& req) {
  if (closed || !client) return false;
  // HTTP/2 field names are lower case (RFC 9113 8.2.1): a name that is not gets a lowered copy.
  names.clear();
  names.reserve(req.headers.size());
  std::vector<nghttp2_nv> nv;
  nv.reserve(req.headers.size() + 5);
  const std::string path = req.query.empty() ? std::string(req.path)
                                             : std::string(req.path).append("?").append(req.query);
  nv.push_back(make_nv(":method", req.method));
  nv.push_back(make_nv(":scheme", req.scheme));
  nv.push_back(make_nv(":authority", req.authority));
  nv.push_back(make_nv(":path", path));
  bool grpc = false;
  for (const auto& h : req.headers) {
    if (not_for_h2(h.name)) continue;
    std::string_view name = h.name;
    if (std::any_of(name.begin(), name.end(), [](char c) { return c >= 'A' && c <= 'Z'; })) {
      std::string lower(name);
      std::transform(lower.begin(), lower.end(), lower.begin(), http::ascii_lower);
      names.push_back(std::move(lower));
      name = names.back();
    }
    if (name == "content-type" && h.value.rfind("application/grpc", 0) == 0) grpc = true;
    nv.push_back(make_nv(name, h.value));
  }
  // gRPC servers insist on it (it says the client understands trailers, which we carry).
  if (grpc) nv.push_back(make_nv("te", "trailers"));
  known_length = req.body.kind != http::BodyLength::Kind::kUntilEnd;
  remaining = req.body.kind == http::BodyLength::Kind::kKnown ? req.body.length : 0;
  out_eof = req.body.empty();
  return client->submit(*this, nv, !out_eof);
}

void H2UpStream::end_body(const std::vector<http::Header>& fields) {
  for (const auto& f : fields) {
    std::string name(f.name);
    std::transform(name.begin(), name.end(), name.begin(), http::ascii_lower);
    if (!not_for_h2(name)) trailers.emplace_back(std::move(name), f.value);
  }
  out_eof = true;
  if (client && id >= 0) client->resume(*this);
}

asio::awaitable<std::tuple<std::error_code, size_t>> H2UpStream::wait_for_head() {
  while (!head_received) {
    if (take_cancelled()) co_return std::tuple{asio::error::operation_aborted, size_t{0}};
    if (closed || in_ended || !client)
      co_return std::tuple{asio::error::connection_reset, size_t{0}};
    co_await wait();
  }
  co_return std::tuple{std::error_code(), size_t{0}};
}

void H2UpStream::response_head(std::string_view method, http::ResponseHead* head) const {
  head->clear();
  head->status = status;
  head->headers.reserve(spans.size());
  const std::string_view all = store;
  auto& framing = head->framing;
  for (const auto& [name_at, name_len, value_at, value_len] : spans) {
    const auto name = all.substr(name_at, name_len);
    const auto value = all.substr(value_at, value_len);
    const auto id = http::classify_header(name);
    if (id == http::HeaderId::kContentLength) {
      uint64_t n = 0;
      auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec == std::errc() && end == value.data() + value.size()) {  // nghttp2 checked it
        framing.has_content_length = true;
        framing.content_length = n;
      }
    }
    head->headers.push_back({name, value, id});
  }
  // A body's framing is the stream's: a known length, none at all, or DATA until its end (the
  // session reads that as a body of unknown length, like a chunked one).
  if (head_ended_stream && !framing.has_content_length) {
    framing.has_content_length = true;  // an HTTP/1.1 client must not wait for a close
    framing.content_length = 0;
  }
  const bool no_body = method == "HEAD" || status == 204 || status == 304 || head_ended_stream;
  if (no_body || (framing.has_content_length && framing.content_length == 0)) {
    framing.body = http::BodyKind::kNone;
  } else if (framing.has_content_length) {
    framing.body = http::BodyKind::kContentLength;
  } else {
    framing.body = http::BodyKind::kChunked;
  }
}

std::vector<http::Header> H2UpStream::response_trailer_fields() const {
  std::vector<http::Header> fields;
  fields.reserve(response_trailers.size());
  for (const auto& [name, value] : response_trailers)
    fields.push_back({name, value, http::classify_header(name)});
  return fields;
}

void H2UpStream::finish() {
  if (finished) return;
  finished = true;
  if (!client) return;
  client->give_back();
  if (!closed && id >= 0) client->reset(*this);
  client.reset();
}

// ---- the connection ----

H2Client::H2Client(asio::io_context& io, asio::ip::tcp::socket socket, SSL* ssl)
    : io_(io),
      socket_(std::move(socket)),
      write_wake_(io, std::chrono::steady_clock::time_point::max()),
      settings_timer_(io),
      ssl_(ssl) {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_session_client_new2(&session_, cb, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
  std::array<nghttp2_settings_entry, 2> settings{{
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 256 * 1024},
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, 4 * 1024 * 1024);
}

H2Client::~H2Client() {
  fail_all();
  nghttp2_session_del(session_);
  if (ssl_) SSL_free(ssl_);
}

void H2Client::fail_all() {
  auto all = std::move(streams_);
  for (auto& [id, s] : all) {
    s->closed = true;
    s->notify();
  }
}

void H2Client::start(std::chrono::milliseconds settings_timeout) {
  settings_timer_.expires_after(settings_timeout);
  settings_timer_.async_wait([weak = weak_from_this()](std::error_code ec) {
    auto self = weak.lock();
    if (!ec && self && !self->settings_received_) self->stop();
  });
  asio::co_spawn(
      io_,
      [self = shared_from_this()]() -> asio::awaitable<void> {
        using namespace asio::experimental::awaitable_operators;
        co_await (self->read_loop() && self->write_loop());
        std::error_code ec;
        self->socket_.close(ec);
        self->fail_all();
      },
      asio::detached);
}

bool H2Client::alive() const { return !done_ && !goaway_ && socket_.is_open(); }

void H2Client::become_ready() {
  if (auto ready = std::move(ready_)) {
    ready_ = nullptr;
    ready();
  }
}

bool H2Client::has_room() const {
  // Counted from open_stream, not from submit: a burst of sessions in one turn of the loop must
  // not all pick a connection with one free slot. Before the backend's SETTINGS its limit is
  // unknown (only the opener's stream goes; a backend may refuse streams above its limit).
  return alive() && settings_received_ &&
         taken_ <
             nghttp2_session_get_remote_settings(session_, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

void H2Client::stop() {
  done_ = true;
  std::error_code ec;
  socket_.cancel(ec);
  kick();
}

std::shared_ptr<H2UpStream> H2Client::open_stream() {
  auto s = std::make_shared<H2UpStream>(io_.get_executor());
  s->client = shared_from_this();
  ++taken_;
  return s;
}

bool H2Client::submit(H2UpStream& s, std::vector<nghttp2_nv>& nv, bool has_body) {
  nghttp2_data_provider provider{};
  provider.source.ptr = &s;
  provider.read_callback = h2_bridge::read_data<H2UpStream>;
  int32_t id = nghttp2_submit_request(session_, nullptr, nv.data(), nv.size(),
                                      has_body ? &provider : nullptr, &s);
  if (id < 0) return false;
  s.id = id;
  streams_[id] = s.shared_from_this();  // until nghttp2 closes the stream
  kick();
  return true;
}

void H2Client::consumed(H2UpStream& s, size_t n) {
  if (s.closed) {
    nghttp2_session_consume_connection(session_, n);
  } else {
    nghttp2_session_consume(session_, s.id, n);
  }
  kick();
}

void H2Client::resume(H2UpStream& s) {
  if (s.deferred) {
    s.deferred = false;
    nghttp2_session_resume_data(session_, s.id);
  }
  kick();
}

void H2Client::reset(H2UpStream& s) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, NGHTTP2_CANCEL);
  kick();
}

asio::awaitable<void> H2Client::read_loop() {
  std::string buf(kReadChunk, '\0');
  while (!done_) {
    auto [ec, n] = ssl_
                       ? co_await tls_io::read_some(socket_, ssl_, buf.data(), buf.size(), &broken_)
                       : co_await socket_.async_read_some(asio::buffer(buf), kNoThrow);
    if (ec) break;
    if (nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(buf.data()), n) < 0)
      break;
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) break;
    kick();
  }
  done_ = true;
  become_ready();  // it never was: the waiters look again
  kick();
}

asio::awaitable<void> H2Client::write_loop() {
  while (true) {
    while (pending_.size() < kWriteBatch) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;
      pending_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    if (!pending_.empty()) {
      std::error_code ec;
      if (ssl_) {
        ec = std::get<0>(co_await tls_io::write(socket_, ssl_, pending_, &broken_));
      } else {
        auto [wec, n] = co_await asio::async_write(socket_, asio::buffer(pending_), kNoThrow);
        ec = wec;
      }
      pending_.clear();
      if (ec) {
        done_ = true;
        std::error_code ignored;
        socket_.cancel(ignored);
        co_return;
      }
      continue;
    }
    if (done_) co_return;
    co_await write_wake_.async_wait(kNoThrow);
  }
}

int H2Client::on_header(nghttp2_session* session, const nghttp2_frame* frame, const uint8_t* name,
                        size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void*) {
  auto* s =
      static_cast<H2UpStream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (!s || frame->hd.type != NGHTTP2_HEADERS) return 0;
  auto n = view(name, namelen);
  auto v = view(value, valuelen);
  if (s->head_received) {  // trailers
    if (!n.empty() && n[0] != ':') s->response_trailers.emplace_back(n, v);
  } else if (n == ":status") {
    std::from_chars(v.data(), v.data() + v.size(), s->status);
  } else if (!n.empty() && n[0] != ':') {
    const auto at = static_cast<uint32_t>(s->store.size());
    s->store.append(n).append(v);
    s->spans.push_back({at, static_cast<uint32_t>(namelen), at + static_cast<uint32_t>(namelen),
                        static_cast<uint32_t>(valuelen)});
  }
  return 0;
}

int H2Client::on_frame_recv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<H2Client*>(user);
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    self->goaway_ = true;  // finish what is in flight, take no new stream
    self->become_ready();
    return 0;
  }
  if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK)) {
    self->settings_received_ = true;
    self->settings_timer_.cancel();
    self->become_ready();
    return 0;
  }
  auto* s =
      static_cast<H2UpStream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (!s) return 0;
  const bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  // nghttp2 files a final response after a 1xx under HCAT_HEADERS, like trailers.
  if (frame->hd.type == NGHTTP2_HEADERS && !s->head_received) {
    if (s->status < 200) {  // interim: the session answers 100 itself
      s->store.clear();
      s->spans.clear();
      s->status = 0;
      return 0;
    }
    s->head_received = true;
    s->head_ended_stream = end_stream;
    if (end_stream) s->in_ended = true;
    s->notify();
    return 0;
  }
  if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) && end_stream) {
    s->in_ended = true;  // after the last DATA, or trailers
    s->notify();
  }
  return 0;
}

int H2Client::on_data_chunk(nghttp2_session* session, uint8_t, int32_t stream_id,
                            const uint8_t* data, size_t len, void*) {
  auto* s = static_cast<H2UpStream*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (!s || s->finished) {
    nghttp2_session_consume(session, stream_id, len);
    return 0;
  }
  s->in.append(view(data, len));  // the body as it is
  s->unconsumed += len;
  s->notify();
  return 0;
}

int H2Client::on_stream_close(nghttp2_session* session, int32_t stream_id, uint32_t error_code,
                              void* user) {
  auto* self = static_cast<H2Client*>(user);
  auto* s = static_cast<H2UpStream*>(nghttp2_session_get_stream_user_data(session, stream_id));
  if (s) {
    s->closed = true;
    if (error_code == NGHTTP2_REFUSED_STREAM) s->refused = true;
    if (s->unconsumed > 0) {
      nghttp2_session_consume_connection(session, s->unconsumed);
      s->unconsumed = 0;
    }
    s->notify();
  }
  self->streams_.erase(stream_id);
  return 0;
}

}  // namespace sluice::l7
