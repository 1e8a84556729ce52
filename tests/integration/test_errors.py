"""Every error status sluice produces, with its counter: malformed requests (400, 413, 414, 431,
501, 505), request smuggling attempts, timeouts (408, 504), broken (502) and unreachable (503)
upstreams."""
import socket
import subprocess
import threading

from harness import *


def proxy(backends, cluster_extra="", listener_extra=""):
    return Sluice(proxy_yaml(cluster_yaml("c", backends, extra=cluster_extra), listener=listener_extra))


def only_status(s, data):
    out = raw(s.port, data)
    codes = statuses(out)
    assert len(codes) == 1, out  # exactly one answer, then the connection is closed
    return codes[0]


def test_malformed_requests_get_precise_statuses():
    b = Backend("b")
    s = proxy([b], listener_extra="    limits: { max_request_line: 1k, max_header_bytes: 4k, max_headers: 20, max_body_size: 1k }\n")
    cases = [
        (b"GET / HTTP/1.1\r\n\r\n", 400),                                                    # no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),                              # two Hosts
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 400),                          # obs-fold
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 400),                              # space before colon
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01\r\n\r\n", 400),                           # control char
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),  # bad chunk size
        (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 5000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\nHost: a\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(30)) + b"\r\n", 431),
        (b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 5000\r\n\r\n", 413),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", 417),
    ]
    for data, want in cases:
        assert only_status(s, data) == want, (data[:60], want)
    # chunked body beyond max_body_size: 413
    big = b"POST /upload HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + b"800\r\n" + b"x" * 2048 + b"\r\n0\r\n\r\n"
    assert only_status(s, big) == 413
    # every case but the body-level ones (bad chunk size, Content-Length over the limit)
    assert s.metric('sluice_http_parse_errors_total{listener="web"}') == 13
    assert s.metric('sluice_http_local_responses_total{listener="web",status="400"}') == 8


def test_smuggling_attempts_never_reach_the_backend():
    b = Backend("b")
    s = proxy([b])
    attempts = [
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nContent-Length: 44\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: h\nContent-Length: 5\r\n\r\nhello",
    ]
    for data in attempts:
        out = raw(s.port, data)
        assert statuses(out) == [400] or statuses(out) == [501], (data, out)
    assert b.stats()["requests"] == 1  # only this /stats request ever arrived


def test_502_when_the_upstream_breaks():
    b = Backend("b")
    s = proxy([b])
    status, _, body = request(s.port, "GET", "/fail")
    assert status == 502, status
    assert s.metric('sluice_upstream_bad_gateway_total{cluster="c"}') == 1


class Dead:
    def __init__(self):
        self.address = f"127.0.0.1:{free_port()}"  # nothing listens here


def test_503_when_no_endpoint_is_reachable():
    s = proxy([Dead(), Dead()])
    status, _, body = request(s.port, "GET", "/")
    assert status == 503 and body.startswith(b"503"), (status, body)
    assert s.metric('sluice_upstream_unavailable_total{cluster="c"}') == 1
    assert s.metric('sluice_upstream_connect_errors_total{cluster="c"}') == 2  # both tried


def test_connect_failure_falls_over_to_a_live_endpoint():
    b = Backend("alive")
    s = proxy([Dead(), b])
    for _ in range(10):
        status, hdrs, _ = request(s.port, "GET", "/")
        assert status == 200 and hdrs["x-backend"] == "alive"


def test_504_when_the_upstream_is_too_slow():
    b = Backend("b")
    s = proxy([b], cluster_extra="    timeouts: { response: 300ms }\n")
    status, _, _ = request(s.port, "GET", "/?delay=3000")
    assert status == 504, status
    assert s.metric('sluice_upstream_timeouts_total{cluster="c"}') == 1
    # the connection is usable again for the next request
    assert request(s.port, "GET", "/")[0] == 200


