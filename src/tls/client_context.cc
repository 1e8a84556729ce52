#include "tls/client_context.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>

namespace sluice::tls {
namespace {
std::string openssl_reason() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  const char* reason = e ? ERR_reason_error_string(e) : nullptr;
  return reason ? reason : "unknown error";
}
constexpr unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
constexpr unsigned char kAlpnH2[] = {2, 'h', '2'};
}  // namespace

ClientContext::~ClientContext() {
  for (auto& [endpoint, session] : sessions_) SSL_SESSION_free(session);
  SSL_CTX_free(ctx_);
}

std::shared_ptr<ClientContext> ClientContext::build(const config::UpstreamTls& tls, bool h2,
                                                    std::string* error) {
  std::shared_ptr<ClientContext> self(new ClientContext());
  self->config_ = tls;
  ERR_clear_error();
  self->ctx_ = SSL_CTX_new(TLS_client_method());
  if (!self->ctx_) {
    *error = "cannot create a TLS context: " + openssl_reason();
    return nullptr;
  }
  SSL_CTX* ctx = self->ctx_;
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // Sessions are kept by us, per endpoint (OpenSSL's client cache has no notion of endpoint).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  if (tls.verify) {
    if (SSL_CTX_load_verify_locations(ctx, tls.ca.c_str(), nullptr) != 1) {
      *error = "CA file '" + tls.ca + "': " + openssl_reason();
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!tls.cert.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, tls.cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, tls.key.c_str(), SSL_FILETYPE_PEM) != 1) {
      *error = "client certificate '" + tls.cert + "': " + openssl_reason();
      return nullptr;
    }
  }
  if (h2) {
    SSL_CTX_set_alpn_protos(ctx, kAlpnH2, sizeof(kAlpnH2));
  } else {
    SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof(kAlpn));
  }
  return self;
}

SSL* ClientContext::new_ssl(const std::string& endpoint) const {
  SSL* ssl = SSL_new(ctx_);
  if (!ssl) return nullptr;
  if (!config_.sni.empty()) {
    SSL_set_tlsext_host_name(ssl, config_.sni.c_str());
    // Verifying means the certificate is for this name too, not just from the right CA.
    if (config_.verify) SSL_set1_host(ssl, config_.sni.c_str());
  }
  std::lock_guard lock(mu_);
  if (auto it = sessions_.find(endpoint); it != sessions_.end()) SSL_set_session(ssl, it->second);
  return ssl;
}

void ClientContext::save_session(const std::string& endpoint, SSL* ssl) const {
  SSL_SESSION* session = SSL_get1_session(ssl);
  if (!session) return;
  std::lock_guard lock(mu_);
  auto& slot = sessions_[endpoint];
  if (slot) SSL_SESSION_free(slot);
  slot = session;
}

}  // namespace sluice::tls
