#!/usr/bin/env bash
# scripts/hardware-study.sh [OUTDIR] — the study of docs/HARDWARE.md: a BP-pretrained FC net
# (MNIST, or N-MNIST with HW_DATASET=nmnist) deployed on chips ([hardware],
# scenarios/hardware/*.ini) at three levels each, then fine-tuned on each chip with every rule;
# writes OUTDIR/table.md (default runs/hardware) and, per chip, OUTDIR/CHIP.png (accuracy
# against the chip's level, one line per rule, from `opzosim plot --what levels`).
#
# Steps, each skipped when its result is already in OUTDIR (so a stopped study continues):
#   1. split: the training set into fit (the first 50000) and held-out (the last 10000):
#      IDX files for MNIST, folders of symbolic links for N-MNIST (OUTDIR/split/);
#   2. pretrain: scenarios/paper/DATASET-fc-bp.ini on fit for HW_PRETRAIN_EPOCHS (20), or
#      HW_PRETRAINED=PATH[:RUN[:EPOCH]], an existing checkpoint (then fit is the whole
#      training set, which that net was trained on);
#   3. levels: `opzosim eval --set hardware.…` of the pretrained net at candidate levels of
#      each chip; per chip the candidates whose deployment loss is closest to 5, 10 and 20
#      points are its three levels (OUTDIR/levels.tsv; a level that is closest for two targets
#      is run once, and a chip left with fewer than three gets the next harsher candidate);
#      each chosen level is also logged as a test-only run `deploy-CHIP-LOSS` (run.mode =
#      infer) in OUTDIR/finetune.sqlite, for the figure;
#   4. lr: per rule, HW_SEARCH_EPOCHS (1) of fine-tuning on the strongest noise-probe level at
#      each of HW_LRS, scored on the held-out part; the best lr per rule (OUTDIR/lr.tsv) —
#      the same budget for every rule; or HW_LRFILE, the lr.tsv of an earlier study;
#   5. fine-tune: every chip × level × rule for HW_FINETUNE_EPOCHS (5), tested on the test set
#      on the same chip (OUTDIR/finetune.sqlite), the table and the figures.
# Environment: HW_DATASET (mnist | nmnist), HW_DATA (data/mnist or data/nmnist), HW_THREADS
# (2), HW_RULES ("opzo dfa dkp zo bp bp-exact readout"; bp-exact is BP given the true chip, a
# reference only; readout trains the readout alone, a control), HW_CHIPS ("noise-probe
# noise-own mismatch lowbit combined", run in this order), HW_PRETRAIN_EPOCHS, HW_PRETRAINED, HW_FINETUNE_EPOCHS, HW_SEARCH_EPOCHS, HW_LRS ("3e-6 1e-5 3e-5 1e-4 3e-4"),
# HW_LRFILE, HW_FIT_LIMIT and HW_TEST_LIMIT (0: the whole fit and test sets; smaller numbers
# for a quick demonstration or a cheaper N-MNIST study), HW_PRETRAIN_LIMIT (the pretraining's
# own train_limit; default HW_FIT_LIMIT).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-runs/hardware}
dataset=${HW_DATASET:-mnist}
case $dataset in
  mnist) prefix= ;;
  nmnist) prefix=nmnist- ;;
  *) echo "HW_DATASET: mnist or nmnist, not '$dataset'" >&2; exit 2 ;;
esac
data=${HW_DATA:-data/$dataset}
pretrained=${HW_PRETRAINED:-}
lr_given=${HW_LRFILE:-}
threads=${HW_THREADS:-2}
rules=${HW_RULES:-opzo dfa dkp zo bp bp-exact readout}
chips=${HW_CHIPS:-noise-probe noise-own mismatch lowbit combined}
pre_epochs=${HW_PRETRAIN_EPOCHS:-20}
ft_epochs=${HW_FINETUNE_EPOCHS:-5}
search_epochs=${HW_SEARCH_EPOCHS:-1}
lrs=${HW_LRS:-3e-6 1e-5 3e-5 1e-4 3e-4}
fit_limit=${HW_FIT_LIMIT:-0}
test_limit=${HW_TEST_LIMIT:-0}
pre_limit=${HW_PRETRAIN_LIMIT:-$fit_limit}
bin=./build/sim/opzosim
mkdir -p "$out/split"
[ -x "$bin" ] || { echo "build first: ninja -C build" >&2; exit 2; }

