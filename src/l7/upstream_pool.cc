#include "l7/upstream_pool.h"

#include "l7/tls_bio.h"

#include <openssl/err.h>
#include <sys/socket.h>

namespace sluice::l7 {

bool UpstreamPool::take(const std::string& endpoint, asio::ip::tcp::socket* out, SSL** ssl,
                        ConnectionToken* token, bool probe) {
  auto it = idle_.find(endpoint);
  if (it == idle_.end()) return false;
  while (!it->second.empty()) {
    Idle idle = std::move(it->second.back());
    it->second.pop_back();
    if (!probe) {
      *out = std::move(idle.socket);
      *ssl = idle.ssl.release();
      *token = std::move(idle.token);
      return true;
    }
    if (idle.ssl) {
      // TLS: records may wait unread (a TLS 1.3 session ticket) on a healthy connection, so ask
      // OpenSSL: no application byte and no close means alive.
      char byte;
      size_t n = 0;
      tls_io::pull(idle.ssl.get());  // a close may wait in the socket, not yet in the BIO
      ERR_clear_error();
      int rc = SSL_peek_ex(idle.ssl.get(), &byte, 1, &n);
      if (rc != 1 && SSL_get_error(idle.ssl.get(), rc) == SSL_ERROR_WANT_READ) {
        ERR_clear_error();
        *out = std::move(idle.socket);
        *ssl = idle.ssl.release();
        *token = std::move(idle.token);
        return true;
      }
      ERR_clear_error();
      continue;
    }
    // A peer that closed while idle shows as readable (EOF); pending bytes on an idle HTTP/1
    // connection are a protocol error. Either way the connection is not reusable.
    char byte;
    ssize_t n = ::recv(idle.socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      *out = std::move(idle.socket);
      *ssl = nullptr;
      *token = std::move(idle.token);
      return true;
    }
  }
  return false;
}

void UpstreamPool::give_back(const std::string& endpoint, asio::ip::tcp::socket socket, SSL* ssl,
                             ConnectionToken token, uint32_t max_idle, Clock::time_point now) {
  std::unique_ptr<SSL, FreeSsl> owned(ssl);
  auto& list = idle_[endpoint];
  if (list.size() >= max_idle) return;  // socket closes here
  list.push_back({std::move(socket), std::move(owned), std::move(token), now});
}

void UpstreamPool::sweep(Clock::time_point now, std::chrono::milliseconds max_idle_time) {
  for (auto& [endpoint, list] : idle_) {
    std::erase_if(list, [&](const Idle& idle) { return now - idle.since > max_idle_time; });
  }
}

size_t UpstreamPool::idle_count() const {
  size_t n = 0;
  for (const auto& [endpoint, list] : idle_) n += list.size();
  return n;
}

}  // namespace sluice::l7
