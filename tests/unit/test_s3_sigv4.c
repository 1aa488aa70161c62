/* SigV4 against AWS's published worked examples.
 *
 * Expected values are written down from AWS's documentation: the generic "Signature Version 4
 * test suite" (credentials AKIDEXAMPLE, 2015-08-30T12:36:00Z, us-east-1, service "service") and
 * the S3 header-based-authentication examples (AKIAIOSFODNN7EXAMPLE, 2013-05-24, examplebucket).
 * Where AWS also publishes intermediate strings, those are compared too, so a failure says which
 * canonicalization step broke. */
#include "s3/sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

#define CHECK_STR(got, want)                                                                 \
    do {                                                                                     \
        const char *g_ = (got), *w_ = (want);                                                \
        if (!g_ || strcmp(g_, w_) != 0) {                                                    \
            fprintf(stderr, "%s:%d: %s\n  got:  %s\n  want: %s\n", __FILE__, __LINE__, #got, \
                    g_ ? g_ : "(null)", w_);                                                 \
            failures++;                                                                      \
        }                                                                                    \
    } while (0)

static const char *SUITE_AK = "AKIDEXAMPLE";
static const char *SUITE_SK = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
static const char *S3_AK = "AKIAIOSFODNN7EXAMPLE";
static const char *S3_SK = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/* Signs a suite request: host example.amazonaws.com plus extra headers. */
static void suite_case(const char *name, const char *method, const char *path, const char *query,
                       const struct sigv4_header *extra, size_t nextra, const char *payload_hash,
                       const char *want_sig, const char *want_creq_hash)
{
    struct sigv4_header h[8] = {{"Host", "example.amazonaws.com"},
                                {"X-Amz-Date", "20150830T123600Z"}};
    size_t n = 2;
    for (size_t i = 0; i < nextra; i++)
        h[n++] = extra[i];
    struct sigv4_input in = {.method = method,
                             .path = path,
                             .query = query,
                             .headers = h,
                             .nheaders = n,
                             .payload_hash = payload_hash ? payload_hash : SIGV4_EMPTY_SHA256,
                             .region = "us-east-1",
                             .service = "service",
                             .amz_date = "20150830T123600Z"};
    char auth[512], sig[65] = "";
    if (sigv4_authorization(&in, SUITE_AK, SUITE_SK, auth, sizeof(auth), sig) != 0) {
        fprintf(stderr, "%s: signing failed\n", name);
        failures++;
        return;
    }
    if (strcmp(sig, want_sig) != 0) {
        fprintf(stderr, "%s: signature\n  got:  %s\n  want: %s\n", name, sig, want_sig);
        char *c = sigv4_canonical_request(&in);
        fprintf(stderr, "  canonical request:\n%s\n", c ? c : "(null)");
        free(c);
        failures++;
    }
    if (want_creq_hash) {
        char *c = sigv4_canonical_request(&in);
        char hh[65];
        sigv4_sha256_hex(c, strlen(c), hh);
        if (strcmp(hh, want_creq_hash) != 0) {
            fprintf(stderr, "%s: canonical request hash %s, want %s\n", name, hh, want_creq_hash);
            failures++;
        }
        free(c);
    }
    if (!strstr(auth, "Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ")) {
        fprintf(stderr, "%s: bad credential scope in %s\n", name, auth);
        failures++;
    }
}

