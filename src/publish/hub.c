/* The spool in the middle: producers append, one delivery thread per
 * publisher type reads, delivers and acknowledges. Publishers are known here
 * only by their ops and capability flags (publish.h), never by name. */
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../aws/aws.h"
#include "../metrics/metrics.h"
#include "../spool/spool.h"
#include "camera_gate.h"
#include "clip_journal.h"
#include "publish.h"
#include "route.h"

enum { MAX_INSTANCES = 64, MAX_ROUTES = 1024, MAX_TYPES = SPOOL_MAX_CONSUMERS };

typedef struct {
    const publisher_ops *ops;
    char key[1024];
    void *state;
} instance;

typedef struct {
    char *camera;
    cfg_publishers pub; /* deep copy */
} route;

typedef struct publish_hub publish_hub;

typedef struct {
    publish_hub *h;
    const publisher_ops *ops;
    int index; /* spool consumer */
    pthread_t thread;
    int64_t failing_since_ms; /* 0 when healthy; under h->mu */
    int64_t last_success_ms;  /* wall; 0: none yet; under h->mu */
    uint64_t dead_letters;    /* refused for good since start; under h->mu */
    /* Records of a newer build's format, held unacknowledged: how many, and
     * the highest seq (each is logged once, not at every rewind). The
     * delivery thread's own. */
    uint64_t newer_held, newer_seen_to;
    char latency_label[64]; /* publisher="..." */
    char last_error[256];
} deliverer;

struct publish_hub {
    const config *cfg;
    spool *sp;
    pthread_mutex_t mu;
    instance inst[MAX_INSTANCES];
    int ninst;
    route routes[MAX_ROUTES];
    int nroutes;
    deliverer types[MAX_TYPES];
    int ntypes;
    atomic_bool stopping;        /* publish_hub_free: deliver what is left, then end */
    atomic_ullong newer_logged;  /* highest seq of a newer build's record logged (hold_newer) */
    atomic_llong drain_deadline; /* wall ms after which nothing waits any more; 0: none */
    char scratch[4200];          /* {spool.dir}/tmp (publish_hub_scratch_dir) */
    char pending[4200];          /* {spool.dir}/clips-pending (clip_journal.h) */
    route_cooldowns *cool;
};

static route *find_route(publish_hub *h, const char *camera)
{
    for (int i = 0; i < h->nroutes; i++)
        if (strcmp(h->routes[i].camera, camera) == 0) return &h->routes[i];
    return NULL;
}

/* Caller holds h->mu. */
static instance *find_instance(publish_hub *h, const publisher_ops *ops, const char *key)
{
    for (int i = 0; i < h->ninst; i++)
        if (h->inst[i].ops == ops && strcmp(h->inst[i].key, key) == 0) return &h->inst[i];
    return NULL;
}

/* Instances are shared by every camera with the same key. Opening one may
 * fetch credentials over the network, so it happens outside h->mu: inference
 * workers submitting events and /readyz never wait on it. Entries are never
 * removed before publish_hub_free, so the pointer stays valid. */
static instance *get_instance(publish_hub *h, const publisher_ops *ops, const cfg_pub *p, kerr *err)
{
    char key[1024];
    ops->key(p, key, sizeof key);
    pthread_mutex_lock(&h->mu);
    instance *in = find_instance(h, ops, key);
    pthread_mutex_unlock(&h->mu);
    if (in) return in;
    void *state = NULL;
    if (ops->open(p, h->cfg, &state, err) != KERR_OK) return NULL;
    pthread_mutex_lock(&h->mu);
    in = find_instance(h, ops, key); /* another thread may have opened it meanwhile */
    if (!in && h->ninst < MAX_INSTANCES) {
        in = &h->inst[h->ninst++];
        *in = (instance){.ops = ops, .state = state};
        snprintf(in->key, sizeof in->key, "%s", key);
        state = NULL;
    }
    pthread_mutex_unlock(&h->mu);
    if (state) ops->close(state);
    if (!in) kerr_set(err, KERR_INVALID, "too many publisher destinations");
    return in;
}

kerr_code publish_hub_add_camera(publish_hub *h, const char *camera, const cfg_publishers *p,
                                 kerr *err)
{
    cfg_publishers pub = {0};
    if (!cfg_publishers_copy(&pub, p)) return kerr_set(err, KERR_NOMEM, "out of memory");
    pthread_mutex_lock(&h->mu);
    route *r = find_route(h, camera);
    if (!r && h->nroutes == MAX_ROUTES) {
        pthread_mutex_unlock(&h->mu);
        cfg_publishers_free(&pub);
        return kerr_set(err, KERR_INVALID, "too many cameras");
    }
    if (!r) {
        r = &h->routes[h->nroutes++];
        memset(r, 0, sizeof *r);
        r->camera = kstrdup(camera);
    }
    bool copied = cfg_publishers_copy(&r->pub, &pub);
    pthread_mutex_unlock(&h->mu);
    /* Open the destinations now, so a bad one is reported at start. */
    kerr_code rc = copied ? KERR_OK : kerr_set(err, KERR_NOMEM, "out of memory");
    for (int i = 0; i < pub.n && rc == KERR_OK; i++) {
        const publisher_ops *ops = publisher_find(pub.items[i].publisher);
        if (!ops)
            rc = kerr_set(err, KERR_INVALID, "unknown publisher %s", pub.items[i].publisher);
        else if (!get_instance(h, ops, &pub.items[i], err))
            rc = err ? err->code : KERR_IO;
    }
    cfg_publishers_free(&pub);
    return rc;
}

