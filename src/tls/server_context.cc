#include "tls/server_context.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstring>

#include "tls/certificate.h"

namespace sluice::tls {
namespace {

int context_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::string openssl_reason() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  const char* reason = e ? ERR_reason_error_string(e) : nullptr;
  return reason ? reason : "unknown error";
}

constexpr size_t kTicketKeyFileBytes = 80;  // nginx's format: name 16, HMAC 32, AES 32
constexpr size_t kRandomKeysKept = 3;       // the current one and two for older tickets
constexpr char kSessionIdContext[] = "sluice";

}  // namespace

ServerContext::~ServerContext() {
  for (auto& c : certs_) SSL_CTX_free(c.ctx);
  OPENSSL_cleanse(ticket_keys_.data(), ticket_keys_.size() * sizeof(TicketKey));
}

std::shared_ptr<ServerContext> ServerContext::build(const config::ListenerTls& tls,
                                                    std::string* error) {
  std::shared_ptr<ServerContext> self(new ServerContext());
  self->config_ = tls;
  ERR_clear_error();
  for (const auto& entry : tls.certificates) {
    Cert cert;
    cert.ctx = SSL_CTX_new(TLS_server_method());
    if (!cert.ctx) {
      *error = "cannot create a TLS context: " + openssl_reason();
      return nullptr;
    }
    self->certs_.push_back(cert);  // freed with self from here on
    if (auto why = check_key_pair(entry.cert, entry.key); !why.empty()) {
      *error = why;
      return nullptr;
    }
    SSL_CTX* ctx = self->certs_.back().ctx;
    if (SSL_CTX_use_certificate_chain_file(ctx, entry.cert.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, entry.key.c_str(), SSL_FILETYPE_PEM) != 1) {
      *error = "certificate '" + entry.cert + "': " + openssl_reason();
      return nullptr;
    }
    if (!entry.ocsp.empty()) {
      self->certs_.back().ocsp = read_file(entry.ocsp, error);
      if (!error->empty()) return nullptr;
    }
    if (auto why = self->configure(ctx); !why.empty()) {
      *error = why;
      return nullptr;
    }
    const size_t index = self->certs_.size() - 1;
    for (const auto& name : certificate_names(entry.cert)) {
      // First certificate in file order wins a name, as the first matching route does.
      if (name.rfind("*.", 0) == 0) {
        self->wildcard_.try_emplace(name.substr(2), index);
      } else {
        self->exact_.try_emplace(name, index);
      }
    }
  }
  if (self->certs_.empty()) {
    *error = "an https listener needs at least one certificate";
    return nullptr;
  }
  for (const auto& proto : tls.alpn) {
    self->alpn_wire_.push_back(static_cast<char>(proto.size()));
    self->alpn_wire_ += proto;
  }
  // Callbacks take `this` and the Cert entries, whose addresses are final now.
  for (auto& cert : self->certs_) {
    SSL_CTX_set_ex_data(cert.ctx, context_index(), self.get());
    SSL_CTX_set_tlsext_servername_callback(cert.ctx, &ServerContext::on_servername);
    SSL_CTX_set_tlsext_servername_arg(cert.ctx, self.get());
    SSL_CTX_set_alpn_select_cb(cert.ctx, &ServerContext::on_alpn, self.get());
    if (!cert.ocsp.empty()) {
      SSL_CTX_set_tlsext_status_cb(cert.ctx, &ServerContext::on_ocsp);
      SSL_CTX_set_tlsext_status_arg(cert.ctx, &cert);
    }
    if (tls.session_tickets)
      SSL_CTX_set_tlsext_ticket_key_evp_cb(cert.ctx, &ServerContext::on_ticket);
  }
  if (tls.session_tickets) {
    if (auto why = self->load_ticket_keys(); !why.empty()) {
      *error = why;
      return nullptr;
    }
  }
  return self;
}

