/* SigV4 against the official AWS test-suite vectors (awslabs/aws-c-auth
 * tests/aws-signing-test-suite/v4, the same cases the AWS SDKs run), written
 * here as data, and the IAM user guide's worked example. Credentials, region,
 * service and time are the suite's: AKIDEXAMPLE, us-east-1, "service",
 * 20150830T123600Z, host example.amazonaws.com. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../src/aws/aws.h"

#define SUITE_TIME_MS 1440938160000LL /* 2015-08-30T12:36:00Z */
static const char *k_secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

typedef struct {
    const char *name, *method, *path, *query;
    aws_header headers[4];
    int nheaders; /* besides host */
    const char *body;
    const char *token;
    const char *signed_headers;
    const char *signature;
} vector;

static const vector k_suite[] = {
    {"get-vanilla",
     "GET",
     "/",
     NULL,
     {{0}},
     0,
     NULL,
     NULL,
     "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-vanilla-with-session-token",
     "GET",
     "/",
     NULL,
     {{0}},
     0,
     NULL,
     "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267",
     "host;x-amz-date;x-amz-security-token",
     "07ec1639c89043aa0e3e2de82b96708f198cceab042d4a97044c66dd9f74e7f8"},
    {"get-vanilla-query-order-key-case",
     "GET",
     "/",
     "Param2=value2&Param1=value1",
     {{0}},
     0,
     NULL,
     NULL,
     "host;x-amz-date",
     "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"},
    {"get-vanilla-empty-query-key",
     "GET",
     "/",
     "Param1=value1",
     {{0}},
     0,
     NULL,
     NULL,
     "host;x-amz-date",
     "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"},
    {"get-vanilla-query-unreserved",
     "GET",
     "/",
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz="
     "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
     {{0}},
     0,
     NULL,
     NULL,
     "host;x-amz-date",
     "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"},
    {"get-utf8",
     "GET",
     "/\xe1\x88\xb4",
     NULL,
     {{0}},
     0,
     NULL,
     NULL,
     "host;x-amz-date",
     "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"},
    {"get-space-normalized",
     "GET",
     "/example space/",
     NULL,
     {{0}},
     0,
     NULL,
     NULL,
     "host;x-amz-date",
     "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"},
    {"get-slashes-normalized",
     "GET",
     "//example//",
     NULL,
     {{0}},
     0,
     NULL,
     NULL,
     "host;x-amz-date",
     "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"},
    {"get-slash-dot-slash-normalized",
     "GET",
     "/./",
     NULL,
     {{0}},
     0,
     NULL,
     NULL,
     "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-relative-relative-normalized",
     "GET",
     "/example1/example2/../..",
     NULL,
     {{0}},
     0,
     NULL,
     NULL,
     "host;x-amz-date",
     "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"},
    {"get-header-value-trim",
     "GET",
     "/",
     NULL,
     {{"My-Header1", " value1"}, {"My-Header2", " \"a   b   c\""}},
     2,
     NULL,
     NULL,
     "host;my-header1;my-header2;x-amz-date",
     "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"},
    {"get-header-key-duplicate",
     "GET",
     "/",
     NULL,
     {{"My-Header1", "value2"}, {"My-Header1", "value2"}, {"My-Header1", "value1"}},
     3,
     NULL,
     NULL,
     "host;my-header1;x-amz-date",
     "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"},
    /* the suite's folded header lines arrive as three values of one header */
    {"get-header-value-multiline",
     "GET",
     "/",
     NULL,
     {{"My-Header1", "value1"}, {"My-Header1", "value2"}, {"My-Header1", "value3"}},
     3,
     NULL,
     NULL,
     "host;my-header1;x-amz-date",
     "ba17b383a53190154eb5fa66a1b836cc297cc0a3d70a5d00705980573d8ff790"},
    {"post-header-key-sort",
     "POST",
     "/",
     NULL,
     {{"My-Header1", "value1"}},
     1,
     NULL,
     NULL,
     "host;my-header1;x-amz-date",
     "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"},
};

static void official_suite(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof k_suite / sizeof k_suite[0]; i++) {
        const vector *v = &k_suite[i];
        aws_header h[5] = {{"Host", "example.amazonaws.com"}};
        for (int k = 0; k < v->nheaders; k++)
            h[k + 1] = v->headers[k];
        aws_request req = {v->method,
                           v->path,
                           v->query,
                           h,
                           v->nheaders + 1,
                           v->body,
                           v->body ? strlen(v->body) : 0,
                           NULL};
        aws_credentials cred = {"AKIDEXAMPLE", k_secret, v->token};
        aws_signing how = {"us-east-1", "service", false};
        aws_signature sig;
        assert_int_equal(sigv4_sign(&req, &cred, &how, SUITE_TIME_MS, &sig, NULL), KERR_OK);
        if (strcmp(sig.signature, v->signature) != 0 ||
            strcmp(sig.signed_headers, v->signed_headers))
            fail_msg("%s: got %s (%s)\ncanonical request:\n%s", v->name, sig.signature,
                     sig.signed_headers, sig.canonical_request);
        char want[512];
        snprintf(want, sizeof want,
                 "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                 "SignedHeaders=%s, Signature=%s",
                 v->signed_headers, v->signature);
        assert_string_equal(sig.authorization, want);
        assert_string_equal(sig.amz_date, "20150830T123600Z");
        aws_signature_free(&sig);
    }
}

