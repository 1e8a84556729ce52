"""TCP proxy benchmark.

Method: iperf3 server (the backend) and the iperf3 client on CPU 1, the proxy on CPU 0 with one
worker/thread, logging off. Throughput: `iperf3 -t DURATION` with 1 stream and with 8 (-P 8),
median of RUNS (default 3). Connection rate: wrk with `Connection: close` through each proxy to
an nginx that answers a tiny body (a TCP proxy sees one short connection per request).
Appends to bench/RESULTS.md unless --no-record."""
import datetime
import json
import os
import re
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
PROXY_CPU, LOAD_CPU = "0", "1"
tmp = tempfile.mkdtemp(prefix="sluice-bench-tcp-")
procs = []


def start(args, port, cpu):
    return common.start(procs, args, port, cpu)


def proxies(backend):
    ports = {"direct": backend}
    p = free_port()
    start([SLUICE, "run", "-c", common.write(tmp, f"sluice-{backend}.yaml", f"""
workers: 1
access_log: false
listeners:
  - {{ name: t, protocol: tcp, listen: 127.0.0.1:{p}, cluster: b }}
clusters:
  - {{ name: b, endpoints: [127.0.0.1:{backend}] }}
""")], p, PROXY_CPU)
    ports["sluice"] = p
    p = free_port()
    start(["haproxy", "-f", common.write(tmp, f"haproxy-{backend}.cfg", f"""
global
  nbthread 1
  maxconn 5000
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen t
  bind 127.0.0.1:{p}
  option splice-auto
  server s1 127.0.0.1:{backend}
""")], p, PROXY_CPU)
    ports["haproxy"] = p
    p = free_port()
    prefix = os.path.join(tmp, f"nginx-{backend}")
    os.makedirs(prefix, exist_ok=True)
    start(["nginx", "-p", prefix, "-c", common.write(tmp, f"nginx-{backend}.conf", f"""
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off; master_process off; worker_processes 1;
pid {prefix}/pid; error_log {prefix}/err error;
events {{ worker_connections 8192; }}
stream {{ server {{ listen 127.0.0.1:{p}; proxy_pass 127.0.0.1:{backend}; }} }}
""")], p, PROXY_CPU)
    ports["nginx"] = p
    return ports


def cpu_times():
    """(busy, total) jiffies per CPU id, from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *v = line.split()
                v = list(map(int, v[:8]))
                out[name[3:]] = (sum(v) - v[3] - v[4], sum(v))
    return out


def busy_percent(before, after, cpu):
    b, t = (after[cpu][i] - before[cpu][i] for i in (0, 1))
    return 100.0 * b / t if t else 0.0


def iperf(port, streams):
    out = subprocess.run(["taskset", "-c", LOAD_CPU, "iperf3", "-c", "127.0.0.1", "-p", str(port), "-t",
                          str(DURATION), "-P", str(streams), "-J"], capture_output=True, text=True,
                         timeout=DURATION + 30)
    return json.loads(out.stdout)["end"]["sum_received"]["bits_per_second"] / 1e9


def conn_rate(port):
    out = subprocess.run(["taskset", "-c", LOAD_CPU, "wrk", "-t1", "-c50", f"-d{DURATION}s", "-H",
                          "Connection: close", f"http://127.0.0.1:{port}/"], capture_output=True, text=True,
                         timeout=DURATION + 30).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main():
    record = "--no-record" not in sys.argv
    iperf_port = free_port()
    start(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(iperf_port)], iperf_port, LOAD_CPU)
    http_port = free_port()
    prefix = os.path.join(tmp, "backend")
    os.makedirs(prefix, exist_ok=True)
    start(["nginx", "-p", prefix, "-c", common.write(tmp, "backend.conf", f"""
daemon off; master_process off; worker_processes 1;
pid {prefix}/pid; error_log {prefix}/err error;
events {{ worker_connections 8192; }}
http {{ access_log off; client_body_temp_path {prefix}/b; proxy_temp_path {prefix}/p; fastcgi_temp_path {prefix}/f;
  uwsgi_temp_path {prefix}/u; scgi_temp_path {prefix}/s;
  server {{ listen 127.0.0.1:{http_port}; location / {{ return 200 "hello, world\\n"; }} }} }}
""")], http_port, LOAD_CPU)
    bulk = proxies(iperf_port)
    short = proxies(http_port)
    results = {}
    for _ in range(RUNS):
        for name in bulk:
            before = cpu_times()
            results.setdefault((name, "1 stream Gbit/s"), []).append(iperf(bulk[name], 1))
            after = cpu_times()
            # Which side is the limit: a proxy well under 100% with the load CPU at 100% is
            # waiting on the load generator and backend, not the other way round.
            results.setdefault((name, "1 stream: proxy CPU %"), []).append(busy_percent(before, after, PROXY_CPU))
            results.setdefault((name, "1 stream: load CPU %"), []).append(busy_percent(before, after, LOAD_CPU))
            results.setdefault((name, "8 streams Gbit/s"), []).append(iperf(bulk[name], 8))
            results.setdefault((name, "short connections/s"), []).append(conn_rate(short[name]))
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=10)

    def med(name, metric):
        v = sorted(results[(name, metric)])
        return v[len(v) // 2]

    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    metrics = ["1 stream Gbit/s", "8 streams Gbit/s", "short connections/s"]
    cpu_metrics = ["1 stream: proxy CPU %", "1 stream: load CPU %"]
    lines = [f"### tcp — {datetime.date.today()} — commit {commit}", "",
             f"iperf3 -t {DURATION} (1 and 8 streams) and wrk -c50 `Connection: close`, median of {RUNS}; "
             f"proxy on CPU {PROXY_CPU} (1 worker), backends and load on CPU {LOAD_CPU}.", "",
             "| target | " + " | ".join(metrics + cpu_metrics) + " |",
             "|---|" + "---:|" * (len(metrics) + len(cpu_metrics))]
    for name in bulk:
        lines.append(f"| {name} | " + " | ".join(f"{med(name, m):,.2f}" for m in metrics) + " | " +
                     " | ".join(f"{med(name, m):.0f}" for m in cpu_metrics) + " |")
    lines.append("")
    for m in metrics:
        s, d, h, n = (med(x, m) for x in ["sluice", "direct", "haproxy", "nginx"])
        lines.append(f"- {m}: sluice/direct **{s / d:.2f}**, sluice/HAProxy **{s / h:.2f}**, sluice/nginx **{s / n:.2f}**")
    lines.append("")
    report = "\n".join(lines)
    print(report)
    if record:
        common.record(ROOT, report)


if __name__ == "__main__":
    common.run(main, procs)
