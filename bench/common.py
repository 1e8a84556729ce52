"""Process helpers shared by the benchmarks: free ports, pinned servers, readiness by port."""
import datetime
import os
import signal
import socket
import subprocess
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc):
    for _ in range(500):  # bounded: 5 s at most
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited early")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.01)
    raise SystemExit(f"port {port} never opened")


def start(procs, args, port, cpu):
    """Starts `args` pinned to `cpu` (taskset execs, so the pid is the server's own) and waits
    until `port` accepts."""
    p = subprocess.Popen(["taskset", "-c", cpu, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    procs.append(p)
    wait_port(port, p)
    return p


def write(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def record(root, report):
    """Appends a report to bench/RESULTS.md (created with its heading if missing)."""
    path = os.path.join(root, "bench/RESULTS.md")
    if not os.path.exists(path):
        with open(path, "w") as f:
            f.write("# Benchmark results\n\nAppended by `make bench`; newest last.\n\n")
    with open(path, "a") as f:
        f.write(report + "\n")


def stop_all(procs):
    """Asks every started process to stop (SIGTERM), then waits for each."""
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        p.wait(timeout=10)


def run(main, procs):
    """Runs main(); whatever happens, every process it started is killed, by PID."""
    try:
        main()
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def cpu_seconds(pid):
    """User + system CPU time of a process and all its threads so far, in seconds (0 for None)."""
    if pid is None:
        return 0.0
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def median(values):
    v = sorted(values)
    return v[len(v) // 2]


def paired_ratio(a, b):
    """Median of a[i] / b[i] over rounds i."""
    return median([x / y for x, y in zip(a, b, strict=True)])


def report(root, title, method, targets, metrics, results, record):
    """Prints (and with `record`, appends to bench/RESULTS.md) a table of the median of each
    metric per target, then sluice's ratio to HAProxy and nginx for each metric.
    `results[(target, metric)]` is the list of runs, in round order: each round measures every
    target once, back to back. A ratio is the median of the rounds' ratios, so that a drift of
    the machine's speed over minutes (often 20% here) falls out of each round's ratio."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=root).stdout.strip()
    lines = [f"### {title} — {datetime.date.today()} — commit {commit}", "", method, "",
             "| target | " + " | ".join(metrics) + " |", "|---|" + "---:|" * len(metrics)]
    for name in targets:
        lines.append(f"| {name} | " + " | ".join(f"{median(results[(name, m)]):,.0f}" for m in metrics) + " |")
    lines.append("")
    lines.append("Ratios: the median of the per-round ratios.")
    lines.append("")
    for m in metrics:
        s, h, n = (results[(x, m)] for x in ["sluice", "haproxy", "nginx"])
        lines.append(f"- {m}: sluice/HAProxy **{paired_ratio(s, h):.2f}**, "
                     f"sluice/nginx **{paired_ratio(s, n):.2f}**")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if record:
        record_report(root, text)


record_report = record
