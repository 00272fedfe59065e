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
#include <stdio.h>

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
/* Query-string signing (a presigned URL): *query (malloc'd) is what follows
 * '?' on method https://host path, valid expires_s (1 s to 7 days) from
 * now_ms; host is the only signed header and the payload is unsigned. With
 * temporary credentials the token travels in the query too. */
kerr_code sigv4_presign(const char *method, const char *host, const char *path,
                        const aws_credentials *cred, const aws_signing *how, int64_t now_ms,
                        int expires_s, char **query, kerr *err);

/* RFC 3986 encoding as SigV4 wants it: unreserved characters stay, every
 * other byte becomes %XX (upper-case hex); keep_slash leaves '/' alone.
 * Returns a malloc'd string. */
char *aws_uri_encode(const char *s, size_t len, bool keep_slash);
/* Lower-case hex SHA-256 and HMAC-SHA256. */
void aws_sha256_hex(const void *data, size_t len, char out[65]);
/* The SHA-256 of the rest of f, read through a small buffer; false on a read
 * error. f is left at its end. */
bool aws_sha256_file_hex(FILE *f, char out[65]);
void aws_hmac_sha256(const void *key, size_t keylen, const void *msg, size_t msglen,
                     unsigned char out[32]);

/* ---- HTTP: one libcurl multi loop shared by every caller (http.c) ---- */
typedef struct aws_http aws_http;

typedef struct {
    long status;
    char *body; /* NUL-terminated */
    size_t body_len;
    char request_id[128], etag[128], date[64];
    char error_type[128]; /* x-amzn-ErrorType (KVS puts the error code there) */
} aws_http_response;

/* ca_bundle: a CA file to trust instead of the system's (NULL: system). */
aws_http *aws_http_new(const char *ca_bundle, kerr *err);
void aws_http_free(aws_http *h);
/* Requests this thread makes from now on give up (KERR_IO, "cancelled") within
 * about a second once cancel(arg) returns true: a camera or publisher that is
 * stopping never waits out a connect or transfer timeout. NULL: never. */
void aws_http_cancel_when(bool (*cancel)(void *arg), void *arg);
/* Blocks the calling thread until the response (or a transport error: KERR_IO,
 * and resp holds no body). */
kerr_code aws_http_do(aws_http *h, const char *method, const char *url, const aws_header *headers,
                      int nheaders, const void *body, size_t body_len, int timeout_ms,
                      aws_http_response *resp, kerr *err);
/* The same with the body read from upload (body_len bytes from its current
 * position) as it is sent: a large object never in memory. */
kerr_code aws_http_do_file(aws_http *h, const char *method, const char *url,
                           const aws_header *headers, int nheaders, FILE *upload, size_t body_len,
                           int timeout_ms, aws_http_response *resp, kerr *err);
void aws_http_response_free(aws_http_response *r);

/* ---- credentials: the standard provider chain (credentials.c) ---- */
typedef struct {
    char access_key_id[128];
    char secret_access_key[128];
    char session_token[4096]; /* "" for long-term credentials */
    int64_t expires_ms;       /* 0: does not expire */
    int64_t fetched_ms;
    char source[64]; /* which provider answered, for logs (never the values) */
} aws_creds;

/* The whole chain: environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
 * AWS_SESSION_TOKEN), the shared credentials and config files for AWS_PROFILE
 * (default "default", AWS_SHARED_CREDENTIALS_FILE, AWS_CONFIG_FILE, ~/.aws/),
 * then web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 * -> STS, sts_endpoint overrides), ECS (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or
 * _FULL_URI with AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE]), EC2 IMDSv2
 * (AWS_EC2_METADATA_SERVICE_ENDPOINT, AWS_EC2_METADATA_DISABLED). */
kerr_code aws_creds_fetch(aws_http *http, const char *sts_endpoint, const char *region,
                          aws_creds *out, kerr *err);

