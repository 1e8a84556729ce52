// The HTTP/1.1 codecs on real loopback sockets: what a session reads of a request (heads, chunked
// bodies, trailers, 100 Continue) and the bytes its responses become on the wire (chunks only
// for HTTP/1.1, trailers only to clients that ask, the close for HTTP/1.0); toward a backend,
// the request head and chunk framing, the WebSocket handshake it makes, and how it reads
// responses (interim 1xx skipped, a stray 101 refused, reuse only after a complete response).
#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <chrono>
#include <functional>
#include <string>

#include "l7/downstream.h"
#include "l7/http1_server_codec.h"
#include "l7/http1_upstream_codec.h"
#include "l7/upstream.h"

namespace sluice::l7 {
namespace {

using asio::ip::tcp;

// A connected loopback pair: `near` for the codec, `far` for the test to play the peer.
struct Pair {
  asio::io_context io;
  tcp::socket near{io};
  tcp::socket far{io};
  Pair() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    near.connect(acceptor.local_endpoint());
    far = acceptor.accept();
  }
  void send(std::string_view bytes) { asio::write(far, asio::buffer(bytes)); }
  // Everything the far side can read until the near side closes.
  std::string drain() {
    std::string out;
    std::error_code ec;
    char buf[4096];
    while (true) {
      size_t n = far.read_some(asio::buffer(buf), ec);
      if (ec) break;
      out.append(buf, n);
    }
    return out;
  }
  // Runs `body` as a coroutine on the loop until it returns (bounded by a 10 s timeout).
  void run(std::function<asio::awaitable<void>()> body) {
    bool done = false;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await body();
          done = true;
        },
        asio::detached);
    io.run_for(std::chrono::seconds(10));
    ASSERT_TRUE(done);
  }
};

// Reads a whole head through the codec, as the session's loop does.
asio::awaitable<HeadRead> read_head(ClientCodec& codec, http::RequestHead* req) {
  HeadRead head;
  while ((head = codec.parse_head(req)).kind == HeadRead::Kind::kMore) {
    auto [ec, n] = co_await codec.receive();
    if (ec) co_return head;
    codec.received(n);
  }
  co_return head;
}

TEST(Http1ServerCodec, ChunkedRequestBodyComesAsPiecesThenTrailers) {
  Pair p;
  Downstream down(std::move(p.near));
  Http1ServerCodec codec(down);
  codec.set_limits({}, 64 * 1024);
  p.send(
      "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: abc\r\n\r\n");
  std::string body;
  std::string trailer;
  p.run([&]() -> asio::awaitable<void> {
    http::RequestHead req;
    auto head = co_await read_head(codec, &req);
    EXPECT_EQ(head.kind, HeadRead::Kind::kHead);
    EXPECT_EQ(codec.early_body_error(), nullptr);
    codec.release_head();
    auto piece = codec.body_at_hand();  // chunks are decoded by read_body only
    EXPECT_EQ(piece.kind, BodyRead::Kind::kData);
    EXPECT_TRUE(piece.data.empty());
    while (true) {
      piece = co_await codec.read_body();
      if (piece.kind != BodyRead::Kind::kData) break;
      body.append(piece.data);
    }
    EXPECT_EQ(piece.kind, BodyRead::Kind::kEnd);
    for (const auto& t : codec.request_trailers())
      trailer = std::string(t.name) + "=" + std::string(t.value);
  });
  EXPECT_EQ(body, "hello world");  // extensions do not survive
  EXPECT_EQ(trailer, "X-Sum=abc");
}

