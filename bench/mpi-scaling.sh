#!/usr/bin/env bash
# bench/mpi-scaling.sh [reps] [batches] — one machine, two ways to use two cores on the MNIST
# FC training (784-800-800-10, T = 6, batch 128; OPZO and BP): one process with a compute
# team of 2 threads against 2 MPI ranks of 1 thread each, with Open MPI's defaults and tuned
# for a shared machine (docs/CLUSTER.md quotes the result).  OZ_BENCH_CONFIGS picks some.
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
# The configurations, alternated in this order: 1x2, 2x1 and 2x1y (below).
configs=${OZ_BENCH_CONFIGS:-1x2 2x1 2x1y}
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
  case "$config" in
  1x2) cmd=("$bin" run "scenarios/paper/mnist-fc-$rule.ini" --db "$db" --threads 2 "${sets[@]}") ;;
  2x1) cmd=(mpirun -np 2 --oversubscribe "${root[@]}" "$bin" run
            "scenarios/paper/mnist-fc-$rule.ini" --db "$db" --threads 1 "${sets[@]}") ;;
  # Open MPI tuned for a shared machine: ranks not bound to a core (the kernel may move a
  # rank to whichever core is free) and yielding the core while they wait.
  2x1y) cmd=(mpirun -np 2 --oversubscribe --bind-to none --mca mpi_yield_when_idle 1
             "${root[@]}" "$bin" run "scenarios/paper/mnist-fc-$rule.ini" --db "$db"
             --threads 1 "${sets[@]}") ;;
  esac
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
  for config in $configs; do : >"$tmp/$config.$rule"; done
  for rep in $(seq 1 "$reps"); do
    for config in $configs; do
      measure "$config" "$rule" "$rep" | tee -a "$tmp/$config.$rule" |
        sed "s/^/mpi-scaling.sh: $rule $config: /" >&2
    done
  done
  for config in $configs; do
    f="$tmp/$config.$rule"
    rate=$(cut -d' ' -f1 "$f" | median)
    cpu=$(cut -d' ' -f2 "$f" | median)
    comm=$(cut -d' ' -f3 "$f" | median)
    runs=$(awk '{printf "%s%.0f @ %s", (NR > 1 ? ", " : ""), $1, $4}' "$f")
    case "$config" in
    1x2) label="1 rank x 2 threads" ;;
    2x1) label="2 ranks x 1 thread" ;;
    2x1y) label="2 ranks x 1 thread, --bind-to none, yield when idle" ;;
    esac
    share=$([ "$config" = 1x2 ] && echo "-" || echo "$comm %")
    printf "| %s | %s | %.0f | %.1f | %s | %s |\n" "$rule" "$label" "$rate" "$cpu" "$share" "$runs"
  done
done
