#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

enum {
    REC_MAGIC = 0x5253564b /* "KVSR" */,
    HDR = 28,
    MAX_RECORD = SPOOL_MAX_RECORD,
    ROTATE_DELIVERED_BYTES = 1 << 20,
};

typedef struct {
    uint64_t first_seq, last_seq;
    int64_t bytes;
    int64_t bulk_bytes; /* of its bulk records (spool_append_bulk), their files included */
    int64_t file_bytes; /* of its records' files (spool_append_file): not in the segment */
    int rfd;            /* kept open for reading: records stay readable if the folder is deleted */
    /* Not read whole at open (cannot be opened or mapped, out of memory while
     * indexing): its records past last_seq are unknown, so it is never
     * deleted or cut, its files [first_seq, owns_to] are kept, and no
     * watermark passes last_seq, until a later start reads it. */
    bool unread;
    uint64_t owns_to;
    bool damaged; /* bad bytes found in it at open: its records' orphan files go aside */
    char path[4096];
} segment;

typedef struct {
    uint64_t seq;
    int seg_id; /* index into segs (stable: segments are only removed from the front) */
    int64_t off;
    uint32_t len;
    int64_t appended_ms;
    uint16_t acked;  /* bit per consumer */
    uint16_t handed; /* bit per consumer: given out by spool_next since the last rewind */
} record;

struct spool {
    spool_opts o;
    char *dir;
    char *names[SPOOL_MAX_CONSUMERS];
    pthread_mutex_t mu;
    pthread_cond_t data, space;
    segment *segs;
    int nsegs, seg_base; /* segs[0] has id seg_base */
    int active_fd;
    record *recs;
    size_t head, n, cap; /* live records are recs[head .. head+n) */
    uint64_t next_seq;
    uint64_t watermark[SPOOL_MAX_CONSUMERS];
    int64_t bytes;
    int64_t bulk_bytes; /* on disk in bulk records: their budget */
    int64_t last_sync_ms, last_ack_write_ms;
    uint64_t corrupt_bytes, corrupt_records;
    uint64_t full_wait_ns; /* appenders' waiting for room, not yet taken */
    int lock_fd;           /* flock on {dir}/lock (folder_lock.c) */
    bool closing;
    /* Kept as records come and go, so stats cost nothing per event and a
     * large backlog replays at the normal rate. */
    uint64_t pending[SPOOL_MAX_CONSUMERS]; /* records consumer c has not acknowledged */
    uint64_t unacked;                      /* records some consumer has not acknowledged */
    size_t cursor[SPOOL_MAX_CONSUMERS];    /* index below which c has nothing to take */
};

/* The format is little-endian on every host (spool.h). */
static void put32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}
static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint32_t record_crc(const unsigned char *hdr, const void *payload, size_t len)
{
    uLong c = crc32(0L, hdr + 8, 16); /* seq and time */
    return (uint32_t)crc32(c, payload, (uInt)len);
}

static segment *seg_by_id(spool *s, int id)
{
    return &s->segs[id - s->seg_base];
}

/* ---- acknowledgement files ---- */

static void ack_path(spool *s, int c, char *out, size_t len)
{
    snprintf(out, len, "%s/ack-%s", s->dir, s->names[c]);
}

static void write_acks(spool *s)
{
    for (int c = 0; c < s->o.nconsumers; c++) {
        char path[4200], tmp[4300];
        ack_path(s, c, path, sizeof path);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen(tmp, "w");
        if (!f) continue;
        fprintf(f, "%" PRIu64 "\n", s->watermark[c]);
        bool ok = fflush(f) == 0 && (s->o.fsync == SPOOL_FSYNC_NEVER || fsync(fileno(f)) == 0);
        ok = fclose(f) == 0 && ok;
        if (ok) rename(tmp, path);
    }
    s->last_ack_write_ms = clock_wall_ms();
}

static void read_acks(spool *s)
{
    for (int c = 0; c < s->o.nconsumers; c++) {
        char path[4200];
        ack_path(s, c, path, sizeof path);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        unsigned long long w = 0;
        if (fscanf(f, "%llu", &w) == 1) s->watermark[c] = w;
        fclose(f);
    }
}

/* ---- segments ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static uint16_t all_bits(const spool *s)
{
    return (uint16_t)((1u << s->o.nconsumers) - 1);
}

static void count_new(spool *s, const record *r)
{
    for (int c = 0; c < s->o.nconsumers; c++)
        s->pending[c] += !(r->acked & (1u << c));
    s->unacked += (r->acked & all_bits(s)) != all_bits(s);
}

static bool push_record(spool *s, record r)
{
    if (s->head + s->n == s->cap) {
        if (s->head > 0) { /* reuse the space reclaimed at the front */
            memmove(s->recs, s->recs + s->head, s->n * sizeof *s->recs);
            for (int c = 0; c < s->o.nconsumers; c++)
                s->cursor[c] = s->cursor[c] > s->head ? s->cursor[c] - s->head : 0;
            s->head = 0;
        } else {
            size_t cap = s->cap ? s->cap * 2 : 1024;
            record *nr = realloc(s->recs, cap * sizeof *nr);
            if (!nr) return false;
            s->recs = nr;
            s->cap = cap;
        }
    }
    s->recs[s->head + s->n++] = r;
    count_new(s, &r);
    return true;
}