TEST(Http1ServerCodec, MalformedChunkAtHandIsFoundBeforeAnythingIsSent) {
  Pair p;
  Downstream down(std::move(p.near));
  Http1ServerCodec codec(down);
  codec.set_limits({}, 64 * 1024);
  p.send("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
  p.run([&]() -> asio::awaitable<void> {
    http::RequestHead req;
    auto head = co_await read_head(codec, &req);
    EXPECT_EQ(head.kind, HeadRead::Kind::kHead);
    EXPECT_NE(codec.early_body_error(), nullptr);
  });
}

TEST(Http1ServerCodec, OversizedHeadIs431) {
  Pair p;
  Downstream down(std::move(p.near));
  Http1ServerCodec codec(down);
  codec.set_limits({8 * 1024, 1024, 100}, 16 * 1024);
  p.send("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(40 * 1024, 'a'));
  p.run([&]() -> asio::awaitable<void> {
    http::RequestHead req;
    auto head = co_await read_head(codec, &req);
    EXPECT_EQ(head.kind, HeadRead::Kind::kBad);
    EXPECT_EQ(head.status, 431);
  });
}

TEST(Http1ServerCodec, ExpectContinueIsAnsweredBeforeTheBodyIsRead) {
  Pair p;
  Downstream down(std::move(p.near));
  Http1ServerCodec codec(down);
  codec.set_limits({}, 64 * 1024);
  p.send("PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
  std::string got;
  p.run([&]() -> asio::awaitable<void> {
    http::RequestHead req;
    co_await read_head(codec, &req);
    codec.release_head();
    EXPECT_EQ(codec.body_at_hand().data, "");
    // The client waits for the 100 before it sends; play it from another coroutine.
    asio::co_spawn(
        p.io,
        [&]() -> asio::awaitable<void> {
          char buf[64];
          size_t n = co_await p.far.async_read_some(asio::buffer(buf), asio::use_awaitable);
          got.assign(buf, n);
          co_await asio::async_write(p.far, asio::buffer(std::string_view("abc")),
                                     asio::use_awaitable);
        },
        asio::detached);
    auto piece = co_await codec.read_body();
    EXPECT_EQ(piece.data, "abc");
    EXPECT_TRUE(piece.last);
  });
  EXPECT_EQ(got, "HTTP/1.1 100 Continue\r\n\r\n");
}

// The bytes a response of unknown length with a trailer becomes, for a request `request`.
std::string respond_until_end(const std::string& request, bool* close) {
  Pair p;
  std::string wire;
  {
    Downstream down(std::move(p.near));
    Http1ServerCodec codec(down);
    codec.set_limits({}, 64 * 1024);
    p.send(request);
    p.run([&]() -> asio::awaitable<void> {
      http::RequestHead req;
      co_await read_head(codec, &req);
      codec.release_head();
      http::Response resp;
      resp.status = 200;
      resp.headers.add("Content-Type", "text/plain");
      resp.body = http::BodyLength::until_end();
      EXPECT_TRUE(codec.start_response(resp, close));
      EXPECT_FALSE(std::get<0>(co_await codec.write("abc", false)));
      EXPECT_FALSE(std::get<0>(co_await codec.write("de", false)));
      const std::vector<http::Header> trailers = {{"X-T", "1"}};
      EXPECT_TRUE(co_await codec.end_response(trailers));
    });
    down.close();
  }
  return p.drain();
}

TEST(Http1ServerCodec, UnknownLengthIsChunkedForHttp11AndTrailersOnlyWithTe) {
  bool close = false;
  auto plain = respond_until_end("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &close);
  EXPECT_FALSE(close);
  EXPECT_EQ(plain,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  auto te = respond_until_end("GET / HTTP/1.1\r\nHost: a\r\nTE: trailers\r\n\r\n", &close);
  EXPECT_NE(te.find("2\r\nde\r\n0\r\nX-T: 1\r\n\r\n"), std::string::npos) << te;
}

TEST(Http1ServerCodec, UnknownLengthToHttp10EndsWithTheClose) {
  bool close = false;
  auto wire = respond_until_end("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &close);
  EXPECT_TRUE(close);  // the codec asks for it: the close is the body's end
  EXPECT_EQ(wire.find("Transfer-Encoding"), std::string::npos) << wire;
  EXPECT_NE(wire.find("Connection: close\r\n"), std::string::npos) << wire;
  EXPECT_EQ(wire.substr(wire.size() - 5), "abcde");
}

TEST(Http1UpstreamCodec, ChunkedRequestAndWebSocketHandshake) {
  Pair p;
  Upstream up(p.io);
  up.socket() = std::move(p.near);
  Http1UpstreamCodec codec(up);
  http::Request req;
  req.method = "POST";
  req.scheme = "http";
  req.authority = "b";
  req.path = "/x";
  req.body = http::BodyLength::until_end();
  codec.prepare(req);
  p.run([&]() -> asio::awaitable<void> {
    EXPECT_FALSE(std::get<0>(co_await codec.send_head(req, "ab")));
    EXPECT_FALSE(std::get<0>(co_await codec.send_body("cde")));
    const std::vector<http::Header> trailers = {{"X", "y"}};
    EXPECT_TRUE(co_await codec.end_body(trailers));
  });
  up.close();
  auto wire = p.drain();
  EXPECT_EQ(wire.substr(wire.find("\r\n\r\n") + 4), "2\r\nab\r\n3\r\ncde\r\n0\r\nX: y\r\n\r\n");
  EXPECT_NE(wire.find("Transfer-Encoding: chunked\r\n"), std::string::npos);

  // A neutral WebSocket request from a client that sent no key (HTTP/2) gets one made up.
  http::Request ws;
  ws.method = "GET";
  ws.scheme = "http";
  ws.authority = "b";
  ws.path = "/chat";
  ws.protocol = "websocket";
  Pair q;
  Upstream up2(q.io);
  up2.socket() = std::move(q.near);
  Http1UpstreamCodec codec2(up2);
  codec2.prepare(ws);
  q.run([&]() -> asio::awaitable<void> {
    EXPECT_FALSE(std::get<0>(co_await codec2.send_head(ws, {})));
  });
  up2.close();
  auto hs = q.drain();
  EXPECT_NE(hs.find("Upgrade: websocket\r\n"), std::string::npos) << hs;
  const auto key_at = hs.find("Sec-WebSocket-Key: ");
  ASSERT_NE(key_at, std::string::npos) << hs;
  EXPECT_EQ(hs.find("\r\n", key_at) - key_at - 19, 24u);  // 16 random bytes in base64
  EXPECT_EQ(hs.substr(hs.size() - 4), "\r\n\r\n");
}

// Reads a response head through the codec, as the session does.
asio::awaitable<ResponseHeadRead> response_head(UpstreamCodec& codec, bool websocket,
                                                http::ResponseHead* resp) {
  ResponseHeadRead head;
  while ((head = codec.parse_head("GET", websocket, resp)).kind == ResponseHeadRead::Kind::kMore) {
    auto [ec, n] = co_await codec.receive();
    if (ec)
      co_return ResponseHeadRead{ResponseHeadRead::Kind::kFailed, codec.has_partial_head(), {}};
    codec.received(n);
  }
  co_return head;
}

TEST(Http1UpstreamCodec, InterimSkippedCompleteResponseReusableStray101Refused) {
  Pair p;
  Upstream up(p.io);
  up.socket() = std::move(p.near);
  Http1UpstreamCodec codec(up);
  http::Request req;
  req.method = "GET";
  req.scheme = "http";
  req.authority = "b";
  req.path = "/";
  codec.prepare(req);
  p.run([&]() -> asio::awaitable<void> {
    co_await codec.send_head(req, {});
    p.send("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
    http::ResponseHead resp;
    auto head = co_await response_head(codec, false, &resp);
    EXPECT_EQ(head.kind, ResponseHeadRead::Kind::kHead);
    EXPECT_EQ(resp.status, 200);
    auto piece = codec.body_at_hand();
    EXPECT_EQ(piece.data, "hello");
    EXPECT_TRUE(piece.last);
    EXPECT_TRUE(codec.reusable());

    // The next request on the same connection: a 101 it did not ask for.
    co_await codec.send_head(req, {});
    p.send("HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n");
    head = co_await response_head(codec, false, &resp);
    EXPECT_EQ(head.kind, ResponseHeadRead::Kind::kBad);

    // A response that ends with the close is never reusable.
    co_await codec.send_head(req, {});
    p.send("HTTP/1.1 200 OK\r\n\r\nrest");
    p.far.shutdown(tcp::socket::shutdown_send);
    head = co_await response_head(codec, false, &resp);
    EXPECT_EQ(head.kind, ResponseHeadRead::Kind::kHead);
    std::string body;
    auto first = codec.body_at_hand();
    body.append(first.data);
    while (true) {
      piece = co_await codec.read_body();
      if (piece.kind != BodyRead::Kind::kData) break;
      body.append(piece.data);
    }
    EXPECT_EQ(piece.kind, BodyRead::Kind::kEnd);
    EXPECT_EQ(body, "rest");
    EXPECT_FALSE(codec.reusable());
  });
}

}  // namespace
}  // namespace sluice::l7
