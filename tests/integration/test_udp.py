"""The stream tier over UDP with real DNS servers (dnsmasq, two instances answering the same name
with different addresses): queries through sluice get answers, one client sticks to one server
within its session, sessions time out, and per-packet mode spreads queries."""
import random
import struct
import subprocess

from harness import *


def dnsmasq(answer):
    port = free_port()
    p = start(["dnsmasq", "--no-daemon", "--keep-in-foreground", f"--port={port}", "--listen-address=127.0.0.1",
               "--bind-interfaces", "--no-resolv", "--no-hosts", "--conf-file=/dev/null",
               f"--address=/a.test/{answer}", "--pid-file=" + tmp_path(f"dnsmasq-{port}.pid")])

    class Server:
        address = f"127.0.0.1:{port}"
    # readiness: a direct query answers
    wait_for(lambda: query(port, timeout=0.3) == answer, what="dnsmasq up")
    return Server()


def query(port, sock=None, timeout=2.0, name="a.test"):
    """One A query; returns the answer's address, or None."""
    qid = random.randrange(65536)
    packet = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        packet += bytes([len(label)]) + label.encode()
    packet += b"\x00" + struct.pack(">HH", 1, 1)
    own = sock is None
    s = sock or socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(packet, ("127.0.0.1", port))
        data, _ = s.recvfrom(4096)
    except (socket.timeout, ConnectionRefusedError):
        return None
    finally:
        if own:
            s.close()
    if len(data) < 16 or struct.unpack(">H", data[:2])[0] != qid:
        return None
    return socket.inet_ntoa(data[-4:])


