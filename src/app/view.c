/* A camera's view for the operator page (see camera_view in app.h). */
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "app.h"

camera_view *view_new(void)
{
    camera_view *v = calloc(1, sizeof *v);
    if (!v) return NULL;
    pthread_mutex_init(&v->mu, NULL);
    atomic_init(&v->refs, 1);
    return v;
}

void view_hold(camera_view *v)
{
    atomic_fetch_add(&v->refs, 1);
}

static void let_go(camera_view *v)
{
    free(v->rgb);
    free(v->jpeg);
    v->rgb = NULL;
    v->jpeg = NULL;
    v->jpeg_len = 0;
}

void view_release(camera_view *v)
{
    if (!v || atomic_fetch_sub(&v->refs, 1) != 1) return;
    let_go(v);
    pthread_mutex_destroy(&v->mu);
    free(v);
}

bool view_watched(camera_view *v)
{
    return atomic_load(&v->watched_until_ms) > clock_wall_ms();
}

void view_watch(camera_view *v)
{
    atomic_store(&v->watched_until_ms, clock_wall_ms() + VIEW_WATCH_MS);
}

void view_offer(camera_view *v, const kframe *f, const ui_box *boxes, int n)
{
    if (!view_watched(v)) {
        if (v->rgb) { /* nobody looked for a while */
            pthread_mutex_lock(&v->mu);
            let_go(v);
            pthread_mutex_unlock(&v->mu);
        }
        return;
    }
    int w = f->width > VIEW_WIDTH ? VIEW_WIDTH : f->width;
    int h = (int)((int64_t)f->height * w / f->width) & ~1;
    if (w < 2 || h < 2) return;
    uint8_t *rgb = malloc((size_t)w * (size_t)h * 3);
    kerr err = {0};
    if (!rgb || frame_scale_rgb(f, w, h, rgb, w * 3, &err) != KERR_OK) {
        free(rgb);
        return;
    }
    double sx = (double)w / f->width, sy = (double)h / f->height;
    pthread_mutex_lock(&v->mu);
    let_go(v);
    v->rgb = rgb;
    v->w = w;
    v->h = h;
    v->nboxes = n < VIEW_MAX_BOXES ? n : VIEW_MAX_BOXES;
    for (int i = 0; i < v->nboxes; i++) {
        v->boxes[i] = boxes[i];
        v->boxes[i].x1 = (float)(boxes[i].x1 * sx), v->boxes[i].x2 = (float)(boxes[i].x2 * sx);
        v->boxes[i].y1 = (float)(boxes[i].y1 * sy), v->boxes[i].y2 = (float)(boxes[i].y2 * sy);
    }
    v->seq++;
    pthread_mutex_unlock(&v->mu);
}

/* A kept frame as it was when copied out of the view, to encode unlocked. */
typedef struct {
    uint8_t *rgb;
    int w, h;
    ui_box boxes[VIEW_MAX_BOXES];
    int nboxes;
    int64_t seq;
} view_copy;

/* Under v->mu: the kept frame, copied (1.5 MB at most: a memcpy, not an encode). */
static kerr_code copy_frame(const camera_view *v, view_copy *out, kerr *err)
{
    size_t size = (size_t)v->w * (size_t)v->h * 3;
    out->rgb = malloc(size);
    if (!out->rgb) return kerr_set(err, KERR_NOMEM, "out of memory");
    memcpy(out->rgb, v->rgb, size);
    out->w = v->w, out->h = v->h, out->seq = v->seq;
    out->nboxes = v->nboxes;
    memcpy(out->boxes, v->boxes, sizeof out->boxes);
    return KERR_OK;
}

/* The copy with its boxes drawn, as JPEG (malloc'd); no lock held. */
static kerr_code encode(view_copy *f, unsigned char **jpeg, unsigned long *len, kerr *err)
{
    for (int i = 0; i < f->nboxes; i++)
        ui_draw_box(f->rgb, f->w, f->h, f->w * 3, &f->boxes[i]);
    tjhandle tj = tjInitCompress();
    unsigned char *out = NULL;
    unsigned long n = 0;
    int rc = tj ? tjCompress2(tj, f->rgb, f->w, f->w * 3, f->h, TJPF_RGB, &out, &n, TJSAMP_420, 80,
                              TJFLAG_FASTDCT)
                : -1;
    if (tj) tjDestroy(tj);
    if (rc != 0) {
        tjFree(out);
        return kerr_set(err, KERR_INTERNAL, "JPEG encoding failed");
    }
    *jpeg = malloc(n);
    if (*jpeg) memcpy(*jpeg, out, n);
    tjFree(out);
    if (!*jpeg) return kerr_set(err, KERR_NOMEM, "out of memory");
    *len = n;
    return KERR_OK;
}

/* Under v->mu: a copy of the JPEG kept for the current frame, if there is one. */
static bool copy_kept_jpeg(const camera_view *v, unsigned char **jpeg, unsigned long *len)
{
    if (!v->jpeg || v->jpeg_seq != v->seq) return false;
    *jpeg = malloc(v->jpeg_len);
    if (!*jpeg) return false;
    memcpy(*jpeg, v->jpeg, v->jpeg_len);
    *len = v->jpeg_len;
    return true;
}

/* Keeps the JPEG for the other viewers, unless a newer frame or a newer
 * encode came meanwhile (or it cannot be copied: they encode again). */
static void keep_jpeg(camera_view *v, int64_t seq, const unsigned char *jpeg, unsigned long len)
{
    unsigned char *copy = malloc(len);
    if (!copy) return;
    memcpy(copy, jpeg, len);
    pthread_mutex_lock(&v->mu);
    if (v->seq == seq && v->rgb && !(v->jpeg && v->jpeg_seq == seq)) {
        free(v->jpeg);
        v->jpeg = copy, v->jpeg_len = len, v->jpeg_seq = seq;
        copy = NULL;
    }
    pthread_mutex_unlock(&v->mu);
    free(copy);
}

kerr_code view_jpeg(camera_view *v, unsigned char **jpeg, unsigned long *len, kerr *err)
{
    view_watch(v);
    view_copy f = {0};
    pthread_mutex_lock(&v->mu);
    kerr_code rc = KERR_OK;
    bool kept = false;
    if (!v->rgb)
        rc = kerr_set(err, KERR_AGAIN, "no analysed frame kept yet: the next one is");
    else if (!(kept = copy_kept_jpeg(v, jpeg, len))) /* encoded once per frame, for every viewer */
        rc = copy_frame(v, &f, err);
    pthread_mutex_unlock(&v->mu);
    if (rc != KERR_OK || kept) return rc;
    /* The encode (tens of ms at 960 px) holds no lock: the worker offering
     * the next frame and the other viewers go on meanwhile. */
    rc = encode(&f, jpeg, len, err);
    if (rc == KERR_OK) keep_jpeg(v, f.seq, *jpeg, *len);
    free(f.rgb);
    return rc;
}

double view_rate(camera_view *v, int64_t analysed)
{
    int64_t now = clock_wall_ms();
    pthread_mutex_lock(&v->mu);
    if (v->rate_ms == 0 || now - v->rate_ms >= 3000) {
        if (v->rate_ms && now > v->rate_ms)
            v->fps = (double)(analysed - v->rate_count) * 1000.0 / (double)(now - v->rate_ms);
        v->rate_ms = now;
        v->rate_count = analysed;
    }
    double fps = v->fps;
    pthread_mutex_unlock(&v->mu);
    return fps;
}
