#pragma once
// The OpenSSL client context of one cluster with `tls:`: TLS 1.2+, the endpoints' certificates
// verified against the configured CA (and the `sni` name, when given), an optional client
// certificate, ALPN http/1.1, and the last session per endpoint kept for resumption, so that a
// new pooled connection costs an abbreviated handshake. Built on the main thread from the config;
// used by all workers.
#include <openssl/ssl.h>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "config/config.h"

namespace sluice::tls {

class ClientContext {
 public:
  // `h2`: offer only "h2" by ALPN (clusters with protocol h2), else "http/1.1".
  static std::shared_ptr<ClientContext> build(const config::UpstreamTls& tls, bool h2,
                                              std::string* error);
  ~ClientContext();
  ClientContext(const ClientContext&) = delete;
  ClientContext& operator=(const ClientContext&) = delete;

  // A client SSL for a connection to `endpoint` (a key for session reuse); the caller frees it.
  SSL* new_ssl(const std::string& endpoint) const;
  // After a successful handshake: keep the session for the next connection to `endpoint`.
  void save_session(const std::string& endpoint, SSL* ssl) const;

 private:
  ClientContext() = default;
  config::UpstreamTls config_;
  SSL_CTX* ctx_ = nullptr;
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, SSL_SESSION*> sessions_;
};

}  // namespace sluice::tls
