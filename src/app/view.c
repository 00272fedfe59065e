/* A camera's view for the operator page (see camera_view in app.h). */
#include <stdlib.h>
#include <string.h>
#include <turbojpeg.h>

#include "app.h"

void view_init(camera_view *v)
{
    memset(v, 0, sizeof *v);
    pthread_mutex_init(&v->mu, NULL);
}

static void let_go(camera_view *v)
{
    free(v->rgb);
    free(v->jpeg);
    v->rgb = NULL;
    v->jpeg = NULL;
    v->jpeg_len = 0;
}

void view_free(camera_view *v)
{
    let_go(v);
    pthread_mutex_destroy(&v->mu);
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

static kerr_code encode(camera_view *v, kerr *err)
{
    size_t size = (size_t)v->w * (size_t)v->h * 3;
    uint8_t *img = malloc(size);
    if (!img) return kerr_set(err, KERR_NOMEM, "out of memory");
    memcpy(img, v->rgb, size);
    for (int i = 0; i < v->nboxes; i++)
        ui_draw_box(img, v->w, v->h, v->w * 3, &v->boxes[i]);
    tjhandle tj = tjInitCompress();
    unsigned char *out = NULL;
    unsigned long len = 0;
    int rc = tj ? tjCompress2(tj, img, v->w, v->w * 3, v->h, TJPF_RGB, &out, &len, TJSAMP_420, 80,
                              TJFLAG_FASTDCT)
                : -1;
    free(img);
    if (tj) tjDestroy(tj);
    if (rc != 0) {
        tjFree(out);
        return kerr_set(err, KERR_INTERNAL, "JPEG encoding failed");
    }
    free(v->jpeg);
    v->jpeg = malloc(len);
    if (v->jpeg) memcpy(v->jpeg, out, len);
    tjFree(out);
    if (!v->jpeg) return kerr_set(err, KERR_NOMEM, "out of memory");
    v->jpeg_len = len;
    v->jpeg_seq = v->seq;
    return KERR_OK;
}

kerr_code view_jpeg(camera_view *v, unsigned char **jpeg, unsigned long *len, kerr *err)
{
    view_watch(v);
    pthread_mutex_lock(&v->mu);
    kerr_code rc = KERR_OK;
    if (!v->rgb)
        rc = kerr_set(err, KERR_AGAIN, "no analysed frame kept yet: the next one is");
    else if (!v->jpeg || v->jpeg_seq != v->seq) /* encoded once per frame, for every viewer */
        rc = encode(v, err);
    if (rc == KERR_OK) {
        *jpeg = malloc(v->jpeg_len);
        if (*jpeg) memcpy(*jpeg, v->jpeg, v->jpeg_len);
        *len = v->jpeg_len;
        if (!*jpeg) rc = kerr_set(err, KERR_NOMEM, "out of memory");
    }
    pthread_mutex_unlock(&v->mu);
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
