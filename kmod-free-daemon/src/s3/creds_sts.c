/* Web identity (IRSA): trade the projected service-account token for role credentials with STS
 * AssumeRoleWithWebIdentity. The call is unsigned by design (the token is the proof). The token
 * file is re-read on every refresh because the kubelet rotates it. */
#include "s3/creds_source.h"

#include "s3/s3_xml.h"
#include "s3/sigv4.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TOKEN_MAX (16 * 1024)

static void sts_endpoint(char *out, size_t cap)
{
    const char *e = getenv("AWS_ENDPOINT_URL_STS");
    if (!e || !*e)
        e = getenv("AWS_ENDPOINT_URL");
    if (e && *e) {
        snprintf(out, cap, "%s", e);
        return;
    }
    const char *r = getenv("AWS_REGION");
    if (!r || !*r)
        r = getenv("AWS_DEFAULT_REGION");
    if (r && *r)
        snprintf(out, cap, "https://sts.%s.amazonaws.com", r);
    else
        snprintf(out, cap, "https://sts.amazonaws.com");
}

static char *form_enc(const char *s)
{
    size_t n = strlen(s), cap = 3 * n + 1;
    char *o = malloc(cap);
    if (o)
        sigv4_uri_encode(s, n, 0, o, cap);
    return o;
}

int creds_from_web_identity(int timeout_ms, struct s3_creds *out, struct s3_error *err)
{
    const char *tf = getenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    const char *role = getenv("AWS_ROLE_ARN");
    if ((!tf || !*tf) && (!role || !*role))
        return CREDS_NOT_CONFIGURED;
    if (!tf || !*tf || !role || !*role) {
        s3_error_set(err, "AssumeRoleWithWebIdentity", NULL, NULL, "IncompleteWebIdentity",
                     "%s is set but %s is not",
                     tf && *tf ? "AWS_WEB_IDENTITY_TOKEN_FILE" : "AWS_ROLE_ARN",
                     tf && *tf ? "AWS_ROLE_ARN" : "AWS_WEB_IDENTITY_TOKEN_FILE");
        return CREDS_FAIL;
    }
    char *token = malloc(TOKEN_MAX);
    if (!token)
        return CREDS_FAIL;
    if (creds_read_token_file(tf, token, TOKEN_MAX) != 0 || !token[0]) {
        s3_error_set(err, "AssumeRoleWithWebIdentity", NULL, NULL, "TokenFileUnreadable",
                     "web identity token file %s: %s", tf,
                     token[0] || errno ? strerror(errno) : "empty");
        free(token);
        return CREDS_FAIL;
    }
    char session[128];
    const char *sn = getenv("AWS_ROLE_SESSION_NAME");
    if (sn && *sn)
        snprintf(session, sizeof(session), "%s", sn);
    else
        snprintf(session, sizeof(session), "tandem-%ld-%d", (long)time(NULL), (int)getpid());

    char *e_role = form_enc(role), *e_sess = form_enc(session), *e_tok = form_enc(token);
    OPENSSL_cleanse(token, TOKEN_MAX);
    free(token);
    char *body = NULL;
    int rc = CREDS_FAIL;
    if (!e_role || !e_sess || !e_tok ||
        asprintf(&body,
                 "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=%s"
                 "&RoleSessionName=%s&WebIdentityToken=%s",
                 e_role, e_sess, e_tok) < 0) {
        body = NULL;
        s3_error_set(err, "AssumeRoleWithWebIdentity", NULL, NULL, "OutOfMemory", "no memory");
        goto out;
    }
    char url[1024], why[256];
    sts_endpoint(url, sizeof(url));
    const char *hdrs[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8",
                          "Accept: application/xml", NULL};
    struct creds_http_resp r;
    if (creds_http("POST", url, hdrs, body, timeout_ms, 1, &r, why, sizeof(why)) != 0) {
        s3_error_set(err, "AssumeRoleWithWebIdentity", NULL, NULL, "StsUnreachable", "%s: %s", url,
                     why);
        goto out;
    }
    if (r.status != 200) {
        struct s3_xml_error xe;
        s3_xml_parse_error(r.body, r.len, &xe);
        s3_error_set(err, "AssumeRoleWithWebIdentity", NULL, NULL, xe.code[0] ? xe.code : "",
                     "STS %s refused role %s: %s", url, role,
                     xe.message[0] ? xe.message : "no error document");
        err->http_status = (int)r.status;
        snprintf(err->request_id, sizeof(err->request_id), "%s", xe.request_id);
        creds_http_resp_free(&r);
        goto out;
    }
    char exp[64];
    if (s3_xml_sts_credentials(r.body, r.len, out->access_key, sizeof(out->access_key), out->secret,
                               sizeof(out->secret), out->token, sizeof(out->token), exp,
                               sizeof(exp)) != 0) {
        s3_error_set(err, "AssumeRoleWithWebIdentity", NULL, NULL, "BadStsResponse",
                     "STS %s answered 200 without credentials", url);
        creds_http_resp_free(&r);
        s3_creds_wipe(out);
        goto out;
    }
    creds_http_resp_free(&r);
    out->expires = exp[0] ? creds_parse_time(exp) : 0;
    if (out->expires == (time_t)-1) {
        s3_error_set(err, "AssumeRoleWithWebIdentity", NULL, NULL, "BadStsResponse",
                     "unreadable Expiration \"%s\"", exp);
        s3_creds_wipe(out);
        goto out;
    }
    snprintf(out->source, sizeof(out->source), "web-identity");
    rc = CREDS_OK;
out:
    if (e_tok) {
        OPENSSL_cleanse(e_tok, strlen(e_tok));
        free(e_tok);
    }
    if (body) {
        OPENSSL_cleanse(body, strlen(body));
        free(body);
    }
    free(e_role);
    free(e_sess);
    return rc;
}
