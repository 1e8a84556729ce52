#include "l7/websocket_upgrade.h"

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

}  // namespace sluice::l7