# Candidate levels per chip, each a '+'-joined list of hardware keys (the deployment cost
# of each is measured in step 3).
candidates() {
  case $1 in
    noise-probe | noise-own)
      for s in 0.1 0.3 0.5 0.6 0.7 0.8 0.9 1.0 1.25 1.5 1.6 1.7 1.8 1.9 2.0 2.1 2.2 2.3 2.4 2.5 \
               2.75 3.0 3.5 4.0 5.0 6.0; do echo "neuron_noise=$s"; done ;;
    mismatch)
      for s in 0.1 0.3 0.5 0.7 0.8 0.9 1.0 1.05 1.1 1.15 1.2 1.25 1.3 1.4 1.5 2.0; do
        echo "weight_mismatch=$s"
      done ;;
    lowbit) # Integer bits only: the loss jumps from one to the next (docs/HARDWARE.md).
      for b in 8 6 5 4 3 2; do echo "weight_bits=$b"; done ;;
    combined)
      for s in 0.1 0.2 0.3 0.4 0.5 0.55 0.6 0.65 0.7 0.75 0.8 0.85 0.9; do
        echo "weight_bits=4+weight_mismatch=$s+threshold_mismatch=$s+spike_drop=$s"
      done ;;
  esac
}
# --set arguments of a level: "a=1+b=2" → --set hardware.a=1 --set hardware.b=2.
level_sets() {
  local IFS=+
  for kv in $1; do printf -- '--set\nhardware.%s\n' "$kv"; done
}
# --set arguments of a rule; bp-exact is BP with the true chip.
rule_sets() {
  case $1 in
    bp-exact) printf -- '--set\nrule.name=bp\n--set\nhardware.bp_model=exact\n' ;;
    *) printf -- '--set\nrule.name=%s\n' "$1" ;;
  esac
}
noise_is_probe() { [ "$1" = noise-probe ] && echo true || echo false; }

# 1. The split: fit = the first 50000 training samples, held-out = the last 10000.
if [ ! -f "$out/split/done" ]; then
  if [ "$dataset" = mnist ]; then
    python3 - "$data" "$out/split" <<'PY'
import struct, sys
src, dst = sys.argv[1], sys.argv[2]
def read(name):
    b = open(f"{src}/{name}", "rb").read()
    nd = b[3]
    dims = struct.unpack(">" + "I" * nd, b[4:4 + 4 * nd])
    return b[:4], dims, b[4 + 4 * nd:]
def write(name, magic, dims, body):
    with open(f"{dst}/{name}", "wb") as f:
        f.write(magic + struct.pack(">" + "I" * len(dims), *dims) + body)
for kind, per in (("images-idx3", 784), ("labels-idx1", 1)):
    magic, dims, body = read(f"train-{kind}-ubyte")
    assert dims[0] == 60000
    write(f"fit-{kind}-ubyte", magic, (50000,) + dims[1:], body[:50000 * per])
    write(f"held-{kind}-ubyte", magic, (10000,) + dims[1:], body[50000 * per:])
PY
  else
    # N-MNIST's Train/D/NNNNN.bin are numbered by training image (1 … 60000): fit-test/ has
    # Train = the first 50000 and the real Test, fit-held/ Train = the same and Test = the
    # last 10000; all symbolic links to the recordings.
    python3 - "$data" "$out/split" <<'PY'
import os, sys
src, dst = os.path.abspath(sys.argv[1]), sys.argv[2]
n = 0
for d in range(10):
    for tree in ("fit-test/Train", "fit-held/Train", "fit-held/Test"):
        os.makedirs(f"{dst}/{tree}/{d}", exist_ok=True)
    for f in os.listdir(f"{src}/Train/{d}"):
        if not f.endswith(".bin"):
            continue
        held = int(f[:-4]) > 50000
        for tree in (("fit-held/Test",) if held else ("fit-test/Train", "fit-held/Train")):
            os.symlink(f"{src}/Train/{d}/{f}", f"{dst}/{tree}/{d}/{f}")
        n += 1
