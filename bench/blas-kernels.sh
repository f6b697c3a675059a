#!/usr/bin/env bash
# bench/blas-kernels.sh [reps] — what OpenBLAS's kernel set is worth here: the sgemm rate
# on MNIST FC training shapes (build/bench/oz-bench-sgemm) and the seconds per training
# epoch of MNIST FC OPZO and of the width/4 conv net with OPZO and LL, under each kernel
# set of BLAS_KERNELS (default "Haswell auto": the AVX2 set, and the one OpenBLAS picks
# for this CPU when OPENBLAS_CORETYPE is unset).  Medians of `reps` (default 3), the
# kernel sets taking turns; the ratio is to the first set.  BLAS_THREADS (1) threads.
# Timings, not tests: a busy machine slows every set alike only roughly.  The run logs
# record the set each run used (parameters: owner 'run', key 'blas_kernels').
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "bench/blas-kernels.sh: reps: expected a number ≥ 1, got '$reps'" >&2; exit 2; }
kernels=${BLAS_KERNELS:-Haswell auto}
threads=${BLAS_THREADS:-1}
bin=./build/sim/opzosim
sgemm=./build/bench/oz-bench-sgemm
[ -x "$bin" ] && [ -x "$sgemm" ] || { echo "bench/blas-kernels.sh: build first (ninja -C build)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

with() { # KERNELS CMD...: CMD under that kernel set ("auto": OPENBLAS_CORETYPE unset)
  local k=$1; shift
  if [ "$k" = auto ]; then env -u OPENBLAS_CORETYPE "$@"; else OPENBLAS_CORETYPE=$k "$@"; fi
}

epoch_seconds() { # KERNELS SCENARIO LIMIT TAG: seconds of the second training epoch, scaled to 60,000
  local db="$tmp/$4.sqlite"
  rm -f "$db"
  with "$1" "$bin" run "$2" --db "$db" --threads "$threads" --quiet --set run.epochs=2 \
    --set "data.train_limit=$3" --set data.test_limit=256 --set record.spike_samples=0
  sqlite3 "$db" "select seconds * 60000.0 / samples from epochs where epoch = 1 and phase = 'train'"
  sqlite3 "$db" "select value from parameters where owner = 'run' and key = 'blas_kernels'" >"$tmp/$4.name"
}

for i in $(seq 1 "$reps"); do
  for k in $kernels; do
    echo "bench/blas-kernels.sh: $k, round $i of $reps" >&2
    with "$k" "$sgemm" "$threads" 20 2>/dev/null | tail -1 >>"$tmp/$k.sgemm"
    epoch_seconds "$k" scenarios/paper/mnist-fc-opzo.ini 6016 "$k-fc" >>"$tmp/$k.fc"
    epoch_seconds "$k" scenarios/conv/fmnist-conv-opzo-ll.ini 1024 "$k-conv" >>"$tmp/$k.conv"
  done
done

echo "## OpenBLAS kernel sets, $threads thread(s) (median of $reps; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'))"
echo
echo "| kernels | OpenBLAS's name | sgemm GFLOP/s | MNIST FC OPZO s/epoch | conv width/4 OPZO-LL s/epoch | FC speed-up | conv speed-up |"
echo "|---|---|---:|---:|---:|---:|---:|"
first_fc="" first_conv=""
for k in $kernels; do
  g=$(median <"$tmp/$k.sgemm")
  fc=$(median <"$tmp/$k.fc")
  cv=$(median <"$tmp/$k.conv")
  [ -n "$first_fc" ] || { first_fc=$fc; first_conv=$cv; }
  printf '| %s | %s | %.1f | %.1f | %.0f | %.2f× | %.2f× |\n' "$k" "$(cat "$tmp/$k-fc.name")" "$g" "$fc" "$cv" \
    "$(echo "$first_fc $fc" | awk '{print $1 / $2}')" "$(echo "$first_conv $cv" | awk '{print $1 / $2}')"
done
