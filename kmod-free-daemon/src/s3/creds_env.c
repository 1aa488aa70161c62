/* Credentials from the environment: the first link of the chain. */
#include "s3/creds_source.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int creds_from_env(struct s3_creds *out, struct s3_error *err)
{
    const char *ak = getenv("AWS_ACCESS_KEY_ID");
    const char *sk = getenv("AWS_SECRET_ACCESS_KEY");
    const char *tok = getenv("AWS_SESSION_TOKEN");
    if ((!ak || !*ak) && (!sk || !*sk))
        return CREDS_NOT_CONFIGURED;
    if (!ak || !*ak || !sk || !*sk) {
        s3_error_set(err, "credentials", NULL, NULL, "IncompleteCredentials",
                     "%s is set but %s is not",
                     ak && *ak ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                     ak && *ak ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return CREDS_FAIL;
    }
    if (strlen(ak) >= sizeof(out->access_key) || strlen(sk) >= sizeof(out->secret) ||
        (tok && strlen(tok) >= sizeof(out->token))) {
        s3_error_set(err, "credentials", NULL, NULL, "InvalidCredentials",
                     "credentials in the environment are too long");
        return CREDS_FAIL;
    }
    snprintf(out->access_key, sizeof(out->access_key), "%s", ak);
    snprintf(out->secret, sizeof(out->secret), "%s", sk);
    snprintf(out->token, sizeof(out->token), "%s", tok ? tok : "");
    out->expires = 0;
    snprintf(out->source, sizeof(out->source), "env");
    return CREDS_OK;
}
