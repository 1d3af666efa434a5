#!/usr/bin/env bash
# Prints whatever Loupe's tests or agent may have left on this host: lab namespaces and links,
# our TC filters and programs, pinned BPF objects, running agents. Prints nothing when the host is clean.
set -uo pipefail
ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^lp' | sed 's/^/netns: /'
ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^lp' | sed 's/^/link: /'
for dev in $(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
  for dir in ingress egress; do
    if tc filter show dev "$dev" "$dir" 2>/dev/null | grep -q 'netflow\|tc__\|handle 0x4c50'; then
      echo "tc filter: $dev $dir"
    fi
  done
done
# Our TC programs still loaded: held by a filter above, or by a tcx link of a live process.
bpftool prog show 2>/dev/null | grep -oE 'name tc__(ingress|egress)' | sed 's/^/program: /'
if [[ -d /sys/fs/bpf ]]; then
  find /sys/fs/bpf -mindepth 1 -maxdepth 1 -name 'loupe*' 2>/dev/null | sed 's/^/pinned: /'
fi
pgrep -a -f 'loupe agent' 2>/dev/null | grep -v -e pgrep -e check-leftovers | sed 's/^/process: /'
exit 0
