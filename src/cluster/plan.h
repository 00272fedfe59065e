/* The coordinator's decisions over one scan of the lease table, as pure
 * functions (plan.c) so that they can be tested without a table: whose
 * leases count towards a fair share, whom to steal from, when a lease that
 * just moved may move again, which cameras run nowhere. */
#ifndef KVS_CLUSTER_PLAN_H
#define KVS_CLUSTER_PLAN_H

#include "cluster.h"

/* A lease as this worker has watched it, over many scans. */
typedef struct {
    char camera[160], owner[160], instance[40];
    int64_t counter;
    int64_t seen_ns;        /* when owner or counter last changed, as we saw it */
    int64_t owner_ns;       /* when the owner last changed (or we first saw it) */
    int64_t owner_start_ms; /* the checkpoint the lease had then */
    int64_t unowned_ns;     /* since when no worker runs it; 0 while one does */
    /* The bad item last reported (a hash of owner, instance and counter as
     * read; 0: none): each new edit is reported, even one made before this
     * worker's scan saw the repair of the last. */
    uint64_t told_garbage;
    bool told_unowned;
} observed;

/* What one scan says about one lease. */
typedef struct {
    const lease *l;
    observed *o;
    /* vacant: the item names no owner; live: owned by a worker renewing it */
    bool vacant, expired, live;
    bool listed; /* this worker's config has the camera: it could run it */
} seen_lease;

typedef struct {
    char owner[160], instance[40];
    int count; /* live leases it holds of cameras this worker lists */
} plan_worker;

/* Records a scan's view of a lease in o (o->camera set): moves of owner or
 * counter. A lease whose counter moves after standing still for a lease
 * period was taken again (by its old owner, after fencing itself): a move. */
void plan_observe(observed *o, const lease *l, int64_t now_ns, int lease_ms);
/* Since when nobody runs it (live: somebody does). */
void plan_mark_unowned(observed *o, bool live, int64_t now_ns);
/* The workers that share this worker's cameras: w[0] is this one, then every
 * worker holding a live lease of a camera it lists, with how many it holds
 * of them (w has room for n + 1); a lease being handed over counts as the
 * asking worker's. *total: the valid leases of the cameras it
 * lists. A worker whose cameras are all other ones is left out of both: it
 * can never run these, nor these workers its cameras. Returns how many. */
int plan_workers(const seen_lease *s, int n, const char *worker_id, const char *instance,
                 plan_worker *w, int *total);
/* Cameras per worker, rounded up, capped by max_cameras (0: none). */
int plan_fair(int total, int nworkers, int max_cameras);
/* The worker to steal one lease from: the most loaded, holding at least two
 * more than `held` (this worker's); -1 when none. */
int plan_victim(const plan_worker *w, int nw, int held);
/* Whether a live lease may be stolen: not within one lease period of its
 * last move (its new owner is starting, and an old checkpoint says nothing
 * of it), then once its checkpoint has moved since that move or, for sources
 * without fragments, after two lease periods. */
bool plan_settled(const observed *o, int64_t start_ms, int64_t now_ns, int lease_ms);
/* Nobody has run the lease for two lease periods. */
bool plan_unowned(const observed *o, int64_t now_ns, int lease_ms);

#endif