/* Cached credentials shared by the publishers, refreshed ahead of expiry (5
 * minutes, or a quarter of a short lifetime) so requests never see a gap. */
typedef struct aws_creds_provider aws_creds_provider;
aws_creds_provider *aws_creds_provider_new(aws_http *http, const char *sts_endpoint,
                                           const char *region);
void aws_creds_provider_free(aws_creds_provider *p);
kerr_code aws_creds_provider_get(aws_creds_provider *p, aws_creds *out, kerr *err);
/* After an ExpiredToken answer: fetch again on the next get. */
void aws_creds_provider_invalidate(aws_creds_provider *p);

/* ---- JSON-protocol services with the standard retry mode (json_call.c) ---- */
typedef struct {
    const char *service; /* signing name: kinesis, dynamodb */
    const char *region;
    const char *endpoint;      /* NULL: https://{service}.{region}.amazonaws.com */
    const char *target_prefix; /* Kinesis_20131202, DynamoDB_20120810 */
    const char *json_version;  /* 1.1 (Kinesis), 1.0 (DynamoDB) */
    int timeout_ms;
} aws_target;

typedef struct {
    long status;
    char code[128]; /* e.g. ProvisionedThroughputExceededException */
    char message[512];
    bool retryable, throttle;
    int retries; /* retries spent inside the call */
} aws_error;

/* KERR_OK on 2xx (resp holds the body; free it). KERR_AGAIN when the error is
 * retryable but attempts or the retry quota ran out; KERR_INVALID for client
 * errors. aerr says which; on any error resp holds no body. */
kerr_code aws_json_call(aws_http *http, const aws_creds *creds, const aws_target *t,
                        const char *operation, const char *body, aws_http_response *resp,
                        aws_error *aerr, kerr *err);
void aws_classify(long status, const char *code, aws_error *e);

/* Any signed REST call with the same retry rules (S3 and friends). */
typedef struct {
    const char *method, *url;
    const char *path, *query;  /* as on the request line, for signing */
    const aws_header *headers; /* include Host (and x-amz-content-sha256 for S3) */
    int nheaders;
    const void *body;
    size_t body_len;
    FILE *body_file; /* instead of body: body_len bytes from its start (payload_hash needed) */
    const char *payload_hash; /* NULL: SHA-256 of body */
    const char *service, *region;
    bool s3;
    int timeout_ms;
    int max_attempts; /* 0: the standard retry mode's; 1: one try (a caller that must stay
                         responsive, e.g. a poll on the signal-handling thread) */
} aws_call;

kerr_code aws_signed_call(aws_http *http, const aws_creds *creds, const aws_call *c,
                          aws_http_response *resp, aws_error *aerr, kerr *err);
/* ---- the process-wide AWS session (shared.c): publishers and KVS sources ---- */
typedef struct {
    aws_http *http;
    aws_creds_provider *creds;
} aws_shared;
/* Reference-counted; the first caller's settings create it (and prove that
 * credentials resolve). */
const aws_shared *aws_shared_acquire(const char *ca_bundle, const char *sts_endpoint,
                                     const char *region, kerr *err);
void aws_shared_release(void);
/* Signed calls with the current credentials; an expired token is refreshed
 * and the call tried once more. */
kerr_code aws_call_with_creds(const aws_shared *a, const aws_target *t, const char *operation,
                              const char *body, aws_http_response *resp, aws_error *aerr,
                              kerr *err);
kerr_code aws_signed_call_with_creds(const aws_shared *a, const aws_call *call,
                                     aws_http_response *resp, aws_error *aerr, kerr *err);

/* "http://127.0.0.1:4566/x" -> host "127.0.0.1:4566", base "http://127.0.0.1:4566" */
void aws_split_endpoint(const char *url, char *host, size_t hlen, char *base, size_t blen);
/* Full-jitter backoff for the attempt (0-based), capped at 20 s. */
int64_t aws_backoff_ms(int attempt);

#endif