/* Index of the first live record with seq >= want (records are in seq order). */
static size_t find_seq(const spool *s, uint64_t want)
{
    size_t lo = s->head, hi = s->head + s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->recs[mid].seq < want)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool add_segment(spool *s, uint64_t first_seq, const char *path)
{
    segment *ns = realloc(s->segs, (size_t)(s->nsegs + 1) * sizeof *ns);
    if (!ns) return false;
    s->segs = ns;
    segment *g = &s->segs[s->nsegs++];
    memset(g, 0, sizeof *g);
    g->rfd = open(path, O_RDONLY | O_CLOEXEC);
    g->first_seq = first_seq;
    g->last_seq = first_seq ? first_seq - 1 : 0;
    snprintf(g->path, sizeof g->path, "%s", path);
    return true;
}

/* Whether a valid record starts at off: magic, a length that fits, the
 * checksum, and (when resynchronising) a sequence above the last one. */
static bool frame_ok(const unsigned char *p, int64_t size, int64_t off, uint64_t above)
{
    if (off + HDR > size || get32(p + off) != REC_MAGIC) return false;
    uint32_t len = get32(p + off + 4);
    if (len > MAX_RECORD || off + HDR + (int64_t)len > size) return false;
    if (above && get64(p + off + 8) <= above) return false;
    return record_crc(p + off, p + off + HDR, len) == get32(p + off + 24);
}

/* The next offset after a bad record where a valid one starts, or size. */
static int64_t resync(const unsigned char *p, int64_t size, int64_t from, uint64_t above)
{
    static const unsigned char magic[4] = {'K', 'V', 'S', 'R'}; /* REC_MAGIC, little-endian */
    for (int64_t off = from; off + HDR <= size; off++) {
        const unsigned char *m = memmem(p + off, (size_t)(size - off), magic, 4);
        if (!m) break;
        off = m - p;
        if (frame_ok(p, size, off, above)) return off;
    }
    return size;
}

/* Copies bad bytes to {dir}/corrupt/seg-<first>-at-<offset>.bad for an
 * operator; false when that copy exists already (found at an earlier start). */
static bool copy_aside(spool *s, const segment *g, const unsigned char *p, int64_t off, int64_t len,
                       char *where, size_t wlen)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/corrupt", s->dir);
    snprintf(where, wlen, "%s/seg-%020llu-at-%lld.bad", dir, (unsigned long long)g->first_seq,
             (long long)off);
    kerr err = {0};
    if (mkdir_p(dir, &err) != KERR_OK) {
        snprintf(where, wlen, "no copy: %s", err.msg);
        return true;
    }
    int fd = open(where, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno == EEXIST) return false;
    int e = fd < 0 ? errno : 0;
    if (fd >= 0) {
        ssize_t w = write(fd, p + off, (size_t)len);
        if (w != (ssize_t)len) e = w < 0 ? errno : ENOSPC;
        close(fd);
        if (e) unlink(where); /* no partial copy: the next start tries again */
    }
    if (e) snprintf(where + strlen(where), wlen - strlen(where), " (not written: %s)", strerror(e));
    return true;
}

/* Bad bytes [off, end): counted and logged once; a tail (nothing valid after
 * it: a torn last write) is cut, a bad record in the middle only skipped. */
static void report_bad(spool *s, const segment *g, const unsigned char *p, int64_t off, int64_t end,
                       bool tail)
{
    char where[4600];
    if (!copy_aside(s, g, p, off, end - off, where, sizeof where)) return;
    s->corrupt_bytes += (uint64_t)(end - off);
    s->corrupt_records++;
    if (tail)
        log_kv(LOG_WARN, LOG_CTX("component", "spool"),
               "%s: %lld byte(s) of torn or corrupt records after offset %lld cut off (copy: "
               "%s); the records before them are kept",
               g->path, (long long)(end - off), (long long)off, where);
    else
        log_kv(LOG_ERROR, LOG_CTX("component", "spool"),
               "%s: %lld corrupt byte(s) at offset %lld skipped (copy: %s); the records after "
               "them are kept",
               g->path, (long long)(end - off), (long long)off, where);
}

/* Indexes one segment's records. A bad record in the middle is skipped up to
 * the next valid frame; only a bad tail is cut off. */
