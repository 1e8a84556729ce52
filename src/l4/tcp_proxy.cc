#include "l4/tcp_proxy.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <fmt/format.h>

#include <array>
#include <chrono>
#include <cstring>
#include <tuple>
#include <vector>

#include "core/log.h"
#include "l4/proxy_protocol.h"
#include "tls/client_hello.h"

namespace sluice::l4 {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr size_t kSpliceChunk = 256 * 1024;
constexpr uint32_t kMaxTries = 11;

// Empty pipes kept per thread for the next connection: creating one, and growing it to 256 KiB,
// cost more than a short connection's whole transfer (bench/tcp.sh, short connections).
constexpr size_t kMaxCachedPipes = 256;
thread_local std::vector<std::pair<int, int>> t_pipes;

// A pipe for one direction; the data moves socket -> pipe -> socket inside the kernel.
struct Pipe {
  int read_end = -1;
  int write_end = -1;
  size_t pending = 0;   // bytes in the pipe not yet written out
  bool broken = false;  // left with unknown content
  Pipe() {
    if (!t_pipes.empty()) {
      std::tie(read_end, write_end) = t_pipes.back();
      t_pipes.pop_back();
      return;
    }
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0) {
      read_end = fds[0];
      write_end = fds[1];
      ::fcntl(write_end, F_SETPIPE_SZ, static_cast<int>(kSpliceChunk));  // fewer round trips
    }
  }
  ~Pipe() {
    if (read_end < 0) return;
    if (pending == 0 && !broken && t_pipes.size() < kMaxCachedPipes) {  // only an empty pipe
      t_pipes.emplace_back(read_end, write_end);
      return;
    }
    ::close(read_end);
    ::close(write_end);
  }
  bool ok() const { return read_end >= 0; }
};

class TcpSession;
// This thread's sessions, swept by the worker's tick for their deadlines (connect, idle,
// max_duration): no timer object per connection, whose arming costs a syscall each time.
thread_local TcpSession* t_sessions = nullptr;

class TcpSession : public std::enable_shared_from_this<TcpSession> {
 public:
  TcpSession(asio::io_context& io, TcpJob job)
      : io_(io), job_(std::move(job)), upstream_(io), started_(Clock::now()) {
    next_ = t_sessions;
    if (next_) next_->prev_ = this;
    t_sessions = this;
  }
  ~TcpSession() {
    if (prev_) prev_->next_ = next_;
    if (next_) next_->prev_ = prev_;
    if (t_sessions == this) t_sessions = next_;
    // The slot goes back before the gauge drops: no open connections means every slot is free.
    job_.slot = core::ClientSlot();
    job_.stats->active.dec();
    if (!job_.log) return;
    auto ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
    std::string endpoint =
        endpoint_ >= 0 ? job_.cluster->endpoints[endpoint_].address.to_string() : std::string("-");
    job_.log(fmt::format("{} tcp {} -> {} from_client={} to_client={} {:.3f}ms {}\n",
                         job_.listener->name, job_.client_text, endpoint, from_client_, to_client_,
                         ms, reason_ ? reason_ : "done"));
  }

  asio::awaitable<void> run();

 private:
  asio::awaitable<bool> connect();
  asio::awaitable<std::error_code> connect_to(const asio::ip::tcp::endpoint& ep);
  asio::awaitable<void> pump(asio::ip::tcp::socket& from, asio::ip::tcp::socket& to,
                             core::Counter& counter, uint64_t* total);
  void close_all(const char* reason) {
    if (!reason_) reason_ = reason;
    std::error_code ec;
    job_.client.close(ec);
    upstream_.close(ec);
  }

 public:
  // Called on this thread by sweep_tcp_sessions.
  void check(Clock::time_point now) {
    if (now >= connect_deadline_) {
      connect_deadline_ = Clock::time_point::max();
      connect_timed_out_ = true;
      std::error_code ec;
      upstream_.close(ec);  // the pending connect completes with an error
      return;
    }
    if (!pumping_ || !job_.client.is_open()) return;
    if (now - last_activity_ >= job_.listener->timeouts.idle) {
      job_.stats->idle_timeouts.add();
      close_all("idle_timeout");
    } else if (job_.listener->timeouts.max_duration.count() > 0 &&
               now - started_ >= job_.listener->timeouts.max_duration) {
      job_.stats->max_duration.add();
      close_all("max_duration");
    }
  }
  TcpSession* next_ = nullptr;
  TcpSession* prev_ = nullptr;

