/* The coordinator: one thread per worker that renews, takes, steals and
 * releases leases and starts and stops cameras to match.
 *
 * A lease, as this worker sees it:
 *
 *   free ---take---> mine ---renew ok---> mine
 *     ^               |  \
 *     |  release      |   `--renew: condition failed, and the scan shows another
 *     |               |      owner or counter--> lost (stolen, edited): stop
 *     `---(SIGTERM)---'   `--no renew ok for lease - renew ms--> fenced: stop
 *
 *   someone else's --counter unchanged for lease ms (my clock)--> expired --take--> mine
 *   someone else's --holder above its share--> want
 *   wanted by me --its owner hands it over--> mine (started only now)
 *   mine, wanted --renew: condition failed--> stop, wait, hand over with checkpoint
 *
 * Expiry is judged only from the counter an observer has seen not moving for
 * lease_ms of its own monotonic clock, never from a time written by another
 * worker: clock skew cannot cause an early take. The owner fences itself: it
 * stops a camera once lease_ms - renew_ms have passed since it *sent* its
 * last successful renewal, which is before any observer can have seen that
 * renewal, so it stops before anyone else may take the lease. A steal never
 * takes a live lease: the thief marks it wanted, the owner's next renewal
 * fails on that mark, the owner stops the camera, waits until it no longer
 * runs and only then writes the lease over to the thief with its final
 * checkpoint, and the thief starts the camera when its scan reads that
 * write. So a camera never has two owners; a steal leaves it with none for
 * up to two renewal periods plus the owner's drain. An owner that is dead or
 * paused never answers: its counter stands still and the lease expires as
 * any other (fencing covers a paused one). An edit of the item is noticed at
 * the next renewal. */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../metrics/metrics.h"
#include "plan.h"

typedef bool (*checkpoint_hook)(void *user, const char *camera, char *fragment, size_t len,
                                int64_t *start_ms);

typedef struct {
    char *name, *hash;
    bool held;
    int64_t counter;    /* the item's counter after our last write */
    int64_t last_ok_ns; /* when our last successful write was sent */
    char fragment[64];  /* the checkpoint last written */
    int64_t start_ms;
    bool fencing; /* being stopped: its renewals failed too long */
    bool doubt;   /* a renewal's condition failed: the next scan says why */
    bool wanting; /* this worker asked the owner to hand it over */
} owned;

struct cluster {
    char *table, *worker_id, instance[40], *region, *endpoint;
    lease_owner me;
    cluster_hooks h;
    lease_table lt;
    int lease_ms, renew_ms, max_cameras;
    owned *cams;
    int ncam;
    observed *obs;
    int nobs, obs_cap;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stopping;
    atomic_bool quit; /* stopping, for the HTTP cancel hook */
    atomic_bool reached;
    char why[256];     /* under mu */
    char unowned[256]; /* under mu: a camera this worker could run runs nowhere */
    bool told_duplicate;
    int64_t next_unreachable_log_ns;
    /* the config version run and the last refused, as the leases carry them
     * (c->me points here; the coordinator's thread writes them) */
    char version[72], refused[512];
    /* under mu: a new version for the next tick (cluster_update), a refusal */
    owned *pend;
    int npend;
    bool pending, refused_new;
    char pend_version[72], pend_refused[512];
};

static void held_gauge(cluster *c)
{
    int n = 0;
    for (int i = 0; i < c->ncam; i++)
        n += c->cams[i].held;
    metric_set(M_LEASES_HELD, "", n);
}

static void count_take(const char *how)
{
    char l[32];
    snprintf(l, sizeof l, "how=\"%s\"", how);
    metric_add(M_LEASES_TAKEN, l, 1);
}

static void count_loss(const char *why)
{
    char l[32];
    snprintf(l, sizeof l, "why=\"%s\"", why);
    metric_add(M_LEASES_LOST, l, 1);
}

static void refresh_checkpoint(cluster *c, owned *o, checkpoint_hook hook);

/* Stops the camera (wait stops it if nobody asked yet) and forgets the lease
 * (lost, fenced). */
static void drop_camera(cluster *c, owned *o, const char *why)
{
    c->h.lease_until(c->h.user, o->name, CLUSTER_LEASE_LOST); /* its last events are dropped */
    refresh_checkpoint(c, o, c->h.wait);
    o->held = false;
    count_loss(why);
    held_gauge(c);
}

