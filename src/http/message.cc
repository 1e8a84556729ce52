#include "http/message.h"

namespace sluice::http {

const Header* RequestHead::find(std::string_view lower_name) const {
  for (const auto& h : headers) {
    if (iequals(h.name, lower_name)) return &h;
  }
  return nullptr;
}

bool is_hop_by_hop(std::string_view name, const Framing& framing) {
  static constexpr std::string_view kHopByHop[] = {
      "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade",
  };
  for (auto h : kHopByHop) {
    if (iequals(name, h)) return true;
  }
  for (auto t : framing.connection_tokens) {
    if (iequals(name, t)) return true;
  }
  return false;
}

}  // namespace sluice::http
