#include "l7/h2_connection.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <asio/co_spawn.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <vector>

#include "http/message.h"
#include "http/status.h"
#include "l7/downstream.h"
#include "l7/h2_bridge.h"

namespace sluice::l7 {
namespace {
using namespace std::string_view_literals;  // appends of known length, no strlen
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr size_t kReadChunk = 16 * 1024;
constexpr size_t kWriteBatch = 64 * 1024;
// Useless frames (PING, SETTINGS, RST_STREAM, empty DATA...) allowed at once: below nghttp2's
// limit of 1000 queued ACKs, so that a flood meets this check (and its GOAWAY) first.
constexpr uint32_t kMaxGlitches = 500;
constexpr uint32_t kGlitchesLeakPerSecond = 100;  // ... and how fast that allowance comes back
constexpr uint32_t kMaxContinuations = 8;         // frames per header block
constexpr uint32_t kMaxEmptyDataFrames = 64;      // per stream

std::string_view view(const uint8_t* p, size_t n) { return {reinterpret_cast<const char*>(p), n}; }

}  // namespace

H2Connection::H2Connection(Downstream& down, asio::any_io_executor ex, Limits limits, Hooks hooks)
    : down_(down),
      limits_(limits),
      hooks_(std::move(hooks)),
      write_wake_(ex, std::chrono::steady_clock::time_point::max()),
      ex_(ex) {
  nghttp2_session_callbacks* cb = nullptr;
  nghttp2_session_callbacks_new(&cb);
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cb, on_invalid_frame);
  nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
  nghttp2_option* opt = nullptr;
  nghttp2_option_new(&opt);
  // Windows reopen only as sessions read the data (bounded buffering).
  nghttp2_option_set_no_auto_window_update(opt, 1);
  nghttp2_option_set_max_outbound_ack(opt, 1000);  // SETTINGS/PING floods
  nghttp2_option_set_max_settings(opt, 32);        // entries per SETTINGS frame
  // Rapid reset (CVE-2023-44487) is counted with the glitches below (ENHANCE_YOUR_CALM);
  // nghttp2's own limit stays as a backstop.
  nghttp2_option_set_stream_reset_rate_limit(opt, 2000, 200);
  nghttp2_option_set_max_continuations(opt, 8);  // CONTINUATION flood
  nghttp2_option_set_max_deflate_dynamic_table_size(opt, 4096);
  nghttp2_session_server_new2(&session_, cb, this, opt);
  nghttp2_option_del(opt);
  nghttp2_session_callbacks_del(cb);
}

H2Connection::~H2Connection() {
  for (auto& [id, s] : streams_) {
    s->connection = nullptr;
    s->closed = true;
    s->notify();
  }
  nghttp2_session_del(session_);
}

void H2Connection::kick() { write_wake_.cancel(); }

std::shared_ptr<H2Stream>* H2Connection::find_stream(int32_t id) {
  if (found_ && id == found_id_) return found_;
  auto it = streams_.find(id);
  if (it == streams_.end()) return nullptr;
  found_id_ = id;
  found_ = &it->second;
  return found_;
}

void H2Connection::start_streams() {
  // The streams of one read start together once nghttp2 has parsed it all, rather than each in
  // the middle of the parse: nghttp2's code, then the sessions' code, each run as a batch and
  // stay in the instruction cache (measured: fewer L1i misses per request under h2load).
  for (size_t i = 0; i < starting_.size(); ++i) hooks_.start_stream(std::move(starting_[i]));
  starting_.clear();
}

void H2Connection::terminate(uint32_t error_code) {
  if (goaway_sent_) return;
  nghttp2_session_terminate_session(session_, error_code);
  goaway_sent_ = true;
  closed_on_error_ = true;
}

bool H2Connection::glitch() {
  // A leaky bucket: a long-lived connection may ping now and then, a flood fills it at once.
  const auto now = std::chrono::steady_clock::now();
  const auto drained = std::chrono::duration_cast<std::chrono::milliseconds>(now - glitch_time_);
  const auto leak = static_cast<uint32_t>(drained.count() * kGlitchesLeakPerSecond / 1000);
  if (leak > 0) {
    glitches_ = glitches_ > leak ? glitches_ - leak : 0;
    glitch_time_ = now;
  }
  if (++glitches_ > kMaxGlitches) terminate(NGHTTP2_ENHANCE_YOUR_CALM);
  return closed_on_error_;
}