assert n == 60000, f"{src}/Train holds {n} recordings, not 60000"
os.symlink(f"{src}/Test", f"{dst}/fit-test/Test")
PY
  fi
  touch "$out/split/done"
fi
split=$(cd "$out/split" && pwd)
datadir=$(cd "$data" && pwd)
# The fit set for training and the test set for testing (step 2 and 5), or the held-out part
# for testing (step 4).  A given pretrained net was trained on the whole training set: it is
# fine-tuned on the whole set too (its held-out part is then not unseen: say so with the
# learning rates, or give HW_LRFILE).
if [ "$dataset" = mnist ]; then
  on_test=(--set data.dataset=idx --set "data.train_images=$split/fit-images-idx3-ubyte"
           --set "data.train_labels=$split/fit-labels-idx1-ubyte"
           --set "data.test_images=$datadir/t10k-images-idx3-ubyte"
           --set "data.test_labels=$datadir/t10k-labels-idx1-ubyte")
  on_held=(--set data.dataset=idx --set "data.train_images=$split/fit-images-idx3-ubyte"
           --set "data.train_labels=$split/fit-labels-idx1-ubyte"
           --set "data.test_images=$split/held-images-idx3-ubyte"
           --set "data.test_labels=$split/held-labels-idx1-ubyte")
else
  if [ -n "$pretrained" ]; then on_test=(--set "data.dir=$datadir")
  else on_test=(--set "data.dir=$split/fit-test"); fi
  on_held=(--set "data.dir=$split/fit-held")
fi
limits=(--set data.train_limit="$fit_limit" --set data.test_limit="$test_limit"
        --set record.spike_samples=0)
on_test+=("${limits[@]}")
on_held+=("${limits[@]}")
finished() { # db run-name
  [ -f "$1" ] && [ "$(sqlite3 "$1" "select count(*) from runs where name = '$2' and status = 'finished'" 2>/dev/null || echo 0)" -gt 0 ]
}
newest() { # db run-name → the id of the newest finished run of that name (a run stopped
  # and started again leaves an unfinished one beside it), or nothing
  sqlite3 "$1" "select max(id) from runs where name = '$2' and status = 'finished'"
}
last_test() { # db run-name → the last epoch's test accuracy, %
  sqlite3 "$1" "select printf('%.2f', 100 * e.accuracy) from runs r join epochs e on e.run_id = r.id
    where r.name = '$2' and r.status = 'finished' and e.phase = 'test'
    order by r.id desc, e.epoch desc limit 1"
}

# 2. Pretrain with BP in the ideal simulation (or take the given pretrained net).
if [ -n "$pretrained" ]; then
  IFS=: read -r pre pre_run pre_epoch <<< "$pretrained"
  [ -f "$pre" ] || { echo "HW_PRETRAINED: no run log $pre" >&2; exit 2; }
  init=$pretrained
  evalsel=()
  [ -z "$pre_run" ] || evalsel+=(--run "$pre_run")
  [ -z "$pre_epoch" ] || evalsel+=(--epoch "$pre_epoch")
  [ -f "$out/ideal.txt" ] ||
    $bin eval --db "$pre" "${evalsel[@]}" --threads "$threads" |
      sed -n 's/.*test accuracy \([0-9.]*\)%.*/\1/p' > "$out/ideal.txt"
  ideal=$(cat "$out/ideal.txt")
else
  pre=$out/pretrain.sqlite
  init=$pre
  evalsel=()
  if ! finished "$pre" pretrain; then
    $bin run "scenarios/paper/${dataset}-fc-bp.ini" --db "$pre" --quiet --threads "$threads" \
      --set run.name=pretrain --set run.epochs="$pre_epochs" "${on_test[@]}" \
      --set data.train_limit="$pre_limit"
  fi
  ideal=$(last_test "$pre" pretrain)
fi
echo "pretrained (ideal simulation): $ideal %"

