#!/usr/bin/env bash
# scripts/results-table.sh DIR — the Table 1 comparison from run logs DIR/mnist-fc-RULE.sqlite
# (as written by: opzosim run scenarios/paper/mnist-fc-RULE.ini --db DIR/mnist-fc-RULE.sqlite).
set -euo pipefail
dir=${1:-runs}
declare -A paper=([bp]=98.38 [dfa]=98.05 [dkp]=98.15 [zo]=86.53 [opzo]=98.34)
echo "| rule | seed | epochs run | test acc. at last epoch (%) | best test acc. (%) | paper, Table 1 (%) | s/epoch (train + test, mean) | status |"
echo "|---|---|---|---|---|---|---|---|"
for rule in opzo bp dfa dkp zo; do
  db=$dir/mnist-fc-$rule.sqlite
  [ -f "$db" ] || continue
  sqlite3 -separator '|' "$db" "
    select '$rule', r.seed,
      (select count(*) from epochs where run_id = r.id and phase = 'test'),
      printf('%.2f', 100 * (select accuracy from epochs where run_id = r.id and phase = 'test'
                            order by epoch desc limit 1)),
      printf('%.2f', 100 * (select max(accuracy) from epochs where run_id = r.id and phase = 'test')),
      '${paper[$rule]}',
      printf('%.1f', (select sum(seconds) / count(distinct epoch) from epochs where run_id = r.id)),
      r.status
    from runs r order by r.id desc limit 1" | sed 's/^/| /; s/$/ |/'
done