static void index_records(spool *s, int id, const unsigned char *p, int64_t size, int64_t *end)
{
    segment *g = seg_by_id(s, id);
    int64_t off = 0;
    uint64_t last = 0;
    while (off < size) {
        if (!frame_ok(p, size, off, 0)) {
            int64_t next = resync(p, size, off + 1, last);
            g->damaged = true;
            report_bad(s, g, p, off, next, next == size);
            if (next == size) break;
            off = next;
        }
        uint32_t len = get32(p + off + 4);
        uint64_t seq = get64(p + off + 8);
        record r = {seq, id, off, len, (int64_t)get64(p + off + 16), 0, 0};
        for (int c = 0; c < s->o.nconsumers; c++)
            if (seq <= s->watermark[c]) r.acked |= (uint16_t)(1u << c);
        if (!push_record(s, r)) { /* out of memory: nothing is cut for it */
            log_kv(LOG_ERROR, LOG_CTX("component", "spool"),
                   "%s: out of memory indexing offset %lld: the rest is not replayed", g->path,
                   (long long)off);
            g->unread = true;
            *end = size;
            return;
        }
        if (seq >= s->next_seq) s->next_seq = seq + 1;
        if (s->o.is_bulk && s->o.is_bulk(p + off + HDR, len)) g->bulk_bytes += HDR + len;
        g->last_seq = last = seq;
        off += HDR + len;
    }
    *end = off;
}

/* A segment that cannot be opened (or is not a file) counts at its size. */
static void scan_unopened(spool *s, segment *g)
{
    int e = errno;
    struct stat st;
    g->bytes = stat(g->path, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
    s->bytes += g->bytes;
    g->unread = true;
    log_kv(LOG_ERROR, LOG_CTX("component", "spool"), "%s: cannot open: %s", g->path, strerror(e));
}

static void scan_segment(spool *s, int id)
{
    segment *g = seg_by_id(s, id);
    int fd = open(g->path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        scan_unopened(s, g);
        return;
    }
    struct stat st;
    int64_t size = fstat(fd, &st) == 0 ? st.st_size : 0, end = 0;
    void *map = size > 0 ? mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    if (map != MAP_FAILED) {
        index_records(s, id, map, size, &end);
        munmap(map, (size_t)size);
    } else if (size > 0) {
        log_kv(LOG_ERROR, LOG_CTX("component", "spool"), "%s: cannot map: %s", g->path,
               strerror(errno));
        g->unread = true;
        end = size;
    }
    if (end < size && ftruncate(fd, end) != 0)
        log_kv(LOG_ERROR, LOG_CTX("component", "spool"), "%s: cannot cut: %s", g->path,
               strerror(errno));
    g->bytes = end;
    s->bytes += end;
    s->bulk_bytes += g->bulk_bytes;
    close(fd);
}

/* The seqs an unread segment may hold: up to the next segment's first, or,
 * for the last, one record per header's worth of bytes (a record is at least
 * HDR bytes; an unknown size counts as a full segment of the largest
 * records). New records are numbered above them, so no seq or file name is
 * ever given twice. */
static void bound_unread(spool *s, int i)
{
    segment *g = &s->segs[i];
    int64_t size = g->bytes > 0 ? g->bytes : s->o.segment_bytes + HDR + MAX_RECORD;
    g->owns_to = g->first_seq + (uint64_t)(size / HDR);
    if (i + 1 < s->nsegs && s->segs[i + 1].first_seq - 1 < g->owns_to)
        g->owns_to = s->segs[i + 1].first_seq - 1;
    if (g->owns_to < g->last_seq) g->owns_to = g->last_seq;
    if (s->next_seq <= g->owns_to) s->next_seq = g->owns_to + 1;
    log_kv(LOG_ERROR, LOG_CTX("component", "spool"),
           "%s: not read whole: records above seq %llu are not replayed this run; the segment "
           "and the files of seqs up to %llu are kept for a start that can read it",
           g->path, (unsigned long long)g->last_seq, (unsigned long long)g->owns_to);
}

static kerr_code load_segments(spool *s, kerr *err)
{
    DIR *d = opendir(s->dir);
    if (!d) return kerr_set(err, KERR_IO, "spool %s: %s", s->dir, strerror(errno));
    uint64_t *ids = NULL;
    size_t n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        unsigned long long first;
        char tail[8];
        if (sscanf(de->d_name, "seg-%20llu.%4s", &first, tail) == 2 && strcmp(tail, "log") == 0) {
            uint64_t *ni = realloc(ids, (n + 1) * sizeof *ids);
            if (!ni) break;
            ids = ni;
            ids[n++] = first;
        }
    }
    closedir(d);
    if (n) qsort(ids, n, sizeof *ids, cmp_u64);
    for (size_t i = 0; i < n; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/seg-%020llu.log", s->dir, (unsigned long long)ids[i]);
        if (!add_segment(s, ids[i], path)) break;
        scan_segment(s, s->seg_base + s->nsegs - 1);
    }
    free(ids);
    for (int i = 0; i < s->nsegs; i++)
        if (s->segs[i].unread) bound_unread(s, i);
    return KERR_OK;
}