/* The publisher that stores images (the lowest image_rank) names them. */
static void assign_refs(const cfg_publishers *p, event *e)
{
    const publisher_ops *ops = publisher_naming_images(p);
    if (!ops) return;
    const cfg_pub *s = cfg_publishers_find(p, ops->name);
    char ref[4096];
    if (e->snapshot.data) {
        ops->image_ref(s, e, "frame.jpg", ref, sizeof ref);
        free(e->snapshot_ref);
        e->snapshot_ref = kstrdup(ref);
    }
    for (int c = 0; c < e->ncrops; c++) {
        char name[32];
        snprintf(name, sizeof name, "crop-%d.jpg", c);
        ops->image_ref(s, e, name, ref, sizeof ref);
        free(e->crop_refs[c]);
        e->crop_refs[c] = kstrdup(ref);
    }
    if (e->clip.on && !e->clip.kvs_stream[0]) { /* beside the images of the event holding it */
        event owner = *e;
        snprintf(owner.event_id, sizeof owner.event_id, "%s", e->clip.owner_id);
        owner.detected_at_ms = e->clip.owner_at_ms;
        ops->image_ref(s, &owner, "clip.mp4", ref, sizeof ref); /* as event_clip_key */
        free(e->clip.ref);
        e->clip.ref = kstrdup(ref);
    }
}

static void spool_metrics(publish_hub *h)
{
    spool_stats st;
    spool_get_stats(h->sp, &st);
    metric_set(M_SPOOL_RECORDS, "", (double)st.records);
    metric_set(M_SPOOL_BYTES, "", (double)st.bytes);
    metric_set(M_SPOOL_OLDEST, "",
               st.oldest_unacked_ms ? (double)(clock_wall_ms() - st.oldest_unacked_ms) / 1e3 : 0);
}

static bool past_deadline(publish_hub *h)
{
    int64_t d = atomic_load(&h->drain_deadline);
    return d && clock_wall_ms() > d;
}

static bool past_deadline_cb(void *h)
{
    return past_deadline(h);
}

/* Sleeps ms, or less once the drain deadline has passed. */
static void hub_sleep(publish_hub *h, int64_t ms)
{
    for (int64_t t = 0; t < ms && !past_deadline(h); t += 50)
        clock_sleep_ns((ms - t < 50 ? ms - t : 50) * 1000000LL);
}

void publish_hub_drain_by(publish_hub *h, int64_t deadline_wall_ms)
{
    atomic_store(&h->drain_deadline, deadline_wall_ms);
}

/* Images go before the event: an event too large for the spool (spool.max_bytes)
 * keeps its fields and loses its images, loudly. */
static void drop_images(event *e)
{
    log_kv(LOG_ERROR, LOG_CTX("camera_name", e->camera_name, "event_id", e->event_id),
           "the event with its images is larger than spool.max_bytes: spooling it without them");
    free(e->snapshot.data);
    e->snapshot = (event_image){0};
    free(e->snapshot_ref);
    e->snapshot_ref = NULL;
    for (int c = 0; c < e->ncrops; c++) {
        free(e->crops[c].data), free(e->crop_refs[c]);
        e->crops[c] = (event_image){0};
        e->crop_refs[c] = NULL;
    }
    e->ncrops = 0;
}

/* The last resort at the drain deadline (or the caller's give_up): an event the spool could not
 * take goes without its images to {spool.dir}/dead-letter/unspooled.jsonl, or, when that cannot be
 * written either (the same full disk), whole into the log line; counted either way. */
static void lose_event(publish_hub *h, const event *e, kerr_code rc, const char *why)
{
    char labels[64];
    mlabels(labels, sizeof labels, "why", rc == KERR_AGAIN ? "spool_full" : "spool_error", NULL);
    metric_add(M_EVENTS_LOST, labels, 1);
    kerr err = {0};
    if (dead_letter_write(h->cfg->spool_dir, "unspooled", e, true, why, &err) == KERR_OK) {
        log_kv(LOG_ERROR, LOG_CTX("camera_name", e->camera_name, "event_id", e->event_id),
               "event lost: the spool could not take it before its deadline (%s); "
               "kept without images in the dead-letter folder (unspooled.jsonl)",
               why);
        return;
    }
    char *json = event_to_json(e);
    log_kv(LOG_ERROR, LOG_CTX("camera_name", e->camera_name, "event_id", e->event_id),
           "event lost: the spool could not take it before its deadline (%s) nor the "
           "dead-letter folder (%s); the event: %s",
           why, err.msg, json ? json : "(out of memory)");
    free(json);
}

/* Milliseconds an append may wait: 1 s, less as the drain deadline nears. */
static int append_timeout(publish_hub *h)
{
    int64_t d = atomic_load(&h->drain_deadline), left = d ? d - clock_wall_ms() : 1000;
    return left < 0 ? 0 : left > 1000 ? 1000 : (int)left;
}

/* Waits for room in the spool (a full spool.max_bytes or a full disk): an
 * event is never dropped while the process runs. Only once the drain deadline
 * has passed, or give_up (when set) says so, does it give up (lose_event). */