# 3. Deployment cost of each candidate level; three levels per chip.
levels=$out/levels.tsv
if [ ! -f "$levels" ]; then
  touch "$out/deploy.tsv"  # a candidate measured before (a stopped study) is kept
  for chip in $chips; do
    for c in $(candidates "$chip"); do
      awk -F'\t' -v k="$chip" -v c="$c" '$1 == k && $2 == c { f = 1 } END { exit !f }' \
        "$out/deploy.tsv" && continue
      mapfile -t sets < <(level_sets "$c")
      acc=$($bin eval --db "$pre" "${evalsel[@]}" --threads "$threads" "${sets[@]}" \
              --set "hardware.noise_is_probe=$(noise_is_probe "$chip")" |
            sed -n 's/.*test accuracy \([0-9.]*\)%.*/\1/p')
      printf '%s\t%s\t%s\n' "$chip" "$c" "$acc" | tee -a "$out/deploy.tsv"
    done
  done
  # Per chip and target loss (5, 10, 20 points): the candidate closest to it.  A chip whose
  # loss jumps past the targets (low-bit weights: integer bits) gets fewer than three
  # distinct levels; it also gets the next harsher candidate, named by its own loss.
  awk -F'\t' -v ideal="$ideal" '
    { chip[NR] = $1; lev[NR] = $2; acc[NR] = $3; n = NR }
    END {
      split("5 10 20", target, " ")
      for (i = 1; i <= n; i++) seen[chip[i]] = 1
      for (c in seen) {
        distinct = 0; delete used; worst = -1
        for (t = 1; t <= 3; t++) {
          best = -1
          for (i = 1; i <= n; i++)
            if (chip[i] == c) {
              d = (ideal - acc[i]) - target[t]; if (d < 0) d = -d
              if (best < 0 || d < bestd) { best = i; bestd = d }
            }
          printf "%s\t%d\t%s\t%s\n", c, target[t], lev[best], acc[best]
          if (!(best in used)) { used[best] = 1; distinct++ }
          if (worst < 0 || acc[best] < acc[worst]) worst = best
        }
        if (distinct < 3) {
          next_i = -1
          for (i = 1; i <= n; i++)
            if (chip[i] == c && acc[i] < acc[worst] && (next_i < 0 || acc[i] > acc[next_i]))
              next_i = i
          if (next_i >= 0)
            printf "%s\t%d\t%s\t%s\n", c, int(ideal - acc[next_i] + 0.5), lev[next_i], acc[next_i]
        }
      }
    }' "$out/deploy.tsv" | sort -k1,1 -k2,2n > "$levels"
fi
echo "levels (chip, target loss, keys, deployed accuracy %):"; cat "$levels"

# A level closest to two targets is run once: the rows of levels.tsv to run, each chip's
# distinct levels in target order, the chips in HW_CHIPS order (the Table 4 chip first by
# default, so that a study stopped early has it).
ft=$out/finetune.sqlite
mapfile -t rows < <(awk -F'\t' -v order="$chips" '
  BEGIN { n = split(order, c, " "); for (i = 1; i <= n; i++) pos[c[i]] = i }
  ($1 in pos) && !seen[$1 FS $3]++ { printf "%d\t%s\n", pos[$1], $0 }' "$levels" |
  sort -s -t$'\t' -k1,1n | cut -f2-)
# The deployed network as a test-only run on each chosen level (for the figure; the table's
# "deployed" column is this run's accuracy: the same scenario and noise streams as the
# fine-tuned runs' test phases).
for r in "${rows[@]}"; do
  IFS=$'\t' read -r chip target keys _ <<< "$r"
  [[ " $chips " == *" $chip "* ]] || continue
  name="deploy-$chip-$target"
  if ! finished "$ft" "$name"; then
    mapfile -t sets < <(level_sets "$keys")
    $bin run "scenarios/hardware/$prefix$chip.ini" --db "$ft" --quiet --threads "$threads" \
      --init-from "$init" --set run.name="$name" --set run.mode=infer --set rule.name=bp \
      "${sets[@]}" "${on_test[@]}"
  fi
done

# 4. The learning rate per rule: fine-tune on the strongest noise-probe level, score on the
# held-out part.
lrfile=$out/lr.tsv
if [ -n "$lr_given" ] && [ ! -f "$lrfile" ]; then
  cp "$lr_given" "$lrfile"