static void iam_guide_example(void **state)
{
    (void)state;
    aws_header h[] = {{"content-type", "application/x-www-form-urlencoded; charset=utf-8"},
                      {"host", "iam.amazonaws.com"}};
    aws_request req = {"GET", "/", "Action=ListUsers&Version=2010-05-08", h, 2, NULL, 0, NULL};
    aws_credentials cred = {"AKIDEXAMPLE", k_secret, NULL};
    aws_signing how = {"us-east-1", "iam", false};
    aws_signature sig;
    assert_int_equal(sigv4_sign(&req, &cred, &how, SUITE_TIME_MS, &sig, NULL), KERR_OK);
    char hash[65];
    aws_sha256_hex(sig.canonical_request, strlen(sig.canonical_request), hash);
    assert_string_equal(hash, "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59");
    assert_string_equal(sig.signature,
                        "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7");
    aws_signature_free(&sig);
}

static void s3_paths_are_not_encoded_twice(void **state)
{
    (void)state;
    aws_header h[] = {{"host", "bucket.s3.amazonaws.com"},
                      {"x-amz-content-sha256", "UNSIGNED-PAYLOAD"}};
    aws_request req = {"PUT", "/cam%201/2026/a+b.jpg", NULL, h, 2, NULL, 0, "UNSIGNED-PAYLOAD"};
    aws_credentials cred = {"AKIDEXAMPLE", k_secret, NULL};
    aws_signing s3 = {"us-east-1", "s3", true}, other = {"us-east-1", "kinesis", false};
    aws_signature a, b;
    assert_int_equal(sigv4_sign(&req, &cred, &s3, SUITE_TIME_MS, &a, NULL), KERR_OK);
    assert_int_equal(sigv4_sign(&req, &cred, &other, SUITE_TIME_MS, &b, NULL), KERR_OK);
    assert_non_null(strstr(a.canonical_request, "\n/cam%201/2026/a%2Bb.jpg\n"));
    assert_non_null(strstr(b.canonical_request, "\n/cam%25201/2026/a%2Bb.jpg\n"));
    assert_non_null(strstr(a.canonical_request, "\nUNSIGNED-PAYLOAD"));
    assert_non_null(strstr(a.signed_headers, "x-amz-content-sha256"));
    aws_signature_free(&a);
    aws_signature_free(&b);
}

/* Not credentials: the placeholder pair AWS's documentation signs its
 * presign example with (both end in EXAMPLE; no account has them). The
 * example's signature can only be reproduced with exactly these. */
static const char *k_doc_key_id = "AKIAIOSFODNN7EXAMPLE";
static const char *k_doc_secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

/* AWS's documented presign example (S3 API reference, "Authenticating
 * Requests: Using Query Parameters"): GET /test.txt in examplebucket. */
static void s3_presign_example(void **state)
{
    (void)state;
    aws_credentials cred = {k_doc_key_id, k_doc_secret, NULL};
    aws_signing s3 = {"us-east-1", "s3", true};
    char *q = NULL;
    assert_int_equal(sigv4_presign("GET", "examplebucket.s3.amazonaws.com", "/test.txt", &cred, &s3,
                                   1369353600000LL, 86400, &q, NULL),
                     KERR_OK);
    assert_string_equal(
        q, "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
           "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&"
           "X-Amz-SignedHeaders=host&X-Amz-Signature="
           "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404");
    free(q);
}

/* Temporary credentials: the token is in the signed query (so it changes the
 * signature); lifetimes beyond SigV4's 7 days are refused. */
static void s3_presign_token_and_limits(void **state)
{
    (void)state;
    aws_credentials cred = {k_doc_key_id, k_doc_secret, "tok/en+="};
    aws_signing s3 = {"us-east-1", "s3", true};
    char *q = NULL;
    assert_int_equal(sigv4_presign("GET", "examplebucket.s3.amazonaws.com", "/test.txt", &cred, &s3,
                                   1369353600000LL, 86400, &q, NULL),
                     KERR_OK);
    assert_non_null(strstr(q, "&X-Amz-Security-Token=tok%2Fen%2B%3D&X-Amz-SignedHeaders=host&"));
    assert_null(strstr(q, "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"));
    free(q);
    kerr err = {0};
    assert_int_equal(sigv4_presign("GET", "h", "/k", &cred, &s3, 0, 604801, &q, &err),
                     KERR_INVALID);
    assert_null(q);
    assert_int_equal(sigv4_presign("GET", "h", "/k", &cred, &s3, 0, 0, &q, &err), KERR_INVALID);
}

static void uri_encoding(void **state)
{
    (void)state;
    char *e = aws_uri_encode("a b/c~d=e&f", 11, false);
    assert_string_equal(e, "a%20b%2Fc~d%3De%26f");
    free(e);
    e = aws_uri_encode("a b/c", 5, true);
    assert_string_equal(e, "a%20b/c");
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(official_suite),
        cmocka_unit_test(iam_guide_example),
        cmocka_unit_test(s3_paths_are_not_encoded_twice),
        cmocka_unit_test(uri_encoding),
        cmocka_unit_test(s3_presign_example),
        cmocka_unit_test(s3_presign_token_and_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
