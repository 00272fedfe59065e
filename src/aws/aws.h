/* aws: the small AWS client layer kvs-infer needs, on OpenSSL and libcurl
 * (no AWS SDK is packaged for Debian). This header is its face.
 *
 * Signature Version 4 (sigv4.c) follows the AWS specification: canonical
 * request, string to sign, derived signing key, Authorization header; and
 * the presigned query form. Proven against the official test-suite vectors
 * (tests/unit/test_sigv4.c). */
#ifndef KVS_AWS_H
#define KVS_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"

typedef struct {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL for long-term credentials */
} aws_credentials;

typedef struct {
    const char *name, *value;
} aws_header;

typedef struct {
    const char *method;
    /* The path exactly as it goes on the request line (already percent-encoded
     * where needed). Non-S3 services normalise it and encode it once more, as
     * AWS specifies; S3 signs it as sent. */
    const char *path;
    const char *query; /* after '?', NULL or "" when none */
    const aws_header *headers;
    int nheaders; /* must include host; the signer adds x-amz-date and the token */
    const void *body;
    size_t body_len;
    /* NULL: SHA-256 of body. S3 callers pass the x-amz-content-sha256 value
     * (a hash or UNSIGNED-PAYLOAD) and also send that header. */
    const char *payload_hash;
} aws_request;

typedef struct {
    const char *region, *service;
    bool s3; /* S3 rules: the path is neither normalised nor encoded again */
} aws_signing;

typedef struct {
    char amz_date[17]; /* X-Amz-Date: YYYYMMDDTHHMMSSZ */
    char signature[65];
    char signed_headers[1024]; /* h1;h2;... */
    char authorization[2048];  /* the Authorization header value */
    char *canonical_request;   /* malloc'd; for tests and debugging (never logged) */
    char *string_to_sign;      /* malloc'd */
} aws_signature;

/* Signs req at wall time now_ms. The caller sends X-Amz-Date, Authorization
 * and (with temporary credentials) X-Amz-Security-Token with the request. */
kerr_code sigv4_sign(const aws_request *req, const aws_credentials *cred, const aws_signing *how,
                     int64_t now_ms, aws_signature *out, kerr *err);
void aws_signature_free(aws_signature *s);

/* RFC 3986 encoding as SigV4 wants it: unreserved characters stay, every
 * other byte becomes %XX (upper-case hex); keep_slash leaves '/' alone.
 * Returns a malloc'd string. */
char *aws_uri_encode(const char *s, size_t len, bool keep_slash);
/* Lower-case hex SHA-256 and HMAC-SHA256. */
void aws_sha256_hex(const void *data, size_t len, char out[65]);
void aws_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                     unsigned char out[32]);

#endif
