#!/usr/bin/env bash
# scripts/studies.sh [OUTDIR] — the studies of docs/STUDIES.md, as sweeps into one run
# log per study (OUTDIR, default runs/studies), then their tables as Markdown on stdout.
# Environment: STUDY_EPOCHS (default 1), STUDY_TRAIN_LIMIT (default 0 = all 60k),
# STUDY_THREADS (default 2), STUDY_ONLY (default "a b c d e").
# Network: MNIST 784-800-800-10, T = 6, batch 128, the paper's settings otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/studies}
epochs=${STUDY_EPOCHS:-1}
limit=${STUDY_TRAIN_LIMIT:-0}
threads=${STUDY_THREADS:-2}
only=${STUDY_ONLY:-a b c d e}
mkdir -p "$out"
scripts/setup.sh >/dev/null
bin=./build/sim/opzosim
common=(--set run.epochs="$epochs" --set data.train_limit="$limit" --set record.spike_samples=0
        --threads "$threads" --quiet)
opzo=scenarios/paper/mnist-fc-opzo.ini
md() { sqlite3 -header -markdown "$1" "$2"; }
want() { [[ " $only " == *" $1 "* ]]; }
echo "Settings: $epochs epoch(s), train_limit $limit (0 = all), $threads threads, commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)"

if want a; then
  db=$out/a-delay.sqlite; rm -f "$db"*
  $bin sweep $opzo --db "$db" "${common[@]}" --vary rule.name=opzo,dfa \
    --vary 'feedback h1.eligibility+feedback h2.eligibility=stored,current' \
    --vary 'feedback h1.delay+feedback h2.delay=0,1,2,4,8'
  echo; echo "### a. Error delay × eligibility × rule (test accuracy %, last epoch)"
  md "$db" "select substr(r.sweep, instr(r.sweep, 'rule.name=') + 10, 4) as rule,
      case when r.sweep like '%=current%' then 'current' else 'stored' end as eligibility,
      cast(substr(r.sweep, instr(r.sweep, 'delay=') + 6) as integer) as delay,
      printf('%.2f', 100 * e.accuracy) as test_acc
    from runs r join epochs e on e.run_id = r.id
    where e.phase = 'test' and e.epoch = (select max(epoch) from epochs where run_id = r.id)
    order by rule, eligibility, delay"
fi

if want b; then
  db=$out/b-noise.sqlite; rm -f "$db"*
  $bin sweep $opzo --db "$db" "${common[@]}" --vary rule.noise=gaussian,sphere,rademacher \
    --vary rule.noise_position=after,before
  echo; echo "### b. Noise distribution × injection position, OPZO (test accuracy %)"
  md "$db" "select substr(r.sweep, instr(r.sweep, 'noise=') + 6,
                          instr(r.sweep, ' rule.noise_position') - instr(r.sweep, 'noise=') - 6) as noise,
      substr(r.sweep, instr(r.sweep, 'position=') + 9) as position,
      printf('%.2f', 100 * e.accuracy) as test_acc
    from runs r join epochs e on e.run_id = r.id
    where e.phase = 'test' and e.epoch = (select max(epoch) from epochs where run_id = r.id)
    order by noise, position"
fi

if want c; then
  db=$out/c-momentum.sqlite; rm -f "$db"*
  $bin sweep $opzo --db "$db" "${common[@]}" --vary rule.momentum=0,0.9,0.99,0.999,0.9999,0.99999
  echo; echo "### c. Momentum λ_M of OPZO's feedback matrices (test accuracy %)"
  md "$db" "select substr(r.sweep, instr(r.sweep, 'momentum=') + 9) as lambda_M,
      printf('%.2f', 100 * e.accuracy) as test_acc
    from runs r join epochs e on e.run_id = r.id
    where e.phase = 'test' and e.epoch = (select max(epoch) from epochs where run_id = r.id)
    order by r.id"
fi

if want d; then
  db=$out/d-cosine.sqlite; rm -f "$db"*
  $bin sweep $opzo --db "$db" "${common[@]}" --vary rule.name=opzo,dfa \
    --set record.grad_stats=true --set record.grad_stats_every=10
  echo; echo "### d. Cosine similarity to BP's gradient on the same forward pass, per layer and epoch"
  md "$db" "select substr(r.sweep, instr(r.sweep, 'rule.name=') + 10) as rule, g.epoch,
      g.projection as layer, g.batches, printf('%.3f', g.cos_bp) as cos_bp
    from runs r join grad_stats g on g.run_id = r.id order by rule, g.projection, g.epoch"
fi

if want e; then
  db=$out/e-variance.sqlite; rm -f "$db"* "$out/e-start.sqlite"*
  # A point in training to measure at: one OPZO epoch (its M is the one being judged).
  $bin run $opzo --db "$out/e-start.sqlite" "${common[@]}" --set rule.inverse_alpha=true
  for rule in opzo bp zo; do
    $bin run scenarios/paper/mnist-fc-$rule.ini --db "$db" --init-from "$out/e-start.sqlite" \
      --set run.epochs=1 --set data.train_limit=12800 --set record.spike_samples=0 \
      --set record.grad_stats=true --set record.grad_stats_frozen=true \
      --set rule.inverse_alpha=true --set rule.alpha_schedule=fixed --set rule.alpha_start=0.2 \
      --threads "$threads" --quiet
  done
  echo; echo "### e. Gradient variance across 100 batches, parameters and M frozen at the checkpoint after the first OPZO epoch"
  md "$db" "select r.name as rule, g.projection as layer, g.batches,
      printf('%.3g', g.variance) as variance, printf('%.3g', g.grad_norm) as mean_grad_norm,
      printf('%.3g', g.variance * p.n_pre * p.n_post / (g.grad_norm * g.grad_norm))
        as relative_variance,
      printf('%.3f', g.cos_bp) as cos_bp
    from runs r join grad_stats g on g.run_id = r.id
      join projections p on p.run_id = r.id and p.name = g.projection
    order by g.projection, r.name"
fi
