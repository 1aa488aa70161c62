/* The XML S3 and STS speak: parsing responses (libxml2) and building request bodies.
 *
 * Contract: pure functions over caller buffers; results are owned by the caller and freed with
 * the matching *_free. Element names are matched by local name, so namespaced and plain
 * documents parse alike. The parser is set never to touch the network (XML_PARSE_NONET).
 * Errors: -1 when the body is not the expected document; out-structs are then zeroed. */
#ifndef TANDEM_S3_XML_H
#define TANDEM_S3_XML_H

#include <stddef.h>
#include <stdint.h>

/* Call once before threads start (libxml2's rule); idempotent. */
void s3_xml_init(void);

struct s3_xml_error {
    char code[64];
    char message[384];
    char request_id[96];
};
/* 0 when body is an <Error> document. */
int s3_xml_parse_error(const char *body, size_t len, struct s3_xml_error *out);

/* InitiateMultipartUploadResult/UploadId. */
int s3_xml_upload_id(const char *body, size_t len, char *upload_id, size_t cap);

struct s3_object_info {
    char *key;
    uint64_t size;
    char etag[80];
    char last_modified[40];
};
struct s3_list_page {
    struct s3_object_info *items;
    size_t n;
    char **prefixes; /* CommonPrefixes/Prefix */
    size_t nprefixes;
    int truncated;
    char *next_token; /* NextContinuationToken, NULL if none */
};
int s3_xml_list_v2(const char *body, size_t len, struct s3_list_page *out);
void s3_list_page_free(struct s3_list_page *p);

struct s3_delete_result {
    size_t deleted;
    size_t errors;
    char first_key[512]; /* the first failed key, its code and message */
    char first_code[64];
    char first_message[256];
};
int s3_xml_delete_result(const char *body, size_t len, struct s3_delete_result *out);

struct s3_upload_info {
    char *key;
    char *upload_id;
};
struct s3_uploads_page {
    struct s3_upload_info *items;
    size_t n;
    int truncated;
    char *next_key_marker, *next_upload_id_marker;
};
int s3_xml_list_uploads(const char *body, size_t len, struct s3_uploads_page *out);
void s3_uploads_page_free(struct s3_uploads_page *p);

/* AssumeRoleWithWebIdentityResponse credentials; expiration is ISO 8601 text. */
int s3_xml_sts_credentials(const char *body, size_t len, char *access_key, size_t akcap,
                           char *secret, size_t skcap, char *token, size_t tcap, char *expiration,
                           size_t ecap);

/* <Delete> body for DeleteObjects, Quiet mode. Returns malloc'd text or NULL. */
char *s3_xml_delete_body(const char *const *keys, size_t n);
/* <CompleteMultipartUpload> body; etags[i] is part i+1's ETag as the server sent it. */
char *s3_xml_complete_body(char (*etags)[80], size_t nparts);

#endif
