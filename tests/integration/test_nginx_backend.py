"""sluice in front of a real nginx: static files pass through unchanged (GET and HEAD), nginx's
own statuses pass through, and upstream keep-alive holds with nginx's connection handling."""
import hashlib
import subprocess

from harness import *


def setup():
    root = tempfile.mkdtemp(prefix="www-", dir=_tmp_dir())
    data = os.urandom(10 * 1024 * 1024)
    with open(os.path.join(root, "big.bin"), "wb") as f:
        f.write(data)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<h1>nginx</h1>\n")
    n = Nginx("""    location = /small { return 200 "hello from nginx\\n"; }
    location = /teapot { return 418; }
""", root=root)
    s = Sluice(proxy_yaml(cluster_yaml("c", [n]), top="access_log: false\n"))
    return s, n, data


def _tmp_dir():
    import harness
    return harness._tmp


def test_static_files_through_sluice():
    s, n, data = setup()
    out = subprocess.run(["curl", "-sS", "--fail", f"http://127.0.0.1:{s.port}/big.bin"], capture_output=True, timeout=60)
    assert out.returncode == 0 and hashlib.sha256(out.stdout).hexdigest() == hashlib.sha256(data).hexdigest()
    status, hdrs, body = request(s.port, "GET", "/")
    assert status == 200 and body == b"<h1>nginx</h1>\n" and hdrs["server"].startswith("nginx")


def test_head_and_statuses_pass_through():
    s, n, data = setup()
    status, hdrs, body = request(s.port, "HEAD", "/big.bin")
    assert status == 200 and hdrs["content-length"] == str(len(data)) and body == b"", (status, hdrs)
    assert request(s.port, "GET", "/missing")[0] == 404
    assert request(s.port, "GET", "/teapot")[0] == 418
    status, hdrs, _ = request(s.port, "GET", "/", headers={"If-Modified-Since": hdrs["last-modified"]})
    assert status in (200, 304)


def test_keepalive_to_nginx():
    s, n, _ = setup()
    for _ in range(200):
        status, _, body = request(s.port, "GET", "/small")
        assert status == 200 and body == b"hello from nginx\n"
    opened = s.metric("sluice_upstream_connections_total")
    assert 1 <= opened <= 8, opened  # a handful per worker, not one per request
    assert s.metric("sluice_upstream_reused_total") >= 190


def close_wait_to(port):
    """Connections to `port` that the peer closed and we did not yet (state CLOSE-WAIT)."""
    out = subprocess.run(["ss", "-Htn", "state", "close-wait", "dport", f"= :{port}"],
                         capture_output=True, text=True).stdout
    return len(out.strip().splitlines())


def test_pooled_connection_closed_by_backend_is_not_an_error():
    n = Nginx("""    keepalive_timeout 300ms;
    location = /small { return 200 "hello from nginx\\n"; }
    location = /post { client_body_buffer_size 1k; return 200 "posted\\n"; }
""")
    s = Sluice(proxy_yaml(cluster_yaml("c", [n]), top="workers: 1\naccess_log: false\n"))
    for method, path, body in [("GET", "/small", None), ("POST", "/post", b"payload")]:
        assert request(s.port, "GET", "/small")[0] == 200  # leaves one pooled connection
        wait_for(lambda: close_wait_to(n.port) == 1, what="nginx to close the idle pooled connection")
        status, _, data = request(s.port, method, path, body=body)
        assert status == 200, (method, status, data)  # GET: resent on a fresh one; POST: probed first
    assert s.metric("sluice_upstream_bad_gateway_total") == 0


if __name__ == "__main__":
    run_tests(globals())
