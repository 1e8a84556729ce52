"""The packet tier end to end, in network namespaces the test creates and removes (netns.py):
real curl, ping and UDP clients, demo backends with the VIP on their loopback behind
`sluice decap` (ipip) or routed back through sluice (nat), one or two sluice XDP nodes."""
import json
import os
import re
import signal
import subprocess

from harness import *
import netns
from netns import Lan, ns_exec

BPF_DIR = os.environ.get("SLUICE_BPF_DIR", "")
VIP = "192.0.2.10"
HEALTH = "health_check: { interval: 200ms, timeout: 300ms, healthy: 1, unhealthy: 2 }, health_port: 80"


class Node:
    """A sluice packet-tier node in its own namespace."""

    def __init__(self, lan, name, address, vips_yaml, attach="auto"):
        self.ns = lan.add_node(name, address)
        lan.xdp_pass_on_port(name, os.path.join(BPF_DIR, "decap.bpf.o"))
        self.config = config = tmp_path(f"{name}.yaml")
        self.attach = attach
        self.write_config(vips_yaml)
        self.log = tmp_path(f"{name}.log")
        self.proc = start(["ip", "netns", "exec", self.ns, SLUICE_BIN(), "run", "-c", config],
                          stderr=open(self.log, "w"))
        wait_for(lambda: self.proc.poll() is not None or self.state_or_none() is not None,
                 what=f"{name} admin API")
        assert self.proc.poll() is None, open(self.log).read()

    def write_config(self, vips_yaml):
        with open(self.config, "w") as f:
            f.write(f"""admin: {{ listen: 127.0.0.1:9901 }}
packet:
  interface: eth0
  gateway: 10.99.0.1
  attach: {self.attach}
  vips:
{vips_yaml}
""")

    def state_or_none(self):
        out = ns_exec(self.ns, "curl", "-s", "-m", "1", "127.0.0.1:9901/packet", check=False)
        try:
            return json.loads(out)
        except ValueError:
            return None

    def state(self):
        s = self.state_or_none()
        assert s is not None, open(self.log).read()
        return s

    def vip(self, name):
        return next(v for v in self.state()["vips"] if v["vip"] == name)

    def post(self, path):
        return ns_exec(self.ns, "curl", "-s", "-m", "2", "-X", "POST", "127.0.0.1:9901" + path)


def SLUICE_BIN():
    return os.environ["SLUICE_BIN"]


def backend(lan, i, vips=(VIP,), nat=False, port=80):
    name = f"b{i}"
    ns = lan.add_node(name, f"10.99.0.{10 + i}")
    if nat:
        # The replies go back through sluice, which translates them.
        netns.sh("ip", "-n", ns, "route", "add", "10.98.0.0/24", "via", "10.99.0.2")
    else:
        for vip in vips:
            netns.sh("ip", "-n", ns, "addr", "add", f"{vip}/32", "dev", "lo")
        args = ["ip", "netns", "exec", ns, SLUICE_BIN(), "decap", "--interface", "eth0"]
        for vip in vips:
            args += ["--vip", vip]
        start(args)
        wait_for(lambda: "prog/xdp" in netns.sh("ip", "-n", ns, "link", "show", "eth0"),
                 what=f"decap on {name}")
    proc = start(["ip", "netns", "exec", ns, os.environ["DEMO_BACKEND_BIN"], "--name", name,
                  "--listen", f"0.0.0.0:{port}"])
    wait_for(lambda: ns_exec(ns, "curl", "-s", "-m", "1", f"http://127.0.0.1:{port}/healthz",
                             check=False) == "ok\n", what=f"{name} serving")
    return ns, proc


def udp_echo(ns, name, vip, port):
    """A UDP server bound to the VIP (so its replies come from the VIP) answering its name."""
    script = f"""
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("{vip}", {port}))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(b"{name} " + data, peer)
"""
    start(["ip", "netns", "exec", ns, "/usr/bin/python3", "-c", script])


def get(lan, path="/", host=VIP, port=80):
    """One request on a new connection from the client namespace: (status, body)."""
    out = ns_exec(lan.client, "curl", "-s", "-m", "5", "-o", "-", "-w", "\n%{http_code}",
                  f"http://{host}:{port}{path}", check=False)
    body, _, status = out.rpartition("\n")
    return status, body


def names(lan, n, **kw):
    seen = {}
    for _ in range(n):
        status, body = get(lan, **kw)
        assert status == "200", (status, body)
        seen[body.strip()] = seen.get(body.strip(), 0) + 1
    return seen


