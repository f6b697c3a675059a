#!/usr/bin/env bash
# scripts/mutate.sh [NAME...] — do the tests notice when the code they guard breaks?
#
# Applies, one at a time, a one-line break to code that a test covers (docs/RELIABILITY.md's
# statements), rebuilds a build of its own (build-mutate), runs that one test through its
# Criterion binary (--filter suite/test), and restores the file — always, also on ^C or
# SIGTERM.  A mutation is found by exact text, not by line number, so the table survives
# edits; a pattern that does not match exactly once is an error (the table needs updating).
# Prints: mutation | test | FAILED (good) / PASSED (bad).  Exits 1 if any test passed with
# its code broken or any pattern did not match.  Not part of CI (a few minutes).
#
# NAME... runs only the mutations whose names contain one of the words.  Each test is first
# run on the unbroken code (a test that fails anyway proves nothing); --no-baseline skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${OZ_MUTATE_BUILDDIR:-build-mutate}
if [ ! -f "$BUILD/build.ninja" ]; then
  meson setup "$BUILD" >/dev/null
fi
ninja -C "$BUILD" >/dev/null
exec python3 - "$BUILD" "$@" <<'PYTHON'
import os, re, signal, subprocess, sys

build = sys.argv[1]
args = [a for a in sys.argv[2:] if a != "--no-baseline"]
baseline = "--no-baseline" not in sys.argv[2:]

