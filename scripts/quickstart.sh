#!/usr/bin/env bash
# scripts/quickstart.sh — set up, then run scenarios/quickstart.ini and show the run log.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
db=runs/quickstart.sqlite
./build/sim/opzosim run scenarios/quickstart.ini --db "$db" "$@"
echo
echo "Firing rate per population (last run):"
sqlite3 -column -header "$db" \
  "select phase, population,
          case when rate is null then 'not spiking' else printf('%.4f', rate) end as rate, spikes
   from firing_rates where run_id = (select max(id) from runs) order by phase desc, population"
echo
echo "Estimated energy per test sample under each hardware model:"
sqlite3 -column -header "$db" \
  "select model, printf('%.3g', joules_per_sample) as joules_per_sample, covers_all_ops
   from energy where run_id = (select max(id) from runs) and phase = 'test'"
