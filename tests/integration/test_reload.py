"""Reload (SIGHUP and POST /reload) swaps the config without dropping a request under load;
a bad config is rejected by `check` and by reload, and the old config keeps serving."""
import re
import subprocess

from harness import *


def config(backends, routes_extra=""):
    return f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
access_log: false
listeners:
  - name: web
    listen: 127.0.0.1:{{port}}
    routes:
{routes_extra}      - {{ cluster: c }}
clusters:
{cluster_yaml("c", backends)}"""


def test_reload_under_load_drops_nothing():
    b = [Backend(f"b{i}") for i in range(3)]
    s = Sluice(config(b[:2]))
    # wrk runs until told to stop (SIGINT makes it print its summary), so a slow machine cannot
    # end the load before the reloads are done.
    wrk = subprocess.Popen(["wrk", "-t1", "-c16", "-d60s", f"http://127.0.0.1:{s.port}/"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: s.metric("sluice_http_requests_total") > 500, what="load to start")
    for i in range(6):
        s.write_config(config(b[1:] if i % 2 == 0 else b[:2]))
        if i % 3 == 0:
            s.proc.send_signal(signal.SIGHUP)
            wait_for(lambda n=i: s.metric("sluice_config_reloads_total{result=\"ok\"}") >= n + 1, what="SIGHUP reload")
        else:
            status, _, body = s.admin("POST", "/reload")
            assert status == 200, body
        generation = s.metric("sluice_config_generation")
        # requests keep flowing between reloads
        before = s.metric("sluice_http_requests_total")
        wait_for(lambda: s.metric("sluice_http_requests_total") > before + 200, what="traffic after reload")
    wrk.send_signal(signal.SIGINT)
    out, _ = wrk.communicate(timeout=30)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    assert total > 1000, out
    assert "Non-2xx" not in out and "Socket errors" not in out, out
    assert generation == 7 and s.metric('sluice_config_reloads_total{result="ok"}') == 6
    # the last config (i=5: b0, b1) is what serves now
    assert b[2].stats()["requests"] > 0  # got traffic while it was in the config


def test_bad_config_is_rejected_by_check_and_by_reload():
    b = [Backend("old"), Backend("new")]
    s = Sluice(config(b[:1]))
    bad = config(b[1:]).replace("routes:", "rotues:")
    s.write_config(bad)
    check = subprocess.run([SLUICE, "check", "-c", s.config_path], capture_output=True, text=True)
    assert check.returncode == 2
    assert re.search("^" + re.escape(s.config_path) + r":\d+:\d+: unknown key 'rotues'", check.stderr, re.M), check.stderr
    status, _, body = s.admin("POST", "/reload")
    assert status == 400 and re.search(rb":\d+:\d+: unknown key 'rotues'", body), body
    s.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: s.metric('sluice_config_reloads_total{result="error"}') == 2, what="SIGHUP reload failure")
    # the old config still serves, with its old backend
    status, hdrs, _ = request(s.port, "GET", "/")
    assert status == 200 and hdrs["x-backend"] == "old"
    assert s.metric("sluice_config_generation") == 1
    assert "reload failed, the running config stays" in s.logs()


def test_reload_adds_and_removes_listeners_and_routes():
    b = [Backend("a"), Backend("b")]
    s = Sluice(config(b[:1]), extra_ports=1)
    two = config(b[:1]) + f"""  - name: second
    endpoints: [{b[1].address}]
""" 
    two = two.replace("""listeners:
""", """listeners:
  - name: extra
    listen: 127.0.0.1:{port0}
    routes: [{ cluster: second }]
""")
    s.write_config(two)
    assert s.admin("POST", "/reload")[0] == 200
    status, hdrs, _ = request(s.extra[0], "GET", "/")
    assert status == 200 and hdrs["x-backend"] == "b"
    s.write_config(config(b[:1]))
    assert s.admin("POST", "/reload")[0] == 200
    wait_for(lambda: not port_open(s.extra[0]), what="removed listener to close")
    assert request(s.port, "GET", "/")[0] == 200


def test_reload_that_cannot_bind_keeps_the_old_config():
    b = [Backend("a")]
    s = Sluice(config(b))
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    s.write_config(config(b).replace("listeners:\n", f"listeners:\n  - name: clash\n    listen: 127.0.0.1:{port}\n    routes: [{{ cluster: c }}]\n"))
    status, _, body = s.admin("POST", "/reload")
    taken.close()
    assert status == 400 and b"Address already in use" in body, body
    assert request(s.port, "GET", "/")[0] == 200


if __name__ == "__main__":
    run_tests(globals())