static void unreachable(cluster *c, const char *what, const kerr *err)
{
    pthread_mutex_lock(&c->mu);
    snprintf(c->why, sizeof c->why, "lease table %s: %s", c->table, err->msg);
    pthread_mutex_unlock(&c->mu);
    if (clock_mono_ns() < c->next_unreachable_log_ns) return;
    c->next_unreachable_log_ns = clock_mono_ns() + 10000000000LL;
    log_warn("cluster: %s on lease table %s failed: %s", what, c->table, err->msg);
}

/* Takes the camera's checkpoint from `hook` (checkpoint while it runs, wait
 * when it stops); one without a checkpoint of its own (nothing read yet)
 * keeps the one its lease came with. */
static void refresh_checkpoint(cluster *c, owned *o, checkpoint_hook hook)
{
    char frag[64];
    int64_t start = 0;
    if (!hook(c->h.user, o->name, frag, sizeof frag, &start) || start <= 0) return;
    snprintf(o->fragment, sizeof o->fragment, "%s", frag);
    o->start_ms = start;
}

static int64_t fence_at(const cluster *c, const owned *o)
{
    return o->last_ok_ns + (int64_t)(c->lease_ms - c->renew_ms) * 1000000LL;
}

/* Stops, all at once, the cameras whose leases may soon be taken by others
 * because they could not be renewed in time. */
static void fence(cluster *c)
{
    int64_t now = clock_mono_ns();
    bool any = false;
    for (int i = 0; i < c->ncam; i++) {
        owned *o = &c->cams[i];
        if (!o->held || now < fence_at(c, o)) continue;
        log_kv(LOG_WARN, LOG_CTX("camera_name", o->name),
               "cluster: no lease renewal for %.1f s: stopping the camera before another "
               "worker may take it",
               (double)(now - o->last_ok_ns) / 1e9);
        c->h.stop(c->h.user, o->name);
        o->fencing = any = true;
    }
    for (int i = 0; any && i < c->ncam; i++)
        if (c->cams[i].fencing) {
            c->cams[i].fencing = false;
            drop_camera(c, &c->cams[i], "fenced");
        }
}

/* Renews one lease held, with the camera's checkpoint; false when the table
 * could not be reached. */
static bool renew_one(cluster *c, owned *o)
{
    refresh_checkpoint(c, o, c->h.checkpoint);
    kerr err = {0};
    int64_t sent = clock_mono_ns();
    kerr_code rc = lease_renew(&c->lt, o->name, &c->me, o->counter, o->fragment, o->start_ms, &err);
    if (rc == KERR_OK) {
        o->counter++;
        o->last_ok_ns = sent;
        c->h.lease_until(c->h.user, o->name, fence_at(c, o));
    } else if (rc == KERR_AGAIN) {
        o->doubt = true; /* resolved by the scan that follows (resolve_doubt) */
    } else {
        metric_add(M_LEASE_RENEW_FAILURES, "", 1);
        unreachable(c, "renewal", &err);
        return false;
    }
    return true;
}

/* Renews every lease held. The first call that cannot reach the table ends
 * the round: the others would only wait out their own timeouts while the
 * fencing deadlines run. */
static void renew_all(cluster *c)
{
    fence(c);
    for (int i = 0; i < c->ncam; i++) {
        if (!c->cams[i].held) continue;
        if (!renew_one(c, &c->cams[i])) break;
        fence(c); /* a slow table must not hold the other deadlines up */
    }
    fence(c);
}

/* How long until the next fencing deadline (ms), or `limit`. */
static int64_t until_fence(const cluster *c, int64_t limit)
{
    int64_t now = clock_mono_ns();
    for (int i = 0; i < c->ncam; i++) {
        if (!c->cams[i].held) continue;
        int64_t left = (fence_at(c, &c->cams[i]) - now) / 1000000 + 1;
        if (left < limit) limit = left;
    }
    return limit;
}

/* Room for n more observations before a scan is read: the pointers taken
 * during the scan stay valid. */
static bool reserve_observed(cluster *c, int n)
{
    if (c->nobs + n <= c->obs_cap) return true;
    observed *grown = realloc(c->obs, sizeof *grown * (size_t)(c->nobs + n));
    if (!grown) return false;
    c->obs = grown;
    c->obs_cap = c->nobs + n;
    return true;
}

