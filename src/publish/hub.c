/* The publisher thread and the routing from cameras to publisher instances. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../metrics/metrics.h"
#include "publish.h"

enum { MAX_INSTANCES = 64, MAX_ROUTES = 1024, MAX_PER_ROUTE = 4 };

typedef struct {
    const publisher_ops *ops;
    char key[1024];
    void *state;
    int64_t failing_since_ms; /* 0 when healthy */
    char last_error[256];
} instance;

typedef struct {
    char *camera;
    cfg_publishers pub; /* deep copy */
    int inst[MAX_PER_ROUTE];
    int ninst;
} route;

struct publish_hub {
    const config *cfg;
    kqueue *q;
    pthread_t thread;
    pthread_mutex_t mu;
    instance inst[MAX_INSTANCES];
    int ninst;
    route routes[MAX_ROUTES];
    int nroutes;
    atomic_bool stopping;
    int64_t stop_deadline_ms;
};

static const char *const k_aws[] = {"kinesis", "s3", "dynamodb"};

static route *find_route(publish_hub *h, const char *camera)
{
    for (int i = 0; i < h->nroutes; i++)
        if (strcmp(h->routes[i].camera, camera) == 0) return &h->routes[i];
    return NULL;
}

static int open_instance(publish_hub *h, const publisher_ops *ops, const cfg_publishers *p,
                         kerr *err)
{
    char key[1024];
    ops->key(p, key, sizeof key);
    for (int i = 0; i < h->ninst; i++)
        if (strcmp(h->inst[i].key, key) == 0) return i;
    if (h->ninst == MAX_INSTANCES) return -(int)kerr_set(err, KERR_INVALID, "too many publishers");
    instance *in = &h->inst[h->ninst];
    memset(in, 0, sizeof *in);
    if (ops->open(p, h->cfg, &in->state, err) != KERR_OK) return -1;
    in->ops = ops;
    snprintf(in->key, sizeof in->key, "%s", key);
    return h->ninst++;
}

static bool aws_wanted(const cfg_publishers *p, int i)
{
    return i == 0   ? p->kinesis_stream_name != NULL
           : i == 1 ? p->s3_bucket != NULL
                    : p->dynamodb_table != NULL;
}

kerr_code publish_hub_add_camera(publish_hub *h, const char *camera, const cfg_publishers *p,
                                 kerr *err)
{
    pthread_mutex_lock(&h->mu);
    route *r = find_route(h, camera);
    if (!r && h->nroutes == MAX_ROUTES) {
        pthread_mutex_unlock(&h->mu);
        return kerr_set(err, KERR_INVALID, "too many cameras");
    }
    if (!r) {
        r = &h->routes[h->nroutes++];
        memset(r, 0, sizeof *r);
        r->camera = kstrdup(camera);
    }
    free(r->pub.kinesis_stream_name), free(r->pub.s3_bucket), free(r->pub.s3_prefix);
    free(r->pub.dynamodb_table), free(r->pub.local_dir);
    r->pub.kinesis_stream_name = kstrdup(p->kinesis_stream_name);
    r->pub.s3_bucket = kstrdup(p->s3_bucket);
    r->pub.s3_prefix = kstrdup(p->s3_prefix);
    r->pub.dynamodb_table = kstrdup(p->dynamodb_table);
    r->pub.local_dir = kstrdup(p->local_dir);
    r->ninst = 0;
    for (int i = 0; i < 3; i++) {
        if (!aws_wanted(p, i) || publisher_find(k_aws[i])) continue;
        /* Not built yet: say so loudly and keep every event on local disk instead. */
        if (!r->pub.local_dir) r->pub.local_dir = kstrdup("./out");
        log_kv(LOG_WARN, LOG_CTX("camera_name", camera, "publisher", k_aws[i]),
               "the %s publisher is not available in this build; events of this camera go to "
               "the local sink in %s",
               k_aws[i], r->pub.local_dir);
    }
    static const char *const order[] = {"s3", "kinesis", "dynamodb", "local", NULL};
    kerr_code rc = KERR_OK;
    for (int i = 0; order[i] && rc == KERR_OK; i++) {
        const publisher_ops *ops = publisher_find(order[i]);
        if (!ops || !ops->wanted(&r->pub)) continue;
        int idx = open_instance(h, ops, &r->pub, err);
        if (idx < 0)
            rc = err ? err->code : KERR_IO;
        else if (r->ninst < MAX_PER_ROUTE)
            r->inst[r->ninst++] = idx;
    }
    pthread_mutex_unlock(&h->mu);
    return rc;
}

static void assign_refs(publish_hub *h, route *r, event *e)
{
    for (int i = 0; i < r->ninst; i++) {
        instance *in = &h->inst[r->inst[i]];
        if (!in->ops->image_ref) continue;
        char ref[4096];
        if (e->snapshot.data) {
            in->ops->image_ref(in->state, &r->pub, e, "frame.jpg", ref, sizeof ref);
            free(e->snapshot_ref);
            e->snapshot_ref = kstrdup(ref);
        }
        for (int c = 0; c < e->ncrops; c++) {
            char name[32];
            snprintf(name, sizeof name, "crop-%d.jpg", c);
            in->ops->image_ref(in->state, &r->pub, e, name, ref, sizeof ref);
            free(e->crop_refs[c]);
            e->crop_refs[c] = kstrdup(ref);
        }
        return; /* the first publisher that stores images names them */
    }
}

