#!/usr/bin/env bash
# scripts/conv-study.sh [OUTDIR] — the Fashion-MNIST conv table of docs/RESULTS.md and the
# conv part of docs/ENERGY.md: every scenarios/conv/fmnist-conv-NAME.ini (the width/4 net,
# T = 6) for CONV_EPOCHS epochs, one run log per scenario in OUTDIR (default runs/conv).
#
# Resumable: a run already finished in its log is skipped, an unfinished one continues
# with `opzosim run --resume` (bit for bit, docs/CHECKPOINTS.md), so the study can be
# stopped (^C, SIGTERM, a session's end) and started again with the same command.  When
# every run has finished it merges the logs into OUTDIR/fmnist-conv-sSEED.sqlite and writes:
#   OUTDIR/results-sSEED.md  the accuracy table (last and best test accuracy, s/epoch);
#   OUTDIR/table7-sSEED.md   firing rate per layer and SynOps per inference sample, and
#                            the training operations per sample by kind (the paper's
#                            Table 7 and Table 5, measured), with and without LL;
#   OUTDIR/report-sSEED.md   `opzosim report` of every run side by side;
#   OUTDIR/cosine-sSEED.md   each run's gradient against BP's on the same forward pass
#                            (cosine per conv layer, first and last epoch), which says
#                            where a rule's updates part from BP's (docs/ALGORITHM.md §12);
#   OUTDIR/fmnist-conv-{curves,rates,ops,energy,grad}-sSEED.png  the figures.
# Environment: CONV_RUNS (the scenario names, default "opzo-ll bp-ll opzo bp dfa dkp zo
# dfa-ll dkp-ll zo-ll readout-ll"; the last is a control: LL alone, no global signal reaches
# the hidden layers), CONV_EPOCHS (10), CONV_SEED (2022; another seed gives other run
# names and logs, so seeds 0 and 1 sit beside 2022), CONV_JOBS (1: runs at a time),
# CONV_THREADS (threads per run: 2 with one job, 1 with several), CONV_TRAIN_LIMIT and
# CONV_TEST_LIMIT (0: the whole sets; small numbers for a quick demonstration),
# CONV_NICE (0: the runs' nice level), CONV_GRAD_EVERY (20: the cosine to BP is measured on
# every 20th training batch, about 2% more time; the training is the same bits with it or
# without; 0 turns it off).  Keep CONV_GRAD_EVERY the same across the sessions of a study:
# it is part of a run's scenario (an override), and --resume refuses a change.  Keep
# CONV_THREADS too: --resume accepts another thread count, but the runs table keeps the
# first session's and the s/epoch column would mix thread counts.
# A run that failed (a numeric fault, say) is not resumed: the study stops at the end with
# its message; delete its log to run it again.
# CONV_TABLES_ONLY=1 starts and resumes nothing: it writes the tables and figures of the runs
# that have finished so far (the pending ones named above the tables), to look at a study
# while it runs; it reads the logs only, so it may run beside the study itself.
# Every time the tables are written, OUTDIR/seeds.md is written too: the last test accuracy
# of every finished run of every seed in OUTDIR, and, seed by seed, the orderings the paper
# claims (docs/RESULTS.md); an ordering holds only if it holds in every seed listed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/conv}
names=${CONV_RUNS:-opzo-ll bp-ll opzo bp dfa dkp zo dfa-ll dkp-ll zo-ll readout-ll}
epochs=${CONV_EPOCHS:-10}
seed=${CONV_SEED:-2022}
jobs=${CONV_JOBS:-1}
threads=${CONV_THREADS:-$((jobs > 1 ? 1 : 2))}
train_limit=${CONV_TRAIN_LIMIT:-0}
test_limit=${CONV_TEST_LIMIT:-0}
nice_level=${CONV_NICE:-0}
grad_every=${CONV_GRAD_EVERY:-20}
tables_only=${CONV_TABLES_ONLY:-0}
[[ $grad_every =~ ^[0-9]+$ ]] || { echo "CONV_GRAD_EVERY: expected a whole number, got '$grad_every'" >&2; exit 2; }
grad=()
[ "$grad_every" -gt 0 ] &&
  grad=(--set record.grad_stats=true --set record.grad_stats_every="$grad_every")
bin=./build/sim/opzosim
[ -x "$bin" ] || { echo "build first: ninja -C build" >&2; exit 2; }
for n in $names; do
  [ -f "scenarios/conv/fmnist-conv-$n.ini" ] ||
    { echo "CONV_RUNS: no scenarios/conv/fmnist-conv-$n.ini" >&2; exit 2; }
done
mkdir -p "$out"

