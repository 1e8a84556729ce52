"""Routing by each matcher, path normalisation that cannot be bypassed, and 404 for no route."""
from harness import *


def setup():
    names = ["hosts", "prefix", "exact", "regex", "method", "header", "query", "cookie", "source", "public",
             "segments", "fallback"]
    backends = {n: Backend(n) for n in names}
    clusters = "".join(cluster_yaml(n, [b]) for n, b in backends.items())
    s = Sluice(f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
access_log: {{ format: json }}
listeners:
  - name: web
    listen: 127.0.0.1:{{port}}
    routes:
      - {{ match: {{ host: "*.example.com" }}, cluster: hosts }}
      - {{ match: {{ path_exact: /exact }}, cluster: exact }}
      - {{ match: {{ path_regex: "/items/[0-9]+" }}, cluster: regex }}
      - {{ match: {{ method: [DELETE] }}, cluster: method }}
      - {{ match: {{ headers: {{ x-tenant: acme }} }}, cluster: header }}
      - {{ match: {{ query: {{ beta: "1" }} }}, cluster: query }}
      - {{ match: {{ cookie: {{ canary: "yes" }} }}, cluster: cookie }}
      - {{ match: {{ path_prefix: /src/, source: 127.0.0.2/32 }}, cluster: source }}
      - {{ match: {{ path_prefix: /public/ }}, cluster: public }}
      - {{ match: {{ path_prefix: /prefix/ }}, cluster: prefix }}
      - {{ match: {{ path_segment_prefix: /api }}, cluster: segments }}
      - {{ match: {{ path_prefix: /fallback }}, cluster: fallback }}
clusters:
{clusters}""")
    return s


def who(s, path, method="GET", headers=None):
    status, hdrs, body = request(s.port, method, path, headers=headers)
    return status, hdrs.get("x-backend", body.decode().strip())


def test_each_matcher_routes_to_its_cluster():
    s = setup()
    assert who(s, "/", headers={"Host": "shop.example.com"}) == (200, "hosts")
    assert who(s, "/exact") == (200, "exact")
    assert who(s, "/exact/more")[0] == 404
    assert who(s, "/items/12") == (200, "regex")
    assert who(s, "/x", method="DELETE") == (200, "method")
    assert who(s, "/x", headers={"X-Tenant": "acme"}) == (200, "header")
    assert who(s, "/x?beta=1") == (200, "query")
    assert who(s, "/x", headers={"Cookie": "a=b; canary=yes"}) == (200, "cookie")
    assert who(s, "/prefix/a") == (200, "prefix")
    assert who(s, "/fallback") == (200, "fallback")
    # by whole segments: /api and below, never /apiary
    assert who(s, "/api") == (200, "segments")
    assert who(s, "/api/v1/users") == (200, "segments")
    assert who(s, "/apiary")[0] == 404


def test_source_cidr():
    s = setup()
    # 127.0.0.2 is loopback too: connect from it explicitly.
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", s.port, source_address=("127.0.0.2", 0), timeout=5)
    conn.request("GET", "/src/x")
    r = conn.getresponse()
    assert r.status == 200 and r.getheader("x-backend") == "source", (r.status, r.getheader("x-backend"))
    conn.close()
    assert who(s, "/src/x")[0] == 404  # from 127.0.0.1


def test_no_route_is_404_and_counted():
    s = setup()
    status, _ = who(s, "/nothing/here")
    assert status == 404
    assert s.metric('sluice_http_local_responses_total{listener="web",status="404"}') == 1


def test_dot_segments_and_encodings_cannot_bypass_routing():
    s = setup()
    # Each of these must route as /prefix/secret (not /public/...) and be forwarded normalised.
    for path in ["/public/../prefix/secret", "/public/%2e%2e/prefix/secret", "/public/%2E%2e/prefix/secret",
                 "//prefix/secret", "/public/./../prefix/./secret", "/public/.%2e/prefix/secret"]:
        status, hdrs, body = request(s.port, "GET", path)
        assert status == 200 and hdrs["x-backend"] == "prefix", (path, status, hdrs.get("x-backend"))
    # Climbing above the root stays at the root.
    status, hdrs, _ = request(s.port, "GET", "/../../../public/x")
    assert status == 200 and hdrs["x-backend"] == "public"


def test_forwarded_path_is_normalised():
    b = Backend("echo")
    s = Sluice(f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
listeners:
  - listen: 127.0.0.1:{{port}}
    routes:
      - {{ match: {{ path_prefix: /echo }}, cluster: c }}
clusters:
{cluster_yaml("c", [b])}""")
    status, _, body = request(s.port, "GET", "/x/%2e%2e/echo//%7euser/./a?q=%2e%2e")
    assert status == 200, status
    first = body.decode().splitlines()[0]
    assert first == "GET /echo/~user/a?q=%2e%2e HTTP/1.1", first


if __name__ == "__main__":
    run_tests(globals())