static void deliver(publish_hub *h, route *r, instance *in, event *e)
{
    char labels[256];
    int64_t delay = 100;
    for (;;) {
        kerr err = {0};
        kerr_code rc = in->ops->publish(in->state, &r->pub, e, &err);
        if (rc == KERR_OK) {
            mlabels(labels, sizeof labels, "publisher", in->ops->name, "outcome", "ok", NULL);
            metric_add(M_EVENTS_PUBLISHED, labels, 1);
            pthread_mutex_lock(&h->mu);
            in->failing_since_ms = 0;
            pthread_mutex_unlock(&h->mu);
            return;
        }
        mlabels(labels, sizeof labels, "publisher", in->ops->name, "outcome", "error", NULL);
        metric_add(M_EVENTS_PUBLISHED, labels, 1);
        pthread_mutex_lock(&h->mu);
        if (!in->failing_since_ms) in->failing_since_ms = clock_wall_ms();
        snprintf(in->last_error, sizeof in->last_error, "%s", err.msg);
        pthread_mutex_unlock(&h->mu);
        log_kv(LOG_ERROR,
               LOG_CTX("camera_name", e->camera_name, "publisher", in->ops->name, "event_id",
                       e->event_id),
               "publish failed, retrying in %lld ms: %s", (long long)delay, err.msg);
        if (atomic_load(&h->stopping) && clock_wall_ms() > h->stop_deadline_ms) {
            char *json = event_to_json(e);
            log_kv(LOG_ERROR,
                   LOG_CTX("camera_name", e->camera_name, "publisher", in->ops->name, "event_id",
                           e->event_id, "event", json ? json : ""),
                   "shutting down with the publisher still failing: the event is in this log "
                   "line");
            free(json);
            return;
        }
        mlabels(labels, sizeof labels, "publisher", in->ops->name, NULL);
        metric_add(M_PUBLISHER_RETRIES, labels, 1);
        clock_sleep_ns(delay * 1000000LL);
        delay = delay * 2 > 5000 ? 5000 : delay * 2;
    }
}

static void *hub_main(void *p)
{
    publish_hub *h = p;
    event *e;
    while ((e = kqueue_pop(h->q, -1)) != NULL) {
        metric_set(M_PUBLISH_QUEUE, "", (double)kqueue_len(h->q));
        pthread_mutex_lock(&h->mu);
        route *r = find_route(h, e->camera_name);
        pthread_mutex_unlock(&h->mu);
        if (r) {
            int64_t t0 = clock_mono_ns();
            assign_refs(h, r, e);
            for (int i = 0; i < r->ninst; i++)
                deliver(h, r, &h->inst[r->inst[i]], e);
            int64_t now = clock_mono_ns();
            metric_observe(M_STAGE_SECONDS, "stage=\"publish\"", (double)(now - t0) / 1e9);
            if (e->decoded_mono_ns)
                metric_observe(M_EVENT_LATENCY, "", (double)(now - e->decoded_mono_ns) / 1e9);
        } else {
            log_kv(LOG_ERROR, LOG_CTX("camera_name", e->camera_name, "event_id", e->event_id),
                   "no publisher route for this camera (bug)");
        }
        event_free(e);
    }
    return NULL;
}

publish_hub *publish_hub_new(const config *cfg, int queue_capacity, kerr *err)
{
    publish_hub *h = calloc(1, sizeof *h);
    if (!h) {
        kerr_set(err, KERR_NOMEM, "out of memory");
        return NULL;
    }
    h->cfg = cfg;
    h->q = kqueue_new((size_t)queue_capacity);
    pthread_mutex_init(&h->mu, NULL);
    if (!h->q || pthread_create(&h->thread, NULL, hub_main, h) != 0) {
        kqueue_free(h->q);
        free(h);
        kerr_set(err, KERR_INTERNAL, "cannot start the publisher thread");
        return NULL;
    }
    return h;
}

void publish_hub_submit(publish_hub *h, event *e)
{
    if (!kqueue_push(h->q, e)) { /* only after free: a bug, but never lose it silently */
        log_kv(LOG_ERROR, LOG_CTX("event_id", e->event_id), "event submitted after shutdown");
        event_free(e);
    }
    metric_set(M_PUBLISH_QUEUE, "", (double)kqueue_len(h->q));
}

void publish_hub_free(publish_hub *h)
{
    if (!h) return;
    h->stop_deadline_ms = clock_wall_ms() + 10000;
    atomic_store(&h->stopping, true);
    kqueue_close(h->q);
    pthread_join(h->thread, NULL);
    kqueue_free(h->q);
    for (int i = 0; i < h->ninst; i++)
        h->inst[i].ops->close(h->inst[i].state);
    for (int i = 0; i < h->nroutes; i++) {
        route *r = &h->routes[i];
        free(r->camera);
        free(r->pub.kinesis_stream_name), free(r->pub.s3_bucket), free(r->pub.s3_prefix);
        free(r->pub.dynamodb_table), free(r->pub.local_dir);
    }
    pthread_mutex_destroy(&h->mu);
    free(h);
}

bool publish_hub_healthy(publish_hub *h, char *why, size_t len)
{
    bool ok = true;
    int64_t now = clock_wall_ms();
    pthread_mutex_lock(&h->mu);
    for (int i = 0; i < h->ninst && ok; i++)
        if (h->inst[i].failing_since_ms && now - h->inst[i].failing_since_ms > 30000) {
            snprintf(why, len, "publisher %s failing for %llds: %s", h->inst[i].ops->name,
                     (long long)(now - h->inst[i].failing_since_ms) / 1000, h->inst[i].last_error);
            ok = false;
        }
    pthread_mutex_unlock(&h->mu);
    return ok;
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
