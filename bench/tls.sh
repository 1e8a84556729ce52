#!/usr/bin/env bash
# TLS termination benchmark: full and resumed handshakes per second and keep-alive requests over
# TLS, for sluice, HAProxy and nginx with the same certificate on the same cores. See tls.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/tls.py "$@"
