#!/usr/bin/env bash
# bench/nmnist.sh [reps] — the N-MNIST figures of docs/PERFORMANCE.md, medians of `reps` runs
# (default 3) of the paper's FC scenarios (scenarios/paper/nmnist-fc-RULE.ini, 2312-800-800-10,
# T = 30) on a converted data set (`opzosim convert --from mnist --out data/nmnist`).
# Timings, not tests: use a quiet machine.  Each run trains NMNIST_LIMIT samples for two
# epochs and tests NMNIST_TEST samples after each, at NMNIST_THREADS threads (default 2):
#   - seconds per training epoch: the second epoch's train seconds × 60000 / NMNIST_LIMIT
#     (the first epoch warms caches and the allocator; the rules take turns);
#   - inference samples/s: the test phase of the second epoch;
#   - the input projection's SynOps per test sample against the dense product it replaces
#     (2312 × 800 MACs per tick × T);
#   - loading: the run's wall time minus its epochs' time (reading and binning the recordings
#     and setting up, once, before epoch 1), extrapolated to all 70,000 recordings, in seconds
#     and as a share of one epoch; after the first epoch the samples come from memory, so no
#     epoch after the first loads anything (batch assembly is inside the epoch's time);
#   - peak RSS of the run (the training set is held binned in memory).
# Environment: NMNIST_DIR (data/nmnist), NMNIST_LIMIT (7680), NMNIST_TEST (2000),
# NMNIST_THREADS (2), NMNIST_RULES ("opzo bp dfa dkp zo").
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
dir=${NMNIST_DIR:-data/nmnist}
limit=${NMNIST_LIMIT:-7680}
test_n=${NMNIST_TEST:-2000}
threads=${NMNIST_THREADS:-2}
rules=${NMNIST_RULES:-opzo bp dfa dkp zo}
bin=./build/sim/opzosim
[ -x "$bin" ] || { echo "bench/nmnist.sh: build first (ninja -C build)" >&2; exit 2; }
[ -d "$dir/Train" ] || {
  echo "bench/nmnist.sh: no converted N-MNIST in $dir (make it with:" \
       "$bin convert --from mnist --dir data/mnist --out $dir)" >&2
  exit 2
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for i in $(seq 1 "$reps"); do
  for rule in $rules; do
    db="$tmp/$rule-$i.sqlite"
    "$bin" run "scenarios/paper/nmnist-fc-$rule.ini" --db "$db" --threads "$threads" --quiet \
      --set run.epochs=2 --set "data.dir=$dir" --set "data.train_limit=$limit" \
      --set "data.test_limit=$test_n" --set record.spike_samples=0
    # train s/epoch (extrapolated), inference samples/s, input SynOps per test sample,
    # loading seconds (extrapolated to 70,000 recordings), peak RSS in MB
    sqlite3 -separator ' ' "$db" "
      select tr.seconds * 60000.0 / tr.samples,
             te.samples / te.seconds,
             (select synops * 1.0 / samples from synops s
               where s.run_id = r.id and s.epoch = 1 and s.phase = 'test'
               order by s.rowid limit 1),
             (r.seconds - (select sum(seconds) from epochs e where e.run_id = r.id))
               * 70000.0 / ($limit + $test_n),
             r.peak_rss_kb / 1024.0
        from runs r
        join epochs tr on tr.run_id = r.id and tr.epoch = 1 and tr.phase = 'train'
        join epochs te on te.run_id = r.id and te.epoch = 1 and te.phase = 'test'" \
      >>"$tmp/$rule.txt"
  done
done

ticks=30
dense=$((2312 * 800 * ticks))
echo "## N-MNIST FC 2312-800-800-10, T = $ticks, batch 128, $threads threads" \
     "(median of $reps; $limit training samples per epoch, extrapolated to 60,000)"
echo
echo "| rule | s / training epoch | inference samples/s | input SynOps / sample | vs dense input ($dense MACs) | loading once, s (% of one epoch) | peak RSS MB |"
echo "|---|---|---|---|---|---|---|"
for rule in $rules; do
  f="$tmp/$rule.txt"
  sec=$(awk '{print $1}' "$f" | median)
  inf=$(awk '{print $2}' "$f" | median)
  syn=$(awk '{print $3}' "$f" | median)
  load=$(awk '{print $4}' "$f" | median)
  rss=$(awk '{print $5}' "$f" | median)
  printf '| %s | %.0f | %.0f | %.0f | %.2f%% | %.0f (%.0f%%) | %.0f |\n' "$rule" "$sec" "$inf" \
    "$syn" "$(echo "$syn $dense" | awk '{print 100 * $1 / $2}')" "$load" \
    "$(echo "$load $sec" | awk '{print 100 * $1 / $2}')" "$rss"
done
