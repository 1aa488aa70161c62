/* A parallel for-loop over [0, n) on a few threads, for store round trips that are independent
 * (loading indexes, fetching segment lists, restore ranges).
 *
 * Contract: fn(i) runs exactly once for each i until one fails; then no new i starts, the
 * running ones finish, and par_run returns the first failure (negative errno) with its err
 * text. fn must be thread-safe. Blocks until all threads have joined. */
#ifndef TANDEM_SHIP_PAR_H
#define TANDEM_SHIP_PAR_H

#include <stddef.h>

typedef int (*par_fn)(size_t i, void *arg, int worker, char *err, size_t errlen);

/* worker is the thread's number in [0, threads), for per-thread buffers. */
int par_run(size_t n, int threads, par_fn fn, void *arg, char *err, size_t errlen);

#endif