static kerr_code new_segment(spool *s, kerr *err)
{
    if (mkdir_p(s->dir, err) != KERR_OK) return KERR_IO; /* the folder may have been deleted */
    if (s->active_fd >= 0) {
        if (s->o.fsync != SPOOL_FSYNC_NEVER) fsync(s->active_fd);
        close(s->active_fd);
    }
    char path[4200];
    snprintf(path, sizeof path, "%s/seg-%020llu.log", s->dir, (unsigned long long)s->next_seq);
    s->active_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (s->active_fd < 0) return kerr_set(err, KERR_IO, "%s: %s", path, strerror(errno));
    /* A previous run may have left an empty segment with this name. */
    if (s->nsegs && s->segs[s->nsegs - 1].first_seq == s->next_seq &&
        strcmp(s->segs[s->nsegs - 1].path, path) == 0)
        return KERR_OK;
    if (!add_segment(s, s->next_seq, path)) return kerr_set(err, KERR_NOMEM, "out of memory");
    if (s->o.fsync != SPOOL_FSYNC_NEVER) { /* make the new name durable */
        int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) fsync(dfd), close(dfd);
    }
    return KERR_OK;
}

/* A record's file: {dir}/files/<seq, 20 digits>.bin. */
static void file_path(const spool *s, uint64_t seq, char *out, size_t cap)
{
    snprintf(out, cap, "%s/files/%020llu.bin", s->dir, (unsigned long long)seq);
}

/* The files of the records in [from, to] (a segment being deleted). The
 * folder holds the clips in flight only, so a scan is cheap. */
static void remove_files(spool *s, uint64_t from, uint64_t to)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/files", s->dir);
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *de; (de = readdir(d));) {
        unsigned long long seq;
        char tail[8], path[4400];
        if (sscanf(de->d_name, "%20llu.%4s", &seq, tail) != 2 || strcmp(tail, "bin") != 0 ||
            seq < from || seq > to)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        unlink(path);
    }
    closedir(d);
}

/* The unread segment whose records may include seq, or NULL. */
static segment *unread_owner(spool *s, uint64_t seq)
{
    for (int i = 0; i < s->nsegs; i++)
        if (s->segs[i].unread && seq >= s->segs[i].first_seq && seq <= s->segs[i].owns_to)
            return &s->segs[i];
    return NULL;
}

/* An orphan file whose record may have been among a segment's bad bytes
 * (copied to corrupt/ for an operator) goes there too, as
 * seg-<first>-file-<seq>.bin: the clip of a record lost to a flipped bit is
 * not destroyed with it. False when it is not such a file or cannot move. */
static bool put_aside(spool *s, uint64_t seq, const char *path)
{
    int i = 0;
    while (i < s->nsegs && !(s->segs[i].damaged && seq >= s->segs[i].first_seq &&
                             (i + 1 == s->nsegs || seq < s->segs[i + 1].first_seq)))
        i++;
    char dir[4200], to[4400];
    snprintf(dir, sizeof dir, "%s/corrupt", s->dir);
    kerr err = {0};
    if (i == s->nsegs || mkdir_p(dir, &err) != KERR_OK) return false;
    /* A cut tail's seq is given again, and may be cut again: an earlier
     * copy is never replaced (link fails on an existing name). */
    for (int n = 1; n < 100; n++) {
        int w = snprintf(to, sizeof to, "%s/seg-%020llu-file-%020llu", dir,
                         (unsigned long long)s->segs[i].first_seq, (unsigned long long)seq);
        snprintf(to + w, sizeof to - (size_t)w, n > 1 ? "-%d.bin" : ".bin", n);
        if (link(path, to) == 0) {
            (void)unlink(path);
            return true;
        }
        if (errno != EEXIST) return false;
    }
    return false;
}

/* On open, after the segments are indexed: each record's file counts toward
 * its segment (and the cap); a file without a record (a crash between the
 * file's arrival and its record's write, or a torn record) is removed. A
 * file that a segment not read whole may own is kept. */
static void load_files(spool *s)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/files", s->dir);
    DIR *d = opendir(dir);
    if (!d) return;
    int orphans = 0, aside = 0;
    for (struct dirent *de; (de = readdir(d));) {
        unsigned long long seq;
        char tail[8], path[4400];
        if (de->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        bool named = sscanf(de->d_name, "%20llu.%4s", &seq, tail) == 2 && !strcmp(tail, "bin");
        size_t i = named ? find_seq(s, seq) : 0;
        segment *g = named ? unread_owner(s, seq) : NULL;
        if (!g && named && i < s->head + s->n && s->recs[i].seq == seq)
            g = seg_by_id(s, s->recs[i].seg_id);
        if (!g || stat(path, &st) != 0) {
            if (named && put_aside(s, seq, path))
                aside++;
            else
                orphans += unlink(path) == 0;
            continue;
        }
        g->file_bytes += st.st_size, g->bulk_bytes += st.st_size;
        s->bytes += st.st_size, s->bulk_bytes += st.st_size;
    }
    closedir(d);
    if (orphans)
        log_kv(LOG_WARN, LOG_CTX("component", "spool"),
               "%s: removed %d file(s) without a record (a crash before the record was written)",
               dir, orphans);
    if (aside)
        log_kv(LOG_ERROR, LOG_CTX("component", "spool"),
               "%s: %d file(s) of records lost to corrupt bytes moved to %s/corrupt", dir, aside,
               s->dir);
}

