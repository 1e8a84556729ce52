"""Packet-tier benchmark: delivered packets per second through (a) a no-op XDP forwarder (the
ceiling), (b) sluice's XDP balancer (l4 VIP, ipip to 3 reals), (c) the same program at the
tc ingress hook (`attach: tc`; an XDP_PASS program on the veth lets it take the generator's
frames), (d) nftables DNAT load balancing over the same 3 reals (kube-proxy's way: conntrack +
numgen), for UDP and TCP over 1, 1k and 64k flows.

Method: two network namespaces joined by a veth pair. tools/xdp_bench generates 64-byte
frames with BPF_PROG_TEST_RUN in live-frame mode on the generator's veth (each frame the next
of N flows), the device under test handles them on its veth and sends them back (XDP_TX, or
the kernel's forwarding for nftables), and a sink XDP program on the generator's veth counts
them. All of it runs on one pinned core (veth hands frames to its peer's NAPI on the sending
CPU), so the rate is the whole path's cost. Median of RUNS (default 5) runs of DURATION
seconds (default 2). Appends to bench/RESULTS.md unless --no-record."""
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build/release")
SLUICE = os.path.join(BUILD, "src/sluice")
XDP_BENCH = os.path.join(BUILD, "tools/xdp_bench")
RUNS = int(os.environ.get("RUNS", "5"))
DURATION = float(os.environ.get("DURATION", "2"))
CPU = "1"
PREFIX = f"slb{os.getpid() % 100000}"
GEN, DUT = f"{PREFIX}-gen", f"{PREFIX}-dut"
VIP = "10.200.0.10"
REALS = ["10.201.0.1", "10.201.0.2", "10.201.0.3"]
procs = []
tmp = tempfile.mkdtemp(prefix="sluice-bench-packet-")


def sh(*args):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def in_ns(ns, *args):
    return sh("ip", "netns", "exec", ns, *args)


def mac(ns, dev):
    return json.loads(sh("ip", "-j", "-n", ns, "link", "show", dev))[0]["address"]


def setup():
    for ns in (GEN, DUT):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "-n", GEN, "link", "add", "g0", "type", "veth", "peer", "name", "d0", "netns", DUT)
    sh("ip", "-n", GEN, "addr", "add", "10.200.0.2/24", "dev", "g0")
    sh("ip", "-n", DUT, "addr", "add", "10.200.0.1/24", "dev", "d0")
    for ns, dev in ((GEN, "g0"), (DUT, "d0")):
        sh("ip", "-n", ns, "link", "set", dev, "up")
    # nftables' path: forward to the reals through the generator's side.
    in_ns(DUT, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
          "net.ipv4.conf.d0.rp_filter=0")
    sh("ip", "-n", DUT, "route", "add", "10.201.0.0/24", "via", "10.200.0.2")
    sh("ip", "-n", DUT, "neigh", "replace", "10.200.0.2", "lladdr", mac(GEN, "g0"), "dev", "d0")


def teardown():
    for p in procs:
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
    for ns in (GEN, DUT):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


def start_attached(args):
    """Starts a program that prints 'attached' (xdp_bench) and waits for that line."""
    p = subprocess.Popen(["ip", "netns", "exec", DUT] + args, stdout=subprocess.PIPE, text=True)
    procs.append(p)
    line = p.stdout.readline()
    if "attached" not in line:
        raise RuntimeError(f"{args}: did not attach")
    return p


def stop(p):
    p.terminate()
    p.wait(timeout=10)


