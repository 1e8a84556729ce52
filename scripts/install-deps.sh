#!/usr/bin/env bash
# Installs every Debian package that sluice's build, tests and benchmarks need.
# Idempotent: when everything is present it prints nothing and touches nothing.
set -euo pipefail

packages=(
  # build
  build-essential cmake ninja-build ccache pkg-config clang clang-format clang-tidy
  libclang-rt-14-dev
  # libraries (see ../DESIGN.md, "Recommended dependencies")
  libasio-dev libyaml-cpp-dev libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libre2-dev libssl-dev libnghttp2-dev libjemalloc-dev
  libbpf-dev bpftool
  # tests
  libgtest-dev libgmock-dev curl procps iproute2 python3
  # benchmarks and integration peers
  nginx-light libnginx-mod-stream haproxy wrk nghttp2-client util-linux slowhttptest iperf3
  dnsmasq-base openssl testssl.sh python3-websockets python3-h2 python3-grpcio
  nftables ethtool iputils-ping
  # profiling benchmarks (bench/callgrind_http1.sh, bench/h2_syscalls.sh)
  valgrind linux-perf
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or install them) and retry" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# A package's post-install may start a system service (nginx and haproxy do). Those the machine
# did not have before are kept from starting, through Debian's policy-rc.d hook, for the length of
# this install only; services the machine already had are never stopped, disabled or touched.
# sluice's tests and benchmarks start their own nginx and haproxy on their own ports.
new_services=()
for unit in nginx haproxy; do
  if [ ! -e "/lib/systemd/system/$unit.service" ] && [ ! -e "/etc/init.d/$unit" ]; then
    new_services+=("$unit")
  fi
done
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ${#new_services[@]} -gt 0 ] && [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# written by sluice scripts/install-deps.sh for one apt-get run\ncase " %s " in *" $1 "*) exit 101;; esac\nexit 0\n' \
    "${new_services[*]}" >"$policy"
  chmod 755 "$policy"
  own_policy=1
  trap '[ "$own_policy" = 1 ] && rm -f "$policy"' EXIT
  echo "install-deps: newly installed services are not started: ${new_services[*]}"
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
if [ "$own_policy" = 1 ]; then
  rm -f "$policy"
  own_policy=0
fi
