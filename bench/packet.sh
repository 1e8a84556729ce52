#!/usr/bin/env bash
# Packet-tier benchmark: sluice's XDP balancer against a no-op XDP forwarder (the ceiling) and
# nftables DNAT, with live BPF_PROG_TEST_RUN frames in network namespaces. See packet.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/packet.py "$@"