static observed *observe(cluster *c, const lease *l, int64_t now)
{
    for (int i = 0; i < c->nobs; i++)
        if (strcmp(c->obs[i].camera, l->camera) == 0) {
            plan_observe(&c->obs[i], l, now, c->lease_ms);
            return &c->obs[i];
        }
    if (c->nobs >= c->obs_cap) return NULL; /* see reserve_observed */
    observed *o = &c->obs[c->nobs++];
    memset(o, 0, sizeof *o);
    snprintf(o->camera, sizeof o->camera, "%s", l->camera);
    snprintf(o->owner, sizeof o->owner, "%s", l->owner);
    snprintf(o->instance, sizeof o->instance, "%s", l->instance);
    o->counter = l->counter;
    o->seen_ns = o->owner_ns = now;
    o->owner_start_ms = l->start_ms;
    return o;
}

static owned *mine(cluster *c, const char *camera)
{
    for (int i = 0; i < c->ncam; i++)
        if (strcmp(c->cams[i].name, camera) == 0) return &c->cams[i];
    return NULL;
}

static bool is_me(const cluster *c, const lease *l)
{
    return strcmp(l->owner, c->worker_id) == 0 && strcmp(l->instance, c->instance) == 0;
}

/* FNV-1a over what a bad item holds, so that an item is reported once
 * however many scans see it, and a different one again. */
static uint64_t garbage_id(const lease *l)
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[] = {l->owner, l->instance, l->counter_raw};
    for (size_t i = 0; i < sizeof parts / sizeof *parts; i++)
        for (const char *p = parts[i];; p++) {
            h = (h ^ (unsigned char)*p) * 1099511628211ULL;
            if (!*p) break; /* the NUL too: "ab","c" differs from "a","bc" */
        }
    return h ? h : 1;
}

/* Items that are not leases are logged and replaced by free leases: a worker
 * whose item was edited loses it at its next renewal (the condition fails),
 * so nobody keeps running it unannounced. */
static void repair(cluster *c, const lease *l, observed *o)
{
    uint64_t id = garbage_id(l);
    bool told = o->told_garbage == id;
    o->told_garbage = id;
    if (!l->key_fits) {
        if (!told)
            log_error("cluster: lease table %s: an item's camera name is longer than any camera's "
                      "can be: left alone",
                      c->table);
        return;
    }
    if (!told)
        log_error("cluster: lease table %s: the item for camera \"%s\" is not a lease (owner and "
                  "counter missing, of the wrong type, or a counter that is no integer: \"%s\"); "
                  "replacing it with a free lease",
                  c->table, l->camera, l->counter_raw);
    kerr err = {0};
    kerr_code rc = lease_repair(&c->lt, l, &err);
    if (rc == KERR_OK)
        log_info("cluster: lease table %s: camera \"%s\" has a free lease again", c->table,
                 l->camera);
    else if (rc == KERR_AGAIN) /* changed since the scan: looked at again at the next */
        log_info("cluster: lease table %s: the item for camera \"%s\" changed before it could "
                 "be repaired",
                 c->table, l->camera);
    else
        unreachable(c, "repair", &err);
}

/* Another worker asked for the lease (a steal): the camera stops here and
 * no longer runs before the lease names the other worker, with the
 * checkpoint of the last frame handled here; that worker starts it only once
 * it reads this write. Events the camera made while stopping go out: the
 * lease is still ours until the write. */
static void hand_over(cluster *c, owned *m, const lease *l)
{
    m->counter = l->counter;
    c->h.stop(c->h.user, m->name);
    refresh_checkpoint(c, m, c->h.wait);
    lease_owner to = {.worker_id = l->wanted, .instance = l->wanted_instance};
    kerr err = {0};
    kerr_code rc =
        lease_hand(&c->lt, m->name, &c->me, m->counter, &to, m->fragment, m->start_ms, &err);
    c->h.lease_until(c->h.user, m->name, CLUSTER_LEASE_LOST);
    m->held = false;
    fence(c); /* the drain and the write took time */
    count_loss("handed");
    held_gauge(c);
    if (rc == KERR_OK)
        log_kv(LOG_INFO, LOG_CTX("camera_name", m->name),
               "cluster: handed the lease over to %s, which asked for it", l->wanted);
    else /* stopped all the same: the lease expires and moves as any other */
        log_kv(LOG_WARN, LOG_CTX("camera_name", m->name),
               "cluster: cannot hand the lease over to %s (%s): stopped here, it moves when it "
               "expires",
               l->wanted, err.msg[0] ? err.msg : "it changed meanwhile");
}