static bool spool_event(publish_hub *h, event *e, const cfg_publishers *pub,
                        bool (*give_up)(void *), void *arg)
{
    int64_t last_log = 0;
    for (;;) {
        kerr err = {0};
        uint64_t seq;
        size_t len = 0;
        void *rec = spool_record_pack(e, pub, &len);
        /* once given up, a try only takes room that is there now: a queue
         * of records each waiting a full try would overrun the bound */
        bool gave_up = give_up && give_up(arg);
        int timeout = gave_up ? 0 : append_timeout(h);
        kerr_code rc = rec ? spool_append(h->sp, rec, len, &seq, timeout, &err)
                           : kerr_set(&err, KERR_NOMEM, "cannot serialise the event");
        free(rec);
        metric_add(M_SPOOL_FULL, "", spool_take_full_wait(h->sp));
        if (rc == KERR_OK) return true;
        if (rc == KERR_UNSUPPORTED && (e->snapshot.len || e->ncrops)) {
            drop_images(e);
            continue;
        }
        if (past_deadline(h) || (give_up && give_up(arg))) {
            lose_event(h, e, rc, err.msg);
            return false;
        }
        if (clock_mono_ns() - last_log > 10000000000LL) {
            log_kv(LOG_ERROR, LOG_CTX("camera_name", e->camera_name, "event_id", e->event_id),
                   "cannot spool the event yet (%s); waiting", err.msg);
            last_log = clock_mono_ns();
        }
        if (rc != KERR_AGAIN) hub_sleep(h, 100);
    }
}

/* The clips' share of the spool (PUBLISH_CLIP_SPOOL_SHARE of spool.max_bytes). */
static int64_t clip_budget(const publish_hub *h)
{
    int64_t max = h->cfg->spool_max_bytes;
    return max > 0 ? (int64_t)((double)max * PUBLISH_CLIP_SPOOL_SHARE) : INT64_MAX;
}

/* A clip's MP4 is spooled now, within the clips' share, or never: waiting
 * would hold up the clip thread and, through a full spool, every producer.
 * Without it the record says "lost" and goes on as a small one. An MP4 in a
 * file (the clip thread's) moves into the spool as the record's file: no
 * copy of it in memory; one not taken is removed here. */
static bool spool_clip(publish_hub *h, event *e, const cfg_publishers *pub, kerr *lost)
{
    size_t len = 0;
    uint64_t seq;
    bool in_file = !e->clip_mp4.data && e->clip_mp4_file;
    /* Checked before the record is made: a clip is not bounded by
     * clip.max_bytes (its post-roll is on disk). */
    int64_t budget = clip_budget(h);
    void *rec = NULL;
    kerr_code rc;
    if ((int64_t)e->clip_mp4.len > budget || (!in_file && e->clip_mp4.len > SPOOL_MAX_RECORD))
        rc = kerr_set(lost, KERR_UNSUPPORTED,
                      "the clip (%zu bytes) is over its share of the spool (%lld bytes) or a "
                      "record's limit",
                      e->clip_mp4.len, (long long)budget);
    else if (!(rec = spool_record_pack(e, pub, &len)))
        rc = kerr_set(lost, KERR_NOMEM, "cannot serialise the clip");
    else if (in_file)
        rc = spool_append_file(h->sp, rec, len, e->clip_mp4_file, budget, &seq, lost);
    else
        rc = spool_append_bulk(h->sp, rec, len, budget, &seq, lost);
    free(rec);
    if (in_file) {
        if (rc != KERR_OK) unlink(e->clip_mp4_file);
        free(e->clip_mp4_file);
        e->clip_mp4_file = NULL;
    }
    if (rc == KERR_OK) return true;
    free(e->clip_mp4.data);
    e->clip_mp4 = (event_image){0};
    snprintf(e->clip.status, sizeof e->clip.status, "lost");
    return false;
}

/* A submitted event that still names the clip thread's file did not get to
 * spool_clip: the file is the hub's to remove. */
static void drop_clip_file(event *e)
{
    if (e->clip_mp4_file && !e->clip_mp4.data) unlink(e->clip_mp4_file);
}

/* Counted per publisher and reason; such an event is not spooled for it. */
static void count_filtered(const char *publisher, const char *why)
{
    char labels[256];
    mlabels(labels, sizeof labels, "publisher", publisher, "why", why, NULL);
    metric_add(M_PUBLISHER_FILTERED, labels, 1);
}

/* Each publisher's `when` and cool-down (route.h): the ones that do not take
 * e leave its settings, so the spool record does not name them. */
static void apply_routes(publish_hub *h, cfg_publishers *pub, const event *e)
{
    int64_t now = clock_mono_ns() / 1000000;
    for (int i = 0; i < pub->n;) {
        const cfg_pub *s = &pub->items[i];
        const publisher_ops *ops = publisher_find(s->publisher);
        const char *why = route_reject(s, e);
        /* a clip_ready record follows its event: no cool-down of its own */
        bool follows = strcmp(e->kind, "clip_ready") == 0;
        int64_t cool = why || !ops || follows ? 0 : route_cooldown_ms(s);
        if (cool > 0) {
            char inst[1200];
            int w = snprintf(inst, sizeof inst, "%s ", ops->name);
            ops->key(s, inst + w, sizeof inst - (size_t)w);
            if (route_cooldown_hit(h->cool, inst, e->camera_name, e->label ? e->label : "", now,
                                   cool))
                why = "cooldown";
        }
        if (!why) {
            i++;
            continue;
        }
        count_filtered(s->publisher, why);
        route_drop(pub, i);
    }
}