 private:
  asio::io_context& io_;
  TcpJob job_;
  asio::ip::tcp::socket upstream_;
  Clock::time_point started_;
  Clock::time_point connect_deadline_ = Clock::time_point::max();
  bool pumping_ = false;
  Clock::time_point last_activity_ = Clock::now();
  int endpoint_ = -1;
  bool connect_timed_out_ = false;
  int directions_open_ = 2;
  const char* reason_ = nullptr;
  uint64_t from_client_ = 0;
  uint64_t to_client_ = 0;
};

// Asio's async_connect costs a poll() and a second FIONBIO per connection on top of this; at a
// short connection's ~25 syscalls that is measurable.
asio::awaitable<std::error_code> TcpSession::connect_to(const asio::ip::tcp::endpoint& ep) {
  std::error_code ec;
  upstream_.open(ep.protocol(), ec);
  if (!ec) upstream_.non_blocking(true, ec);  // for good: splice() runs on this descriptor
  if (ec) co_return ec;
  if (::connect(upstream_.native_handle(), ep.data(), static_cast<socklen_t>(ep.size())) == 0)
    co_return ec;
  if (errno != EINPROGRESS) co_return std::error_code(errno, std::system_category());
  auto [wec] = co_await upstream_.async_wait(asio::socket_base::wait_write, kNoThrow);
  if (wec) co_return wec;  // closed by the connect timeout
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(upstream_.native_handle(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  co_return err ? std::error_code(err, std::system_category()) : std::error_code();
}

asio::awaitable<bool> TcpSession::connect() {
  std::array<uint32_t, kMaxTries> tried{};
  uint32_t tried_count = 0;
  uint32_t tries_left = 1 + std::min<uint32_t>(job_.cluster->retries.attempts, kMaxTries - 1);
  while (tries_left-- > 0) {
    int index = job_.pick(std::span<const uint32_t>(tried.data(), tried_count));
    if (index < 0) break;
    tried[tried_count++] = static_cast<uint32_t>(index);
    auto ep = job_.cluster->endpoints[index].address.to_endpoint<asio::ip::tcp::endpoint>();
    std::error_code ec;
    upstream_.close(ec);
    connect_timed_out_ = false;
    connect_deadline_ = Clock::now() + job_.cluster->timeouts.connect;  // swept, see check()
    auto cec = co_await connect_to(ep);
    connect_deadline_ = Clock::time_point::max();
    const bool timed_out = connect_timed_out_;
    if (!cec && !timed_out) {
      endpoint_ = index;
      upstream_.set_option(asio::ip::tcp::no_delay(true), ec);
      if (job_.note) job_.note(index, false);
      co_return true;
    }
    job_.stats->connect_failures.add();
    if (job_.note) job_.note(index, true);
    if (!job_.cluster->retries.on_connect_failure) break;
  }
  co_return false;
}

asio::awaitable<void> TcpSession::pump(asio::ip::tcp::socket& from, asio::ip::tcp::socket& to,
                                       core::Counter& counter, uint64_t* total) {
  auto self = shared_from_this();
  Pipe pipe;
  if (!pipe.ok()) {
    close_all("pipe");
    co_return;
  }
  const int in = from.native_handle();
  const int out = to.native_handle();
  bool eof = false;
  while (true) {
    if (!eof && pipe.pending < kSpliceChunk) {
      ssize_t n = ::splice(in, nullptr, pipe.write_end, nullptr, kSpliceChunk - pipe.pending,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n > 0) {
        pipe.pending += static_cast<size_t>(n);
        last_activity_ = Clock::now();
      } else if (n == 0) {
        eof = true;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        close_all("reset");
        co_return;
      } else if (pipe.pending == 0) {
        auto [ec] = co_await from.async_wait(asio::socket_base::wait_read, kNoThrow);
        if (ec) co_return;  // closed by the other direction or a timeout
        continue;
      }
    }
    while (pipe.pending > 0) {
      ssize_t m = ::splice(pipe.read_end, nullptr, out, nullptr, pipe.pending,
                           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (m > 0) {
        pipe.pending -= static_cast<size_t>(m);
        counter.add(static_cast<uint64_t>(m));
        *total += static_cast<uint64_t>(m);
        last_activity_ = Clock::now();
      } else if (m < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        // The peer is not reading: back-pressure holds this direction's reads too.
        auto [ec] = co_await to.async_wait(asio::socket_base::wait_write, kNoThrow);
        if (ec) co_return;
      } else {
        // The receiver is gone (EPIPE, reset). Its last words may still be on their way back
        // in the other direction: end only this direction and let that one finish, instead of
        // closing both and turning the client's pending data into a reset.
        pipe.broken = true;  // bytes may remain in it: closed, not reused
        if (--directions_open_ == 0) close_all("done");
        co_return;
      }
    }
    if (eof) break;
  }
  // Pass the FIN on (half-close); the other direction keeps flowing until it ends too.
  std::error_code ec;
  to.shutdown(asio::socket_base::shutdown_send, ec);
  if (--directions_open_ == 0) close_all("done");
}

asio::awaitable<void> TcpSession::run() {
  auto self = shared_from_this();
  job_.stats->connections.add();
  job_.stats->active.inc();
  if (co_await connect()) {
    std::error_code ec;
    if (job_.cluster->proxy_protocol != 0) {
      // The backend learns who the client is before any byte of the client's.
      auto local = job_.client.local_endpoint(ec);
      core::SocketAddress source{job_.client_ip, job_.client_port};
      core::SocketAddress destination{core::IpAddress::from_sockaddr(local.data()), local.port()};
      std::string header = job_.cluster->proxy_protocol == 1 ? proxy_v1_header(source, destination)
                                                             : proxy_v2_header(source, destination);
      auto [wec, n] = co_await asio::async_write(upstream_, asio::buffer(header), kNoThrow);
      if (wec) {
        close_all("reset");
        co_return;
      }
    }
    if (!job_.initial.empty()) {
      auto [wec, n] = co_await asio::async_write(upstream_, asio::buffer(job_.initial), kNoThrow);
      if (wec) {
        close_all("reset");
        co_return;
      }
      from_client_ += job_.initial.size();
      job_.stats->bytes_from_client.add(job_.initial.size());
      std::string().swap(job_.initial);
    }
    job_.client.non_blocking(true, ec);  // splice() is called directly on the descriptors
    asio::co_spawn(io_, pump(job_.client, upstream_, job_.stats->bytes_from_client, &from_client_),
                   asio::detached);
    asio::co_spawn(io_, pump(upstream_, job_.client, job_.stats->bytes_to_client, &to_client_),
                   asio::detached);
    last_activity_ = Clock::now();
    pumping_ = true;  // from here the sweep watches idle time and max_duration
  } else {
    job_.stats->no_endpoint.add();
    close_all("no_endpoint");
  }
}

}  // namespace

asio::awaitable<std::optional<std::string>> read_client_hello(asio::ip::tcp::socket& socket,
                                                              std::chrono::milliseconds timeout,
                                                              std::string* buffer,
                                                              const char** why) {
  // The flag lives on the heap: the timer's handler may run after this coroutine returned.
  auto timed_out = std::make_shared<bool>(false);
  asio::steady_timer timer(socket.get_executor());
  timer.expires_after(timeout);
  timer.async_wait([&socket, timed_out](std::error_code ec) {
    if (ec) return;
    *timed_out = true;
    std::error_code ignored;
    socket.cancel(ignored);
  });
  char chunk[4096];
  while (true) {
    auto result = tls::parse_client_hello(*buffer);
    if (result.state == tls::ClientHelloResult::State::kDone) {
      timer.cancel();
      co_return result.info.sni;
    }
    if (result.state == tls::ClientHelloResult::State::kError) {
      timer.cancel();
      *why = result.error;
      co_return std::nullopt;
    }
    if (buffer->size() > tls::kMaxClientHelloBytes + 1024) {  // records' headers included
      timer.cancel();
      *why = "ClientHello too large";
      co_return std::nullopt;
    }
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(chunk), kNoThrow);
    if (ec) {
      timer.cancel();
      *why = *timed_out ? "ClientHello timeout" : "closed before ClientHello";
      co_return std::nullopt;
    }
    buffer->append(chunk, n);
  }
}

void sweep_tcp_sessions(std::chrono::steady_clock::time_point now) {
  for (TcpSession* s = t_sessions; s;) {
    TcpSession* next = s->next_;  // check() may end the session only later, never here
    s->check(now);
    s = next;
  }
}

void spawn_tcp_proxy(asio::io_context& io, TcpJob job) {
  auto session = std::make_shared<TcpSession>(io, std::move(job));
  asio::co_spawn(io, session->run(), asio::detached);
}

}  // namespace sluice::l4
