/* oz-engine.c — binary min-heap on (tick, stage, seq).
 *
 * Design notes.  The heap stores events by value (32 bytes), so scheduling allocates
 * nothing once the array has grown to the window's peak.  Cancelling marks the seq in
 * a small hash set and the event is reclaimed when it surfaces, as redis ae.c does with
 * deleted timers; we never search the heap.  The (stage, seq) tie-break is what makes
 * two runs with one seed dispatch identically.
 */
#include "oz-engine.h"

/* A heap slot: the event plus its order packed in one word, (tick << 16) | stage, so a
 * comparison is one or two integer compares.  Ticks stay below 2^47, stages below 2^16. */
typedef struct {
    guint64 key;
    OzEvent ev;
} Slot;

typedef struct {
    char *name;
    OzHandlerFunc func;
    gpointer user_data;
    guint64 count;
} Handler;

struct OzEngine {
    Slot *heap;
    gsize len, cap;
    GArray *handlers; /* of Handler */
    GHashTable *cancelled; /* seq -> seq; only allocated on first cancel */
    guint64 next_seq;
    gint64 now;
    guint32 stage;
    guint64 dispatched;
};

static inline gboolean before(const Slot *a, const Slot *b) {
    if (a->key != b->key)
        return a->key < b->key;
    return a->ev.seq < b->ev.seq;
}

OzEngine *oz_engine_new(void) {
    OzEngine *e = g_new0(OzEngine, 1);
    e->cap = 64;
    e->heap = g_new(Slot, e->cap);
    e->handlers = g_array_new(FALSE, TRUE, sizeof(Handler));
    return e;
}

void oz_engine_free(OzEngine *e) {
    if (!e)
        return;
    for (guint i = 0; i < e->handlers->len; i++)
        g_free(g_array_index(e->handlers, Handler, i).name);
    g_array_free(e->handlers, TRUE);
    if (e->cancelled)
        g_hash_table_destroy(e->cancelled);
    g_free(e->heap);
    g_free(e);
}

guint oz_engine_add_handler(OzEngine *e, const char *name, OzHandlerFunc func,
                            gpointer user_data) {
    g_return_val_if_fail(func != NULL, G_MAXUINT);
    Handler h = {g_strdup(name), func, user_data, 0};
    g_array_append_val(e->handlers, h);
    return e->handlers->len - 1;
}

const char *oz_engine_handler_name(const OzEngine *e, guint handler) {
    g_return_val_if_fail(handler < e->handlers->len, NULL);
    return g_array_index(e->handlers, Handler, handler).name;
}

guint64 oz_engine_schedule(OzEngine *e, gint64 tick, guint32 stage, guint handler, gint64 arg) {
    g_assert(handler < e->handlers->len);
    g_assert(tick > e->now || (tick == e->now && stage >= e->stage));
    g_assert(tick >= 0 && tick < ((gint64)1 << 47) && stage < (1u << 16));
    if (e->len == e->cap) {
        e->cap *= 2;
        e->heap = g_renew(Slot, e->heap, e->cap);
    }
    Slot s = {((guint64)tick << 16) | stage, {tick, stage, handler, e->next_seq++, arg}};
    gsize i = e->len++;
    while (i > 0) {
        gsize parent = (i - 1) / 2;
        if (!before(&s, &e->heap[parent]))
            break;
        e->heap[i] = e->heap[parent];
        i = parent;
    }
    e->heap[i] = s;
    return s.ev.seq;
}

static void pop_head(OzEngine *e) {
    Slot last = e->heap[--e->len];
    gsize i = 0, n = e->len;
    for (;;) {
        gsize l = 2 * i + 1, r = l + 1, m = i;
        const Slot *best = &last;
        if (l < n && before(&e->heap[l], best)) {
            m = l;
            best = &e->heap[l];
        }
        if (r < n && before(&e->heap[r], best))
            m = r;
        if (m == i)
            break;
        e->heap[i] = e->heap[m];
        i = m;
    }
    if (n > 0)
        e->heap[i] = last;
}

gboolean oz_engine_cancel(OzEngine *e, guint64 seq) {
    gboolean found = FALSE;
    for (gsize i = 0; i < e->len && !found; i++)
        found = e->heap[i].ev.seq == seq;
    if (!found)
        return FALSE;
    if (!e->cancelled)
        e->cancelled = g_hash_table_new_full(g_int64_hash, g_int64_equal, g_free, NULL);
    gint64 *key = g_new(gint64, 1);
    *key = (gint64)seq;
    g_hash_table_add(e->cancelled, key);
    return TRUE;
}

guint64 oz_engine_run(OzEngine *e, gint64 until_tick) {
    guint64 n = 0;
    while (e->len > 0 && e->heap[0].ev.tick < until_tick) {
        OzEvent ev = e->heap[0].ev;
        pop_head(e);
        if (e->cancelled && g_hash_table_size(e->cancelled) > 0) {
            gint64 key = (gint64)ev.seq;
            if (g_hash_table_remove(e->cancelled, &key))
                continue;
        }
        e->now = ev.tick;
        e->stage = ev.stage;
        Handler *h = &g_array_index(e->handlers, Handler, ev.handler);
        h->count++;
        h->func(e, &ev, h->user_data);
        n++;
    }
    e->dispatched += n;
    return n;
}

guint64 oz_engine_run_all(OzEngine *e) {
    return oz_engine_run(e, G_MAXINT64);
}

gint64 oz_engine_now(const OzEngine *e) {
    return e->now;
}

guint32 oz_engine_stage(const OzEngine *e) {
    return e->stage;
}

gsize oz_engine_pending(const OzEngine *e) {
    return e->len;
}

guint64 oz_engine_dispatched(const OzEngine *e) {
    return e->dispatched;
}

guint64 oz_engine_handler_count(const OzEngine *e, guint handler) {
    g_return_val_if_fail(handler < e->handlers->len, 0);
    return g_array_index(e->handlers, Handler, handler).count;
}

void oz_engine_reset_clock(OzEngine *e) {
    g_return_if_fail(e->len == 0);
    e->now = 0;
    e->stage = 0;
}
