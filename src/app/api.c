/* The operator page and its JSON API on the metrics listener
 * (docs/operator-page.md):
 *   /                                  the page (src/ui/page, built in)
 *   /api/v1/cameras                    cameras with state, rates, detectors, zones
 *   /api/v1/cameras/{name}/snapshot.jpg  latest analysed frame, boxes drawn
 *   /api/v1/events?camera=&label=&since=&until=&plate=&fuzzy=&limit=&before=
 *                                      newest first, from the local sink's index
 *                                      (src/ui/index.c) and events.jsonl
 *   /api/v1/events/{id}                one event
 *   /api/v1/events/{id}/snapshot.jpg | crop-N.jpg   its images
 *   /api/v1/events/{id}/clip.mp4       its clip (once written; clip.from kvs:
 *                                      through KVS GetClip, api_clip.c)
 *   /api/v1/events/{id}/clip-hls       clip.from kvs: {url} of an ON_DEMAND HLS session
 *   /api/v1/config                     the running config, secrets redacted
 *   /api/v1/publishers                 each publisher's health (api_publishers.c)
 * Camera state is read under the camera list's lock (no camera is freed
 * while it is held) and only copied there; the config through a reference
 * (config_keeper), never a lock. A snapshot's JPEG is encoded, and event
 * files are read, with no app lock held. Runs on the connection's thread: a
 * slow browser never touches the pipeline, nor another request. */
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../metrics/metrics.h"
#include "app.h"

static const char k_csp[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                            "img-src 'self' blob: data:; media-src 'self'; connect-src 'self'; "
                            "frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

static bool json_reply(http_response *rs, unsigned status, json_t *j)
{
    rs->status = status;
    rs->type = "application/json";
    rs->body = json_dumps(j, JSON_COMPACT);
    rs->len = rs->body ? strlen(rs->body) : 0;
    json_decref(j);
    return true;
}

static bool error_reply(http_response *rs, unsigned status, const char *msg)
{
    return json_reply(rs, status, json_pack("{ss}", "error", msg));
}

static bool deny(http_response *rs, ui_access why)
{
    if (why == UI_NEED_AUTH) {
        rs->hdr_name[rs->nhdr] = "WWW-Authenticate";
        rs->hdr_value[rs->nhdr++] = "Basic realm=\"kvs-infer\", charset=\"UTF-8\"";
        return error_reply(rs, 401,
                           "a token is needed: Authorization: Bearer <ui.token>, or the token as "
                           "the basic-auth password");
    }
    return error_reply(rs, 403,
                       "the page and API are reachable beyond this machine and no token is set: "
                       "set ui: {token: ${KVS_UI_TOKEN}} in the config (and KVS_UI_TOKEN in the "
                       "environment), or listen on 127.0.0.1");
}

static json_t *zones_json(const cfg_camera *cc)
{
    json_t *zones = json_array();
    for (int i = 0; i < cc->nroi; i++) {
        json_t *poly = json_array();
        for (int k = 0; k < cc->rois[i].npts; k++)
            json_array_append_new(poly,
                                  json_pack("[ff]", cc->rois[i].pts[k][0], cc->rois[i].pts[k][1]));
        json_array_append_new(zones, json_pack("{sssbso}", "name", cc->rois[i].name, "exclude",
                                               cc->rois[i].exclude, "polygon", poly));
    }
    return zones;
}

/* API requests at once (each on its connection's thread):
 * more wait on their own threads, so however many browsers ask, the page
 * takes at most API_AT_ONCE cores from the cameras, and never a probe's
 * turn (/healthz, /metrics are answered without waiting here). */
enum { MAX_INDEXES = 64, API_AT_ONCE = 2 };

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int busy;
} g_gate = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void gate(bool enter)
{
    pthread_mutex_lock(&g_gate.mu);
    if (enter) {
        while (g_gate.busy >= API_AT_ONCE)
            pthread_cond_wait(&g_gate.cv, &g_gate.mu);
        g_gate.busy++;
    } else {
        g_gate.busy--;
        pthread_cond_signal(&g_gate.cv);
    }
    pthread_mutex_unlock(&g_gate.mu);
}

