#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for SECONDS each, starting from the committed corpus
# (new inputs go to a scratch copy), JOBS targets at a time (default: one per CPU). Exits non-zero
# when any target crashed, leaked or timed out. Usage: run-fuzzers.sh [build_dir] [seconds] [jobs]
set -euo pipefail
build_dir=${1:-build/fuzz}
seconds=${2:-60}
jobs=${3:-$(nproc)}
cd "$(dirname "$0")/.."

# One target: prints its summary, returns non-zero on a failure.
run_one() {
  local target=$1 corpus=$2 bin work
  bin=$(find "$build_dir" -type f -name "$target" -perm -u+x | head -n1)
  if [[ -z "$bin" ]]; then
    echo "run-fuzzers: $target was not built" >&2
    return 1
  fi
  work=$(mktemp -d)
  cp -r "tests/fuzz/corpus/$corpus/." "$work/"
  echo "run-fuzzers: $target for ${seconds}s"
  local rc=0
  "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "$work" > "$build_dir/$target.log" 2>&1 || rc=$?
  rm -rf "$work"
  if [[ $rc -ne 0 ]]; then
    echo "run-fuzzers: $target FAILED; see $build_dir/$target.log" >&2
    tail -n 40 "$build_dir/$target.log" >&2
    return 1
  fi
  grep -E '^stat::number_of_executed_units|^Done' "$build_dir/$target.log" | sed "s/^/$target: /" || true
}

status=0
pids=()
while IFS=: read -r target corpus; do
  [[ -n "$target" ]] || continue
  # Keep at most $jobs targets running.
  while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do
    wait -n || status=1
  done
  run_one "$target" "$corpus" &
  pids+=($!)
done < "$build_dir/fuzz_targets.txt"
for pid in "${pids[@]}"; do
  wait "$pid" || status=1
done
exit $status
