/* Mutual TLS between peers (proto/replication.md §2): a thin layer over OpenSSL that gives the
 * connection code read/write calls with the errno conventions of read(2)/write(2).
 *
 * Contract:
 *  - tls_ctx_create() loads the node's certificate chain and key and the CA that every peer's
 *    certificate must chain to; TLS 1.3 only; the peer must present a certificate in both
 *    directions (client and server). Blocking (files), for start-up. NULL + message on error.
 *  - tls_new() wraps a connected non-blocking socket (the fd stays the caller's to close).
 *  - tls_handshake() advances the handshake: TLS_DONE, TLS_WANT_READ / TLS_WANT_WRITE (wait for
 *    that and call again), or TLS_FAILED with the reason (certificate errors name the check).
 *  - tls_read()/tls_write(): > 0 bytes, 0 = the peer closed (read), or -1 with errno EAGAIN
 *    (call again when the socket is ready either way) or EIO/ECONNRESET. Partial writes are
 *    allowed; a write that returned EAGAIN must be retried with the same bytes.
 *  - tls_peer_is() says whether the peer's certificate was issued for `node` (subjectAltName
 *    DNS entries, else the common name).
 *  - One connection per SSL object, on the reactor thread. */
#ifndef TANDEM_REPL_TLS_H
#define TANDEM_REPL_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum tls_step { TLS_DONE, TLS_WANT_READ, TLS_WANT_WRITE, TLS_FAILED };

SSL_CTX *tls_ctx_create(const char *cert, const char *key, const char *ca, char *err,
                        size_t errlen);
void tls_ctx_free(SSL_CTX *ctx);
SSL *tls_new(SSL_CTX *ctx, int fd, bool server);
enum tls_step tls_handshake(SSL *ssl, char *why, size_t whylen);
ssize_t tls_read(SSL *ssl, void *buf, size_t len);
ssize_t tls_write(SSL *ssl, const void *buf, size_t len);
/* Decrypted bytes waiting inside the SSL object (epoll cannot see them). */
bool tls_has_pending(SSL *ssl);
bool tls_peer_is(SSL *ssl, const char *node);
/* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
void tls_describe(SSL *ssl, char *out, size_t outlen);
void tls_free(SSL *ssl);

#endif
