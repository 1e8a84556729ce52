"""Process helpers shared by the benchmarks: free ports, pinned servers, readiness by port."""
import os
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
