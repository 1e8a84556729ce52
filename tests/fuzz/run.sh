#!/usr/bin/env bash
# Runs each fuzz target for a bounded time (FUZZ_SECONDS, default 60) from its seed corpus;
# new interesting inputs go to a scratch corpus, crashes to build/fuzz/crashes.
set -euo pipefail
build=${1:-build/fuzz}
seconds=${FUZZ_SECONDS:-60}
here=$(cd "$(dirname "$0")" && pwd)
for target in request client_hello proxy_header; do
  mkdir -p "$build/crashes" "$build/corpus-$target"
  "$build/tests/fuzz/${target}_fuzz" -max_total_time="$seconds" -max_len=20000 \
    -artifact_prefix="$build/crashes/" "$build/corpus-$target" "$here/corpus/$target"
done