/* One event index per local sink folder, opened at the first query for it
 * and kept until api_stop. A folder whose index cannot be made (read-only,
 * disk full) is read as before, from the end of its file. */
static struct {
    pthread_mutex_t mu;
    char *dir[MAX_INDEXES];
    ui_index *ix[MAX_INDEXES];
    int64_t retry_ms[MAX_INDEXES]; /* when an index that could not be made is tried again */
    int n;
} g_idx = {.mu = PTHREAD_MUTEX_INITIALIZER};

static ui_index *index_for(const char *dir)
{
    pthread_mutex_lock(&g_idx.mu);
    int i = 0;
    while (i < g_idx.n && strcmp(g_idx.dir[i], dir) != 0)
        i++;
    if (i == g_idx.n && i < MAX_INDEXES) {
        g_idx.dir[i] = kstrdup(dir);
        g_idx.n++;
    }
    ui_index *ix = i < g_idx.n ? g_idx.ix[i] : NULL;
    int64_t now = clock_wall_ms();
    if (i < g_idx.n && !ix && now >= g_idx.retry_ms[i]) { /* the first time, or a minute on */
        kerr err = {0};
        ix = g_idx.ix[i] = ui_index_open(dir, &err);
        g_idx.retry_ms[i] = now + 60000;
        if (!ix)
            log_kv(LOG_WARN, LOG_CTX("local_dir", dir),
                   "no event index (the page reads events.jsonl instead): %s", err.msg);
    }
    pthread_mutex_unlock(&g_idx.mu);
    return ix;
}

void api_init(api_deps *d, camera_list *cams, config_keeper *configs)
{
    d->cams = cams;
    d->configs = configs;
    pthread_mutex_init(&d->hub_mu, NULL);
    d->hub = NULL;
    atomic_init(&d->loopback, false); /* until it listens: treated as reachable from afar */
}

void api_use_hub(api_deps *d, publish_hub *hub)
{
    pthread_mutex_lock(&d->hub_mu);
    d->hub = hub;
    pthread_mutex_unlock(&d->hub_mu);
}

void api_stop(api_deps *d)
{
    pthread_mutex_destroy(&d->hub_mu);
    pthread_mutex_lock(&g_idx.mu);
    for (int i = 0; i < g_idx.n; i++) {
        ui_index_close(g_idx.ix[i]);
        free(g_idx.dir[i]);
        g_idx.ix[i] = NULL;
        g_idx.retry_ms[i] = 0;
    }
    g_idx.n = 0;
    pthread_mutex_unlock(&g_idx.mu);
}

/* The detector of the camera opened for config entry d, or NULL (disabled,
 * or it failed to open): c->dets holds the enabled ones only. */
static const detector *opened(const camera *c, const cfg_detector *d)
{
    for (int k = 0; k < c->ndet; k++)
        if (c->dets[k].cfg == d) return c->dets[k].det;
    return NULL;
}

static json_t *detectors_json(const camera *c)
{
    json_t *dets = json_array();
    for (int i = 0; i < c->cfg->ndet; i++) {
        const cfg_detector *d = &c->cfg->dets[i];
        json_t *roi = json_array();
        for (int k = 0; k < d->nroi; k++)
            json_array_append_new(roi, json_string(d->roi[k]));
        const detector *open = opened(c, d);
        json_array_append_new(dets, json_pack("{sssbsosssoso}", "type", d->type, "enabled",
                                              d->enabled, "threshold",
                                              open ? json_real(open->threshold) : json_null(),
                                              "model", open ? open->model.name : "", "roi", roi,
                                              "open", json_boolean(open != NULL)));
    }
    return dets;
}

