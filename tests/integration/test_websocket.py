"""WebSocket through sluice with python3-websockets on both sides: echo over HTTP/1.1 and over
TLS, text and binary, large messages; a backend that refuses the upgrade gives a normal HTTP
answer and no tunnel; an idle tunnel is closed; `Upgrade: h2c` never reaches a backend.
WebSocket over HTTP/2 (RFC 8441 extended CONNECT) is driven with python3-h2 and hand-made
WebSocket frames, against the same HTTP/1.1 backend."""
import asyncio
import os
import ssl
import struct
import subprocess

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
import websockets

from harness import *
from test_http2 import h2_connect, pump


def ws_backend():
    port = free_port()
    p = start(["/usr/bin/python3", os.path.join(os.path.dirname(os.path.abspath(__file__)), "ws_backend.py"),
               str(port)])
    wait_port(port, proc=p)
    return f"127.0.0.1:{port}"


def config(backend, protocol="http", tls="", timeouts=""):
    return f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
listeners:
  - name: web
    protocol: {protocol}
    listen: 127.0.0.1:{{port}}
{tls}{timeouts}    routes: [{{ cluster: ws }}]
clusters:
  - {{ name: ws, endpoints: [{backend}] }}
"""


async def echo_round_trips(uri, **kw):
    messages = ["hello", "x" * 70000, b"\x00\x01binary\xff" * 1000, "last"]
    async with websockets.connect(uri, max_size=4 << 20, **kw) as ws:
        for m in messages:
            await ws.send(m)
            got = await asyncio.wait_for(ws.recv(), 10)
            assert got == m, (type(got), len(got))
    return len(messages)


def test_echo_over_http1():
    s = Sluice(config(ws_backend()))
    assert asyncio.run(echo_round_trips(f"ws://127.0.0.1:{s.port}/chat")) == 4
    # counted when the tunnel has ended, which is just after the client closed it
    wait_for(lambda: s.metric('sluice_http_requests_total{listener="web",route="web/0",cluster="ws",'
                              'class="1xx"}') == 1, what="the upgraded request counted as 101")


def https_sluice():
    """sluice with an https listener for ws.test (a certificate made here) in front of a fresh
    WebSocket backend, and a client context that trusts that certificate."""
    key, crt = tmp_path("ws.key"), tmp_path("ws.crt")
    if not os.path.exists(crt):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                        "-nodes", "-days", "1", "-subj", "/CN=ws.test", "-addext", "subjectAltName=DNS:ws.test",
                        "-keyout", key, "-out", crt], check=True, capture_output=True)
    tls = f"    tls: {{ certificates: [{{ cert: {crt}, key: {key} }}] }}\n"
    return Sluice(config(ws_backend(), protocol="https", tls=tls)), ssl.create_default_context(cafile=crt)


def test_echo_over_tls():
    s, ctx = https_sluice()
    assert asyncio.run(echo_round_trips(f"wss://ws.test:{s.port}/chat", ssl=ctx, host="127.0.0.1",
                                        server_hostname="ws.test")) == 4


def test_refused_upgrade_is_a_normal_answer():
    s = Sluice(config(ws_backend()))

    async def attempt():
        try:
            async with websockets.connect(f"ws://127.0.0.1:{s.port}/refuse"):
                return "switched"
        except websockets.exceptions.InvalidStatusCode as e:
            return e.status_code
    assert asyncio.run(attempt()) == 403
    # and the same connection goes on as HTTP: a pipelined second request after the refusal
    req = (b"GET /refuse HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
           b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    answers = statuses(raw(s.port, req + b"GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"))
    assert answers[0] == 403 and len(answers) == 2, answers
    assert s.metric('sluice_http_requests_total{listener="web",route="web/0",cluster="ws",class="1xx"}') == 0


def test_idle_tunnel_is_closed():
    s = Sluice(config(ws_backend(), timeouts="    timeouts: { tunnel_idle: 1s }\n"))

    async def idle():
        async with websockets.connect(f"ws://127.0.0.1:{s.port}/chat", ping_interval=None) as ws:
            await ws.send("before")
            assert await ws.recv() == "before"
            try:
                await asyncio.wait_for(ws.recv(), 15)  # nothing comes; sluice closes the tunnel
            except websockets.exceptions.ConnectionClosed:
                return "closed"
            return "message"
    assert asyncio.run(idle()) == "closed"
    assert s.metric('sluice_timeouts_total{listener="web",kind="tunnel_idle"}') == 1


def test_h2c_upgrade_never_reaches_the_backend():
    b = Backend("b")
    s = Sluice(proxy_yaml(cluster_yaml("c", [b])))
    out = raw(s.port, b"GET /echo HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\n"
                      b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\nConnection: close\r\n\r\n")
    assert statuses(out) == [200], out
    body = out.split(b"\r\n\r\n", 1)[1].lower()
    assert b"upgrade" not in body and b"http2-settings" not in body, body
    # even when HTTP2-Settings is not listed in Connection
    out = raw(s.port, b"GET /echo HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n"
                      b"Connection: close\r\n\r\n")
    body = out.split(b"\r\n\r\n", 1)[1].lower()
    assert b"upgrade" not in body and b"http2-settings" not in body, body


def ws_frame(opcode, payload):
    """A client frame (RFC 6455 5.2): FIN, masked, the length in its shortest form."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def first_ws_frame(buf):
    """The whole server (unmasked) frame at the start of buf: ((opcode, payload), rest), or
    (None, buf) while it is incomplete."""
    if len(buf) < 2:
        return None, buf
    n, at = buf[1] & 0x7F, 2
    if n == 126:
        n, at = (struct.unpack("!H", buf[2:4])[0], 4) if len(buf) >= 4 else (None, 0)
    elif n == 127:
        n, at = (struct.unpack("!Q", buf[2:10])[0], 10) if len(buf) >= 10 else (None, 0)
    if n is None or len(buf) < at + n:
        return None, buf
    assert not buf[1] & 0x80, "a server frame is never masked"
    return (buf[0] & 0x0F, bytes(buf[at:at + n])), buf[at + n:]


