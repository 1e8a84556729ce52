#!/usr/bin/env bash
# Syscalls per request of sluice and HAProxy under the same h2c load (h2load -c 10 -m 10, N
# requests, proxy on CPU 0 with one worker/thread, nginx backend and h2load on CPU 1), counted by
# perf on the kernel's syscall tracepoints (tracefs is mounted if it is not). Counts, unlike req/s,
# hardly move with the machine's noise; receives that found nothing (EAGAIN) are shown apart.
# TLS=1 runs h2 over TLS 1.3 (ALPN h2, ECDSA P-256) instead of h2c; SLUICE_BIN picks another binary.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
N=${N:-200000}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
[ -d /sys/kernel/tracing/events/syscalls ] || mount -t tracefs nodev /sys/kernel/tracing
bport=$(port); sport=$(port); hport=$(port)
write_backend_conf "$tmp" "$bport"
scheme=http tls="" hbind="proto h2"
if [ -n "${TLS:-}" ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench \
    -keyout "$tmp/key.pem" -out "$tmp/crt.pem" 2>/dev/null
  cat "$tmp/crt.pem" "$tmp/key.pem" > "$tmp/both.pem"
  scheme=https hbind="ssl crt $tmp/both.pem alpn h2"
  tls="    protocol: https
    tls: { certificates: [{ cert: $tmp/crt.pem, key: $tmp/key.pem }] }"
fi
cat > "$tmp/sluice.yaml" <<YML
workers: 1
access_log: false
listeners:
  - listen: 127.0.0.1:$sport
$tls
    routes: [{ cluster: c }]
clusters:
  - { name: c, endpoints: [127.0.0.1:$bport] }
YML
cat > "$tmp/haproxy.cfg" <<CFG
global
  nbthread 1
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always
frontend f
  bind 127.0.0.1:$hport $hbind
  default_backend b
backend b
  server s1 127.0.0.1:$bport
CFG
taskset -c 1 nginx -c "$tmp/nginx.conf" & pids+=($!)
wait_port "$bport"
events=syscalls:sys_enter_sendmsg,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_epoll_wait
measure() {  # name port pid
  local name=$1 p=$2 pid=$3
  wait_port "$p"
  perf stat -x, -e "$events" -e syscalls:sys_exit_recvfrom --filter 'ret == -11' -p "$pid" -o "$tmp/perf.txt" &
  local perf=$!
  sleep 0.2  # perf attaches; only the request counts below matter, not this wait's length
  local rate
  rate=$(taskset -c 1 h2load -n "$N" -c 10 -m 10 "$scheme://127.0.0.1:$p/" | awk -F, '/^finished in/{print $2}')
  kill -INT "$perf"; wait "$perf" || true
  awk -F, -v N="$N" -v name="$name" -v rate="$rate" '
    /sys_enter_send/ {send += $1} /sys_enter_recvfrom/ {recv = $1} /sys_enter_epoll_wait/ {ep = $1}
    /sys_exit_recvfrom/ {again = $1}
    END { printf "| %s | %.3f | %.3f | %.3f | %.3f | %s |\n", name, send/N, recv/N, again/N, ep/N, rate }' "$tmp/perf.txt"
  kill "$pid"; wait "$pid" 2>/dev/null || true
}
echo "### $([ -n "${TLS:-}" ] && echo "h2 over TLS" || echo h2c) syscalls per request — $(date -u +%Y-%m-%d) — commit $(git rev-parse --short HEAD)"
echo
echo "h2load -n $N -c 10 -m 10, counted by perf on syscall tracepoints (bench/h2_syscalls.sh)."
echo
echo "| proxy | sends/req | receives/req | EAGAIN receives/req | epoll_waits/req | req/s (under perf) |"
echo "|---|---:|---:|---:|---:|---|"
taskset -c 0 "${SLUICE_BIN:-build/release/src/sluice}" run -c "$tmp/sluice.yaml" >/dev/null 2>&1 & spid=$!; pids+=("$spid")
measure sluice "$sport" "$spid"
taskset -c 0 haproxy -f "$tmp/haproxy.cfg" -db >/dev/null 2>&1 & hpid=$!; pids+=("$hpid")
measure haproxy "$hport" "$hpid"
