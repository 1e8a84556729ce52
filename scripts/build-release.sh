#!/usr/bin/env bash
# Builds build/release, the sluice that `make run`, the tests and the benchmarks use: optimised
# by a profile of its own hot paths (GCC PGO) and linked with LTO. The profile is trained when
# there is none, when a file under src/ is newer than it, or with RETRAIN=1 (`make pgo`): an
# instrumented build in build/pgo-generate serves about 20 s of load (scripts/pgo-train.sh).
# A profile older than the source is not reused: GCC's notes about it cannot be told apart from
# real warnings under -Werror, and it would guide the changed code by the old one's counts.
# If training fails, the build goes on without a profile and says so.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
profile=build/pgo-profile
if [ ! -f "$profile/trained" ] || [ "${RETRAIN:-}" = 1 ] ||
  [ -n "$(find src -newer "$profile/trained" \( -name '*.cc' -o -name '*.h' -o -name '*.c' \) -print -quit)" ]; then
  echo "build-release: training the profile-guided build (instrumented build, then ~20 s of load)"
  cmake --preset pgo-generate >/dev/null
  cmake --build --preset pgo-generate -j "$jobs"
  rm -rf "$profile"
  if scripts/pgo-train.sh build/pgo-generate/src/sluice; then
    touch "$profile/trained"
  else
    echo "build-release: WARNING: profile training failed; building without a profile (slower)" >&2
  fi
fi
cmake --preset release >/dev/null
# Ninja does not know that objects depend on the profile: after a new one, build them all again.
if [ -f "$profile/trained" ] && [ "$profile/trained" -nt build/release/.profile-used ]; then
  cmake --build --preset release --target clean >/dev/null
fi
cmake --build --preset release -j "$jobs"
[ -f "$profile/trained" ] && touch build/release/.profile-used
exit 0
