// libFuzzer target: the PROXY protocol v1/v2 parser. Invariants: no crash, a parsed header never
// claims more bytes than given, and a prefix never decides differently from the whole.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "l4/proxy_protocol.h"

using sluice::l4::ProxyHeader;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto whole = sluice::l4::parse_proxy_header(input);
  if (whole.state == ProxyHeader::State::kDone && whole.consumed > size) std::abort();
  auto prefix = sluice::l4::parse_proxy_header(input.substr(0, size / 2));
  if (prefix.state == ProxyHeader::State::kDone &&
      (whole.state != ProxyHeader::State::kDone || whole.consumed != prefix.consumed)) {
    std::abort();
  }
  return 0;
}
