#!/usr/bin/env bash
# Repeatable cost of one proxied request: sluice (1 worker) under callgrind serves N requests
# to nginx, from one keep-alive client (default), a new connection per request (MODE=close) or
# h2load over h2c, one connection with 10 streams in flight (MODE=h2), or the same over TLS 1.3
# (MODE=h2tls, ECDSA P-256); prints instructions per request and the
# top functions. Instruction counts do not depend on machine noise, so this is the number to
# compare before and after a change to the request path. CLIENTS=10 runs h2load with 10
# connections (100 streams in flight); CACHE=1 runs cachegrind with its cache simulation instead
# (instruction-cache misses: KEEP=file, then cg_annotate), BRANCH=1 adds its branch-predictor
# simulation; SLUICE_BIN picks another binary.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
N=${N:-5000}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
bport=$(port); sport=$(port)
write_backend_conf "$tmp" "$bport"
nginx -c "$tmp/nginx.conf" & pids+=($!)
tls=""
if [ "${MODE:-}" = h2tls ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=bench \
    -keyout "$tmp/key.pem" -out "$tmp/crt.pem" 2>/dev/null
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
wait_port "$bport"
tool=(--tool=callgrind --callgrind-out-file="$tmp/cg.out")
[ -n "${CACHE:-}" ] && tool=(--tool=cachegrind --cache-sim=yes --branch-sim="$([ -n "${BRANCH:-}" ] && echo yes || echo no)" \
  --cachegrind-out-file="$tmp/cg.out")
valgrind "${tool[@]}" "${SLUICE_BIN:-build/release/src/sluice}" run -c "$tmp/sluice.yaml" \
  2>"$tmp/vg.log" & pids+=($!)
wait_port "$sport"
if [ "${MODE:-}" = h2 ]; then
  h2load -n "$N" -c "${CLIENTS:-1}" -m 10 "http://127.0.0.1:$sport/" | grep -E "^requests:"
elif [ "${MODE:-}" = h2tls ]; then
  h2load -n "$N" -c "${CLIENTS:-1}" -m 10 "https://127.0.0.1:$sport/" | grep -E "^requests:"
else
/usr/bin/python3 - "$sport" "$N" "${MODE:-keep-alive}" <<'PY'
import socket, sys
port, n, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
if mode == "close":  # a new connection per request, as wrk -H 'Connection: close'
    req = b"GET / HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port)) as s:
            s.sendall(req)
            while s.recv(65536):
                pass
    sys.exit(0)
s = socket.create_connection(("127.0.0.1", port))
req = b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n"
buf = b""
for _ in range(n):
    s.sendall(req)
    while b"hello, world\n" not in buf:
        buf += s.recv(65536)
    buf = buf.split(b"hello, world\n", 1)[1]
s.close()
PY
fi
kill -TERM "${pids[1]}"; wait "${pids[1]}" 2>/dev/null || true
total=$(grep -E "^summary:|^totals:" "$tmp/cg.out" | head -1 | awk '{print $2}')
if [ -n "${CACHE:-}" ]; then
  echo "requests: $N  ($(grep -E "^events:" "$tmp/cg.out" | cut -d" " -f2-), whole process): $(grep -E "^summary:" "$tmp/cg.out" | cut -d' ' -f2-)"
  if [ -n "${KEEP:-}" ]; then cp "$tmp/cg.out" "$KEEP"; fi
  exit 0
fi
echo "requests: $N  instructions (whole process, user space, startup included): $total  per request: $((total / N))"
if [ -n "${KEEP:-}" ]; then cp "$tmp/cg.out" "$KEEP"; fi
callgrind_annotate --inclusive=no "$tmp/cg.out" 2>/dev/null | grep -E "^ *[0-9,]+ " | head -"${TOP:-25}" || true
