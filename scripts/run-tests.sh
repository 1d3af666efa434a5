#!/usr/bin/env bash
# Runs every test suite: unit (no root), bpf and integration (root). Cleans lab leftovers of
# earlier crashed runs first, and checks afterwards that the tests left nothing behind.
set -uo pipefail
build_dir=${1:-build/dev}
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "run-tests: BPF and integration tests need root; running unit tests only" >&2
  exec ctest --test-dir "$build_dir" -L unit --output-on-failure -j "$(nproc)"
fi

/usr/bin/python3 -m lab down >/dev/null 2>&1 || true
ctest --test-dir "$build_dir" --output-on-failure
status=$?

leftovers=$(./scripts/check-leftovers.sh)
if [[ -n "$leftovers" ]]; then
  echo "run-tests: the tests left things behind:" >&2
  echo "$leftovers" >&2
  status=1
fi
exit $status
