#!/usr/bin/env bash
# Trains the profile-guided build: runs an instrumented sluice ($1, built with SLUICE_PGO=generate)
# in front of an nginx backend on 127.0.0.1 under the loads its hot paths serve (h2c, h2 over
# TLS, HTTP/1.1 keep-alive, HTTP/1.1 with a new connection per request), a few seconds each,
# then stops it so that it writes its counts. Called by scripts/build-release.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/common.sh
bin=$1
seconds=${PGO_TRAIN_SECONDS:-4}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
bport=$(port); plain=$(port); tls=$(port)
write_backend_conf "$tmp" "$bport"
nginx -c "$tmp/nginx.conf" & pids+=($!)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=train \
  -keyout "$tmp/key.pem" -out "$tmp/crt.pem" 2>/dev/null
cat > "$tmp/sluice.yaml" <<YML
workers: 1
access_log: false
listeners:
  - { name: plain, listen: 127.0.0.1:$plain, routes: [{ cluster: c }] }
  - name: tls
    listen: 127.0.0.1:$tls
    protocol: https
    tls: { certificates: [{ cert: $tmp/crt.pem, key: $tmp/key.pem }] }
    routes: [{ cluster: c }]
clusters:
  - { name: c, endpoints: [127.0.0.1:$bport] }
YML
wait_port "$bport"
"$bin" run -c "$tmp/sluice.yaml" 2>"$tmp/sluice.log" & sluice=$!; pids+=($sluice)
wait_port "$plain" && wait_port "$tls"
# Every load must succeed: a profile of error paths would steer the build the wrong way.
load() { out=$("$@") && grep -q ", 0 failed, 0 errored" <<<"$out" || { echo "pgo-train: failed: $*" >&2; echo "$out" >&2; return 1; }; }
load h2load -D "$seconds" -c 10 -m 10 "http://127.0.0.1:$plain/"
load h2load -D "$seconds" -c 10 -m 10 "https://127.0.0.1:$tls/"
load h2load --h1 -D "$seconds" -c 10 "http://127.0.0.1:$plain/"
load h2load --h1 -n 5000 -c 10 -H "connection: close" "http://127.0.0.1:$plain/"
kill -TERM "$sluice"; wait "$sluice"  # the counts are written as it exits
