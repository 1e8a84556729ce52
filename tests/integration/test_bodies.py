"""Bodies stream both ways unchanged and in bounded memory: 100 MB up and down (Content-Length
and chunked, checked by SHA-256), trailers, Expect: 100-continue, HTTP/1.0 clients, pipelining."""
import hashlib
import subprocess
import threading

from harness import *

MB = 1024 * 1024


def proxy(backends, extra_listener=""):
    return Sluice(proxy_yaml(cluster_yaml("c", backends), top="access_log: false\n", listener=extra_listener))


def pattern(n):
    block = bytes((ord("a") + i % 26) for i in range(64 * 1024))
    full, rest = divmod(n, len(block))
    return block * full + block[:rest]


class RssSampler:
    """Peak RSS of a process, sampled while a transfer runs."""

    def __init__(self, s):
        self.s, self.peak, self.done = s, 0, threading.Event()
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        while not self.done.wait(0.02):
            self.peak = max(self.peak, self.s.rss_kib())

    def stop(self):
        self.done.set()
        self.t.join()
        return self.peak


def test_100mb_upload_content_length_and_chunked():
    b = Backend("b")
    s = proxy([b])
    data = os.urandom(100 * MB)
    path = tmp_path("upload.bin")
    with open(path, "wb") as f:
        f.write(data)
    want = hashlib.sha256(data).hexdigest()
    base = s.rss_kib()
    sampler = RssSampler(s)
    for extra in [[], ["-H", "Transfer-Encoding: chunked"]]:
        out = subprocess.run(["curl", "-sS", "--fail", "-T", path, *extra, f"http://127.0.0.1:{s.port}/upload"],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == f"bytes={100 * MB} sha256={want}", (extra, out.stdout)
    peak = sampler.stop()
    # Bounded buffers: 200 MB went through, sluice grew by a few MB at most.
    assert peak - base < 32 * 1024, (base, peak)


def test_100mb_download_content_length_and_chunked():
    b = Backend("b")
    s = proxy([b])
    want = hashlib.sha256(pattern(100 * MB)).hexdigest()
    base = s.rss_kib()
    sampler = RssSampler(s)
    for query in ["", "&chunked=1"]:
        out = subprocess.run(f"curl -sS --fail 'http://127.0.0.1:{s.port}/bytes?n={100 * MB}{query}' | sha256sum",
                             shell=True, capture_output=True, text=True, timeout=120)
        assert out.stdout.split()[0] == want, (query, out.stdout, out.stderr)
    peak = sampler.stop()
    assert peak - base < 32 * 1024, (base, peak)


def test_chunked_request_trailers_are_forwarded():
    b = Backend("b")
    s = proxy([b])
    req = (b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
           b"5;ext=drop\r\nhello\r\n6\r\n world\r\n0\r\nX-Checksum: abc\r\n\r\n")
    out = raw(s.port, req)
    assert statuses(out) == [200], out
    assert hashlib.sha256(b"hello world").hexdigest().encode() in out, out
    assert b"trailers=X-Checksum: abc" in out, out


def test_expect_100_continue():
    b = Backend("b")
    s = proxy([b])
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.sendall(b"POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        interim = c.recv(100)
        assert interim == b"HTTP/1.1 100 Continue\r\n\r\n", interim
        c.sendall(b"hello")
        final = c.recv(4096)
        assert final.startswith(b"HTTP/1.1 200"), final
        assert hashlib.sha256(b"hello").hexdigest().encode() in final


def test_http10_client():
    b = Backend("b")
    s = proxy([b])
    out = raw(s.port, b"GET / HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 200"), out
    assert b"Connection: close" in out and out.endswith(b"b\n")
    # keep-alive for 1.0 when asked, and chunked upstream answers become close-delimited
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        first = c.recv(4096)
        assert b"Connection: keep-alive" in first, first
        c.sendall(b"GET /bytes?n=10&chunked=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        rest = b""
        while True:
            d = c.recv(4096)
            if not d:
                break
            rest += d
        assert b"Transfer-Encoding" not in rest and rest.endswith(b"\r\n\r\nabcdefghij"), rest


def test_pipelined_requests_answered_in_order():
    b = Backend("b")
    s = proxy([b])
    reqs = b"".join(b"GET /echo/%d HTTP/1.1\r\nHost: h\r\n\r\n" % i for i in range(5))
    reqs += b"GET /echo/last HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    out = raw(s.port, reqs)
    assert statuses(out) == [200] * 6, out
    order = re.findall(rb"GET /echo/(\w+) HTTP", out)
    assert order == [b"0", b"1", b"2", b"3", b"4", b"last"], order


def test_hop_by_hop_headers_removed_and_forwarded_headers_added():
    b = Backend("b")
    s = proxy([b], extra_listener="    forwarded: true\n")
    status, _, body = request(s.port, "GET", "/echo", headers={
        "Connection": "keep-alive, X-Private", "X-Private": "secret", "Keep-Alive": "timeout=5",
        "TE": "trailers", "Upgrade": "h2c", "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https",
        "Host": "shop.example"})
    text = body.decode()
    assert status == 200
    for gone in ["X-Private", "Keep-Alive", "TE:", "Upgrade", "Connection"]:
        assert gone not in text, (gone, text)
    assert "X-Forwarded-For: 203.0.113.9, 127.0.0.1" in text, text
    assert "X-Forwarded-Proto: http\n" in text, text  # the client's claim is replaced
    assert "X-Forwarded-Host: shop.example" in text
    assert 'Forwarded: for=127.0.0.1;proto=http;host="shop.example"' in text, text


if __name__ == "__main__":
    run_tests(globals())