static json_t *camera_json(camera *c)
{
    int64_t last = atomic_load(&c->last_event_ms);
    char iso[40] = "";
    if (last > 0) clock_format_iso(last, iso, sizeof iso);
    long long analysed = atomic_load(&c->analysed);
    return json_pack(
        "{ss ss* ss ss sf sI sI sI sI sI sI so so so}", "name", c->cfg->name, "stream_name",
        c->cfg->stream_name, "source", c->src->name, "state",
        cam_state_name(atomic_load(&c->state)), "analysed_fps", view_rate(c->view, analysed),
        "analysed", (json_int_t)analysed, "decoded", (json_int_t)atomic_load(&c->decoded),
        "dropped", (json_int_t)atomic_load(&c->dropped), "errors",
        (json_int_t)atomic_load(&c->errors), "detections", (json_int_t)atomic_load(&c->detections),
        "events", (json_int_t)atomic_load(&c->events), "last_event_at",
        last > 0 ? json_string(iso) : json_null(), "detectors", detectors_json(c), "roi",
        zones_json(c->cfg));
}

static bool cameras(api_deps *a, http_response *rs)
{
    int n;
    camera **cams = camera_list_lock(a->cams, &n);
    json_t *list = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(list, camera_json(cams[i]));
    camera_list_unlock(a->cams);
    return json_reply(rs, 200, json_pack("{so}", "cameras", list));
}

static bool camera_snapshot(api_deps *a, const char *name, http_response *rs)
{
    int n;
    camera **cams = camera_list_lock(a->cams, &n);
    camera *c = camera_list_find(cams, n, name, NULL);
    camera_view *view = c ? c->view : NULL;
    if (view) view_hold(view); /* the camera may go meanwhile: its view stays */
    camera_list_unlock(a->cams);
    if (!view) return error_reply(rs, 404, "no such camera");
    unsigned char *jpeg = NULL;
    unsigned long len = 0;
    kerr err = {0};
    kerr_code rc = view_jpeg(view, &jpeg, &len, &err);
    view_release(view);
    if (rc == KERR_AGAIN) {
        rs->hdr_name[rs->nhdr] = "Retry-After";
        rs->hdr_value[rs->nhdr++] = "1";
        return error_reply(rs, 503, err.msg);
    }
    if (rc) return error_reply(rs, 500, err.msg);
    rs->type = "image/jpeg";
    rs->body = (char *)jpeg;
    rs->len = len;
    return true;
}

/* The local sink folders of the running config (caller frees each and the array). */
static char **local_dirs(const config *cfg, int *n)
{
    char **dirs = calloc((size_t)cfg->ncam + 1, sizeof *dirs);
    *n = 0;
    for (int i = 0; dirs && i < cfg->ncam; i++) {
        const cfg_pub *p = cfg_publishers_find(&cfg->cams[i].pub, "local");
        const char *d = p ? cfg_pub_get(p, "local_dir") : NULL;
        bool seen = !d;
        for (int k = 0; k < *n && !seen; k++)
            seen = strcmp(dirs[k], d) == 0;
        if (!seen) dirs[(*n)++] = kstrdup(d);
    }
    return dirs;
}

static void free_dirs(char **dirs, int n)
{
    for (int i = 0; i < n; i++)
        free(dirs[i]);
    free(dirs);
}

/* since/until: epoch milliseconds or ISO 8601; 0 when absent, -1 when bad. */
static int64_t time_arg(const http_request *rq, const char *key)
{
    const char *v = http_query(rq, key);
    if (!v || !*v) return 0;
    char *end;
    long long ms = strtoll(v, &end, 10);
    if (end != v && !*end) return ms > 0 ? ms : -1;
    int64_t t = clock_parse_iso(v);
    return t > 0 ? t : -1;
}

static ui_index **indexes(char **dirs, int n)
{
    ui_index **ix = calloc((size_t)n + 1, sizeof *ix);
    for (int i = 0; ix && i < n; i++)
        ix[i] = index_for(dirs[i]);
    return ix;
}