/* Spools e (its clip's MP4 first, when it has one) and frees it; false when
 * the MP4 was not kept (*lost says why). */
static bool submit(publish_hub *h, event *e, bool (*give_up)(void *), void *arg, kerr *lost)
{
    pthread_mutex_lock(&h->mu);
    route *r = find_route(h, e->camera_name);
    cfg_publishers pub = {0};
    bool copied = r && cfg_publishers_copy(&pub, &r->pub);
    pthread_mutex_unlock(&h->mu);
    if (!copied) { /* a camera without a route is a bug: keep its event with the defaults */
        cfg_diags d = {.file = "hub"};
        cfg_publishers_read(&d, NULL, NULL, "publishers", &pub);
        cfg_diags_free(&d);
    }
    apply_routes(h, &pub, e);
    if (pub.n == 0) { /* wanted by none of its publishers: counted above, not kept */
        if (strcmp(e->kind, "clip_ready") == 0) clip_journal_done(h->pending, e->event_id);
        log_kv(LOG_INFO,
               LOG_CTX("camera_name", e->camera_name, "detector", e->detector, "event_id",
                       e->event_id),
               "event: %s %.2f track %lld, taken by none of the camera's publishers", e->label,
               e->confidence, (long long)e->track_id);
        cfg_publishers_free(&pub);
        drop_clip_file(e);
        event_free(e);
        return true;
    }
    assign_refs(&pub, e);
    int64_t t0 = clock_mono_ns();
    bool kept = true;
    /* noted before the event is spooled: a spooled event always has an entry */
    bool pending = strcmp(e->kind, "object") == 0 && strcmp(e->clip.status, "pending") == 0;
    if (pending) clip_journal_note(h->pending, e);
    bool spooled = e->clip_mp4.len && (kept = spool_clip(h, e, &pub, lost));
    if (!spooled) spooled = spool_event(h, e, &pub, give_up, arg);
    cfg_publishers_free(&pub);
    /* a spooled clip_ready record is the last word on its clip; one a stop
     * could not spool leaves the entry for the next start to resolve */
    if (pending ? !spooled : spooled && strcmp(e->kind, "clip_ready") == 0)
        clip_journal_done(h->pending, e->event_id);
    if (!spooled) {
        drop_clip_file(e);
        event_free(e);
        return kept;
    }
    metric_observe(M_STAGE_SECONDS, "stage=\"spool\"", (double)(clock_mono_ns() - t0) / 1e9);
    log_kv(LOG_INFO,
           LOG_CTX("camera_name", e->camera_name, "detector", e->detector, "event_id", e->event_id),
           "event: %s %.2f track %lld", e->label, e->confidence, (long long)e->track_id);
    spool_metrics(h);
    event_free(e);
    return kept;
}

void publish_hub_submit(publish_hub *h, event *e)
{
    submit(h, e, NULL, NULL, NULL);
}

bool publish_hub_submit_clip(publish_hub *h, event *e, bool (*give_up)(void *arg), void *arg,
                             kerr *lost)
{
    return submit(h, e, give_up, arg, lost);
}

bool publish_hub_past_drain(publish_hub *h)
{
    return past_deadline(h);
}

const char *publish_hub_scratch_dir(publish_hub *h)
{
    return h->scratch;
}

/* {spool.dir}/tmp, emptied: what a process ended mid-write left there
 * (the spool's lock is held, so no other process writes there). */
static kerr_code make_scratch(publish_hub *h, kerr *err)
{
    snprintf(h->scratch, sizeof h->scratch, "%s/tmp", h->cfg->spool_dir);
    if (mkdir_p(h->scratch, err) != KERR_OK) return KERR_IO;
    DIR *d = opendir(h->scratch);
    if (!d) return kerr_set(err, KERR_IO, "%s: %s", h->scratch, strerror(errno));
    int left = 0;
    for (struct dirent *de; (de = readdir(d));) {
        if (de->d_name[0] == '.') continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", h->scratch, de->d_name);
        left += unlink(path) == 0;
    }
    closedir(d);
    if (left)
        log_kv(LOG_WARN, LOG_CTX("component", "spool"),
               "%s: removed %d scratch file(s) left by an earlier run", h->scratch, left);
    return KERR_OK;
}

/* Refused for good: kept in the dead-letter folder, counted, logged. */
static void refuse(deliverer *d, const event *e, const char *why)
{
    char labels[256];
    kerr err = {0};
    /* only a publisher that stores clips needs the MP4 to replay the event:
     * the others' refusals (a webhook answering 404 to every event) would
     * keep a copy of every clip, outside spool.max_bytes, until the disk is
     * full */
    bool clip = d->ops->caps & PUB_STORES_CLIPS;
    bool kept =
        dead_letter_write(d->h->cfg->spool_dir, d->ops->name, e, clip, why, &err) == KERR_OK;
    log_kv(
        LOG_ERROR,
        LOG_CTX("camera_name", e->camera_name, "publisher", d->ops->name, "event_id", e->event_id),
        "refused for good: %s; %s", why, kept ? "kept in the dead-letter folder" : err.msg);
    mlabels(labels, sizeof labels, "publisher", d->ops->name, "outcome", "dead_letter", NULL);
    metric_add(M_EVENTS_PUBLISHED, labels, 1);
}

