"""Network namespaces for the packet tier's end-to-end tests: a router namespace holding a
bridge (the "LAN" of the sluice nodes and the backends) and a leg to a client namespace.
Everything is created under a per-process prefix and removed at exit, even after a failure.

    client 10.98.0.2 --- 10.98.0.1 [router, br0 10.99.0.1] --- lbN 10.99.0.(1+N)
                                                         \\--- bN  10.99.0.(10+N)

veth caveat: a veth sends packets with a partial checksum (offload), which XDP cannot finish;
the client and the backends compute full checksums (ethtool tx off), as a real NIC's wire has."""
import atexit
import os
import subprocess

from harness import start, wait_for

PREFIX = f"slt{os.getpid() % 100000}"
_namespaces = []


def sh(*args, check=True):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def ns_exec(ns, *args, check=True):
    return sh("ip", "netns", "exec", ns, *args, check=check)


def _remove_all():
    for ns in reversed(_namespaces):
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    _namespaces.clear()


atexit.register(_remove_all)


class Lan:
    def __init__(self):
        self.router = self._ns("r")
        self.client = self._ns("c")
        r = self.router
        # A fixed MAC: a bridge otherwise takes the lowest of its ports', which changes as
        # ports are added.
        sh("ip", "-n", r, "link", "add", "br0", "address", "02:99:00:00:00:01", "type", "bridge")
        sh("ip", "-n", r, "addr", "add", "10.99.0.1/24", "dev", "br0")
        sh("ip", "-n", r, "link", "set", "br0", "up")
        ns_exec(r, "sysctl", "-qw", "net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0", "net.ipv4.conf.all.send_redirects=0",
                "net.ipv4.conf.default.send_redirects=0", "net.ipv4.conf.br0.send_redirects=0")
        sh("ip", "-n", r, "link", "add", "r-c", "type", "veth", "peer", "name", "eth0", "netns",
           self.client)
        sh("ip", "-n", r, "addr", "add", "10.98.0.1/24", "dev", "r-c")
        sh("ip", "-n", r, "link", "set", "r-c", "up")
        self._host(self.client, "10.98.0.2/24", "10.98.0.1")
        self.nodes = {}

    def _ns(self, name):
        ns = f"{PREFIX}-{name}"
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)  # a leftover of a crash
        sh("ip", "netns", "add", ns)
        _namespaces.append(ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        return ns

    def _host(self, ns, address, gateway):
        sh("ip", "-n", ns, "addr", "add", address, "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "route", "add", "default", "via", gateway)
        ns_exec(ns, "ethtool", "-K", "eth0", "tx", "off")
        ns_exec(ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0", "net.ipv4.conf.eth0.rp_filter=0",
                "net.ipv4.conf.lo.rp_filter=0")

    def add_node(self, name, address):
        """A namespace on the LAN; returns it. Its port on the bridge gets an XDP_PASS program:
        a veth only receives XDP_TX'd frames when its peer runs XDP too."""
        ns = self._ns(name)
        port = f"p-{name}"
        sh("ip", "-n", self.router, "link", "add", port, "type", "veth", "peer", "name", "eth0",
           "netns", ns)
        sh("ip", "-n", self.router, "link", "set", port, "master", "br0", "up")
        self._host(ns, f"{address}/24", "10.99.0.1")
        self.nodes[name] = (ns, port)
        return ns

    def xdp_pass_on_port(self, name, bpf_object):
        _, port = self.nodes[name]
        sh("ip", "-n", self.router, "link", "set", "dev", port, "xdpdrv", "obj", bpf_object, "sec",
           "xdp")

    def route_vip(self, vip, *via):
        if len(via) == 1:
            sh("ip", "-n", self.router, "route", "replace", f"{vip}/32", "via", via[0])
        else:
            hops = []
            for v in via:
                hops += ["nexthop", "via", v]
            sh("ip", "-n", self.router, "route", "replace", f"{vip}/32", *hops)
