#pragma once
// One client connection (or one HTTP/2 stream of one), as a coroutine on its worker: read a
// request head, route it, pick an endpoint, lend a pooled upstream connection or an HTTP/2
// stream, move the body both ways in bounded pieces, write the access log line, and loop for the
// next (possibly pipelined) request. It speaks to both sides through codecs (client_codec.h,
// upstream_codec.h) and never sees a wire format. Timeouts are deadlines swept by the worker's
// tick, not a timer per operation.
#include <asio/awaitable.hpp>
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "core/buffer.h"
#include "core/client_limiter.h"
#include "http/message.h"
#include "l7/downstream.h"
#include "l7/h2_connection.h"
#include "l7/h2_server_codec.h"
#include "l7/h2_upstream_codec.h"
#include "l7/http1_server_codec.h"
#include "l7/http1_upstream_codec.h"
#include "l7/outcome.h"
#include "l7/upstream.h"
#include "l7/worker.h"
#include "l7/worker_session.h"

namespace sluice::l7 {

class HttpSession final : public WorkerSession {
 public:
  using Clock = std::chrono::steady_clock;
  using Deadline = TimeoutKind;

  static void spawn(Worker& worker, asio::ip::tcp::socket socket,
                    const asio::ip::tcp::endpoint& peer, std::string listener_name,
                    core::ClientSlot slot);
  // An HTTP/2 stream of `parent`'s connection: one request.
  static void spawn_stream(Worker& worker, std::shared_ptr<H2Stream> stream,
                           const HttpSession& parent);
  // Runs `session` on its worker's loop; the coroutine owns it (see run()).
  static void start(std::unique_ptr<HttpSession> session);
  ~HttpSession();

  // Called by the worker, on its thread.
  void on_tick(Clock::time_point now) override;
  void on_drain() override;
  void on_abort() override;

 private:
  HttpSession(Worker& worker, asio::ip::tcp::socket socket, const asio::ip::tcp::endpoint& peer,
              std::string listener_name);
  HttpSession(Worker& worker, std::shared_ptr<H2Stream> stream, const HttpSession& parent);
  void init();
  asio::awaitable<void> serve_h2(std::string_view received);
  // `self` is this session: the coroutine's frame owns it, and deletes it when the coroutine
  // ends or is destroyed unfinished (at shutdown). Spawned as it is, with no wrapper coroutine
  // around it: one frame fewer per connection and per HTTP/2 stream.
  asio::awaitable<void> run(std::unique_ptr<HttpSession> self);
  asio::awaitable<bool> handle_request();
  asio::awaitable<bool> redirect_to_https(const config::Listener& listener);
  asio::awaitable<void> tunnel(std::chrono::milliseconds idle);
  // One try: the request to the endpoint picked, the response back to the client.
  asio::awaitable<Outcome> exchange(bool reused, bool* body_started,
                                    const std::vector<int>* retry_statuses);
  asio::awaitable<bool> send_request_body(Outcome* outcome);
  asio::awaitable<Outcome> relay_response(const std::vector<int>* retry_statuses);
  asio::awaitable<bool> relay_response_body();
  enum class ConnectResult : uint8_t { kConnected, kFailed, kOverloaded };
  // h2/h2c clusters: a stream on a worker connection with room, waiting while one is opened.
  asio::awaitable<bool> take_h2_stream();
  asio::awaitable<ConnectResult> connect(const core::SocketAddress& address,
                                         const ClusterRuntime& cluster);
  void close_upstream();  // closes the upstream socket and gives back its breaker share
  // Body bytes to the client, through its codec: write_client_now() first, without a coroutine
  // when the codec can take them at once (an HTTP/2 stream's queue), which saves a frame per
  // HTTP/2 response; then write_client(), which arms the write deadline and returns the codec's
  // write to await (disarm() after it).
  bool write_client_now(std::string_view data, bool* ok) { return client_->write_now(data, ok); }
  asio::awaitable<IoResult> write_client(std::string_view data, bool tried_now);
  asio::awaitable<void> send_local(int status, bool close, std::string_view detail = {});
  asio::awaitable<void> send_grpc_status(int status, bool close, std::string_view detail);
  // The request as it goes upstream (up_req_): fields of this connection dropped, forwarded
  // headers rewritten.
  void build_upstream_request(const config::Listener& listener);
  // The response as it goes to the client (resp_out_), from the backend's head.
  void make_client_response(const http::ResponseHead& resp);
  // Writes resp_out_ and a body that is all at hand, through the client's codec.
  asio::awaitable<bool> write_response(std::string_view body, bool close);
  void arm(Deadline kind, std::chrono::milliseconds timeout);
  void disarm() { deadline_kind_ = Deadline::kNone; }
  Deadline take_fired() {
    auto f = fired_;
    fired_ = Deadline::kNone;
    return f;
  }
  void refresh_view();
  void apply_limits();  // the listener's head limits, to the client's codec
  // Outlier detection: one try's result for an endpoint.
  void note_try(const ClusterRuntime& cluster, int index, bool failed);
  void log_request(int status);