/* A publisher that waits for images sends an event only once the publisher
 * naming them has stored them (its spool consumer acknowledged the record). */
static bool images_stored(deliverer *d, const cfg_publishers *p, uint64_t seq)
{
    if (!(d->ops->caps & PUB_WAITS_FOR_IMAGES)) return true;
    const publisher_ops *namer = publisher_naming_images(p);
    if (!namer || namer == d->ops) return true;
    for (int t = 0; t < d->h->ntypes; t++)
        if (d->h->types[t].ops == namer) return spool_is_acked(d->h->sp, t, seq);
    return true;
}

/* An event over the service's record limit can never be sent: a clear,
 * counted error for this publisher (its images and the other publishers are
 * unaffected). */
static bool too_large(deliverer *d, const event *e)
{
    char *json = event_to_json(e);
    size_t n = json ? strlen(json) + strlen(e->camera_name) : 0;
    free(json);
    if (n <= d->ops->record_max_bytes) return false;
    char labels[256];
    mlabels(labels, sizeof labels, "publisher", d->ops->name, "outcome", "rejected", NULL);
    metric_add(M_EVENTS_PUBLISHED, labels, 1);
    log_kv(
        LOG_ERROR,
        LOG_CTX("camera_name", e->camera_name, "publisher", d->ops->name, "event_id", e->event_id),
        "event of %zu bytes is over the %zu-byte record limit: not sent to %s", n,
        d->ops->record_max_bytes, d->ops->name);
    return true;
}

typedef struct {
    uint64_t seq;
    event *e;
    cfg_publishers p;
    const cfg_pub *s; /* this publisher's part of p */
    size_t bytes;
} batch_item;

static void item_free(batch_item *b)
{
    event_free(b->e);
    cfg_publishers_free(&b->p);
    memset(b, 0, sizeof *b);
}

typedef enum { TAKE, SKIP, HOLD } take_what;

/* Whether the record goes into this batch now, is done with or passed over
 * (SKIP: acknowledged here or held back by its camera's gate), or must wait
 * for the next batch (HOLD). */
static take_what consider(deliverer *d, camera_gate *g, batch_item *it, const batch_item *b, int n,
                          size_t bytes)
{
    publish_hub *h = d->h;
    int64_t now = clock_mono_ns() / 1000000;
    if (!it->s || (d->ops->record_max_bytes && too_large(d, it->e))) {
        spool_ack(h->sp, d->index, it->seq, NULL); /* not for this publisher, or never */
        return SKIP;
    }
    if (camera_gate_closed(g, it->e->camera_name, now)) return SKIP; /* retried once due */
    if (!images_stored(d, &it->p, it->seq)) {                        /* not yet: soon */
        camera_gate_fail(g, it->e->camera_name, now, 20);
        camera_gate_closed(g, it->e->camera_name, now);
        return SKIP;
    }
    if (n == 0) return TAKE;
    char key[1024], key0[1024];
    d->ops->key(it->s, key, sizeof key);
    d->ops->key(b[0].s, key0, sizeof key0);
    bool same_camera = false;
    for (int i = 0; i < n; i++)
        same_camera |= strcmp(b[i].e->camera_name, it->e->camera_name) == 0;
    if (same_camera || strcmp(key, key0) != 0 ||
        (d->ops->batch_max_bytes && bytes + it->bytes > d->ops->batch_max_bytes))
        return HOLD;
    return TAKE;
}

/* A record written by a newer build (a rollback) is never acknowledged: it
 * stays in the spool, which cannot reclaim past it, for a build that reads
 * it. Logged once per record, by the first publisher to meet it. */
static void hold_newer(deliverer *d, uint64_t seq, const kerr *why)
{
    if (seq <= d->newer_seen_to) return; /* handed again after a rewind */
    d->newer_seen_to = seq;
    d->newer_held++;
    unsigned long long logged = atomic_load(&d->h->newer_logged);
    while (logged < seq)
        if (atomic_compare_exchange_weak(&d->h->newer_logged, &logged, seq)) {
            log_kv(LOG_ERROR, LOG_CTX("component", "spool"),
                   "spool record %llu is kept, unacknowledged by every publisher: %s. A build "
                   "that reads it delivers it; until then the spool keeps it and every record "
                   "after it (see \"Upgrades and rollbacks\" in docs/operations.md)",
                   (unsigned long long)seq, why->msg);
            break;
        }
}

/* Takes spooled events for one destination, at most one per camera, until
 * the batch is full or has lingered 50 ms (a batch of one for publishers
 * that do not batch). *held: a record was left for the next batch (it comes
 * back after spool_rewind); *spool_error: reading the spool failed. */
