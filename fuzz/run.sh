#!/usr/bin/env bash
# Builds the libFuzzer targets with clang + ASan + UBSan in build-fuzz/ and fuzzes them.
#   fuzz/run.sh                    every target, 60 s each
#   fuzz/run.sh oci_unpack 600     one target (the NAME of fuzz/NAME_fuzz.cc), 600 s
# Inputs that add coverage go to build-fuzz/corpus/NAME/ (the seeds in fuzz/corpus/NAME/ are only
# read); crashes go to build-fuzz/crashes/NAME/. Extra libFuzzer flags: FUZZ_FLAGS="-jobs=2".
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH=${1:-all}
DURATION=${2:-60}

if [ "$WHICH" = all ]; then
  TARGETS=$(ls fuzz/*_fuzz.cc | sed 's|fuzz/\(.*\)_fuzz.cc|\1|')
else
  [ -f "fuzz/${WHICH}_fuzz.cc" ] || { echo "no target fuzz/${WHICH}_fuzz.cc" >&2; exit 2; }
  TARGETS=$WHICH
fi

if [ ! -f build-fuzz/CMakeCache.txt ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCOCO_FUZZ=ON -DCOCO_SANITIZE=ON -DCOCO_BUILD_BENCH=OFF > build-fuzz.configure.log \
    || { cat build-fuzz.configure.log; exit 1; }
fi
cmake --build build-fuzz --target $(printf 'fuzz_%s ' $TARGETS)

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in $TARGETS; do
  mkdir -p "build-fuzz/corpus/$t" "build-fuzz/crashes/$t"
  echo "==> fuzz_$t for ${DURATION}s"
  # shellcheck disable=SC2086  # FUZZ_FLAGS is a list of flags
  build-fuzz/fuzz/fuzz_$t -max_total_time="$DURATION" -timeout=30 -print_final_stats=1 \
    -artifact_prefix="build-fuzz/crashes/$t/" ${FUZZ_FLAGS:-} \
    "build-fuzz/corpus/$t" "fuzz/corpus/$t" || { status=1; echo "==> fuzz_$t FAILED"; }
done
exit $status