std::string ServerContext::configure(SSL_CTX* ctx) {
  const auto& tls = config_;
  SSL_CTX_set_min_proto_version(ctx, tls.min_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  uint64_t options =
      SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION;
  if (!tls.session_tickets) options |= SSL_OP_NO_TICKET;
  SSL_CTX_set_options(ctx, options);
  // OpenSSL's default is two; each costs the proxy about 190k instructions to seal (6.5% of a
  // full handshake) and the client as much to open and store (docs/configuration.md).
  SSL_CTX_set_num_tickets(ctx, tls.tickets_per_handshake);
  // Idle keep-alive connections give their 2 x 17 KiB record buffers back.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_set_cipher_list(ctx, tls.ciphers.c_str()) != 1)
    return "ciphers '" + tls.ciphers + "': " + openssl_reason();
  if (!tls.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, tls.ciphersuites.c_str()) != 1)
    return "ciphersuites '" + tls.ciphersuites + "': " + openssl_reason();
  // The same session id context everywhere, so SNI switching contexts keeps sessions valid.
  SSL_CTX_set_session_id_context(ctx, reinterpret_cast<const unsigned char*>(kSessionIdContext),
                                 sizeof(kSessionIdContext) - 1);
  if (tls.session_cache_size > 0) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, tls.session_cache_size);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  SSL_CTX_set_timeout(
      ctx, static_cast<long>(
               std::chrono::duration_cast<std::chrono::seconds>(tls.session_timeout).count()));
  if (!tls.client_ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, tls.client_ca.c_str(), nullptr) != 1)
      return "client_ca '" + tls.client_ca + "': " + openssl_reason();
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(tls.client_ca.c_str());
    if (names) SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(
        ctx, SSL_VERIFY_PEER | (tls.client_cert_required ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
        nullptr);
    SSL_CTX_set_verify_depth(ctx, 4);
  }
  return {};
}

std::string ServerContext::load_ticket_keys() {
  std::lock_guard lock(tickets_mu_);
  ticket_keys_.clear();
  if (config_.ticket_keys_file.empty()) {
    encryption_key();  // the first random key
    return {};
  }
  std::string error;
  std::string bytes = read_file(config_.ticket_keys_file, &error);
  if (!error.empty()) return error;
  if (bytes.empty() || bytes.size() % kTicketKeyFileBytes != 0) {
    return "ticket_keys_file '" + config_.ticket_keys_file +
           "' must hold one or more 80-byte keys (" + std::to_string(bytes.size()) + " bytes)";
  }
  for (size_t at = 0; at < bytes.size(); at += kTicketKeyFileBytes) {
    TicketKey key{};
    std::memcpy(key.name, bytes.data() + at, 16);
    std::memcpy(key.hmac, bytes.data() + at + 16, 32);
    std::memcpy(key.aes, bytes.data() + at + 48, 32);
    key.created = std::chrono::steady_clock::now();
    ticket_keys_.push_back(key);
  }
  OPENSSL_cleanse(bytes.data(), bytes.size());
  ticket_keys_from_file_ = true;
  return {};
}

const ServerContext::TicketKey* ServerContext::encryption_key() {
  const auto now = std::chrono::steady_clock::now();
  if (!ticket_keys_from_file_ &&
      (ticket_keys_.empty() || now - ticket_keys_.front().created >= config_.ticket_key_rotation)) {
    TicketKey key{};
    if (RAND_bytes(key.name, sizeof(key.name)) != 1 ||
        RAND_bytes(key.hmac, sizeof(key.hmac)) != 1 || RAND_bytes(key.aes, sizeof(key.aes)) != 1) {
      return ticket_keys_.empty() ? nullptr : &ticket_keys_.front();
    }
    key.created = now;
    ticket_keys_.insert(ticket_keys_.begin(), key);
    if (ticket_keys_.size() > kRandomKeysKept) {
      OPENSSL_cleanse(&ticket_keys_.back(), sizeof(TicketKey));
      ticket_keys_.pop_back();
    }
  }
  return ticket_keys_.empty() ? nullptr : &ticket_keys_.front();
}

