#include "l7/websocket_upgrade.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

namespace sluice::l7 {
namespace {

bool upgrades_to_websocket(const std::vector<http::Header>& headers) {
  for (const auto& h : headers) {
    if (h.id == http::HeaderId::kUpgrade && http::list_has_token(h.value, "websocket")) return true;
  }
  return false;
}

}  // namespace

bool is_websocket_upgrade(const http::RequestHead& req) {
  if (req.method != "GET" || req.version_minor != 1 || req.framing.body != http::BodyKind::kNone)
    return false;
  bool connection_upgrade = false;
  for (auto t : req.framing.connection_tokens) connection_upgrade |= http::iequals(t, "upgrade");
  return connection_upgrade && upgrades_to_websocket(req.headers);
}

bool is_websocket_switch(const http::ResponseHead& resp) {
  return upgrades_to_websocket(resp.headers);
}

std::string make_websocket_key() {
  // 16 random bytes in base64 (RFC 6455 4.1): a nonce for the backend's handshake, not a secret.
  unsigned char nonce[16] = {};
  RAND_bytes(nonce, sizeof(nonce));
  unsigned char key[25];  // 24 characters and the NUL EVP_EncodeBlock writes
  EVP_EncodeBlock(key, nonce, sizeof(nonce));
  return std::string(reinterpret_cast<const char*>(key), 24);
}

}  // namespace sluice::l7
