/* Saving replication.json off the reactor. repl_meta_save() writes a temporary file, fsyncs
 * it, renames it and fsyncs the directory: on a busy disk that can take a second, which must
 * not stall heartbeats and I/O. One worker thread does the saves.
 *
 * Contract:
 *  - meta_saver_save() (reactor thread) copies the metadata, queues it and returns a version
 *    number, increasing per owner. A save still queued for the same owner is superseded (each
 *    save writes the whole state, so the newest covers every earlier one).
 *  - done(owner, version, err, msg) runs on the reactor (from the loop) once the newest queued
 *    version of that owner is durable (err 0) or failed (err, msg).
 *  - meta_saver_drain() blocks (reactor) until nothing of that owner is queued or in progress,
 *    and drops its pending completions: call it before freeing the owner.
 *  - meta_saver_destroy() finishes every queued save first. */
#ifndef TANDEM_REPL_META_SAVER_H
#define TANDEM_REPL_META_SAVER_H

#include "repl/meta.h"
#include "util/loop.h"

#include <stdint.h>

struct meta_saver;
typedef void (*meta_saved_fn)(void *owner, uint64_t version, int err, const char *msg);

struct meta_saver *meta_saver_create(struct loop *l, meta_saved_fn done, char *err, size_t errlen);
void meta_saver_destroy(struct meta_saver *s);
uint64_t meta_saver_save(struct meta_saver *s, void *owner, const char *dir,
                         const struct repl_meta *m);
void meta_saver_drain(struct meta_saver *s, void *owner);

#endif
