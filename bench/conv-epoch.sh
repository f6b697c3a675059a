#!/usr/bin/env bash
# bench/conv-epoch.sh [reps] — seconds per training epoch of every conv scenario, the table
# of docs/PERFORMANCE.md: scenarios/conv/fmnist-conv-*.ini (the width/4 net) and
# scenarios/paper/conv5-*.ini (the paper's net), on Fashion-MNIST, medians of `reps` runs
# (default 1; the scenarios take turns).  Timings, not tests: use a quiet machine.
#
# Each run trains a subset for two epochs and tests a few samples after each; the second
# epoch's training time (the first warms caches and the allocator) is scaled to the 60,000
# training images.  Also given: the run's peak RSS (the whole data set and the net).
# Environment: CONV_BENCH_THREADS (2), CONV_BENCH_LIMIT (1536 training samples an epoch for
# the width/4 net), CONV5_BENCH_LIMIT (256 for conv5), CONV_BENCH_TEST (256),
# CONV_BENCH_ONLY (a pattern of scenario names: e.g. "fmnist" or "conv5-opzo").
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-1}
[[ $reps =~ ^[1-9][0-9]*$ ]] || { echo "bench/conv-epoch.sh: reps: expected a number ≥ 1, got '$reps'" >&2; exit 2; }
threads=${CONV_BENCH_THREADS:-2}
limit=${CONV_BENCH_LIMIT:-1536}
limit5=${CONV5_BENCH_LIMIT:-256}
test_n=${CONV_BENCH_TEST:-256}
only=${CONV_BENCH_ONLY:-}
bin=./build/sim/opzosim
[ -x "$bin" ] || { echo "bench/conv-epoch.sh: build first (ninja -C build)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

scenarios=()
for f in scenarios/conv/fmnist-conv-*.ini scenarios/paper/conv5-*.ini; do
  n=$(basename "$f" .ini)
  [ -z "$only" ] || [[ $n == *$only* ]] || continue
  scenarios+=("$f")
done
[ ${#scenarios[@]} -gt 0 ] || { echo "bench/conv-epoch.sh: no scenario matches '$only'" >&2; exit 2; }

for i in $(seq 1 "$reps"); do
  for f in "${scenarios[@]}"; do
    n=$(basename "$f" .ini)
    l=$limit
    [[ $n == conv5-* ]] && l=$limit5
    db="$tmp/$n-$i.sqlite"
    echo "bench/conv-epoch.sh: $n, run $i of $reps ($l samples, $threads threads)" >&2
    "$bin" run "$f" --db "$db" --threads "$threads" --quiet --set run.epochs=2 \
      --set "data.train_limit=$l" --set "data.test_limit=$test_n" --set record.spike_samples=0
    sqlite3 -separator ' ' "$db" "
      select tr.seconds * 60000.0 / tr.samples, r.peak_rss_kb / 1024.0
        from runs r join epochs tr on tr.run_id = r.id and tr.epoch = 1 and tr.phase = 'train'" \
      >>"$tmp/$n.txt"
    [ -s "$tmp/$n.txt" ] ||
      { echo "bench/conv-epoch.sh: $n logged no second training epoch (is the limit below the batch size?)" >&2; exit 1; }
  done
done

echo "## Seconds per training epoch, $threads threads (median of $reps; the second of two" \
     "epochs of $limit samples, conv5 $limit5, scaled to 60,000)"
echo
echo "| scenario | s / training epoch | min / 10 epochs | peak RSS MB |"
echo "|---|---:|---:|---:|"
for f in "${scenarios[@]}"; do
  n=$(basename "$f" .ini)
  sec=$(awk '{print $1}' "$tmp/$n.txt" | median)
  rss=$(awk '{print $2}' "$tmp/$n.txt" | median)
  printf '| %s | %.0f | %.0f | %.0f |\n' "$n" "$sec" "$(echo "$sec" | awk '{print $1 / 6}')" "$rss"
done