def test_ipip_spreads_flows_over_all_backends_and_replies_bypass_sluice():
    lan = Lan()
    for i in (1, 2, 3):
        ns, _ = backend(lan, i)
        udp_echo(ns, f"b{i}", VIP, 5353)
    reals = "[10.99.0.11, 10.99.0.12, 10.99.0.13]"
    node = Node(lan, "lb1", "10.99.0.2", f"""
    - {{ address: {VIP}, port: 80, protocol: tcp, reals: {reals} }}
    - {{ address: {VIP}, port: 5353, protocol: udp, reals: {reals} }}""")
    lan.route_vip(VIP, "10.99.0.2")
    seen = names(lan, 30)
    assert set(seen) == {"b1", "b2", "b3"}, seen
    # A 4 MB download: the data comes straight from the backend, so sluice sees only the
    # client's side of the flow.
    before = node.vip(f"tcp {VIP}:80")["bytes"]
    size = ns_exec(lan.client, "curl", "-s", "-m", "20", "-o", "/dev/null", "-w", "%{size_download}",
                   f"http://{VIP}/bytes?n=4000000")
    assert size == "4000000", size
    through_sluice = node.vip(f"tcp {VIP}:80")["bytes"] - before
    assert 0 < through_sluice < 400000, through_sluice
    # UDP: each source port a flow; answers come from the VIP.
    client = f"""
import socket
names = set()
for i in range(24):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(b"ping%d" % i, ("{VIP}", 5353))
    data, peer = s.recvfrom(2048)
    assert peer == ("{VIP}", 5353), peer
    assert data.endswith(b"ping%d" % i), data
    names.add(data.split()[0].decode())
print(",".join(sorted(names)))
"""
    out = ns_exec(lan.client, "/usr/bin/python3", "-c", client).strip()
    assert len(out.split(",")) >= 2, out
    # IPv4 ICMP echo to the VIP is answered by sluice itself.
    ns_exec(lan.client, "ping", "-c", "2", "-W", "2", VIP)
    assert node.state()["verdicts"]["tx_icmp_echo"] >= 2
    metrics = ns_exec(node.ns, "curl", "-s", "127.0.0.1:9901/metrics")
    assert f'sluice_packet_vip_packets_total{{vip="tcp {VIP}:80"}}' in metrics
    assert 'sluice_packet_verdicts_total{reason="conn_new"}' in metrics