/* A renewal whose condition failed, checked against the item the scan read
 * (NULL: there is none). A renewal that timed out but went through moved the
 * counter itself, and the lease is still ours (every take and repair
 * replaces owner and instance); one still ours but marked wanted goes to
 * the worker that asked (hand_over); anything else means the lease is lost. */
static void resolve_doubt(cluster *c, owned *m, const lease *l)
{
    m->doubt = false;
    if (l && l->valid && is_me(c, l) && l->wanted[0] && l->counter >= m->counter) {
        hand_over(c, m, l);
        return;
    }
    if (l && l->valid && is_me(c, l) && l->counter > m->counter) {
        m->counter = l->counter;
        log_kv(LOG_INFO, LOG_CTX("camera_name", m->name),
               "cluster: a renewal that timed out had gone through: the lease is still ours");
        renew_one(c, m); /* now, before its fencing deadline (which that write did not move) */
        return;
    }
    log_kv(LOG_WARN, LOG_CTX("camera_name", m->name),
           "cluster: the lease was taken by another worker (or its item changed): stopping the "
           "camera here");
    drop_camera(c, m, "taken");
}

static bool take(cluster *c, owned *m, const lease *l, const char *how)
{
    kerr err = {0};
    int64_t sent = clock_mono_ns();
    kerr_code rc = lease_take(&c->lt, l, &c->me, m->hash, l->fragment, l->start_ms, &err);
    fence(c); /* many takes in a row on a slow table must not hold a deadline up */
    if (rc != KERR_OK) {
        if (rc != KERR_AGAIN) unreachable(c, "take", &err);
        return false; /* AGAIN: another worker moved it first */
    }
    m->held = true;
    m->counter = l->counter + 1;
    m->last_ok_ns = sent;
    snprintf(m->fragment, sizeof m->fragment, "%s", l->fragment);
    m->start_ms = l->start_ms > 0 ? l->start_ms : 0;
    count_take(how);
    held_gauge(c);
    bool handed = is_me(c, l); /* its owner handed it over: the item names us already */
    log_kv(LOG_INFO, LOG_CTX("camera_name", m->name), "cluster: took the %s lease%s%s", how,
           l->owner[0] && !handed ? " of "
           : handed               ? " handed over"
                                  : "",
           handed ? "" : l->owner);
    c->h.start(c->h.user, m->name, m->start_ms);
    c->h.lease_until(c->h.user, m->name, fence_at(c, m));
    return true;
}

/* Asks the owner of a live lease to hand it over (see the top): true when
 * the mark was written. */
static bool want(cluster *c, owned *m, const lease *l)
{
    kerr err = {0};
    kerr_code rc = lease_want(&c->lt, l, &c->me, &err);
    fence(c);
    if (rc == KERR_AGAIN) return false; /* renewed or asked for meanwhile; the next scan sees it */
    /* Not reached: the mark may have gone through all the same, and the owner
     * may hand the lease over; the next scan says (follow_wanted). */
    m->wanting = true;
    if (rc != KERR_OK) {
        unreachable(c, "steal", &err);
        return false;
    }
    log_kv(LOG_INFO, LOG_CTX("camera_name", m->name),
           "cluster: asked %s to hand the lease over (it holds more than its share)", l->owner);
    return true;
}

/* A lease this worker asked for, as the scan found it: handed over (it names
 * this process) is taken and started; one that went elsewhere (expired and
 * taken, released) is no longer waited for. */
static void follow_wanted(cluster *c, owned *m, const lease *l)
{
    if (!m->wanting || m->held) return;
    if (is_me(c, l)) {
        if (take(c, m, l, "stolen")) m->wanting = false; /* else the next scan tries again */
    } else if (strcmp(l->wanted, c->worker_id) != 0 || strcmp(l->wanted_instance, c->instance) != 0)
        m->wanting = false;
}

/* Takes free and expired leases up to this worker's fair share, then steals
 * one lease from the most loaded worker if that evens things out. Only the
 * cameras this worker lists count (plan_workers): workers with other camera
 * lists on the same table neither dilute its share nor become its victims.
 * A camera's settings (its config hash) do not matter: while a new config
 * rolls out, workers on either version share the cameras both list, and a
 * stolen camera runs with the thief's settings (docs/cluster.md). */
