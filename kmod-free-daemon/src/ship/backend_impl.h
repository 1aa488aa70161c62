/* The backends' vtable, for backend.c (dispatch) and backend_{file,s3}.c. */
#ifndef TANDEM_SHIP_BACKEND_IMPL_H
#define TANDEM_SHIP_BACKEND_IMPL_H

#include "ship/backend.h"

struct backend_ops {
    int (*put)(struct backend *b, const char *key, const void *buf, size_t len, char *err,
               size_t errlen);
    /* buf NULL: allocate (*out); else exactly len bytes into buf. */
    int (*get)(struct backend *b, const char *key, uint64_t off, uint64_t len, void *buf,
               uint8_t **out, size_t *outlen, char *err, size_t errlen);
    int (*list)(struct backend *b, const char *prefix,
                int (*cb)(const struct backend_obj *o, void *arg), void *arg, char *err,
                size_t errlen);
    int (*del)(struct backend *b, const char *const *keys, size_t n, char *err, size_t errlen);
    void (*close)(struct backend *b);
};

struct backend {
    const struct backend_ops *ops;
    char url[1024];
};

struct backend *backend_file_open(const char *dir, char *err, size_t errlen);
struct backend *backend_s3_open(const char *bucket, const char *prefix,
                                const struct ship_store_opts *opts, char *err, size_t errlen);

#endif