# name, file, exact text (may span lines), replacement, test binary, Criterion filter.
MUTATIONS = [
    # --- docs/RELIABILITY.md statements tested by tests/test-claims.c and test-e2e-claims.c
    ("readout-vs-classes", "sim/oz-run.c",
     "if (run->readout->n != run->sc->data.classes) {", "if (0) {",
     "test-claims", "claims/a_readout_size_other_than_the_classes_is_a_scenario_error"),
    ("bp-delay-limit", "plasticity/oz-learner.c",
     "if (bp && (h->jitter_ticks > 0 || h->delay_ticks != h0->delay_ticks)) {",
     "if (bp && h->jitter_ticks > 0) {",
     "test-claims", "claims/bp_with_per_population_delays_or_jitter_is_a_rule_error"),
    ("step-every-tick-limit", "plasticity/oz-learner.c",
     "if (lat > 0 && l->p.step_every_tick) {", "if (lat > 1 && l->p.step_every_tick) {",
     "test-claims", "claims/a_step_every_tick_with_delayed_errors_is_a_rule_error"),
    ("idx-limit-boundary", "io/oz-idx.c",
     "if ((guint64)buf->len + (guint64)r >= max_bytes) {",
     "if ((guint64)buf->len + (guint64)r > max_bytes) {",
     "test-claims",
     "claims/a_gzip_body_that_decompresses_past_the_limit_is_an_error_naming_file_and_limit"),
    ("idx-limit-default", "io/oz-idx-private.h",
     "#define OZ__IDX_MAX_BYTES ((guint64)1 << 32)", "#define OZ__IDX_MAX_BYTES ((guint64)1 << 33)",
     "test-claims", "claims/the_idx_limit_is_4_GiB"),
    ("helper-start-warning", "engine/oz-par.c",
     'g_warning("oz-par: could not start helper thread %d; using %d threads", i, i);', "(void)0;",
     "test-claims",
     "claims/a_helper_thread_that_fails_to_start_is_a_warning_and_the_team_continues"),
    ("resume-finished-run", "sim/oz-main.c",
     "\"'finished' ORDER BY id DESC LIMIT 1\",", "\"'none' ORDER BY id DESC LIMIT 1\",",
     "test-e2e-claims", "e2e_claims/resume_without_an_unfinished_run_exits_2_saying_so"),
    ("resume-changed-scenario", "sim/oz-main.c",
     "if (g_strcmp0(text, sc->text) != 0) {", "if (0) {",
     "test-e2e-claims", "e2e_claims/resume_with_a_changed_scenario_exits_2_saying_so"),
    ("resume-missing-tensor", "sim/oz-main.c",
     "case OZ_CHECKPOINT_ERROR_MISSING:\n            return EXIT_USAGE;",
     "case OZ_CHECKPOINT_ERROR_MISSING:\n            return EXIT_FAIL;",
     "test-e2e-claims",
     "e2e_claims/an_interruption_state_lacking_a_required_tensor_is_refused_naming_it"),
    ("finish-three-attempts", "sim/oz-main.c",
     "for (int attempt = 0; attempt < 3; attempt++) {",
     "for (int attempt = 0; attempt < 2; attempt++) {",
     "test-e2e-claims",
     "e2e_claims/marking_the_run_row_is_tried_three_times_then_the_row_stays_running"),
    # --- statements of docs/RELIABILITY.md whose tests were written or sharpened in the
    # statement-by-statement check (issue 11)
    ("feedback-non-lif", "io/oz-scenario.c",
     'if (!target || strcmp(target->model, "lif") != 0) {', "if (!target) {",
     "test-scenario", "scenario/feedback_into_a_population_that_is_not_lif_is_named"),
    ("section-name-chars", "io/oz-scenario.c",
     "if (!g_ascii_isalnum(*s) && *s != '_' && *s != '-')",
     "if (!g_ascii_isalnum(*s) && *s != '_' && *s != '-' && *s != '.')",
     "test-scenario", "scenario/section_names_are_letters_digits_underscore_and_dash"),
    ("missing-key-help", "io/oz-scenario.c",
     '"required key is missing (%s)", ks->help', '"required key is missing%s", ""',
     "test-scenario", "scenario/missing_required_key_is_named"),
    ("enum-shows-value", "io/oz-scenario.c",
     "\"expected one of %s, got '%s'%s\", list, v, sug", "\"expected one of %s, got %s%s\", list, v, sug",
     "test-scenario", "scenario/wrong_type_is_named"),
    ("not-a-key-file", "io/oz-scenario.c",
     '"%s: not a valid key file: %s", path', '"%s: %s", path',
     "test-scenario", "scenario/syntax_error_names_the_file"),
    ("set-suffix", "io/oz-scenario.c",
     'from_cli ? " (set with --set)" : ""', 'from_cli ? " (--set)" : ""',
     "test-scenario", "scenario/overrides_apply_and_are_named_in_errors"),
    ("set-no-section", "io/oz-scenario.c",
     "if (named && !g_key_file_has_group(kf, section)) {",
     "if (0 && named && !g_key_file_has_group(kf, section)) {",
     "test-e2e-claims", "e2e_claims/a_bad_set_exits_2_saying_what_is_wrong"),
    ("rule-list", "io/oz-scenario.c",
     '"bp|dfa|dkp|zo|opzo", "opzo"', '"bp|dfa|dkp|opzo", "opzo"',
     "test-learning", "learning/unknown_rule_is_a_scenario_error"),
    ("bp-names-population", "plasticity/oz-learner.c",
     '"population needs the same delay and no jitter",\n                        h->pop->name);',
     '"population needs the same delay and no jitter",\n                        h0->pop->name);',
     "test-claims", "claims/bp_with_per_population_delays_or_jitter_is_a_rule_error"),
    ("input-vs-data", "sim/oz-run.c",
     "if (run->input->n != set->features) {", "if (0 && run->input->n != set->features) {",
     "test-e2e-claims", "e2e_claims/an_input_size_other_than_the_data_exits_2_naming_both"),
    ("cycle-lists-all", "neurons/oz-network.c",
     'g_string_append_printf(names, "%s%s", names->len ? ", " : "", p->name);',
     "g_string_assign(names, p->name);",
     "test-e2e", "e2e/malformed_scenarios_exit_2_naming_file_section_key"),
    ("idx-cannot-open", "io/oz-idx.c",
     '"%s: cannot open: %s", path,', '"%s: cannot read: %s", path,',
     "test-e2e", "e2e/an_unreadable_data_file_is_a_clear_error"),
    ("loss-guard", "sim/oz-run.c",
     "if (run->learner && !isfinite(run->learner->loss_sum)) {",
     "if (0 && run->learner && !isfinite(run->learner->loss_sum)) {",
     "test-e2e-claims",
     "e2e_claims/a_loss_that_becomes_nan_fails_the_run_naming_the_last_good_checkpoint"),
    ("weights-guard", "sim/oz-run.c",
     "if (!all_finite(p->w, (gsize)p->n_pre * p->n_post)) {",
     "if (0 && !all_finite(p->w, (gsize)p->n_pre * p->n_post)) {",
     "test-e2e-exit", "e2e/a_numeric_fault_exits_1_and_fails_the_run"),
    ("interrupt-state-named", "sim/oz-checkpoint.c",
     'c.where = g_strdup_printf("interruption state of run %" G_GINT64_FORMAT, run_id);',
     'c.where = g_strdup_printf("checkpoint of run %" G_GINT64_FORMAT, run_id);',
     "test-e2e-claims",
     "e2e_claims/an_interruption_state_lacking_a_required_tensor_is_refused_naming_it"),
    ("runlog-exit-1", "sim/oz-main.c",
     "and anything else. */\n    return EXIT_FAIL;", "and anything else. */\n    return EXIT_USAGE;",
     "test-e2e-claims", "e2e_claims/a_run_log_that_cannot_be_opened_exits_1_naming_it"),
    ("checkpoint-insert-columns", "io/oz-runlog.c",
     '"INSERT OR REPLACE INTO checkpoints(run_id, epoch, name, dtype, shape,"\n'
     '                           " data) VALUES(?,?,?,?,?,?)"',
     '"INSERT OR REPLACE INTO checkpoints VALUES(?,?,?,?,?,?)"',
     "test-e2e-claims",
     "e2e_claims/a_column_added_to_a_table_whose_insert_names_its_columns_breaks_no_write"),
    ("idx-label-offset", "io/oz-idx.c",
     "labels_path, lb.data[i], i, 8 + i, classes - 1);",
     "labels_path, lb.data[i], i, i, classes - 1);",
     "test-idx", "idx/image_set_checks_counts_and_labels"),
    ("gzip-says-corrupt", "io/oz-idx.c",
     'gz ? " of decompressed data (corrupt or truncated gzip?)" : "",',
     'gz ? " of decompressed data" : "",',
     "test-idx", "idx/corrupt_gzip_is_an_error"),
    ("team-pending-ordering", "engine/oz-par.c",
     "atomic_fetch_sub_explicit(&team.pending, 1, memory_order_release);",
     "atomic_fetch_sub_explicit(&team.pending, 2, memory_order_release);",
     "test-team-stress", None),
    # --- the main statements that were tested before
    ("resume-bit-identity", "sim/oz-checkpoint.c",
     'emit_rng(w, KIND_TRAIN, "shuffle", &run->rng_shuffle);', "",
     "test-e2e", "e2e/interrupted_anywhere_then_resumed_equals_uninterrupted"),
    ("idx-truncated-body", "io/oz-idx.c",
     "if (len - head < count) {", "if (0) {",
     "test-idx", "idx/truncated_body_names_the_offset"),
    ("scenario-out-of-range", "io/oz-scenario.c",
     "if (d < ks->min || d > ks->max) {", "if (d < ks->min) {",
     "test-scenario", "scenario/out_of_range_is_named"),
    # (Turning the failed batch's ROLLBACK into COMMIT is no break on a full disk: SQLite
    # rolls the transaction back itself on SQLITE_FULL, and the test rightly passes.)
    ("full-disk-marks-failed", "sim/oz-main.c",
     'if (werr) {\n        *status = "failed";',
     'if (werr) {\n        *status = "finished";',
     "test-e2e", "e2e/a_full_disk_fails_the_run_cleanly_and_keeps_committed_epochs"),
    ("runaway-guard", "sim/oz-run.c",
     "if (sc->run.runaway_batches <= 0 || ph->kind != OZ_PHASE_TRAIN)", "if (1)",
     "test-e2e", "e2e/numerical_guards_stop_the_run_and_keep_the_last_good_checkpoint"),
    ("delay-emission-order", "plasticity/oz-learner.c",
     "h->arrived[slot_of(l, te)] = te;",
     "apply_signal(l, h, te, te - h->lag);\n    return;",
     "test-learning", "delays/stored_eligibility_with_any_delays_and_jitter_equals_no_delay"),
]

