#include "l7/forwarded_headers.h"

namespace sluice::l7 {

void rewrite_forwarded(const ForwardedFacts& facts, http::HeaderList* headers) {
  using http::HeaderId;
  http::Arena& arena = *headers->arena();
  // The client's own X-Forwarded-For (and Forwarded, when sluice adds to it) become one value,
  // joined in order (RFC 9110 5.3: a list split over several lines is the same list).
  std::string_view xff, fwd;
  auto join = [&](std::string_view* list, std::string_view value) {
    *list = list->empty() ? value : arena.join(*list, ", ", value);
  };
  headers->remove_if([&](const http::Header& h) {
    switch (h.id) {
      case HeaderId::kXForwardedProto:
      case HeaderId::kXForwardedHost:
        return true;
      case HeaderId::kXForwardedFor:
        join(&xff, h.value);
        return true;
      case HeaderId::kForwarded:
        if (!facts.add_forwarded) return false;
        join(&fwd, h.value);
        return true;
      default:
        return !facts.client_cert_header.empty() && http::iequals(h.name, facts.client_cert_header);
    }
  });
  headers->add({"X-Forwarded-For",
                xff.empty() ? facts.client_ip : arena.join(xff, ", ", facts.client_ip),
                HeaderId::kXForwardedFor});
  headers->add({"X-Forwarded-Proto", facts.proto, HeaderId::kXForwardedProto});
  if (!facts.client_cert_header.empty() && !facts.client_subject.empty())
    headers->add({facts.client_cert_header, facts.client_subject, HeaderId::kOther});
  if (!facts.host.empty())
    headers->add({"X-Forwarded-Host", facts.host, HeaderId::kXForwardedHost});
  if (facts.add_forwarded) {
    // for= is a node (RFC 7239 6): an IPv6 address is bracketed and quoted.
    const std::string_view node = facts.client_is_v4
                                      ? arena.join("for=", facts.client_ip)
                                      : arena.join("for=\"[", facts.client_ip, "]\"");
    const std::string_view element =
        arena.join(node, arena.join(";proto=", facts.proto, ";host=\"", facts.host), "\"");
    headers->add({"Forwarded", fwd.empty() ? element : arena.join(fwd, ", ", element),
                  HeaderId::kForwarded});
  }
}

}  // namespace sluice::l7
