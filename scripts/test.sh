#!/usr/bin/env bash
# test.sh: build twice and run the unit tests under both builds, as CI does:
#   build/       Release with -Werror
#   build-asan/  Debug with AddressSanitizer + UndefinedBehaviorSanitizer
# Oracle data (PyTorch reference tensors, tokenizer oracle ids) is written once to
# build/testdata by the ctest fixture 'oracle_data' and shared by both builds.
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${JOBS:-2}
DATA="$PWD/build/testdata"
NODE="$PWD/build/npm/node_modules"

echo "== build (Release, -Werror)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DUM_WERROR=ON \
      -DUM_TESTDATA_DIR="$DATA" -DUM_NODE_MODULES="$NODE" >/dev/null
cmake --build build -j"$JOBS"
echo "== test (Release)"
(cd build && ctest --output-on-failure -j"$JOBS")

echo "== build (AddressSanitizer + UndefinedBehaviorSanitizer)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DUM_WERROR=ON \
      -DUM_SANITIZE=address,undefined \
      -DUM_TESTDATA_DIR="$DATA" -DUM_NODE_MODULES="$NODE" >/dev/null
cmake --build build-asan -j"$JOBS"
echo "== test (ASan + UBSan)"
# LeakSanitizer is on; OpenMP's runtime keeps thread pools alive at exit, which is not a leak.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
(cd build-asan && ctest --output-on-failure -j"$JOBS")
