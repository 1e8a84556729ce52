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
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# The nginx package starts a system service on port 80; sluice's tests and benchmarks start their
# own nginx instances, so the system one is stopped to keep the machine quiet.
if command -v systemctl >/dev/null 2>&1; then systemctl disable --now nginx haproxy >/dev/null 2>&1 || true; fi
pkill -x nginx 2>/dev/null || true
pkill -x haproxy 2>/dev/null || true