def test_408_when_the_client_is_too_slow():
    b = Backend("b")
    s = proxy([b], listener_extra="    timeouts: { request_header: 300ms, request_body_idle: 300ms }\n")
    out = raw(s.port, b"GET / HTTP/1.1\r\nHost: h\r\n", shutdown=False)  # head never completes
    assert statuses(out) == [408], out
    out = raw(s.port, b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc", shutdown=False)
    assert statuses(out) == [408], out
    assert s.metric('sluice_http_local_responses_total{listener="web",status="408"}') == 2


def test_whole_request_timeout():
    b = Backend("b")
    s = proxy([b], cluster_extra="    retries: { attempts: 2, on: [504] }\n",
              listener_extra="    timeouts: { request: 500ms }\n")
    status, _, _ = request(s.port, "GET", "/?delay=3000")
    assert status == 504, status
    assert s.metric('sluice_timeouts_total{listener="web",kind="request"}') == 1
    assert s.metric('sluice_upstream_retries_total{cluster="c"}') == 0  # no retry past the deadline
    # a response still streaming when the deadline passes is cut, not completed
    out = subprocess.run(["curl", "-sS", "--limit-rate", "1M", "-o", "/dev/null", "-w", "%{size_download}",
                          f"http://127.0.0.1:{s.port}/bytes?n={50 * 1024 * 1024}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 18 and int(out.stdout) < 50 * 1024 * 1024, (out.returncode, out.stdout)
    assert s.metric('sluice_timeouts_total{listener="web",kind="request"}') == 2
    assert request(s.port, "GET", "/")[0] == 200  # and the next request is served


def test_timeouts_are_counted_by_kind():
    b = Backend("b")
    s = proxy([b], listener_extra="    timeouts: { request_header: 300ms }\n",
              cluster_extra="    timeouts: { response: 300ms }\n")
    raw(s.port, b"GET / HTTP/1.1\r\nHost: h\r\n", shutdown=False)
    request(s.port, "GET", "/?delay=2000")
    assert s.metric('sluice_timeouts_total{listener="web",kind="request_header"}') == 1
    assert s.metric('sluice_timeouts_total{listener="web",kind="response"}') == 1


def test_error_bodies_are_short_and_typed():
    b = Backend("b")
    s = proxy([b])
    out = raw(s.port, b"GET / HTTP/1.1\r\n\r\n")
    head, body = out.split(b"\r\n\r\n", 1)
    assert b"Content-Type: text/plain" in head and b"Connection: close" in head
    assert body == b"400 Bad Request: missing Host header\n", body


class Recorder:
    """A backend that records every byte it receives, per connection, and answers nothing."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.received = []  # one bytearray per connection
        self.closed = []    # per connection: the peer closed it
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                i = len(self.received)
                self.received.append(bytearray())
                self.closed.append(False)
            threading.Thread(target=self._read, args=(conn, i), daemon=True).start()

    def _read(self, conn, i):
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    with self.lock:
                        self.closed[i] = True
                    return
                with self.lock:
                    self.received[i] += data

    def total(self):
        with self.lock:
            return sum(len(r) for r in self.received)


def test_bad_chunked_body_with_the_head_never_reaches_the_backend():
    rec = Recorder()
    s = proxy([rec])
    bad_bodies = [
        b"zz\r\n",                                 # not a chunk size
        b"5\r\nhelloXX\r\n",                       # a chunk longer than declared
        b"5\rhello\r\n",                           # a broken size line
        b"fffffffffffffffffff\r\n",                # a size that overflows
        b"3\r\nabc\r\n2\r\nok\r\n-1\r\n",            # good chunks, then a bad one
    ]
    for body in bad_bodies:
        out = raw(s.port, b"POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
        assert statuses(out) == [400], (body, out)
        assert b"Connection: close" in out, out
    assert rec.total() == 0, rec.received
    assert s.metric('sluice_http_request_body_errors_total{listener="web",stage="before_upstream"}') == len(bad_bodies)


def test_bad_chunk_after_bytes_went_upstream_closes_that_connection():
    rec = Recorder()
    s = proxy([rec])
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as c:
        c.sendall(b"POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        wait_for(lambda: b"hello" in b"".join(rec.received), what="the first chunk upstream")
        c.sendall(b"zz\r\n")
        c.settimeout(10)
        out = b""
        for _ in range(100):  # bounded: until sluice closes
            data = c.recv(65536)
            if not data:
                break
            out += data
    assert statuses(out) == [400], out
    wait_for(lambda: rec.closed == [True], what="the upstream connection closed")
    assert b"zz" not in b"".join(rec.received)
    assert s.metric('sluice_http_request_body_errors_total{listener="web",stage="after_upstream"}') == 1
    # that connection was never pooled: the next request opens a new one
    raw(s.port, b"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", timeout=0.5)
    wait_for(lambda: len(rec.received) == 2, what="a second upstream connection")


if __name__ == "__main__":
    run_tests(globals())
