"""One message across HTTP versions: request and response trailers between HTTP/1.1 and HTTP/2 on
either side, and request bodies that change framing on the way (chunked HTTP/1.1 to an h2
backend, HTTP/2 DATA to an HTTP/1.1 backend), checked byte for byte by SHA-256. The h2 backend is
h2_backend.py (python3-h2), which reports what it received; the HTTP/1.1 one the demo backend."""
import hashlib
import subprocess

import h2.config
import h2.connection
import h2.events

from harness import *


def h2_backend():
    port = free_port()
    p = start(["/usr/bin/python3", os.path.join(os.path.dirname(os.path.abspath(__file__)), "h2_backend.py"),
               str(port)])
    wait_port(port, proc=p)
    return f"127.0.0.1:{port}"


def sluice_to(address, protocol=""):
    extra = f"    protocol: {protocol}\n" if protocol else ""
    return Sluice(f"""
access_log: false
admin: {{ listen: 127.0.0.1:{{admin}} }}
listeners:
  - name: web
    listen: 127.0.0.1:{{port}}
    limits: {{ max_body_size: 0 }}
    routes: [{{ cluster: c }}]
clusters:
  - name: c
{extra}    endpoints: [{{ address: {address} }}]
""")


def h2_request(port, headers, body=b"", trailers=None, timeout=60):
    """One request over h2c with python3-h2; returns (status, response headers, body, trailers)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True,
                                                                       header_encoding="utf-8"))
    conn.initiate_connection()
    conn.send_headers(1, headers, end_stream=not body and not trailers)
    if body:
        conn.send_data(1, body, end_stream=not trailers)
    if trailers:
        conn.send_headers(1, trailers, end_stream=True)
    sock.sendall(conn.data_to_send())
    status, resp_headers, data, resp_trailers = None, {}, b"", {}
    for _ in range(10000):  # bounded
        chunk = sock.recv(65536)
        if not chunk:
            break
        ended = False
        for e in conn.receive_data(chunk):
            if isinstance(e, h2.events.ResponseReceived):
                resp_headers = dict(e.headers)
                status = int(resp_headers[":status"])
            elif isinstance(e, h2.events.DataReceived):
                data += e.data
                conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
            elif isinstance(e, h2.events.TrailersReceived):
                resp_trailers = dict(e.headers)
            elif isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)):
                ended = True
        out = conn.data_to_send()
        if out:
            sock.sendall(out)
        if ended:
            break
    sock.close()
    return status, resp_headers, data, resp_trailers


def report(body):
    """The h2 backend's `key: value` lines as a dict."""
    return dict(line.split(": ", 1) for line in body.decode().splitlines() if ": " in line)


def http1_chunks(port, head, chunks, trailer_lines=b""):
    """Sends an HTTP/1.1 request with a chunked body; returns the raw response."""
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n" + trailer_lines + b"\r\n"
    return raw(port, head + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + body, timeout=30)


def chunked_trailer_section(response):
    """The trailer field lines of a chunked HTTP/1.1 response (empty if none), and the body."""
    head, _, rest = response.partition(b"\r\n\r\n")
    assert b"transfer-encoding: chunked" in head.lower(), head
    body = b""
    for _ in range(100000):  # bounded
        line, _, rest = rest.partition(b"\r\n")
        size = int(line, 16)
        if size == 0:
            return rest[:rest.index(b"\r\n\r\n") + 2] if not rest.startswith(b"\r\n") else b"", body
        body += rest[:size]
        rest = rest[size + 2:]
    raise AssertionError("no last chunk")


def test_request_trailers_reach_an_h2_backend():
    s = sluice_to(h2_backend(), "h2c")
    # from an HTTP/2 client: DATA, then a HEADERS frame of trailers
    status, _, body, _ = h2_request(s.port, [(":method", "POST"), (":path", "/up"), (":scheme", "http"),
                                             (":authority", "h")],
                                    body=b"hello", trailers=[("x-sum", "abc"), ("x-count", "5")])
    r = report(body)
    assert status == 200 and r["body-length"] == "5", body
    assert r.get("trailer-x-sum") == "abc" and r.get("trailer-x-count") == "5", body
    # to an HTTP/1.1 backend, the same HTTP/2 request arrives chunked with a trailer section
    b = Backend("b1")
    s1 = sluice_to(b.address)
    status, _, body, _ = h2_request(s1.port, [(":method", "POST"), (":path", "/upload"), (":scheme", "http"),
                                              (":authority", "h")],
                                    body=b"hello", trailers=[("x-sum", "abc")])
    assert status == 200 and b"bytes=5 " in body and b"x-sum: abc" in body, body
    # from an HTTP/1.1 client: the trailer section of a chunked body
    response = http1_chunks(s.port, b"POST /up HTTP/1.1\r\nHost: h\r\n", [b"hel", b"lo"],
                            b"X-Sum: abc\r\n")
    assert response.startswith(b"HTTP/1.1 200"), response
    r = report(response.partition(b"\r\n\r\n")[2])
    assert r["body-length"] == "5" and r.get("trailer-x-sum") == "abc", response


def test_h2_response_trailers_reach_http1_clients_that_ask_for_them():
    s = sluice_to(h2_backend(), "h2c")
    asked = raw(s.port, b"GET /trailers HTTP/1.1\r\nHost: h\r\nTE: trailers\r\nConnection: close\r\n\r\n")
    assert asked.startswith(b"HTTP/1.1 200"), asked
    trailers, body = chunked_trailer_section(asked)
    assert b"x-done: yes\r\n" in trailers, asked
    assert f"x-checksum: {hashlib.sha256(body).hexdigest()}\r\n".encode() in trailers, asked
    # without TE: trailers, the body comes whole and the trailer section is empty
    plain = raw(s.port, b"GET /trailers HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
    trailers2, body2 = chunked_trailer_section(plain)
    assert trailers2 == b"" and body2 == body, plain
    # an HTTP/2 client always gets them (trailers are part of every h2 message)
    status, _, body3, resp_trailers = h2_request(s.port, [(":method", "GET"), (":path", "/trailers"),
                                                          (":scheme", "http"), (":authority", "h")])
    assert status == 200 and body3 == body and resp_trailers.get("x-done") == "yes", resp_trailers


def test_bodies_change_framing_byte_for_byte():
    data = os.urandom(50 << 20)
    digest = hashlib.sha256(data).hexdigest()
    path = tmp_path("50m.bin")
    with open(path, "wb") as f:
        f.write(data)
    # a chunked HTTP/1.1 request body to an h2 backend: DATA frames, nothing of the chunking
    s = sluice_to(h2_backend(), "h2c")
    out = subprocess.run(["curl", "-sS", "--http1.1", "-H", "Transfer-Encoding: chunked", "--data-binary",
                          f"@{path}", f"http://127.0.0.1:{s.port}/up"], capture_output=True, timeout=240)
    r = report(out.stdout)
    assert out.returncode == 0 and r.get("body-length") == str(len(data)), (out.stdout[:300], out.stderr)
    assert r["body-sha256"] == digest
    # an HTTP/2 request body (no content-length) to an HTTP/1.1 backend
    b = Backend("b1")
    s2 = sluice_to(b.address)
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-H", "content-length:", "--data-binary",
                          f"@{path}", f"http://127.0.0.1:{s2.port}/upload"], capture_output=True, timeout=240)
    assert out.returncode == 0, out.stderr
    assert f"bytes={len(data)} sha256={digest}".encode() in out.stdout, out.stdout[:300]


if __name__ == "__main__":
    run_tests(globals())
