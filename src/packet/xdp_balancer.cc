#include "packet/xdp_balancer.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "balance/maglev.h"
#include "packet/balancer.skel.h"
#include "packet/flow.h"
#include "packet/libbpf_log.h"

namespace sluice::packet {
namespace {

std::string errno_text(int err) { return std::strerror(err < 0 ? -err : err); }

sluice_vip_key vip_key(const config::PacketVip& vip, bool address_only) {
  sluice_vip_key key{};
  put_address(vip.address, key.addr);
  key.family = vip.address.is_v4 ? 4 : 6;
  if (!address_only && vip.mode == "l4") {
    key.port = htons(vip.port);
    key.proto = vip.protocol == "udp" ? kProtoUdp : kProtoTcp;
  }
  return key;
}

bool same_key(const sluice_vip_key& a, const sluice_vip_key& b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

std::string real_name(const core::IpAddress& ip, uint16_t port) {
  return port ? core::SocketAddress{ip, port}.to_string() : ip.to_string();
}

constexpr const char* kReasonNames[SLUICE_REASON_COUNT] = {
    "pass_not_vip",    "pass_malformed",       "drop_malformed",   "drop_fragment",
    "drop_no_real",    "drop_headroom",        "drop_unsupported", "tx_icmp_echo",
    "tx_icmp_too_big", "tx_icmp_error_routed", "tx_nat_reply",     "conn_hit",
    "conn_new"};

}  // namespace

uint32_t vip_flags(const config::PacketVip& vip) {
  uint32_t flags = 0;
  if (vip.mode == "l3") flags |= SLUICE_VIP_L3;
  if (vip.forward == "nat") flags |= SLUICE_VIP_NAT;
  if (vip.hash_source_only) flags |= SLUICE_VIP_HASH_SRC;
  return flags;
}

std::string_view reason_name(int reason) {
  return reason >= 0 && reason < SLUICE_REASON_COUNT ? kReasonNames[reason] : "unknown";
}

std::unique_ptr<XdpBalancer> XdpBalancer::load(uint32_t conn_table_size, std::string* error) {
  route_libbpf_log();
  std::unique_ptr<XdpBalancer> lb(new XdpBalancer());
  lb->skel_ = balancer_bpf__open();
  if (!lb->skel_) {
    *error = "cannot open the packet tier's BPF object: " + errno_text(errno);
    return nullptr;
  }
  bpf_map__set_max_entries(lb->skel_->maps.conns, conn_table_size);
  bpf_map__set_max_entries(lb->skel_->maps.nat_origins, conn_table_size);
  if (int err = balancer_bpf__load(lb->skel_); err != 0) {
    *error = "cannot load the packet tier's BPF program: " + errno_text(err) +
             (err == -EPERM ? " (needs root or CAP_BPF + CAP_NET_ADMIN)" : "");
    return nullptr;
  }
  return lb;
}

XdpBalancer::~XdpBalancer() {
  detach();
  if (skel_) balancer_bpf__destroy(skel_);
}

int XdpBalancer::program_fd() const { return bpf_program__fd(skel_->progs.sluice_balancer); }

uint32_t XdpBalancer::real_id(const RealKey& key) {
  if (auto it = real_ids_.find(key); it != real_ids_.end()) return it->second;
  // Ids are not reused while free ones remain ahead: a connection entry that outlived its real
  // should not land on a new one.
  for (uint32_t n = 0; n < SLUICE_MAX_REALS; ++n) {
    uint32_t id = (next_real_ + n) % SLUICE_MAX_REALS;
    if (!real_used_[id]) {
      real_used_[id] = true;
      next_real_ = id + 1;
      real_ids_[key] = id;
      return id;
    }
  }
  return UINT32_MAX;
}

bool XdpBalancer::build_table(VipState& state,
                              const std::vector<std::pair<uint32_t, uint32_t>>& reals,
                              std::string* error) {
  const int outer = bpf_map__fd(skel_->maps.maglev);
  std::vector<uint32_t> signature;
  for (auto [id, weight] : reals) {
    signature.push_back(id);
    signature.push_back(weight);
  }
  if (signature == state.table_signature && !(reals.empty() && !state.table.empty())) return true;
  state.table_signature = signature;
  if (reals.empty()) {
    bpf_map_delete_elem(outer, &state.id);
    state.table.clear();
    return true;
  }
  // Keyed by the real's address (not its id), so that two sluice nodes with the same reals
  // compute the same table and ECMP between them moves no flow.
  std::vector<balance::EndpointSpec> eps;
  for (size_t i = 0; i < reals.size(); ++i) eps.push_back({state.real_names[i], reals[i].second});
  balance::Maglev maglev(eps);
  const auto& slots = maglev.table();
  if (slots.size() != SLUICE_MAGLEV_SIZE) {
    *error = "Maglev table of " + std::to_string(slots.size()) + " slots (expected 65537)";
    return false;
  }
  state.table.resize(slots.size());
  std::vector<uint32_t> keys(slots.size());
  for (uint32_t i = 0; i < slots.size(); ++i) {
    keys[i] = i;
    state.table[i] = reals[slots[i]].first;
  }
  int inner = bpf_map_create(BPF_MAP_TYPE_ARRAY, "sluice_maglev", sizeof(uint32_t),
                             sizeof(uint32_t), SLUICE_MAGLEV_SIZE, nullptr);
  if (inner < 0) {
    *error = "cannot create a Maglev map: " + errno_text(errno);
    return false;
  }
  uint32_t count = SLUICE_MAGLEV_SIZE;
  int err = bpf_map_update_batch(inner, keys.data(), state.table.data(), &count, nullptr);
  if (err == 0) err = bpf_map_update_elem(outer, &state.id, &inner, BPF_ANY);
  close(inner);  // the outer map holds it now
  if (err != 0) {
    *error = "cannot fill the Maglev map: " + errno_text(err);
    return false;
  }
  ++tables_built_;
  return true;
}

bool XdpBalancer::configure(const std::vector<config::PacketVip>& vips, const LbSettings& settings,
                            const Usable& usable, std::string* error) {
  // Reals first (a table must never name a real the reals map does not hold yet).
  std::map<RealKey, bool> wanted;
  for (const auto& vip : vips) {
    for (const auto& real : vip.reals) wanted[{real.address, real.port}] = true;
  }
  const int reals_fd = bpf_map__fd(skel_->maps.reals);
  for (auto it = real_ids_.begin(); it != real_ids_.end();) {
    if (wanted.count(it->first)) {
      ++it;
      continue;
    }
    sluice_real gone{};
    bpf_map_update_elem(reals_fd, &it->second, &gone, BPF_ANY);
    real_used_[it->second] = false;
    it = real_ids_.erase(it);
  }
  for (const auto& [key, unused] : wanted) {
    uint32_t id = real_id(key);
    if (id == UINT32_MAX) {
      *error = "more than " + std::to_string(SLUICE_MAX_REALS) + " distinct reals";
      return false;
    }
    sluice_real record{};
    put_address(key.address, record.addr);
    record.port = htons(key.port);
    record.family = key.address.is_v4 ? 4 : 6;
    if (int err = bpf_map_update_elem(reals_fd, &id, &record, BPF_ANY); err != 0) {
      *error = "cannot write a real: " + errno_text(err);
      return false;
    }
  }

  // VIP ids: kept by name, new ones take the lowest free id.
  std::vector<bool> id_used(SLUICE_MAX_VIPS, false);
  for (auto it = vips_.begin(); it != vips_.end();) {
    bool present = std::any_of(vips.begin(), vips.end(),
                               [&](const config::PacketVip& v) { return v.name() == it->first; });
    if (present) {
      id_used[it->second.id] = true;
      ++it;
    } else {
      it = vips_.erase(it);  // its table goes below, once no key points at it
    }
  }
  std::vector<sluice_vip_key> keys;
  std::vector<sluice_vip_info> infos;
  bool has_nat = false;
  for (const auto& vip : vips) {
    auto [it, added] = vips_.try_emplace(vip.name());
    VipState& state = it->second;
    if (added) {
      uint32_t id = 0;
      while (id < SLUICE_MAX_VIPS && id_used[id]) ++id;
      if (id == SLUICE_MAX_VIPS) {
        *error = "more than " + std::to_string(SLUICE_MAX_VIPS) + " vips";
        return false;
      }
      id_used[id] = true;
      state.id = id;
    }
    std::vector<std::pair<uint32_t, uint32_t>> usable_reals;
    state.real_names.clear();
    for (const auto& real : vip.reals) {
      if (usable && !usable(vip, real)) continue;
      usable_reals.emplace_back(real_ids_.at({real.address, real.port}), real.weight);
      state.real_names.push_back(real_name(real.address, real.port));
    }
    if (!build_table(state, usable_reals, error)) return false;
    has_nat = has_nat || vip.forward == "nat";
    keys.push_back(vip_key(vip, false));
    infos.push_back({state.id, vip_flags(vip)});
    if (vip.mode == "l4") {
      // The address alone marks it as ours (ICMP echo, malformed packets are dropped).
      auto marker = vip_key(vip, true);
      bool known = std::any_of(keys.begin(), keys.end(),
                               [&](const sluice_vip_key& k) { return same_key(k, marker); });
      if (!known) {
        keys.push_back(marker);
        infos.push_back({state.id, SLUICE_VIP_ADDR});
      }
    }
  }
  const int vips_fd = bpf_map__fd(skel_->maps.vips);
  for (size_t i = 0; i < keys.size(); ++i) {
    if (int err = bpf_map_update_elem(vips_fd, &keys[i], &infos[i], BPF_ANY); err != 0) {
      *error = "cannot write a vip: " + errno_text(err);
      return false;
    }
  }
  for (const auto& old : vip_keys_) {
    bool kept = std::any_of(keys.begin(), keys.end(),
                            [&](const sluice_vip_key& k) { return same_key(k, old); });
    if (!kept) bpf_map_delete_elem(vips_fd, &old);
  }
  vip_keys_ = keys;
  // Tables of VIPs that are gone.
  const int outer = bpf_map__fd(skel_->maps.maglev);
  for (uint32_t id = 0; id < SLUICE_MAX_VIPS; ++id) {
    if (!id_used[id]) bpf_map_delete_elem(outer, &id);
  }

  sluice_lb_config cfg{};
  std::memcpy(cfg.gateway_mac, settings.gateway_mac.data(), 6);
  cfg.has_nat = has_nat ? 1 : 0;
  cfg.mtu = settings.mtu;
  if (settings.source_v4) {
    __u32 addr[4];
    put_address(settings.source_v4->prefix, addr);
    const int host_bits = 128 - settings.source_v4->bits;
    cfg.source_v4 = addr[0];
    cfg.source_v4_host_mask = htonl(host_bits >= 32 ? 0xffffffffu : (1u << host_bits) - 1);
  }
  if (settings.source_v6) {
    put_address(settings.source_v6->prefix, cfg.source_v6);
    const int host_bits = 128 - settings.source_v6->bits;
    cfg.source_v6_host_mask = htonl(host_bits >= 32 ? 0xffffffffu : (1u << host_bits) - 1);
  }
  const uint32_t zero = 0;
  if (int err = bpf_map_update_elem(bpf_map__fd(skel_->maps.lb_config), &zero, &cfg, BPF_ANY);
      err != 0) {
    *error = "cannot write the packet tier settings: " + errno_text(err);
    return false;
  }
  return true;
}

bool XdpBalancer::attach(const std::string& interface, const std::string& mode, std::string* error,
                         std::string* warning) {
  if (!interface_.empty()) {
    if (interface == interface_) return true;
    detach();
  }
  const int ifindex = static_cast<int>(if_nametoindex(interface.c_str()));
  if (ifindex == 0) {
    *error = "packet: no interface '" + interface + "'";
    return false;
  }
  if (mode == "tc") return attach_tc(interface, ifindex, error);
  auto try_attach = [&](uint32_t flags) {
    return bpf_xdp_attach(ifindex, program_fd(), flags | XDP_FLAGS_UPDATE_IF_NOEXIST, nullptr);
  };
  uint32_t flags = mode == "generic" ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
  int err = try_attach(flags);
  if (err != 0 && err != -EBUSY && err != -EEXIST && mode == "auto") {
    const std::string native_error = errno_text(err);
    flags = XDP_FLAGS_SKB_MODE;
    err = try_attach(flags);
    if (err == 0) {
      *warning = "packet: native XDP on '" + interface + "' failed (" + native_error +
                 "); attached in generic mode, which is much slower";
    }
  }
  if (err != 0) {
    *error = "packet: cannot attach XDP to '" + interface + "': " + errno_text(err);
    if (err == -EBUSY || err == -EEXIST)
      *error +=
          " (it already has an XDP program; remove it: ip link set dev " + interface + " xdp off)";
    return false;
  }
  interface_ = interface;
  ifindex_ = ifindex;
  attach_flags_ = flags;
  return true;
}

bool XdpBalancer::attach_tc(const std::string& interface, int ifindex, std::string* error) {
  bpf_tc_hook hook{};
  hook.sz = sizeof(hook);
  hook.ifindex = ifindex;
  hook.attach_point = BPF_TC_INGRESS;
  int err = bpf_tc_hook_create(&hook);  // the clsact qdisc
  if (err != 0 && err != -EEXIST) {
    *error = "packet: cannot add a clsact qdisc to '" + interface + "': " + errno_text(err);
    return false;
  }
  tc_created_qdisc_ = err == 0;
  bpf_tc_opts opts{};
  opts.sz = sizeof(opts);
  opts.prog_fd = bpf_program__fd(skel_->progs.sluice_balancer_tc);
  opts.handle = kTcHandle;
  opts.priority = kTcPriority;
  err = bpf_tc_attach(&hook, &opts);
  if (err != 0) {
    *error = "packet: cannot attach the tc program to '" + interface + "': " + errno_text(err) +
             (err == -EEXIST ? " (a filter with handle 0x5c1, priority 1 is there already)" : "");
    if (tc_created_qdisc_) {
      hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
      bpf_tc_hook_destroy(&hook);
    }
    return false;
  }
  interface_ = interface;
  ifindex_ = ifindex;
  tc_ = true;
  return true;
}

void XdpBalancer::detach() {
  if (interface_.empty()) return;
  if (tc_) {
    bpf_tc_hook hook{};
    hook.sz = sizeof(hook);
    hook.ifindex = ifindex_;
    hook.attach_point = BPF_TC_INGRESS;
    bpf_tc_opts opts{};
    opts.sz = sizeof(opts);
    opts.handle = kTcHandle;
    opts.priority = kTcPriority;
    bpf_tc_detach(&hook, &opts);
    if (tc_created_qdisc_) {
      hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
      bpf_tc_hook_destroy(&hook);
    }
    tc_ = false;
    interface_.clear();
    ifindex_ = 0;
    return;
  }
  // Only our own program: XDP_FLAGS_REPLACE with the expected old program.
  bpf_xdp_attach_opts opts{};
  opts.sz = sizeof(opts);
  opts.old_prog_fd = program_fd();
  bpf_xdp_attach(ifindex_, -1, attach_flags_ | XDP_FLAGS_REPLACE, &opts);
  interface_.clear();
  ifindex_ = 0;
}

TestRun XdpBalancer::test_run(std::span<const uint8_t> frame, uint32_t repeat, bool tc) {
  TestRun run;
  run.frame.resize(frame.size() + 256);
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = frame.data();
  opts.data_size_in = static_cast<uint32_t>(frame.size());
  opts.data_out = run.frame.data();
  opts.data_size_out = static_cast<uint32_t>(run.frame.size());
  opts.repeat = repeat;
  const int fd = tc ? bpf_program__fd(skel_->progs.sluice_balancer_tc) : program_fd();
  if (bpf_prog_test_run_opts(fd, &opts) != 0) {
    run.action = -1;
    run.frame.clear();
    return run;
  }
  run.action = static_cast<int>(opts.retval);
  run.frame.resize(opts.data_size_out);
  run.duration_ns = opts.duration;
  return run;
}

CounterSnapshot XdpBalancer::counters() const {
  CounterSnapshot snap;
  const int fd = bpf_map__fd(skel_->maps.counters);
  const int cpus = libbpf_num_possible_cpus();
  std::vector<sluice_counter> values(static_cast<size_t>(std::max(cpus, 1)));
  auto read = [&](uint32_t index) {
    Counter sum;
    if (bpf_map_lookup_elem(fd, &index, values.data()) != 0) return sum;
    for (const auto& v : values) {
      sum.packets += v.packets;
      sum.bytes += v.bytes;
    }
    return sum;
  };
  std::map<uint32_t, std::string> names;
  for (const auto& [key, id] : real_ids_) names[id] = real_name(key.address, key.port);
  for (const auto& [name, state] : vips_) snap.vips.emplace_back(name, read(state.id));
  for (const auto& [id, name] : names)
    snap.reals.emplace_back(name, read(SLUICE_COUNTER_REAL_BASE + id));
  for (int r = 0; r < SLUICE_REASON_COUNT; ++r)
    snap.reasons[r] = read(SLUICE_COUNTER_REASON_BASE + r);
  return snap;
}

std::optional<std::string> XdpBalancer::table_real(const std::string& vip, uint32_t hash) const {
  auto it = vips_.find(vip);
  if (it == vips_.end() || it->second.table.empty()) return std::nullopt;
  const uint32_t id = it->second.table[hash % SLUICE_MAGLEV_SIZE];
  for (const auto& [key, rid] : real_ids_) {
    if (rid == id) return real_name(key.address, key.port);
  }
  return std::nullopt;
}

}  // namespace sluice::packet
