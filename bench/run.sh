#!/usr/bin/env bash
# bench/run.sh [reps] — every benchmark of opzosim, medians of `reps` runs (default 3);
# writes bench/results.json and prints Markdown tables (docs/PERFORMANCE.md quotes them).
# Needs MNIST (scripts/setup.sh fetches it).  Timings, not tests: use a quiet machine.
#   a. one MNIST FC training epoch per rule (OPZO, DFA, BP, ZO): s/epoch, samples/s,
#      peak RSS, and time ÷ floor (dense FLOPs counted in the run log ÷ measured sgemm rate)
#   b. inference over the 10k test images: samples/s, SynOps/s
#   c. the engine alone: events/s (10^7 events, mixed delays)
#   d. run-log overhead: spikes of 64 test samples + all counters vs recording off
#   e. peak RSS at T = 6 vs T = 30
#   f. event-driven vs dense spike delivery by firing rate
#   g. thread scaling: the OPZO training phase on 20k samples at 1 and 2 threads
#   h. conv2d delivery, event-driven vs im2col by firing rate (64 -> 128, 3x3, 14x14)
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
threads=2
scripts/setup.sh >/dev/null
bin=./build/sim/opzosim
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

gflops=$(./build/bench/oz-bench-sgemm "$threads" 21 2>"$tmp/sgemm.txt")
echo "sgemm rate on the training shapes, $threads threads: $gflops GFLOP/s (the higher of: $(cat "$tmp/sgemm.txt" | sed 's/^.*: //'))"

echo
echo "## a. One training epoch, MNIST 784-800-800-10, T=6, batch 128, $threads threads (median of $reps)"
echo
echo "floor = the issue's dense FLOPs (forward products of real-valued input, gradient"
echo "accumulation, feedback products) / sgemm rate; floor+ adds the spike packets that went"
echo "through sgemm (dense delivery above dense_threshold) — work the rule really does densely."
echo "The sgemm rate is measured before every training epoch of this section (this machine's"
echo "speed drifts by ±15-25% within minutes); the floor uses the median of all those rates."
echo "The rules take turns (opzo dfa bp zo, opzo dfa bp zo, ...)."
echo
json_train=""
for rule in opzo dfa bp zo; do : >"$tmp/$rule.txt"; done
# Rules interleaved, so that each sees the machine in the same moods.
for i in $(seq 1 "$reps"); do
  for rule in opzo dfa bp zo; do
    db="$tmp/train-$rule-$i.sqlite"
    rate=$(./build/bench/oz-bench-sgemm "$threads" 21 2>/dev/null)
    $bin run scenarios/paper/mnist-fc-$rule.ini --set run.epochs=1 --set record.spike_samples=0 \
      --db "$db" --threads "$threads" --quiet
    # Dense FLOPs of the training phase: forward products of real-valued input
    # (dense_macs), gradient accumulation (update_ops) and the error path (training_ops),
    # 2 FLOPs per MAC; then the spike packets delivered by sgemm (spike_dense_macs).
    sqlite3 -separator ' ' "$db" "select e.seconds, e.samples / e.seconds,
        (select peak_rss_kb from runs) / 1024.0,
        2.0 * ((select sum(dense_macs + update_ops) from synops where phase = 'train')
             + (select ifnull(sum(feedback_macs), 0) from training_ops)) / 1e9,
        2.0 * (select sum(spike_dense_macs) from synops where phase = 'train') / 1e9
      from epochs e where e.phase = 'train'" | awk -v r="$rate" '{print $0, r}' >>"$tmp/$rule.txt"
  done
