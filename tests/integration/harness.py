"""Integration test harness: starts the real sluice binary, demo backends and nginx on loopback,
talks to them with real clients, and stops every process it started, by PID.

Readiness is always a check (a port listening or accepting, an admin endpoint answering), never a
sleep.
Every wait is bounded in count and time."""
import atexit
import fcntl
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

SLUICE = os.environ.get("SLUICE_BIN", "")
BACKEND = os.environ.get("DEMO_BACKEND_BIN", "")
_procs = []
_tmp = tempfile.mkdtemp(prefix="sluice-it-")


def _cleanup():
    for p in _procs:
        stop(p)
    shutil.rmtree(_tmp, ignore_errors=True)


atexit.register(_cleanup)


def tmp_path(name):
    return os.path.join(_tmp, name)


_next_port = [0]
_port_locks = []  # open lock files, one per port handed out; the kernel drops the locks at exit
_PORT_LOCK_DIR = "/tmp/sluice-it-ports"


def free_port():
    """A port for a server this test starts. Taken below the kernel's ephemeral range (so no
    client connection can hold it), starting in a block chosen by this process's PID, and claimed
    with a lock file so that test files run in parallel by ctest never hand out the same one:
    two of them could otherwise both find a port free before either binds it, and since sluice
    binds with SO_REUSEPORT, two instances on one port would silently share its connections.
    An flock, unlike a marker file, goes away with its process however that process ends."""
    os.makedirs(_PORT_LOCK_DIR, exist_ok=True)
    base = 10000 + (os.getpid() % 50) * 400
    for _ in range(2000):  # bounded: 20000 ports below the ephemeral range
        port = 10000 + (base - 10000 + _next_port[0]) % 20000
        _next_port[0] += 1
        fd = os.open(os.path.join(_PORT_LOCK_DIR, str(port)), os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # another test process has it
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                os.close(fd)
                continue
        _port_locks.append(fd)
        return port
    raise AssertionError("no free port")


def wait_port(port, host="127.0.0.1", timeout=10.0, proc=None):
    wait_for(lambda: port_open(port, host), timeout, f"port {port} to open", proc)


def listening(port):
    """True when some socket listens on TCP `port` (from /proc, without connecting: a probe
    connection would count against the per-client limits and accept counters under test)."""
    hex_port = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[1].endswith(hex_port) and fields[3] == "0A":  # 0A: LISTEN
                    return True
    return False


def wait_listening(port, proc, timeout=10.0):
    wait_for(lambda: listening(port), timeout, f"port {port} to open", proc)


def port_open(port, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def start(args, stdout=None, stderr=None):
    p = subprocess.Popen(args, stdout=stdout or subprocess.DEVNULL, stderr=stderr or subprocess.DEVNULL)
    _procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=10.0):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


class Backend:
    def __init__(self, name, port=None, status=None):
        self.name = name
        self.port = port or free_port()
        self.status = status
        self.start()

    def start(self):
        args = [BACKEND, "--name", self.name, "--listen", f"127.0.0.1:{self.port}"]
        if self.status:
            args += ["--status", str(self.status)]
        self.proc = start(args)
        wait_port(self.port, proc=self.proc)

    def kill(self):
        """SIGKILL: the process dies with its connections, as in a crash."""
        stop(self.proc, signal.SIGKILL)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def stats(self):
        status, _, body = request(self.port, "GET", "/stats")
        assert status == 200
        return json.loads(body)


class Sluice:
    """sluice with a config built from `yaml_text`, where {admin} and {port} are filled in."""

    def __init__(self, yaml_text, extra_ports=0):
        self.port = free_port()
        self.admin_port = free_port()
        self.extra = [free_port() for _ in range(extra_ports)]
        self.config_path = tmp_path(f"sluice-{self.port}.yaml")
        self.log_path = tmp_path(f"sluice-{self.port}.log")
        self.write_config(yaml_text)
        self.log = open(self.log_path, "wb")
        self.proc = start([SLUICE, "run", "-c", self.config_path], stdout=self.log, stderr=self.log)
        wait_listening(self.port, self.proc)
        wait_port(self.admin_port, proc=self.proc)

    def write_config(self, yaml_text):
        text = yaml_text.replace("{port}", str(self.port)).replace("{admin}", str(self.admin_port))
        # SLUICE_TEST_WORKERS runs a suite again with that many workers (1: one thread in all).
        workers = os.environ.get("SLUICE_TEST_WORKERS")
        if workers and not re.search(r"^workers:", text, re.M):
            text = f"workers: {workers}\n" + text
        for i, p in enumerate(self.extra):
            text = text.replace("{port%d}" % i, str(p))
        with open(self.config_path, "w") as f:
            f.write(text)

    def admin(self, method, path):
        return request(self.admin_port, method, path)

    def metrics(self):
        status, _, body = self.admin("GET", "/metrics")
        assert status == 200
        values = {}
        for line in body.decode().splitlines():
            if line.startswith("#") or not line:
                continue
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
        return values

    def metric(self, prefix):
        """Sum of every series whose name+labels start with `prefix`."""
        return sum(v for k, v in self.metrics().items() if k.startswith(prefix))

    def logs(self):
        self.log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self, sig=signal.SIGTERM):
        return stop(self.proc, sig)


