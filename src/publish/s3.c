/* S3: the snapshot and crops, at {prefix}{camera}/{yyyy}/{mm}/{dd}/{event_id}/
 * frame.jpg and crop-N.jpg, and clip.mp4 from the clip's clip_ready record
 * (docs/publishing.md). Uploaded before any publisher that
 * names them sends the event (the hub orders that). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../aws/aws.h"
#include "../metrics/metrics.h"
#include "aws_publish.h"

typedef struct {
    aws_dest dest;
    char bucket[256];
    bool path_style;
} s3_state;

static const char *const k_keys[] = {"s3_bucket", "s3_prefix", "s3_sse", "s3_kms_key_id", NULL};

static bool s3_read(cfg_diags *d, const ynode *pubs, const char *path, bool as_default, cfg_pub *s)
{
    (void)as_default;
    pub_read_keys(d, pubs, path, k_keys, s);
    const char *sse = cfg_pub_get(s, "s3_sse");
    if (sse && strcmp(sse, "AES256") && strcmp(sse, "aws:kms"))
        cfg_diag_add(d, ynode_get(pubs, "s3_sse"), path,
                     "s3_sse must be AES256 or aws:kms, not \"%s\"", sse);
    if (cfg_pub_get(s, "s3_kms_key_id") && (!sse || strcmp(sse, "aws:kms")))
        cfg_diag_add(d, ynode_get(pubs, "s3_kms_key_id"), path,
                     "s3_kms_key_id needs s3_sse: aws:kms");
    return cfg_pub_get(s, "s3_bucket") != NULL;
}

static void s3_key(const cfg_pub *p, char *out, size_t len)
{
    snprintf(out, len, "s3:%s", cfg_pub_get(p, "s3_bucket"));
}

static kerr_code s3_open(const cfg_pub *p, const config *cfg, void **state, kerr *err)
{
    s3_state *s = calloc(1, sizeof *s);
    if (!s) return kerr_set(err, KERR_NOMEM, "out of memory");
    if (aws_dest_open(&s->dest, cfg, CFG_EP_S3, "s3", err) != KERR_OK) {
        free(s);
        return err ? err->code : KERR_INVALID;
    }
    snprintf(s->bucket, sizeof s->bucket, "%s", cfg_pub_get(p, "s3_bucket"));
    s->path_style = cfg->s3_force_path_style || *s->dest.endpoint;
    log_kv(LOG_INFO, LOG_CTX("publisher", "s3"), "s3 bucket %s in %s", s->bucket, s->dest.region);
    *state = s;
    return KERR_OK;
}

static void s3_image_ref(const cfg_pub *p, const event *e, const char *name, char *out, size_t len)
{
    char key[2048];
    event_object_key(e, cfg_pub_get(p, "s3_prefix"), name, key, sizeof key);
    snprintf(out, len, "s3://%s/%s", cfg_pub_get(p, "s3_bucket"), key);
}

/* img's bytes, or (file set, img NULL) the file's, sent as they are read:
 * its length from fstat, its SigV4 payload hash computed over the file. */
