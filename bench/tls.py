"""TLS termination benchmark.

Method: the proxy on CPU 0 with one worker/thread, the nginx backend and the load on CPU 1. Every
proxy gets the same ECDSA P-256 certificate, TLS 1.2+ with its defaults (the clients negotiate TLS
1.3, TLS_AES_256_GCM_SHA384 and X25519 with each: OpenSSL's order, which all three keep), tickets
on, each with its default count after a full handshake (sluice 1, HAProxy and nginx OpenSSL's 2).
Every proxy first serves one unmeasured second of each load (the first connections of a process pay
for lazy initialisation and a cold upstream pool, which made whichever proxy ran first look up to
25% slower). Measured, median of RUNS (default 7) rounds of 3 s per load; in a round each load runs
on every proxy back to back:
- full handshakes/s: `openssl s_time -new` (one full handshake and one GET per connection);
- resumed handshakes/s: `openssl s_time -reuse` (session resumption, one GET per connection);
- keep-alive requests/s over TLS: wrk -c50 (handshakes once, then the record layer);
- full handshakes per CPU-second of the proxy (user + system time from /proc during the
  s_time -new run).
Handshake rates divide by the wall time measured around s_time, not by its own whole-second
count (see s_time()). s_time is one client process on one core, and a client's half of a
handshake costs more than the server's, so handshake rates measure the client and the latency of
each proxy more than the proxy's capacity; handshakes per CPU-second say what each one costs the
proxy. Appends to bench/RESULTS.md unless --no-record."""
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import free_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "build/release/src/sluice")
RUNS = int(os.environ.get("RUNS", "7"))
DURATION = int(os.environ.get("DURATION", "3"))
PROXY_CPU, LOAD_CPU = "0", "1"
tmp = tempfile.mkdtemp(prefix="sluice-bench-tls-")
procs = []


def start(args, port, cpu):
    return common.start(procs, args, port, cpu)


def make_cert():
    key, crt, pem = (os.path.join(tmp, n) for n in ("site.key", "site.crt", "site.pem"))
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-days", "2", "-subj", "/CN=bench.test", "-addext", "subjectAltName=DNS:bench.test",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    with open(pem, "w") as f:
        f.write(open(crt).read() + open(key).read())
    return key, crt, pem


def proxies(backend, key, crt, pem):
    ports = {}
    p = free_port()
    proc = start([SLUICE, "run", "-c", common.write(tmp, "sluice.yaml", f"""
workers: 1
access_log: false
listeners:
  - name: web
    protocol: https
    listen: 127.0.0.1:{p}
    tls: {{ certificates: [{{ cert: {crt}, key: {key} }}] }}
    routes: [{{ cluster: b }}]
clusters:
  - {{ name: b, endpoints: [127.0.0.1:{backend}] }}
""")], p, PROXY_CPU)
    ports["sluice"] = (p, proc)
    p = free_port()
    proc = start(["haproxy", "-f", common.write(tmp, "haproxy.cfg", f"""
global
  nbthread 1
  maxconn 5000
  ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend f
  bind 127.0.0.1:{p} ssl crt {pem}
  default_backend b
backend b
  server s1 127.0.0.1:{backend}
""")], p, PROXY_CPU)
    ports["haproxy"] = (p, proc)
    p = free_port()
    prefix = os.path.join(tmp, "nginx-proxy")
    os.makedirs(prefix, exist_ok=True)
    proc = start(["nginx", "-p", prefix, "-c", common.write(tmp, "nginx.conf", f"""
daemon off; master_process off; worker_processes 1;
pid {prefix}/pid; error_log {prefix}/err error;
events {{ worker_connections 10000; }}
http {{ access_log off; client_body_temp_path {prefix}/b; proxy_temp_path {prefix}/p;
  fastcgi_temp_path {prefix}/f; uwsgi_temp_path {prefix}/u; scgi_temp_path {prefix}/s;
  upstream b {{ server 127.0.0.1:{backend}; keepalive 64; }}
  server {{ listen 127.0.0.1:{p} ssl; ssl_certificate {crt}; ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache shared:SSL:10m;
    location / {{ proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; }} }} }}
""")], p, PROXY_CPU)
    ports["nginx"] = (p, proc)
    return ports


