/* Where the config text comes from: a file, or an S3 object (--config
 * s3://bucket/key) fetched with SigV4 and the standard credentials chain.
 * The S3 endpoint and region cannot come from the config (it is not read
 * yet): they come from the environment, as the AWS SDKs take them
 * (AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL; AWS_REGION, else
 * AWS_DEFAULT_REGION). A poll asks only for what changed: If-None-Match with
 * the last ETag (304: unchanged) for S3, the mtime and size and then the
 * SHA-256 of the text for a file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../aws/aws.h"
#include "app.h"

static const char *env_or(const char *a, const char *b, const char *dflt)
{
    const char *v = getenv(a);
    if (v && *v) return v;
    v = b ? getenv(b) : NULL;
    return v && *v ? v : dflt;
}

/* s3://bucket/key -> bucket and key; false when it is not that shape. */
static bool split_s3(const char *where, char *bucket, size_t blen, char *key, size_t klen)
{
    if (strncmp(where, "s3://", 5) != 0) return false;
    const char *b = where + 5, *slash = strchr(b, '/');
    if (!slash || slash == b || !slash[1] || (size_t)(slash - b) >= blen ||
        strlen(slash + 1) >= klen)
        return false;
    snprintf(bucket, blen, "%.*s", (int)(slash - b), b);
    snprintf(key, klen, "%s", slash + 1);
    return true;
}

bool config_source_is_s3(const char *where)
{
    return strncmp(where, "s3://", 5) == 0;
}

kerr_code config_source_open(config_source *s, const char *where, kerr *err)
{
    memset(s, 0, sizeof *s);
    snprintf(s->where, sizeof s->where, "%s", where);
    if (!config_source_is_s3(where)) return KERR_OK;
    if (!split_s3(where, s->bucket, sizeof s->bucket, s->key, sizeof s->key))
        return kerr_set(err, KERR_INVALID, "--config %s: expected s3://BUCKET/KEY", where);
    s->s3 = true;
    snprintf(s->region, sizeof s->region, "%s",
             env_or("AWS_REGION", "AWS_DEFAULT_REGION", "us-east-1"));
    snprintf(s->endpoint, sizeof s->endpoint, "%s",
             env_or("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", ""));
    /* held for the whole run: the process's AWS session starts with these settings */
    s->aws = aws_shared_acquire(env_or("AWS_CA_BUNDLE", NULL, NULL),
                                env_or("AWS_ENDPOINT_URL_STS", NULL, NULL), s->region, err);
    return s->aws ? KERR_OK : err->code;
}

void config_source_close(config_source *s)
{
    if (s->aws) aws_shared_release();
    s->aws = NULL;
}

/* A custom endpoint (a stand-in, MinIO) takes the bucket in the path, as
 * aws.s3_force_path_style does for the S3 publisher; AWS's own, the host. */
static kerr_code s3_get(config_source *s, bool force, char **text, kerr *err)
{
    char *ekey = aws_uri_encode(s->key, strlen(s->key), true);
    if (!ekey) return kerr_set(err, KERR_NOMEM, "out of memory");
    char url[4096], host[512], base[1024], path[3072];
    if (s->endpoint[0]) {
        aws_split_endpoint(s->endpoint, host, sizeof host, base, sizeof base);
        snprintf(path, sizeof path, "/%s/%s", s->bucket, ekey);
    } else {
        snprintf(base, sizeof base, "https://%s.s3.%s.amazonaws.com", s->bucket, s->region);
        aws_split_endpoint(base, host, sizeof host, base, sizeof base);
        snprintf(path, sizeof path, "/%s", ekey);
    }
    free(ekey);
    snprintf(url, sizeof url, "%s%s", base, path);
    static const char empty_hash[] =
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    aws_header h[3] = {{"Host", host}, {"x-amz-content-sha256", empty_hash}};
    int nh = 2;
    if (!force && s->etag[0]) h[nh++] = (aws_header){"If-None-Match", s->etag};
    aws_call c = {.method = "GET",
                  .url = url,
                  .path = path,
                  .headers = h,
                  .nheaders = nh,
                  .payload_hash = empty_hash,
                  .service = "s3",
                  .region = s->region,
                  .s3 = true,
                  /* Once a version runs, a poll is one short try (the next poll
                   * tries again): it runs on the thread that answers SIGTERM. */
                  .timeout_ms = s->etag[0] ? 3000 : 5000,
                  .max_attempts = s->etag[0] ? 1 : 0};
    aws_http_response resp;
    aws_error aerr;
    kerr_code rc = aws_signed_call_with_creds((const aws_shared *)s->aws, &c, &resp, &aerr, err);
    if (rc != KERR_OK) {
        if (aerr.status == 304) return KERR_OK; /* unchanged since the ETag */
        return rc;
    }
    /* an empty object has no body: it is an empty config (refused as an
     * empty file is), not "unchanged", nor a file named s3://... at start */
    *text = resp.body ? resp.body : kstrdup("");
    resp.body = NULL;
    aws_http_response_free(&resp);
    if (!*text) return kerr_set(err, KERR_NOMEM, "out of memory");
    snprintf(s->etag, sizeof s->etag, "%s", resp.etag);
    return KERR_OK;
}

static kerr_code file_get(config_source *s, bool force, char **text, kerr *err)
{
    struct stat st;
    if (stat(s->where, &st) != 0) return kerr_set(err, KERR_IO, "cannot stat %s", s->where);
    int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    if (!force && mtime == s->mtime_ns && (int64_t)st.st_size == s->size) return KERR_OK;
    size_t len = 0;
    char *t = read_file(s->where, &len, err);
    if (!t) return err->code ? err->code : KERR_IO;
    s->mtime_ns = mtime, s->size = (int64_t)st.st_size;
    *text = t;
    return KERR_OK;
}

kerr_code config_source_fetch(config_source *s, bool force, char **text, kerr *err)
{
    *text = NULL;
    kerr_code rc = s->s3 ? s3_get(s, force, text, err) : file_get(s, force, text, err);
    if (rc != KERR_OK || !*text) return rc;
    char hash[65];
    aws_sha256_hex(*text, strlen(*text), hash);
    if (!force && strcmp(hash, s->hash) == 0) { /* touched or re-uploaded, not changed */
        free(*text);
        *text = NULL;
        return KERR_OK;
    }
    snprintf(s->hash, sizeof s->hash, "%s", hash);
    return KERR_OK;
}

const char *config_source_version(const config_source *s)
{
    return s->hash;
}
