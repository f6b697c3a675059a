#!/bin/sh
# tests/conv-seeds.sh SOURCE_DIR — scripts/conv-seeds.awk (the seeds table of
# scripts/conv-study.sh) on hand-made runs: the accuracy table, a gap that holds in one seed
# and not in another, a missing run, and "lowest" among Table 7's six runs only (ZO's
# sparser net is left out of that comparison).
set -eu
out=$(printf '%s\n' \
  'opzo-ll|2022|0.9117|0.05|1.0e6' 'bp-ll|2022|0.9150|0.06|2.0e6' \
  'opzo|2022|0.9000|0.09|3.0e6'    'dfa|2022|0.8800|0.04|0.5e6' \
  'zo|2022|0.8000|0.01|0.1e6' \
  'opzo-ll|0|0.9100|0.05|1.0e6'    'bp-ll|0|0.9300|0.07|3.0e6' \
  'opzo|0|0.8700||2.5e6'           'dfa|0|0.8800|0.08|4.0e6' |
  awk -F'|' -f "$1/scripts/conv-seeds.awk")
fail=0
expect() {
  if ! printf '%s\n' "$out" | grep -Fqx -- "$1"; then
    echo "missing line: $1"; fail=1
  fi
}
expect '| scenario | seed 0 | seed 2022 | mean |'
expect '| opzo-ll | 91.00 | 91.17 | 91.08 |'
expect '| zo | – | 80.00 | 80.00 |'
expect '| OPZO w/ LL within 1 point of BP w/ LL | -2.00 | -0.33 | does not hold (2 seeds) |'
expect '| OPZO above DFA | -1.00 | +2.00 | does not hold (2 seeds) |'
expect '| OPZO above DKP | – | – | not run |'
expect '| ZO more than 5 points below OPZO | – | +10.00 | holds (1 seed) |'
expect '| OPZO w/ LL has the lowest total hidden firing rate | opzo-ll | dfa | does not hold (2 seeds) |'
expect '| OPZO w/ LL has the fewest SynOps per sample | opzo-ll | dfa | does not hold (2 seeds) |'
if [ $fail -ne 0 ]; then printf '%s\n' "--- output:" "$out"; exit 1; fi
# With OPZO w/ LL alone there is nothing to compare it with.
alone=$(echo 'opzo-ll|2022|0.91|0.05|1e6' | awk -F'|' -f "$1/scripts/conv-seeds.awk")
printf '%s\n' "$alone" | grep -Fqx -- '| OPZO w/ LL has the lowest total hidden firing rate | – | not run |' ||
  { printf '%s\n' "a lone run was ranked:" "$alone"; exit 1; }
echo "ok: the seeds table and its verdicts"