asio::awaitable<void> H2Connection::run(std::string_view received) {
  using namespace asio::experimental::awaitable_operators;
  std::array<nghttp2_settings_entry, 5> settings{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, limits_.max_concurrent_streams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, limits_.initial_window},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, limits_.max_header_bytes},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, 4096},
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},  // WebSocket over h2 (RFC 8441)
  }};
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings.data(), settings.size());
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0,
                                        static_cast<int32_t>(limits_.connection_window));
  // Feeds received bytes to nghttp2; false when the connection must end (GOAWAY queued).
  auto feed = [this](const char* data, size_t n) {
    auto rv = nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(data), n);
    if (rv < 0) {
      // A connection error. Floods get ENHANCE_YOUR_CALM, the rest PROTOCOL_ERROR; nghttp2 may
      // have queued its own GOAWAY already, which then stands.
      const bool flood = rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;
      nghttp2_session_terminate_session(session_,
                                        flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
      goaway_sent_ = true;
      closed_on_error_ = true;
    }
    start_streams();
    kick();
    return !closed_on_error_;  // a defence may have queued GOAWAY: read no further
  };
  auto reader = [this, received, &feed]() -> asio::awaitable<void> {
    std::string buf(kReadChunk, '\0');
    bool more = received.empty() || feed(received.data(), received.size());
    while (more && !done_) {
      if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) break;
      auto [ec, n] = co_await down_.read_some(buf.data(), buf.size());
      if (ec) {
        // A deadline of the owner (idle connection, drain) ends a connection with no stream in
        // flight: say goodbye properly.
        if (ec == asio::error::operation_aborted && !goaway_sent_) {
          nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                                nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                                nullptr, 0);
          goaway_sent_ = true;
        }
        break;
      }
      more = feed(buf.data(), n);
    }
    done_ = true;
    kick();
  };
  co_await (reader() && write_loop());
}

asio::awaitable<void> H2Connection::write_loop() {
  while (true) {
    while (pending_.size() < kWriteBatch) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session_, &data);
      if (n <= 0) break;  // nothing more, or a fatal error (the session ends below)
      pending_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    if (!pending_.empty()) {
      std::string_view a = pending_, b;
      std::error_code ec;
      if (!down_.write_now(&a, &b, &ec)) ec = std::get<0>(co_await down_.write(a, b));
      pending_.clear();
      if (ec) {
        done_ = true;
        down_.cancel();  // the reader stops too
        co_return;
      }
      continue;
    }
    if (done_) co_return;
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) {
      done_ = true;  // GOAWAY exchanged and nothing in flight
      down_.cancel();
      co_return;
    }
    co_await write_wake_.async_wait(kNoThrow);
  }
}

void H2Connection::consumed(H2Stream& s, size_t n) {
  if (s.closed) {
    nghttp2_session_consume_connection(session_, n);
  } else {
    nghttp2_session_consume(session_, s.id, n);
  }
  kick();
}

void H2Connection::response_ready(H2Stream& s) {
  if (s.deferred) {
    s.deferred = false;
    nghttp2_session_resume_data(session_, s.id);
  }
  kick();
}

void H2Connection::reset(H2Stream& s, uint32_t error_code) {
  if (!s.closed) nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, s.id, error_code);
  kick();
}

void H2Connection::stream_finished(H2Stream& s) {
  if (s.started) {
    s.started = false;
    if (--active_sessions_ == 0 && hooks_.idle_changed) hooks_.idle_changed(true);
  }
  if (!s.closed) {
    if (!s.head_sent || !s.out_eof) {
      reset(s, NGHTTP2_INTERNAL_ERROR);  // the response was cut: the client must know
    } else {
      response_ready(s);
    }
  }
  if (s.unconsumed > 0) {  // request bytes nobody will read: give their window back
    nghttp2_session_consume_connection(session_, s.unconsumed);
    s.unconsumed = 0;
  }
  if (active_sessions_ == 0 && hooks_.draining && hooks_.draining() && !goaway_sent_) {
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
    goaway_sent_ = true;
  }
  kick();
}

