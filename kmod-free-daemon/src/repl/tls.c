/* OpenSSL glue for peer connections. Kept apart from node.c so that the plain-TCP path has
 * no TLS code in it beyond one pointer test per read or write. */
#include "repl/tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

static void last_error(char *out, size_t outlen, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(out, outlen, "%s%s%s", what, buf[0] ? ": " : "", buf);
    ERR_clear_error();
}

SSL_CTX *tls_ctx_create(const char *cert, const char *key, const char *ca, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    if (!ctx) {
        last_error(err, errlen, "cannot create a TLS context");
        return NULL;
    }
    char what[600];
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1) {
        last_error(err, errlen, "TLS 1.3 is not available");
        goto fail;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(what, sizeof(what), "--tls-cert %s", cert);
        last_error(err, errlen, what);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
        snprintf(what, sizeof(what), "--tls-key %s", key);
        last_error(err, errlen, what);
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(what, sizeof(what), "--tls-key %s does not match --tls-cert %s", key, cert);
        last_error(err, errlen, what);
        goto fail;
    }
    if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
        snprintf(what, sizeof(what), "--tls-ca %s", ca);
        last_error(err, errlen, what);
        goto fail;
    }
    /* Both directions: a server asks for the client's certificate and refuses none. */
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    /* A peer that exits closes TCP without close_notify: that is an end of stream, not an
     * error (frames carry their own lengths and CRCs, so truncation cannot pass unseen). */
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

void tls_ctx_free(SSL_CTX *ctx)
{
    SSL_CTX_free(ctx);
}

SSL *tls_new(SSL_CTX *ctx, int fd, bool server)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl)
        return NULL;
    if (SSL_set_fd(ssl, fd) != 1) {
        SSL_free(ssl);
        return NULL;
    }
    if (server)
        SSL_set_accept_state(ssl);
    else
        SSL_set_connect_state(ssl);
    return ssl;
}

enum tls_step tls_handshake(SSL *ssl, char *why, size_t whylen)
{
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl);
    if (rc == 1)
        return TLS_DONE;
    int e = SSL_get_error(ssl, rc);
    if (e == SSL_ERROR_WANT_READ)
        return TLS_WANT_READ;
    if (e == SSL_ERROR_WANT_WRITE)
        return TLS_WANT_WRITE;
    long v = SSL_get_verify_result(ssl);
    if (v != X509_V_OK) {
        snprintf(why, whylen, "TLS handshake failed: peer certificate: %s",
                 X509_verify_cert_error_string(v));
        ERR_clear_error();
    } else if (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        snprintf(why, whylen, "TLS handshake failed: %s",
                 rc == 0 || errno == 0 ? "connection closed" : strerror(errno));
    } else {
        last_error(why, whylen, "TLS handshake failed");
    }
    return TLS_FAILED;
}

static ssize_t map_error(SSL *ssl, int rc)
{
    int e = SSL_get_error(ssl, rc);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    if (e == SSL_ERROR_ZERO_RETURN)
        return 0;
    int sys = errno;
    ERR_clear_error();
    errno = e == SSL_ERROR_SYSCALL && sys ? sys : EIO;
    return -1;
}

ssize_t tls_read(SSL *ssl, void *buf, size_t len)
{
    size_t got = 0;
    ERR_clear_error();
    int rc = SSL_read_ex(ssl, buf, len, &got);
    if (rc == 1)
        return (ssize_t)got;
    ssize_t r = map_error(ssl, rc);
    if (r == -1 && errno == 0)
        errno = ECONNRESET;
    return r;
}

ssize_t tls_write(SSL *ssl, const void *buf, size_t len)
{
    size_t put = 0;
    ERR_clear_error();
    int rc = SSL_write_ex(ssl, buf, len, &put);
    if (rc == 1)
        return (ssize_t)put;
    ssize_t r = map_error(ssl, rc);
    if (r == 0) { /* close_notify while writing */
        errno = ECONNRESET;
        return -1;
    }
    return r;
}

bool tls_has_pending(SSL *ssl)
{
    return SSL_pending(ssl) > 0;
}

bool tls_peer_is(SSL *ssl, const char *node)
{
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (!cert)
        return false;
    bool ok =
        X509_check_host(cert, node, strlen(node), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
    X509_free(cert);
    return ok;
}

void tls_describe(SSL *ssl, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s %s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
}

void tls_free(SSL *ssl)
{
    if (ssl)
        SSL_free(ssl);
}
