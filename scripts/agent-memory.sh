#!/usr/bin/env bash
# Starts `loupe agent`, waits, and prints its memory: VmRSS, VmHWM and RssAnon from
# /proc/<pid>/status, and the BPF maps' kernel memory (bytes_memlock of `bpftool -j map show`,
# largest first). The agent must be the only BPF user on the host: bpftool 7.1 cannot tell whose
# maps are whose, so the script refuses to run when maps are loaded already. Stops the agent.
# Usage: agent-memory.sh [--loupe PATH] [--seconds N] [VAR=value ...]   (run as root)
set -euo pipefail
loupe=build/release/loupe
seconds=12
while [[ $# -gt 0 ]]; do
  case $1 in
    --loupe) loupe=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *=*) break ;;
    *) echo "agent-memory: unknown argument $1" >&2; exit 2 ;;
  esac
done
cd "$(dirname "$0")/.."
if [[ ! -x $loupe ]]; then
  echo "agent-memory: $loupe is not built (make build, or --loupe PATH)" >&2
  exit 2
fi
if [[ $(bpftool -j map show | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))') != 0 ]]; then
  echo "agent-memory: BPF maps are loaded already (another agent or test?); they would be counted" >&2
  exit 1
fi
log=$(mktemp)
env "$@" "$loupe" agent > "$log" 2>&1 &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
sleep "$seconds"
if ! kill -0 $pid 2>/dev/null; then
  echo "agent-memory: the agent exited; its log:" >&2
  cat "$log" >&2
  exit 1
fi
awk '/^(VmRSS|VmHWM|RssAnon):/ {printf "%s %.1f MiB\n", $1, $2 / 1024}' "/proc/$pid/status"
bpftool -j map show | python3 -c '
import json, sys
maps = json.load(sys.stdin)
total = sum(m.get("bytes_memlock", 0) for m in maps)
print("BPF maps: %d, memlock %.1f MiB" % (len(maps), total / 1048576))
for m in sorted(maps, key=lambda m: -m.get("bytes_memlock", 0)):
    print("  %8.2f MiB  %-16s %-14s max_entries %s" % (m.get("bytes_memlock", 0) / 1048576,
          m.get("name", "?"), m.get("type", "?"), m.get("max_entries", "?")))
'
