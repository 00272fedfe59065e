#include <pthread.h>
#include <stdlib.h>

#include "sched.h"

struct sched_cam {
    sched *s;
    void *ctx;
    kframe **ring;
    int cap, head, len;
    int stale; /* dropped by a worker taking the newest frame, not yet reported */
    bool drop_stale, busy, queued, closed;
    sched_cam *next_ready;
};

struct sched {
    pthread_mutex_t mu;
    pthread_cond_t work;    /* a camera became ready, or stopping */
    pthread_cond_t changed; /* a slot gained space or a camera went idle */
    sched_cam *rhead, *rtail;
    bool stopping;
    bool abandon; /* a signal: queued frames are dropped, not analysed */
    pthread_t *threads;
    int nthreads;
    sched_fn fn;
    void *user;
};

typedef struct {
    sched *s;
    int id;
} worker_arg;

static void make_ready(sched *s, sched_cam *c)
{
    if (s->abandon || c->busy || c->queued || c->len == 0) return;
    c->queued = true;
    c->next_ready = NULL;
    if (s->rtail)
        s->rtail->next_ready = c;
    else
        s->rhead = c;
    s->rtail = c;
    pthread_cond_signal(&s->work);
}

static void *worker_main(void *p)
{
    worker_arg *a = p;
    sched *s = a->s;
    int id = a->id;
    free(a);
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->rhead && !s->stopping)
            pthread_cond_wait(&s->work, &s->mu);
        sched_cam *c = s->rhead;
        if (!c) break; /* stopping and nothing left */
        s->rhead = c->next_ready;
        if (!s->rhead) s->rtail = NULL;
        c->queued = false;
        c->busy = true;
        /* A live camera's analysis is of its newest frame: the older ones
         * waiting are history by now. */
        while (c->drop_stale && c->len > 1) {
            frame_unref(c->ring[c->head]);
            c->head = (c->head + 1) % c->cap;
            c->len--;
            c->stale++;
        }
        kframe *f = c->ring[c->head];
        c->head = (c->head + 1) % c->cap;
        c->len--;
        pthread_cond_broadcast(&s->changed);
        pthread_mutex_unlock(&s->mu);
        s->fn(c->ctx, f, id, s->user);
        pthread_mutex_lock(&s->mu);
        c->busy = false;
        make_ready(s, c);
        pthread_cond_broadcast(&s->changed);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

sched *sched_new(int workers, sched_fn fn, void *user)
{
    sched *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->work, NULL);
    pthread_cond_init(&s->changed, NULL);
    s->fn = fn;
    s->user = user;
    s->threads = calloc((size_t)workers, sizeof *s->threads);
    for (int i = 0; s->threads && i < workers; i++) {
        worker_arg *a = malloc(sizeof *a);
        if (!a) break;
        a->s = s;
        a->id = i;
        if (pthread_create(&s->threads[i], NULL, worker_main, a) != 0) {
            free(a);
            break;
        }
        s->nthreads++;
    }
    if (s->nthreads == 0) {
        free(s->threads);
        free(s);
        return NULL;
    }
    return s;
}

void sched_free(sched *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->mu);
    for (int i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    free(s->threads);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->changed);
    free(s);
}

sched_cam *sched_cam_add(sched *s, void *cam_ctx, int depth, bool drop_stale)
{
    sched_cam *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cap = depth > 0 ? depth : 1;
    c->ring = calloc((size_t)c->cap, sizeof *c->ring);
    if (!c->ring) {
        free(c);
        return NULL;
    }
    c->s = s;
    c->ctx = cam_ctx;
    c->drop_stale = drop_stale;
    return c;
}

void sched_cam_set_drop_stale(sched_cam *c, bool drop_stale)
{
    pthread_mutex_lock(&c->s->mu);
    c->drop_stale = drop_stale;
    pthread_cond_broadcast(&c->s->changed); /* a reader waiting for room may go on */
    pthread_mutex_unlock(&c->s->mu);
}

int sched_push(sched_cam *c, kframe *f)
{
    sched *s = c->s;
    int dropped = 0;
    pthread_mutex_lock(&s->mu);
    while (!c->drop_stale && c->len == c->cap && !c->closed && !s->abandon)
        pthread_cond_wait(&s->changed, &s->mu);
    if (c->closed || s->abandon) {
        pthread_mutex_unlock(&s->mu);
        frame_unref(f);
        return -1;
    }
    if (c->len == c->cap) {
        frame_unref(c->ring[c->head]);
        c->head = (c->head + 1) % c->cap;
        c->len--;
        dropped = 1;
    }
    dropped += c->stale;
    c->stale = 0;
    c->ring[(c->head + c->len) % c->cap] = f;
    c->len++;
    make_ready(s, c);
    pthread_mutex_unlock(&s->mu);
    return dropped;
}

void sched_abandon(sched *s)
{
    pthread_mutex_lock(&s->mu);
    s->stopping = s->abandon = true;
    for (sched_cam *c = s->rhead; c; c = c->next_ready)
        c->queued = false;
    s->rhead = s->rtail = NULL;
    pthread_cond_broadcast(&s->work);
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->mu);
}

int sched_cam_remove(sched_cam *c)
{
    if (!c) return 0;
    sched *s = c->s;
    pthread_mutex_lock(&s->mu);
    c->closed = true;
    pthread_cond_broadcast(&s->changed);
    /* The workers keep running until sched_free, so queued frames get analysed. */
    while (c->busy || c->queued || (c->len > 0 && !s->stopping))
        pthread_cond_wait(&s->changed, &s->mu);
    int stale = c->stale;
    while (c->len > 0) { /* only when the pool already stopped */
        frame_unref(c->ring[c->head]);
        c->head = (c->head + 1) % c->cap;
        c->len--;
        stale++;
    }
    pthread_mutex_unlock(&s->mu);
    free(c->ring);
    free(c);
    return stale;
}

int sched_cam_pending(sched_cam *c)
{
    pthread_mutex_lock(&c->s->mu);
    int n = c->len + (c->busy ? 1 : 0);
    pthread_mutex_unlock(&c->s->mu);
    return n;
}

int sched_cam_depth(sched_cam *c)
{
    pthread_mutex_lock(&c->s->mu);
    int n = c->len;
    pthread_mutex_unlock(&c->s->mu);
    return n;
}
