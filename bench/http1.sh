#!/usr/bin/env bash
# HTTP/1.1 proxy benchmark: sluice, HAProxy and nginx side by side in front of the same nginx
# backend, same core, same load. See http1.py for the method; results go to bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/http1.py "$@"