def udp_proxy(servers, session="client", idle="1s"):
    eps = ", ".join(s.address for s in servers)
    return Sluice(f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
workers: 1
listeners:
  - name: dns
    protocol: udp
    listen: 127.0.0.1:{{port0}}
    session: {session}
    timeouts: {{ idle: {idle} }}
    cluster: c
  - name: web
    listen: 127.0.0.1:{{port}}
    routes: [{{ cluster: c2 }}]
clusters:
  - {{ name: c, endpoints: [{eps}] }}
  - {{ name: c2, endpoints: [127.0.0.1:9] }}
""", extra_ports=1)


def test_dns_through_sluice_sessions_and_per_packet():
    a, b = dnsmasq("10.0.0.1"), dnsmasq("10.0.0.2")
    s = udp_proxy([a, b])
    port = s.extra[0]
    # one client socket = one session = one server
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        answers = {query(port, c) for _ in range(10)}
    assert len(answers) == 1 and answers <= {"10.0.0.1", "10.0.0.2"}, answers
    # many clients spread over both servers (sockets kept open so no two share a port)
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(20)]
    answers = [query(port, c) for c in clients]
    assert set(answers) == {"10.0.0.1", "10.0.0.2"}, answers
    assert s.metric('sluice_stream_connections_total{listener="dns"}') == 21
    for c in clients:
        c.close()
    # sessions end after the idle timeout, and are counted
    wait_for(lambda: s.metric('sluice_stream_connections_active{listener="dns"}') == 0, timeout=15,
             what="sessions to expire")
    assert s.metric('sluice_stream_timeouts_total{listener="dns",kind="idle"}') == 21
    s.stop()
    # per-packet mode: one client socket, its queries spread over both servers
    s = udp_proxy([a, b], session="none")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        answers = [query(s.extra[0], c) for _ in range(10)]
    assert answers.count("10.0.0.1") == 5 and answers.count("10.0.0.2") == 5, answers
    wait_for(lambda: s.metric('sluice_stream_connections_active{listener="dns"}') == 0, what="answered sessions end")


def test_proxy_protocol_v2_over_udp():
    port = free_port()
    p = start(["/usr/bin/python3", os.path.join(os.path.dirname(os.path.abspath(__file__)), "udp_proxy_backend.py"),
               str(port)])

    class Backend:
        address = f"127.0.0.1:{port}"
    s = Sluice(f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
listeners:
  - {{ name: u, protocol: udp, listen: 127.0.0.1:{{port0}}, cluster: c }}
  - {{ name: web, listen: 127.0.0.1:{{port}}, routes: [{{ cluster: c2 }}] }}
clusters:
  - {{ name: c, proxy_protocol: v2, endpoints: [{Backend.address}] }}
  - {{ name: c2, endpoints: [127.0.0.1:9] }}
""", extra_ports=1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.bind(("127.0.0.1", 0))
        c.settimeout(5)
        for _ in range(50):  # bounded: the backend may still be starting
            c.sendto(b"hello", ("127.0.0.1", s.extra[0]))
            try:
                answer = c.recv(100).decode()
                break
            except socket.timeout:
                continue
        assert answer == f"127.0.0.1 {c.getsockname()[1]} hello\n", answer


class EchoBackend:
    """A UDP echo server on a thread of the test process."""

    def __init__(self):
        import threading
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(65536)
                self.sock.sendto(data, peer)
            except OSError:
                return

    def close(self):
        self.sock.close()


def echo_proxy(backend, workers=1, limits=""):
    return Sluice(f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
workers: {workers}
listeners:
  - name: u
    protocol: udp
    listen: 127.0.0.1:{{port0}}
    timeouts: {{ idle: 1s }}
    {limits}
    cluster: c
  - {{ name: web, listen: 127.0.0.1:{{port}}, routes: [{{ cluster: c2 }}] }}
clusters:
  - {{ name: c, endpoints: [{backend.address}] }}
  - {{ name: c2, endpoints: [127.0.0.1:9] }}
""", extra_ports=1)


def test_burst_crosses_batches_whole_and_in_order():
    # More datagrams than one recvmmsg batch (32), sent back to back, one of them near the
    # largest UDP payload: every one comes back, unchanged and in order.
    backend = EchoBackend()
    s = echo_proxy(backend)
    sent = [b"%04d" % i + bytes([65 + i % 26]) * (60000 if i == 40 else 200) for i in range(80)]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as c:
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        c.settimeout(5)
        c.sendto(b"warm-up", ("127.0.0.1", s.extra[0]))  # the session exists before the burst
        assert c.recv(65536) == b"warm-up"
        for d in sent:
            c.sendto(d, ("127.0.0.1", s.extra[0]))
        got = [c.recv(65536) for _ in sent]
    assert got == sent, [g[:4] for g in got]
    assert s.metric('sluice_udp_datagrams_dropped_total{listener="u"}') == 0
    assert s.metric('sluice_stream_bytes_total{listener="u",direction="to_client"}') == \
        sum(map(len, sent)) + len(b"warm-up")
    backend.close()


def test_session_limit_counts_across_workers():
    # Six clients, two workers, max_connections 3 for the listener: exactly three sessions, however
    # SO_REUSEPORT spreads the clients over the workers; the slots come back when sessions expire.
    backend = EchoBackend()
    s = echo_proxy(backend, workers=2, limits="limits: { max_connections: 3 }")
    clients = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(6)]
    answered = 0
    for c in clients:
        c.bind(("127.0.0.1", 0))
        c.settimeout(0.5)
        c.sendto(b"hi", ("127.0.0.1", s.extra[0]))
    for c in clients:
        try:
            answered += c.recv(100) == b"hi"
        except socket.timeout:
            pass
    assert answered == 3, answered
    assert s.metric('sluice_udp_sessions_rejected_total{listener="u"}') == 3
    assert s.metric('sluice_stream_connections_total{listener="u"}') == 3
    wait_for(lambda: s.metric('sluice_stream_connections_active{listener="u"}') == 0,
             what="sessions expired")
    late = clients[-1]
    late.settimeout(5)
    late.sendto(b"again", ("127.0.0.1", s.extra[0]))
    assert late.recv(100) == b"again"
    for c in clients:
        c.close()
    backend.close()


if __name__ == "__main__":
    run_tests(globals())
