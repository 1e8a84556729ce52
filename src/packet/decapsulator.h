#pragma once
// `sluice decap`: attaches the decap BPF program to a backend's interface, so IP-in-IP packets
// for its local VIPs arrive as plain packets (see bpf/decap.bpf.c).
#include <memory>
#include <string>
#include <vector>

#include "core/address.h"

struct decap_bpf;

namespace sluice::packet {

class Decapsulator {
 public:
  static std::unique_ptr<Decapsulator> attach(const std::string& interface,
                                              const std::vector<core::IpAddress>& vips,
                                              const std::string& mode, std::string* error,
                                              std::string* warning);
  ~Decapsulator();
  Decapsulator(const Decapsulator&) = delete;
  Decapsulator& operator=(const Decapsulator&) = delete;

  uint64_t stripped_packets() const;

 private:
  Decapsulator() = default;
  decap_bpf* skel_ = nullptr;
  int ifindex_ = 0;
  uint32_t flags_ = 0;
};

}  // namespace sluice::packet