static bool event_list(const config *cfg, const http_request *rq, http_response *rs)
{
    const char *before = http_query(rq, "before"), *limit = http_query(rq, "limit");
    if (before && !ui_event_id_ok(before))
        return error_reply(rs, 400, "before: an event id (UUID) is expected");
    char *end = NULL;
    long lim = limit ? strtol(limit, &end, 10) : 50;
    if (limit && (end == limit || *end || lim < 1))
        return error_reply(rs, 400, "limit: a positive number is expected");
    const char *camera = http_query(rq, "camera"), *label = http_query(rq, "label");
    const char *plate = http_query(rq, "plate"), *fuzzy = http_query(rq, "fuzzy");
    ui_filter f = {.camera = camera && *camera ? camera : NULL,
                   .label = label && *label ? label : NULL,
                   .before = before,
                   .fuzzy = fuzzy && strcmp(fuzzy, "0") != 0 && strcmp(fuzzy, "false") != 0,
                   .since_ms = time_arg(rq, "since"),
                   .until_ms = time_arg(rq, "until"),
                   .limit = lim > UI_EVENTS_MAX ? UI_EVENTS_MAX : (int)lim};
    if (f.since_ms < 0 || f.until_ms < 0)
        return error_reply(rs, 400,
                           "since/until: epoch milliseconds or ISO 8601 (2026-01-31T08:00:00Z)");
    ui_plate_norm(plate, f.plate, sizeof f.plate);
    if (plate && *plate && !f.plate[0])
        return error_reply(rs, 400, "plate: letters or digits are expected");
    int n;
    char **dirs = local_dirs(cfg, &n);
    ui_index **ix = indexes(dirs, n);
    kerr err = {0};
    char *page = ui_events_query(ix, (const char *const *)dirs, n, &f, &err);
    free(ix);
    free_dirs(dirs, n);
    if (!page) return error_reply(rs, 500, err.msg);
    rs->type = "application/json";
    rs->body = page;
    rs->len = strlen(page);
    return true;
}

/* /api/v1/events/{id}[/{image}.jpg] */
static bool one_event(const config *cfg, const char *rest, http_response *rs)
{
    char id[64];
    const char *slash = strchr(rest, '/');
    size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
    if (idlen >= sizeof id) return error_reply(rs, 404, "no such event");
    memcpy(id, rest, idlen);
    id[idlen] = '\0';
    if (!ui_event_id_ok(id)) return error_reply(rs, 404, "no such event (ids are UUIDs)");
    int n;
    char **dirs = local_dirs(cfg, &n);
    ui_index **ix = indexes(dirs, n);
    bool done;
    if (!slash) {
        char *e = ui_event_find(ix, (const char *const *)dirs, n, id, NULL);
        done = e ? (rs->type = "application/json", rs->body = e, rs->len = strlen(e), true)
                 : error_reply(rs, 404, "no such event");
    } else {
        char which[32];
        const char *img = slash + 1;
        size_t wl = strlen(img);
        kerr err = {0};
        int fd = -1;
        size_t len = 0;
        bool clip = strcmp(img, "clip.mp4") == 0, hls = strcmp(img, "clip-hls") == 0;
        char *ev = clip || hls ? ui_event_find(ix, (const char *const *)dirs, n, id, NULL) : NULL;
        if (ev && api_kvs_clip(cfg, ev, hls, rs)) { /* an archived clip, fetched from KVS */
            done = true;
        } else if (hls) {
            done = error_reply(rs, 404,
                               ev ? "its clip is not in KVS (clip.from kvs)" : "no such event");
        } else if (!clip &&
                   (wl < 5 || wl - 4 >= sizeof which || strcmp(img + wl - 4, ".jpg") != 0)) {
            done = error_reply(rs, 404, "no such file: snapshot.jpg, crop-N.jpg or clip.mp4");
        } else {
            snprintf(which, sizeof which, "%.*s", (int)(wl - 4), img);
            kerr_code rc =
                ui_event_image(ix, (const char *const *)dirs, n, id, which, &fd, &len, &err);
            if (rc == KERR_OK) {
                rs->type = clip ? "video/mp4" : "image/jpeg";
                rs->fd = fd;
                rs->len = len;
                rs->hdr_name[rs->nhdr] = "Cache-Control"; /* an event's images never change */
                rs->hdr_value[rs->nhdr++] = "private, max-age=3600";
                done = true;
            } else
                done = error_reply(rs, rc == KERR_NOT_FOUND ? 404 : 403, err.msg);
        }
        free(ev);
    }
    free(ix);
    free_dirs(dirs, n);
    return done;
}

