#!/usr/bin/env bash
# bench/run.sh — every benchmark; writes bench/results.json and prints Markdown tables.
#   bench/run.sh [reps]     (default 3 runs per timing; medians are reported)
# Needs MNIST (scripts/setup.sh fetches it).  Timings, not tests: run on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
scripts/setup.sh >/dev/null
threads=2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "## Spike delivery, 800 -> 800, batch 128, $threads threads (median of 21)"
./build/bench/oz-bench-delivery 21 "$threads" 2>"$tmp/delivery.json"

echo
echo "## Inference, MNIST test set (10k), 784-800-800-10, T=6, batch 128, $threads threads"
echo "| run | seconds | samples/s | SynOps/s |"
echo "|---|---|---|---|"
for i in $(seq 1 "$reps"); do
  db="$tmp/infer-$i.sqlite"
  ./build/sim/opzosim run scenarios/quickstart.ini --set run.mode=infer --db "$db" \
    --threads "$threads" --quiet
  sqlite3 -separator ' ' "$db" \
    "select e.seconds, e.samples / e.seconds, (select sum(synops) from synops) / e.seconds
     from epochs e where e.phase = 'test'" >"$tmp/infer-$i.txt"
  read -r s sps ops <"$tmp/infer-$i.txt"
  printf '| %d | %.3f | %.0f | %.3g |\n' "$i" "$s" "$sps" "$ops"
done
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
med_s=$(cat "$tmp"/infer-*.txt | awk '{print $1}' | median)
med_sps=$(cat "$tmp"/infer-*.txt | awk '{print $2}' | median)
med_ops=$(cat "$tmp"/infer-*.txt | awk '{print $3}' | median)
printf '| median | %.3f | %.0f | %.3g |\n' "$med_s" "$med_sps" "$med_ops"

cat >bench/results.json <<JSON
{
  "machine": {"cpus": $(nproc), "threads": $threads, "date": "$(date -u +%FT%TZ)"},
  "delivery_800x800_b128": $(cat "$tmp/delivery.json"),
  "inference_mnist_test": {"runs": $reps, "median_seconds": $med_s,
                            "median_samples_per_s": $med_sps, "median_synops_per_s": $med_ops}
}
JSON
echo
echo "wrote bench/results.json"