SSL* ServerContext::new_ssl() const { return SSL_new(certs_[config_.default_certificate].ctx); }

int ServerContext::on_servername(SSL* ssl, int* /*alert*/, void* arg) {
  auto* self = static_cast<ServerContext*>(arg);
  const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!sni) return SSL_TLSEXT_ERR_OK;  // the default certificate
  char name[256];
  size_t len = strnlen(sni, sizeof(name));
  if (len == sizeof(name)) return SSL_TLSEXT_ERR_OK;  // longer than any DNS name
  for (size_t i = 0; i < len; ++i)
    name[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(sni[i])));
  std::string key(name, len);
  size_t index = self->config_.default_certificate;
  if (auto it = self->exact_.find(key); it != self->exact_.end()) {
    index = it->second;
  } else if (auto dot = key.find('.'); dot != std::string::npos) {
    if (auto w = self->wildcard_.find(key.substr(dot + 1)); w != self->wildcard_.end())
      index = w->second;
  }
  if (index != self->config_.default_certificate) SSL_set_SSL_CTX(ssl, self->certs_[index].ctx);
  return SSL_TLSEXT_ERR_OK;
}

int ServerContext::on_alpn(SSL* /*ssl*/, const unsigned char** out, unsigned char* out_len,
                           const unsigned char* in, unsigned int in_len, void* arg) {
  auto* self = static_cast<ServerContext*>(arg);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(
          &selected, out_len, reinterpret_cast<const unsigned char*>(self->alpn_wire_.data()),
          static_cast<unsigned>(self->alpn_wire_.size()), in, in_len) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;  // no common protocol: carry on without ALPN (HTTP/1.1)
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

int ServerContext::on_ocsp(SSL* ssl, void* arg) {
  const auto* cert = static_cast<const Cert*>(arg);
  if (SSL_get_SSL_CTX(ssl) != cert->ctx) {
    // SNI moved the connection to another certificate: staple that one's response.
    auto* self =
        static_cast<ServerContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
    cert = nullptr;
    for (const auto& c : self->certs_) {
      if (c.ctx == SSL_get_SSL_CTX(ssl)) cert = &c;
    }
    if (!cert || cert->ocsp.empty()) return SSL_TLSEXT_ERR_NOACK;
  }
  auto* copy = static_cast<unsigned char*>(OPENSSL_malloc(cert->ocsp.size()));
  if (!copy) return SSL_TLSEXT_ERR_NOACK;
  std::memcpy(copy, cert->ocsp.data(), cert->ocsp.size());
  SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(cert->ocsp.size()));
  return SSL_TLSEXT_ERR_OK;
}

int ServerContext::on_ticket(SSL* ssl, unsigned char* name, unsigned char* iv,
                             EVP_CIPHER_CTX* cipher, EVP_MAC_CTX* mac, int encrypt) {
  auto* self =
      static_cast<ServerContext*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
  if (!self) return -1;
  std::lock_guard lock(self->tickets_mu_);
  const TicketKey* key = nullptr;
  bool current = false;
  if (encrypt) {
    key = self->encryption_key();
    if (!key || RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1) return -1;
    std::memcpy(name, key->name, sizeof(key->name));
    current = true;
  } else {
    for (size_t i = 0; i < self->ticket_keys_.size(); ++i) {
      if (std::memcmp(name, self->ticket_keys_[i].name, 16) == 0) {
        key = &self->ticket_keys_[i];
        current = i == 0;
      }
    }
    if (!key) return 0;  // unknown or retired key: a full handshake
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, const_cast<unsigned char*>(key->hmac),
                                        sizeof(key->hmac)),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  if (EVP_MAC_CTX_set_params(mac, params) != 1) return -1;
  const int ok = encrypt ? EVP_EncryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes, iv)
                         : EVP_DecryptInit_ex(cipher, EVP_aes_256_cbc(), nullptr, key->aes, iv);
  if (ok != 1) return -1;
  return encrypt || current ? 1 : 2;  // 2: valid, but issue a ticket under the current key
}

}  // namespace sluice::tls
