/* AWS Signature Version 4 (header form), written over OpenSSL.
 *
 * Contract: pure functions of their arguments; no I/O, no global state, thread-safe. The caller
 * gives the request exactly as it goes on the wire (path and query already percent-encoded, the
 * way s3_url.h builds them) and every header to sign, Host and X-Amz-Date included. The signer
 * re-canonicalizes the query (decode, RFC 3986 re-encode, sort by name then value), lowercases,
 * trims and sorts headers, and never alters the path: S3 signs the path as sent (no double
 * encoding, no dot-segment normalization), which is why libcurl's CURLOPT_AWS_SIGV4 is not used.
 * Errors: -1 on an output buffer too small or allocation failure, never a partial signature.
 * The secret is only read; it is never copied into the output or a log. */
#ifndef TANDEM_S3_SIGV4_H
#define TANDEM_S3_SIGV4_H

#include <stddef.h>
#include <time.h>

#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SIGV4_UNSIGNED     "UNSIGNED-PAYLOAD"

struct sigv4_header {
    const char *name;
    const char *value;
};

struct sigv4_input {
    const char *method;
    const char *path;  /* on-the-wire path, e.g. "/bucket/a%20b" */
    const char *query; /* on-the-wire query without '?', NULL or "" for none */
    const struct sigv4_header *headers;
    size_t nheaders;
    const char *payload_hash; /* hex SHA-256 of the body, or SIGV4_UNSIGNED */
    const char *region;
    const char *service;  /* "s3", "sts", ... */
    const char *amz_date; /* "YYYYMMDDTHHMMSSZ", the X-Amz-Date value */
};

/* Formats t (UTC) as the X-Amz-Date value; out must hold 17 bytes. */
void sigv4_amz_date(time_t t, char out[17]);

/* Lowercase hex SHA-256 of buf; out must hold 65 bytes. */
void sigv4_sha256_hex(const void *buf, size_t len, char out[65]);

/* RFC 3986 percent-encoding of in[0..n): unreserved characters (A-Z a-z 0-9 - _ . ~) pass,
 * '/' passes when keep_slash, every other byte becomes %XX (uppercase). Returns the encoded
 * length, or (size_t)-1 when cap is too small (out is always NUL-terminated when cap > 0). */
size_t sigv4_uri_encode(const char *in, size_t n, int keep_slash, char *out, size_t cap);

/* The canonical query string for a wire query ("" for none). Returns malloc'd text or NULL. */
char *sigv4_canonical_query(const char *query);

/* The canonical request text (SigV4 step 1). Returns malloc'd text or NULL. */
char *sigv4_canonical_request(const struct sigv4_input *in);

/* The string to sign (step 2) for a canonical request. Returns malloc'd text or NULL. */
char *sigv4_string_to_sign(const struct sigv4_input *in, const char *canonical_request);

/* Computes the Authorization header value ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
 * Signature=...") into auth. signature_hex (65 bytes), if not NULL, receives the bare signature.
 * Returns 0, or -1 when auth is too small or memory runs out. */
int sigv4_authorization(const struct sigv4_input *in, const char *access_key, const char *secret,
                        char *auth, size_t authlen, char *signature_hex);

#endif