def start_sluice(attach="native"):
    config = os.path.join(tmp, "sluice.yaml")
    with open(config, "w") as f:
        f.write(f"""admin: {{ listen: 127.0.0.1:9901 }}
workers: 1
packet:
  interface: d0
  attach: {attach}
  gateway_mac: {mac(GEN, "g0")}
  source: 10.200.0.1
  vips:
    - {{ address: {VIP}, port: 80, protocol: udp, reals: [{", ".join(REALS)}] }}
    - {{ address: {VIP}, port: 80, protocol: tcp, reals: [{", ".join(REALS)}] }}
""")
    p = subprocess.Popen(["ip", "netns", "exec", DUT, "taskset", "-c", "0", SLUICE, "run", "-c",
                          config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    for _ in range(200):  # bounded: 10 s
        r = subprocess.run(["ip", "netns", "exec", DUT, "curl", "-s", "-m", "1",
                            "127.0.0.1:9901/packet"], capture_output=True, text=True)
        if r.returncode == 0 and '"vips"' in r.stdout:
            return [p]
        if p.poll() is not None:
            raise RuntimeError("sluice exited")
        time.sleep(0.05)
    raise RuntimeError("sluice did not come up")


def start_sluice_tc():
    # d0 takes the generator's XDP_TX'd frames only with an XDP program on it: an XDP_PASS.
    return start_sluice("tc") + [start_attached([XDP_BENCH, "pass", "--interface", "d0"])]


def stop_list(ps):
    for p in ps:
        stop(p)


NFT = f"""table ip bench {{
  chain prerouting {{
    type nat hook prerouting priority dstnat; policy accept;
    ip daddr {VIP} meta l4proto {{ tcp, udp }} th dport 80 dnat to numgen random mod 3 map {{ 0 : {REALS[0]}, 1 : {REALS[1]}, 2 : {REALS[2]} }}
  }}
}}
"""


def start_nft():
    path = os.path.join(tmp, "bench.nft")
    with open(path, "w") as f:
        f.write(NFT)
    in_ns(DUT, "nft", "-f", path)
    return start_attached([XDP_BENCH, "pass", "--interface", "d0"])


def stop_nft(p):
    stop(p)
    in_ns(DUT, "nft", "delete", "table", "ip", "bench")
    subprocess.run(["ip", "netns", "exec", DUT, "conntrack", "-F"], capture_output=True)


def measure(proto, flows):
    out = sh("ip", "netns", "exec", GEN, "taskset", "-c", CPU, XDP_BENCH, "run", "--interface", "g0",
             "--dst-mac", mac(DUT, "d0"), "--flow", f"{proto} 10.202.0.1:1024 -> {VIP}:80",
             "--flows", str(flows), "--seconds", str(DURATION))
    fields = dict(kv.split("=") for kv in out.split())
    return float(fields["pps"])


def median(values):
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def main():
    record = "--no-record" not in sys.argv
    setup()
    cases = [(proto, flows) for proto in ("udp", "tcp") for flows in (1, 1000, 65536)]
    results = {}
    targets = {
        "no-op XDP (ceiling)": (lambda: start_attached([XDP_BENCH, "noop", "--interface", "d0"]), stop),
        "sluice XDP": (start_sluice, stop_list),
        "sluice at tc": (start_sluice_tc, stop_list),
        "nftables DNAT": (start_nft, stop_nft),
    }
    for name, (up, down) in targets.items():
        for run in range(RUNS):
            p = up()
            for case in cases:
                results.setdefault((name, case), []).append(measure(*case))
            down(p)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=ROOT).stdout.strip()
    lines = [f"### packet — {datetime.date.today()} — commit {commit}", "",
             f"tools/xdp_bench live frames (64-byte frames), one core (CPU {CPU}), median of {RUNS} "
             f"x {DURATION:g} s; l4 VIP with 3 reals, ipip for sluice, numgen DNAT for nftables.", "",
             "| flows | no-op XDP pps | sluice pps | sluice at tc pps | nftables pps | sluice added ns/pkt | tc added ns/pkt | nftables added ns/pkt | sluice/nftables | sluice/no-op | nftables added / sluice added |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case in cases:
        noop, s, tc, n = (median(results[(t, case)]) for t in targets)
        added = lambda pps: 1e9 / pps - 1e9 / noop if pps else float("inf")
        lines.append(f"| {case[0]} {case[1]} | {noop:,.0f} | {s:,.0f} | {tc:,.0f} | {n:,.0f} | {added(s):.0f} | "
                     f"{added(tc):.0f} | {added(n):.0f} | **{s / n:.2f}** | {s / noop:.2f} | "
                     f"{added(n) / max(added(s), 1):.1f} |")
    lines += ["", "The generator, the veth hops and the sink cost the same in every row (the no-op row is "
              "all of it), which caps any ratio of delivered pps at no-op/nftables; the added ns "
              "per packet compare the balancers alone.", ""]
    text = "\n".join(lines)
    print(text)
    if record:
        with open(os.path.join(ROOT, "bench/RESULTS.md"), "a") as f:
            f.write("\n" + text + "\n")


if __name__ == "__main__":
    try:
        main()
    finally:
        teardown()