static void drop_first_segment(spool *s)
{
    const segment *g = &s->segs[0];
    unlink(g->path);
    if (g->file_bytes) remove_files(s, g->first_seq, g->unread ? g->owns_to : g->last_seq);
    if (s->segs[0].rfd >= 0) close(s->segs[0].rfd);
    s->bytes -= s->segs[0].bytes + s->segs[0].file_bytes;
    s->bulk_bytes -= s->segs[0].bulk_bytes;
    memmove(s->segs, s->segs + 1, (size_t)(s->nsegs - 1) * sizeof *s->segs);
    s->nsegs--;
    s->seg_base++;
}

/* Whether a segment may go: every record in it acknowledged by every
 * consumer (min: the lowest watermark), or none in it (all cut as corrupt,
 * or none written). An unread segment goes only once every seq it may hold
 * was acknowledged (by an earlier run: a kill before it was deleted), or it
 * and every segment after it would stay until the spool is full. */
static bool segment_done(const segment *g, uint64_t min)
{
    if (g->unread) return g->owns_to <= min;
    return g->last_seq < g->first_seq || g->last_seq <= min;
}

/* Drops records every consumer acknowledged and deletes their segments. */
static void reclaim(spool *s)
{
    uint64_t min = UINT64_MAX;
    for (int c = 0; c < s->o.nconsumers; c++)
        if (s->watermark[c] < min) min = s->watermark[c];
    while (s->n > 0 && s->recs[s->head].seq <= min)
        s->head++, s->n--;
    while (s->nsegs > 1 && segment_done(&s->segs[0], min))
        drop_first_segment(s);
    pthread_cond_broadcast(&s->space);
}

/* A delivered segment is deleted only once a newer one exists, so when
 * everything is delivered a large active segment is rotated: a small disk
 * does not stay full of delivered events until the 16 MiB rotation. */
static void rotate_if_delivered(spool *s, int64_t min_bytes)
{
    if (s->n == 0 && s->nsegs && s->segs[s->nsegs - 1].bytes >= min_bytes &&
        new_segment(s, NULL) == KERR_OK)
        reclaim(s);
}

/* The active segment was deleted with its folder (rm -rf): the records in it
 * stay readable through the segments' read descriptors; new ones go to a new
 * segment in the recreated folder. */
static kerr_code check_active(spool *s, kerr *err)
{
    struct stat st;
    if (fstat(s->active_fd, &st) == 0 && st.st_nlink > 0) return KERR_OK;
    log_kv(LOG_WARN, LOG_CTX("component", "spool"),
           "%s: the active segment was deleted: starting a new one", s->dir);
    kerr_code rc = new_segment(s, err);
    /* The lock file went with the folder: lock the new one, or a second
     * process could take the folder while this one writes to it. */
    int fd = rc == KERR_OK ? spool_lock_folder(s->dir, err) : -1;
    if (rc == KERR_OK && fd < 0) return KERR_IO;
    if (fd >= 0) close(s->lock_fd), s->lock_fd = fd;
    return rc;
}

spool *spool_open(const spool_opts *o, kerr *err)
{
    if (o->nconsumers < 1 || o->nconsumers > SPOOL_MAX_CONSUMERS) {
        kerr_set(err, KERR_INVALID, "spool needs 1 to %d consumers", SPOOL_MAX_CONSUMERS);
        return NULL;
    }
    if (mkdir_p(o->dir, err) != KERR_OK) return NULL;
    spool *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->o = *o;
    if (s->o.segment_bytes <= 0) s->o.segment_bytes = 16 << 20;
    if (s->o.max_bytes <= 0) s->o.max_bytes = INT64_MAX;
    s->dir = kstrdup(o->dir);
    for (int c = 0; c < o->nconsumers; c++)
        s->names[c] = kstrdup(o->consumers[c]);
    s->active_fd = -1;
    s->next_seq = 1;
    s->lock_fd = spool_lock_folder(s->dir, err);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->data, NULL);
    pthread_cond_init(&s->space, NULL);
    if (s->lock_fd < 0) { /* another process owns the folder: touch nothing */
        spool_close(s);
        return NULL;
    }
    read_acks(s);
    for (int c = 0; c < o->nconsumers; c++)
        if (s->watermark[c] >= s->next_seq) s->next_seq = s->watermark[c] + 1;
    if (load_segments(s, err) != KERR_OK) {
        spool_close(s);
        return NULL;
    }
    /* Before the new segment: a damaged last segment owns every orphan
     * above its first seq (its cut tail's seq is the new segment's first) */
    load_files(s);
    if (new_segment(s, err) != KERR_OK) {
        spool_close(s);
        return NULL;
    }
    reclaim(s);
    return s;
}

