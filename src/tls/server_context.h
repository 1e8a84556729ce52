#pragma once
// Everything one https listener needs to accept TLS: one SSL_CTX per certificate with SNI choosing
// between them (exact names first, then "*.rest" wildcards, read from the certificates; unknown
// or missing SNI gets the default certificate), ALPN in the server's order, TLS 1.2+ only, no
// renegotiation, a session cache and session tickets with rotated (or shared, from a file) keys,
// OCSP staples, and client certificate verification. Built on the main thread from the config,
// then only read by the workers (OpenSSL's own locks cover the session cache).
#include <openssl/ssl.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"

namespace sluice::tls {

class ServerContext {
 public:
  // Null and `*error` (naming the file) when a file cannot be used.
  static std::shared_ptr<ServerContext> build(const config::ListenerTls& tls, std::string* error);
  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // A new server-side SSL for an accepted connection; the caller frees it.
  SSL* new_ssl() const;
  const config::ListenerTls& config() const { return config_; }
  size_t certificate_count() const { return certs_.size(); }

 private:
  struct Cert {
    SSL_CTX* ctx = nullptr;
    std::string ocsp;  // DER response to staple
  };
  struct TicketKey {
    unsigned char name[16];
    unsigned char hmac[32];
    unsigned char aes[32];
    std::chrono::steady_clock::time_point created;
  };

  ServerContext() = default;
  std::string configure(SSL_CTX* ctx);
  std::string load_ticket_keys();
  const TicketKey* encryption_key();  // rotates random keys when due; under tickets_mu_
  static int on_servername(SSL* ssl, int* alert, void* arg);
  static int on_alpn(SSL* ssl, const unsigned char** out, unsigned char* out_len,
                     const unsigned char* in, unsigned int in_len, void* arg);
  static int on_ocsp(SSL* ssl, void* arg);
  static int on_ticket(SSL* ssl, unsigned char* name, unsigned char* iv, EVP_CIPHER_CTX* cipher,
                       EVP_MAC_CTX* mac, int encrypt);

  config::ListenerTls config_;
  std::vector<Cert> certs_;
  std::unordered_map<std::string, size_t> exact_;     // name -> certs_ index
  std::unordered_map<std::string, size_t> wildcard_;  // "example.com" for "*.example.com"
  std::string alpn_wire_;                             // length-prefixed, server preference
  std::mutex tickets_mu_;
  std::vector<TicketKey> ticket_keys_;  // [0] encrypts; all decrypt
  bool ticket_keys_from_file_ = false;
};

}  // namespace sluice::tls