static void balance(cluster *c, seen_lease *s, int n)
{
    plan_worker *w = calloc((size_t)n + 1, sizeof *w);
    if (!w) return;
    int held = 0, total = 0;
    for (int i = 0; i < c->ncam; i++)
        held += c->cams[i].held || c->cams[i].wanting; /* asked for: about to be handed over */
    int nw = plan_workers(s, n, c->worker_id, c->instance, w, &total);
    int fair = plan_fair(total, nw, c->max_cameras);
    bool took = false;
    for (int pass = 0; pass < 2 && held < fair; pass++) /* free ones first, then expired */
        for (int i = 0; i < n && held < fair; i++) {
            owned *m = mine(c, s[i].l->camera);
            if (!m || m->held || !s[i].l->valid) continue;
            if (!(pass == 0 ? s[i].vacant : s[i].expired)) continue;
            bool asked = m->wanting; /* already counted in held */
            if (take(c, m, s[i].l, pass == 0 ? "free" : "expired")) {
                m->wanting = false;
                held += !asked, took = true;
            }
        }
    int victim = plan_victim(w, nw, held);
    int64_t now = clock_mono_ns();
    if (!took && held < fair && victim > 0)
        for (int i = 0; i < n; i++) {
            owned *m = mine(c, s[i].l->camera);
            if (!m || m->held || m->wanting || !s[i].live || s[i].l->wanted[0]) continue;
            if (strcmp(s[i].l->owner, w[victim].owner) != 0 ||
                strcmp(s[i].l->instance, w[victim].instance) != 0)
                continue;
            if (!s[i].o || !plan_settled(s[i].o, s[i].l->start_ms, now, c->lease_ms)) continue;
            if (want(c, m, s[i].l)) break;
        }
    free(w);
}

/* Cameras that have run nowhere for two lease periods: counted (all of the
 * table's), logged once each, and /readyz fails while one this worker lists
 * runs nowhere although it has room for it. */
static void report_unowned(cluster *c, const seen_lease *s, int n)
{
    int64_t now = clock_mono_ns();
    int count = 0, held = 0;
    for (int i = 0; i < c->ncam; i++)
        held += c->cams[i].held;
    char why[256] = "";
    for (int i = 0; i < n; i++) {
        observed *o = s[i].o;
        if (!o) continue;
        if (!plan_unowned(o, now, c->lease_ms)) {
            if (o->told_unowned && s[i].live)
                log_info("cluster: camera \"%s\" runs again (on %s)", o->camera, s[i].l->owner);
            o->told_unowned = o->told_unowned && !s[i].live;
            continue;
        }
        count++;
        if (!o->told_unowned)
            log_warn("cluster: camera \"%s\" has run on no worker for %.0f s (%s)", o->camera,
                     (double)(now - o->unowned_ns) / 1e9,
                     !s[i].l->valid ? "its lease item is not a lease"
                     : s[i].listed  ? "this worker lists it"
                                    : "no running worker seen here lists it");
        o->told_unowned = true;
        if (s[i].listed && !why[0] && (c->max_cameras <= 0 || held < c->max_cameras))
            snprintf(why, sizeof why, "camera %s has run on no worker for %.0f s", o->camera,
                     (double)(now - o->unowned_ns) / 1e9);
    }
    metric_set(M_CAMERAS_UNOWNED, "", count);
    pthread_mutex_lock(&c->mu);
    snprintf(c->unowned, sizeof c->unowned, "%s", why);
    pthread_mutex_unlock(&c->mu);
}

