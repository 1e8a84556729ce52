#include "packet/decapsulator.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>

#include <cstring>

#include "packet/decap.skel.h"
#include "packet/flow.h"
#include "packet/libbpf_log.h"

namespace sluice::packet {

std::unique_ptr<Decapsulator> Decapsulator::attach(const std::string& interface,
                                                   const std::vector<core::IpAddress>& vips,
                                                   const std::string& mode, std::string* error,
                                                   std::string* warning) {
  route_libbpf_log();
  std::unique_ptr<Decapsulator> d(new Decapsulator());
  d->ifindex_ = static_cast<int>(if_nametoindex(interface.c_str()));
  if (d->ifindex_ == 0) {
    *error = "decap: no interface '" + interface + "'";
    return nullptr;
  }
  d->skel_ = decap_bpf__open_and_load();
  if (!d->skel_) {
    *error = std::string("decap: cannot load the BPF program: ") + std::strerror(errno) +
             " (needs root or CAP_BPF + CAP_NET_ADMIN)";
    return nullptr;
  }
  const int map = bpf_map__fd(d->skel_->maps.decap_vips);
  for (const auto& vip : vips) {
    sluice_decap_key key{};
    put_address(vip, key.addr);
    key.family = vip.is_v4 ? 4 : 6;
    uint8_t one = 1;
    if (bpf_map_update_elem(map, &key, &one, BPF_ANY) != 0) {
      *error = "decap: cannot add vip " + vip.to_string() + ": " + std::strerror(errno);
      return nullptr;
    }
  }
  const int fd = bpf_program__fd(d->skel_->progs.sluice_decap);
  uint32_t flags = mode == "generic" ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
  int err = bpf_xdp_attach(d->ifindex_, fd, flags | XDP_FLAGS_UPDATE_IF_NOEXIST, nullptr);
  if (err != 0 && err != -EBUSY && err != -EEXIST && mode == "auto") {
    const std::string native_error = std::strerror(-err);
    flags = XDP_FLAGS_SKB_MODE;
    err = bpf_xdp_attach(d->ifindex_, fd, flags | XDP_FLAGS_UPDATE_IF_NOEXIST, nullptr);
    if (err == 0)
      *warning = "decap: native XDP on '" + interface + "' failed (" + native_error +
                 "); attached in generic mode";
  }
  if (err != 0) {
    *error = "decap: cannot attach XDP to '" + interface + "': " + std::strerror(-err);
    if (err == -EBUSY || err == -EEXIST)
      *error +=
          " (it already has an XDP program; remove it: ip link set dev " + interface + " xdp off)";
    return nullptr;
  }
  d->flags_ = flags;
  return d;
}

Decapsulator::~Decapsulator() {
  if (!skel_) return;
  if (flags_) {
    bpf_xdp_attach_opts opts{};
    opts.sz = sizeof(opts);
    opts.old_prog_fd = bpf_program__fd(skel_->progs.sluice_decap);
    bpf_xdp_attach(ifindex_, -1, flags_ | XDP_FLAGS_REPLACE, &opts);
  }
  decap_bpf__destroy(skel_);
}

uint64_t Decapsulator::stripped_packets() const {
  const int fd = bpf_map__fd(skel_->maps.decap_counters);
  std::vector<sluice_counter> values(static_cast<size_t>(std::max(libbpf_num_possible_cpus(), 1)));
  uint32_t index = 0;  // DECAP_STRIPPED
  if (bpf_map_lookup_elem(fd, &index, values.data()) != 0) return 0;
  uint64_t sum = 0;
  for (const auto& v : values) sum += v.packets;
  return sum;
}

}  // namespace sluice::packet