static bool config_json(const config *cfg, http_response *rs)
{
    char *text = ui_config_json(cfg->root);
    if (!text) return error_reply(rs, 500, "out of memory");
    rs->type = "application/json";
    rs->body = text;
    rs->len = strlen(text);
    return true;
}

static bool publishers(api_deps *a, http_response *rs)
{
    pthread_mutex_lock(&a->hub_mu); /* api_use_hub(NULL) waits: the hub is not freed meanwhile */
    bool done = api_publishers(a->hub, rs);
    pthread_mutex_unlock(&a->hub_mu);
    return done;
}

/* cfg: the running config, held for this request. */
static bool api(api_deps *a, const config *cfg, const http_request *rq, http_response *rs)
{
    const char *p = rq->path + strlen("/api/v1/");
    if (strcmp(p, "cameras") == 0) return cameras(a, rs);
    if (strncmp(p, "cameras/", 8) == 0) {
        const char *name = p + 8, *tail = strrchr(name, '/');
        if (tail && strcmp(tail, "/snapshot.jpg") == 0) {
            char n[CFG_CAMERA_NAME_MAX + 1];
            size_t len = (size_t)(tail - name);
            if (len == 0 || len > CFG_CAMERA_NAME_MAX)
                return error_reply(rs, 404, "no such camera");
            memcpy(n, name, len);
            n[len] = '\0';
            return camera_snapshot(a, n, rs);
        }
    }
    if (strcmp(p, "events") == 0) return event_list(cfg, rq, rs);
    if (strncmp(p, "events/", 7) == 0) return one_event(cfg, p + 7, rs);
    if (strcmp(p, "config") == 0) return config_json(cfg, rs);
    if (strcmp(p, "publishers") == 0) return publishers(a, rs);
    return error_reply(rs, 404, "no such API path");
}

/* Whether the request may be answered, by the token of the config held. */
static ui_access access_of(api_deps *a, const config *cfg, const http_request *rq)
{
    const char *token = cfg->ui_token ? cfg->ui_token : "";
    if (strlen(token) > UI_TOKEN_MAX) return UI_NEED_AUTH; /* refused at load: never matches */
    return ui_check_access(token, atomic_load(&a->loopback), http_header(rq, "Authorization"));
}

/* The API's answer, with the running config held (its folders). */
static bool answer(api_deps *a, const config *cfg, const http_request *rq, http_response *rs)
{
    gate(true);
    bool done = api(a, cfg, rq, rs);
    gate(false);
    return done;
}

static bool page_file(const ui_asset *asset, http_response *rs)
{
    rs->type = asset->type;
    rs->body = malloc(asset->len + 1);
    if (!rs->body) return error_reply(rs, 500, "out of memory");
    memcpy(rs->body, asset->data, asset->len);
    rs->len = asset->len;
    rs->hdr_name[rs->nhdr] = "Content-Security-Policy";
    rs->hdr_value[rs->nhdr++] = k_csp;
    rs->hdr_name[rs->nhdr] = "Referrer-Policy";
    rs->hdr_value[rs->nhdr++] = "no-referrer";
    return true;
}

bool api_route(void *user, const http_request *rq, http_response *rs)
{
    api_deps *a = user;
    bool is_api = strncmp(rq->path, "/api/v1/", 8) == 0;
    const ui_asset *asset = is_api ? NULL : ui_asset_find(rq->path);
    if (!is_api && !asset && strncmp(rq->path, "/api/", 5) != 0) return false;
    config *cfg = config_keeper_current(a->configs); /* one config for the whole request */
    ui_access ok = access_of(a, cfg, rq);
    bool done = ok != UI_ALLOW ? deny(rs, ok)
                : asset        ? page_file(asset, rs)
                : is_api       ? answer(a, cfg, rq, rs)
                               : error_reply(rs, 404, "no such API version");
    config_keeper_release(a->configs, cfg);
    return done;
}
