#pragma once
// Idle keep-alive upstream connections of one worker, per endpoint address. Last in, first out
// (the warmest connection is reused first, and the coldest age out). Single-threaded: only its
// worker touches it.
#include <openssl/ssl.h>
#include <asio/ip/tcp.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "l7/stats.h"

namespace sluice::l7 {

class UpstreamPool {
 public:
  using Clock = std::chrono::steady_clock;

  // Moves an idle connection to `out`; false if there is none. With `probe`, a connection the
  // peer closed while idle is detected (one recv with MSG_PEEK) and skipped.
  // A TLS connection comes with its SSL (`*ssl`, null for plain TCP), owned by the caller after
  // take() and by the pool after give_back().
  bool take(const std::string& endpoint, asio::ip::tcp::socket* out, SSL** ssl,
            ConnectionToken* token, bool probe);
  void give_back(const std::string& endpoint, asio::ip::tcp::socket socket, SSL* ssl,
                 ConnectionToken token, uint32_t max_idle, Clock::time_point now);
  // Closes connections idle longer than `max_idle_time`, and any the peer has closed.
  void sweep(Clock::time_point now, std::chrono::milliseconds max_idle_time);
  void clear() { idle_.clear(); }
  size_t idle_count() const;

 private:
  struct FreeSsl {
    void operator()(SSL* ssl) const { SSL_free(ssl); }
  };
  struct Idle {
    asio::ip::tcp::socket socket;
    std::unique_ptr<SSL, FreeSsl> ssl;
    ConnectionToken token;
    Clock::time_point since;
  };
  std::unordered_map<std::string, std::vector<Idle>> idle_;
};

}  // namespace sluice::l7
