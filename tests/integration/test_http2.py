"""HTTP/2 downstream: h2c with prior knowledge and HTTP/1.1 on one plain port, h2 over TLS by
ALPN, multiplexing (nghttp, h2load), large bodies both ways checked by SHA-256, and the abuse
cases of RFC 9113 deployments (rapid reset, CONTINUATION flood, HPACK bomb, SETTINGS/PING and
empty-DATA floods), each closing the abusive connection while a normal client keeps being served.
The abusive clients are written with python3-h2 (hyperframe, hpack)."""
import hashlib
import socket
import subprocess
import threading

import h2.config
import h2.connection
import h2.errors
import h2.events
import hpack
import hyperframe.frame as hf

from harness import *


def plain_sluice(backends, extra=""):
    return Sluice(proxy_yaml(cluster_yaml("c", backends), top="access_log: false\n", listener=extra))


def make_tls_cert():
    key, crt = tmp_path("h2.key"), tmp_path("h2.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=h2.test", "-addext", "subjectAltName=DNS:h2.test",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    return key, crt


def curl(*args):
    out = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code} %{http_version}", *args],
                         capture_output=True, timeout=60)
    return out.returncode, out.stdout, out.stderr.decode(errors="replace")


def test_h2c_and_http1_share_a_port():
    b = Backend("b1")
    s = plain_sluice([b])
    rc, out, err = curl("--http2-prior-knowledge", f"http://127.0.0.1:{s.port}/echo", "-H", "x-test: yes")
    assert rc == 0, err
    assert out.endswith(b"200 2") and b"x-test: yes" in out and b"X-Forwarded-Proto: http" in out, out
    rc, out, err = curl(f"http://127.0.0.1:{s.port}/")
    assert rc == 0 and out.endswith(b"200 1.1"), out
    # HTTP/2 header names are lowercase: the backend's "X-Backend" reaches an h2 client lowered
    rc, out, err = curl("--http2-prior-knowledge", "-D", "-", f"http://127.0.0.1:{s.port}/")
    assert rc == 0 and b"\r\nx-backend: b1\r\n" in out and b"X-Backend" not in out, out
    # streams are not counted as connections: once the clients left, nothing is open
    wait_for(lambda: s.metric('sluice_downstream_connections_active{listener="web"}') == 0,
             what="connections closed")