static void scan_and_balance(cluster *c)
{
    lease *items = NULL;
    int n = 0;
    kerr err = {0};
    if (lease_scan(&c->lt, &items, &n, &err) != KERR_OK) {
        unreachable(c, "scan", &err);
        return;
    }
    atomic_store(&c->reached, true);
    int64_t now = clock_mono_ns();
    seen_lease *s = calloc((size_t)n + 1, sizeof *s);
    if (!s || !reserve_observed(c, n)) {
        free(s);
        free(items);
        return;
    }
    for (int i = 0; i < n; i++) {
        observed *o = observe(c, &items[i], now);
        owned *m = mine(c, items[i].camera);
        s[i] = (seen_lease){.l = &items[i], .o = o, .listed = m != NULL};
        if (m && m->held && m->doubt) resolve_doubt(c, m, &items[i]);
        if (m && items[i].valid) follow_wanted(c, m, &items[i]);
        if (!o) continue;
        if (!items[i].valid) {
            plan_mark_unowned(o, false, now);
            repair(c, &items[i], o);
            continue;
        }
        o->told_garbage = 0; /* a lease again: the next edit is reported too */
        s[i].vacant = !items[i].owner[0];
        s[i].expired = !s[i].vacant && now - o->seen_ns >= (int64_t)c->lease_ms * 1000000LL;
        s[i].live = !s[i].vacant && !s[i].expired;
        plan_mark_unowned(o, s[i].live, now);
        if (strcmp(items[i].owner, c->worker_id) == 0 && !is_me(c, &items[i]) && s[i].live &&
            !c->told_duplicate) {
            c->told_duplicate = true;
            log_error("cluster: another process (instance %s) also runs as worker_id \"%s\": "
                      "give each worker its own worker_id; leases stay safe (each write names "
                      "its process), but logs and events cannot tell the two apart",
                      items[i].instance, c->worker_id);
        }
        if (m && m->held && !is_me(c, &items[i])) { /* moved since our renewal: lost */
            log_kv(LOG_WARN, LOG_CTX("camera_name", m->name),
                   "cluster: the lease now belongs to %s: stopping the camera here",
                   items[i].owner);
            drop_camera(c, m, "taken");
        }
    }
    for (int i = 0; i < c->ncam; i++) { /* a camera of ours with no item yet */
        bool found = false;
        for (int k = 0; k < n && !found; k++)
            found = strcmp(items[k].camera, c->cams[i].name) == 0;
        if (!found && c->cams[i].held && c->cams[i].doubt) resolve_doubt(c, &c->cams[i], NULL);
        if (!found && lease_create(&c->lt, c->cams[i].name, &err) != KERR_OK)
            unreachable(c, "create", &err);
    }
    balance(c, s, n);
    report_unowned(c, s, n);
    pthread_mutex_lock(&c->mu);
    c->why[0] = 0;
    pthread_mutex_unlock(&c->mu);
    free(s);
    free(items);
}

/* Sleeps until the next tick; false when stopping. */
static bool pause_tick(cluster *c, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping && !c->pending) /* a new config version is applied at once */
        if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) != 0) break;
    bool go = !c->stopping;
    pthread_mutex_unlock(&c->mu);
    return go;
}

static void apply_update(cluster *c);

static bool quitting(void *arg)
{
    return atomic_load(&((cluster *)arg)->quit);
}

static void *run(void *arg)
{
    cluster *c = arg;
    kerr err = {0};
    aws_http_cancel_when(quitting, c); /* a stop never waits out a slow table */
    bool told = false;
    while (lease_table_ensure(&c->lt, &err) != KERR_OK) {
        unreachable(c, "set-up", &err);
        if (err.code == KERR_INVALID && !told) log_error("cluster: %s", err.msg);
        told = told || err.code == KERR_INVALID; /* then only the rate-limited warning */
        if (!pause_tick(c, c->renew_ms)) return NULL;
        memset(&err, 0, sizeof err);
    }
    do {
        int64_t t0 = clock_mono_ns();
        apply_update(c);
        renew_all(c);
        scan_and_balance(c);
        int64_t spent = (clock_mono_ns() - t0) / 1000000;
        /* a little jitter keeps workers started together from colliding */
        int64_t wait = c->renew_ms - spent + (rand() % 200) - 100;
        wait = until_fence(c, wait);
        if (wait < 10) wait = 10;
        if (!pause_tick(c, wait)) break;
    } while (1);
    return NULL;
}

static void free_cams(owned *v, int n)
{
    for (int i = 0; i < n; i++)
        free(v[i].name), free(v[i].hash);
    free(v);
}

