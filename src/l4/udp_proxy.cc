#include "l4/udp_proxy.h"

#include <sys/socket.h>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "l4/proxy_protocol.h"

namespace sluice::l4 {
namespace {
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);
constexpr int kBatch = 32;              // datagrams per recvmmsg/sendmmsg
constexpr size_t kMaxDatagram = 65536;  // the largest UDP payload fits: nothing is truncated
constexpr int kRoundsPerWake = 8;       // then back to the event loop, so no socket starves
constexpr uint32_t kMaxTries = 3;

std::string key_of(const asio::ip::udp::endpoint& ep) {
  return std::string(reinterpret_cast<const char*>(ep.data()), ep.size());
}

bool would_block(int err) { return err == EAGAIN || err == EWOULDBLOCK; }

// Sends msgs[0..count) on fd without blocking; returns how many were dropped. An error on one
// datagram (e.g. a refused port reported late) drops that datagram only.
uint32_t send_all(int fd, mmsghdr* msgs, int count) {
  uint32_t dropped = 0;
  int done = 0;
  while (done < count) {
    int sent = ::sendmmsg(fd, msgs + done, static_cast<unsigned>(count - done), MSG_DONTWAIT);
    if (sent > 0) {
      done += sent;
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && would_block(errno)) return dropped + static_cast<uint32_t>(count - done);
    ++done;  // this one failed: skip it, keep the rest
    ++dropped;
  }
  return dropped;
}
}  // namespace

struct UdpProxy::Session {
  explicit Session(asio::io_context& io) : upstream(io) {}
  std::string key;
  asio::ip::udp::endpoint client;
  core::IpAddress client_ip;
  core::ClientSlot slot;  // its place in the listener's limits
  asio::ip::udp::socket upstream;
  int endpoint = -1;
  bool one_shot = false;
  bool answered = false;
  bool ended = false;
  Clock::time_point started = Clock::now();
  Clock::time_point last = started;
  uint64_t from_client = 0;
  uint64_t to_client = 0;
  std::shared_ptr<const void> keep;  // the config it started with
  std::string proxy_header;          // PROXY v2 header for this client, built once
  const config::Cluster* cluster = nullptr;
};

// Scratch for one batch; the proxy runs on one thread and never yields inside a batch, so one
// set per direction serves every session.
struct UdpProxy::Batch {
  std::array<mmsghdr, kBatch> msgs{};
  std::array<iovec, kBatch> iov{};
  std::array<sockaddr_storage, kBatch> names{};
  std::array<Session*, kBatch> owner{};  // the session each received datagram belongs to
  std::array<mmsghdr, kBatch> send{};
  std::array<iovec, 2 * kBatch> send_iov{};
  std::unique_ptr<char[]> data = std::make_unique_for_overwrite<char[]>(kBatch * kMaxDatagram);

  char* slot(int i) { return data.get() + static_cast<size_t>(i) * kMaxDatagram; }
  void arm_receive(bool with_names) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {slot(i), kMaxDatagram};
      msgs[i].msg_hdr = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      if (with_names) {
        msgs[i].msg_hdr.msg_name = &names[i];
        msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      }
    }
  }
};

UdpProxy::UdpProxy(asio::io_context& io, int fd, bool v6)
    : io_(io), socket_(io), in_(std::make_unique<Batch>()), out_(std::make_unique<Batch>()) {
  std::error_code ec;
  socket_.assign(v6 ? asio::ip::udp::v6() : asio::ip::udp::v4(), fd, ec);
}

UdpProxy::~UdpProxy() { stop(); }

void UdpProxy::stop() {
  stopped_ = true;
  std::error_code ec;
  socket_.close(ec);
  auto all = std::move(sessions_);
  for (auto& [k, s] : all) end(s, "stopped");
}

void UdpProxy::start() {
  asio::co_spawn(
      io_,
      [self = shared_from_this()]() -> asio::awaitable<void> {
        while (!self->stopped_) {
          auto [ec] = co_await self->socket_.async_wait(asio::socket_base::wait_read, kNoThrow);
          if (self->stopped_ || ec == asio::error::operation_aborted) co_return;
          self->drain_listener();
        }
      },
      asio::detached);
}