def s_time(port, mode, proc=None, duration=DURATION):
    """Connections per second, and with `proc`, connections per CPU-second of that process."""
    cpu = common.cpu_seconds(proc.pid if proc else None)
    start = time.monotonic()
    out = subprocess.run(["taskset", "-c", LOAD_CPU, "openssl", "s_time", "-connect", f"127.0.0.1:{port}", mode,
                          "-time", str(duration), "-www", "/"], capture_output=True, text=True,
                         timeout=duration * 3 + 30).stdout
    elapsed = time.monotonic() - start
    # "N connections in T real seconds": T is whole seconds, always duration + 1, while s_time
    # stops at the first whole second of the clock after `duration` has passed, so it really ran
    # anywhere from duration to duration + 1 s (up to 25% off at 3 s, at random). The wall time
    # measured here is the divisor; s_time's own start and exit are a few ms of it.
    found = re.findall(r"(\d+) connections in (\d+) real seconds", out)
    if not found:
        raise SystemExit(f"s_time failed on {port}: {out[-400:]}")
    n = int(found[-1][0])
    cpu = common.cpu_seconds(proc.pid if proc else None) - cpu
    return n / elapsed, n / max(cpu, 0.01)


def keepalive(port, duration=DURATION):
    out = subprocess.run(["taskset", "-c", LOAD_CPU, "wrk", "-t1", "-c50", f"-d{duration}s",
                          f"https://127.0.0.1:{port}/"], capture_output=True, text=True,
                         timeout=duration + 30).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main():
    record = "--no-record" not in sys.argv
    key, crt, pem = make_cert()
    backend = free_port()
    prefix = os.path.join(tmp, "backend")
    os.makedirs(prefix, exist_ok=True)
    start(["nginx", "-p", prefix, "-c", common.write(tmp, "backend.conf", f"""
daemon off; master_process off; worker_processes 1;
pid {prefix}/pid; error_log {prefix}/err error;
events {{ worker_connections 8192; }}
http {{ access_log off; client_body_temp_path {prefix}/b; proxy_temp_path {prefix}/p; fastcgi_temp_path {prefix}/f;
  uwsgi_temp_path {prefix}/u; scgi_temp_path {prefix}/s;
  server {{ listen 127.0.0.1:{backend}; location / {{ return 200 "hello, world\\n"; }} }} }}
""")], backend, LOAD_CPU)
    ports = proxies(backend, key, crt, pem)
    metrics = ["full handshakes/s", "resumed handshakes/s", "keep-alive req/s",
               "full handshakes/CPU-s"]
    results = {}
    names = list(ports)
    for name in names:  # warm-up, not measured
        port, proc = ports[name]
        s_time(port, "-new", duration=1)
        s_time(port, "-reuse", duration=1)
        keepalive(port, duration=1)
    for run in range(RUNS):
        # Each load runs on every proxy back to back, so the ratios of a round compare measurements
        # seconds apart; each round starts with another proxy, so that order favours none.
        order = names[run % len(names):] + names[:run % len(names)]
        for name in order:
            port, proc = ports[name]
            rate, per_cpu = s_time(port, "-new", proc)
            results.setdefault((name, metrics[0]), []).append(rate)
            results.setdefault((name, metrics[3]), []).append(per_cpu)
        for name in order:
            results.setdefault((name, metrics[1]), []).append(s_time(ports[name][0], "-reuse")[0])
        for name in order:
            results.setdefault((name, metrics[2]), []).append(keepalive(ports[name][0]))
    common.stop_all(procs)
    method = (f"openssl s_time -new / -reuse -www / for {DURATION}s, wrk -c50 keep-alive over TLS, median of "
              f"{RUNS} after 1 s of each unmeasured; ECDSA P-256, TLS 1.3, tickets per full handshake: each proxy's default "
              f"(sluice 1, HAProxy and nginx 2); proxy on CPU {PROXY_CPU} (1 worker), nginx backend and clients "
              f"on CPU {LOAD_CPU}.")
    common.report(ROOT, "tls", method, list(ports), metrics, results, record)


if __name__ == "__main__":
    common.run(main, procs)
