#!/bin/sh
# iperf3 TCP throughput between two lab pods with and without `loupe agent`, same run; see
# bench/iperf_overhead.py. Usage: sudo scripts/bench-iperf.sh [--loupe build/loupe] [--rounds 3]
set -eu
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/iperf_overhead.py "$@"