class H2WebSocket:
    """One extended CONNECT stream on a fresh connection: h2c, or h2 over TLS (ALPN) with `tls`, an
    ssl.SSLContext for the name ws.test."""

    def __init__(self, port, path, tls=None):
        if tls is None:
            self.sock, self.conn = h2_connect(port)
        else:
            raw_sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            self.sock = tls.wrap_socket(raw_sock, server_hostname="ws.test")
            assert self.sock.selected_alpn_protocol() == "h2"
            self.conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True,
                                                                                   header_encoding="utf-8"))
            self.conn.initiate_connection()
            self.sock.sendall(self.conn.data_to_send())
        scheme = "http" if tls is None else "https"
        events = pump(self.sock, self.conn, lambda ev: any(isinstance(e, h2.events.RemoteSettingsChanged)
                                                          for e in ev))
        changed = [e for e in events if isinstance(e, h2.events.RemoteSettingsChanged)]
        code = h2.settings.SettingCodes.ENABLE_CONNECT_PROTOCOL
        assert changed and changed[0].changed_settings[code].new_value == 1, changed
        self.conn.send_headers(1, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", scheme),
                                   (":path", path), (":authority", f"127.0.0.1:{port}"),
                                   ("sec-websocket-version", "13")])
        self.sock.sendall(self.conn.data_to_send())
        self.buf, self.ended, self.others = b"", False, {}
        self.pump(lambda: self.response is not None)
        self.headers = dict(self.response.headers) if self.response else {}

    response = None

    def pump(self, done, limit=2000):
        """Reads until done() or the stream's end; bounded in reads (each within the timeout)."""
        for _ in range(limit):
            if done() or self.ended:
                return
            try:
                data = self.sock.recv(65536)
            except (socket.timeout, ConnectionResetError):
                return
            if not data:
                return
            for e in self.conn.receive_data(data):
                if isinstance(e, h2.events.ResponseReceived) and e.stream_id == 1:
                    self.response = e
                elif isinstance(e, h2.events.DataReceived) and e.stream_id == 1:
                    self.buf += e.data
                    self.conn.acknowledge_received_data(e.flow_controlled_length, 1)
                elif isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) and e.stream_id == 1:
                    self.ended = True
                elif isinstance(e, h2.events.ResponseReceived):
                    self.others[e.stream_id] = dict(e.headers)[":status"]
            out = self.conn.data_to_send()
            if out:
                self.sock.sendall(out)

    def get(self, stream_id, path):
        """A plain GET on another stream of the same connection; returns its :status."""
        self.conn.send_headers(stream_id, [(":method", "GET"), (":scheme", "http"), (":path", path),
                                           (":authority", "h")], end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        was_ended, self.ended = self.ended, False  # pump() stops at the tunnel's end
        self.pump(lambda: stream_id in self.others)
        self.ended = was_ended or self.ended
        return self.others.get(stream_id)

    def send(self, data):
        """DATA within the peer's windows, waiting for WINDOW_UPDATE when they are spent."""
        while data:
            room = min(self.conn.local_flow_control_window(1), self.conn.max_outbound_frame_size)
            if room == 0:
                self.pump(lambda: self.conn.local_flow_control_window(1) > 0)
                assert self.conn.local_flow_control_window(1) > 0, "no window update"
                continue
            self.conn.send_data(1, data[:room])
            data = data[room:]
            self.sock.sendall(self.conn.data_to_send())

    def receive(self):
        """The next whole WebSocket frame from the server."""
        self.pump(lambda: first_ws_frame(self.buf)[0] is not None)
        frame, self.buf = first_ws_frame(self.buf)
        assert frame is not None, ("no whole frame", self.ended, len(self.buf))
        return frame


def test_echo_over_http2_extended_connect():
    s = Sluice(config(ws_backend()))  # a plain http listener: HTTP/2 with prior knowledge
    ws = H2WebSocket(s.port, "/chat")
    assert ws.headers.get(":status") == "200", (ws.headers, ws.ended, s.logs()[-2000:])
    assert "sec-websocket-accept" not in ws.headers  # RFC 8441 5: no key and no accept in h2
    messages = [(1, b"hello"), (1, b"x" * 70000), (2, b"\x00\x01binary\xff" * 1000), (1, b"last")]
    for opcode, payload in messages:
        ws.send(ws_frame(opcode, payload))
        assert ws.receive() == (opcode, payload), (opcode, len(payload))
    # the closing handshake: the backend answers the close and ends the TCP connection, which
    # ends the stream
    ws.send(ws_frame(8, struct.pack("!H", 1000)))
    assert ws.receive()[0] == 8
    ws.pump(lambda: ws.ended)
    assert ws.ended
    ws.sock.close()
    try:
        wait_for(lambda: s.metric('sluice_http_requests_total{listener="web",route="web/0",cluster="ws",'
                                  'class="2xx"}') == 1, what="the CONNECT counted as its 200")
    except AssertionError:
        raise AssertionError({k: v for k, v in s.metrics().items() if k.startswith("sluice_http_requests_total")})


def test_echo_over_http2_over_tls():
    s, ctx = https_sluice()
    ctx.set_alpn_protocols(["h2"])
    ws = H2WebSocket(s.port, "/chat", tls=ctx)
    assert ws.headers.get(":status") == "200", ws.headers
    for opcode, payload in [(1, b"over tls"), (2, os.urandom(100000))]:
        ws.send(ws_frame(opcode, payload))
        assert ws.receive() == (opcode, payload), (opcode, len(payload))
    ws.sock.close()


def test_http2_tunnel_shares_its_connection_and_idles_out():
    s = Sluice(config(ws_backend(), timeouts="    timeouts: { tunnel_idle: 1s }\n"))
    ws = H2WebSocket(s.port, "/chat")
    assert ws.headers.get(":status") == "200", ws.headers
    ws.send(ws_frame(1, b"ping"))
    assert ws.receive() == (1, b"ping")
    # another stream of the same connection is served while the tunnel is open
    assert ws.get(3, "/refuse") == "403" and not ws.ended, (ws.others, ws.ended)
    # then nothing moves in the tunnel: sluice ends its stream, not the connection
    ws.pump(lambda: ws.ended)
    assert ws.ended
    assert s.metric('sluice_timeouts_total{listener="web",kind="tunnel_idle"}') == 1
    assert ws.get(5, "/refuse") == "403", ws.others
    ws.sock.close()


def test_http2_client_reset_ends_the_tunnel_not_the_connection():
    s = Sluice(config(ws_backend()))
    ws = H2WebSocket(s.port, "/chat")
    ws.send(ws_frame(1, b"before"))
    assert ws.receive() == (1, b"before")
    ws.conn.reset_stream(1, error_code=h2.errors.ErrorCodes.CANCEL)  # the client gives up
    ws.sock.sendall(ws.conn.data_to_send())
    # the tunnel's session ends (and closes its backend connection), counted as its 200 ...
    wait_for(lambda: s.metric('sluice_http_requests_total{listener="web",route="web/0",cluster="ws",'
                              'class="2xx"}') == 1, what="the reset tunnel to end")
    # ... and the connection goes on serving
    assert ws.get(3, "/refuse") == "403", ws.others
    ws.sock.close()
    assert s.proc.poll() is None


def test_refused_and_unsupported_connect_over_http2():
    s = Sluice(config(ws_backend()))
    ws = H2WebSocket(s.port, "/refuse")  # the backend answers 403 instead of switching
    ws.pump(lambda: ws.ended)
    assert ws.headers.get(":status") == "403" and ws.ended, ws.headers
    assert ws.buf == b"no websocket here\n", ws.buf
    ws.sock.close()
    # CONNECT for another protocol, and plain CONNECT: 501, and the connection serves on
    sock = socket.create_connection(("127.0.0.1", s.port), timeout=10)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(  # plain CONNECT has no :path
        client_side=True, header_encoding="utf-8", validate_outbound_headers=False))
    conn.initiate_connection()
    conn.send_headers(1, [(":method", "CONNECT"), (":protocol", "webtransport"), (":scheme", "http"),
                          (":path", "/"), (":authority", "h")], end_stream=True)
    conn.send_headers(3, [(":method", "CONNECT"), (":authority", "example.com:443")], end_stream=True)
    sock.sendall(conn.data_to_send())
    events = pump(sock, conn, lambda ev: sum(isinstance(e, h2.events.StreamEnded) for e in ev) >= 2)
    got = {e.stream_id: dict(e.headers)[":status"] for e in events if isinstance(e, h2.events.ResponseReceived)}
    assert got == {1: "501", 3: "501"}, got
    sock.close()


if __name__ == "__main__":
    run_tests(globals())
