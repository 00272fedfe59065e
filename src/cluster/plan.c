/* The coordinator's decisions (plan.h): no I/O, no clock of their own. */
#include <stdio.h>
#include <string.h>

#include "plan.h"

static int64_t ms_ns(int64_t ms)
{
    return ms * 1000000LL;
}

void plan_observe(observed *o, const lease *l, int64_t now_ns, int lease_ms)
{
    bool moved = strcmp(o->owner, l->owner) != 0 || strcmp(o->instance, l->instance) != 0;
    /* a lease that had expired and moves again was taken anew, if by its old owner */
    bool retaken = o->counter != l->counter && now_ns - o->seen_ns >= ms_ns(lease_ms);
    if (moved || retaken) {
        o->owner_ns = now_ns;
        o->owner_start_ms = l->start_ms;
    }
    if (o->counter != l->counter || moved) {
        o->counter = l->counter;
        o->seen_ns = now_ns;
        snprintf(o->owner, sizeof o->owner, "%s", l->owner);
        snprintf(o->instance, sizeof o->instance, "%s", l->instance);
    }
}

void plan_mark_unowned(observed *o, bool live, int64_t now_ns)
{
    if (live)
        o->unowned_ns = 0;
    else if (!o->unowned_ns)
        o->unowned_ns = now_ns;
}

static int find(const plan_worker *w, int n, const char *owner, const char *instance)
{
    for (int i = 0; i < n; i++)
        if (strcmp(w[i].owner, owner) == 0 && strcmp(w[i].instance, instance) == 0) return i;
    return -1;
}

int plan_workers(const seen_lease *s, int n, const char *worker_id, const char *instance,
                 plan_worker *w, int *total)
{
    int nw = 1;
    memset(&w[0], 0, sizeof w[0]);
    snprintf(w[0].owner, sizeof w[0].owner, "%s", worker_id);
    snprintf(w[0].instance, sizeof w[0].instance, "%s", instance);
    *total = 0;
    for (int i = 0; i < n; i++) {
        if (!s[i].l->valid || !s[i].listed) continue;
        (*total)++;
        if (!s[i].live) continue;
        /* a lease being handed over counts as the asking worker's already */
        bool asked = s[i].l->wanted[0] != 0;
        const char *owner = asked ? s[i].l->wanted : s[i].l->owner;
        const char *instance = asked ? s[i].l->wanted_instance : s[i].l->instance;
        int k = find(w, nw, owner, instance);
        if (k < 0) {
            k = nw++;
            memset(&w[k], 0, sizeof w[k]);
            snprintf(w[k].owner, sizeof w[k].owner, "%s", owner);
            snprintf(w[k].instance, sizeof w[k].instance, "%s", instance);
        }
        if (k > 0) w[k].count++; /* this worker's own count is what it holds */
    }
    return nw;
}

int plan_fair(int total, int nworkers, int max_cameras)
{
    int fair = nworkers > 0 ? (total + nworkers - 1) / nworkers : total;
    return max_cameras > 0 && fair > max_cameras ? max_cameras : fair;
}

int plan_victim(const plan_worker *w, int nw, int held)
{
    int victim = -1;
    for (int k = 1; k < nw; k++)
        if (w[k].count >= held + 2 && (victim < 0 || w[k].count > w[victim].count)) victim = k;
    return victim;
}

bool plan_settled(const observed *o, int64_t start_ms, int64_t now_ns, int lease_ms)
{
    int64_t still = now_ns - o->owner_ns;
    if (still < ms_ns(lease_ms)) return false;
    return (start_ms > 0 && start_ms != o->owner_start_ms) || still >= 2 * ms_ns(lease_ms);
}

bool plan_unowned(const observed *o, int64_t now_ns, int lease_ms)
{
    return o->unowned_ns && now_ns - o->unowned_ns >= 2 * ms_ns(lease_ms);
}