void H2Connection::submit_local(H2Stream& s, int status, std::string_view text) {
  // A response sluice makes itself, without an HttpSession (the request never became one).
  s.submit_local(status, text);
  kick();
}

int H2Connection::on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<H2Connection*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto s = std::make_shared<H2Stream>(self->ex_);
  s->id = frame->hd.stream_id;
  s->connection = self;
  auto& entry = self->streams_[s->id];
  self->found_id_ = s->id;
  self->found_ = &entry;
  entry = std::move(s);
  return 0;
}

int H2Connection::on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                            size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                            void* user) {
  auto* self = static_cast<H2Connection*>(user);
  auto* found = self->find_stream(frame->hd.stream_id);
  if (!found) return 0;
  H2Stream& s = **found;
  auto n = view(name, namelen);
  auto v = view(value, valuelen);
  // HPACK can expand a few bytes into a large header list: count the decoded size (RFC 9113
  // 6.5.2's accounting) against the listener's header limit.
  s.header_bytes += namelen + valuelen + 32;
  if (s.header_bytes > self->limits_.max_header_bytes) {
    s.too_large = true;
    return 0;
  }
  if (frame->headers.cat != NGHTTP2_HCAT_REQUEST) {
    // Trailers (nghttp2 has refused pseudo-headers and connection-specific fields in them);
    // framing and routing fields mean nothing at the end of a message (RFC 9110 6.5.1).
    const auto id = http::classify_header(n);
    if (!s.started || id == http::HeaderId::kContentLength || id == http::HeaderId::kHost) return 0;
    s.request_trailers.emplace_back(n, v);
    return 0;
  }
  // A size check and an inlined memcmp each: string_view's == calls its three-way compare().
  auto is = [n](std::string_view lit) {
    return n.size() == lit.size() && std::memcmp(n.data(), lit.data(), lit.size()) == 0;
  };
  if (!n.empty() && n[0] == ':') {
    if (is(":method")) {
      s.method.assign(v);
    } else if (is(":path")) {
      s.path.assign(v);
    } else if (is(":authority")) {
      s.authority.assign(v);
    } else if (is(":protocol")) {
      s.protocol.assign(v);  // nghttp2 allows it only on CONNECT
    }
    return 0;  // :scheme is the listener's; nghttp2 refuses any other pseudo-header
  }
  if (is("host")) {
    if (s.authority.empty()) s.authority.assign(v);
  } else if (is("cookie")) {
    if (!s.cookies.empty()) s.cookies.append("; "sv);
    s.cookies.append(v);
  } else if (is("sec-websocket-key")) {
    // not used in h2 (RFC 8441 5); sluice makes the one an upgrade to HTTP/1.1 needs
  } else if (is("te")) {
    // "trailers" is the only value h2 allows, and it means nothing to an HTTP/1.1 backend
  } else {
    if (is("content-length")) s.has_content_length = true;
    const auto at = static_cast<uint32_t>(s.store.size());
    s.store.append(n).append(v);
    s.spans.push_back({at, static_cast<uint32_t>(namelen), at + static_cast<uint32_t>(namelen),
                       static_cast<uint32_t>(valuelen)});
  }
  return 0;
}