if args:
    MUTATIONS = [m for m in MUTATIONS if any(a in m[0] for a in args)]
    if not MUTATIONS:
        sys.exit("mutate.sh: no mutation named like " + " ".join(args))

# The file being mutated and its text, restored on any exit.  `current` is set before the
# mutated text is written and cleared only once the original is back on disk.
current = None

def restore():
    global current
    if current:
        path, text = current
        with open(path, "w") as f:
            f.write(text)
        current = None

# A signal only raises: the restore is left to `finally`, after any write in progress has
# been closed (restoring inside the handler could be overwritten by that write's flush).
def on_signal(signum, frame):
    raise SystemExit(128 + signum)

signal.signal(signal.SIGINT, on_signal)
signal.signal(signal.SIGTERM, on_signal)

# An absolute path: a test may run the program from another working directory.
env = dict(os.environ, OZ_BIN=os.path.abspath(os.path.join(build, "sim", "opzosim")),
           OPENBLAS_NUM_THREADS="1")

def build_ok():
    return subprocess.run(["ninja", "-C", build], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0

def run_test(binary, flt):
    cmd = [os.path.join(build, "tests", binary)]
    if flt:
        cmd += ["--filter", flt]
    try:
        r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                           timeout=300, text=True, errors="replace")
    except subprocess.TimeoutExpired:
        return False, "timeout"
    # Criterion exits 0 when every selected test passed; a filter that selects nothing
    # would pass too, so the synthesis must count one test.
    if flt and "Tested: 1 " not in re.sub(r"\x1b\[[0-9;]*m", "", r.stderr):
        if r.returncode == 0:
            return True, "selected no test"
    return r.returncode == 0, ""

