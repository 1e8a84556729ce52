"""HTTP/2 benchmark: multiplexed requests over TLS (ALPN h2) and in cleartext (h2c, sluice and
nginx; HAProxy 2.6 speaks h2c too) with h2load, for sluice, HAProxy and nginx in front of the
same HTTP/1.1 nginx backend.

Method: proxy on CPU 0 with one worker/thread; backend and h2load on CPU 1. h2load -c 10 -m 10
(10 connections x 10 concurrent streams) for DURATION seconds (default 3), median of RUNS
(default 7) rounds, after one unmeasured second of each load on every proxy. In a round each load
runs on every proxy back to back, and each round starts with another proxy. Besides requests per
second it reports requests per CPU-second of the proxy (user + system time from /proc, all
threads): what a request costs the proxy, which moves much less with the machine's noise than
throughput does. Appends to bench/RESULTS.md unless --no-record."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import free_port  # noqa: E402
from tls import make_cert  # noqa: E402  (same certificate recipe)
import tls  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "build/release/src/sluice")
RUNS = int(os.environ.get("RUNS", "7"))
DURATION = int(os.environ.get("DURATION", "3"))
PROXY_CPU, LOAD_CPU = "0", "1"
tmp = tls.tmp
procs = tls.procs


def start(args, port, cpu):
    return common.start(procs, args, port, cpu)


def proxies(backend, key, crt, pem):
    """name -> (tls port, cleartext port, process)"""
    ports = {}
    p, c = free_port(), free_port()
    proc = start([SLUICE, "run", "-c", common.write(tmp, "sluice-h2.yaml", f"""
workers: 1
access_log: false
listeners:
  - name: tls
    protocol: https
    listen: 127.0.0.1:{p}
    tls: {{ certificates: [{{ cert: {crt}, key: {key} }}] }}
    routes: [{{ cluster: b }}]
  - {{ name: plain, listen: 127.0.0.1:{c}, routes: [{{ cluster: b }}] }}
clusters:
  - {{ name: b, endpoints: [127.0.0.1:{backend}] }}
""")], p, PROXY_CPU)
    ports["sluice"] = (p, c, proc)
    p, c = free_port(), free_port()
    proc = start(["haproxy", "-f", common.write(tmp, "haproxy-h2.cfg", f"""
global
  nbthread 1
  maxconn 5000
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend f
  bind 127.0.0.1:{p} ssl crt {pem} alpn h2,http/1.1
  bind 127.0.0.1:{c} proto h2
  default_backend b
backend b
  server s1 127.0.0.1:{backend}
""")], p, PROXY_CPU)
    ports["haproxy"] = (p, c, proc)
    p, c = free_port(), free_port()
    prefix = os.path.join(tmp, "nginx-h2")
    os.makedirs(prefix, exist_ok=True)
    proc = start(["nginx", "-p", prefix, "-c", common.write(tmp, "nginx-h2.conf", f"""
daemon off; master_process off; worker_processes 1;
pid {prefix}/pid; error_log {prefix}/err error;
events {{ worker_connections 10000; }}
http {{ access_log off; client_body_temp_path {prefix}/b; proxy_temp_path {prefix}/p;
  fastcgi_temp_path {prefix}/f; uwsgi_temp_path {prefix}/u; scgi_temp_path {prefix}/s;
  upstream b {{ server 127.0.0.1:{backend}; keepalive 64; }}
  keepalive_requests 1000000;  # nginx closes an h2 connection after 1000 streams by default
  server {{ listen 127.0.0.1:{p} ssl http2; listen 127.0.0.1:{c} http2;
    ssl_certificate {crt}; ssl_certificate_key {key}; ssl_protocols TLSv1.2 TLSv1.3;
    location / {{ proxy_pass http://b; proxy_http_version 1.1; proxy_set_header Connection ""; }} }} }}
""")], p, PROXY_CPU)
    ports["nginx"] = (p, c, proc)
    return ports


def h2load(url, proc, duration=DURATION):
    """(requests per second, requests per CPU-second of `proc`)"""
    cpu = common.cpu_seconds(proc.pid)
    out = subprocess.run(["taskset", "-c", LOAD_CPU, "h2load", "-c", "10", "-m", "10", "-D", str(duration), url],
                         capture_output=True, text=True, timeout=duration + 60).stdout
    m = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    failed = re.search(r"(\d+) failed", out)
    if not m or (failed and int(failed.group(1)) > 0):
        raise SystemExit(f"h2load failed on {url}: {out[-600:]}")
    cpu = common.cpu_seconds(proc.pid) - cpu
    done = int(re.search(r"(\d+) succeeded", out).group(1))
    return float(m.group(1)), done / max(cpu, 0.01)


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
  uwsgi_temp_path {prefix}/u; scgi_temp_path {prefix}/s; keepalive_requests 100000;
  server {{ listen 127.0.0.1:{backend}; location / {{ return 200 "hello, world\\n"; }} }} }}
""")], backend, LOAD_CPU)
    ports = proxies(backend, key, crt, pem)
    metrics = ["h2 over TLS req/s", "h2c req/s", "h2 over TLS req/CPU-s", "h2c req/CPU-s"]
    results = {}
    names = list(ports)
    for name in names:  # warm-up, not measured: handshakes, pools and lazy initialisation
        p, c, proc = ports[name]
        h2load(f"https://127.0.0.1:{p}/", proc, duration=1)
        h2load(f"http://127.0.0.1:{c}/", proc, duration=1)
    for run in range(RUNS):
        # Each load runs on every proxy back to back, so the ratios of a round compare measurements
        # seconds apart; each round starts with another proxy, so that order favours none.
        order = names[run % len(names):] + names[:run % len(names)]
        for tls, rate, per_cpu in [(True, metrics[0], metrics[2]), (False, metrics[1], metrics[3])]:
            for name in order:
                p, c, proc = ports[name]
                r, e = h2load(f"https://127.0.0.1:{p}/" if tls else f"http://127.0.0.1:{c}/", proc)
                results.setdefault((name, rate), []).append(r)
                results.setdefault((name, per_cpu), []).append(e)
    common.stop_all(procs)
    method = (f"h2load -c 10 -m 10 -D {DURATION}, median of {RUNS} after 1 s of each unmeasured; proxy on CPU {PROXY_CPU} (1 worker), "
              f"HTTP/1.1 nginx backend and h2load on CPU {LOAD_CPU}; ECDSA P-256, TLS 1.3.")
    common.report(ROOT, "h2", method, list(ports), metrics, results, record)


if __name__ == "__main__":
    common.run(main, procs)
