#!/usr/bin/env bash
# `make run`: three demo backends on 127.0.0.1:9001-9003 and sluice on examples/quickstart.yaml.
# Ctrl-C (or any exit) stops every process started here, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

wait_port() {  # bounded readiness check: up to 5 s
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "port $1 did not open" >&2
  return 1
}

for i in 1 2 3; do
  "$bin/tools/demo_backend" --name "backend-$i" --listen "127.0.0.1:900$i" &
  pids+=($!)
done
for i in 1 2 3; do wait_port "900$i"; done
"$bin/src/sluice" run -c examples/quickstart.yaml &
pids+=($!)
wait_port 8080
wait_port 9901

cat <<'MSG'

  sluice is running on http://127.0.0.1:8080 in front of three demo backends.

    for i in 1 2 3 4 5 6; do curl -s http://127.0.0.1:8080/; done   # round robin over backend-1..3
    curl -s http://127.0.0.1:8080/echo                              # what the backend received
    curl -s -H 'x-user: alice' http://127.0.0.1:8080/               # Maglev: alice always lands on one backend
    curl -s http://127.0.0.1:9901/metrics | grep sluice_http        # Prometheus metrics
    open http://127.0.0.1:9901/                                     # live dashboard

  Ctrl-C stops everything.

MSG
wait "${pids[-1]}"