static void cluster_free(cluster *c)
{
    free_cams(c->cams, c->ncam);
    free_cams(c->pend, c->npend);
    free(c->obs);
    free(c->table), free(c->worker_id), free(c->region), free(c->endpoint);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

/* The cameras of conf, none held; NULL when out of memory. */
static owned *new_cams(const cluster_conf *conf, int *n)
{
    owned *v = calloc((size_t)conf->ncam + 1, sizeof *v);
    *n = 0;
    for (int i = 0; v && i < conf->ncam; i++) {
        const char *fp = conf->fingerprints[i] ? conf->fingerprints[i] : "";
        char hash[65];
        aws_sha256_hex(fp, strlen(fp), hash);
        v[i].name = kstrdup(conf->cameras[i]);
        v[i].hash = kstrdup(hash);
        (*n)++;
        if (!v[i].name || !v[i].hash) {
            free_cams(v, *n);
            return NULL;
        }
    }
    return v;
}

cluster *cluster_start(const cluster_conf *conf, const aws_shared *aws, const cluster_hooks *hooks,
                       kerr *err)
{
    cluster *c = calloc(1, sizeof *c);
    if (!c) return kerr_set(err, KERR_NOMEM, "out of memory"), NULL;
    pthread_mutex_init(&c->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&c->cv, &ca);
    pthread_condattr_destroy(&ca);
    char uuid[UUID_TEXT_LEN + 1];
    uuid_v7(uuid);
    snprintf(c->instance, sizeof c->instance, "%s", uuid);
    c->table = kstrdup(conf->table);
    c->worker_id = kstrdup(conf->worker_id);
    c->region = kstrdup(conf->region ? conf->region : "us-east-1");
    c->endpoint = conf->endpoint ? kstrdup(conf->endpoint) : NULL;
    c->me = (lease_owner){c->worker_id, c->instance, c->version, c->refused};
    c->h = *hooks;
    c->lease_ms = conf->lease_ms;
    c->renew_ms = conf->lease_ms / 3;
    c->max_cameras = conf->max_cameras;
    snprintf(c->version, sizeof c->version, "%s", conf->version ? conf->version : "");
    bool ok = c->table && c->worker_id && c->region && (!conf->endpoint || c->endpoint) &&
              (c->cams = new_cams(conf, &c->ncam));
    if (!ok) {
        cluster_free(c);
        return kerr_set(err, KERR_NOMEM, "out of memory"), NULL;
    }
    /* A call must end well inside a renewal period, retries included, or a
     * worker cut off from the table would fence itself late. */
    c->lt = (lease_table){aws,
                          {"dynamodb", c->region, c->endpoint, "DynamoDB_20120810", "1.0",
                           c->renew_ms / 4 > 250 ? c->renew_ms / 4 : 250},
                          c->table};
    snprintf(c->why, sizeof c->why, "lease table %s not reached yet", c->table);
    srand((unsigned)clock_mono_ns());
    held_gauge(c);
    if (pthread_create(&c->thread, NULL, run, c) != 0) {
        cluster_free(c);
        return kerr_set(err, KERR_INTERNAL, "cannot start the cluster thread"), NULL;
    }
    c->started = true;
    log_info("cluster: worker %s (instance %s) shares %d camera(s) through lease table %s, "
             "lease %.1f s",
             c->worker_id, c->instance, c->ncam, c->table, c->lease_ms / 1000.0);
    return c;
}

/* ---- a new config version (cluster_update), on the coordinator's thread ---- */

static owned *find_in(owned *v, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(v[i].name, name) == 0) return &v[i];
    return NULL;
}

/* A held camera the new version no longer lists: stopped (its events
 * spooled) and its lease handed back with the checkpoint, so that a worker
 * still listing it takes it at once. */
static void release_removed(cluster *c, owned *o)
{
    refresh_checkpoint(c, o, c->h.wait);
    kerr err = {0};
    if (lease_release(&c->lt, o->name, &c->me, o->counter, o->fragment, o->start_ms, &err) ==
        KERR_OK)
        metric_add(M_LEASES_RELEASED, "", 1);
    else
        log_kv(LOG_WARN, LOG_CTX("camera_name", o->name),
               "cluster: cannot release the lease of a camera the new config removed (%s): it "
               "moves when it expires",
               err.msg);
    o->held = false;
    log_kv(LOG_INFO, LOG_CTX("camera_name", o->name),
           "cluster: the new config removes the camera: released");
}

static void apply_version(cluster *c, owned *next, int n, const char *version);

/* Applies the version cluster_update left (apply_version), then a refusal
 * that came after it. */
static void apply_update(cluster *c)
{
    pthread_mutex_lock(&c->mu);
    char refused[sizeof c->refused];
    bool refused_new = c->refused_new; /* cluster_update clears it: it came after */
    snprintf(refused, sizeof refused, "%s", c->pend_refused);
    c->refused_new = false;
    owned *next = c->pend;
    int n = c->npend;
    bool have = c->pending;
    char version[72];
    snprintf(version, sizeof version, "%s", c->pend_version);
    c->pend = NULL, c->npend = 0, c->pending = false;
    pthread_mutex_unlock(&c->mu);
    if (have) apply_version(c, next, n, version);
    if (refused_new) snprintf(c->refused, sizeof c->refused, "%s", refused);
}

/* Removed cameras released, changed ones restarted from their checkpoint
 * (all asked to stop first, so that they wind down together), new ones
 * listed for the next scan. */
