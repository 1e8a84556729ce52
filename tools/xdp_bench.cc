// xdp_bench: the packet benchmark's generator and sink (bench/packet.sh). Debian's xdp-tools
// does not run on this kernel, so frames are generated with BPF_PROG_TEST_RUN in live-frame
// mode: the kernel runs tools/bpf/xdp_bench.bpf.c's bench_gen on each frame as if it had
// arrived on --interface, and transmits what it returns XDP_TX for. What the device under test
// sends back is counted by bench_sink on the same interface.
//
//   xdp_bench run --interface IF --dst-mac MAC --flow 'udp SRC:PORT -> VIP:PORT' --flows N
//                 --seconds S          prints: generated=G received=R seconds=T pps=P
//   xdp_bench noop|pass --interface IF attaches bench_noop (XDP_TX) or bench_pass until SIGTERM
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <pthread.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "packet/frame.h"
#include "packet/interface.h"
#include "xdp_bench.skel.h"

namespace {

struct Args {
  std::string command, interface, dst_mac, flow;
  uint32_t flows = 1;
  double seconds = 5;
};

int usage() {
  std::fprintf(stderr,
               "usage: xdp_bench run --interface IF --dst-mac MAC --flow SPEC --flows N "
               "--seconds S\n       xdp_bench noop|pass --interface IF\n");
  return 2;
}

uint64_t sum_percpu(int fd, uint32_t index) {
  std::vector<uint64_t> values(static_cast<size_t>(libbpf_num_possible_cpus()));
  if (bpf_map_lookup_elem(fd, &index, values.data()) != 0) return 0;
  uint64_t sum = 0;
  for (auto v : values) sum += v;
  return sum;
}

int wait_for_signal() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::printf("attached\n");
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop, &signal);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  if (argc < 2) return usage();
  args.command = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--interface") {
      args.interface = value;
    } else if (flag == "--dst-mac") {
      args.dst_mac = value;
    } else if (flag == "--flow") {
      args.flow = value;
    } else if (flag == "--flows") {
      args.flows = static_cast<uint32_t>(std::stoul(value));
    } else if (flag == "--seconds") {
      args.seconds = std::stod(value);
    } else {
      return usage();
    }
  }
  const int ifindex = static_cast<int>(if_nametoindex(args.interface.c_str()));
  if (ifindex == 0) {
    std::fprintf(stderr, "no interface '%s'\n", args.interface.c_str());
    return 1;
  }
  libbpf_set_print(nullptr);
  auto* skel = xdp_bench_bpf__open_and_load();
  if (!skel) {
    std::fprintf(stderr, "cannot load xdp_bench.bpf.o: %s\n", std::strerror(errno));
    return 1;
  }
  auto attach = [&](bpf_program* prog) {
    int err = bpf_xdp_attach(ifindex, bpf_program__fd(prog), XDP_FLAGS_DRV_MODE, nullptr);
    if (err)
      std::fprintf(stderr, "attach to %s: %s\n", args.interface.c_str(), std::strerror(-err));
    return err == 0;
  };
  int rc = 0;
  if (args.command == "noop" || args.command == "pass") {
    if (!attach(args.command == "noop" ? skel->progs.bench_noop : skel->progs.bench_pass)) return 1;
    rc = wait_for_signal();
    bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, nullptr);
  } else if (args.command == "run") {
    std::string error;
    auto spec = sluice::packet::parse_flow_spec(args.flow, &error);
    auto info = sluice::packet::interface_info(args.interface, &error);
    sluice::packet::FrameOptions options;
    auto dst_mac = sluice::core::parse_mac(args.dst_mac);
    if (!spec || !info || !dst_mac || args.flows == 0 || args.flows > 65536) {
      std::fprintf(stderr, "bad arguments: %s\n", error.c_str());
      return 2;
    }
    options.src_mac = info->mac;
    options.dst_mac = *dst_mac;
    options.tcp_flags = sluice::packet::kTcpAck;
    // 60 bytes (64 on the wire), as bench_gen rewrites them: UDP or TCP over IPv4.
    options.payload.assign(spec->proto == sluice::packet::kProtoTcp ? 6 : 18, 'x');
    auto frame = sluice::packet::build_frame(*spec, options);
    if (frame.size() != 60 || !spec->src.ip.is_v4) {
      std::fprintf(stderr, "xdp_bench generates IPv4 TCP or UDP flows only\n");
      return 2;
    }
    const uint32_t zero = 0;
    std::vector<uint8_t> config(sizeof(uint32_t) + frame.size());
    std::memcpy(config.data(), &args.flows, sizeof(uint32_t));
    std::memcpy(config.data() + sizeof(uint32_t), frame.data(), frame.size());
    bpf_map_update_elem(bpf_map__fd(skel->maps.bench_config), &zero, config.data(), BPF_ANY);
    if (!attach(skel->progs.bench_sink)) return 1;
    xdp_md ctx{};
    ctx.ingress_ifindex = static_cast<uint32_t>(ifindex);
    ctx.data_end = static_cast<uint32_t>(frame.size());  // the kernel insists: the whole frame
    bpf_test_run_opts opts{};
    opts.sz = sizeof(opts);
    opts.data_in = frame.data();
    opts.data_size_in = static_cast<uint32_t>(frame.size());
    opts.ctx_in = &ctx;
    opts.ctx_size_in = sizeof(ctx);
    opts.repeat = 1 << 16;
    opts.flags = BPF_F_TEST_XDP_LIVE_FRAMES;
    opts.batch_size = 64;
    const int gen = bpf_program__fd(skel->progs.bench_gen);
    const auto start = std::chrono::steady_clock::now();
    const auto until = start + std::chrono::duration<double>(args.seconds);
    uint64_t calls = 0;
    while (std::chrono::steady_clock::now() < until && calls < 100000) {  // bounded
      if (bpf_prog_test_run_opts(gen, &opts) != 0) {
        std::fprintf(stderr, "BPF_PROG_TEST_RUN: %s\n", std::strerror(errno));
        rc = 1;
        break;
      }
      ++calls;
    }
    const double elapsed =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // frames still in rings
    const int counts = bpf_map__fd(skel->maps.bench_counts);
    const uint64_t generated = sum_percpu(counts, 0), received = sum_percpu(counts, 1);
    std::printf("generated=%llu received=%llu seconds=%.3f pps=%.0f\n",
                static_cast<unsigned long long>(generated),
                static_cast<unsigned long long>(received), elapsed,
                static_cast<double>(received) / elapsed);
    bpf_xdp_detach(ifindex, XDP_FLAGS_DRV_MODE, nullptr);
  } else {
    rc = usage();
  }
  xdp_bench_bpf__destroy(skel);
  return rc;
}
