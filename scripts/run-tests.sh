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

status=0
/usr/bin/python3 -m lab down >/dev/null 2>&1 || true

# Short libFuzzer runs of every fuzz target (clang build); `make fuzz` runs them long.
fuzz_seconds=${LOUPE_FUZZ_SECONDS:-60}
if [[ $fuzz_seconds -gt 0 ]]; then
  if [[ ! -f build/fuzz/build.ninja ]]; then cmake --preset fuzz >/dev/null || status=1; fi
  if cmake --build build/fuzz --target fuzz_targets >/dev/null; then
    ./scripts/run-fuzzers.sh build/fuzz "$fuzz_seconds" || status=1
  else
    echo "run-tests: building the fuzz targets failed" >&2
    status=1
  fi
fi

# ctest last, so its summary closes the output.
ctest --test-dir "$build_dir" --output-on-failure || status=1

leftovers=$(./scripts/check-leftovers.sh)
if [[ -n "$leftovers" ]]; then
  echo "run-tests: the tests left things behind:" >&2
  echo "$leftovers" >&2
  status=1
fi
exit $status
