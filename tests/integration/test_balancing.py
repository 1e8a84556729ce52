"""Balancing spreads over endpoints, weights and consistent hashing hold, and upstream
keep-alive connections are reused (counted at the backends)."""
import collections
import re
import subprocess

from harness import *


def proxy(backends, balance="round_robin", extra="", workers=2):
    return Sluice(proxy_yaml(cluster_yaml("c", backends, balance, extra),
                             top=f"workers: {workers}\naccess_log: false\n"))


def spread(s, n, headers=None):
    c = collections.Counter()
    for i in range(n):
        status, hdrs, _ = request(s.port, "GET", "/", headers=(headers(i) if headers else None))
        assert status == 200
        c[hdrs["x-backend"]] += 1
    return c


def test_round_robin_spreads_evenly():
    backends = [Backend(f"b{i}") for i in range(3)]
    s = proxy(backends, workers=1)
    c = spread(s, 300)
    assert sorted(c.values()) == [100, 100, 100], c  # one worker: exact rotation


def test_every_balancer_uses_every_endpoint():
    backends = [Backend(f"b{i}") for i in range(3)]
    for balance in ["round_robin", "least_conn", "p2c", "random"]:
        s = proxy(backends, balance)
        c = spread(s, 150)
        assert len(c) == 3 and min(c.values()) >= 20, (balance, c)
        s.stop()


def test_weights():
    backends = [Backend("heavy"), Backend("light")]
    s = Sluice(proxy_yaml(f"""  - name: c
    endpoints:
      - {{ address: {backends[0].address}, weight: 3 }}
      - {{ address: {backends[1].address}, weight: 1 }}
""", top="workers: 1\naccess_log: false\n"))
    c = spread(s, 200)
    assert c["heavy"] == 150 and c["light"] == 50, c


def test_consistent_hash_on_header_sticks():
    backends = [Backend(f"b{i}") for i in range(3)]
    for balance in ["maglev", "ring_hash"]:
        s = proxy(backends, balance, extra="    hash_on: { header: x-user }\n")
        owners = {}
        for user in range(30):
            seen = spread(s, 5, headers=lambda i, u=user: {"x-user": f"user-{u}"})
            assert len(seen) == 1, (balance, user, seen)  # every request of a user: one backend
            owners[user] = next(iter(seen))
        assert len(set(owners.values())) == 3, (balance, owners)  # users spread over all
        s.stop()


def test_source_ip_balance_sticks():
    backends = [Backend(f"b{i}") for i in range(3)]
    s = proxy(backends, "source_ip")
    c = spread(s, 30)
    assert len(c) == 1, c


def test_upstream_keepalive_connections_are_reused():
    backends = [Backend(f"b{i}") for i in range(3)]
    s = proxy(backends)
    requests_sent = 300
    for _ in range(requests_sent):  # each on a new client connection
        assert request(s.port, "GET", "/")[0] == 200
    # minus, per backend, the readiness probe and this /stats call
    upstream_connections = sum(b.stats()["connections"] for b in backends) - 6
    upstream_requests = sum(b.stats()["requests"] for b in backends) - 6
    assert upstream_requests == requests_sent, upstream_requests
    # 2 workers x 3 endpoints; sequential requests need about one connection per pair
    assert upstream_connections <= 12, upstream_connections
    assert s.metric("sluice_upstream_reused_total") >= requests_sent - 12
    opened = s.metric("sluice_upstream_connections_total")
    assert opened == upstream_connections, (opened, upstream_connections)


def test_wrk_load_spreads_with_no_errors():
    backends = [Backend(f"b{i}") for i in range(3)]
    s = proxy(backends)
    out = subprocess.run(["wrk", "-t1", "-c16", "-d2s", f"http://127.0.0.1:{s.port}/"],
                         capture_output=True, text=True, timeout=30).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    assert total > 100, out
    assert "Non-2xx" not in out and "Socket errors" not in out, out
    per_backend = [b.stats()["requests"] for b in backends]
    assert min(per_backend) > total / 6, (per_backend, total)
    # wrk stops counting at its deadline; requests still in flight then finish at sluice too
    counted = s.metric('sluice_http_requests_total{listener="web",route="web/0",cluster="c",class="2xx"}')
    assert total <= counted <= total + 16, (counted, total)


if __name__ == "__main__":
    run_tests(globals())
