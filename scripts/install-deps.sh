#!/usr/bin/env bash
# Installs every Debian package that building, testing and the lab need. Idempotent: when all
# packages are present it only runs dpkg-query and exits (well under a second).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config clang llvm lld libclang-rt-14-dev
  clang-format clang-tidy
  # eBPF
  bpftool libbpf-dev libelf-dev zlib1g-dev libcap-dev
  # libraries
  libgrpc++-dev protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libabsl-dev
  libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev libcpp-httplib-dev
  libssl-dev libgtest-dev libgmock-dev libbenchmark-dev libcurl4-openssl-dev libre2-dev
  # tests and lab
  python3 python3-pytest python3-grpcio python3-protobuf prometheus
  iproute2 iptables iputils-ping dnsutils procps psmisc util-linux curl wrk iperf3
  nginx-light golang-go golang-google-grpc-dev redis-server postgresql dnsmasq-base
  # servers of the application-view tests (node http, Java com.sun.net.httpserver)
  nodejs openjdk-17-jdk-headless
)

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$status" == ii* ]] || missing+=("$p")
done

# The OTLP protos are fetched with npm at configure time (cmake/OtelProtos.cmake). NodeSource's
# nodejs bundles npm; Debian's does not, and its npm package conflicts with NodeSource's nodejs, so
# ask for it only when no npm is on the PATH.
if ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Service packages (nginx, redis, postgresql) must not start system-wide daemons: the lab starts
# its own instances inside network namespaces.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"
  chmod +x "$policy"
  created_policy=1
fi
trap '[[ $created_policy -eq 1 ]] && rm -f "$policy"' EXIT
apt-get install -y -qq --no-install-recommends "${missing[@]}"
