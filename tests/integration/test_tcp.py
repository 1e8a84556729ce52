"""The stream tier over TCP with real processes: bytes pass unchanged both ways (1 GiB, SHA-256),
half-close, spreading, failover on connect failure, limits at accept, idle timeout, iperf3."""
import hashlib
import subprocess

from harness import *

HERE = os.path.dirname(os.path.abspath(__file__))
GiB = 1024 * 1024 * 1024


class TcpBackend:
    def __init__(self, name):
        self.name = name
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.proc = start(["/usr/bin/python3", os.path.join(HERE, "tcp_backend.py"), str(self.port), name])
        wait_port(self.port, proc=self.proc)


def tcp_proxy(backends, listener_extra="", cluster_extra="", top=""):
    eps = ", ".join(b.address for b in backends)
    return Sluice(f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
{top}listeners:
  - name: db
    protocol: tcp
    listen: 127.0.0.1:{{port}}
    cluster: c
{listener_extra}clusters:
  - name: c
{cluster_extra}    endpoints: [{eps}]
""")


def ask(port, command, timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(command)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def test_gigabyte_both_ways_unchanged_and_half_close():
    b = TcpBackend("t0")
    s = tcp_proxy([b])
    # client -> backend: 1 GiB, then FIN; the backend answers after the FIN (half-close)
    block = os.urandom(1 << 20)
    want = hashlib.sha256()
    with socket.create_connection(("127.0.0.1", s.port), timeout=60) as c:
        c.sendall(b"hash\n")
        for i in range(1024):
            piece = block[i % 7:] + block[:i % 7]  # every MiB different
            want.update(piece)
            c.sendall(piece)
        c.shutdown(socket.SHUT_WR)
        answer = c.makefile("rb").readline().decode().split()
    assert answer == ["t0", str(GiB), want.hexdigest()], answer
    # backend -> client: 1 GiB from the demo backend's pattern, through the same proxy
    http = Backend("h")
    s2 = tcp_proxy([http])
    out = subprocess.run(f"curl -sS --fail 'http://127.0.0.1:{s2.port}/bytes?n={GiB}' | sha256sum",
                         shell=True, capture_output=True, text=True, timeout=120)
    pattern = hashlib.sha256()
    block = bytes((ord("a") + i % 26) for i in range(64 * 1024))
    for _ in range(GiB // len(block)):
        pattern.update(block)
    assert out.stdout.split()[0] == pattern.hexdigest(), out
    assert s2.metric('sluice_stream_bytes_total{listener="db",direction="to_client"}') > GiB


def test_connections_spread_and_fail_over():
    b = [TcpBackend("t0"), TcpBackend("t1")]
    dead = f"127.0.0.1:{free_port()}"

    class Dead:
        address = dead
    s = tcp_proxy([b[0], Dead(), b[1]], top="workers: 1\n")
    seen = [ask(s.port, b"name\n").strip().decode() for _ in range(30)]
    # every connection answered by a live one (a connect to the dead one moves on), both used;
    # the retry's pick also advances the rotation, so the split is near, not exactly, half
    assert seen.count("t0") + seen.count("t1") == 30 and min(seen.count("t0"), seen.count("t1")) >= 10, seen
    assert s.metric('sluice_stream_connect_failures_total{listener="db"}') >= 1


def test_limits_at_accept_and_idle_timeout():
    b = TcpBackend("t0")
    # idle 2s: long enough that no admitted connection times out before all five are made
    s = tcp_proxy([b], listener_extra="    limits: { max_connections_per_ip: 3 }\n    timeouts: { idle: 2s }\n")
    conns = [socket.create_connection(("127.0.0.1", s.port), timeout=5) for _ in range(5)]
    for c in conns:
        try:
            c.sendall(b"idle\n")
        except OSError:
            pass  # a refused connection may already be reset
    refused = lambda: s.metric('sluice_downstream_connections_rejected_total{listener="db",reason="max_connections_per_ip"}')
    try:
        wait_for(lambda: refused() == 2, what="two refused")
    except AssertionError:
        active = s.metric('sluice_stream_connections_active{listener="db"}')
        idled = s.metric('sluice_stream_timeouts_total{listener="db",kind="idle"}')
        raise AssertionError(f"refused {refused()}, active {active}, idle timeouts {idled}")
    # the 3 admitted idle connections are closed by the idle timeout, and counted
    wait_for(lambda: s.metric('sluice_stream_timeouts_total{listener="db",kind="idle"}') == 3, timeout=15,
             what="idle timeouts")
    for c in conns:
        c.settimeout(5)
        try:
            assert c.recv(10) == b""  # closed by sluice (refused at accept, or idle)
        except ConnectionResetError:
            pass
        c.close()
    assert s.metric('sluice_stream_connections_active{listener="db"}') == 0


def test_iperf3_both_directions():
    port = free_port()
    iperf = start(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)])
    wait_port(port, proc=iperf)

    class Iperf:
        address = f"127.0.0.1:{port}"
    s = tcp_proxy([Iperf()])
    for reverse in [[], ["-R"]]:
        # The iperf3 server runs one test at a time and re-creates its listening socket after
        # each (the readiness probe counts as one): a client right after can be told "busy", or
        # find nothing listening for a moment, so that sluice's connect is refused and the client
        # sees its control socket closed. A bounded number of attempts is allowed for both.
        for attempt in range(5):
            out = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(s.port), "-t", "2", "-J", *reverse],
                                 capture_output=True, text=True, timeout=60)
            result = json.loads(out.stdout) if out.stdout.strip().startswith("{") else {}
            error = result.get("error", "")
            if "busy" not in error and "control socket has closed unexpectedly" not in error:
                break
        assert out.returncode == 0 and "error" not in result, out.stdout[-2000:]
        assert result["end"]["sum_received"]["bytes"] > 10 * 1024 * 1024, result["end"]["sum_received"]


def proxy_protocol_nginx():
    """nginx on a port that requires a PROXY header; answers with the address it carried."""
    n = Nginx("""    listen 127.0.0.1:PORT2 proxy_protocol;
    location / { return 200 "$proxy_protocol_addr $proxy_protocol_port\\n"; }
""".replace("PORT2", str(free_port())))
    port = int(re.search(r"listen 127\.0\.0\.1:(\d+) proxy_protocol", open(n.conf).read()).group(1))

    class PP:
        address = f"127.0.0.1:{port}"
    return PP()


def test_proxy_protocol_v1_and_v2_reach_nginx():
    import http.client
    pp = proxy_protocol_nginx()
    for version in ["v1", "v2"]:
        s = tcp_proxy([pp], cluster_extra=f"    proxy_protocol: {version}\n")
        conn = http.client.HTTPConnection("127.0.0.1", s.port, source_address=("127.0.0.5", 0), timeout=5)
        conn.request("GET", "/")
        resp = conn.getresponse()
        body = resp.read().decode().split()
        port = conn.sock.getsockname()[1]
        conn.close()
        assert resp.status == 200 and body == ["127.0.0.5", str(port)], (version, resp.status, body)
        s.stop()


def test_proxy_protocol_accepted_only_from_trusted_sources():
    pp = proxy_protocol_nginx()
    # a trusted proxy (loopback) tells sluice who the client is; sluice tells nginx
    s = tcp_proxy([pp], cluster_extra="    proxy_protocol: v2\n",
                  listener_extra="    proxy_protocol: { trusted_sources: [127.0.0.0/8] }\n")
    out = raw(s.port, b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert out.endswith(b"203.0.113.7 5555\n"), out
    # no header, or a broken one, from a trusted source: closed and counted
    assert raw(s.port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") == b""
    assert raw(s.port, b"PROXY TCP4 1.2.3.4 x 1 2\r\n") == b""
    assert s.metric('sluice_proxy_protocol_rejected_total{listener="db",reason="bad_header"}') >= 2
    s.stop()
    # from a source not in trusted_sources: refused even with a valid header
    s = tcp_proxy([pp], listener_extra="    proxy_protocol: { trusted_sources: [10.0.0.0/8] }\n")
    assert raw(s.port, b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n") == b""
    assert s.metric('sluice_proxy_protocol_rejected_total{listener="db",reason="untrusted_source"}') >= 1


if __name__ == "__main__":
    import json
    run_tests(globals())