done
rt=$(cat "$tmp/opzo.txt" "$tmp/dfa.txt" "$tmp/bp.txt" "$tmp/zo.txt" | awk '{print $6}' | median)
rts=$(cat "$tmp/opzo.txt" "$tmp/dfa.txt" "$tmp/bp.txt" "$tmp/zo.txt" | awk '{print $6}' | sort -g | tr '\n' ' ')
echo "sgemm rate, median of the $((4 * reps)) measurements: $rt GFLOP/s (all: $rts)"
echo
echo "| rule | s/epoch (runs) | samples/s | peak RSS (MB) | dense GFLOP | floor (s) | time / floor | spike-sgemm GFLOP | floor+ (s) | time / floor+ |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for rule in opzo dfa bp zo; do
  s=$(awk '{print $1}' "$tmp/$rule.txt" | median)
  runs=$(awk '{printf "%s%.1f", (NR > 1 ? " " : ""), $1}' "$tmp/$rule.txt")
  sps=$(awk '{print $2}' "$tmp/$rule.txt" | median)
  rss=$(awk '{print $3}' "$tmp/$rule.txt" | median)
  gf=$(awk '{print $4}' "$tmp/$rule.txt" | median)
  sgf=$(awk '{print $5}' "$tmp/$rule.txt" | median)
  floor=$(awk -v f="$gf" -v r="$rt" 'BEGIN {printf "%.2f", f / r}')
  ratio=$(awk -v s="$s" -v f="$floor" 'BEGIN {printf "%.2f", s / f}')
  floorp=$(awk -v f="$gf" -v g="$sgf" -v r="$rt" 'BEGIN {printf "%.2f", (f + g) / r}')
  ratiop=$(awk -v s="$s" -v f="$floorp" 'BEGIN {printf "%.2f", s / f}')
  printf '| %s | %.1f (%s) | %.0f | %.0f | %.0f | %s | %s | %.0f | %s | %s |\n' "$rule" "$s" "$runs" "$sps" "$rss" "$gf" "$floor" "$ratio" "$sgf" "$floorp" "$ratiop"
  json_train="$json_train${json_train:+, }\"$rule\": {\"seconds\": $s, \"seconds_runs\": [$(echo $runs | tr ' ' ',')], \"samples_per_s\": $sps, \"peak_rss_mb\": $rss, \"dense_gflop\": $gf, \"floor_s\": $floor, \"ratio\": $ratio, \"spike_sgemm_gflop\": $sgf, \"floor_plus_s\": $floorp, \"ratio_plus\": $ratiop}"
done

echo
echo "## b. Inference, MNIST test set (10k), T=6, batch 128, $threads threads"
: >"$tmp/infer.txt"
for i in $(seq 1 "$reps"); do
  db="$tmp/infer-$i.sqlite"
  $bin run scenarios/quickstart.ini --set run.mode=infer --db "$db" --threads "$threads" --quiet
  sqlite3 -separator ' ' "$db" "select e.seconds, e.samples / e.seconds,
      (select sum(synops) from synops) / e.seconds from epochs e where e.phase = 'test'" >>"$tmp/infer.txt"
done
inf_s=$(awk '{print $1}' "$tmp/infer.txt" | median)
inf_sps=$(awk '{print $2}' "$tmp/infer.txt" | median)
inf_ops=$(awk '{print $3}' "$tmp/infer.txt" | median)
printf '| seconds | samples/s | SynOps/s |\n|---|---|---|\n| %.3f | %.0f | %.3g |\n' "$inf_s" "$inf_sps" "$inf_ops"

echo
echo "## c. Engine alone (10^7 events, delays 0-7, 8 stages)"
ev=$(./build/bench/oz-bench-engine 10000000 "$reps")
printf '| events/s |\n|---|\n| %.3g |\n' "$ev"

echo
# The overhead is a few percent of a run whose time varies by ±15% on a shared machine:
# at least 5 interleaved pairs.
dreps=$(( reps > 5 ? reps : 5 ))
echo "## d. Run-log overhead (OPZO, one epoch + test set; wall clock of the whole run; median of $dreps)"
: >"$tmp/on.txt"; : >"$tmp/off.txt"
for i in $(seq 1 "$dreps"); do
  for mode in on off; do
    db="$tmp/log-$mode-$i.sqlite"
    if [ $mode = on ]; then extra=(--set record.spike_samples=64 --set record.firing_rates=true --set record.synops=true);
    else extra=(--set record.spike_samples=0 --set record.firing_rates=false --set record.synops=false); fi
    start=$(date +%s.%N)
    $bin run scenarios/quickstart.ini "${extra[@]}" --db "$db" --threads "$threads" --quiet
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN {print b - a}' >>"$tmp/$mode.txt"
  done
done
on=$(median <"$tmp/on.txt"); off=$(median <"$tmp/off.txt")
overhead=$(awk -v a="$on" -v b="$off" 'BEGIN {printf "%.1f", 100 * (a - b) / b}')
# The writer's busy time (runs.log_seconds) bounds what recording can cost, free of the
# machine's run-to-run noise; both recording modes write the epochs, checkpoints and runs.
for mode in on off; do
  for i in $(seq 1 "$dreps"); do
    sqlite3 "$tmp/log-$mode-$i.sqlite" "select log_seconds, seconds from runs"
  done | awk -F'|' '{print $1, 100 * $1 / $2}' >"$tmp/w-$mode.txt"
