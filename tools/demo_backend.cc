// demo_backend: a small HTTP/1.1 server for the quickstart and the tests. It answers with its
// own name, and can be told what to do through the request:
//   GET /            -> "<name>\n"                   (header X-Backend: <name>)
//   GET /healthz     -> "ok\n"
//   GET /echo...     -> the request line and headers as received
//   GET /bytes?n=N   -> N bytes of a fixed pattern (add &chunked=1 for a chunked response)
//   POST /upload     -> reads the body (Content-Length or chunked), answers "bytes=N sha256=HEX"
//                       and the chunked trailers it got
//   GET /stats       -> {"name":..,"connections":N,"requests":M}
//   GET /fail        -> closes the connection without answering
//   any ?delay=MS    -> waits before answering;  ?status=CODE -> answers with that status
// Usage: demo_backend --name NAME --listen IP:PORT [--status CODE]
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/signal_set.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <charconv>
#include <cstdio>
#include <cstring>
#include <string>

#include <openssl/evp.h>

#include "core/address.h"
#include "core/buffer.h"
#include "http/chunked_decoder.h"
#include "http/request_parser.h"
#include "http/status.h"

namespace {

using sluice::http::ChunkedDecoder;
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);

std::string g_name = "backend";
uint64_t g_connections = 0;
uint64_t g_requests = 0;
int g_status = 200;  // --status: answer every request but /healthz and /stats with this

uint64_t query_number(std::string_view query, std::string_view key, uint64_t fallback) {
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    auto pair = query.substr(pos, amp == std::string_view::npos ? query.npos : amp - pos);
    if (pair.size() > key.size() && pair.substr(0, key.size()) == key && pair[key.size()] == '=') {
      uint64_t v = fallback;
      auto s = pair.substr(key.size() + 1);
      std::from_chars(s.data(), s.data() + s.size(), v);
      return v;
    }
    if (amp == std::string_view::npos) break;
    pos = amp + 1;
  }
  return fallback;
}

// SHA-256 of a request body, so tests can compare with hashlib.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }
  ~Sha256() { EVP_MD_CTX_free(ctx_); }
  void add(std::string_view s) { EVP_DigestUpdate(ctx_, s.data(), s.size()); }
  std::string hex() {
    unsigned char md[32];
    unsigned int n = 0;
    EVP_DigestFinal_ex(ctx_, md, &n);
    std::string out;
    char b[3];
    for (unsigned i = 0; i < n; ++i) {
      std::snprintf(b, sizeof b, "%02x", md[i]);
      out += b;
    }
    return out;
  }

 private:
  EVP_MD_CTX* ctx_;
};

// Appends what the peer sent next to `in`; false when the connection ended.
asio::awaitable<bool> read_more(asio::ip::tcp::socket& socket, sluice::core::Buffer& in) {
  auto space = in.prepare(16 * 1024);
  auto [ec, n] =
      co_await socket.async_read_some(asio::buffer(space.data(), space.size()), kNoThrow);
  if (ec) co_return false;
  in.commit(n);
  co_return true;
}

