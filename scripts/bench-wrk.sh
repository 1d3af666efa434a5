#!/bin/sh
# wrk against nginx between two lab pods with and without `loupe agent`, same run; see
# bench/wrk_overhead.py. Usage: sudo scripts/bench-wrk.sh [--loupe build/loupe] [--rounds 3]
#   [--seconds 10] [--connections 4] [--app-only] [--agent-env K=V] [--bpf-stats]
#   [--agent-sched other|batch|idle] [--agent-cmd COMMAND] [--profile]
set -eu
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/wrk_overhead.py "$@"