  Worker& worker_;
  // The client side: a connection's bytes and its HTTP/1.1 codec, or one stream of an HTTP/2
  // connection (whose bytes are the parent session's: a stream's session has no conn_, and no
  // socket object to make and destroy).
  struct ClientConnection {
    explicit ClientConnection(asio::ip::tcp::socket socket)
        : down(std::move(socket)), codec(down) {}
    Downstream down;
    Http1ServerCodec codec;
  };
  std::optional<ClientConnection> conn_;
  std::optional<H2ServerCodec> h2_client_;
  ClientCodec* client_ = nullptr;
  // The backend side: a pooled connection's bytes and its HTTP/1.1 codec, or an HTTP/2 stream.
  Upstream up_;
  Http1UpstreamCodec h1_backend_;
  H2UpstreamCodec h2_backend_;
  UpstreamCodec* backend_ = &h1_backend_;
  ConnectionToken up_token_;  // up_'s share of the cluster's connection count (breaker)
  std::string listener_name_;
  std::shared_ptr<WorkerView> view_;
  int listener_index_ = -1;
  core::IpAddress client_ip_;
  std::string client_ip_text_;
  std::string client_text_;  // ip:port for the log

  http::RequestHead req_;
  http::ResponseHead resp_;
  http::Arena arena_;        // values made up for the request in flight
  http::Request up_req_;     // the request as it goes upstream
  http::Response resp_out_;  // the response as it goes to the client
  std::string listen_text_;  // the listener's address: Host for an HTTP/1.0 request without one

  // The request in flight, copied out of `in_` so they outlive the head's buffer.
  std::string method_;
  std::string path_;        // normalised path
  std::string log_target_;  // path?query as forwarded
  std::string host_;
  http::Framing req_framing_;
  uint64_t max_body_ = 0;
  bool client_keep_alive_ = true;
  bool upgrade_ = false;  // a WebSocket handshake: the upstream may switch protocols
  bool grpc_ = false;     // content-type application/grpc: sluice's own errors are gRPC statuses
  bool request_body_done_ = true;
  int local_status_ = 0;
  std::string_view local_detail_;
  int status_ = 0;
  uint64_t bytes_sent_ = 0;
  uint64_t bytes_received_ = 0;
  const std::string* upstream_key_ = nullptr;
  const std::string* pool_key_ = nullptr;
  const config::Route* route_ = nullptr;
  const config::Cluster* cluster_config_ = nullptr;
  ClusterStats* cluster_stats_ = nullptr;
  Clock::time_point started_;

  Deadline deadline_kind_ = Deadline::kNone;
  Deadline fired_ = Deadline::kNone;
  Clock::time_point deadline_;
  Clock::time_point request_deadline_ = Clock::time_point::max();  // timeouts.request
  bool idle_ = true;  // between requests (draining may close it)
  bool aborting_ = false;
  bool overloaded_ = false;  // the next local answer comes from the circuit breaker
  // The listener's and the client address's limits: released when the connection ends.
  core::ClientSlot client_slot_;
};

}  // namespace sluice::l7