def test_h2_over_tls_by_alpn():
    b = Backend("b1")
    key, crt = make_tls_cert()
    s = Sluice(f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
listeners:
  - name: web
    protocol: https
    listen: 127.0.0.1:{{port}}
    tls: {{ certificates: [{{ cert: {crt}, key: {key} }}] }}
    routes: [{{ cluster: c }}]
clusters:
{cluster_yaml("c", [b])}""")
    rc, out, err = curl("--http2", "--cacert", crt, "--resolve", f"h2.test:{s.port}:127.0.0.1",
                        f"https://h2.test:{s.port}/echo")
    assert rc == 0, err
    assert out.endswith(b"200 2") and b"X-Forwarded-Proto: https" in out, out
    rc, out, err = curl("--http1.1", "--cacert", crt, "--resolve", f"h2.test:{s.port}:127.0.0.1",
                        f"https://h2.test:{s.port}/")
    assert rc == 0 and out.endswith(b"200 1.1"), out
    alpn = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{s.port}", "-alpn", "h2,http/1.1"],
                          input=b"", capture_output=True, timeout=20).stdout.decode()
    assert "ALPN protocol: h2" in alpn, alpn


def test_multiplexing_spreads_and_answers_everything():
    b1, b2 = Backend("b1"), Backend("b2")
    s = plain_sluice([b1, b2])
    out = subprocess.run(["nghttp", "-n", "-s"] + [f"http://127.0.0.1:{s.port}/x{i}" for i in range(20)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    out = subprocess.run(["h2load", "-n", "4000", "-c", "4", "-m", "25", f"http://127.0.0.1:{s.port}/"],
                         capture_output=True, text=True, timeout=120).stdout
    assert "4000 succeeded, 0 failed" in out and "4000 2xx" in out, out
    served = b1.stats()["requests"], b2.stats()["requests"]
    assert min(served) > 1000, served


def test_h2_request_fields_reach_the_backend_as_http1():
    # The h2 head goes to the backend without an HTTP/1.1 round trip inside sluice: the fields
    # arrive in order, cookie crumbs joined (RFC 9113 8.2.3), :authority as Host, the query kept;
    # a field value with a control character is a 400 from sluice, as in HTTP/1.1.
    b = Backend("b1")
    s = plain_sluice([b])
    sock, conn = h2_connect(s.port)
    conn.send_headers(1, [(":method", "GET"), (":path", "/echo?q=1"), (":scheme", "http"),
                          (":authority", "h2.test"), ("x-one", "1"), ("cookie", "a=1"),
                          ("x-two", "2"), ("cookie", "b=2")], end_stream=True)
    sock.sendall(conn.data_to_send())
    got = pump(sock, conn, lambda ev: any(isinstance(e, h2.events.StreamEnded) for e in ev))
    status = [dict(e.headers)[":status"] for e in got if isinstance(e, h2.events.ResponseReceived)]
    body = b"".join(e.data for e in got if isinstance(e, h2.events.DataReceived)).decode()
    assert status == ["200"], got
    assert body.startswith("GET /echo?q=1 HTTP/1.1"), body
    lines = body.lower().splitlines()
    assert "host: h2.test" in lines, body
    assert "cookie: a=1; b=2" in lines, body
    assert lines.index("x-one: 1") < lines.index("x-two: 2"), body
    sock.close()
    # A control character in a value: python3-h2 sends it when told not to check.
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(
        client_side=True, header_encoding="utf-8", validate_outbound_headers=False,
        normalize_outbound_headers=False))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "GET"), (":path", "/echo"), (":scheme", "http"),
                          (":authority", "h2.test"), ("x-bad", "a\x01b")], end_stream=True)
    sock.sendall(conn.data_to_send())
    got = pump(sock, conn, lambda ev: any(isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset))
                                          for e in ev))
    statuses = [dict(e.headers)[":status"] for e in got if isinstance(e, h2.events.ResponseReceived)]
    reset = any(isinstance(e, h2.events.StreamReset) for e in got)
    # sluice answers 400, or nghttp2 resets the stream first; the backend never sees it.
    assert statuses == ["400"] or (reset and not statuses), got
    sock.close()


def test_large_bodies_both_ways():
    b = Backend("b1")
    s = plain_sluice([b])
    body = os.urandom(12 << 20)
    path = tmp_path("h2-upload.bin")
    with open(path, "wb") as f:
        f.write(body)
    rc, out, err = curl("--http2-prior-knowledge", "--data-binary", f"@{path}", f"http://127.0.0.1:{s.port}/upload")
    assert rc == 0, err
    assert f"sha256={hashlib.sha256(body).hexdigest()}".encode() in out, out[:200]
    # a body without content-length (h2 has no chunked): python3-h2 sends DATA frames only
    sock, conn = h2_connect(s.port)
    conn.send_headers(1, [(":method", "POST"), (":path", "/upload"), (":scheme", "http"),
                          (":authority", "h")])
    for i in range(0, len(body[:3 << 20]), 16384):
        while conn.local_flow_control_window(1) < 16384:
            pump(sock, conn, lambda ev: any(isinstance(e, h2.events.WindowUpdated) for e in ev))
        conn.send_data(1, body[i:i + 16384])
        sock.sendall(conn.data_to_send())
    conn.end_stream(1)
    sock.sendall(conn.data_to_send())
    got = pump(sock, conn, lambda ev: any(isinstance(e, h2.events.StreamEnded) for e in ev))
    data = b"".join(e.data for e in got if isinstance(e, h2.events.DataReceived))
    assert f"sha256={hashlib.sha256(body[:3 << 20]).hexdigest()}".encode() in data, data[:200]
    sock.close()
    # and down: 50 MB through a 256 KiB window buffer, byte-exact
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", f"http://127.0.0.1:{s.port}/bytes?n=52428800"],
                         capture_output=True, timeout=60).stdout
    assert len(out) == 52428800, len(out)


def test_h2c_upstream_from_both_versions():
    # nginx speaking HTTP/2 in cleartext as the backend (its `listen ... http2` is h2c with prior
    # knowledge); HTTP/1.1 and HTTP/2 clients both reach it over one multiplexed connection.
    b = Backend("b1")
    n = Nginx("""    location / { return 200 "h2c $server_protocol $request_method\\n"; }
    location /up { client_max_body_size 100m; proxy_pass http://%s/upload; }
""" % b.address, listen_options="http2")  # h2c with prior knowledge
    s = Sluice(proxy_yaml(cluster_yaml("c", [n], extra="    protocol: h2c\n")))
    rc, out, err = curl(f"http://127.0.0.1:{s.port}/")
    assert rc == 0 and out == b"h2c HTTP/2.0 GET\n\n200 1.1", (out, err)
    rc, out, err = curl("--http2-prior-knowledge", f"http://127.0.0.1:{s.port}/")
    assert rc == 0 and out == b"h2c HTTP/2.0 GET\n\n200 2", (out, err)
    body = os.urandom(3 << 20)
    path = tmp_path("h2c-up.bin")
    with open(path, "wb") as f:
        f.write(body)
    for version in ["--http1.1", "--http2-prior-knowledge"]:
        rc, out, err = curl(version, "--data-binary", f"@{path}", f"http://127.0.0.1:{s.port}/up")
        assert rc == 0 and f"sha256={hashlib.sha256(body).hexdigest()}".encode() in out, (out[:200], err)
    out = subprocess.run(["h2load", "-n", "2000", "-c", "4", "-m", "10", f"http://127.0.0.1:{s.port}/"],
                         capture_output=True, text=True, timeout=120).stdout
    assert "2000 succeeded, 0 failed" in out, out
    # one upstream connection per worker carried it all
    conns = s.metric('sluice_upstream_connections_total{cluster="c"}')
    if conns > 2:
        seen = {k: v for k, v in s.metrics().items() if 'cluster="c"' in k and v}
        with open(os.path.join(n.prefix, "error.log")) as f:
            nginx_log = f.read()[-2000:]
        raise AssertionError(f"{conns} upstream connections; metrics {seen}; "
                             f"sluice log {s.logs()[-2000:]}; nginx log {nginx_log}")


def test_h2_upstream_adds_connections_only_when_full():
    # nginx takes 10 streams at a time per connection; 40 in flight need 4 connections over the
    # 2 workers, at most 5 (one per worker may be part-full). Before, every stream beyond the
    # 10th opened (and replaced) a connection: hundreds.
    n = Nginx("""    http2_max_concurrent_streams 10;
    location / { return 200 "h2c\\n"; }
""", listen_options="http2")
    s = Sluice(proxy_yaml(cluster_yaml("c", [n], extra="    protocol: h2c\n"), top="workers: 2\n"))
    out = subprocess.run(["h2load", "-n", "4000", "-c", "4", "-m", "10", f"http://127.0.0.1:{s.port}/"],
                         capture_output=True, text=True, timeout=120).stdout
    assert "4000 succeeded, 0 failed" in out, out
    conns = s.metric('sluice_upstream_connections_total{cluster="c"}')
    assert 4 <= conns <= 5, conns


class RefusingH2Backend:
    """An h2c server (python3-h2) that refuses the first stream of every connection with
    REFUSED_STREAM and answers the others; counts the connections it accepted."""

    def __init__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self.refused = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self.serve, args=(sock,), daemon=True).start()

    def serve(self, sock):
        conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
        conn.initiate_connection()
        sock.sendall(conn.data_to_send())
        first = True
        with sock:
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    return
                if not data:
                    return
                for ev in conn.receive_data(data):
                    if isinstance(ev, h2.events.RequestReceived):
                        if first:
                            first = False
                            self.refused += 1
                            conn.reset_stream(ev.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                        else:
                            conn.send_headers(ev.stream_id, [(":status", "200"), ("content-length", "3")])
                            conn.send_data(ev.stream_id, b"ok\n", end_stream=True)
                sock.sendall(conn.data_to_send())

    def close(self):
        self.listener.close()


def test_refused_stream_is_resent_on_the_same_connection():
    # REFUSED_STREAM means the backend did nothing with the request (RFC 9113 8.7): sluice
    # resends it, on the same connection since that one is still good.
    b = RefusingH2Backend()
    s = Sluice(proxy_yaml(f"""  - name: c
    protocol: h2c
    endpoints: [127.0.0.1:{b.port}]
""", top="workers: 1\n"))
    try:
        for _ in range(3):
            status, _, body = request(s.port, "GET", "/")
            assert (status, body) == (200, b"ok\n"), (status, body)
        assert b.refused == 1, b.refused
        assert b.connections == 1, b.connections
        assert s.metric('sluice_upstream_connections_total{cluster="c"}') == 1
    finally:
        b.close()


def test_h2_backend_that_never_speaks_fails_every_waiting_request():
    # A backend that accepts and says nothing (no SETTINGS): the session that opened the
    # connection and those waiting for it all get an answer (the connection is dropped after
    # the connect timeout), none hangs.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    port = silent.getsockname()[1]
    s = Sluice(proxy_yaml(f"""  - name: c
    protocol: h2c
    timeouts: {{ connect: 300ms, response: 1s }}
    retries: {{ attempts: 0 }}
    endpoints: [127.0.0.1:{port}]
""", top="workers: 1\n"))
    try:
        results = []

        def one():
            status, _, _ = request(s.port, "GET", "/", timeout=15)
            results.append(status)
        threads = [threading.Thread(target=one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=20)
        assert results == [502] * 4, results
    finally:
        silent.close()


# ---- abuse, with python3-h2 ----

def h2_connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True,
                                                                       header_encoding="utf-8"))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    return sock, conn


def pump(sock, conn, done, limit=2000):
    """Reads until done(events) is true or the peer closes; returns all events."""
    events = []
    for _ in range(limit):  # bounded
        try:
            data = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            break
        if not data:
            break
        try:
            new = conn.receive_data(data)
        except h2.exceptions.ProtocolError:
            break
        events += new
        out = conn.data_to_send()
        if out:
            try:
                sock.sendall(out)
            except OSError:
                break
        if done(new) or done(events):
            break
    return events


def closed_by_server(sock):
    sock.settimeout(10)
    try:
        for _ in range(1000):  # bounded: drain until EOF
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def goaway_code(raw):
    """The error code of the first GOAWAY frame in raw server bytes, or None."""
    at = 0
    while at + 9 <= len(raw):
        length = int.from_bytes(raw[at:at + 3], "big")
        ftype = raw[at + 3]
        if ftype == 7 and at + 9 + 8 <= len(raw):
            return int.from_bytes(raw[at + 13:at + 17], "big")
        at += 9 + length
    return None


def read_all(sock, timeout=10):
    sock.settimeout(timeout)
    raw = b""
    try:
        for _ in range(10000):
            chunk = sock.recv(65536)
            if not chunk:
                break
            raw += chunk
    except (socket.timeout, ConnectionResetError):
        pass
    return raw


def while_attacked(s, attack):
    """Runs `attack` on a thread while a normal client makes requests; returns the attack's result
    and asserts every normal request got 200."""
    result = {}
    t = threading.Thread(target=lambda: result.setdefault("r", attack()))
    t.start()
    codes = []
    for _ in range(20):
        rc, out, err = curl("--http2-prior-knowledge", f"http://127.0.0.1:{s.port}/")
        codes.append(out[-5:])
    t.join(timeout=60)
    assert codes == [b"200 2"] * 20, codes
    return result.get("r")


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def test_rapid_reset_gets_goaway():
    b = Backend("b1")
    s = plain_sluice([b])
    rss_before = s.rss_kib()

    def attack():
        sock, conn = h2_connect(s.port)
        headers = [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "h")]
        try:
            for i in range(1, 20001, 2):  # 10000 streams opened and cancelled at once
                conn.send_headers(i, headers)
                conn.reset_stream(i)
                sock.sendall(conn.data_to_send())
        except (OSError, h2.exceptions.ProtocolError):
            pass
        raw = read_all(sock)
        sock.close()
        return goaway_code(raw)
    assert while_attacked(s, attack) == 11  # ENHANCE_YOUR_CALM
    # ten more attacks in a row cost no memory that stays (bounded per connection, freed after)
    for _ in range(10):
        assert while_attacked(s, attack) == 11
    if not os.environ.get("SLUICE_SANITIZED"):  # ASan's quarantine holds freed memory on purpose
        growth_mib = (s.rss_kib() - rss_before) / 1024
        assert growth_mib < 32, growth_mib


def test_continuation_flood_is_cut():
    b = Backend("b1")
    s = plain_sluice([b])

    def attack():
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        enc = hpack.Encoder()
        block = enc.encode([(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "h")])
        frames = PREFACE + hf.SettingsFrame(0).serialize()
        frames += hf.HeadersFrame(1, data=block).serialize()  # no END_HEADERS
        try:
            sock.sendall(frames)
            cont = hf.ContinuationFrame(1, data=enc.encode([("x-pad", "a" * 100)])).serialize()
            for _ in range(200):  # far past the limit (8), small enough to be read before close
                sock.sendall(cont)
        except OSError:
            pass
        raw = read_all(sock)
        sock.close()
        return goaway_code(raw)
    assert while_attacked(s, attack) is not None


def test_hpack_bomb_is_refused():
    b = Backend("b1")
    s = plain_sluice([b])
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    enc = hpack.Encoder()
    # one 4 KB header enters the dynamic table; then each 1-byte reference to it decodes to 4 KB
    first = enc.encode([(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "h"),
                        ("x-bomb", "b" * 4000)])
    block = first + bytes([0x80 | 62]) * 2000  # 2000 x "x-bomb: bbbb..." = 8 MB decoded
    sock.sendall(PREFACE + hf.SettingsFrame(0).serialize() +
                 hf.HeadersFrame(1, data=block[:16000], flags=["END_STREAM"]).serialize() +
                 hf.ContinuationFrame(1, data=block[16000:], flags=["END_HEADERS"]).serialize())
    raw = read_all(sock, timeout=3)
    sock.close()
    # the answer is a 431 (":status 431" is HPACK static entry... encoded literally by nghttp2)
    dec = hpack.Decoder()
    at, status = 0, None
    while at + 9 <= len(raw):
        length, ftype, sid = int.from_bytes(raw[at:at + 3], "big"), raw[at + 3], int.from_bytes(raw[at + 5:at + 9], "big")
        if ftype == 1 and sid == 1:
            status = dict(dec.decode(raw[at + 9:at + 9 + length])).get(":status")
        at += 9 + length
    assert status == "431", (status, raw[:100])
    assert request(s.port, "GET", "/")[0] == 200


def test_settings_and_ping_floods_are_cut():
    b = Backend("b1")
    s = plain_sluice([b])
    for frame in [hf.SettingsFrame(0, settings={hf.SettingsFrame.ENABLE_PUSH: 0}),
                  hf.PingFrame(0, opaque_data=b"12345678")]:
        def attack(frame=frame):
            sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
            one = frame.serialize()
            try:
                sock.sendall(PREFACE + hf.SettingsFrame(0).serialize() + one * 5000)
            except OSError:
                pass
            raw = read_all(sock)
            sock.close()
            return goaway_code(raw)
        assert while_attacked(s, attack) == 11


def test_empty_data_flood_is_cut():
    b = Backend("b1")
    s = plain_sluice([b])

    def attack():
        sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
        enc = hpack.Encoder()
        out = PREFACE + hf.SettingsFrame(0).serialize()
        for sid in range(1, 60, 2):
            block = enc.encode([(":method", "POST"), (":path", "/upload"), (":scheme", "http"), (":authority", "h")])
            out += hf.HeadersFrame(sid, data=block, flags=["END_HEADERS"]).serialize()
            out += hf.DataFrame(sid, data=b"").serialize() * 100
        try:
            sock.sendall(out)
        except OSError:
            pass
        raw = read_all(sock)
        sock.close()
        return goaway_code(raw)
    assert while_attacked(s, attack) == 11


def test_lower_stream_id_never_opened_is_a_connection_error():
    # RFC 9113 5.1.1 (h2spec http2/5.1.1/2): HEADERS on 5, then on 3, which was never opened
    b = Backend("b1")
    s = plain_sluice([b])
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    enc = hpack.Encoder()
    block = [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "h")]
    frames = PREFACE + hf.SettingsFrame(0).serialize()
    frames += hf.HeadersFrame(5, data=enc.encode(block), flags=["END_HEADERS", "END_STREAM"]).serialize()
    frames += hf.HeadersFrame(3, data=enc.encode(block), flags=["END_HEADERS", "END_STREAM"]).serialize()
    sock.sendall(frames)
    raw = read_all(sock)
    sock.close()
    assert goaway_code(raw) == 1, raw  # PROTOCOL_ERROR
    # trailers on a stream opened earlier are not that error: a gRPC-style call still completes
    sock, conn = h2_connect(s.port)
    conn.send_headers(1, [(":method", "POST"), (":path", "/echo"), (":scheme", "http"), (":authority", "h")])
    conn.send_headers(3, block, end_stream=True)
    conn.send_data(1, b"body")
    conn.send_headers(1, [("x-trailer", "t")], end_stream=True)
    sock.sendall(conn.data_to_send())
    events = pump(sock, conn, lambda evs: sum(isinstance(e, h2.events.StreamEnded) for e in evs) >= 2)
    sock.close()
    ended = sorted(e.stream_id for e in events if isinstance(e, h2.events.StreamEnded))
    assert ended == [1, 3], events
    assert not any(isinstance(e, h2.events.ConnectionTerminated) for e in events), events


def test_codec_http2_listener_refuses_anything_but_the_preface():
    b = Backend("b1")
    s = plain_sluice([b], extra="    codec: http2\n")
    rc, out, err = curl("--http2-prior-knowledge", f"http://127.0.0.1:{s.port}/")
    assert rc == 0 and out.endswith(b"200 2"), (out, err)
    # h2spec http2/3.5/2: an invalid preface is a connection error (GOAWAY PROTOCOL_ERROR)
    raw_reply = raw(s.port, b"INVALID CONNECTION PREFACE\r\n\r\n")
    assert goaway_code(raw_reply) == 1, raw_reply
    # an HTTP/1.1 request is no exception: it gets the same GOAWAY, not an HTTP/1.1 answer
    raw_reply = raw(s.port, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert goaway_code(raw_reply) == 1 and b"HTTP/1.1" not in raw_reply, raw_reply


def test_codec_http1_listener_takes_no_h2c():
    b = Backend("b1")
    s = plain_sluice([b], extra="    codec: http1\n")
    rc, out, err = curl(f"http://127.0.0.1:{s.port}/")
    assert rc == 0 and out.endswith(b"200 1.1"), (out, err)
    # the h2 preface is read as an HTTP/1.1 request line, and refused as one
    raw_reply = raw(s.port, PREFACE)
    assert raw_reply.startswith(b"HTTP/1.1 "), raw_reply
    assert goaway_code(raw_reply) is None


if __name__ == "__main__":
    run_tests(globals())
