#pragma once
// Downstream HTTP/2 (nghttp2), over TLS with ALPN "h2" or in cleartext with prior knowledge.
//
// Each HTTP/2 stream enters the same pipeline as an HTTP/1.1 connection: an HttpSession takes the
// stream's request head as split fields (checked by the same rules as an HTTP/1.1 head), reads
// the body as DATA as it came (its end is the stream's), and hands the response over as a
// neutral http::Response (HEADERS) and its body as DATA, trailers last. Routing, balancing,
// retries, timeouts, limits, logs and metrics are then one code path for both versions.
//
// Flow control is real: request DATA is acknowledged (WINDOW_UPDATE) only when the session has
// read it, and a session writing a response waits while more than kMaxBuffered bytes wait for the
// client's window, so a slow reader costs bounded memory on both sides.
#include <nghttp2/nghttp2.h>
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "http/chunked_decoder.h"
#include "http/message.h"
#include "http/stream_id_window.h"
#include "l7/h2_bridge.h"
#include "l7/h2_stream.h"

namespace sluice::l7 {

class H2Connection;
class Worker;
class Downstream;

class H2Connection {
 public:
  struct Hooks {
    // Spawns the HttpSession for a stream whose request head is complete.
    std::function<void(std::shared_ptr<H2Stream>)> start_stream;
    // Called when the number of streams with a session goes to zero or above it.
    std::function<void(bool idle)> idle_changed;
    std::function<bool()> draining;
  };
  struct Limits {
    uint32_t max_concurrent_streams = 100;
    uint32_t max_header_bytes = 64 * 1024;
    uint32_t initial_window = 64 * 1024;       // per stream
    uint32_t connection_window = 1024 * 1024;  // all streams
  };

  H2Connection(Downstream& down, asio::any_io_executor ex, Limits limits, Hooks hooks);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // Serves the connection until it ends. `received` holds bytes already read (the preface).
  asio::awaitable<void> run(std::string_view received);
  // The reader was woken by a deadline of the owner (idle or drain): say GOAWAY and end.
  bool goaway_sent() const { return goaway_sent_; }
  // The connection ended on a protocol error or abuse: close it with a lingering read so that
  // the GOAWAY is not lost to a reset.
  bool closed_on_error() const { return closed_on_error_; }

  // From streams.
  void consumed(H2Stream& s, size_t n);
  void response_ready(H2Stream& s);
  void stream_finished(H2Stream& s);
  void reset(H2Stream& s, uint32_t error_code);
  nghttp2_session* session() { return session_; }

 private:
  asio::awaitable<void> write_loop();
  void kick();
  void start_streams();
  std::shared_ptr<H2Stream>* find_stream(int32_t id);
  void submit_local(H2Stream& s, int status, std::string_view body);
  // A frame that is legal but useless (empty DATA, PING...): true when too many ended the
  // connection (GOAWAY queued; the callback then stops the parse).
  bool glitch();
  // A connection error: GOAWAY with `error_code` (once), then the connection closes.
  void terminate(uint32_t error_code);

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_header(nghttp2_session*, const nghttp2_frame*, const uint8_t*, size_t,
                       const uint8_t*, size_t, uint8_t, void*);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame*, void*);
  static int on_data_chunk(nghttp2_session*, uint8_t, int32_t, const uint8_t*, size_t, void*);
  static int on_stream_close(nghttp2_session*, int32_t, uint32_t, void*);
  static int on_invalid_frame(nghttp2_session*, const nghttp2_frame*, int, void*);
  static int on_begin_frame(nghttp2_session*, const nghttp2_frame_hd*, void*);

  Downstream& down_;
  Limits limits_;
  Hooks hooks_;
  nghttp2_session* session_ = nullptr;
  std::unordered_map<int32_t, std::shared_ptr<H2Stream>> streams_;
  // The entry last found in streams_ (nodes do not move; reset when one is erased): the
  // callbacks of one HEADERS frame name the same stream once per field.
  int32_t found_id_ = 0;
  std::shared_ptr<H2Stream>* found_ = nullptr;
  // Streams whose request heads completed during the current parse, started after it.
  std::vector<std::shared_ptr<H2Stream>> starting_;
  uint32_t active_sessions_ = 0;
  asio::steady_timer write_wake_;
  std::string pending_;  // frames to write
  bool done_ = false;
  bool writer_idle_ = false;
  bool goaway_sent_ = false;
  bool closed_on_error_ = false;
  uint32_t glitches_ = 0;
  uint32_t continuations_ = 0;
  http::StreamIdWindow stream_ids_;
  std::chrono::steady_clock::time_point glitch_time_ = std::chrono::steady_clock::now();
  asio::any_io_executor ex_;
};

}  // namespace sluice::l7