def request(port, method, path, headers=None, body=None, timeout=10):
    """One request on a fresh connection; returns (status, headers dict lower-case, body bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
    finally:
        conn.close()


def raw(port, data, timeout=5.0, shutdown=True):
    """Sends raw bytes, returns everything the server sends until it closes (or timeout)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
            if shutdown:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server closed first (e.g. refused at accept): read what it sent, if anything
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                c = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not c:
                break
            chunks.append(c)
        return b"".join(chunks)


def statuses(raw_bytes):
    return [int(m) for m in re.findall(rb"HTTP/1\.[01] (\d{3})", raw_bytes)]


def wait_for(predicate, timeout=10.0, what="condition", proc=None):
    """Waits (bounded) until predicate() is true; fails at once if `proc` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process exited with {proc.returncode} while waiting for {what}")
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def run_tests(module_globals):
    """Runs every test_* function of the calling module; exit 1 if any failed."""
    global SLUICE, BACKEND
    SLUICE = SLUICE or os.environ["SLUICE_BIN"]
    BACKEND = BACKEND or os.environ["DEMO_BACKEND_BIN"]
    tests = [(n, f) for n, f in module_globals.items() if n.startswith("test_") and callable(f)]
    only = sys.argv[1:]
    if only:
        tests = [(n, f) for n, f in tests if n in only]
    failed = []
    for name, fn in tests:
        t0 = time.monotonic()
        try:
            fn()
            print(f"PASS {name} ({time.monotonic() - t0:.2f}s)", flush=True)
        except Exception:
            failed.append(name)
            print(f"FAIL {name}", flush=True)
            traceback.print_exc()
        finally:
            for p in list(_procs):
                stop(p)
            _procs.clear()
    print(f"{len(tests) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


def proxy_yaml(cluster, top="", listener=""):
    """A config with an admin API, one listener named web with one catch-all route to `cluster`
    (YAML of clusters, e.g. from cluster_yaml), `top` extra top-level keys and `listener` extra
    listener keys (each line indented by 4)."""
    return f"""
admin: {{ listen: 127.0.0.1:{{admin}} }}
{top}listeners:
  - name: web
    listen: 127.0.0.1:{{port}}
{listener}    routes: [{{ cluster: c }}]
clusters:
{cluster}"""


def cluster_yaml(name, backends, balance="round_robin", extra=""):
    eps = "\n".join(f"      - {{ address: {b.address} }}" for b in backends)
    return f"""  - name: {name}
    balance: {balance}
{extra}    endpoints:
{eps}
"""


class Nginx:
    """nginx (Debian's) as a real backend or proxy peer: one process, no daemon, files in a
    temporary prefix. `server_block` is the body of its server { } block; `listen_options` are
    added to its listen line ("ssl", "http2")."""

    def __init__(self, server_block, root=None, listen_options=""):
        self.port = free_port()
        self.prefix = tempfile.mkdtemp(prefix="nginx-", dir=_tmp)
        self.root = root or self.prefix
        conf = f"""
daemon off;
master_process off;
worker_processes 1;
pid {self.prefix}/nginx.pid;
error_log {self.prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {self.prefix}/body;
  proxy_temp_path {self.prefix}/proxy;
  fastcgi_temp_path {self.prefix}/fastcgi;
  uwsgi_temp_path {self.prefix}/uwsgi;
  scgi_temp_path {self.prefix}/scgi;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{self.port} {listen_options};
    root {self.root};
{server_block}
  }}
}}
"""
        self.conf = os.path.join(self.prefix, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = start(["nginx", "-p", self.prefix, "-c", self.conf])
        wait_port(self.port, proc=self.proc)

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"
