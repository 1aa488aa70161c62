/* An opened backup store: its backend, its parameters from tandem-store.json and its keys.
 *
 * Contract: repo_open reads (or, with create, first writes) tandem-store.json and checks it:
 * a newer format version, an encrypted store without a key, a key for a plain store and a key
 * whose check value does not match are each refused with a sentence saying which. After open
 * the repo is read-only data shared by threads. Returns 0 or a negative errno with err. */
#ifndef TANDEM_SHIP_REPO_H
#define TANDEM_SHIP_REPO_H

#include "ship/backend.h"
#include "ship/crypt.h"
#include "ship/ship.h"

#include <stdbool.h>
#include <stdint.h>

#define STORE_FORMAT_VERSION 1
#define STORE_CONFIG_KEY     "tandem-store.json"
#define DEFAULT_CHUNK_SIZE   (64u << 10)
#define DEFAULT_SEGMENT_SIZE (64ull << 20)

struct repo {
    struct backend *be;
    struct crypt crypt;
    uint32_t chunk_size;
    uint64_t segment_size;
    int parallel;
};

int repo_open(struct repo *r, const char *url, const struct ship_store_opts *opts, bool create,
              char *err, size_t errlen);
void repo_close(struct repo *r);

/* The seal id of a named object (index, trailer, manifest): its key's id, so an object moved
 * to another key fails to open. */
void repo_name_id(const struct repo *r, const char *name, uint8_t id[CRYPT_ID_LEN]);

/* Seals a named object into a malloc()ed buffer. NULL on failure. */
uint8_t *repo_seal_named(const struct repo *r, const char *name, const void *data, size_t len,
                         bool compress, size_t *outlen);
/* Opens a named object into a malloc()ed buffer (NUL-terminated). 0 or -1. */
int repo_open_named(const struct repo *r, const char *name, uint8_t *sealed, size_t len,
                    size_t max_plain, uint8_t **out, size_t *outlen);

/* A volume or snapshot name that can be a key component: [A-Za-z0-9._-], 1..128, not "." or
 * "..". */
bool repo_name_ok(const char *name);

#endif
