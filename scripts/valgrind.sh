#!/usr/bin/env bash
# scripts/valgrind.sh [TEST...] — the test binaries (default: all) under valgrind
# memcheck, following children (Criterion runs each test in a child; the e2e tests spawn
# opzosim).  Definite leaks and memory errors fail the run.  Slow: minutes, not seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
dpkg -s valgrind >/dev/null 2>&1 || { apt-get update -qq; apt-get install -y -qq valgrind >/dev/null; }
scripts/setup.sh --no-data >/dev/null
# valgrind does not know AVX-512: this build is for the baseline instruction set.
if [ ! -f build-valgrind/build.ninja ]; then
  meson setup build-valgrind --buildtype=debugoptimized -Dnative=false >/dev/null
fi
ninja -C build-valgrind >/dev/null
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(engine neurons idx scenario runlog loss par learning e2e)
status=0
for t in "${tests[@]}"; do
  log=build-valgrind/valgrind-$t.log
  if OZ_BIN="$PWD/build-valgrind/sim/opzosim" OPENBLAS_NUM_THREADS=1 \
     valgrind --error-exitcode=9 --leak-check=full --errors-for-leak-kinds=definite \
       --show-leak-kinds=definite --trace-children=yes --log-file="$log.%p" \
       "build-valgrind/tests/test-$t" --timeout=3600 >"$log" 2>&1; then
    echo "valgrind: $t clean ($(grep -h 'Synthesis' "$log" | sed 's/.*Synthesis: //'))"
  else
    echo "valgrind: $t FAILED, see $log*" >&2
    status=1
  fi
done
exit $status
