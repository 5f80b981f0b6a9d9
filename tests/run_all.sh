#!/usr/bin/env bash
# tests/run_all.sh [CTEST_ARGS...] -- build grt and run every test.
#
# This is the README's test command, and CI (.ci/run) runs it verbatim, so
# the two cannot drift: what a newcomer runs is what gates a submission.
# It (re)configures the build directory (an existing cache keeps its
# options, e.g. CI's -DGRT_WERROR=ON), builds with -j2 (the machines have
# two cores) and runs ctest in parallel, every label: unit, stress, golden,
# build and whatever a tests/<folder>/CMakeLists.txt adds.  It ends with one
# line "N passed, N failed" taken from ctest's own count, and exits non-zero
# if anything failed, including the build.
#
#   BUILD_DIR=dir   build directory, relative to the top of the tree
#                   (default: build, as in the README)
#   CTEST_ARGS...   passed on to ctest, e.g. -L unit or -R chan
#
# A test that has no TIMEOUT of its own gets 300 s; grt_check_test() in
# tests/CMakeLists.txt gives every Check test its own.
set -euo pipefail

cd "$(dirname "$0")/.."
build=${BUILD_DIR:-build}

cmake -S . -B "$build"
cmake --build "$build" -j2

log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
ctest --test-dir "$build" -j2 --output-on-failure --timeout 300 --no-tests=error \
    "$@" 2>&1 | tee "$log" || rc=$?

# ctest closes with "NN% tests passed, F tests failed out of T".
summary=$(sed -n 's/^[0-9]*% tests passed, \([0-9]*\) tests\{0,1\} failed out of \([0-9]*\).*/\1 \2/p' "$log" | tail -n 1)
if [ -z "$summary" ]; then
    echo "ctest printed no summary (exit status $rc)"
    exit $((rc == 0 ? 1 : rc))
fi
read -r failed total <<<"$summary"
echo "$((total - failed)) passed, $failed failed"
exit "$rc"