int H2Connection::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<H2Connection*>(user);
  const bool end_stream = frame->hd.flags & NGHTTP2_FLAG_END_STREAM;
  auto* found = self->find_stream(frame->hd.stream_id);
  if (frame->hd.type == NGHTTP2_DATA && frame->hd.length == 0 && !end_stream) {
    // an empty DATA frame carries nothing: a flood of them is an attack
    if (self->glitch()) return NGHTTP2_ERR_CALLBACK_FAILURE;  // stop reading now
    if (found && ++(*found)->empty_data_frames > kMaxEmptyDataFrames) {
      nghttp2_submit_rst_stream(self->session_, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                NGHTTP2_ENHANCE_YOUR_CALM);
    }
    return 0;
  }
  if (frame->hd.type == NGHTTP2_RST_STREAM) {
    // opening and cancelling streams costs us work and the client nothing
    return self->glitch() ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
  }
  if (frame->hd.type == NGHTTP2_PING || frame->hd.type == NGHTTP2_SETTINGS ||
      frame->hd.type == NGHTTP2_PRIORITY || frame->hd.type == NGHTTP2_WINDOW_UPDATE) {
    if ((frame->hd.type != NGHTTP2_WINDOW_UPDATE || frame->hd.stream_id == 0) && self->glitch())
      return NGHTTP2_ERR_CALLBACK_FAILURE;
    return 0;
  }
  if (!found) return 0;
  H2Stream& s = **found;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    if (s.too_large) {
      self->submit_local(s, 431, "request header fields too large");
      return 0;
    }
    if (s.method == "CONNECT") {
      // Only extended CONNECT for WebSocket (RFC 8441): the backend sees the HTTP/1.1
      // handshake, a GET with Upgrade, and the tunnel starts only on its 101.
      if (s.protocol != "websocket") {
        self->submit_local(s, 501,
                           s.protocol.empty() ? "CONNECT is not supported"
                                              : "extended CONNECT is supported for websocket only");
        return 0;
      }
      if (s.has_content_length) {
        self->submit_local(s, 400, "a WebSocket CONNECT has no content-length");
        return 0;
      }
      s.websocket = true;
      s.method.assign("GET"sv);
    }
    s.chunked = !end_stream && !s.has_content_length && !s.websocket;
    s.finish_head();
    s.in_ended = end_stream;
    s.started = true;
    if (self->active_sessions_++ == 0 && self->hooks_.idle_changed)
      self->hooks_.idle_changed(false);
    self->starting_.push_back(*found);
    return 0;
  }
  if ((frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS) && end_stream &&
      !s.in_ended) {
    s.in_ended = true;
    s.notify();
  }
  return 0;
}

int H2Connection::on_data_chunk(nghttp2_session*, uint8_t, int32_t stream_id, const uint8_t* data,
                                size_t len, void* user) {
  auto* self = static_cast<H2Connection*>(user);
  auto* found = self->find_stream(stream_id);
  if (!found || !(*found)->started) {
    nghttp2_session_consume_connection(self->session_, len);
    return 0;
  }
  H2Stream& s = **found;
  s.in.append(view(data, len));  // the body as it is: DATA needs no framing of ours
  s.unconsumed += len;
  s.notify();
  return 0;
}

int H2Connection::on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t, void* user) {
  auto* self = static_cast<H2Connection*>(user);
  auto it = self->streams_.find(stream_id);
  if (it == self->streams_.end()) return 0;
  auto s = std::move(it->second);
  if (self->found_ == &it->second) self->found_ = nullptr;
  self->streams_.erase(it);
  s->closed = true;
  if (s->unconsumed > 0) {
    nghttp2_session_consume_connection(self->session_, s->unconsumed);
    s->unconsumed = 0;
  }
  if (!s->finished && s->started) {
    // The client reset a stream still being served: its session ends at its next read or
    // write; the count drops when it calls finish().
  }
  s->notify();
  return 0;
}

int H2Connection::on_begin_frame(nghttp2_session*, const nghttp2_frame_hd* hd, void* user) {
  auto* self = static_cast<H2Connection*>(user);
  // CONTINUATION flood (CVE-2024-27316 and kin): a header block split into more frames than any
  // real client needs. Counted here, whatever nghttp2's own limit does across reads.
  // Either error is not a callback failure: that would leave nghttp2 unable to send the GOAWAY.
  // The reader stops after this buffer instead.
  if (hd->type == NGHTTP2_HEADERS) {
    self->continuations_ = 0;
    if ((hd->stream_id & 1) && !self->stream_ids_.on_headers(hd->stream_id))
      self->terminate(NGHTTP2_PROTOCOL_ERROR);  // RFC 9113 5.1.1: a lower id never opened
  } else if (hd->type == NGHTTP2_CONTINUATION && ++self->continuations_ > kMaxContinuations) {
    self->terminate(NGHTTP2_ENHANCE_YOUR_CALM);
  }
  return 0;
}

int H2Connection::on_invalid_frame(nghttp2_session*, const nghttp2_frame*, int, void* user) {
  return static_cast<H2Connection*>(user)->glitch() ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

}  // namespace sluice::l7
