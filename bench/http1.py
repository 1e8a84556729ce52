"""HTTP/1.1 proxy benchmark.

Method (the machine has 2 cores, so the proxies get one and the load and the backend the other):
  - backend: nginx, 1 worker, pinned to CPU 1, answering a 13-byte body from `return 200`.
  - proxies: sluice (workers: 1), HAProxy 2.6 (nbthread 1), nginx (worker_processes 1) each pinned
    to CPU 0, logging off, upstream keep-alive on (sluice pools by default; HAProxy
    `http-reuse always`; nginx `keepalive 64` with HTTP/1.1 upstream).
  - load: wrk -t1 -c50 pinned to CPU 1, keep-alive, and again with `Connection: close`.
  - each (target, mode) runs RUNS times (default 3) for DURATION seconds (default 5) in turn
    (round-robin over targets, so drift hits all alike); the median req/s and its p50/p99 are
    reported. "direct" is wrk straight at the backend: the ceiling.
Writes a table with ratios sluice/HAProxy and sluice/nginx, and appends it to bench/RESULTS.md
(with date and commit) unless --no-record."""
import datetime
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402
from common import free_port  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLUICE = os.path.join(ROOT, "build/release/src/sluice")
RUNS = int(os.environ.get("RUNS", "3"))
DURATION = int(os.environ.get("DURATION", "5"))
CONNECTIONS = int(os.environ.get("CONNECTIONS", "50"))
PROXY_CPU, LOAD_CPU = "0", "1"
tmp = tempfile.mkdtemp(prefix="sluice-bench-")
procs = []




pids = {}


def start(args, port, cpu):
    p = common.start(procs, args, port, cpu)
    pids[port] = p.pid  # taskset execs, so this is the server's own pid
    return p


def nginx_conf(name, port, body):
    prefix = os.path.join(tmp, name)
    os.makedirs(prefix, exist_ok=True)
    return common.write(tmp, f"{name}.conf", f"""
daemon off; master_process off; worker_processes 1;
pid {prefix}/nginx.pid; error_log {prefix}/error.log error;
events {{ worker_connections 8192; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/b; proxy_temp_path {prefix}/p; fastcgi_temp_path {prefix}/f;
  uwsgi_temp_path {prefix}/u; scgi_temp_path {prefix}/s;
  keepalive_requests 100000000;
  {body.replace("PORT", str(port))}
}}
"""), prefix


def start_backend():
    port = free_port()
    conf, prefix = nginx_conf("backend", port, """
  server { listen 127.0.0.1:PORT; location / { return 200 "hello, world\\n"; } }""")
    start(["nginx", "-p", prefix, "-c", conf], port, LOAD_CPU)
    return port


def start_sluice(backend):
    port = free_port()
    conf = common.write(tmp, "sluice.yaml", f"""
workers: 1
access_log: false
listeners:
  - listen: 127.0.0.1:{port}
    routes: [{{ cluster: backend }}]
clusters:
  - name: backend
    endpoints: [127.0.0.1:{backend}]
""")
    start([SLUICE, "run", "-c", conf], port, PROXY_CPU)
    return port


def start_haproxy(backend):
    port = free_port()
    conf = common.write(tmp, "haproxy.cfg", f"""
global
  nbthread 1
  maxconn 5000
defaults
  mode http
  option http-keep-alive
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend fe
  bind 127.0.0.1:{port}
  default_backend be
backend be
  server s1 127.0.0.1:{backend}
""")
    start(["haproxy", "-f", conf], port, PROXY_CPU)
    return port


def start_nginx_proxy(backend):
    port = free_port()
    conf, prefix = nginx_conf("proxy", port, f"""
  upstream be {{ server 127.0.0.1:{backend}; keepalive 64; }}
  server {{
    listen 127.0.0.1:PORT;
    location / {{ proxy_pass http://be; proxy_http_version 1.1; proxy_set_header Connection ""; }}
  }}""")
    start(["nginx", "-p", prefix, "-c", conf], port, PROXY_CPU)
    return port


def to_ms(text):
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(port, close, pid=None):
    args = ["taskset", "-c", LOAD_CPU, "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{DURATION}s", "--latency"]
    if close:
        args += ["-H", "Connection: close"]
    cpu_before = common.cpu_seconds(pid)
    out = subprocess.run(args + [f"http://127.0.0.1:{port}/"], capture_output=True, text=True,
                         timeout=DURATION + 30).stdout
    cpu = common.cpu_seconds(pid) - cpu_before
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = to_ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = to_ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    cpu_us = cpu * 1e6 / total if pid else 0.0  # proxy CPU per request: efficiency, whatever the bottleneck
    return rps, p50, p99, errors.group(0) if errors else "", cpu_us


def main():
    record = "--no-record" not in sys.argv
    if not os.path.exists(SLUICE):
        raise SystemExit("build first: make build")
    backend = start_backend()
    targets = {"direct": backend, "sluice": start_sluice(backend), "haproxy": start_haproxy(backend),
               "nginx": start_nginx_proxy(backend)}
    results = {}
    for mode in ["keep-alive", "close"]:
        for _ in range(RUNS):
            for name, port in targets.items():
                pid = pids[port] if name != "direct" else None
                results.setdefault((name, mode), []).append(wrk(port, mode == "close", pid))
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=10)
    shutil.rmtree(tmp, ignore_errors=True)

    def median(name, mode):
        runs = sorted(results[(name, mode)], key=lambda r: r[0])
        return runs[len(runs) // 2]

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    lines = [f"### http1 — {datetime.date.today()} — commit {commit}{' (dirty)' if dirty else ''}",
             "",
             f"wrk -t1 -c{CONNECTIONS} -d{DURATION}s, median of {RUNS} runs; proxy on CPU {PROXY_CPU} (1 worker), "
             f"backend nginx and wrk on CPU {LOAD_CPU}.",
             "",
             "| mode | target | req/s | p50 ms | p99 ms | proxy CPU µs/req | errors |",
             "|---|---|---:|---:|---:|---:|---|"]
    for mode in ["keep-alive", "close"]:
        for name in targets:
            rps, p50, p99, err, cpu_us = median(name, mode)
            cpu_text = f"{cpu_us:.1f}" if name != "direct" else "-"
            lines.append(f"| {mode} | {name} | {rps:,.0f} | {p50:.2f} | {p99:.2f} | {cpu_text} | {err} |")
    lines.append("")
    for mode in ["keep-alive", "close"]:
        s, h, n = median("sluice", mode), median("haproxy", mode), median("nginx", mode)
        lines.append(f"- {mode}: sluice/HAProxy req/s **{s[0] / h[0]:.2f}** (p99 {s[2]:.2f} vs {h[2]:.2f} ms, "
                     f"CPU/req {s[4]:.1f} vs {h[4]:.1f} µs), sluice/nginx req/s **{s[0] / n[0]:.2f}** "
                     f"(p99 {s[2]:.2f} vs {n[2]:.2f} ms, CPU/req {s[4]:.1f} vs {n[4]:.1f} µs)")
    lines.append("")
    report = "\n".join(lines)
    print(report)
    if record:
        common.record(ROOT, report)


if __name__ == "__main__":
    common.run(main, procs)