status() { # LOG NAME: the status of the newest run named NAME in LOG, or nothing
  [ -f "$1" ] || return 0
  sqlite3 "$1" "select status from runs where name = '$2' order by id desc limit 1" 2>/dev/null || true
}

run_one() { # NAME: run (or resume) one scenario; its progress goes to OUTDIR/RUN.log
  local n=$1 name="fmnist-conv-$1-s$seed"
  local db="$out/$name.sqlite" st resume=()
  st=$(status "$db" "$name")
  case $st in
    finished) echo "$name: finished"; return 0 ;;
    failed)
      echo "$name: failed earlier ($(sqlite3 "$db" "select ifnull(message, 'no message') from runs
        where name = '$name' order by id desc limit 1")); not resumed: see $out/$name.log,
        and delete $db to run it again" >&2
      return 0 ;;
    "") ;;
    *) resume=(--resume) ;;
  esac
  echo "$name: ${resume[*]:-start} ($threads thread(s)), progress in $out/$name.log"
  nice -n "$nice_level" "$bin" run "scenarios/conv/fmnist-conv-$n.ini" --db "$db" \
    --threads "$threads" --set run.name="$name" --set run.seed="$seed" \
    --set run.epochs="$epochs" --set data.train_limit="$train_limit" \
    --set data.test_limit="$test_limit" "${grad[@]}" "${resume[@]}" >> "$out/$name.log" 2>&1 ||
    echo "$name: stopped with exit $? (see $out/$name.log; run the study again to resume)"
}

if [ "$tables_only" != 1 ]; then
  for n in $names; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    run_one "$n" &
  done
  wait
fi

logs=() pending=()
for n in $names; do
  name="fmnist-conv-$n-s$seed"
  if [ "$(status "$out/$name.sqlite" "$name")" = finished ]; then
    logs+=("$out/$name.sqlite")
  else
    pending+=("$name")
  fi