void spool_close(spool *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->closing = true;
    pthread_cond_broadcast(&s->data);
    pthread_cond_broadcast(&s->space);
    if (s->lock_fd >= 0) write_acks(s); /* never another process's */
    pthread_mutex_unlock(&s->mu);
    if (s->active_fd >= 0) {
        if (s->o.fsync != SPOOL_FSYNC_NEVER) fsync(s->active_fd);
        close(s->active_fd);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->data);
    pthread_cond_destroy(&s->space);
    for (int c = 0; c < SPOOL_MAX_CONSUMERS; c++)
        free(s->names[c]);
    for (int i = 0; i < s->nsegs; i++)
        if (s->segs[i].rfd >= 0) close(s->segs[i].rfd);
    free(s->segs);
    free(s->recs);
    free(s->dir);
    if (s->lock_fd >= 0) close(s->lock_fd); /* last: the folder is free again */
    free(s);
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

/* Waits on the space condition until reclaim signals or *dl passes (at most
 * slice_ms when > 0: a full disk may be freed by someone else); the time
 * waited is counted. ETIMEDOUT once *dl has passed. */
static int wait_space(spool *s, const struct timespec *dl, int slice_ms)
{
    struct timespec until = *dl, now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec > dl->tv_sec || (now.tv_sec == dl->tv_sec && now.tv_nsec >= dl->tv_nsec))
        return ETIMEDOUT;
    if (slice_ms > 0) {
        struct timespec sl;
        deadline_in(&sl, slice_ms);
        if (sl.tv_sec < until.tv_sec || (sl.tv_sec == until.tv_sec && sl.tv_nsec < until.tv_nsec))
            until = sl;
    }
    int64_t t0 = clock_mono_ns();
    int rc = pthread_cond_timedwait(&s->space, &s->mu, &until);
    s->full_wait_ns += (uint64_t)(clock_mono_ns() - t0);
    return rc == ETIMEDOUT && slice_ms > 0 ? 0 : rc;
}

/* Header and payload in one writev: one system call, no copy of the payload.
 * A short write is cut back so no torn record stays; 0 or errno. */
static int write_record(spool *s, segment *g, const void *data, size_t len, uint64_t q, int64_t now)
{
    unsigned char hdr[HDR];
    put32(hdr, REC_MAGIC);
    put32(hdr + 4, (uint32_t)len);
    put64(hdr + 8, q);
    put64(hdr + 16, (uint64_t)now);
    put32(hdr + 24, record_crc(hdr, data, len));
    struct iovec iov[2] = {{hdr, HDR}, {(void *)data, len}};
    ssize_t w = writev(s->active_fd, iov, 2);
    if (w == (ssize_t)(HDR + len)) return 0;
    int e = w < 0 ? errno : ENOSPC;
    if (w > 0 && ftruncate(s->active_fd, g->bytes) != 0) e = errno;
    return e;
}

/* Room under max_bytes for the record (need) and its file (extra), and a
 * segment to write to; KERR_AGAIN past dl. */
static kerr_code make_room(spool *s, int64_t need, int64_t extra, const struct timespec *dl,
                           kerr *err)
{
    if (check_active(s, err) != KERR_OK) return KERR_IO;
    if (s->bytes + need + extra > s->o.max_bytes) rotate_if_delivered(s, ROTATE_DELIVERED_BYTES);
    while (s->bytes + need + extra > s->o.max_bytes && !s->closing)
        if (wait_space(s, dl, 0) == ETIMEDOUT)
            return kerr_set(err, KERR_AGAIN, "spool full (%lld of %lld bytes)", (long long)s->bytes,
                            (long long)s->o.max_bytes);
    segment *g = &s->segs[s->nsegs - 1];
    if (g->bytes > 0 && g->bytes + need > s->o.segment_bytes) return new_segment(s, err);
    return KERR_OK;
}

/* The file of the record about to be written as seq q moves into the spool
 * before the record (a crash in between leaves a file without a record,
 * which the next open removes: load_files). */
static kerr_code take_file(spool *s, const char *file, uint64_t q, char *dst, size_t cap, kerr *err)
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/files", s->dir);
    if (mkdir_p(dir, err) != KERR_OK) return KERR_IO;
    file_path(s, q, dst, cap);
    if (rename(file, dst) != 0)
        return kerr_set(err, KERR_IO, "%s -> %s: %s", file, dst, strerror(errno));
    if (s->o.fsync == SPOOL_FSYNC_ALWAYS) { /* the name, before the record naming it is synced */
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) fsync(fd), close(fd);
    }
    return KERR_OK;
}

/* bulk_max < 0: an ordinary record; else a bulk one, refused (KERR_AGAIN)
 * when the bulk records on disk would pass bulk_max. file (bulk only): moved
 * into the spool as the record's file, of fbytes bytes; left where it was
 * when the record is not written. */
