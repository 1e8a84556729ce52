#pragma once
// The control plane of the packet tier: loads the balancer BPF program (libbpf skeleton),
// keeps its maps in step with the `packet:` config and the reals' health, attaches it to an
// interface, runs it on built frames (BPF_PROG_TEST_RUN) and reads its counters.
// Not thread-safe: owned by the main thread.
#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "config/config.h"
#include "packet/bpf/lb_shared.h"

struct balancer_bpf;

namespace sluice::packet {

// What the maps need beyond the config: resolved from the system by the caller (see
// interface.h), or given outright by tests.
struct LbSettings {
  std::array<uint8_t, 6> gateway_mac{};
  std::optional<core::Cidr> source_v4;  // ipip outer source (prefix: varied per flow)
  std::optional<core::Cidr> source_v6;
  uint32_t mtu = 1500;
};

struct Counter {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};

// Packets and bytes per VIP (by PacketVip::name()), per real (by address; a real shared by
// VIPs is counted once) and per reason (enum sluice_reason).
struct CounterSnapshot {
  std::vector<std::pair<std::string, Counter>> vips;
  std::vector<std::pair<std::string, Counter>> reals;
  std::array<Counter, SLUICE_REASON_COUNT> reasons{};
};

std::string_view reason_name(int reason);

// The SLUICE_VIP_* flags the program gets for a VIP (they select what the flow hash covers).
uint32_t vip_flags(const config::PacketVip& vip);

struct TestRun {
  int action = -1;  // XDP_ABORTED/DROP/PASS/TX/REDIRECT
  std::vector<uint8_t> frame;
  uint64_t duration_ns = 0;  // per repetition, as the kernel measured
};

class XdpBalancer {
 public:
  // Opens and loads the program with a connection table of `conn_table_size` entries.
  static std::unique_ptr<XdpBalancer> load(uint32_t conn_table_size, std::string* error);
  ~XdpBalancer();
  XdpBalancer(const XdpBalancer&) = delete;
  XdpBalancer& operator=(const XdpBalancer&) = delete;

  // A real is usable unless this says otherwise (health checks, drains).
  using Usable = std::function<bool(const config::PacketVip&, const config::PacketReal&)>;

  // Brings the maps in line with `vips`: VIP and real ids stay stable across calls, and only
  // the Maglev tables whose usable reals or weights changed are rebuilt, each swapped in whole.
  // Established l4 flows keep their real through any change (unless it left the config).
  bool configure(const std::vector<config::PacketVip>& vips, const LbSettings& settings,
                 const Usable& usable, std::string* error);

  // mode: native | generic | auto | tc. `warning` says when auto fell back to generic. tc
  // attaches the same code at the clsact ingress hook (no ICMP too-big replies there).
  bool attach(const std::string& interface, const std::string& mode, std::string* error,
              std::string* warning);
  void detach();
  const std::string& attached_interface() const { return interface_; }

  // BPF_PROG_TEST_RUN of the XDP program, or with `tc` of its tc build (action: TC_ACT_*).
  TestRun test_run(std::span<const uint8_t> frame, uint32_t repeat = 1, bool tc = false);
  int program_fd() const;

  CounterSnapshot counters() const;
  // Which real the Maglev table of `vip` holds for `hash` (nullopt: no table).
  std::optional<std::string> table_real(const std::string& vip, uint32_t hash) const;
  // Rebuilds so far, for tests: how many tables were swapped in.
  uint64_t tables_built() const { return tables_built_; }

 private:
  XdpBalancer() = default;

  struct RealKey {
    core::IpAddress address;
    uint16_t port = 0;
    bool operator<(const RealKey& o) const {
      return std::tie(address.bytes, address.is_v4, port) <
             std::tie(o.address.bytes, o.address.is_v4, o.port);
    }
  };
  struct VipState {
    uint32_t id = 0;
    std::vector<uint32_t> table_signature;  // (real id, weight) pairs of the current table
    std::vector<uint32_t> table;            // real id per slot, kept for explain
    std::vector<std::string> real_names;
  };

  uint32_t real_id(const RealKey& key);
  bool build_table(VipState& state, const std::vector<std::pair<uint32_t, uint32_t>>& reals,
                   std::string* error);

  bool attach_tc(const std::string& interface, int ifindex, std::string* error);
  static constexpr uint32_t kTcHandle = 0x5c1;
  static constexpr uint32_t kTcPriority = 1;

  balancer_bpf* skel_ = nullptr;
  bool tc_ = false;
  bool tc_created_qdisc_ = false;
  std::string interface_;
  int ifindex_ = 0;
  uint32_t attach_flags_ = 0;
  std::map<std::string, VipState> vips_;  // by PacketVip::name()
  std::map<RealKey, uint32_t> real_ids_;
  std::vector<bool> real_used_ = std::vector<bool>(SLUICE_MAX_REALS, false);
  uint32_t next_real_ = 0;
  std::vector<sluice_vip_key> vip_keys_;  // what the vips map holds now
  uint64_t tables_built_ = 0;
};

}  // namespace sluice::packet
