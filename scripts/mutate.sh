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
    # The chain rules' check (bp's check_feedback calls it).
    ("bp-delay-limit", "plasticity/oz-learner.c",
     "if (h->jitter_ticks > 0 || h->delay_ticks != h0->delay_ticks) {",
     "if (h->jitter_ticks > 0) {",
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
    # A refused interruption state (MISSING) exits by exit_code_for: moved to the failures.
    ("resume-missing-tensor", "sim/oz-main.c",
     "case OZ_CHECKPOINT_ERROR_MISSING:\n            return EXIT_USAGE;\n"
     "        case OZ_CHECKPOINT_ERROR_CORRUPT:",
     "return EXIT_USAGE;\n        case OZ_CHECKPOINT_ERROR_MISSING:\n"
     "        case OZ_CHECKPOINT_ERROR_CORRUPT:",
     "test-e2e-claims",
     "e2e_claims/an_interruption_state_lacking_a_required_tensor_is_refused_naming_it"),
    ("finish-three-attempts", "sim/oz-main.c",
     "for (int attempt = 0; attempt < 3; attempt++) {",
     "for (int attempt = 0; attempt < 2; attempt++) {",
     "test-e2e-claims",
     "e2e_claims/marking_the_run_row_is_tried_three_times_then_the_row_stays_running"),
    # --- statements of docs/RELIABILITY.md whose tests were written or sharpened in the
    # statement-by-statement check (issue 11)
    ("feedback-non-learnable", "io/oz-scenario.c",
     "if (!target || !learnable(target)) {", "if (!target) {",
     "test-scenario", "scenario/feedback_into_a_population_that_does_not_learn_is_named"),
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
    ("rule-list", "plasticity/oz-rule-registry.c",
     "for (int i = 0; rules[i]; i++)\n            g_string_append_printf(g, \"%s%s\", i ? sep : \"\", rules[i]->name);",
     "for (int i = 0; rules[i] && rules[i + 1]; i++)\n            g_string_append_printf(g, \"%s%s\", i ? sep : \"\", rules[i]->name);",
     "test-learning", "rules/registry_entries_are_well_formed_and_checked"),
    ("bp-names-population", "plasticity/oz-learner.c",
     "h->pop->name, l->rule->name);", "h0->pop->name, l->rule->name);",
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
     "if (!all_finite(p->w, p->nw)) {", "if (0 && !all_finite(p->w, p->nw)) {",
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
    # A population's lambda and v_th are model keys since issue 12: their range is checked
    # by the model's parameter table (engine/oz-params.c), the schema's by the row above.
    ("model-key-out-of-range", "engine/oz-params.c",
     "if (d < s->min || d > s->max) {", "if (d < s->min) {",
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
    # --- learning: tests/test-learning.c
    ("dkp-no-feedback-gradient", "feedback/oz-feedback.c",
     "oz_sgemm(CblasTrans, CblasNoTrans, p->n, p->m, c->rows, 1.0f, c->trace, p->n, c->e, p->m,"
     " 1.0f,\n             p->grad, p->m);",
     "(void)c;",
     "test-learning", "rules/match_the_reference"),
    ("dkp-signal-zeroed", "plasticity/oz-learner.c",
     "h->path.ops->signal(&h->path, &ctx, g_s);",
     "h->path.ops->signal(&h->path, &ctx, g_s);\n"
     "    if (h->path.ops == oz_feedback_lookup(\"learned\"))\n"
     "        memset(g_s, 0, sizeof(float) * (gsize)rows * n);",
     "test-learning", "rules/match_the_reference"),
    ("per-window-signal-zeroed", "plasticity/oz-learner.c",
     "h->path.ops->signal(&h->path, &ctx, g_s);",
     "h->path.ops->signal(&h->path, &ctx, g_s);\n"
     "    if (h->path.per_window)\n"
     "        memset(g_s, 0, sizeof(float) * (gsize)rows * n);",
     "test-learning", "learning/alternative_readings_match_reference"),
    ("stored-signal-lag-dropped", "plasticity/oz-learner.c",
     "apply_signal(l, h, h->next_te, h->next_te - h->lag);",
     "apply_signal(l, h, h->next_te, h->next_te);",
     "test-learning", "delays/projection_delays_shift_time_and_learn_the_same"),
    ("probe-not-from-drawn-keys", "plasticity/oz-learner.c",
     "oz_noise_sample_key(l->p.noise, l->noise_keys[(gsize)k * l->hidden->len + h], f->z, rows,",
     "oz_noise_sample_key(l->p.noise, oz_rng_next(l->rng_noise), f->z, rows,",
     "test-learning", "delays/projection_delays_learn_the_same_with_the_probe"),
    ("sparse-flush-never", "plasticity/oz-learner.c",
     "if (!g->sparse_ok || !g->consecutive || g->entries == 0)\n        return FALSE;",
     "if (TRUE || !g->sparse_ok || !g->consecutive || g->entries == 0)\n        return FALSE;",
     "test-learning", "delays/stored_eligibility_with_any_delays_and_jitter_equals_no_delay"),
    ("sparse-flush-never-chunks", "plasticity/oz-learner.c",
     "if (!g->sparse_ok || !g->consecutive || g->entries == 0)\n        return FALSE;",
     "if (TRUE || !g->sparse_ok || !g->consecutive || g->entries == 0)\n        return FALSE;",
     "test-learning", "learning/sparse_gradient_chunks_match_reference"),
    ("sparse-h-recurrence", "plasticity/oz-learner.c",
     "gt[x] = gu[x] + j->lam * gt[x];", "gt[x] = gu[x] + 1.01f * j->lam * gt[x];",
     "test-learning", "learning/sparse_gradient_chunks_match_reference"),
    # Helper threads' neurons take their changes in reverse row order: the sums depend on
    # the split.
    ("sparse-fill-order-by-part", "plasticity/oz-learner.c",
     "for (int r = 0; r < K; r++) {\n        const int *di = g->didx + (gsize)r * n_pre;\n"
     "        const float *dv",
     "for (int rr = 0; rr < K; rr++) {\n        const int r = part > 0 ? K - 1 - rr : rr;\n"
     "        const int *di = g->didx + (gsize)r * n_pre;\n        const float *dv",
     "test-learning", "learning/sparse_gradient_is_the_same_at_any_thread_count"),
    # --- delivery: tests/test-neurons.c, test-par.c (the dense kind's, since issue 12)
    ("delta-delivery-off", "neurons/oz-kind-dense.c",
     "p->have_prev && (p->p.delta_refresh <= 0 || p->delta_run < p->p.delta_refresh);",
     "FALSE && p->have_prev && (p->p.delta_refresh <= 0 || p->delta_run < p->p.delta_refresh);",
     "test-neurons", "neurons/delta_delivery_equals_the_direct_product_packet_after_packet"),
    ("delta-delivery-off-par", "neurons/oz-kind-dense.c",
     "p->have_prev && (p->p.delta_refresh <= 0 || p->delta_run < p->p.delta_refresh);",
     "FALSE && p->have_prev && (p->p.delta_refresh <= 0 || p->delta_run < p->p.delta_refresh);",
     "test-par", "par/delta_delivery_is_the_same_at_any_thread_count"),
    ("event-delivery-dense", "neurons/oz-kind-dense.c",
     "case OZ_DELIVERY_EVENT:\n        dense = FALSE;", "case OZ_DELIVERY_EVENT:\n        dense = TRUE;",
     "test-neurons", "neurons/event_delivery_equals_dense_matrix_product"),
    # --- projection kinds: tests/test-kinds.c (the sparse kind against its dense twin)
    ("sparse-synops-per-spike", "neurons/oz-kind-sparse.c",
     "p->synops += degree(s, idx[(gsize)b * p->n_pre + m]);", "p->synops += 1;",
     "test-kinds", "kinds/sparse_delivery_gradient_chain_and_synops_equal_the_dense_twin"),
    ("sparse-grad-sample-0", "neurons/oz-kind-sparse.c",
     "for (int b = 0; b < j->rows; b++) {\n            const float a = j->pre[(gsize)b * p->n_pre + i];",
     "for (int b = 0; b < 1; b++) {\n            const float a = j->pre[(gsize)b * p->n_pre + i];",
     "test-kinds", "kinds/sparse_delivery_gradient_chain_and_synops_equal_the_dense_twin"),
    ("sparse-chain-first-synapse", "neurons/oz-kind-sparse.c",
     "sum += d[s->col[k]] * j->c[k];", "sum += d[s->col[k]] * j->c[s->start[i]];",
     "test-kinds", "kinds/sparse_delivery_gradient_chain_and_synops_equal_the_dense_twin"),
    ("kind-check-accumulate", "neurons/oz-kind-registry.c",
     "!ops->deliver || !ops->accumulate ||", "!ops->deliver ||",
     "test-kinds", "kinds/every_registered_kind_is_well_formed_and_found_by_name"),
    ("kind-params-owner", "sim/oz-run.c",
     'g_autofree char *owner = g_strdup_printf("projection %s", p->name);',
     'g_autofree char *owner = g_strdup_printf("%s", p->name);',
     "test-kinds", "kinds/kind_keys_are_validated_run_and_logged_with_their_projection"),
    # --- IDX: tests/test-idx.c
    ("idx-size-product-wraps", "io/oz-idx.c",
     "if (out->dims[i] > IDX_MAX_BYTES / count)", "if (count * out->dims[i] > IDX_MAX_BYTES)",
     "test-idx", "idx/a_product_of_sizes_that_wraps_64_bits_is_rejected"),
    ("idx-zero-size-offset", "io/oz-idx.c",
     "path, i,\n                        4 + 4 * i);", "path, i,\n                        4 * i);",
     "test-idx", "idx/a_zero_size_is_named_with_its_offset"),
    # --- run names and scenario text: tests/test-scenario.c, test-e2e-names.c
    ("run-name-unchecked", "io/oz-scenario.c",
     "if (oz_scenario_name_is_plain(sc->run.name, &why))",
     "if (TRUE || oz_scenario_name_is_plain(sc->run.name, &why))",
     "test-scenario", "scenario/run_names_that_are_not_plain_are_rejected"),
    ("run-name-unchecked-e2e", "io/oz-scenario.c",
     "if (oz_scenario_name_is_plain(sc->run.name, &why))",
     "if (TRUE || oz_scenario_name_is_plain(sc->run.name, &why))",
     "test-e2e-names", "e2e_names/a_run_name_that_leaves_runs_exits_2_and_writes_nothing"),
    ("run-name-slash", "io/oz-scenario.c",
     "return g_ascii_isalnum(ch) || ch == '-' || ch == '_' || ch == '.';",
     "return g_ascii_isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '/';",
     "test-scenario", "scenario/run_names_that_are_not_plain_are_rejected"),
    ("keyfile-read-errors-ignored", "io/oz-scenario.c",
     "if (kerr && !g_error_matches(kerr, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND) &&",
     "if (FALSE && kerr && !g_error_matches(kerr, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND) &&",
     "test-scenario", "scenario/an_escaped_nul_in_a_value_is_an_error_not_a_cut_name"),
    ("scenario-nul-byte", "io/oz-scenario.c",
     "const char *nul = memchr(text, '\\0', len);", "const char *nul = NULL;",
     "test-scenario", "scenario/a_nul_byte_in_the_file_is_an_error"),
    ("run-name-max-boundary", "io/oz-scenario.c",
     "else if (!reason && len > OZ_RUN_NAME_MAX)", "else if (!reason && len >= OZ_RUN_NAME_MAX)",
     "test-scenario", "scenario/plain_run_names_are_accepted"),
    ("default-name-prefix", "io/oz-scenario.c",
     'g_string_prepend(s, "run");', 'g_string_prepend(s, "r");',
     "test-scenario", "scenario/a_defaulted_run_name_is_the_file_name_made_plain"),
    ("eval-plain-name", "sim/oz-main.c",
     '{"run.mode=infer", "record.spike_samples=0", "run.name=eval", NULL};',
     '{"run.mode=infer", "record.spike_samples=0", NULL};',
     "test-e2e-names", "e2e_names/eval_of_a_stored_scenario_whose_name_is_not_plain_still_works"),
    # --- checkpoints: tests/test-checkpoint.c
    ("load-skips-grad-stats", "sim/oz-checkpoint.c",
     'if (!c->ok || !wanted(c->what, t->kind) || strcmp(t->name, "format") == 0)',
     'if (!c->ok || !wanted(c->what, t->kind) || strcmp(t->name, "format") == 0 ||\n'
     '        g_str_has_prefix(t->name, "gs:"))',
     "test-checkpoint", "checkpoint/every_tensor_round_trips_bit_for_bit"),
    ("bytes-big-endian", "sim/oz-checkpoint.c",
     "out[i * size + k] = (guint8)(u >> (8 * k));",
     "out[i * size + k] = (guint8)(u >> (8 * (size - 1 - k)));",
     "test-checkpoint", "checkpoint/bytes_are_little_endian_whatever_the_host"),
    ("optional-no-default", "sim/oz-checkpoint.c",
     "if (t->optional) {\n            memset(t->data, 0, count * size);\n            return;\n",
     "if (t->optional) {\n            return;\n",
     "test-checkpoint", "checkpoint/a_missing_optional_tensor_takes_its_default"),
    ("shape-unchecked", "sim/oz-checkpoint.c",
     "if (strcmp(dtype, dtypes[t->dtype].name) != 0 || strcmp(got_shape, shape) != 0) {",
     "if (strcmp(dtype, dtypes[t->dtype].name) != 0) {",
     "test-checkpoint", "checkpoint/a_wrong_shape_is_an_error_naming_the_tensor_and_both_shapes"),
    ("dtype-unchecked", "sim/oz-checkpoint.c",
     "if (strcmp(dtype, dtypes[t->dtype].name) != 0 || strcmp(got_shape, shape) != 0) {",
     "if (strcmp(got_shape, shape) != 0) {",
     "test-checkpoint", "checkpoint/a_wrong_dtype_is_an_error_naming_the_tensor_and_both_dtypes"),
    ("legacy-rng-offset", "sim/oz-checkpoint.c",
     "offset = 8 * (gsize)(dot[2] - '0');", "offset = 0;",
     "test-checkpoint", "checkpoint/a_format_2_checkpoint_loads_the_same_weights"),
    ("legacy-rng-offset-log", "sim/oz-checkpoint.c",
     "offset = 8 * (gsize)(dot[2] - '0');", "offset = 0;",
     "test-checkpoint", "checkpoint/a_format_2_log_works_for_eval_init_from_and_resume"),
    ("legacy-interrupt-accepted", "sim/oz-checkpoint.c",
     "if (c.ok && c.format != OZ_CHECKPOINT_FORMAT) {", "if (0) {",
     "test-checkpoint", "checkpoint/a_format_2_interruption_state_is_refused_by_name"),
    # --- error domains and exit codes: tests/test-e2e-exit.c
    ("learner-domain-shared", "plasticity/oz-learner.h",
     "#define OZ_LEARNER_ERROR (oz_learner_error_quark())",
     "#define OZ_LEARNER_ERROR (oz_neurons_error_quark())",
     "test-e2e-exit", "e2e/every_module_reports_under_its_own_error_domain"),
    ("exit-numeric-usage", "sim/oz-main.c",
     "case OZ_RUN_ERROR_RESUME_NOT_TRAINING:\n            return EXIT_USAGE;\n"
     "        case OZ_RUN_ERROR_NUMERIC:\n",
     "case OZ_RUN_ERROR_RESUME_NOT_TRAINING:\n        case OZ_RUN_ERROR_NUMERIC:\n"
     "            return EXIT_USAGE;\n",
     "test-e2e-exit", "e2e/a_numeric_fault_exits_1_and_fails_the_run"),
    # RESUME_CHANGED loses its case and falls to the switch's trailing EXIT_FAIL.
    ("exit-resume-changed-fail", "sim/oz-main.c",
     "case OZ_RUN_ERROR_RESUME_CHANGED:\n        case OZ_RUN_ERROR_RESUME_NOT_TRAINING:",
     "case OZ_RUN_ERROR_RESUME_NOT_TRAINING:",
     "test-e2e-exit", "e2e/resume_with_a_changed_scenario_exits_2_and_leaves_the_run_alone"),
    ("exit-corrupt-usage", "sim/oz-main.c",
     "case OZ_CHECKPOINT_ERROR_MISSING:\n            return EXIT_USAGE;\n"
     "        case OZ_CHECKPOINT_ERROR_CORRUPT:\n",
     "case OZ_CHECKPOINT_ERROR_MISSING:\n        case OZ_CHECKPOINT_ERROR_CORRUPT:\n"
     "            return EXIT_USAGE;\n",
     "test-e2e-exit", "e2e/resume_from_a_corrupt_blob_of_the_runs_own_log_exits_1"),
    # A checkpoint of another shape is OZ_CHECKPOINT_ERROR_MISMATCH (not G_FILE_ERROR): its
    # case is moved to the failures.
    ("exit-mismatch-fail", "sim/oz-main.c",
     "case OZ_CHECKPOINT_ERROR_MISMATCH:\n        case OZ_CHECKPOINT_ERROR_MISSING:\n"
     "            return EXIT_USAGE;\n",
     "case OZ_CHECKPOINT_ERROR_MISSING:\n            return EXIT_USAGE;\n"
     "        case OZ_CHECKPOINT_ERROR_MISMATCH:\n",
     "test-e2e-exit", "e2e/init_from_a_checkpoint_of_another_shape_exits_2"),
    # --- resuming and the run log: tests/test-e2e.c
    ("load-skips-jitter-stream", "sim/oz-checkpoint.c",
     'if (!c->ok || !wanted(c->what, t->kind) || strcmp(t->name, "format") == 0)',
     'if (!c->ok || !wanted(c->what, t->kind) || strcmp(t->name, "format") == 0 ||\n'
     '        g_str_has_prefix(t->name, "rng:jitter."))',
     "test-e2e", "e2e/an_opzo_run_with_feedback_delay_and_jitter_resumes_anywhere"),
    ("state-drops-packets-delta", "sim/oz-checkpoint.c",
     'SCALAR(w, K, TRUE, &p->packets_delta, "cnt:%s.packets_delta", p->name);', "",
     "test-e2e", "e2e/a_dfa_run_with_delta_packets_and_sparse_chunks_resumes_anywhere"),
    ("state-drops-flush-counts", "sim/oz-checkpoint.c",
     'SCALAR(w, K, TRUE, &l->stage[p->id].flushes_sparse, "cnt:%s.flushes_sparse", p->name);',
     "",
     "test-e2e", "e2e/a_dfa_run_with_delta_packets_and_sparse_chunks_resumes_anywhere"),
    ("load-skips-dropout-stream", "sim/oz-checkpoint.c",
     'if (!c->ok || !wanted(c->what, t->kind) || strcmp(t->name, "format") == 0)',
     'if (!c->ok || !wanted(c->what, t->kind) || strcmp(t->name, "format") == 0 ||\n'
     '        g_str_has_prefix(t->name, "rng:dropout."))',
     "test-e2e", "e2e/resumed_run_equals_an_uninterrupted_one_and_eval_reproduces_it"),
    ("load-skips-ll", "sim/oz-checkpoint.c",
     'if (!c->ok || !wanted(c->what, t->kind) || strcmp(t->name, "format") == 0)',
     'if (!c->ok || !wanted(c->what, t->kind) || strcmp(t->name, "format") == 0 ||\n'
     '        g_str_has_prefix(t->name, "ll:"))',
     "test-e2e", "e2e/interrupted_anywhere_then_resumed_equals_uninterrupted"),
    ("state-drops-grad-stats-count", "sim/oz-checkpoint.c",
     'SCALAR(w, K, FALSE, &st->count, "gs:%s.count", pn);', "",
     "test-e2e", "e2e/interrupted_anywhere_then_resumed_equals_uninterrupted"),
    ("eligibility-always-current", "plasticity/oz-learner.c",
     "if (h->eligibility == OZ_ELIGIBILITY_CURRENT) {", "if (TRUE) {",
     "test-e2e", "e2e/sweep_runs_the_cross_product_into_one_database"),
    ("state-drops-spike-rows", "sim/oz-checkpoint.c",
     "if (run->spikes)\n        oz_log_batch_take(batch, run->spikes);", "",
     "test-e2e", "e2e/interrupted_anywhere_then_resumed_equals_uninterrupted"),
    ("older-log-no-path-columns", "io/oz-runlog.c",
     "\"ALTER TABLE synops ADD COLUMN %s INTEGER NOT NULL DEFAULT 0\", path_counters[k]);\n            sqlite3_exec(db, alter, NULL, NULL, NULL);",
     "\"ALTER TABLE synops ADD COLUMN %s INTEGER NOT NULL DEFAULT 0\", path_counters[k]);\n            (void)alter;",
     "test-e2e", "e2e/an_older_run_log_gains_the_path_counter_columns"),
    ("log-packets-delta-zero", "sim/oz-run.c",
     "(gint64)p->packets_dense, (gint64)p->packets_delta, (gint64)p->delta_rows,",
     "(gint64)p->packets_dense, (gint64)0, (gint64)p->delta_rows,",
     "test-e2e", "e2e/a_dfa_run_with_delta_packets_and_sparse_chunks_resumes_anywhere"),
    ("log-sparse-flushes-zero", "sim/oz-run.c",
     "(gint64)(g ? g->flushes_sparse : 0)", "(gint64)0",
     "test-e2e", "e2e/a_dfa_run_with_delta_packets_and_sparse_chunks_resumes_anywhere"),
    # "On a fault, the epoch checkpoint is overwritten" is no one-line change as such: what
    # keeps a faulty batch from ending its phase (epoch rows and, after a test phase, the
    # epoch's checkpoint) is this return after the guards, so it is dropped.  The test trips
    # the guard in the last batch of a training phase too, where the mutant logs the faulty
    # epoch's train row.
    ("fault-batch-continues", "sim/oz-run.c",
     "check_guards(run, ph, spikes_before, active);\n    if (run->fault)\n        return FALSE;",
     "check_guards(run, ph, spikes_before, active);",
     "test-e2e", "e2e/numerical_guards_stop_the_run_and_keep_the_last_good_checkpoint"),
    # --- a model's state tensors in checkpoints: tests/test-checkpoint.c (issue 12)
    ("checkpoint-state-not-saved", "sim/oz-checkpoint.c",
     "int n = oz_neuron_state_tensors(pop, ts, (int)G_N_ELEMENTS(ts));",
     "int n = 0 * oz_neuron_state_tensors(pop, ts, (int)G_N_ELEMENTS(ts));",
     "test-checkpoint",
     "checkpoint/a_models_state_tensors_round_trip_for_eval_init_from_and_resume"),
    ("checkpoint-state-resume-only", "sim/oz-checkpoint.c",
     'emit(w, KIND_MODEL, FALSE, DT_F32, ts[k].data, 1, ts[k].count, 0,',
     'emit(w, KIND_TRAIN, FALSE, DT_F32, ts[k].data, 1, ts[k].count, 0,',
     "test-checkpoint",
     "checkpoint/a_models_state_tensors_round_trip_for_eval_init_from_and_resume"),
    ("checkpoint-state-optional", "sim/oz-checkpoint.c",
     'emit(w, KIND_MODEL, FALSE, DT_F32, ts[k].data, 1, ts[k].count, 0,',
     'emit(w, KIND_MODEL, TRUE, DT_F32, ts[k].data, 1, ts[k].count, 0,',
     "test-checkpoint", "checkpoint/a_missing_or_mis_sized_state_tensor_is_an_error_naming_it"),
    ("checkpoint-state-default-row", "neurons/oz-neuron-registry.c",
     "if (!pop->ops->state_tensors)\n        return 0;",
     "if (!pop->ops->state_tensors)\n        return (out[0] = (OzNeuronTensor){\"none\", NULL, 0}, 1);",
     "test-checkpoint", "checkpoint/a_model_without_state_tensors_writes_no_state_rows"),
    # --- weight decay on the sparse kind: tests/test-kinds.c (issue 12)
    ("optim-step-count", "plasticity/oz-optim.c",
     "oz_par_for(j.p->n, 16, step_part, &j);", "oz_par_for(j.p->n - 1, 16, step_part, &j);",
     "test-kinds", "kinds/weight_decay_on_a_sparse_projection_moves_exactly_its_synapses"),
    ("adamw-decay-skipped", "plasticity/oz-optim.c",
     "float w = p->w[i] * j->decay;", "float w = p->w[i];",
     "test-kinds", "kinds/weight_decay_on_a_sparse_projection_moves_exactly_its_synapses"),
    # --- The study commands (tests/test-report.c, test-merge.c, test-queries.c)
    ("plot-curves-percent", "sim/oz-plot.c",
     "epoch, 100.0 * sqlite3_column_double(st, 2),", "epoch, sqlite3_column_double(st, 2),",
     "test-report", "report/curves_data_holds_every_epoch_row_with_its_accuracy_and_loss"),
    ("plot-raster-sample", "sim/oz-plot.c",
     "ORDER BY epoch DESC, phase = 'test' DESC, sample LIMIT 1",
     "ORDER BY epoch DESC, phase = 'test' DESC, sample DESC LIMIT 1",
     "test-report", "report/raster_data_has_one_mark_per_recorded_spike_of_the_sample"),
    ("plot-ops-updates", "sim/oz-plot.c",
     "\"   sum(update_ops) AS upd FROM synops, last", "\"   sum(synops) AS upd FROM synops, last",
     "test-report", "report/ops_data_is_the_training_counts_per_sample_in_millions"),
    ("plot-empty-drawn", "sim/oz-plot.c", "if (ok && f.pts->len == 0) {", "if (0) {",
     "test-report", "report/a_missing_run_or_an_empty_table_exits_2_and_writes_no_file"),
    ("study-missing-run", "sim/oz-study.c",
     "        if (added == 0) {\n            g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,\n"
     "                        \"run log %s has no run %s",
     "        if (0) {\n            g_set_error(error, OZ_STUDY_ERROR, OZ_STUDY_ERROR_INPUT,\n"
     "                        \"run log %s has no run %s",
     "test-report", "report/a_missing_run_or_an_empty_table_exits_2_and_writes_no_file"),
    ("training-energy-update", "io/oz-runlog.c",
     "\"      + c.weight_updates * IFNULL(m.update_pj, 0)) AS joules,\"",
     "\"      + c.weight_updates * IFNULL(m.mac_pj, 0)) AS joules,\"",
     "test-queries", None),
    ("report-synops-kind", "sim/oz-report.c", "THEN s.synops ELSE", "THEN s.row_fetches ELSE",
     "test-report", "report/report_numbers_equal_sql"),
    ("report-html-xml", "sim/oz-report.c", "start ? start : svg);", "svg);",
     "test-report", "report/html_report_is_one_page_with_tables_and_inline_svg_figures"),
    ("merge-run-id", "sim/oz-merge.c", "sqlite3_bind_int64(to, k++, *nid);",
     "sqlite3_bind_int64(to, k++, old);",
     "test-merge", "merge/merge_keeps_every_row_of_every_table_with_renumbered_ids"),
    ("merge-energy-conflict", "sim/oz-merge.c", "if (present && !sqlite3_column_int(same, 1)) {",
     "if (0) {", "test-merge", "merge/energy_models_named_alike_with_other_values_are_refused"),
    ("merge-overwrites", "sim/oz-merge.c",
     "if (g_file_test(out, G_FILE_TEST_EXISTS) && !force) {", "if (0) {",
     "test-merge", "merge/an_existing_output_is_kept_unless_forced"),
    ("study-no-migration", "sim/oz-study.c", "if (version < OZ_RUNLOG_SCHEMA_VERSION) {",
     "if (0) {", "test-merge",
     "merge/an_older_log_is_migrated_in_memory_for_merge_and_report_and_left_unchanged"),
    ("runlog-no-energy-columns", "io/oz-runlog.c",
     "        if (sqlite3_prepare_v2(db, sel, -1, &probe, NULL) != SQLITE_OK) {\n"
     "            g_autofree char *alter = g_strdup_printf(\"ALTER TABLE energy_models",
     "        if (0) {\n"
     "            g_autofree char *alter = g_strdup_printf(\"ALTER TABLE energy_models",
     "test-merge", "merge/an_older_log_opened_for_writing_is_migrated_to_the_current_version"),
    # --- the conv2d kind (tests/test-conv.c)
    ("conv-reach-ignores-stride", "neurons/oz-kind-conv2d.c",
     "if (ty < 0 || ty % g->s || ty / g->s >= g->ho)", "if (ty < 0 || ty / g->s >= g->ho)",
     "test-conv", "conv/delivery_synops_gradient_and_chain_equal_the_unrolled_matrix"),
    ("conv-im2col-ignores-padding", "neurons/oz-kind-conv2d.c",
     "const int y = oy * g->s - g->pad + ky;\n            float *d = dst + oy * g->wo;",
     "const int y = oy * g->s + ky;\n            float *d = dst + oy * g->wo;",
     "test-conv", "conv/delivery_synops_gradient_and_chain_equal_the_unrolled_matrix"),
    ("conv-avg-pool-gain", "neurons/oz-kind-conv2d.c",
     "1.0f / (float)(g->ps * g->ps) : 1.0f;", "1.0f / (float)g->ps : 1.0f;",
     "test-conv", "conv/delivery_synops_gradient_and_chain_equal_the_unrolled_matrix"),
    ("conv-grad-first-sample", "neurons/oz-kind-conv2d.c",
     "g_u + (gsize)b * p->n_post, g->howo, cv->col", "g_u, g->howo, cv->col",
     "test-conv", "conv/delivery_synops_gradient_and_chain_equal_the_unrolled_matrix"),
    ("conv-chain-no-unpool", "neurons/oz-kind-conv2d.c",
     "unpool_add(g, map, out);", "(void)out;",
     "test-conv", "conv/delivery_synops_gradient_and_chain_equal_the_unrolled_matrix"),
    ("conv-col2im-overwrites", "neurons/oz-kind-conv2d.c",
     "dst[y * g->wc + x] += src[oy * g->wo + ox];", "dst[y * g->wc + x] = src[oy * g->wo + ox];",
     "test-conv", "conv/every_rule_learns_through_conv_projections_as_through_their_unrolled_twin"),
    ("conv-no-reset-slot", "neurons/oz-projection.c",
     "        p->kind->reset(p);", "        (void)0;",
     "test-conv", "conv/delivery_synops_gradient_and_chain_equal_the_unrolled_matrix"),
    ("conv-target-shape-unchecked", "neurons/oz-kind-conv2d.c",
     "if (post_rank != 3 || post[1] != g->ho || post[2] != g->wo) {", "if (post_rank != 3) {",
     "test-conv", "conv/shapes_that_do_not_fit_are_refused_naming_the_key_and_the_expected_shape"),
    ("conv-stored-eligibility-at-arrival", "plasticity/oz-learner.c",
     "apply_signal(l, h, h->next_te, h->next_te - h->lag);", "apply_signal(l, h, h->next_te, ta - h->lag);",
     "test-conv", "conv/stored_eligibility_with_feedback_delays_equals_no_delay_on_a_conv_net"),
    ("conv-auto-uses-run-threshold", "neurons/oz-kind-conv2d.c",
     ">= cp->im2col_threshold;", ">= (double)p->p.dense_threshold;",
     "test-conv", "conv/auto_delivery_picks_the_path_by_the_kinds_threshold"),
    ("conv-ll-reads-unpooled", "plasticity/oz-learner.c",
     "if (p->kind->view_size && p->kind->view_size(p) < pop->n) {", "if (0) {",
     "test-conv", "conv/the_local_learning_readout_of_a_pooled_layer_reads_its_pooled_output"),
    ("conv-ll-view-transpose-dropped", "neurons/oz-kind-conv2d.c",
     "unpool_add(j->g, j->in + b * nv, j->out + b * n);", "(void)nv;",
     "test-conv", "conv/the_local_learning_readout_of_a_pooled_layer_reads_its_pooled_output"),
    # --- event-camera input (io/oz-nmnist.c, io/oz-binning.c, io/oz-aedat.c; tests/test-events.c)
    ("nmnist-overflow-marker", "io/oz-nmnist.c", "add += OVERFLOW_US;", "add += 0;",
     "test-events", "events/nmnist_reads_exact_events_and_drops_overflow_markers"),
    ("nmnist-incomplete-offset", "io/oz-nmnist.c",
     "name, len, len - len % RECORD_BYTES);", "name, len, len);",
     "test-events", "events/nmnist_length_not_a_multiple_of_5_names_the_incomplete_record"),
    ("nmnist-y-range", "io/oz-nmnist.c",
     "if (r[0] >= OZ_NMNIST_SIZE || r[1] >= OZ_NMNIST_SIZE) {", "if (r[0] >= OZ_NMNIST_SIZE) {",
     "test-events", "events/nmnist_x_or_y_outside_the_sensor_names_the_record"),
    ("nmnist-time-back", "io/oz-nmnist.c", "if (t < prev) {", "if (0) {",
     "test-events",
     "events/nmnist_timestamp_going_back_beyond_the_overflow_rule_names_the_record"),
    ("nmnist-writer-t-limit", "io/oz-nmnist.c",
     "else if (e->t < 0 || e->t >= MAX_T_US)", "else if (e->t < 0 || e->t > MAX_T_US)",
     "test-events", "events/nmnist_writer_round_trips_and_refuses_what_the_reader_would"),
    ("nmnist-list-label-range", "io/oz-nmnist.c",
     "label < 0 || label >= classes)", "label < 0 || label > classes)",
     "test-events", "events/nmnist_list_file_errors_name_the_list_and_line"),
    ("nmnist-dir-numeric-order", "io/oz-nmnist.c", "        if (na < 0 || nb < 0)",
     "        if (1)", "test-events", "events/nmnist_list_dir_orders_by_sample_number_across_classes"),
    ("bin-floor", "io/oz-binning.c",
     "double d = floor((double)(e->t - t0) / b->bin_us);",
     "double d = ceil((double)(e->t - t0) / b->bin_us);",
     "test-events", "events/paper_binning_is_binary_3ms_bins_of_the_first_90ms"),
    ("bin-count-saturation", "io/oz-binning.c",
     "if (set->scratch_count[cell] < COUNT_MAX)", "if (1)",
     "test-events", "events/counts_binning_keeps_counts_and_saturates_at_255"),
    ("bin-cropped-count", "io/oz-binning.c",
     "            cropped++;\n            continue;", "            continue;",
     "test-events", "events/time_binning_from_the_first_event_pads_and_crops"),
    ("bin-spread-last", "io/oz-binning.c", "k = MIN(k, T - 1);\n            break;",
     "k = MIN(k, T);\n            break;",
     "test-events", "events/spread_binning_splits_the_span_into_equal_bins"),
    ("bin-events-few", "io/oz-binning.c",
     "MIN((gint64)(idx / per_frame), T - 1) : T - 1;",
     "MIN((gint64)(idx / per_frame), T - 1) : 0;",
     "test-events", "events/events_binning_makes_equal_count_frames_the_last_taking_the_rest"),
    ("bin-stabilise-round", "io/oz-binning.c",
     "double fx = round((double)e->x - dx), fy = round((double)e->y - dy);",
     "double fx = floor((double)e->x - dx), fy = floor((double)e->y - dy);",
     "test-events", "events/stabilisation_moves_events_back_and_drops_those_off_the_sensor"),
    ("bin-cell-limit", "io/oz-binning.c",
     "    g_assert((gint64)channels * height * width <= 65536);", "",
     "test-events", "events/a_set_beyond_the_16_bit_cell_index_is_refused"),
    ("aedat-valid-bit", "io/oz-aedat.c",
     "                if (!(data & 1u))\n                    continue;",
     "                if (0)\n                    continue;",
     "test-events", "events/aedat_reads_polarity_packets_skipping_others_and_invalid_events"),
    ("aedat-overflow", "io/oz-aedat.c",
     "const gint64 t = (gint64)h.overflow << 31 | (gint64)ts;", "const gint64 t = (gint64)ts;",
     "test-events", "events/aedat_reads_polarity_packets_skipping_others_and_invalid_events"),
    ("aedat-truncated-packet", "io/oz-aedat.c",
     "    if (body > len - off - PACKET_HEADER_BYTES) {", "    if (0) {",
     "test-events", "events/aedat_malformed_files_are_errors_with_their_byte_offsets"),
    ("gesture-class-range", "io/oz-aedat.c",
     "else if (v[0] < 1 || v[0] > GESTURE_CLASSES)", "else if (v[0] < 0 || v[0] > GESTURE_CLASSES)",
     "test-events", "events/gesture_labels_csv_gives_cuts_with_classes_from_zero"),
    ("downsample-floor", "io/oz-aedat.c",
     "s->ev[i].x = (guint16)((guint32)s->ev[i].x * (guint32)size / (guint32)s->width);",
     "s->ev[i].x = (guint16)(((guint32)s->ev[i].x * (guint32)size + 64) / (guint32)s->width);",
     "test-events", "events/cut_keeps_start_up_to_end_and_downsample_floors_coordinates"),
    # --- the [hardware] chip (neurons/oz-hardware.c, docs/HARDWARE.md): tests/test-hardware.c
    ("hw-quantise-round", "neurons/oz-hardware.c",
     "float k = fminf(fmaxf(roundf(w[i] / s), -levels), levels);",
     "float k = fminf(fmaxf(truncf(w[i] / s), -levels), levels);",
     "test-hardware", "hardware/quantisation_is_symmetric_uniform_with_the_scale_of_max_abs_w"),
    ("hw-refresh-on-reset", "neurons/oz-projection.c",
     "    oz_chip_refresh_weights(p);\n", "\n",
     "test-hardware", "hardware/forward_weights_are_requantised_from_max_abs_w_at_every_reset"),
    ("hw-weight-mismatch", "neurons/oz-hardware.c",
     "            p->wf[i] *= c->mismatch[i];", "            p->wf[i] *= 1.0f;",
     "test-hardware",
     "hardware/weight_mismatch_is_a_fixed_factor_per_synapse_from_the_hardware_seed"),
    ("hw-mismatch-seed", "neurons/oz-hardware.c",
     "oz_hardware_factors(hp->seed, purpose, hp->weight_mismatch, c->mismatch, p->nw);",
     "oz_hardware_factors(1, purpose, hp->weight_mismatch, c->mismatch, p->nw);",
     "test-hardware",
     "hardware/weight_mismatch_is_a_fixed_factor_per_synapse_from_the_hardware_seed"),
    ("hw-threshold-own", "neurons/oz-threshold.c",
     "        const float ti = chip->vth ? chip->vth[i] : vth;", "        const float ti = vth;",
     "test-hardware", "hardware/a_mismatched_threshold_decides_each_neurons_spike_and_its_psi"),
    ("hw-psi-own", "neurons/oz-threshold.c",
     "    if (c && c->vth_factor && !c->psi_nominal) {", "    if (0) {",
     "test-hardware", "hardware/a_mismatched_threshold_decides_each_neurons_spike_and_its_psi"),
    ("hw-leak-clip", "neurons/oz-threshold.c",
     "fminf(st->leak * c->leak_factor[i], 0.999f)", "st->leak * c->leak_factor[i]",
     "test-hardware", "hardware/a_mismatched_leak_is_clipped_to_0_999"),
    ("hw-noise-sigma", "neurons/oz-hardware.c",
     "            row[i] *= j->sigma;", "            row[i] *= j->sigma * 1.1f;",
     "test-hardware", "hardware/neuron_noise_is_fresh_gaussian_with_the_given_sigma"),
    ("hw-drop-p", "neurons/oz-hardware.c",
     "                if (oz_rng_uniform(&rng) < (double)c->drop) {\n                    ks[idx[k]]",
     "                if (oz_rng_uniform(&rng) < 1.2 * c->drop) {\n                    ks[idx[k]]",
     "test-hardware",
     "hardware/spike_drop_rate_lies_in_its_binomial_interval_and_lost_spikes_are_not_synops"),
    ("hw-drop-synops", "neurons/oz-projection.c",
     "    p->kind->deliver(p, oz_chip_drop(p, f), acc);",
     "    oz_chip_drop(p, f);\n    p->kind->deliver(p, f, acc);",
     "test-hardware",
     "hardware/spike_drop_rate_lies_in_its_binomial_interval_and_lost_spikes_are_not_synops"),
    ("hw-bp-exact-matrix", "plasticity/oz-rule-bp.c",
     "    return bp_chip_model(state, l) == OZ_CHIP_EXACT ? oz_projection_forward_w(p) : p->w;",
     "    return p->w;",
     "test-hardware",
     "hardware/bp_nominal_model_differs_from_exact_on_a_mismatched_chip_and_equals_it_off"),
    ("hw-bp-nominal-psi", "plasticity/oz-learner.c",
     "l->rule->chip_model && l->rule->chip_model(l->rule_state, l) == OZ_CHIP_NOMINAL;",
     "FALSE;",
     "test-hardware",
     "hardware/bp_nominal_model_differs_from_exact_on_a_mismatched_chip_and_equals_it_off"),
    ("hw-reference-row", "sim/oz-run.c",
     "    if (oz_run_is_reference(run))\n        oz_log_batch_add", "    if (0)\n        oz_log_batch_add",
     "test-hardware",
     "hardware/bp_nominal_model_differs_from_exact_on_a_mismatched_chip_and_equals_it_off"),
    ("hw-off-attaches-nothing", "neurons/oz-hardware.c",
     "    if (!oz_hardware_active(hp))\n        return;", "    (void)0;",
     "test-hardware", "hardware/a_chip_with_every_effect_off_is_the_ideal_simulation_bit_for_bit"),
    ("hw-one-bit", "io/oz-scenario.c",
     "    if (sc->hardware.weight_bits == 1) {", "    if (0) {",
     "test-hardware", "hardware/bad_hardware_keys_exit_2_naming_file_section_and_key"),
    ("hw-eval-phase-streams", "sim/oz-run.c",
     "    oz_hardware_begin_phase(run->net, (guint64)run->sc->run.seed, ph->kind == OZ_PHASE_TRAIN,",
     "    if (0) oz_hardware_begin_phase(run->net, (guint64)run->sc->run.seed, ph->kind == OZ_PHASE_TRAIN,",
     "test-hardware",
     "hardware/eval_tests_a_stored_network_on_a_chip_and_repeats_a_noisy_chips_test_phase"),
    ("hw-probe-alpha", "plasticity/oz-learner.c",
     "    return chip_noise_probes(l, h->pop) ? h->pop->chip->sigma : l->alpha;",
     "    return l->alpha;",
     "test-hardware", "hardware/noise_is_probe_makes_the_chips_noise_the_probe_of_opzo"),
    ("hw-probe-no-antithetic", "plasticity/oz-learner.c",
     "        l->p.antithetic = FALSE;\n", "\n",
     "test-hardware", "hardware/noise_is_probe_makes_the_chips_noise_the_probe_of_opzo"),
    ("hw-probe-replaces-noise", "neurons/oz-hardware.c",
     "    if (c->noise_is_probe && pop->training && pop->noise_alpha != 0.0f &&",
     "    if (0 && c->noise_is_probe && pop->training && pop->noise_alpha != 0.0f &&",
     "test-hardware", "hardware/noise_is_probe_makes_the_chips_noise_the_probe_of_opzo"),
    ("hw-init-from-other-rule", "sim/oz-checkpoint.c",
     "    return c->what == OZ_LOAD_MODEL && t->kind == KIND_FEEDBACK;", "    return FALSE;",
     "test-hardware", "hardware/a_bp_pretrained_network_fine_tunes_with_every_rule_by_init_from"),
    ("hw-forward-dense-events", "neurons/oz-kind-dense.c",
     "    const float *w = oz_projection_forward_w(p);", "    const float *w = p->w;",
     "test-hardware", "hardware/every_kind_delivers_through_the_chips_forward_weights"),
    ("hw-forward-sparse", "neurons/oz-kind-sparse.c",
     "    const float *w = oz_projection_forward_w(p);", "    const float *w = p->w;",
     "test-hardware", "hardware/every_kind_delivers_through_the_chips_forward_weights"),
    ("hw-forward-conv-events", "neurons/oz-kind-conv2d.c",
     "cv->wt[(gsize)r * g->cout + co] = oz_projection_forward_w(p)[(gsize)co * g->ckk + r];",
     "cv->wt[(gsize)r * g->cout + co] = p->w[(gsize)co * g->ckk + r];",
     "test-hardware", "hardware/every_kind_delivers_through_the_chips_forward_weights"),
    ("hw-forward-conv-im2col", "neurons/oz-kind-conv2d.c",
     "                    oz_projection_forward_w(j->p), g->ckk, col, g->howo, j->beta,",
     "                    j->p->w, g->ckk, col, g->howo, j->beta,",
     "test-hardware", "hardware/every_kind_delivers_through_the_chips_forward_weights"),
    ("hw-noise-substream", "neurons/oz-hardware.c",
     "        oz_rng_init_sub(&rng, j->key, b);\n        float *row = j->noise + b * j->n;",
     "        oz_rng_init_sub(&rng, j->key, b - begin);\n        float *row = j->noise + b * j->n;",
     "test-hardware", "hardware/noise_and_lost_spikes_are_the_same_bits_at_any_thread_count"),
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

# Absolute, as meson's full_path(): test-e2e-names runs the program in another directory.
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
    # would pass too, so the synthesis must count a test (one, or one per parameter of a
    # parameterized test such as rules/match_the_reference, one per registered rule).
    if flt and not re.search(r"Tested: [1-9]", re.sub(r"\x1b\[[0-9;]*m", "", r.stderr)):
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