static int collect(deliverer *d, camera_gate *g, batch_item *b, int max, int first_timeout_ms,
                   bool *held, bool *spool_error)
{
    publish_hub *h = d->h;
    int n = 0;
    size_t bytes = 0;
    int64_t until = 0;
    *held = *spool_error = false;
    while (n < max) {
        int timeout = n == 0 ? first_timeout_ms : (int)((until - clock_mono_ns()) / 1000000);
        batch_item it = {0};
        void *data = NULL;
        size_t len = 0;
        kerr err = {0};
        if (timeout < 0) break;
        kerr_code rc = spool_next(h->sp, d->index, &it.seq, &data, &len, timeout, &err);
        if (rc == KERR_AGAIN) break;
        if (rc != KERR_OK) {
            log_kv(LOG_ERROR, LOG_CTX("publisher", d->ops->name), "spool: %s", err.msg);
            *spool_error = true;
            break;
        }
        it.e = spool_record_unpack_take(data, len, &it.p, &err); /* data is freed */
        if (!it.e && err.code == KERR_UNSUPPORTED) {
            hold_newer(d, it.seq, &err);
            continue;
        }
        if (!it.e) { /* checksummed, so only a bug writes this: keep going, loudly */
            log_kv(LOG_ERROR, LOG_CTX("publisher", d->ops->name),
                   "spool record %llu is unreadable and skipped: %s", (unsigned long long)it.seq,
                   err.msg);
            spool_ack(h->sp, d->index, it.seq, NULL);
            continue;
        }
        if (it.e->clip_mp4.len && !it.e->clip_mp4.data) { /* the record's file (v5) */
            char path[4400];
            spool_file_path(h->sp, it.seq, path, sizeof path);
            if (!(it.e->clip_mp4_file = kstrdup(path))) it.e->clip_mp4.len = 0;
        }
        it.s = cfg_publishers_find(&it.p, d->ops->name);
        it.bytes = len + 256;
        take_what w = consider(d, g, &it, b, n, bytes);
        if (w != TAKE) {
            item_free(&it);
            if (w == SKIP) continue;
            *held = true;
            break;
        }
        if (n == 0) until = clock_mono_ns() + 50000000LL;
        bytes += it.bytes;
        b[n++] = it;
    }
    return n;
}

/* What one call brought: acknowledged, refused for good, or held back with
 * its camera's backoff. False when shutting down with events undelivered. */
static bool settle(deliverer *d, camera_gate *g, batch_item *b, int n, const kerr *res)
{
    publish_hub *h = d->h;
    int64_t now = clock_mono_ns() / 1000000;
    char labels[256];
    int failed = 0, delivered = 0, refused = 0;
    const char *first_error = "";
    for (int i = 0; i < n; i++) {
        const event *e = b[i].e;
        kerr_code rc = res[i].code;
        if (rc == KERR_OK || rc == KERR_UNSUPPORTED) {
            if (rc == KERR_UNSUPPORTED) refuse(d, e, res[i].msg), refused++;
            if (rc == KERR_OK) {
                delivered++;
                mlabels(labels, sizeof labels, "publisher", d->ops->name, "outcome", "ok", NULL);
                metric_add(M_EVENTS_PUBLISHED, labels, 1);
                if (e->detected_at_ms > 0)
                    metric_observe(M_EVENT_LATENCY, d->latency_label,
                                   (double)(clock_wall_ms() - e->detected_at_ms) / 1e3);
            }
            camera_gate_ok(g, e->camera_name);
            spool_ack(h->sp, d->index, b[i].seq, NULL);
            continue;
        }
        if (!failed++) first_error = res[i].msg;
        mlabels(labels, sizeof labels, "publisher", d->ops->name, "outcome", "error", NULL);
        metric_add(M_EVENTS_PUBLISHED, labels, 1);
        mlabels(labels, sizeof labels, "publisher", d->ops->name, NULL);
        metric_add(M_PUBLISHER_RETRIES, labels, 1);
        int64_t wait = camera_gate_fail(g, e->camera_name, now, 100);
        camera_gate_closed(g, e->camera_name, now); /* so its next events wait for the retry */
        if (n == 1)
            log_kv(LOG_ERROR,
                   LOG_CTX("camera_name", e->camera_name, "publisher", d->ops->name, "event_id",
                           e->event_id),
                   "publish failed, retrying in %lld ms (other cameras go on): %s", (long long)wait,
                   res[i].msg);
    }
    if (failed && n > 1)
        log_kv(LOG_ERROR, LOG_CTX("publisher", d->ops->name),
               "%d of %d event(s) not delivered, retrying each camera with backoff: %s", failed, n,
               first_error);
    pthread_mutex_lock(&h->mu);
    if (delivered) d->last_success_ms = clock_wall_ms();
    d->dead_letters += (uint64_t)refused;
    if (!failed)
        d->failing_since_ms = 0;
    else {
        if (!d->failing_since_ms) d->failing_since_ms = clock_wall_ms();
        snprintf(d->last_error, sizeof d->last_error, "%s", first_error);
    }
    pthread_mutex_unlock(&h->mu);
    return !(failed && past_deadline(h));
}

/* One call to the publisher for the batch. */
static bool deliver(deliverer *d, camera_gate *g, batch_item *b, int n, const event **ev, kerr *res)
{
    kerr err = {0};
    for (int i = 0; i < n; i++)
        ev[i] = b[i].e, res[i] = (kerr){0};
    int64_t t0 = clock_mono_ns();
    instance *in = get_instance(d->h, d->ops, b[0].s, &err);
    if (in)
        publisher_deliver(d->ops, in->state, b[0].s, ev, n, res);
    else
        for (int i = 0; i < n; i++)
            res[i] = err, res[i].code = err.code ? err.code : KERR_IO;
    char labels[256];
    mlabels(labels, sizeof labels, "stage", "publish", NULL);
    metric_observe(M_STAGE_SECONDS, labels, (double)(clock_mono_ns() - t0) / 1e9);
    return settle(d, g, b, n, res);
}