done
if [ ${#pending[@]} -gt 0 ]; then
  echo "not finished yet: ${pending[*]}; run the study again to continue" >&2
  [ "$tables_only" = 1 ] && [ ${#logs[@]} -gt 0 ] || exit 1
fi

merged=$out/fmnist-conv-s$seed.sqlite
rm -f "$merged"
"$bin" merge "$merged" "${logs[@]}"
md() { sqlite3 -header -markdown "$merged" "$1"; }

# The accuracy table.  s/epoch is the mean wall clock of a training epoch.
md "
  select substr(r.name, 13, length(r.name) - 12 - length('-s$seed')) as scenario,
    r.seed as seed,
    (select count(*) from epochs where run_id = r.id and phase = 'test') as epochs,
    printf('%.2f', 100 * (select accuracy from epochs where run_id = r.id and phase = 'test'
                          order by epoch desc limit 1)) as 'test acc. last (%)',
    printf('%.2f', 100 * (select max(accuracy) from epochs where run_id = r.id
                          and phase = 'test')) as 'best (%)',
    printf('%.0f', (select avg(seconds) from epochs where run_id = r.id
                    and phase = 'train')) as 's/train epoch',
    r.threads as threads, printf('%.0f', r.peak_rss_kb / 1024.0) as 'peak RSS (MB)'
  from runs r order by r.id" > "$out/results-s$seed.md"

# Table 7: firing rate per layer and SynOps per sample, inference (the last test epoch),
# and the training operations per sample by kind (the last training epoch).  The total
# rate is the paper's "Total fr": every hidden neuron's spikes over every hidden neuron's
# ticks (weighted by layer size, so the large first layer counts most).
md "
  with last as (select run_id, max(epoch) as epoch from epochs group by run_id),
  rate as (select f.run_id,
      max(case when population = 'h1' then rate end) as h1,
      max(case when population = 'h2' then rate end) as h2,
      max(case when population = 'h3' then rate end) as h3,
      sum(case when population in ('h1', 'h2', 'h3') then spikes end) * 1.0 /
        sum(case when population in ('h1', 'h2', 'h3') then neuron_ticks end) as total
    from firing_rates f join last using (run_id, epoch) where f.phase = 'test'
    group by f.run_id),
  inf as (select s.run_id, sum(s.synops) * 1.0 / max(s.samples) as synops,
      sum(s.dense_macs) * 1.0 / max(s.samples) as macs
    from synops s join last using (run_id, epoch) where s.phase = 'test' group by s.run_id),
  tr as (select s.run_id, max(s.samples) as samples, sum(s.synops) as synops,
      sum(s.dense_macs) as macs, sum(s.update_ops) as updates
    from synops s join last using (run_id, epoch) where s.phase = 'train' group by s.run_id),
  fb as (select t.run_id, sum(t.feedback_macs) as feedback
    from training_ops t join last using (run_id, epoch) group by t.run_id)
  select substr(r.name, 13, length(r.name) - 12 - length('-s$seed')) as scenario,
    ifnull(case when rate.h1 is not null then printf('%.4f', rate.h1) end, '–') as 'h1 rate',
    ifnull(case when rate.h2 is not null then printf('%.4f', rate.h2) end, '–') as 'h2 rate',
    ifnull(case when rate.h3 is not null then printf('%.4f', rate.h3) end, '–') as 'h3 rate',
    ifnull(case when rate.total is not null then printf('%.4f', rate.total) end, '–') as 'total rate',
    printf('%.3f M', inf.synops / 1e6) as 'SynOps/sample (inference)',
    printf('%.3f M', inf.macs / 1e6) as 'dense MACs/sample (inference)',
    printf('%.2f M', tr.synops * 1.0 / tr.samples / 1e6) as 'training: forward SynOps',
    printf('%.2f M', tr.macs * 1.0 / tr.samples / 1e6) as 'dense MACs',
    printf('%.2f M', ifnull(fb.feedback, 0) * 1.0 / tr.samples / 1e6) as 'feedback MACs',
    printf('%.2f M', tr.updates * 1.0 / tr.samples / 1e6) as 'weight updates'
  from runs r join rate on rate.run_id = r.id join inf on inf.run_id = r.id
    join tr on tr.run_id = r.id left join fb on fb.run_id = r.id
  order by inf.synops" > "$out/table7-s$seed.md"

# The cosine to BP of each conv layer's gradient, the first and the last epoch.
md "
  with e as (select run_id, min(epoch) as first, max(epoch) as last from grad_stats
    group by run_id)
  select substr(r.name, 13, length(r.name) - 12 - length('-s$seed')) as scenario,
    (select group_concat(c, ', ') from (select g.projection || ' ' ||
        ifnull(case when g.cos_bp is not null then printf('%.3f', g.cos_bp) end, '–') || ' → ' ||
        ifnull((select case when cos_bp is not null then printf('%.3f', cos_bp) end
          from grad_stats where run_id = r.id and
          projection = g.projection and epoch = e.last), '–') as c
      from grad_stats g where g.run_id = r.id and g.epoch = e.first order by g.projection))
      as 'cosine to BP, first → last epoch'
  from runs r join e on e.run_id = r.id order by r.id" > "$out/cosine-s$seed.md"

"$bin" report "$merged" --format markdown > "$out/report-s$seed.md"
whats="curves rates ops energy"
[ -s "$out/cosine-s$seed.md" ] && whats="$whats grad"
for what in $whats; do
  "$bin" plot "$merged" --what "$what" --out "$out/fmnist-conv-$what-s$seed.png"
done
echo "### Fashion-MNIST, width/4 conv net, seed $seed"; cat "$out/results-s$seed.md"
echo; echo "### Firing rates, SynOps and training operations per sample"
cat "$out/table7-s$seed.md"
if [ -s "$out/cosine-s$seed.md" ]; then
  echo; echo "### Cosine to BP per conv layer"; cat "$out/cosine-s$seed.md"
fi

# Every seed in OUTDIR side by side: one line per finished run (scenario, seed, last test
# accuracy, total hidden rate and SynOps per sample at inference), then the paper's
# orderings seed by seed.
for f in "$out"/fmnist-conv-*-s*.sqlite; do
  [ -f "$f" ] || continue
  sqlite3 -separator '|' "$f" "
    with r as (select * from runs where status = 'finished' and name like 'fmnist-conv-%-s%'
        order by id desc limit 1),
      last as (select max(epoch) as epoch from epochs, r where run_id = r.id and phase = 'test')
    select substr(r.name, 13, length(r.name) - 12 - length('-s' || r.seed)), r.seed,
      (select accuracy from epochs, last where run_id = r.id and phase = 'test'
         and epochs.epoch = last.epoch),
      (select sum(spikes) * 1.0 / sum(neuron_ticks) from firing_rates, last
         where run_id = r.id and phase = 'test' and firing_rates.epoch = last.epoch
         and population in ('h1', 'h2', 'h3')),
      (select sum(synops) * 1.0 / max(samples) from synops, last
         where run_id = r.id and phase = 'test' and synops.epoch = last.epoch)
    from r" 2>/dev/null || true
done | awk -F'|' -f scripts/conv-seeds.awk > "$out/seeds.md"
[ -n "${pending[*]}" ] && echo && echo "### Not finished yet: ${pending[*]}"
echo; echo "### Seeds side by side ($out/seeds.md)"; cat "$out/seeds.md"
echo; echo "logs merged into $merged; figures $out/fmnist-conv-*-s$seed.png"
