/* S3/STS XML via libxml2's tree API: responses are small (a listing page is ~1000 entries), so a
 * DOM is simpler and safer than a streaming parser. Builders escape the five XML specials. */
#include "s3/s3_xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void s3_xml_init(void)
{
    xmlInitParser();
}

static xmlDocPtr parse(const char *body, size_t len)
{
    if (!body || len == 0 || len > (size_t)1 << 30)
        return NULL;
    return xmlReadMemory(body, (int)len, "s3.xml", NULL,
                         XML_PARSE_NONET | XML_PARSE_NOBLANKS | XML_PARSE_NOERROR |
                             XML_PARSE_NOWARNING);
}

static int is(xmlNodePtr n, const char *name)
{
    return n && n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n ? n->children : NULL; c; c = c->next)
        if (is(c, name))
            return c;
    return NULL;
}

/* Copies the text of child `name` of n into buf; "" when absent. */
static void text_of(xmlNodePtr n, const char *name, char *buf, size_t cap)
{
    xmlNodePtr c = child(n, name);
    xmlChar *t = c ? xmlNodeGetContent(c) : NULL;
    snprintf(buf, cap, "%s", t ? (const char *)t : "");
    xmlFree(t);
}

static char *dup_text(xmlNodePtr n, const char *name)
{
    xmlNodePtr c = child(n, name);
    if (!c)
        return NULL;
    xmlChar *t = xmlNodeGetContent(c);
    char *s = strdup(t ? (const char *)t : "");
    xmlFree(t);
    return s;
}

static xmlNodePtr root_named(xmlDocPtr d, const char *name)
{
    xmlNodePtr r = d ? xmlDocGetRootElement(d) : NULL;
    return is(r, name) ? r : NULL;
}

int s3_xml_parse_error(const char *body, size_t len, struct s3_xml_error *out)
{
    memset(out, 0, sizeof(*out));
    xmlDocPtr d = parse(body, len);
    xmlNodePtr r = root_named(d, "Error");
    if (!r) {
        /* STS wraps it: <ErrorResponse><Error>...</Error><RequestId/></ErrorResponse> */
        xmlNodePtr er = root_named(d, "ErrorResponse");
        r = child(er, "Error");
        if (er)
            text_of(er, "RequestId", out->request_id, sizeof(out->request_id));
    }
    if (!r) {
        xmlFreeDoc(d);
        return -1;
    }
    text_of(r, "Code", out->code, sizeof(out->code));
    text_of(r, "Message", out->message, sizeof(out->message));
    if (!out->request_id[0])
        text_of(r, "RequestId", out->request_id, sizeof(out->request_id));
    xmlFreeDoc(d);
    return 0;
}

int s3_xml_upload_id(const char *body, size_t len, char *upload_id, size_t cap)
{
    upload_id[0] = '\0';
    xmlDocPtr d = parse(body, len);
    xmlNodePtr r = root_named(d, "InitiateMultipartUploadResult");
    if (r)
        text_of(r, "UploadId", upload_id, cap);
    xmlFreeDoc(d);
    return upload_id[0] ? 0 : -1;
}

int s3_xml_list_v2(const char *body, size_t len, struct s3_list_page *out)
{
    memset(out, 0, sizeof(*out));
    xmlDocPtr d = parse(body, len);
    xmlNodePtr r = root_named(d, "ListBucketResult");
    if (!r) {
        xmlFreeDoc(d);
        return -1;
    }
    size_t nobj = 0, npre = 0;
    for (xmlNodePtr c = r->children; c; c = c->next) {
        nobj += is(c, "Contents");
        npre += is(c, "CommonPrefixes");
    }
    out->items = calloc(nobj ? nobj : 1, sizeof(*out->items));
    out->prefixes = calloc(npre ? npre : 1, sizeof(*out->prefixes));
    if (!out->items || !out->prefixes)
        goto fail;
    char buf[64];
    for (xmlNodePtr c = r->children; c; c = c->next) {
        if (is(c, "Contents")) {
            struct s3_object_info *o = &out->items[out->n++];
            o->key = dup_text(c, "Key");
            if (!o->key)
                goto fail;
            text_of(c, "Size", buf, sizeof(buf));
            o->size = strtoull(buf, NULL, 10);
            text_of(c, "ETag", o->etag, sizeof(o->etag));
            text_of(c, "LastModified", o->last_modified, sizeof(o->last_modified));
        } else if (is(c, "CommonPrefixes")) {
            char *p = dup_text(c, "Prefix");
            if (!p)
                goto fail;
            out->prefixes[out->nprefixes++] = p;
        }
    }
    text_of(r, "IsTruncated", buf, sizeof(buf));
    out->truncated = strcmp(buf, "true") == 0;
    out->next_token = dup_text(r, "NextContinuationToken");
    xmlFreeDoc(d);
    return 0;
fail:
    xmlFreeDoc(d);
    s3_list_page_free(out);
    return -1;
}

void s3_list_page_free(struct s3_list_page *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->items[i].key);
    for (size_t i = 0; i < p->nprefixes; i++)
        free(p->prefixes[i]);
    free(p->items);
    free(p->prefixes);
    free(p->next_token);
    memset(p, 0, sizeof(*p));
}