static void test_suite(void)
{
    suite_case("get-vanilla", "GET", "/", NULL, NULL, 0, NULL,
               "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
               "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63");
    suite_case("get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", NULL,
               0, NULL, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
               "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0");
    suite_case("get-vanilla-query-order-value", "GET", "/", "Param1=value2&Param1=value1", NULL, 0,
               NULL, "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694", NULL);
    suite_case("get-vanilla-utf8-query", "GET", "/", "%E1%88%B4=bar", NULL, 0, NULL,
               "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04", NULL);
    suite_case("get-unreserved", "GET",
               "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", NULL, NULL, 0,
               NULL, "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f", NULL);
    struct sigv4_header trim[] = {{"My-Header1", " value1"}, {"My-Header2", "\"a   b   c\""}};
    suite_case("get-header-value-trim", "GET", "/", NULL, trim, 2, NULL,
               "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736", NULL);
    struct sigv4_header dup[] = {
        {"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}};
    suite_case("get-header-key-duplicate", "GET", "/", NULL, dup, 3, NULL,
               "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea", NULL);
    struct sigv4_header order[] = {{"My-Header1", "value4"},
                                   {"My-Header1", "value1"},
                                   {"My-Header1", "value3"},
                                   {"My-Header1", "value2"}};
    suite_case("get-header-value-order", "GET", "/", NULL, order, 4, NULL,
               "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01", NULL);
    char body_hash[65];
    sigv4_sha256_hex("Param1=value1", 13, body_hash);
    CHECK_STR(body_hash, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
    struct sigv4_header form[] = {{"Content-Type", "application/x-www-form-urlencoded"}};
    suite_case("post-x-www-form-urlencoded", "POST", "/", NULL, form, 1, body_hash,
               "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a", NULL);
}

/* S3's worked examples: host examplebucket.s3.amazonaws.com, x-amz-content-sha256 signed. */
static void s3_case(const char *name, const char *method, const char *path, const char *query,
                    const struct sigv4_header *extra, size_t nextra, const char *payload_hash,
                    const char *want_sig, const char *want_creq_hash, const char *want_names)
{
    struct sigv4_header h[8] = {{"Host", "examplebucket.s3.amazonaws.com"},
                                {"x-amz-date", "20130524T000000Z"},
                                {"x-amz-content-sha256", payload_hash}};
    size_t n = 3;
    for (size_t i = 0; i < nextra; i++)
        h[n++] = extra[i];
    struct sigv4_input in = {.method = method,
                             .path = path,
                             .query = query,
                             .headers = h,
                             .nheaders = n,
                             .payload_hash = payload_hash,
                             .region = "us-east-1",
                             .service = "s3",
                             .amz_date = "20130524T000000Z"};
    char auth[512], sig[65] = "";
    if (sigv4_authorization(&in, S3_AK, S3_SK, auth, sizeof(auth), sig) != 0) {
        fprintf(stderr, "%s: signing failed\n", name);
        failures++;
        return;
    }
    if (strcmp(sig, want_sig) != 0) {
        char *c = sigv4_canonical_request(&in);
        fprintf(stderr, "%s: signature\n  got:  %s\n  want: %s\n  canonical:\n%s\n", name, sig,
                want_sig, c);
        free(c);
        failures++;
    }
    if (want_creq_hash) {
        char *c = sigv4_canonical_request(&in);
        char *sts = sigv4_string_to_sign(&in, c);
        char want_sts[256];
        snprintf(want_sts, sizeof(want_sts),
                 "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n%s",
                 want_creq_hash);
        CHECK_STR(sts, want_sts);
        free(sts);
        free(c);
    }
    char want_auth[512];
    snprintf(want_auth, sizeof(want_auth),
             "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
             "SignedHeaders=%s, Signature=%s",
             want_names, want_sig);
    CHECK_STR(auth, want_auth);
}

static void test_s3_examples(void)
{
    /* GET Object, first 10 bytes of test.txt. */
    struct sigv4_header range[] = {{"Range", "bytes=0-9"}};
    s3_case("s3-get-object", "GET", "/test.txt", NULL, range, 1, SIGV4_EMPTY_SHA256,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972",
            "host;range;x-amz-content-sha256;x-amz-date");

    /* PUT Object: key "test$file.text" goes on the wire (and is signed) as test%24file.text. */
    const char *body = "Welcome to Amazon S3.";
    char bh[65];
    sigv4_sha256_hex(body, strlen(body), bh);
    CHECK_STR(bh, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    char path[64];
    path[0] = '/';
    sigv4_uri_encode("test$file.text", 14, 1, path + 1, sizeof(path) - 1);
    CHECK_STR(path, "/test%24file.text");
    struct sigv4_header put[] = {{"Date", "Fri, 24 May 2013 00:00:00 GMT"},
                                 {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
    s3_case("s3-put-object", "PUT", path, NULL, put, 2, bh,
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            "9e0e90d9c76de8fa5b200d8c849cd5b8dc7a3be3951ddb7f6a76b4158342019d",
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class");

    /* GET Bucket lifecycle: a subresource without a value signs as "lifecycle=". */
    s3_case("s3-get-lifecycle", "GET", "/", "lifecycle", NULL, 0, SIGV4_EMPTY_SHA256,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
            "9766c798316ff2757b517bc739a67f6213b4ab36dd5da2f94eaebf79c77395ca",
            "host;x-amz-content-sha256;x-amz-date");

    /* GET Bucket (List Objects), parameters given out of order. */
    s3_case("s3-list-objects", "GET", "/", "prefix=J&max-keys=2", NULL, 0, SIGV4_EMPTY_SHA256,
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            "df57d21db20da04d7fa30298dd4488ba3a2b47ca3a489c74750e0f1e7df1b9b7",
            "host;x-amz-content-sha256;x-amz-date");
}

static void test_canonical_query(void)
{
    struct {
        const char *in, *want;
    } cases[] = {
        {"", ""},
        {"uploads", "uploads="},
        {"delete=", "delete="},
        {"prefix=a%2F&list-type=2", "list-type=2&prefix=a%2F"},
        {"prefix=a/b", "prefix=a%2Fb"},
        {"q=a+b", "q=a%2Bb"},
        {"q=a%20b", "q=a%20b"},
        {"x=a.b&x=a%2Fb", "x=a%2Fb&x=a.b"},
        {"a=10&a=9", "a=10&a=9"},
        {"b&a=1", "a=1&b="},
        {"a=1=2", "a=1%3D2"},
        {"partNumber=10&uploadId=x~y_z-1.2", "partNumber=10&uploadId=x~y_z-1.2"},
        {"continuation-token=1%2Fabc%3D%3D&list-type=2",
         "continuation-token=1%2Fabc%3D%3D&list-type=2"},
        {"k=%e1%88%b4", "k=%E1%88%B4"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = sigv4_canonical_query(cases[i].in);
        CHECK_STR(got, cases[i].want);
        free(got);
    }
}

static void test_uri_encode(void)
{
    char out[128];
    sigv4_uri_encode("a b/c+d~e_f.g-h", 15, 1, out, sizeof(out));
    CHECK_STR(out, "a%20b/c%2Bd~e_f.g-h");
    sigv4_uri_encode("a b/c", 5, 0, out, sizeof(out));
    CHECK_STR(out, "a%20b%2Fc");
    sigv4_uri_encode("\xe1\x88\xb4", 3, 1, out, sizeof(out));
    CHECK_STR(out, "%E1%88%B4");
    if (sigv4_uri_encode("abcdef", 6, 1, out, 4) != (size_t)-1) {
        fprintf(stderr, "uri_encode: overflow not reported\n");
        failures++;
    }
    char d[17];
    sigv4_amz_date(1369353600, d);
    CHECK_STR(d, "20130524T000000Z");
}

int main(void)
{
    test_suite();
    test_s3_examples();
    test_canonical_query();
    test_uri_encode();
    if (failures) {
        fprintf(stderr, "test_s3_sigv4: %d failure(s)\n", failures);
        return 1;
    }
    printf("test_s3_sigv4: all checks passed\n");
    return 0;
}