static void apply_version(cluster *c, owned *next, int n, const char *version)
{
    int removed = 0, restarted = 0;
    for (int i = 0; i < c->ncam; i++) {
        owned *o = &c->cams[i], *nx = find_in(next, n, o->name);
        if (o->held && (!nx || strcmp(nx->hash, o->hash) != 0)) c->h.stop(c->h.user, o->name);
    }
    for (int i = 0; i < c->ncam; i++) {
        owned *o = &c->cams[i], *nx = find_in(next, n, o->name);
        if (!nx) {
            if (o->held) release_removed(c, o), removed++;
            continue;
        }
        char *hash = nx->hash;
        bool changed = strcmp(hash, o->hash) != 0;
        free(nx->name), free(o->hash);
        *nx = *o; /* the lease as held, with the new settings' hash */
        nx->hash = hash;
        o->name = NULL, o->hash = NULL;
        if (!nx->held || !changed) continue;
        refresh_checkpoint(c, nx, c->h.wait);
        c->h.start(c->h.user, nx->name, nx->start_ms); /* with the app's current (new) config */
        c->h.lease_until(c->h.user, nx->name, fence_at(c, nx));
        restarted++;
    }
    free_cams(c->cams, c->ncam);
    c->cams = next, c->ncam = n;
    snprintf(c->version, sizeof c->version, "%s", version);
    c->refused[0] = 0; /* a refusal is of a version tried after the one run */
    held_gauge(c);
    log_info("cluster: config version %.12s applied: %d camera(s) listed, %d restarted with new "
             "settings, %d released",
             version, n, restarted, removed);
}

kerr_code cluster_update(cluster *c, const cluster_conf *conf, kerr *err)
{
    int n = 0;
    owned *v = new_cams(conf, &n);
    if (!v) return kerr_set(err, KERR_NOMEM, "out of memory");
    pthread_mutex_lock(&c->mu);
    free_cams(c->pend, c->npend); /* a version not applied yet is overtaken */
    c->pend = v, c->npend = n, c->pending = true;
    snprintf(c->pend_version, sizeof c->pend_version, "%s", conf->version ? conf->version : "");
    c->refused_new = false;
    pthread_cond_broadcast(&c->cv); /* applied now, not at the next renewal */
    pthread_mutex_unlock(&c->mu);
    return KERR_OK;
}

void cluster_refused(cluster *c, const char *version, const char *why)
{
    pthread_mutex_lock(&c->mu);
    snprintf(c->pend_refused, sizeof c->pend_refused, "%.12s: %s", version, why);
    c->refused_new = true;
    pthread_mutex_unlock(&c->mu);
}

bool cluster_ready(cluster *c, char *why, size_t len)
{
    bool reached = atomic_load(&c->reached);
    pthread_mutex_lock(&c->mu);
    bool ok = reached && !c->unowned[0];
    if (!ok) snprintf(why, len, "%s", reached ? c->unowned : c->why);
    pthread_mutex_unlock(&c->mu);
    return ok;
}

void cluster_stop(cluster *c)
{
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    atomic_store(&c->quit, true);
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (c->started) pthread_join(c->thread, NULL);
    /* A renewal first: what the cameras flush while they stop (their open
     * tracks' last events) is made under a lease that has not lapsed. */
    if (c->started) renew_all(c);
    /* Every camera drains at once; then each lease goes back with the
     * checkpoint of the last frame handled, so the next owner starts now. */
    for (int i = 0; i < c->ncam; i++)
        if (c->cams[i].held) c->h.stop(c->h.user, c->cams[i].name);
    int released = 0;
    bool reachable = true;
    for (int i = 0; i < c->ncam; i++) {
        owned *o = &c->cams[i];
        if (!o->held) continue;
        refresh_checkpoint(c, o, c->h.wait);
        kerr err = {0};
        kerr_code rc = reachable ? lease_release(&c->lt, o->name, &c->me, o->counter, o->fragment,
                                                 o->start_ms, &err)
                                 : KERR_IO;
        if (rc == KERR_IO) reachable = false; /* the rest would only eat the drain's time */
        if (rc == KERR_OK) {
            released++;
            metric_add(M_LEASES_RELEASED, "", 1);
        } else
            log_kv(LOG_WARN, LOG_CTX("camera_name", o->name),
                   "cluster: cannot release the lease (%s): it moves when it expires",
                   err.msg[0]      ? err.msg
                   : rc == KERR_IO ? "the table is unreachable"
                                   : "someone else holds it");
        o->held = false;
    }
    held_gauge(c);
    if (released) log_info("cluster: released %d lease(s)", released);
    cluster_free(c);
}