int s3_xml_delete_result(const char *body, size_t len, struct s3_delete_result *out)
{
    memset(out, 0, sizeof(*out));
    xmlDocPtr d = parse(body, len);
    xmlNodePtr r = root_named(d, "DeleteResult");
    if (!r) {
        xmlFreeDoc(d);
        return -1;
    }
    for (xmlNodePtr c = r->children; c; c = c->next) {
        if (is(c, "Deleted")) {
            out->deleted++;
        } else if (is(c, "Error")) {
            if (out->errors++ == 0) {
                text_of(c, "Key", out->first_key, sizeof(out->first_key));
                text_of(c, "Code", out->first_code, sizeof(out->first_code));
                text_of(c, "Message", out->first_message, sizeof(out->first_message));
            }
        }
    }
    xmlFreeDoc(d);
    return 0;
}

int s3_xml_list_uploads(const char *body, size_t len, struct s3_uploads_page *out)
{
    memset(out, 0, sizeof(*out));
    xmlDocPtr d = parse(body, len);
    xmlNodePtr r = root_named(d, "ListMultipartUploadsResult");
    if (!r) {
        xmlFreeDoc(d);
        return -1;
    }
    size_t n = 0;
    for (xmlNodePtr c = r->children; c; c = c->next)
        n += is(c, "Upload");
    out->items = calloc(n ? n : 1, sizeof(*out->items));
    if (!out->items)
        goto fail;
    for (xmlNodePtr c = r->children; c; c = c->next) {
        if (!is(c, "Upload"))
            continue;
        struct s3_upload_info *u = &out->items[out->n++];
        u->key = dup_text(c, "Key");
        u->upload_id = dup_text(c, "UploadId");
        if (!u->key || !u->upload_id)
            goto fail;
    }
    char buf[16];
    text_of(r, "IsTruncated", buf, sizeof(buf));
    out->truncated = strcmp(buf, "true") == 0;
    out->next_key_marker = dup_text(r, "NextKeyMarker");
    out->next_upload_id_marker = dup_text(r, "NextUploadIdMarker");
    xmlFreeDoc(d);
    return 0;
fail:
    xmlFreeDoc(d);
    s3_uploads_page_free(out);
    return -1;
}

void s3_uploads_page_free(struct s3_uploads_page *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->items[i].key);
        free(p->items[i].upload_id);
    }
    free(p->items);
    free(p->next_key_marker);
    free(p->next_upload_id_marker);
    memset(p, 0, sizeof(*p));
}

int s3_xml_sts_credentials(const char *body, size_t len, char *access_key, size_t akcap,
                           char *secret, size_t skcap, char *token, size_t tcap, char *expiration,
                           size_t ecap)
{
    xmlDocPtr d = parse(body, len);
    xmlNodePtr r = root_named(d, "AssumeRoleWithWebIdentityResponse");
    xmlNodePtr c = child(child(r, "AssumeRoleWithWebIdentityResult"), "Credentials");
    int rc = -1;
    if (c) {
        text_of(c, "AccessKeyId", access_key, akcap);
        text_of(c, "SecretAccessKey", secret, skcap);
        text_of(c, "SessionToken", token, tcap);
        text_of(c, "Expiration", expiration, ecap);
        rc = access_key[0] && secret[0] ? 0 : -1;
    }
    xmlFreeDoc(d);
    return rc;
}

/* Appends s XML-escaped to a buffer that the caller sized generously (6x worst case). */
static size_t esc(char *out, const char *s)
{
    size_t o = 0;
    for (; *s; s++) {
        const char *r = NULL;
        switch (*s) {
        case '&':
            r = "&amp;";
            break;
        case '<':
            r = "&lt;";
            break;
        case '>':
            r = "&gt;";
            break;
        case '"':
            r = "&quot;";
            break;
        case '\'':
            r = "&apos;";
            break;
        }
        if (r) {
            size_t n = strlen(r);
            memcpy(out + o, r, n);
            o += n;
        } else {
            out[o++] = *s;
        }
    }
    return o;
}

char *s3_xml_delete_body(const char *const *keys, size_t n)
{
    size_t cap = 128;
    for (size_t i = 0; i < n; i++)
        cap += 6 * strlen(keys[i]) + 32;
    char *b = malloc(cap);
    if (!b)
        return NULL;
    size_t o = (size_t)sprintf(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                  "<Delete><Quiet>true</Quiet>");
    for (size_t i = 0; i < n; i++) {
        o += (size_t)sprintf(b + o, "<Object><Key>");
        o += esc(b + o, keys[i]);
        o += (size_t)sprintf(b + o, "</Key></Object>");
    }
    sprintf(b + o, "</Delete>");
    return b;
}

char *s3_xml_complete_body(char (*etags)[80], size_t nparts)
{
    size_t cap = 128 + nparts * (6 * 80 + 64);
    char *b = malloc(cap);
    if (!b)
        return NULL;
    size_t o = (size_t)sprintf(b, "<CompleteMultipartUpload>");
    for (size_t i = 0; i < nparts; i++) {
        o += (size_t)sprintf(b + o, "<Part><PartNumber>%zu</PartNumber><ETag>", i + 1);
        o += esc(b + o, etags[i]);
        o += (size_t)sprintf(b + o, "</ETag></Part>");
    }
    sprintf(b + o, "</CompleteMultipartUpload>");
    return b;
}
