"""WebSocket through sluice with python3-websockets on both sides: echo over HTTP/1.1 and over
TLS, text and binary, large messages; a backend that refuses the upgrade gives a normal HTTP
answer and no tunnel; an idle tunnel is closed; `Upgrade: h2c` never reaches a backend."""
import asyncio
import ssl
import subprocess

import websockets

from harness import *


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


def test_echo_over_tls():
    key, crt = tmp_path("ws.key"), tmp_path("ws.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "1", "-subj", "/CN=ws.test", "-addext", "subjectAltName=DNS:ws.test",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    tls = f"    tls: {{ certificates: [{{ cert: {crt}, key: {key} }}] }}\n"
    s = Sluice(config(ws_backend(), protocol="https", tls=tls))
    ctx = ssl.create_default_context(cafile=crt)
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


if __name__ == "__main__":
    run_tests(globals())
