/* Shared credentials and config files (~/.aws/credentials, ~/.aws/config).
 *
 * The credentials file names sections [name]; the config file names them [profile name] except
 * [default]. Keys read: aws_access_key_id, aws_secret_access_key, aws_session_token, region.
 * Only static keys are taken from profiles (role_arn/source_profile chains and
 * credential_process are not supported and are reported as such rather than ignored). */
#include "s3/creds_source.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ini_want {
    const char *section; /* exact section header text without brackets */
    char access_key[128], secret[128], token[4096], region[64];
    int found_section, has_unsupported;
};

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Returns 0 when the file was read (or does not exist: *exists = 0), -1 on a read error. */
static int ini_scan(const char *path, struct ini_want *w, int *exists)
{
    FILE *f = fopen(path, "re");
    *exists = f != NULL;
    if (!f)
        return errno == ENOENT ? 0 : -1;
    char line[8192];
    int in = 0;
    while (fgets(line, sizeof(line), f)) {
        char *s = trim(line);
        if (!*s || *s == '#' || *s == ';')
            continue;
        if (*s == '[') {
            char *e = strchr(s, ']');
            if (e)
                *e = '\0';
            in = strcmp(trim(s + 1), w->section) == 0;
            w->found_section |= in;
            continue;
        }
        if (!in)
            continue;
        char *eq = strchr(s, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        if (strcmp(k, "aws_access_key_id") == 0)
            snprintf(w->access_key, sizeof(w->access_key), "%s", v);
        else if (strcmp(k, "aws_secret_access_key") == 0)
            snprintf(w->secret, sizeof(w->secret), "%s", v);
        else if (strcmp(k, "aws_session_token") == 0)
            snprintf(w->token, sizeof(w->token), "%s", v);
        else if (strcmp(k, "region") == 0)
            snprintf(w->region, sizeof(w->region), "%s", v);
        else if (strcmp(k, "credential_process") == 0 || strcmp(k, "source_profile") == 0 ||
                 strcmp(k, "sso_start_url") == 0 || strcmp(k, "sso_session") == 0)
            w->has_unsupported = 1;
    }
    OPENSSL_cleanse(line, sizeof(line));
    fclose(f);
    return 0;
}

static void path_of(const char *env, const char *leaf, char *out, size_t cap)
{
    const char *p = getenv(env);
    if (p && *p) {
        snprintf(out, cap, "%s", p);
        return;
    }
    const char *home = getenv("HOME");
    snprintf(out, cap, "%s/.aws/%s", home && *home ? home : "/root", leaf);
}

static void wipe_want(struct ini_want *w)
{
    OPENSSL_cleanse(w, sizeof(*w));
}

int creds_from_file(const char *profile, int explicit_profile, struct s3_creds *out,
                    struct s3_error *err)
{
    char cpath[1024], fpath[1024], cfg_section[300];
    path_of("AWS_SHARED_CREDENTIALS_FILE", "credentials", cpath, sizeof(cpath));
    path_of("AWS_CONFIG_FILE", "config", fpath, sizeof(fpath));
    if (strcmp(profile, "default") == 0)
        snprintf(cfg_section, sizeof(cfg_section), "default");
    else
        snprintf(cfg_section, sizeof(cfg_section), "profile %s", profile);

    struct ini_want c = {.section = profile}, g = {.section = cfg_section};
    int ce, ge;
    if (ini_scan(cpath, &c, &ce) != 0 || ini_scan(fpath, &g, &ge) != 0) {
        s3_error_set(err, "credentials", NULL, NULL, "SharedFileUnreadable",
                     "cannot read %s or %s: %s", cpath, fpath, strerror(errno));
        wipe_want(&c);
        wipe_want(&g);
        return CREDS_FAIL;
    }
    int rc = CREDS_NOT_CONFIGURED;
    const struct ini_want *w = c.access_key[0] ? &c : g.access_key[0] ? &g : NULL;
    if (w) {
        if (!w->secret[0]) {
            s3_error_set(err, "credentials", NULL, NULL, "IncompleteCredentials",
                         "profile %s has aws_access_key_id but no aws_secret_access_key", profile);
            rc = CREDS_FAIL;
        } else {
            snprintf(out->access_key, sizeof(out->access_key), "%s", w->access_key);
            snprintf(out->secret, sizeof(out->secret), "%s", w->secret);
            snprintf(out->token, sizeof(out->token), "%s", w->token);
            out->expires = 0;
            snprintf(out->source, sizeof(out->source), "profile %s", profile);
            rc = CREDS_OK;
        }
    } else if (c.found_section || g.found_section) {
        if (c.has_unsupported || g.has_unsupported) {
            s3_error_set(err, "credentials", NULL, NULL, "UnsupportedProfile",
                         "profile %s uses credential_process/source_profile/SSO, which this "
                         "client does not support; use static keys, web identity or a role",
                         profile);
            rc = CREDS_FAIL;
        }
    } else if (explicit_profile) {
        s3_error_set(err, "credentials", NULL, NULL, "ProfileNotFound",
                     "AWS_PROFILE=%s: no such profile in %s or %s", profile, cpath, fpath);
        rc = CREDS_FAIL;
    }
    wipe_want(&c);
    wipe_want(&g);
    return rc;
}

void s3_config_region(const char *profile, char *out, size_t cap)
{
    const char *r = getenv("AWS_REGION");
    if (!r || !*r)
        r = getenv("AWS_DEFAULT_REGION");
    if (r && *r) {
        snprintf(out, cap, "%s", r);
        return;
    }
    if (!profile || !*profile)
        profile = getenv("AWS_PROFILE");
    if (!profile || !*profile)
        profile = "default";
    char fpath[1024], section[300];
    path_of("AWS_CONFIG_FILE", "config", fpath, sizeof(fpath));
    if (strcmp(profile, "default") == 0)
        snprintf(section, sizeof(section), "default");
    else
        snprintf(section, sizeof(section), "profile %s", profile);
    struct ini_want g = {.section = section};
    int exists;
    if (ini_scan(fpath, &g, &exists) == 0 && g.region[0])
        snprintf(out, cap, "%s", g.region);
    else
        snprintf(out, cap, "us-east-1");
    wipe_want(&g);
}
