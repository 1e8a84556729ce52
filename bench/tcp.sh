#!/usr/bin/env bash
# TCP (stream tier) benchmark: iperf3 throughput direct, through sluice, HAProxy `mode tcp` and
# nginx `stream`, single stream and 8 streams, and the rate of short connections. See tcp.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/tcp.py "$@"