done
won=$(awk '{print $1}' "$tmp/w-on.txt" | median); woff=$(awk '{print $1}' "$tmp/w-off.txt" | median)
wpct=$(awk '{print $2}' "$tmp/w-on.txt" | median)
# What recording adds to the writer (both modes write epochs, checkpoints and the run).
wdiff=$(awk -v a="$won" -v b="$woff" -v s="$on" 'BEGIN {printf "%.1f", 100 * (a - b) / s}')
printf '| recording | seconds (wall, median) | writer busy (s) |\n|---|---|---|\n| off | %.2f | %.3f |\n| on (64 samples of spikes, all counters) | %.2f | %.3f |\n| overhead, wall clock | %s%% | |\n| writer busy time with recording on, share of the run | %.1f%% | |\n| writer busy time added by recording, share of the run | %s%% | |\n' "$off" "$woff" "$on" "$won" "$overhead" "$wpct" "$wdiff"

echo
echo "## e. Peak RSS, T = 6 vs T = 30 (OPZO, 5k training samples; no spike recording, whose"
echo "   rows are output that grows with T by definition)"
: >"$tmp/t6.txt"; : >"$tmp/t30.txt"
for i in $(seq 1 "$reps"); do
  for T in 6 30; do
    db="$tmp/mem-$T-$i.sqlite"
    $bin run scenarios/quickstart.ini --set data.train_limit=5000 --set data.test_limit=1000 \
      --set run.ticks=$T --set record.spike_samples=0 --db "$db" --threads "$threads" --quiet
    sqlite3 "$db" "select peak_rss_kb / 1024.0 from runs" >>"$tmp/t$T.txt"
  done
done
m6=$(median <"$tmp/t6.txt"); m30=$(median <"$tmp/t30.txt")
growth=$(awk -v a="$m30" -v b="$m6" 'BEGIN {printf "%.1f", 100 * (a - b) / b}')
printf '| T | peak RSS (MB) |\n|---|---|\n| 6 | %.1f |\n| 30 | %.1f |\n| growth | %s%% |\n' "$m6" "$m30" "$growth"

echo
echo "## f. Spike delivery, 800 -> 800, batch 128, $threads threads (median of 21)"
./build/bench/oz-bench-delivery 21 "$threads" 2>"$tmp/delivery.json"

echo
echo "## g. Thread scaling (OPZO training phase, 20k samples, median of $reps)"
: >"$tmp/s1.txt"; : >"$tmp/s2.txt"
for i in $(seq 1 "$reps"); do
  for t in 1 2; do
    db="$tmp/scale-$t-$i.sqlite"
    $bin run scenarios/paper/mnist-fc-opzo.ini --set run.epochs=1 --set data.train_limit=20000 \
      --set data.test_limit=1 --set record.spike_samples=0 --db "$db" --threads $t --quiet
    sqlite3 "$db" "select seconds from epochs where phase = 'train'" >>"$tmp/s$t.txt"
  done
done
sc1=$(median <"$tmp/s1.txt"); sc2=$(median <"$tmp/s2.txt")
speedup=$(awk -v a="$sc1" -v b="$sc2" 'BEGIN {printf "%.2f", a / b}')
printf '| threads | seconds |\n|---|---|\n| 1 | %.2f |\n| 2 | %.2f |\n| speed-up | %s× |\n' "$sc1" "$sc2" "$speedup"

echo
echo "## h. conv2d delivery, 64 -> 128 channels, 3x3, padding 1, 14x14, batch 32, $threads threads (median of 5)"
./build/bench/oz-bench-conv 5 "$threads" 32 2>"$tmp/conv.json"

cat >bench/results.json <<JSON
{
  "machine": {"cpus": $(nproc), "threads": $threads, "reps": $reps, "date": "$(date -u +%FT%TZ)",
              "commit": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"},
  "sgemm_gflops": $gflops,
  "sgemm_gflops_training_median": $rt,
  "training_epoch": {$json_train},
  "inference_mnist_test": {"seconds": $inf_s, "samples_per_s": $inf_sps, "synops_per_s": $inf_ops},
  "engine_events_per_s": $ev,
  "runlog_overhead_percent": $overhead,
  "runlog_writer_busy_percent": $wpct,
  "runlog_writer_added_percent": $wdiff,
  "peak_rss_mb": {"T6": $m6, "T30": $m30, "growth_percent": $growth},
  "delivery_800x800_b128": $(cat "$tmp/delivery.json"),
  "thread_scaling_opzo_20k": {"one_thread_s": $sc1, "two_threads_s": $sc2, "speedup": $speedup},
  "conv2d_64x128_3x3_14x14_b32": $(cat "$tmp/conv.json")
}
JSON
echo
echo "wrote bench/results.json"