def test_drain_keeps_established_flows_and_health_checks_remove_a_dead_backend():
    lan = Lan()
    procs = {}
    for i in (1, 2, 3):
        _, procs[f"b{i}"] = backend(lan, i)
    node = Node(lan, "lb1", "10.99.0.2", f"""
    - {{ address: {VIP}, port: 80, protocol: tcp, reals: [10.99.0.11, 10.99.0.12, 10.99.0.13], {HEALTH} }}""")
    lan.route_vip(VIP, "10.99.0.2")
    wait_for(lambda: all(r["state"] == "healthy" for r in node.vip(f"tcp {VIP}:80")["reals"]),
             what="reals healthy")
    # One keep-alive connection, held open across the drain.
    keeper = subprocess.Popen(
        ["ip", "netns", "exec", lan.client, "/usr/bin/python3", "-c", f"""
import http.client, sys
c = http.client.HTTPConnection("{VIP}", 80, timeout=5)
for line in sys.stdin:
    c.request("GET", "/")
    print(c.getresponse().read().decode().strip(), flush=True)
"""], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        keeper.stdin.write("go\n")
        keeper.stdin.flush()
        held = keeper.stdout.readline().strip()
        assert held in ("b1", "b2", "b3"), held
        address = f"10.99.0.1{held[1]}"
        assert node.post(f"/packet/reals/{address}/drain") == "draining\n"
        seen = names(lan, 24)
        assert held not in seen and len(seen) == 2, seen
        keeper.stdin.write("again\n")
        keeper.stdin.flush()
        assert keeper.stdout.readline().strip() == held, "the established flow moved"
    finally:
        keeper.stdin.close()
        keeper.wait(timeout=10)
    assert node.post(f"/packet/reals/{address}/enable") == "enabled\n"
    assert node.post("/packet/reals/10.99.0.99/drain").startswith("no packet real")
    # A backend whose server stops leaves the table; every new connection still succeeds.
    victim = next(n for n in ("b1", "b2", "b3") if n != held)
    stop(procs[victim], signal.SIGKILL)
    wait_for(lambda: any(r["state"] == "unhealthy" for r in node.vip(f"tcp {VIP}:80")["reals"]),
             what=f"{victim} unhealthy")
    seen = names(lan, 24)
    assert victim not in seen and len(seen) == 2, seen


def test_nat_rewrites_to_the_backend_and_translates_replies_back():
    lan = Lan()
    for i in (1, 2):
        backend(lan, i, nat=True, port=8080)
    nat_vip = "192.0.2.20"
    node = Node(lan, "lb1", "10.99.0.2", f"""
    - {{ address: {nat_vip}, port: 80, protocol: tcp, forward: nat, reals: [{{ address: 10.99.0.11, port: 8080 }}, {{ address: 10.99.0.12, port: 8080 }}] }}""")
    lan.route_vip(nat_vip, "10.99.0.2")
    seen = names(lan, 20, host=nat_vip)
    assert set(seen) == {"b1", "b2"}, seen
    size = ns_exec(lan.client, "curl", "-s", "-m", "20", "-o", "/dev/null", "-w", "%{size_download}",
                   f"http://{nat_vip}/bytes?n=2000000")
    assert size == "2000000", size
    assert node.state()["verdicts"]["tx_nat_reply"] > 100


def test_two_nodes_behind_ecmp_survive_one_failing_mid_download():
    lan = Lan()
    for i in (1, 2, 3):
        backend(lan, i)
    vips = f"""
    - {{ address: {VIP}, port: 80, protocol: tcp, reals: [10.99.0.11, 10.99.0.12, 10.99.0.13] }}"""
    nodes = {"10.99.0.2": Node(lan, "lb1", "10.99.0.2", vips),
             "10.99.0.3": Node(lan, "lb2", "10.99.0.3", vips)}
    ns_exec(lan.router, "sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=1")
    # The router is replaced by one with another MAC: both nodes follow the neighbour table.
    netns.sh("ip", "-n", lan.router, "link", "set", "br0", "address", "02:99:00:00:00:02")
    for address in nodes:
        lan.route_vip(VIP, address)
        wait_for(lambda: get(lan)[0] == "200", what=f"traffic through {address} after the MAC change")
    lan.route_vip(VIP, "10.99.0.2", "10.99.0.3")
    # A small receive buffer keeps the transfer itself at curl's pace, so the flow is still
    # moving data when its node fails (else the kernel buffers megabytes ahead of curl).
    ns_exec(lan.client, "sysctl", "-qw", "net.ipv4.tcp_rmem=4096 32768 65536")
    out = tmp_path("download")
    download = subprocess.Popen(
        ["ip", "netns", "exec", lan.client, "curl", "-s", "-m", "60", "--limit-rate", "1M", "-o",
         out, "-w", "%{size_download}", f"http://{VIP}/bytes?n=8000000"],
        stdout=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: os.path.exists(out) and os.path.getsize(out) > 1000000, timeout=20,
                 what="download under way")
        counts = {a: n.vip(f"tcp {VIP}:80")["packets"] for a, n in nodes.items()}
        carrier = max(counts, key=counts.get)
        survivor = next(a for a in nodes if a != carrier)
        assert download.poll() is None and os.path.getsize(out) < 8000000, "finished too soon"
        # The carrying node fails; routing (as a BGP withdrawal would) sends the flow to the
        # other, whose Maglev table is the same: the flow reaches the same backend.
        netns.sh("ip", "-n", nodes[carrier].ns, "link", "set", "eth0", "down")
        lan.route_vip(VIP, survivor)
        size, _ = download.communicate(timeout=60)
    finally:
        if download.poll() is None:
            download.kill()
    assert download.returncode == 0, download.returncode
    assert size == "8000000", size
    # The client's ACKs of the rest of the download went through the survivor.
    after = nodes[survivor].vip(f"tcp {VIP}:80")["packets"]
    assert after - counts[survivor] > 20, (counts, after)



def test_reload_adds_a_real_without_moving_established_flows_and_a_bad_config_changes_nothing():
    lan = Lan()
    for i in (1, 2, 3):
        backend(lan, i)

    def vips(reals):
        return f"""
    - {{ address: {VIP}, port: 80, protocol: tcp, reals: [{", ".join(reals)}] }}"""
    # Generic (skb) mode, the fallback for drivers without native XDP.
    node = Node(lan, "lb1", "10.99.0.2", vips(["10.99.0.11", "10.99.0.12"]), attach="generic")
    assert "xdpgeneric" in netns.sh("ip", "-n", node.ns, "link", "show", "eth0")
    lan.route_vip(VIP, "10.99.0.2")
    assert set(names(lan, 16)) == {"b1", "b2"}
    # Eight keep-alive connections, each held across the reload.
    script = f"""
import http.client, sys
c = http.client.HTTPConnection("{VIP}", 80, timeout=5)
for line in sys.stdin:
    c.request("GET", "/")
    print(c.getresponse().read().decode().strip(), c.sock.getsockname()[1], flush=True)
"""
    keepers = [subprocess.Popen(["ip", "netns", "exec", lan.client, "/usr/bin/python3", "-c", script],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
               for _ in range(8)]
    try:
        held = {}
        for k in keepers:
            k.stdin.write("go\n")
            k.stdin.flush()
            name, port = k.stdout.readline().split()
            held[k] = (name, port)
        # b3 joins with a weight that gives it most of the table: most flows' slots move.
        node.write_config(vips(["10.99.0.11", "10.99.0.12", "{ address: 10.99.0.13, weight: 10 }"]))
        node.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: len(node.vip(f"tcp {VIP}:80")["reals"]) == 3, what="reload")
        moved = 0
        for k, (name, port) in held.items():
            out = subprocess.run([SLUICE_BIN(), "explain", "-c", node.config, "--packet",
                                  f"tcp 10.98.0.2:{port} -> {VIP}:80"], capture_output=True, text=True).stdout
            now = re.search(r"of 65537: 10\.99\.0\.1(\d)", out).group(1)
            moved += f"b{now}" != name
        assert moved > 0, "no held flow's slot moved; the test proves nothing"
        # New flows: b3 now holds 10/12 of the table.
        seen = names(lan, 30)
        assert seen.get("b3", 0) >= 15 and set(seen) <= {"b1", "b2", "b3"}, seen
        for k, (name, _) in held.items():
            k.stdin.write("again\n")
            k.stdin.flush()
            assert k.stdout.readline().split()[0] == name, "a reload moved an established flow"
    finally:
        for k in keepers:
            k.stdin.close()
            k.wait(timeout=10)
    # A config that does not load keeps the running one.
    with open(node.config, "a") as f:
        f.write("    - { address: 192.0.2.99, reals: [] }\n")
    node.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reload failed" in open(node.log).read(), what="the reload error")
    assert "a packet vip needs a non-empty list of reals" in open(node.log).read()
    assert node.proc.poll() is None
    assert len(node.vip(f"tcp {VIP}:80")["reals"]) == 3
    seen = names(lan, 12)
    assert "b3" in seen and set(seen) <= {"b1", "b2", "b3"}, seen


def test_explain_packet_runs_the_program_on_the_flow():
    config = tmp_path("explain.yaml")
    with open(config, "w") as f:
        f.write(f"""packet:
  interface: lo
  gateway_mac: 02:00:00:00:00:01
  source: 10.0.0.2
  vips:
    - {{ address: {VIP}, port: 80, protocol: tcp, reals: [10.0.1.2, 10.0.2.2, 10.0.3.2] }}
    - {{ address: 192.0.2.40, port: 80, forward: nat, reals: [{{ address: 10.0.5.2, port: 8080 }}] }}
""")

    def explain(flow):
        r = subprocess.run([SLUICE_BIN(), "explain", "-c", config, "--packet", flow],
                           capture_output=True, text=True, timeout=30)
        return r.returncode, r.stdout + r.stderr

    code, out = explain(f"tcp 198.51.100.7:40000 -> {VIP}:80")
    assert code == 0, out
    assert f"vip: tcp {VIP}:80 (mode l4, forward ipip" in out, out
    chosen = re.search(r"Maglev slot \d+ of 65537: (\S+)", out).group(1)
    assert f"encapsulated in IPv4 (10.0.0.2 -> {chosen})" in out, out
    code, out = explain("tcp 198.51.100.7:40000 -> 192.0.2.40:80")
    assert code == 0 and "destination rewritten to 10.0.5.2 port 8080" in out, out
    code, out = explain(f"tcp 198.51.100.7:40000 -> {VIP}:81")
    assert code == 1 and "XDP_PASS" in out, out
    code, out = explain(f"tcp 198.51.100.7 -> {VIP}:80")
    assert code == 2 and "bad address" in out, out


if __name__ == "__main__":
    run_tests(globals())
