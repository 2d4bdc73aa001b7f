#!/usr/bin/env bash
# Runs every test: unit tests under ASan + UBSan, a short fuzz run of the evidence parsers, then
# all unit and end-to-end tests on the release build. Installs and builds whatever is missing
# first. Ends with CTest's summary.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=$(nproc)

scripts/setup.sh --sanitize
echo "==> unit tests under ASan + UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L unit -j "$JOBS" --output-on-failure

echo "==> fuzz smoke: evidence, init-data, broker requests, client responses; 20 s each (libFuzzer, ASan + UBSan, build-fuzz/)"
mkdir -p build-fuzz
for t in $(ls fuzz/attestation_*_fuzz.cc fuzz/kbs_*_fuzz.cc fuzz/kbsclient_*_fuzz.cc | sed 's|fuzz/\(.*\)_fuzz.cc|\1|'); do
  fuzz/run.sh "$t" 20 > "build-fuzz/smoke-$t.log" 2>&1 || { tail -50 "build-fuzz/smoke-$t.log"; exit 1; }
  grep -h "^Done" "build-fuzz/smoke-$t.log" | sed "s|^|    $t: |"
done

scripts/setup.sh
echo "==> all tests (unit + end-to-end) on the release build"
ctest --test-dir build -j "$JOBS" --output-on-failure