fi
if [ ! -f "$lrfile" ]; then
  strongest=$(awk -F'\t' '$1 == "noise-probe" && $2 == 20 { print $3 }' "$levels")
  [ -n "$strongest" ] || strongest=$(awk -F'\t' '$2 == 20 { print $3; exit }' "$levels")
  search=$out/lr-search.sqlite
  : > "$out/lr-search.tsv"
  for rule in $rules; do
    for lr in $lrs; do
      name="lr-$rule-$lr"
      if ! finished "$search" "$name"; then
        mapfile -t sets < <(level_sets "$strongest"; rule_sets "$rule")
        $bin run "scenarios/hardware/${prefix}noise-probe.ini" --db "$search" --quiet \
          --threads "$threads" --init-from "$init" --set run.name="$name" \
          --set run.epochs="$search_epochs" --set optimizer.lr="$lr" "${sets[@]}" \
          "${on_held[@]}" || true
      fi
      printf '%s\t%s\t%s\n' "$rule" "$lr" "$(last_test "$search" "$name")" |
        tee -a "$out/lr-search.tsv"
    done
  done
  awk -F'\t' '$3 != "" && (!($1 in best) || $3 > best[$1]) { best[$1] = $3; lr[$1] = $2 }
    END { for (r in lr) printf "%s\t%s\t%s\n", r, lr[r], best[r] }' "$out/lr-search.tsv" \
    > "$lrfile"
fi
echo "learning rates (rule, lr, held-out accuracy %):"; cat "$lrfile"

# 5. Fine-tune every chip × level × rule and test on the chip.
table=$out/table.md
{
  printf '| chip | level (target loss) | deployed |'
  for rule in $rules; do printf ' %s |' "$([ "$rule" = bp-exact ] && echo 'bp exact (reference)' || echo "$rule")"; done
  printf '\n|---|---|---|'; for rule in $rules; do printf -- '---|'; done; printf '\n'
} > "$table"
for r in "${rows[@]}"; do
  IFS=$'\t' read -r chip target keys _ <<< "$r"
  [[ " $chips " == *" $chip "* ]] || continue
  row="| $chip | $keys (−$target) | $(last_test "$ft" "deploy-$chip-$target") |"
  for rule in $rules; do
    lr=$(awk -F'\t' -v r="$rule" '$1 == r { print $2 }' "$lrfile")
    name="ft-$chip-$target-$rule"
    if ! finished "$ft" "$name"; then
      mapfile -t sets < <(level_sets "$keys"; rule_sets "$rule")
      $bin run "scenarios/hardware/$prefix$chip.ini" --db "$ft" --quiet --threads "$threads" \
        --init-from "$init" --set run.name="$name" --set run.epochs="$ft_epochs" \
        --set optimizer.lr="${lr:-1e-5}" "${sets[@]}" "${on_test[@]}" || true
    fi
    row="$row $(last_test "$ft" "$name") |"
  done
  echo "$row" >> "$table"
  echo "$row"
done
echo "ideal simulation: $ideal %; table: $table"

# The figures: per chip, test accuracy against its level, one line per rule and the
# deployed network ("bp": the BP-pretrained net as deployed; "RULE train": fine-tuned with RULE).
xkey() {
  case $1 in
    noise-probe | noise-own) echo hardware.neuron_noise ;;
    mismatch | combined) echo hardware.weight_mismatch ;;
    lowbit) echo hardware.weight_bits ;;
  esac
}
for chip in $chips; do
  sel=()
  for r in "${rows[@]}"; do
    IFS=$'\t' read -r c target _ <<< "$r"
    [ "$c" = "$chip" ] || continue
    for name in "deploy-$chip-$target" $(printf "ft-$chip-$target-%s " $rules); do
      id=$(newest "$ft" "$name")
      [ -n "$id" ] && sel+=(--run "$id")
    done
  done
  [ ${#sel[@]} -gt 0 ] || continue
  $bin plot "$ft" "${sel[@]}" --what levels --x "$(xkey "$chip")" \
    --by rule.name,run.mode,hardware.bp_model --out "$out/$chip.png" --data "$out/$chip.csv" ||
    echo "no figure for $chip (opzosim plot --what levels)" >&2
done