static kerr_code append(spool *s, const void *data, size_t len, uint64_t *seq, int timeout_ms,
                        int64_t bulk_max, const char *file, int64_t fbytes, kerr *err)
{
    /* UNSUPPORTED, like a record over max_bytes: waiting never helps, and the
     * hub then drops the clip or the images instead of retrying for ever */
    if (len > MAX_RECORD)
        return kerr_set(err, KERR_UNSUPPORTED,
                        "a spool record of %zu bytes is over the %d-byte limit", len, MAX_RECORD);
    int64_t need = HDR + (int64_t)len;
    if (need + fbytes > s->o.max_bytes) /* waiting could never make room */
        return kerr_set(err, KERR_UNSUPPORTED,
                        "a record of %zu bytes can never fit in spool.max_bytes (%lld)", len,
                        (long long)s->o.max_bytes);
    struct timespec dl;
    deadline_in(&dl, timeout_ms);
    pthread_mutex_lock(&s->mu);
    if (bulk_max >= 0 && s->bulk_bytes + need + fbytes > bulk_max) {
        kerr_set(err, KERR_AGAIN, "its share of the spool is full (%lld of %lld bytes)",
                 (long long)s->bulk_bytes, (long long)bulk_max);
        pthread_mutex_unlock(&s->mu);
        return KERR_AGAIN;
    }
    int64_t now;
    char moved[4400] = "";
    for (;;) {
        kerr_code rc = make_room(s, need, fbytes, &dl, err);
        if (rc == KERR_OK && file && !moved[0])
            rc = take_file(s, file, s->next_seq, moved, sizeof moved, err);
        if (rc != KERR_OK) {
            if (moved[0] && rename(moved, file) != 0) unlink(moved);
            pthread_mutex_unlock(&s->mu);
            return rc;
        }
        now = clock_wall_ms();
        int e = write_record(s, &s->segs[s->nsegs - 1], data, len, s->next_seq, now);
        if (e == 0) break;
        /* A full disk is back-pressure like a full spool: wait for reclaim
         * (or anyone) to free room, retrying every 100 ms. */
        if ((e != ENOSPC && e != EDQUOT) || s->closing || wait_space(s, &dl, 100) == ETIMEDOUT) {
            if (moved[0] && rename(moved, file) != 0) unlink(moved);
            pthread_mutex_unlock(&s->mu);
            return kerr_set(err, e == ENOSPC || e == EDQUOT ? KERR_AGAIN : KERR_IO,
                            "spool write: %s", strerror(e));
        }
        rotate_if_delivered(s, 1); /* a full disk: even a small delivered segment */
    }
    if (s->o.fsync == SPOOL_FSYNC_ALWAYS ||
        (s->o.fsync == SPOOL_FSYNC_BATCH && now - s->last_sync_ms >= 100)) {
        fdatasync(s->active_fd);
        s->last_sync_ms = now;
    }
    segment *g = &s->segs[s->nsegs - 1];
    uint64_t q = s->next_seq;
    record r = {q, s->seg_base + s->nsegs - 1, g->bytes, (uint32_t)len, now, 0, 0};
    if (!push_record(s, r)) {
        pthread_mutex_unlock(&s->mu);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    g->bytes += need;
    g->last_seq = q;
    g->file_bytes += fbytes;
    s->bytes += need + fbytes;
    if (bulk_max >= 0) g->bulk_bytes += need + fbytes, s->bulk_bytes += need + fbytes;
    s->next_seq++;
    *seq = q;
    pthread_cond_broadcast(&s->data);
    pthread_mutex_unlock(&s->mu);
    return KERR_OK;
}

kerr_code spool_append(spool *s, const void *data, size_t len, uint64_t *seq, int timeout_ms,
                       kerr *err)
{
    return append(s, data, len, seq, timeout_ms, -1, NULL, 0, err);
}

kerr_code spool_append_bulk(spool *s, const void *data, size_t len, int64_t bulk_max, uint64_t *seq,
                            kerr *err)
{
    return append(s, data, len, seq, 0, bulk_max < 0 ? 0 : bulk_max, NULL, 0, err);
}

kerr_code spool_append_file(spool *s, const void *data, size_t len, const char *file,
                            int64_t bulk_max, uint64_t *seq, kerr *err)
{
    struct stat st;
    if (stat(file, &st) != 0) return kerr_set(err, KERR_IO, "%s: %s", file, strerror(errno));
    /* The file's bytes are not in the record the policy syncs: synced here,
     * outside the lock, or a power loss could leave a synced record naming
     * an empty file (which S3 would upload as the clip). */
    int fd = s->o.fsync == SPOOL_FSYNC_NEVER ? -1 : open(file, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) fdatasync(fd), close(fd);
    return append(s, data, len, seq, 0, bulk_max < 0 ? 0 : bulk_max, file, st.st_size, err);
}

void spool_file_path(const spool *s, uint64_t seq, char *out, size_t cap)
{
    file_path(s, seq, out, cap);
}

static record *next_for(spool *s, int c)
{
    uint16_t bit = (uint16_t)(1u << c);
    size_t i = s->cursor[c] > s->head ? s->cursor[c] : s->head;
    for (; i < s->head + s->n; i++) {
        record *r = &s->recs[i];
        if (!(r->acked & bit) && !(r->handed & bit)) break;
    }
    s->cursor[c] = i; /* everything before i is taken or done for c */
    return i < s->head + s->n ? &s->recs[i] : NULL;
}

kerr_code spool_next(spool *s, int consumer, uint64_t *seq, void **data, size_t *len,
                     int timeout_ms, kerr *err)
{
    struct timespec dl;
    deadline_in(&dl, timeout_ms);
    pthread_mutex_lock(&s->mu);
    record *r;
    while (!(r = next_for(s, consumer)) && !s->closing)
        if (pthread_cond_timedwait(&s->data, &s->mu, &dl) == ETIMEDOUT) break;
    if (!r) {
        pthread_mutex_unlock(&s->mu);
        return KERR_AGAIN;
    }
    segment *g = seg_by_id(s, r->seg_id);
    void *buf = malloc(r->len ? r->len : 1);
    if (g->rfd < 0) g->rfd = open(g->path, O_RDONLY | O_CLOEXEC);
    errno = 0;
    ssize_t got = buf && g->rfd >= 0 ? pread(g->rfd, buf, r->len, r->off + HDR) : -1;
    if (got != (ssize_t)r->len) {
        int e = errno;
        free(buf);
        pthread_mutex_unlock(&s->mu);
        return kerr_set(err, KERR_IO, "spool read %s: %s", g->path,
                        !buf ? "out of memory"
                        : e  ? strerror(e)
                             : "the segment is shorter than its index (truncated?)");
    }
    r->handed |= (uint16_t)(1u << consumer);
    *seq = r->seq;
    *data = buf;
    *len = r->len;
    pthread_mutex_unlock(&s->mu);
    return KERR_OK;
}

/* How far the consumer's watermark may go: not past the records of a
 * segment not read whole (unknown, so not acknowledged), unless an earlier
 * run's watermark had passed them already. */
static uint64_t watermark_cap(const spool *s, int consumer)
{
    uint64_t w = s->watermark[consumer];
    for (int i = 0; i < s->nsegs; i++)
        if (s->segs[i].unread && s->segs[i].owns_to > w)
            return s->segs[i].last_seq > w ? s->segs[i].last_seq : w;
    return UINT64_MAX;
}

kerr_code spool_ack(spool *s, int consumer, uint64_t seq, kerr *err)
{
    uint16_t bit = (uint16_t)(1u << consumer);
    pthread_mutex_lock(&s->mu);
    size_t at = find_seq(s, seq);
    record *found = at < s->head + s->n && s->recs[at].seq == seq ? &s->recs[at] : NULL;
    if (!found) {
        pthread_mutex_unlock(&s->mu);
        return kerr_set(err, KERR_INVALID, "spool: no pending record %" PRIu64, seq);
    }
    if (!(found->acked & bit)) {
        found->acked |= bit;
        s->pending[consumer]--;
        if ((found->acked & all_bits(s)) == all_bits(s)) s->unacked--;
    }
    uint64_t w = s->watermark[consumer], cap = watermark_cap(s, consumer);
    for (size_t i = find_seq(s, w + 1); i < s->head + s->n; i++) {
        if (!(s->recs[i].acked & bit) || s->recs[i].seq > cap) break;
        w = s->recs[i].seq;
    }
    if (w != s->watermark[consumer]) {
        s->watermark[consumer] = w;
        if (clock_wall_ms() - s->last_ack_write_ms >= 100) write_acks(s);
        reclaim(s);
        rotate_if_delivered(s, ROTATE_DELIVERED_BYTES);
    }
    pthread_mutex_unlock(&s->mu);
    return KERR_OK;
}

void spool_rewind(spool *s, int consumer)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++)
        s->recs[s->head + i].handed &= (uint16_t) ~(1u << consumer);
    s->cursor[consumer] = s->head;
    pthread_cond_broadcast(&s->data);
    pthread_mutex_unlock(&s->mu);
}