static kerr_code put_object(s3_state *s, const cfg_pub *p, const char *key, const char *type,
                            const event_image *img, FILE *file, int *retries, kerr *err)
{
    char *ekey = aws_uri_encode(key, strlen(key), true);
    if (!ekey) return kerr_set(err, KERR_NOMEM, "out of memory");
    char url[4096], host[512], base[1024], path[3072], hash[65];
    if (s->path_style) {
        char ep[600];
        snprintf(ep, sizeof ep, "%s",
                 *s->dest.endpoint ? s->dest.endpoint : "https://s3.amazonaws.com");
        aws_split_endpoint(ep, host, sizeof host, base, sizeof base);
        snprintf(path, sizeof path, "/%s/%s", s->bucket, ekey);
    } else {
        snprintf(base, sizeof base, "https://%s.s3.%s.amazonaws.com", s->bucket, s->dest.region);
        aws_split_endpoint(base, host, sizeof host, base, sizeof base);
        snprintf(path, sizeof path, "/%s", ekey);
    }
    free(ekey);
    snprintf(url, sizeof url, "%s%s", base, path);
    size_t len = img ? img->len : 0;
    if (file) {
        struct stat st;
        if (fstat(fileno(file), &st) != 0 || !aws_sha256_file_hex(file, hash))
            return kerr_set(err, KERR_IO, "s3 %s: cannot read the file: %s", key, strerror(errno));
        len = (size_t)st.st_size;
    } else
        aws_sha256_hex(img->data, img->len, hash);
    aws_header h[5] = {{"Host", host}, {"Content-Type", type}, {"x-amz-content-sha256", hash}};
    int nh = 3;
    const char *sse = cfg_pub_get(p, "s3_sse"), *kms = cfg_pub_get(p, "s3_kms_key_id");
    if (sse) h[nh++] = (aws_header){"x-amz-server-side-encryption", sse};
    if (kms) h[nh++] = (aws_header){"x-amz-server-side-encryption-aws-kms-key-id", kms};
    aws_call c = {.method = "PUT",
                  .url = url,
                  .path = path,
                  .headers = h,
                  .nheaders = nh,
                  .body = img ? img->data : NULL,
                  .body_len = len,
                  .body_file = file,
                  .payload_hash = hash,
                  .service = "s3",
                  .region = s->dest.region,
                  .s3 = true,
                  .timeout_ms = 30000};
    aws_http_response resp;
    aws_error aerr;
    kerr_code rc = aws_signed_call_with_creds(s->dest.aws, &c, &resp, &aerr, err);
    *retries += aerr.retries;
    aws_http_response_free(&resp);
    return rc == KERR_INVALID ? KERR_AGAIN : rc; /* a missing bucket may be created: retry */
}

/* The clip's MP4: from the spool's file (event.clip_mp4_file) when it is
 * one, never read into memory whole. */
static kerr_code put_clip(s3_state *s, const cfg_pub *p, const char *key, const event *e,
                          int *retries, kerr *err)
{
    if (e->clip_mp4.data)
        return put_object(s, p, key, "video/mp4", &e->clip_mp4, NULL, retries, err);
    FILE *f = fopen(e->clip_mp4_file, "rb");
    if (!f) /* the spool's own file gone: a retry cannot bring it back */
        return kerr_set(err, KERR_UNSUPPORTED, "%s: %s", e->clip_mp4_file, strerror(errno));
    kerr_code rc = put_object(s, p, key, "video/mp4", NULL, f, retries, err);
    fclose(f);
    return rc;
}

static kerr_code publish_one(void *state, const cfg_pub *p, const event *e, kerr *err)
{
    s3_state *s = state;
    const char *prefix = cfg_pub_get(p, "s3_prefix");
    int retries = 0;
    kerr_code rc = KERR_OK;
    char key[2048];
    if (e->snapshot.data) {
        event_object_key(e, prefix, "frame.jpg", key, sizeof key);
        rc = put_object(s, p, key, "image/jpeg", &e->snapshot, NULL, &retries, err);
    }
    if (rc == KERR_OK && (e->clip_mp4.data || (e->clip_mp4.len && e->clip_mp4_file))) {
        event_clip_key(e, prefix, key, sizeof key);
        rc = put_clip(s, p, key, e, &retries, err);
    }
    for (int i = 0; rc == KERR_OK && i < e->ncrops; i++) {
        char name[32];
        snprintf(name, sizeof name, "crop-%d.jpg", i);
        event_object_key(e, prefix, name, key, sizeof key);
        rc = put_object(s, p, key, "image/jpeg", &e->crops[i], NULL, &retries, err);
    }
    if (retries) metric_add(M_PUBLISHER_RETRIES, "publisher=\"s3\"", retries);
    return rc;
}

static void s3_close(void *state)
{
    s3_state *s = state;
    if (!s) return;
    aws_dest_close(&s->dest);
    free(s);
}

const publisher_ops publisher_s3 = {
    .name = "s3",
    .keys = k_keys,
    .caps = PUB_STORES_IMAGES | PUB_STORES_CLIPS | PUB_NEEDS_REGION,
    .image_rank = 0,
    .read = s3_read,
    .key = s3_key,
    .open = s3_open,
    .image_ref = s3_image_ref,
    .publish_one = publish_one,
    .close = s3_close,
};