void UdpProxy::drain_listener() {
  Batch& b = *in_;
  const int fd = socket_.native_handle();
  for (int round = 0; round < kRoundsPerWake && !stopped_; ++round) {
    b.arm_receive(/*with_names=*/true);
    int n = ::recvmmsg(fd, b.msgs.data(), kBatch, MSG_DONTWAIT, nullptr);
    if (n <= 0) return;              // EAGAIN: drained; an error is reported once and cleared
    if (!target_.cluster) continue;  // no config yet: received and dropped
    auto* stats = target_.stats;
    const auto now = Clock::now();
    for (int i = 0; i < n; ++i) {
      asio::ip::udp::endpoint from;
      const auto& hdr = b.msgs[i].msg_hdr;
      std::memcpy(from.data(), hdr.msg_name, std::min<size_t>(hdr.msg_namelen, from.capacity()));
      Session* s = session_for(from);
      b.owner[i] = s;
      if (!s) continue;
      s->last = now;
      s->from_client += b.msgs[i].msg_len;
      stats->bytes_from_client.add(b.msgs[i].msg_len);
    }
    flush_to_upstreams(b, n);
    if (n < kBatch) return;
  }
}

void UdpProxy::flush_to_upstreams(Batch& b, int count) {
  std::error_code ec;
  for (int i = 0; i < count; ++i) {
    Session* s = b.owner[i];
    if (!s) continue;
    // This datagram and the later ones of the same session, in order, in one sendmmsg.
    const bool v2 = s->cluster->proxy_protocol == 2;
    if (v2 && s->proxy_header.empty()) {
      // PROXY v2 over UDP: every datagram carries the header, so the backend needs no state.
      auto local = socket_.local_endpoint(ec);
      s->proxy_header =
          proxy_v2_header({s->client_ip, s->client.port()},
                          {core::IpAddress::from_sockaddr(local.data()), local.port()}, true);
    }
    int m = 0;
    for (int j = i; j < count; ++j) {
      if (b.owner[j] != s) continue;
      b.owner[j] = nullptr;
      iovec* parts = &b.send_iov[2 * m];
      size_t nparts = 0;
      if (v2) parts[nparts++] = {s->proxy_header.data(), s->proxy_header.size()};
      parts[nparts++] = {b.slot(j), b.msgs[j].msg_len};
      b.send[m].msg_hdr = {};
      b.send[m].msg_hdr.msg_iov = parts;
      b.send[m].msg_hdr.msg_iovlen = nparts;
      ++m;
    }
    if (uint32_t dropped = send_all(s->upstream.native_handle(), b.send.data(), m))
      target_.stats->udp_datagrams_dropped.add(dropped);
  }
}

UdpProxy::Session* UdpProxy::session_for(const asio::ip::udp::endpoint& from) {
  auto* stats = target_.stats;
  const bool per_packet = target_.listener->udp_session_none;
  std::string key = key_of(from);
  if (!per_packet) {
    if (auto it = sessions_.find(key); it != sessions_.end()) return it->second.get();
  }
  auto ip = core::IpAddress::from_sockaddr(from.data());
  core::ClientSlot slot;
  if (auto* limiter = target_.limiter.get()) {
    const auto& limits = target_.listener->limits;
    if (!limiter->take_listener_slot(limits.max_connections)) {
      stats->udp_sessions_rejected.add();
      return nullptr;
    }
    slot = core::ClientSlot(target_.limiter, ip, false);
    if (limits.max_connections_per_ip > 0 || limits.connection_rate_per_ip > 0) {
      if (limiter->admit(ip, limits.max_connections_per_ip, limits.connection_rate_per_ip,
                         Clock::now()) != core::ClientLimiter::Verdict::kAdmit) {
        stats->udp_sessions_rejected.add();
        return nullptr;
      }
      slot.counted_per_ip();
    }
  }
  auto session = std::make_shared<Session>(io_);
  session->client = from;
  session->client_ip = ip;
  session->slot = std::move(slot);
  session->one_shot = per_packet;
  session->key = per_packet ? key + "#" + std::to_string(++one_shot_serial_) : std::move(key);
  session->keep = target_.keep;
  session->cluster = target_.cluster;
  std::array<uint32_t, kMaxTries> tried{};
  uint32_t count = 0;
  while (count < kMaxTries) {
    int index = target_.pick(std::span<const uint32_t>(tried.data(), count), ip);
    if (index < 0) break;
    tried[count++] = static_cast<uint32_t>(index);
    auto ep = target_.cluster->endpoints[index].address.to_endpoint<asio::ip::udp::endpoint>();
    std::error_code ec;
    session->upstream.open(ep.protocol(), ec);
    if (!ec) session->upstream.connect(ep, ec);  // a local operation for UDP: no round trip
    if (!ec) {
      session->endpoint = index;
      break;
    }
    stats->connect_failures.add();
    session->upstream.close(ec);
  }
  if (session->endpoint < 0) {
    stats->no_endpoint.add();
    return nullptr;
  }
  Session* raw = session.get();
  sessions_[session->key] = session;
  stats->connections.add();
  stats->active.inc();
  // Replies from the endpoint go back to the client from the listener's address.
  asio::co_spawn(
      io_,
      [self = shared_from_this(), session]() -> asio::awaitable<void> {
        while (!session->ended) {
          auto [ec] = co_await session->upstream.async_wait(asio::socket_base::wait_read, kNoThrow);
          if (session->ended || ec == asio::error::operation_aborted) co_return;
          self->relay_replies(*session);
          if (session->answered) {
            self->end(session, "answered");
            co_return;
          }
        }
      },
      asio::detached);
  return raw;
}

