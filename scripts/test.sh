#!/usr/bin/env bash
# Runs every test: unit tests under ASan + UBSan, then all unit and end-to-end tests on the
# release build. Installs and builds whatever is missing first. Ends with CTest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)

scripts/setup.sh --sanitize
echo "==> unit tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L unit -j "$JOBS" --output-on-failure

scripts/setup.sh
echo "==> all tests (unit + end-to-end) on the release build"
ctest --test-dir build -j "$JOBS" --output-on-failure
