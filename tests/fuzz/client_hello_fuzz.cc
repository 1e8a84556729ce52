// libFuzzer target: the ClientHello parser of TLS passthrough. Invariants: no crash; feeding the
// bytes in two parts gives the same answer as feeding them whole; an SNI, when found, is a
// lower-case host name.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tls/client_hello.h"

using sluice::tls::ClientHelloResult;
using sluice::tls::parse_client_hello;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  auto whole = parse_client_hello(input);
  auto prefix = parse_client_hello(input.substr(0, size / 2));
  // A prefix can only be incomplete, or already decided the same way.
  if (prefix.state == ClientHelloResult::State::kDone &&
      whole.state != ClientHelloResult::State::kDone) {
    std::abort();
  }
  if (whole.state == ClientHelloResult::State::kDone) {
    for (char c : whole.info.sni) {
      if (c >= 'A' && c <= 'Z') std::abort();
    }
  }
  return 0;
}