asio::awaitable<void> serve(asio::ip::tcp::socket socket) {
  ++g_connections;
  socket.set_option(asio::ip::tcp::no_delay(true));
  sluice::core::Buffer in(16 * 1024, 128 * 1024);
  sluice::http::RequestParser parser({});
  sluice::http::RequestHead req;
  std::string out;
  while (true) {
    parser.reset();
    sluice::http::ParseResult pr;
    while (true) {
      if (!in.empty()) {
        pr = parser.parse(in.data(), &req);
        if (pr.state != sluice::http::ParseResult::State::kIncomplete) break;
      }
      if (!co_await read_more(socket, in)) co_return;
    }
    if (pr.is_error()) {
      std::string resp = "HTTP/1.1 " + std::to_string(pr.status) +
                         " Bad\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      co_await asio::async_write(socket, asio::buffer(resp), kNoThrow);
      co_return;
    }
    ++g_requests;
    const std::string path(req.path);
    const std::string query(req.query);
    const bool keep_alive = req.framing.keep_alive;
    std::string echo;
    if (path.rfind("/echo", 0) == 0) {
      echo = std::string(req.method) + " " + std::string(req.target) + " HTTP/1." +
             std::to_string(req.version_minor) + "\n";
      for (const auto& h : req.headers)
        echo += std::string(h.name) + ": " + std::string(h.value) + "\n";
    }
    const auto body_kind = req.framing.body;
    uint64_t remaining = req.framing.content_length;
    in.consume(pr.consumed);

    // Read (and hash) the request body, whatever the path.
    Sha256 sha;
    std::string trailers;
    uint64_t body_bytes = 0;
    if (body_kind == sluice::http::BodyKind::kContentLength) {
      while (remaining > 0) {
        if (in.empty()) {
          if (!co_await read_more(socket, in)) co_return;
        }
        auto piece = in.data().substr(0, std::min<uint64_t>(in.size(), remaining));
        sha.add(piece);
        body_bytes += piece.size();
        remaining -= piece.size();
        in.consume(piece.size());
      }
    } else if (body_kind == sluice::http::BodyKind::kChunked) {
      ChunkedDecoder dec;
      while (true) {
        if (in.empty()) {
          if (!co_await read_more(socket, in)) co_return;
        }
        auto step = dec.step(in.data());
        if (step.error) co_return;
        sha.add(step.data);
        body_bytes += step.data.size();
        in.consume(step.consumed);
        if (step.done) {
          trailers = dec.trailers();
          break;
        }
        if (step.consumed == 0) {
          if (!co_await read_more(socket, in)) co_return;
        }
      }
    }

    if (uint64_t delay = query_number(query, "delay", 0); delay > 0) {
      asio::steady_timer t(socket.get_executor());
      t.expires_after(std::chrono::milliseconds(delay));
      co_await t.async_wait(kNoThrow);
    }
    if (path == "/fail") co_return;  // connection closes with no response

    int status = static_cast<int>(
        query_number(query, "status", path == "/healthz" || path == "/stats" ? 200 : g_status));
    std::string body;
    uint64_t stream_bytes = 0;
    bool chunked = false;
    if (path == "/healthz") {
      body = "ok\n";
    } else if (path.rfind("/echo", 0) == 0) {
      body = echo;
    } else if (path == "/stats") {
      body = "{\"name\":\"" + g_name + "\",\"connections\":" + std::to_string(g_connections) +
             ",\"requests\":" + std::to_string(g_requests) + "}\n";
    } else if (path == "/upload") {
      body = "bytes=" + std::to_string(body_bytes) + " sha256=" + sha.hex() + "\n";
      for (char& c : trailers) {
        if (c == '\r' || c == '\n') c = ' ';
      }
      if (!trailers.empty()) body += "trailers=" + trailers + "\n";
    } else if (path == "/bytes") {
      stream_bytes = query_number(query, "n", 0);
      chunked = query_number(query, "chunked", 0) != 0;
    } else {
      body = g_name + "\n";
    }
    out.clear();
    out += "HTTP/1.1 " + std::to_string(status) + " " +
           std::string(sluice::http::reason_phrase(status)) + "\r\n";
    out += "X-Backend: " + g_name + "\r\n";
    if (chunked) {
      out += "Transfer-Encoding: chunked\r\n";
    } else {
      out += "Content-Length: " + std::to_string(path == "/bytes" ? stream_bytes : body.size()) +
             "\r\n";
    }
    if (!keep_alive) out += "Connection: close\r\n";
    out += "\r\n";
    if (req.method == "HEAD") body.clear(), stream_bytes = 0;
    out += body;
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(out), kNoThrow);
    if (ec) co_return;
    // /bytes: a repeating pattern whose FNV the tests can compute; written in 64 KiB pieces.
    std::string block(64 * 1024, '\0');
    for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>('a' + i % 26);
    uint64_t sent = 0;
    while (sent < stream_bytes) {
      size_t piece = static_cast<size_t>(std::min<uint64_t>(block.size(), stream_bytes - sent));
      std::string framed;
      if (chunked) {
        char line[32];
        std::snprintf(line, sizeof line, "%zx\r\n", piece);
        framed = line;
        framed.append(block, 0, piece);
        framed += "\r\n";
      }
      auto buf = chunked ? asio::buffer(framed) : asio::buffer(block.data(), piece);
      auto [wec, wn] = co_await asio::async_write(socket, buf, kNoThrow);
      if (wec) co_return;
      sent += piece;
    }
    if (chunked) {
      auto [wec, wn] =
          co_await asio::async_write(socket, asio::buffer(std::string_view("0\r\n\r\n")), kNoThrow);
      if (wec) co_return;
    }
    if (!keep_alive) {
      std::error_code ignored;
      socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
      co_return;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:9001";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view flag = argv[i];
    if (flag == "--name") {
      g_name = argv[i + 1];
    } else if (flag == "--listen") {
      listen = argv[i + 1];
    } else if (flag == "--status") {
      g_status = std::atoi(argv[i + 1]);
    } else {
      std::fprintf(stderr, "usage: demo_backend --name NAME --listen IP:PORT [--status CODE]\n");
      return 2;
    }
  }
  auto address = sluice::core::SocketAddress::parse(listen);
  if (!address) {
    std::fprintf(stderr, "demo_backend: bad --listen '%s'\n", listen.c_str());
    return 2;
  }
  asio::io_context io(1);
  auto ep = address->to_endpoint<asio::ip::tcp::endpoint>();
  asio::ip::tcp::acceptor acceptor(io);
  std::error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(1024, ec);
  if (ec) {
    std::fprintf(stderr, "demo_backend: listen %s: %s\n", listen.c_str(), ec.message().c_str());
    return 1;
  }
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](std::error_code, int) { io.stop(); });
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        while (true) {
          auto [aec, socket] = co_await acceptor.async_accept(kNoThrow);
          if (aec) continue;
          asio::co_spawn(io, serve(std::move(socket)), asio::detached);
        }
      },
      asio::detached);
  std::fprintf(stderr, "demo_backend %s listening on %s\n", g_name.c_str(), listen.c_str());
  io.run();
  return 0;
}
