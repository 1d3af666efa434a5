#!/bin/bash
# BPF cost of the socket programs per HTTP/2 request: starts `BINARY agent` (discovery of the lab's
# Go gRPC server on 127.0.0.1:50071 and h2c server on 127.0.0.1:18091, which this script starts and
# stops), enables kernel.bpf_stats_enabled, and prints for four loads the run time of
# raw_tp__sock_send_length and raw_tp__sock_recv_length per request (per message for stream5: 20
# server streams of 5000 small messages, about a thousand frames per call), the client's wall
# time and the agent's CPU time per request (its threads' schedstat, including 0.2 s of idle
# polling after each load)
# (docs/performance.md, "HTTP/2 frame walk in the kernel"). Needs root; no other agent may run.
#   bash scripts/bench-h2-bpf.sh build/release/loupe [LABEL]
set -eu
cd "$(dirname "$0")/.."
BIN=$(realpath "$1")
LABEL=${2:-$(basename "$BIN")}
B=$(/usr/bin/python3 -c "import sys; sys.path.insert(0, '.'); from lab.build import build_go; print(build_go().path('grpcclient').parent)")
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  sysctl -q kernel.bpf_stats_enabled=0
  rm -rf "$TMP"
}
trap cleanup EXIT
"$B/grpcserver" -addr 127.0.0.1:50071 -quiet >/dev/null 2>&1 & PIDS+=($!)
"$B/gohttp" -addr 127.0.0.1:18091 -h2c -quiet >/dev/null 2>&1 & PIDS+=($!)
sysctl -q kernel.bpf_stats_enabled=1
BEYLA_OPEN_PORT=50071,18091 "$BIN" agent >"$TMP/agent.out" 2>"$TMP/agent.err" & PIDS+=($!)
AGENT=$!
# The agent's CPU time so far, ns: every thread's time on a CPU (schedstat).
agent_cpu() { cat /proc/$AGENT/task/*/schedstat | awk '{t += $1} END {printf "%d", t}'; }
for _ in $(seq 100); do
  grep -q "instrumenting process.*gohttp" "$TMP/agent.err" && grep -q "instrumenting process.*grpcserver" "$TMP/agent.err" && break
  sleep 0.1
done
snap() {
  bpftool -j prog show | /usr/bin/python3 -c '
import json, sys
t = {}
for p in json.load(sys.stdin):
    if p.get("name") in ("raw_tp__sock_send_length", "raw_tp__sock_recv_length"):
        t[p["name"]] = (p.get("run_time_ns", 0), p.get("run_cnt", 0))
print(json.dumps(t))'
}
M20K=$(/usr/bin/python3 -c "print('x' * 20000)")
B50K=$(/usr/bin/python3 -c "print('y' * 50000)")
for load in grpc20k h2c50k grpc5 stream5; do
  s0=$(snap)
  c0=$(agent_cpu)
  t0=$(date +%s.%N)
  case $load in
    grpc20k) "$B/grpcclient" unary -addr 127.0.0.1:50071 -n 1000 -message "$M20K" >/dev/null; n=1000 ;;
    h2c50k) "$B/httpclient" -h2c -url http://127.0.0.1:18091/echo -method POST -body "$B50K" -n 1000 -c 4 >/dev/null; n=1000 ;;
    grpc5) "$B/grpcclient" unary -addr 127.0.0.1:50071 -n 2000 -message hello >/dev/null; n=2000 ;;
    stream5) "$B/grpcclient" sstream -addr 127.0.0.1:50071 -n 20 -count 5000 >/dev/null; n=100000 ;;
  esac
  t1=$(date +%s.%N)
  sleep 0.2  # the agent's reader polls every 5 ms; its batches of this load end
  c1=$(agent_cpu)
  s1=$(snap)
  /usr/bin/python3 - "$s0" "$s1" "$n" "$LABEL" "$load" "$t0" "$t1" "$c0" "$c1" <<'PY'
import json, sys
a, b, n = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
total, parts = 0, []
for k in sorted(b):
    dt, dc = b[k][0] - a.get(k, (0, 0))[0], b[k][1] - a.get(k, (0, 0))[1]
    total += dt
    parts.append(f"{k.split('__')[1]} {dc / n:.1f} runs x {dt / max(dc, 1):.0f} ns")
wall = float(sys.argv[7]) - float(sys.argv[6])
agent_ns = int(sys.argv[9]) - int(sys.argv[8])
print(f"{sys.argv[4]:8} {sys.argv[5]:8} bpf {total / n:.0f} ns per request; " + "; ".join(parts)
      + f"; client {wall:.2f} s; agent CPU {agent_ns / n:.0f} ns per request")
PY
done
