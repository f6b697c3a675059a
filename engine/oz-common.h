/* oz-common.h — small helpers shared by every module. */
#pragma once

#include <glib.h>

/* OZ_NEVER(x) is for conditions that cannot happen: it evaluates to x, and when x holds
 * it aborts in debug builds or logs a warning with G_DISABLE_ASSERT, so the caller can
 * recover (SQLite's NEVER()). */
static inline void oz__never(const char *what, const char *file, int line) {
#ifdef G_DISABLE_ASSERT
    g_warning("%s:%d: impossible condition: %s", file, line, what);
#else
    g_error("%s:%d: impossible condition: %s", file, line, what);
#endif
}

#define OZ_NEVER(x) (G_UNLIKELY(x) ? (oz__never(#x, __FILE__, __LINE__), 1) : 0)