/* The one delivery loop: every publisher gets batches (of one, unless it
 * batches), each camera with its own backoff, so one failing destination or
 * camera never holds back the others. */
static void deliver_loop(deliverer *d, camera_gate *g)
{
    publish_hub *h = d->h;
    int max = d->ops->batch_max > 1 ? d->ops->batch_max : 1;
    batch_item *b = calloc((size_t)max, sizeof *b);
    const event **ev = calloc((size_t)max, sizeof *ev);
    kerr *res = calloc((size_t)max, sizeof *res);
    while (b && ev && res) {
        bool rewind, held, spool_error;
        int64_t due = camera_gate_due(g, clock_mono_ns() / 1000000, &rewind);
        if (rewind) spool_rewind(h->sp, d->index); /* the held-back events, in order */
        int n = collect(d, g, b, max, due >= 0 && due < 200 ? (int)due : 200, &held, &spool_error);
        if (n == 0) {
            spool_stats st;
            spool_get_stats(h->sp, &st);
            bool stopping = atomic_load(&h->stopping);
            bool drained = st.pending[d->index] <= d->newer_held; /* those wait for a newer build */
            if (stopping && (past_deadline(h) || (!spool_error && drained))) break;
            if (spool_error) hub_sleep(h, 500), spool_rewind(h->sp, d->index);
            continue;
        }
        bool go_on = deliver(d, g, b, n, ev, res);
        for (int i = 0; i < n; i++)
            item_free(&b[i]);
        spool_metrics(h);
        if (held) spool_rewind(h->sp, d->index);
        if (!go_on) break; /* shutting down: the rest waits in the spool */
    }
    if (!(b && ev && res))
        log_kv(LOG_ERROR, LOG_CTX("publisher", d->ops->name), "out of memory: not delivering");
    free(b), free(ev), free(res);
}

static void *deliver_main(void *arg)
{
    deliverer *d = arg;
    aws_http_cancel_when(past_deadline_cb, d->h); /* a request in flight at the deadline ends */
    camera_gate *g = camera_gate_new();
    if (g)
        deliver_loop(d, g);
    else
        log_kv(LOG_ERROR, LOG_CTX("publisher", d->ops->name), "out of memory: not delivering");
    camera_gate_free(g);
    return NULL;
}

/* How long a start waits for room in the spool for the records of the
 * journal's left-over entries: a spool that is full because its publishers
 * are down must not hold the start up for the whole outage (no camera runs,
 * no signal is answered until the hub is open). Entries not spooled by then
 * stay for a later start. */
#define RESOLVE_WAIT_MS 3000

typedef struct {
    publish_hub *h;
    int64_t until_ns;
} resolving;

static bool resolve_gives_up(void *arg)
{
    return clock_mono_ns() >= ((const resolving *)arg)->until_ns;
}

/* A pending clip's clip_ready record left unsent by an earlier process,
 * routed as its camera's events are (the camera may not be started yet). */
static void submit_resolved(void *arg, event *e)
{
    resolving *r = arg;
    publish_hub *h = r->h;
    for (int i = 0; i < h->cfg->ncam; i++)
        if (strcmp(h->cfg->cams[i].name, e->camera_name) == 0) {
            kerr err = {0};
            if (publish_hub_add_camera(h, e->camera_name, &h->cfg->cams[i].pub, &err) != KERR_OK)
                log_kv(LOG_ERROR, LOG_CTX("camera_name", e->camera_name), "publisher: %s", err.msg);
            break;
        }
    submit(h, e, resolve_gives_up, r, NULL);
}

/* Every entry of the pending-clip journal left by a process that was killed
 * during a post-roll: a consumer waiting for its clip_ready record gets it. */
static void resolve_pending(publish_hub *h)
{
    resolving r = {h, clock_mono_ns() + RESOLVE_WAIT_MS * 1000000LL};
    int n = clip_journal_resolve(h->pending, h->cfg, submit_resolved, &r);
    if (n)
        log_kv(LOG_WARN, LOG_CTX("component", "spool"),
               "%d clip(s) were pending when an earlier run stopped: their clip_ready records "
               "say so (%s)",
               n, CLIP_JOURNAL_REASON);
}

