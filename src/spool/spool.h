/* spool: the durable, append-only log between event production and the
 * publishers, so no event is lost to a crash or an outage.
 *
 * - Records go to segment files seg-<first seq>.log in the spool folder, each
 *   [magic][length][seq][crc32][payload], appended with one write.
 * - Durability (fsync policy): `always` syncs every record before append
 *   returns; `batch` (default) syncs at most every 100 ms and on rotation and
 *   close, so a power loss may lose the last 100 ms, a process crash nothing;
 *   `never` leaves it to the kernel.
 * - Every consumer (publisher) reads at its own cursor and acknowledges
 *   records independently, in any order. Its acknowledged watermark (all seq
 *   up to it are done) is persisted in ack-<consumer>; after a restart it
 *   re-reads everything above its watermark: delivery is at-least-once.
 * - A segment is deleted once every consumer's watermark has passed it.
 * - max_bytes caps the folder: append waits for reclaim (back-pressure) up to
 *   its timeout and then returns KERR_AGAIN; nothing is dropped by the spool.
 * - On open, a torn or corrupt tail (bad magic, length or checksum) is
 *   detected, counted and cut off; the records before it are replayed. */
#ifndef KVS_SPOOL_H
#define KVS_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"

typedef enum { SPOOL_FSYNC_BATCH = 0, SPOOL_FSYNC_ALWAYS, SPOOL_FSYNC_NEVER } spool_fsync;

enum { SPOOL_MAX_CONSUMERS = 8 };

typedef struct {
    const char *dir;
    int64_t max_bytes;     /* cap on all segments together */
    int64_t segment_bytes; /* rotate after this many bytes (default 16 MiB) */
    spool_fsync fsync;
    const char *consumers[SPOOL_MAX_CONSUMERS]; /* names, e.g. "kinesis", "s3" */
    int nconsumers;
} spool_opts;

typedef struct {
    uint64_t records;          /* records not yet acknowledged by every consumer */
    int64_t bytes;             /* bytes on disk */
    int64_t oldest_unacked_ms; /* wall time the oldest pending record was appended, 0 if none */
    uint64_t pending[SPOOL_MAX_CONSUMERS]; /* per consumer */
    uint64_t corrupt_bytes;                /* cut off as torn or corrupt when opening */
} spool_stats;

typedef struct spool spool;

spool *spool_open(const spool_opts *o, kerr *err);
void spool_close(spool *s);
/* Appends one record; *seq gets its sequence number. Blocks up to timeout_ms
 * while the spool is full; KERR_AGAIN if still full. */
kerr_code spool_append(spool *s, const void *data, size_t len, uint64_t *seq, int timeout_ms,
                       kerr *err);
/* The consumer's next record not yet handed to it (in append order), waiting
 * up to timeout_ms. KERR_AGAIN when none arrived; caller frees *data. */
kerr_code spool_next(spool *s, int consumer, uint64_t *seq, void **data, size_t *len,
                     int timeout_ms, kerr *err);
/* Marks seq done for the consumer. */
kerr_code spool_ack(spool *s, int consumer, uint64_t seq, kerr *err);
/* Whether the consumer has acknowledged seq (publishers that must wait for
 * another one, e.g. an event naming images only after they are uploaded). */
bool spool_is_acked(spool *s, int consumer, uint64_t seq);
/* Hands every unacknowledged record to the consumer again (after a failure). */
void spool_rewind(spool *s, int consumer);
void spool_get_stats(spool *s, spool_stats *out);

#endif
