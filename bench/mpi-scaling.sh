#!/usr/bin/env bash
# bench/mpi-scaling.sh [reps] [batches] — one machine, two ways to use two cores on the MNIST
# FC training (784-800-800-10, T = 6, batch 128; OPZO and BP): one process with a compute
# team of 2 threads against 2 MPI ranks of 1 thread each (docs/CLUSTER.md quotes the result).
#
# Each measurement trains `batches` mini-batches (default 200, train_limit = 128·batches) and
# tests on 1280 images; the two configurations alternate, `reps` times each (default 3), so
# that a change of the machine's load hits both alike; medians are printed.  Reported per
# run: training samples/s from the run log (the train phase's own seconds, not loading),
# CPU seconds of the whole command (user + system, all processes; Open MPI's ranks spin while
# they wait in a collective, which counts here), the share of rank 0's time spent in
# collectives (from its summary line; waiting for the slower rank included), and the load
# average before the run.  Needs MNIST (scripts/setup.sh) or OZ_MNIST=DIR, and a build with
# -Dmpi=enabled in build-mpi (OZ_MPI_BUILDDIR).  Timings, not tests.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
batches=${2:-200}
mnist=${OZ_MNIST:-data/mnist}
build=${OZ_MPI_BUILDDIR:-build-mpi}
bin=$build/sim/opzosim
if [ ! -x "$bin" ]; then
  echo "mpi-scaling.sh: no $bin (meson setup $build -Dmpi=enabled && ninja -C $build)" >&2
  exit 2
fi
root=()
if [ "$(id -u)" -eq 0 ]; then root=(--allow-run-as-root); fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# One measurement: config (1x2 or 2x1), rule, rep -> "samples/s cpu_s comm_pct load1".
measure() {
  local config=$1 rule=$2 rep=$3
  local db="$tmp/$config-$rule-$rep.sqlite"
  local sets=(--set "data.dir=$mnist" --set "data.train_limit=$((128 * batches))"
              --set data.test_limit=1280 --set run.epochs=1 --set "run.name=bench-$rule")
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  local cmd
  if [ "$config" = 1x2 ]; then
    cmd=("$bin" run "scenarios/paper/mnist-fc-$rule.ini" --db "$db" --threads 2 "${sets[@]}")
  else
    cmd=(mpirun -np 2 --oversubscribe "${root[@]}" "$bin" run
         "scenarios/paper/mnist-fc-$rule.ini" --db "$db" --threads 1 "${sets[@]}")
  fi
  /usr/bin/time -f "%U %S" -o "$tmp/time" "${cmd[@]}" >/dev/null 2>"$tmp/err" || {
    cat "$tmp/err" >&2
    exit 1
  }
  local rate cpu comm
  rate=$(sqlite3 "$db" "select samples / seconds from epochs where phase = 'train'")
  cpu=$(awk '{print $1 + $2}' "$tmp/time")
  comm=$(sed -n 's/.*spent [0-9.]* s (\([0-9.]*\)%) in collectives.*/\1/p' "$tmp/err")
  echo "$rate $cpu ${comm:-0} $load"
}

echo "MNIST FC 784-800-800-10, T = 6, batch 128, $batches batches per measurement, $reps"
echo "alternations; $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| rule | configuration | samples/s (median) | CPU s (median) | rank 0 in collectives | runs (samples/s @ load) |"
echo "| --- | --- | --- | --- | --- | --- |"
for rule in opzo bp; do
  : >"$tmp/1x2.$rule"
  : >"$tmp/2x1.$rule"
  for rep in $(seq 1 "$reps"); do
    for config in 1x2 2x1; do
      measure "$config" "$rule" "$rep" | tee -a "$tmp/$config.$rule" |
        sed "s/^/mpi-scaling.sh: $rule $config: /" >&2
    done
  done
  for config in 1x2 2x1; do
    f="$tmp/$config.$rule"
    rate=$(cut -d' ' -f1 "$f" | median)
    cpu=$(cut -d' ' -f2 "$f" | median)
    comm=$(cut -d' ' -f3 "$f" | median)
    runs=$(awk '{printf "%s%.0f @ %s", (NR > 1 ? ", " : ""), $1, $4}' "$f")
    label=$([ "$config" = 1x2 ] && echo "1 rank x 2 threads" || echo "2 ranks x 1 thread")
    share=$([ "$config" = 1x2 ] && echo "-" || echo "$comm %")
    printf "| %s | %s | %.0f | %.1f | %s | %s |\n" "$rule" "$label" "$rate" "$cpu" "$share" "$runs"
  done
done
