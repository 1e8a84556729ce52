"""Admin API: /clusters, /config, /ready, the dashboard, method checks; and the access log in
text and JSON."""
import json

from harness import *


def proxy(backends, log_format="text"):
    return Sluice(f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
access_log: {{ format: {log_format} }}
listeners:
  - name: web
    listen: 127.0.0.1:{{port}}
    routes:
      - {{ name: main, cluster: c }}
clusters:
{cluster_yaml("c", backends, "least_conn")}""")


def test_clusters_config_ready_dashboard():
    b = [Backend("b0"), Backend("b1")]
    s = proxy(b)
    status, hdrs, body = s.admin("GET", "/clusters")
    assert status == 200 and hdrs["content-type"] == "application/json"
    j = json.loads(body)
    assert j["generation"] == 1
    c = j["clusters"][0]
    assert c["name"] == "c" and c["balance"] == "least_conn"
    assert [e["address"] for e in c["endpoints"]] == [x.address for x in b]
    assert all(e["weight"] == 1 and e["state"] == "healthy" and e["active_requests"] == 0 for e in c["endpoints"])
    status, _, body = s.admin("GET", "/config")
    assert status == 200 and b"least_conn" in body and b"(generation 1)" in body
    assert s.admin("GET", "/ready")[0] == 200
    status, hdrs, body = s.admin("GET", "/")
    assert status == 200 and hdrs["content-type"].startswith("text/html") and b"/clusters" in body
    assert s.admin("GET", "/reload")[0] == 405
    assert s.admin("POST", "/metrics")[0] == 405
    assert s.admin("GET", "/nope")[0] == 404


def test_active_requests_visible_while_in_flight():
    import threading
    b = [Backend("slow")]
    s = proxy(b)
    t = threading.Thread(target=lambda: request(s.port, "GET", "/?delay=800"))
    t.start()
    wait_for(lambda: json.loads(s.admin("GET", "/clusters")[2])["clusters"][0]["endpoints"][0]["active_requests"] == 1,
             what="active request in /clusters")
    t.join()
    assert json.loads(s.admin("GET", "/clusters")[2])["clusters"][0]["endpoints"][0]["active_requests"] == 0


def test_access_log_text():
    b = [Backend("b0")]
    s = proxy(b)
    request(s.port, "GET", "/a/../hello?x=1")
    request(s.port, "GET", "/fail")
    wait_for(lambda: s.logs().count('"GET /') >= 2, what="access log lines")
    # two workers flush on their own, so lines are found by content, not position
    lines = [l for l in s.logs().splitlines() if '"GET /' in l]
    hello = [l for l in lines if "/hello" in l]
    fail = [l for l in lines if "/fail" in l]
    assert len(hello) == 1 and len(fail) == 1, lines
    assert re.fullmatch(r"\S+Z 127\.0\.0\.1:\d+ \"GET /hello\?x=1\" 200 3 " + re.escape(b[0].address) + r" main [\d.]+ms", hello[0]), hello[0]
    assert re.search(r"\"GET /fail\" 502 \d+ " + re.escape(b[0].address), fail[0]), fail[0]


def test_access_log_json():
    b = [Backend("b0")]
    s = proxy(b, "json")
    request(s.port, "POST", "/upload", body=b"12345")
    wait_for(lambda: '"method":"POST"' in s.logs(), what="json access log line")
    line = next(l for l in s.logs().splitlines() if '"method":"POST"' in l)
    entry = json.loads(line)
    assert entry["path"] == "/upload" and entry["status"] == 200 and entry["upstream"] == b[0].address
    assert entry["route"] == "main" and entry["client"].startswith("127.0.0.1:") and entry["duration_ms"] >= 0
    assert set(entry) == {"time", "client", "method", "path", "status", "bytes", "upstream", "route", "duration_ms"}


if __name__ == "__main__":
    run_tests(globals())
