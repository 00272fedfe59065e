/* spool: the durable, append-only log between event production and the
 * publishers, so no event is lost to a crash or an outage.
 *
 * - Records go to segment files seg-<first seq, 20 digits>.log in the spool
 *   folder, each appended with one write (format below).
 * - Durability (fsync policy): `always` syncs every record before append
 *   returns; `batch` (default) syncs at most every 100 ms and on rotation and
 *   close, so a power loss may lose the last 100 ms, a process crash nothing;
 *   `never` leaves it to the kernel.
 * - Every consumer (publisher) reads at its own cursor and acknowledges
 *   records independently, in any order. Its acknowledged watermark (all seq
 *   up to it are done) is persisted in ack-<consumer>; after a restart it
 *   re-reads everything above its watermark: delivery is at-least-once.
 * - A segment is deleted once every consumer's watermark has passed it.
 * - max_bytes caps the folder, and a full disk (ENOSPC, EDQUOT) counts as
 *   full too: append waits for room (back-pressure) up to its timeout and
 *   then returns KERR_AGAIN; nothing is dropped by the spool. The time waited
 *   is counted (spool_take_full_wait).
 * - Bulk records (spool_append_bulk: a clip's video) never wait: they are
 *   taken only while there is room now and the bulk records on disk stay
 *   within the caller's share of the folder, so they can never fill it for
 *   the ordinary records. A deleted segment frees its bulk bytes; on open,
 *   opts.is_bulk tells the reloaded ones apart.
 * - A bulk record may have a file (spool_append_file: a clip's MP4), moved
 *   into {dir}/files/<seq, 20 digits>.bin before its record is written and
 *   deleted with the record's segment; its bytes count toward max_bytes and
 *   the bulk share like the record's. On open a file whose record does not
 *   exist (a crash between the two steps, a torn record) is removed, so a
 *   kill at any point loses no file a record names and leaks none.
 * - A segment that cannot be read whole on open (it cannot be opened or
 *   mapped, or memory runs out while indexing it) is kept as it is, with
 *   every file whose seq it may hold; no watermark passes its unread
 *   records, new records are numbered above any seq it may hold, and nothing
 *   from it onwards is deleted, until a start that reads it delivers them
 *   (or every seq it may hold is below every watermark: an earlier run
 *   delivered it, and it goes).
 * - One process per folder: spool_open takes an flock on {dir}/lock (the
 *   holder's pid written in it) and fails with KERR_BUSY naming the holder.
 * - On open, each segment is checked record by record. A bad record (magic,
 *   length or checksum wrong) in the middle is skipped: the reader scans
 *   forward for the next valid frame (magic, a length that fits, a matching
 *   CRC, a higher seq) and delivers every record from there. Only a bad tail
 *   (no valid record after it: a torn last write) is cut off. Either way the
 *   bad bytes are counted, logged with segment and offset and copied to
 *   {dir}/corrupt/seg-<first>-at-<offset>.bad (once: a copy that exists means
 *   an earlier start reported it). A file whose record may have been among
 *   a segment's bad bytes goes to {dir}/corrupt/seg-<first>-file-<seq>.bin
 *   (-2, -3... before .bin when that name exists: a cut tail's seq is given
 *   again) instead of being removed as one without a record.
 *
 * Record format (every integer little-endian, whatever the host):
 *
 *   offset size field
 *        0    4 magic   0x5253564b ("KVSR" as bytes)
 *        4    4 length  payload bytes, at most 64 MiB
 *        8    8 seq     sequence number: 1, 2, ... increasing across segments
 *       16    8 time    wall clock at append, ms since the Unix epoch
 *       24    4 crc     CRC-32 (zlib, ISO-HDLC polynomial) of bytes 8..23 (seq
 *                       and time) followed by the payload; magic and length
 *                       are checked by their own rules, not by the CRC
 *       28    n payload the bytes given to spool_append (for events:
 *                       spool_record.c's format)
 *
 * Records follow each other without padding; a segment holds whole records
 * only, apart from a torn tail after a crash. Acknowledgement file
 * ack-<consumer>: one line, the watermark in decimal ASCII and "\n",
 * replaced atomically (written to ack-<consumer>.tmp, synced, renamed). A
 * missing file means 0 (nothing acknowledged). The lock file holds the
 * holder's pid in decimal and "\n"; only the flock on it counts. */
#ifndef KVS_SPOOL_H
#define KVS_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"

typedef enum { SPOOL_FSYNC_BATCH = 0, SPOOL_FSYNC_ALWAYS, SPOOL_FSYNC_NEVER } spool_fsync;

enum { SPOOL_MAX_CONSUMERS = 16 };    /* a bit each in a record's uint16_t masks */
enum { SPOOL_MAX_RECORD = 64 << 20 }; /* a record's payload, at most */

typedef struct {
    const char *dir;
    int64_t max_bytes;     /* cap on all segments together */
    int64_t segment_bytes; /* rotate after this many bytes (default 16 MiB) */
    spool_fsync fsync;
    const char *consumers[SPOOL_MAX_CONSUMERS]; /* names, e.g. "kinesis", "s3" */
    int nconsumers;
    /* Whether a record found on open is a bulk one (NULL: none is). */
    bool (*is_bulk)(const void *payload, size_t len);
} spool_opts;

typedef struct {
    uint64_t records;          /* records not yet acknowledged by every consumer */
    int64_t bytes;             /* bytes on disk */
    int64_t bulk_bytes;        /* of them, in bulk records */
    int64_t oldest_unacked_ms; /* wall time the oldest pending record was appended, 0 if none */
    uint64_t pending[SPOOL_MAX_CONSUMERS]; /* per consumer */
    uint64_t corrupt_bytes;                /* skipped or cut off as torn or corrupt when opening */
    uint64_t corrupt_records; /* bad regions (one or more records each) found when opening */
} spool_stats;

typedef struct spool spool;

spool *spool_open(const spool_opts *o, kerr *err);
void spool_close(spool *s);
/* Appends one record; *seq gets its sequence number. Blocks up to timeout_ms
 * while the spool is full; KERR_AGAIN if still full. */
kerr_code spool_append(spool *s, const void *data, size_t len, uint64_t *seq, int timeout_ms,
                       kerr *err);
/* Appends a bulk record without waiting: KERR_AGAIN when the spool (or the
 * disk) has no room now, or when the bulk records on disk, this one included
 * (with its 28-byte header), would be over bulk_max bytes. */
kerr_code spool_append_bulk(spool *s, const void *data, size_t len, int64_t bulk_max, uint64_t *seq,
                            kerr *err);
/* spool_append_bulk whose bytes are mostly in a file (file: on the spool's
 * file system, e.g. in a folder under dir): moved into the spool as the
 * record's file (spool_file_path) when the record is written; left where it
 * was on any error. The bulk share and the cap count the file's size too. */
kerr_code spool_append_file(spool *s, const void *data, size_t len, const char *file,
                            int64_t bulk_max, uint64_t *seq, kerr *err);
/* The file of record seq (spool_append_file): valid while the record is
 * not acknowledged by every consumer. */
void spool_file_path(const spool *s, uint64_t seq, char *out, size_t cap);
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
/* Seconds appenders waited for room (cap or disk) since the last call. */
double spool_take_full_wait(spool *s);
/* Locks dir for this process (folder_lock.c): the descriptor to keep open, or
 * -1 with KERR_BUSY naming the holder's pid when another process has it. */
int spool_lock_folder(const char *dir, kerr *err);

#endif