problems = 0
if baseline:
    seen = set()
    for m in MUTATIONS:
        key = (m[4], m[5])
        if key in seen:
            continue
        seen.add(key)
        ok, why = run_test(*key)
        if not ok or why:
            print(f"mutate.sh: {m[4]} {m[5] or ''} does not pass on the unbroken code"
                  f" ({why or 'failed'})", file=sys.stderr)
            problems += 1
    if problems:
        sys.exit(1)

rows = []
try:
    for name, path, pattern, replacement, binary, flt in MUTATIONS:
        with open(path) as f:
            text = f.read()
        n = text.count(pattern)
        if n != 1:
            rows.append((name, f"{path}: pattern found {n} times", "NO MATCH"))
            problems += 1
            continue
        current = (path, text)
        with open(path, "w") as f:
            f.write(text.replace(pattern, replacement))
        if not build_ok():
            verdict = "BUILD FAILED"
            problems += 1
        else:
            ok, why = run_test(binary, flt)
            if why == "selected no test":
                verdict = "NO TEST"
                problems += 1
            elif ok:
                verdict = "PASSED (bad)"
                problems += 1
            else:
                verdict = "FAILED (good)" + (f", {why}" if why else "")
        restore()
        rows.append((name, f"{binary} {flt or ''}".strip(), verdict))
        print(f"{name}: {verdict}", file=sys.stderr, flush=True)
finally:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    restore()
    build_ok()

w0 = max(len(r[0]) for r in rows + [("mutation",)])
w1 = max(len(r[1]) for r in rows + [("", "test")])
print(f"{'mutation':<{w0}} | {'test':<{w1}} | result")
print(f"{'-' * w0}-|-{'-' * w1}-|-------")
for r in rows:
    print(f"{r[0]:<{w0}} | {r[1]:<{w1}} | {r[2]}")
sys.exit(1 if problems else 0)
PYTHON