void spool_get_stats(spool *s, spool_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    uint16_t all = all_bits(s);
    out->records = s->unacked;
    /* After reclaim the head is the oldest record still pending somewhere. */
    for (size_t i = s->head; i < s->head + s->n && !out->oldest_unacked_ms; i++)
        if ((s->recs[i].acked & all) != all) out->oldest_unacked_ms = s->recs[i].appended_ms;
    for (int c = 0; c < s->o.nconsumers; c++)
        out->pending[c] = s->pending[c];
    out->bytes = s->bytes;
    out->bulk_bytes = s->bulk_bytes;
    out->corrupt_bytes = s->corrupt_bytes;
    out->corrupt_records = s->corrupt_records;
    pthread_mutex_unlock(&s->mu);
}

double spool_take_full_wait(spool *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t ns = s->full_wait_ns;
    s->full_wait_ns = 0;
    pthread_mutex_unlock(&s->mu);
    return (double)ns / 1e9;
}

bool spool_is_acked(spool *s, int consumer, uint64_t seq)
{
    pthread_mutex_lock(&s->mu);
    bool done = seq <= s->watermark[consumer];
    size_t at = done ? 0 : find_seq(s, seq);
    if (!done && at < s->head + s->n && s->recs[at].seq == seq)
        done = s->recs[at].acked & (1u << consumer);
    pthread_mutex_unlock(&s->mu);
    return done;
}