publish_hub *publish_hub_new(const config *cfg, kerr *err)
{
    publish_hub *h = calloc(1, sizeof *h);
    if (!h) {
        kerr_set(err, KERR_NOMEM, "out of memory");
        return NULL;
    }
    h->cfg = cfg;
    if (!(h->cool = route_cooldowns_new())) {
        free(h);
        kerr_set(err, KERR_NOMEM, "out of memory");
        return NULL;
    }
    pthread_mutex_init(&h->mu, NULL);
    spool_opts o = {.dir = cfg->spool_dir,
                    .max_bytes = cfg->spool_max_bytes,
                    .fsync = (spool_fsync)cfg->spool_fsync,
                    .is_bulk = spool_record_has_clip};
    if (publisher_at(MAX_TYPES)) { /* never drop a publisher quietly */
        kerr_set(err, KERR_INVALID, "more than %d publishers are registered: the spool tracks %d",
                 MAX_TYPES, MAX_TYPES);
        pthread_mutex_destroy(&h->mu);
        route_cooldowns_free(h->cool);
        free(h);
        return NULL;
    }
    for (int i = 0; publisher_at(i) && o.nconsumers < MAX_TYPES; i++) {
        h->types[o.nconsumers] = (deliverer){.h = h, .ops = publisher_at(i), .index = o.nconsumers};
        mlabels(h->types[o.nconsumers].latency_label, sizeof h->types[o.nconsumers].latency_label,
                "publisher", publisher_at(i)->name, NULL);
        o.consumers[o.nconsumers++] = publisher_at(i)->name;
    }
    h->ntypes = o.nconsumers;
    h->sp = spool_open(&o, err);
    if (h->sp && (make_scratch(h, err) != KERR_OK ||
                  clip_journal_open(cfg->spool_dir, h->pending, sizeof h->pending, err) != KERR_OK))
        spool_close(h->sp), h->sp = NULL;
    if (!h->sp) {
        pthread_mutex_destroy(&h->mu);
        route_cooldowns_free(h->cool);
        free(h);
        return NULL;
    }
    spool_stats st;
    spool_get_stats(h->sp, &st);
    if (st.records || st.corrupt_bytes)
        log_kv(LOG_INFO, LOG_CTX("component", "spool"),
               "spool %s: %llu event(s) from an earlier run to deliver, %llu corrupt byte(s) in "
               "%llu place(s) skipped or cut",
               cfg->spool_dir, (unsigned long long)st.records, (unsigned long long)st.corrupt_bytes,
               (unsigned long long)st.corrupt_records);
    metric_add(M_SPOOL_CORRUPT, "", (double)st.corrupt_bytes);
    metric_add(M_SPOOL_CORRUPT_RECORDS, "", (double)st.corrupt_records);
    for (int t = 0; t < h->ntypes; t++)
        if (pthread_create(&h->types[t].thread, NULL, deliver_main, &h->types[t]) != 0) {
            kerr_set(err, KERR_INTERNAL, "cannot start a delivery thread");
            h->ntypes = t;
            publish_hub_free(h);
            return NULL;
        }
    resolve_pending(h);
    return h;
}

void publish_hub_free(publish_hub *h)
{
    if (!h) return;
    if (!atomic_load(&h->drain_deadline)) publish_hub_drain_by(h, clock_wall_ms() + 10000);
    atomic_store(&h->stopping, true);
    for (int t = 0; t < h->ntypes; t++)
        pthread_join(h->types[t].thread, NULL);
    spool_stats st;
    spool_get_stats(h->sp, &st);
    if (st.records)
        log_kv(LOG_WARN, LOG_CTX("component", "spool"),
               "%llu event(s) not yet delivered stay in the spool for the next start",
               (unsigned long long)st.records);
    spool_close(h->sp);
    for (int i = 0; i < h->ninst; i++)
        h->inst[i].ops->close(h->inst[i].state);
    for (int i = 0; i < h->nroutes; i++) {
        free(h->routes[i].camera);
        cfg_publishers_free(&h->routes[i].pub);
    }
    route_cooldowns_free(h->cool);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

bool publish_hub_healthy(publish_hub *h, char *why, size_t len)
{
    bool ok = true;
    int64_t now = clock_wall_ms();
    pthread_mutex_lock(&h->mu);
    for (int t = 0; t < h->ntypes && ok; t++) {
        deliverer *d = &h->types[t];
        if (d->failing_since_ms && now - d->failing_since_ms > 30000) {
            snprintf(why, len, "publisher %s failing for %llds: %s", d->ops->name,
                     (long long)(now - d->failing_since_ms) / 1000, d->last_error);
            ok = false;
        }
    }
    pthread_mutex_unlock(&h->mu);
    return ok;
}

int publish_hub_health(publish_hub *h, publisher_health *out, int max)
{
    spool_stats st;
    spool_get_stats(h->sp, &st);
    int n = 0;
    pthread_mutex_lock(&h->mu);
    for (int t = 0; t < h->ntypes && n < max; t++) {
        deliverer *d = &h->types[t];
        bool used = st.pending[d->index] > 0 || d->dead_letters > 0;
        for (int i = 0; i < h->ninst && !used; i++)
            used = h->inst[i].ops == d->ops;
        if (!used) continue;
        publisher_health *o = &out[n++];
        *o = (publisher_health){.name = d->ops->name,
                                .last_success_ms = d->last_success_ms,
                                .failing_since_ms = d->failing_since_ms,
                                .backlog = st.pending[d->index],
                                .dead_letters = d->dead_letters};
        snprintf(o->last_error, sizeof o->last_error, "%s",
                 d->failing_since_ms ? d->last_error : "");
    }
    pthread_mutex_unlock(&h->mu);
    return n;
}

void publish_hub_describe(publish_hub *h, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->ninst; i++) {
        int w = snprintf(out + used, len - used, "%s%s", used ? ", " : "", h->inst[i].key);
        if (w < 0 || (size_t)w >= len - used) break;
        used += (size_t)w;
    }
    pthread_mutex_unlock(&h->mu);
}
