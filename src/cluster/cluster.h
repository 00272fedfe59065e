/* cluster: several kvs-infer workers share the cameras through a DynamoDB
 * lease table, the way the Kinesis Client Library shares shards: one item
 * per camera with its owner, a lease counter the owner bumps at every
 * renewal, its checkpoint (the KVS fragment being analysed and its producer
 * start time) and the owner's config hash. Every change is a conditional
 * write on the counter and owner. A worker decides another's lease has
 * expired only after seeing its counter unchanged for lease_seconds on its
 * own monotonic clock, so clock skew between workers cannot cause an early
 * steal. The state machine is in coordinator.c; the table calls in lease.c. */
#ifndef KVS_CLUSTER_H
#define KVS_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../aws/aws.h"
#include "../core/core.h"

/* What the coordinator asks of the app; called on its own thread. */
typedef struct {
    void *user;
    /* Start the camera; resume_ms > 0: from that producer time (KVS replay). */
    void (*start)(void *user, const char *camera, int64_t resume_ms);
    /* Asks the camera to stop (returns at once: several stop together). */
    void (*stop)(void *user, const char *camera);
    /* Stops the camera if nobody asked yet, waits until it no longer runs (its queued frames
     * analysed, its events spooled), gives its last checkpoint as
     * `checkpoint` does, and forgets it. */
    bool (*wait)(void *user, const char *camera, char *fragment, size_t len, int64_t *start_ms);
    /* The camera's checkpoint: the KVS fragment of the last frame fully
     * handled and that fragment's producer start time (a new owner replays
     * from there); false when it has none (not a KVS source, nothing yet). */
    bool (*checkpoint)(void *user, const char *camera, char *fragment, size_t len,
                       int64_t *start_ms);
    /* Until when (monotonic ns) the camera's events may go out: the fencing
     * deadline, moved at each renewal; CLUSTER_LEASE_LOST once the lease is
     * lost or fenced. Past it the camera's events are dropped: another worker
     * may run the camera by then. */
    void (*lease_until)(void *user, const char *camera, int64_t until_ns);
} cluster_hooks;

enum { CLUSTER_LEASE_LOST = 1 }; /* a deadline long past */

typedef struct {
    const char *table, *worker_id;
    const char *region, *endpoint; /* DynamoDB; endpoint NULL: AWS's */
    int lease_ms;
    int max_cameras; /* 0: no cap */
    const char *const *cameras;
    const char *const *fingerprints; /* each camera's settings as text (hashed here) */
    int ncam;
    const char *version; /* the config's version (its SHA-256), written on this worker's leases */
} cluster_conf;

typedef struct cluster cluster;

/* Checks (or creates) the table and starts the coordinator thread. */
cluster *cluster_start(const cluster_conf *conf, const aws_shared *aws, const cluster_hooks *hooks,
                       kerr *err);
/* A new config version, applied on the coordinator's thread at its next
 * tick (only cameras, fingerprints, ncam and version of conf are read):
 * cameras it no longer lists are stopped and released, held ones whose
 * settings changed restart here from their checkpoint (the app's current
 * config is already the new one), new ones become leasable. */
kerr_code cluster_update(cluster *c, const cluster_conf *conf, kerr *err);
/* A version this worker refused and why: written on its leases until the
 * next version is applied ("" clears it). */
void cluster_refused(cluster *c, const char *version, const char *why);
/* False while the lease table has never been reached (readiness). */
bool cluster_ready(cluster *c, char *why, size_t len);
/* Stops every camera it holds, writes their checkpoints and releases their
 * leases (the next owner starts at once), then ends the thread. */
void cluster_stop(cluster *c);

/* cluster.worker_id, else the ECS task id, else hostname-pid (worker_id.c). */
void cluster_worker_id(const char *configured, aws_http *http, char *out, size_t len);

/* ---- the lease table (lease.c) ---- */
typedef struct {
    char camera[160];
    char owner[160];   /* worker_id, "" when free */
    char instance[40]; /* the owning process: two processes given one worker_id stay apart */
    int64_t counter;
    char fragment[64]; /* checkpoint */
    int64_t start_ms;
    char hash[72];
    /* A worker that asked the owner to hand the lease over (a steal, see
     * coordinator.c): "" when none. */
    char wanted[160], wanted_instance[40];
    char counter_raw[48]; /* the counter as the table gave it ("" when no number) */
    bool key_fits;        /* the camera name fits `camera` (else it is left alone) */
    bool valid;           /* false: the item could not be read as a lease (logged) */
} lease;

typedef struct {
    const aws_shared *aws;
    aws_target t;
    const char *table;
} lease_table;

/* Describes the table, creating it (on-demand billing) when missing; checks
 * its key schema. */
kerr_code lease_table_ensure(lease_table *lt, kerr *err);
/* Every item (consistent read); *out malloc'd. */
kerr_code lease_scan(lease_table *lt, lease **out, int *n, kerr *err);
/* Creates a free lease unless the item exists. */
kerr_code lease_create(lease_table *lt, const char *camera, kerr *err);
/* Conditional writes: KERR_AGAIN when the condition failed (someone else
 * moved the lease), KERR_IO when the table could not be reached. */
typedef struct {
    const char *worker_id, *instance;
    /* written with every take and renewal: the config version the owner
     * runs and the last one it refused ("" none) with why */
    const char *version, *refused;
} lease_owner;
/* Takes the lease seen, writing the checkpoint the new owner starts from. */
kerr_code lease_take(lease_table *lt, const lease *seen, const lease_owner *me, const char *hash,
                     const char *fragment, int64_t start_ms, kerr *err);
/* Fails (KERR_AGAIN) once another worker has asked for the lease (lease_want). */
kerr_code lease_renew(lease_table *lt, const char *camera, const lease_owner *me, int64_t counter,
                      const char *fragment, int64_t start_ms, kerr *err);
/* Asks the live owner seen to hand the lease over to `me`: marks it wanted,
 * conditional on owner, process and counter seen and on nobody having asked
 * yet. The counter does not move: a dead owner's lease still expires. */
kerr_code lease_want(lease_table *lt, const lease *seen, const lease_owner *me, kerr *err);
/* The owner's answer to lease_want, once its camera has stopped: the lease
 * goes to the worker that asked, with the final checkpoint. */
kerr_code lease_hand(lease_table *lt, const char *camera, const lease_owner *me, int64_t counter,
                     const lease_owner *to, const char *fragment, int64_t start_ms, kerr *err);
kerr_code lease_release(lease_table *lt, const char *camera, const lease_owner *me, int64_t counter,
                        const char *fragment, int64_t start_ms, kerr *err);
/* Replaces an item that is not a lease (edited by hand, another program's)
 * with a free one; only while it is still not a lease: KERR_AGAIN when it
 * changed meanwhile. */
kerr_code lease_repair(lease_table *lt, const lease *seen, kerr *err);
/* A counter as DynamoDB writes a number: an integer (no fraction, no
 * exponent) within int64 and below its maximum, since every write adds 1. */
bool lease_parse_counter(const char *text, int64_t *out);

#endif
