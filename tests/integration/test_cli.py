"""The CLI contract: --version, check, explain, run with a bad config, and the graceful drain
on SIGTERM (in-flight requests finish, new connections are refused, exit 0)."""
import subprocess
import threading

from harness import *


def sluice(*args):
    return subprocess.run([SLUICE, *args], capture_output=True, text=True, timeout=30)


def write(name, text):
    path = tmp_path(name)
    with open(path, "w") as f:
        f.write(text)
    return path


GOOD = """
listeners:
  - name: web
    listen: 127.0.0.1:18080
    routes:
      - name: api
        match: { host: api.example.com, path_prefix: /v1/ }
        cluster: api
      - name: users
        match: { headers: { x-user: { present: true } } }
        cluster: users
      - name: rest
        cluster: api
clusters:
  - name: api
    endpoints: [127.0.0.1:9001, 127.0.0.1:9002]
  - name: users
    balance: maglev
    hash_on: { header: x-user }
    endpoints: [127.0.0.1:9001, 127.0.0.1:9002, 127.0.0.1:9003]
"""


def test_version():
    out = sluice("--version")
    assert out.returncode == 0 and re.fullmatch(r"sluice \d+\.\d+\.\d+\n", out.stdout), out


def test_check_ok_and_errors():
    out = sluice("check", "-c", write("good.yaml", GOOD))
    assert out.returncode == 0 and out.stdout == "ok\n", out
    bad = GOOD.replace("127.0.0.1:9003", "127.0.0.1:99999").replace("cluster: users", "cluster: nobody")
    bad = bad.replace("balance: maglev", "balance: maglev\n    retry: 3")
    path = write("bad.yaml", bad)
    out = sluice("check", "-c", path)
    assert out.returncode == 2, out
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 3, lines
    for line in lines:
        assert re.match(re.escape(path) + r":\d+:\d+: ", line), line
    assert "unknown cluster 'nobody'" in lines[0]
    assert "unknown key 'retry'" in lines[1]
    assert "bad address '127.0.0.1:99999'" in lines[2]


def test_every_example_config_checks_ok():
    examples = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples")
    files = sorted(f for f in os.listdir(examples) if f.endswith(".yaml"))
    assert len(files) >= 3, files
    for name in files:
        out = sluice("check", "-c", os.path.join(examples, name))
        assert out.returncode == 0 and out.stdout == "ok\n", (name, out.stderr)


def test_run_with_bad_config_exits_2():
    out = sluice("run", "-c", write("bad2.yaml", "listeners: 3\n"))
    assert out.returncode == 2 and ":1:" in out.stderr, out


def test_explain():
    path = write("good.yaml", GOOD)
    out = sluice("explain", "-c", path, "http://api.example.com:18080/v1/orders")
    assert out.returncode == 0, out
    assert "route api: MATCH -> cluster api" in out.stdout, out.stdout
    out = sluice("explain", "-c", path, "http://other:18080/x/../v1/a", "-H", "x-user: alice")
    assert "route api: no match (host differs)" in out.stdout, out.stdout
    assert "route users: MATCH -> cluster users" in out.stdout
    assert "path normalised from /x/../v1/a" in out.stdout
    first = re.search(r"endpoint: (\S+)", out.stdout).group(1)
    again = sluice("explain", "-c", path, "http://other:18080/", "-H", "x-user: alice")
    assert re.search(r"endpoint: (\S+)", again.stdout).group(1) == first  # consistent hash


def test_sigterm_drains_in_flight_requests_then_exits_0():
    b = Backend("slow")
    s = Sluice(proxy_yaml(cluster_yaml("c", [b])))
    result = {}

    def slow():
        result["r"] = request(s.port, "GET", "/?delay=1500")

    t = threading.Thread(target=slow)
    t.start()
    wait_for(lambda: s.metric("sluice_endpoint_active_requests") == 1, what="request in flight")
    s.proc.send_signal(signal.SIGTERM)
    wait_for(lambda: not port_open(s.port), what="listener to close")
    t.join(timeout=10)
    assert result["r"][0] == 200 and result["r"][2] == b"slow\n", result
    assert s.proc.wait(timeout=10) == 0
    assert "draining" in s.logs()


if __name__ == "__main__":
    run_tests(globals())
