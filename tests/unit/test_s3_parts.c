/* Addressing, retry classification/backoff, XML parsing/building and error redaction. */
#include "s3/s3_error.h"
#include "s3/s3_retry.h"
#include "s3/s3_url.h"
#include "s3/s3_xml.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (!(cond)) {                                                               \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
            failures++;                                                              \
        }                                                                            \
    } while (0)
#define CHECK_STR(a, b)                                                                        \
    do {                                                                                       \
        if (strcmp((a), (b)) != 0) {                                                           \
            fprintf(stderr, "%s:%d: got \"%s\", want \"%s\"\n", __FILE__, __LINE__, (a), (b)); \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

static void test_url(void)
{
    struct s3_endpoint ep;
    char err[256];
    struct s3_target t;
    unsetenv("AWS_ENDPOINT_URL_S3");
    unsetenv("AWS_ENDPOINT_URL");
    CHECK(s3_endpoint_resolve(NULL, "eu-west-1", &ep, err, sizeof(err)) == 0);
    CHECK(s3_target_build(&ep, S3_ADDR_AUTO, "my-bucket", "a b/c.txt", NULL, &t) == 0);
    CHECK_STR(t.url, "https://my-bucket.s3.eu-west-1.amazonaws.com/a%20b/c.txt");
    CHECK_STR(t.host, "my-bucket.s3.eu-west-1.amazonaws.com");
    CHECK_STR(t.path, "/a%20b/c.txt");
    s3_target_free(&t);
    /* Dotted bucket over https: path style (the wildcard certificate covers one label). */
    CHECK(s3_target_build(&ep, S3_ADDR_AUTO, "my.bucket", "k", "uploads=", &t) == 0);
    CHECK_STR(t.url, "https://s3.eu-west-1.amazonaws.com/my.bucket/k?uploads=");
    s3_target_free(&t);
    /* An IP endpoint with a port: path style, port in Host. */
    CHECK(s3_endpoint_parse("http://127.0.0.1:8080", &ep, err, sizeof(err)) == 0);
    CHECK(s3_target_build(&ep, S3_ADDR_AUTO, "bkt", "x", NULL, &t) == 0);
    CHECK_STR(t.url, "http://127.0.0.1:8080/bkt/x");
    CHECK_STR(t.host, "127.0.0.1:8080");
    s3_target_free(&t);
    /* VPC endpoint hostnames take the bucket as the first label. */
    setenv("AWS_ENDPOINT_URL_S3",
           "https://bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com", 1);
    CHECK(s3_endpoint_resolve(NULL, "us-east-1", &ep, err, sizeof(err)) == 0);
    CHECK_STR(ep.host, "bucket.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com");
    setenv("AWS_ENDPOINT_URL_S3", "https://vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com", 1);
    CHECK(s3_endpoint_resolve(NULL, "us-east-1", &ep, err, sizeof(err)) == 0);
    CHECK(s3_target_build(&ep, S3_ADDR_AUTO, "data", "k", NULL, &t) == 0);
    CHECK_STR(t.url, "https://data.vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com/k");
    s3_target_free(&t);
    CHECK(s3_target_build(&ep, S3_ADDR_PATH, "data", "k", NULL, &t) == 0);
    CHECK_STR(t.url, "https://vpce-1a2b3c4d-5e6f.s3.us-east-1.vpce.amazonaws.com/data/k");
    s3_target_free(&t);
    /* AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL; an explicit override over both. */
    setenv("AWS_ENDPOINT_URL", "http://10.9.9.9:9000", 1);
    CHECK(s3_endpoint_resolve(NULL, "us-east-1", &ep, err, sizeof(err)) == 0);
    CHECK(strncmp(ep.host, "vpce-", 5) == 0);
    unsetenv("AWS_ENDPOINT_URL_S3");
    CHECK(s3_endpoint_resolve(NULL, "us-east-1", &ep, err, sizeof(err)) == 0);
    CHECK_STR(ep.host, "10.9.9.9");
    CHECK(ep.port == 9000);
    CHECK(s3_endpoint_resolve("https://minio.local/base/", "us-east-1", &ep, err, sizeof(err)) ==
          0);
    CHECK_STR(ep.host, "minio.local");
    CHECK_STR(ep.base_path, "/base");
    unsetenv("AWS_ENDPOINT_URL");
    CHECK(s3_endpoint_parse("ftp://x", &ep, err, sizeof(err)) == -1);
}

static void test_retry(void)
{
    CHECK(s3_retry_classify(CURLE_OK, 503, "SlowDown") == S3_FAIL_RETRY);
    CHECK(s3_retry_classify(CURLE_OK, 500, "") == S3_FAIL_RETRY);
    CHECK(s3_retry_classify(CURLE_OK, 502, "") == S3_FAIL_RETRY);
    CHECK(s3_retry_classify(CURLE_OK, 504, "") == S3_FAIL_RETRY);
    CHECK(s3_retry_classify(CURLE_OK, 400, "RequestTimeout") == S3_FAIL_RETRY);
    CHECK(s3_retry_classify(CURLE_OK, 200, "InternalError") == S3_FAIL_RETRY);
    CHECK(s3_retry_classify(CURLE_OK, 403, "SignatureDoesNotMatch") == S3_FAIL_PERMANENT);
    CHECK(s3_retry_classify(CURLE_OK, 404, "NoSuchKey") == S3_FAIL_PERMANENT);
    CHECK(s3_retry_classify(CURLE_OK, 400, "InvalidPart") == S3_FAIL_PERMANENT);
    CHECK(s3_retry_classify(CURLE_OK, 412, "PreconditionFailed") == S3_FAIL_PERMANENT);
    CHECK(s3_retry_classify(CURLE_OK, 400, "ExpiredToken") == S3_FAIL_CREDS);
    CHECK(s3_retry_classify(CURLE_RECV_ERROR, 0, "") == S3_FAIL_RETRY);
    CHECK(s3_retry_classify(CURLE_OPERATION_TIMEDOUT, 0, "") == S3_FAIL_RETRY);
    CHECK(s3_retry_classify(CURLE_GOT_NOTHING, 0, "") == S3_FAIL_RETRY);
    CHECK(s3_retry_classify(CURLE_PEER_FAILED_VERIFICATION, 0, "") == S3_FAIL_PERMANENT);
    struct s3_retry_policy p = {.max_attempts = 5, .base_delay_ms = 100, .max_delay_ms = 1000};
    uint64_t rng = 12345;
    uint32_t maxseen[8] = {0};
    for (int i = 0; i < 2000; i++)
        for (int a = 2; a <= 7; a++) {
            uint32_t d = s3_retry_delay_ms(&p, a, &rng);
            if (d > maxseen[a])
                maxseen[a] = d;
        }
    /* Full jitter: never above the ceiling min(cap, base * 2^(n-2)), and it uses the range. */
    CHECK(maxseen[2] <= 100 && maxseen[2] > 80);
    CHECK(maxseen[3] <= 200 && maxseen[3] > 160);
    CHECK(maxseen[5] <= 800 && maxseen[5] > 640);
    CHECK(maxseen[7] <= 1000 && maxseen[7] > 800);
}

static void test_xml(void)
{
    s3_xml_init();
    const char *err = "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code><Message>The "
                      "specified key does not exist.</Message><RequestId>tx1</RequestId></Error>";
    struct s3_xml_error xe;
    CHECK(s3_xml_parse_error(err, strlen(err), &xe) == 0);
    CHECK_STR(xe.code, "NoSuchKey");
    CHECK_STR(xe.request_id, "tx1");
    CHECK(s3_xml_parse_error("not xml", 7, &xe) == -1);
    const char *list =
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name>"
        "<IsTruncated>true</IsTruncated><NextContinuationToken>tok/+=</NextContinuationToken>"
        "<Contents><Key>a&amp;b</Key><Size>12</Size><ETag>\"e1\"</ETag></Contents>"
        "<Contents><Key>c</Key><Size>0</Size></Contents></ListBucketResult>";
    struct s3_list_page pg;
    CHECK(s3_xml_list_v2(list, strlen(list), &pg) == 0);
    CHECK(pg.n == 2 && pg.truncated);
    CHECK_STR(pg.items[0].key, "a&b");
    CHECK(pg.items[0].size == 12);
    CHECK_STR(pg.next_token, "tok/+=");
    s3_list_page_free(&pg);
    const char *keys[] = {"x<y", "plain"};
    char *del = s3_xml_delete_body(keys, 2);
    CHECK(strstr(del, "<Object><Key>x&lt;y</Key></Object>") != NULL);
    CHECK(strstr(del, "<Quiet>true</Quiet>") != NULL);
    free(del);
    char etags[2][80] = {"\"a\"", "\"b\""};
    char *cmp = s3_xml_complete_body(etags, 2);
    CHECK_STR(cmp, "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;a&quot;"
                   "</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag>"
                   "</Part></CompleteMultipartUpload>");
    free(cmp);
    const char *dr = "<DeleteResult><Deleted><Key>a</Key></Deleted><Error><Key>b</Key><Code>"
                     "AccessDenied</Code><Message>no</Message></Error></DeleteResult>";
    struct s3_delete_result d;
    CHECK(s3_xml_delete_result(dr, strlen(dr), &d) == 0);
    CHECK(d.deleted == 1 && d.errors == 1);
    CHECK_STR(d.first_key, "b");
    char up[64];
    const char *init = "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>"
                       "u-1</UploadId></InitiateMultipartUploadResult>";
    CHECK(s3_xml_upload_id(init, strlen(init), up, sizeof(up)) == 0);
    CHECK_STR(up, "u-1");
}

static void test_error(void)
{
    struct s3_error e;
    s3_error_clear(&e);
    s3_error_set(&e, "PutObject", "b", "k", "SlowDown", "Please reduce your request rate.");
    e.http_status = 503;
    e.attempts = 5;
    snprintf(e.request_id, sizeof(e.request_id), "tx9");
    char buf[512];
    CHECK_STR(s3_error_str(&e, buf, sizeof(buf)),
              "PutObject s3://b/k: HTTP 503 SlowDown: Please reduce your request rate. (request "
              "id tx9, 5 attempts)");
    char msg[] = "bad key wJalrXUtnFEMI and token FQoGZXIvYXdz end";
    const char *secrets[] = {"wJalrXUtnFEMI", "FQoGZXIvYXdz", "", NULL};
    s3_error_redact(msg, secrets);
    CHECK_STR(msg, "bad key ************* and token ************ end");
}

int main(void)
{
    test_url();
    test_retry();
    test_xml();
    test_error();
    if (failures) {
        fprintf(stderr, "test_s3_parts: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_s3_parts: all checks passed\n");
    return 0;
}