void UdpProxy::relay_replies(Session& s) {
  Batch& b = *out_;
  const int fd = s.upstream.native_handle();
  // A per-packet session waits for one answer only.
  const unsigned want = s.one_shot ? 1 : kBatch;
  for (int round = 0; round < kRoundsPerWake && !stopped_; ++round) {
    b.arm_receive(/*with_names=*/false);
    int n = ::recvmmsg(fd, b.msgs.data(), want, MSG_DONTWAIT, nullptr);
    if (n < 0) {
      if (errno == EINTR) continue;
      // ICMP port unreachable and the like: reported once; the idle timeout ends the session.
      if (would_block(errno)) return;
      continue;
    }
    if (n == 0) return;
    uint64_t bytes = 0;
    for (int i = 0; i < n; ++i) {
      b.send[i].msg_hdr = {};
      b.send[i].msg_hdr.msg_name = s.client.data();
      b.send[i].msg_hdr.msg_namelen = static_cast<socklen_t>(s.client.size());
      b.send[i].msg_hdr.msg_iov = &b.iov[i];  // filled by arm_receive; length is what arrived
      b.send[i].msg_hdr.msg_iovlen = 1;
      b.iov[i].iov_len = b.msgs[i].msg_len;
      bytes += b.msgs[i].msg_len;
    }
    s.last = Clock::now();
    s.to_client += bytes;
    target_.stats->bytes_to_client.add(bytes);
    if (uint32_t dropped = send_all(socket_.native_handle(), b.send.data(), n))
      target_.stats->udp_datagrams_dropped.add(dropped);
    if (s.one_shot) {
      s.answered = true;
      return;
    }
    if (n < kBatch) return;
  }
}

void UdpProxy::end(const std::shared_ptr<Session>& s, const char* reason) {
  if (s->ended) return;
  s->ended = true;
  std::error_code ec;
  s->upstream.close(ec);
  sessions_.erase(s->key);
  s->slot = core::ClientSlot();
  if (target_.stats) target_.stats->active.dec();
  if (target_.log && target_.listener) {
    auto ms = std::chrono::duration<double, std::milli>(Clock::now() - s->started).count();
    target_.log(fmt::format("{} udp {}:{} -> {} from_client={} to_client={} {:.3f}ms {}\n",
                            target_.listener->name, s->client.address().to_string(),
                            s->client.port(),
                            s->cluster->endpoints[s->endpoint].address.to_string(), s->from_client,
                            s->to_client, ms, reason));
  }
}

void UdpProxy::sweep(Clock::time_point now) {
  if (!target_.listener) return;
  const auto idle = target_.listener->timeouts.idle;
  std::vector<std::shared_ptr<Session>> expired;
  for (auto& [k, s] : sessions_) {
    if (now - s->last >= idle) expired.push_back(s);
  }
  for (auto& s : expired) {
    if (target_.stats) target_.stats->idle_timeouts.add();
    end(s, "idle_timeout");
  }
}

}  // namespace sluice::l4
