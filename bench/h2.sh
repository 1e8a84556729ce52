#!/usr/bin/env bash
# HTTP/2 benchmark: h2load multiplexed throughput over TLS and h2c for sluice, HAProxy and nginx
# in front of the same HTTP/1.1 backend. See h2.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/h2.py "$@"
