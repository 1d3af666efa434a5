#!/usr/bin/env bash
# Runs every libFuzzer target of a fuzz build for SECONDS each, starting from the committed corpus
# (new inputs go to a scratch copy). Exits non-zero on the first crash, leak or timeout.
set -euo pipefail
build_dir=${1:-build/fuzz}
seconds=${2:-60}
cd "$(dirname "$0")/.."
status=0
while IFS=: read -r target corpus; do
  [[ -n "$target" ]] || continue
  bin=$(find "$build_dir" -type f -name "$target" -perm -u+x | head -n1)
  if [[ -z "$bin" ]]; then
    echo "run-fuzzers: $target was not built" >&2
    exit 1
  fi
  work=$(mktemp -d)
  cp -r "tests/fuzz/corpus/$corpus/." "$work/"
  echo "run-fuzzers: $target for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
      "$work" > "$build_dir/$target.log" 2>&1; then
    echo "run-fuzzers: $target FAILED; see $build_dir/$target.log" >&2
    tail -n 40 "$build_dir/$target.log" >&2
    status=1
  else
    grep -E '^stat::number_of_executed_units|^Done' "$build_dir/$target.log" || true
  fi
  rm -rf "$work"
done < "$build_dir/fuzz_targets.txt"
exit $status
