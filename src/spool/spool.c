#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

enum {
    REC_MAGIC = 0x5253564b /* "KVSR" */,
    HDR = 28,
    MAX_RECORD = 64 << 20,
    ROTATE_DELIVERED_BYTES = 1 << 20,
};

typedef struct {
    uint64_t first_seq, last_seq;
    int64_t bytes;
    int rfd; /* kept open for reading: records stay readable if the folder is deleted */
    char path[4096];
} segment;

typedef struct {
    uint64_t seq;
    int seg_id; /* index into segs (stable: segments are only removed from the front) */
    int64_t off;
    uint32_t len;
    int64_t appended_ms;
    uint8_t acked;  /* bit per consumer */
    uint8_t handed; /* bit per consumer: given out by spool_next since the last rewind */
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
    int64_t last_sync_ms, last_ack_write_ms;
    uint64_t corrupt_bytes;
    bool closing;
    /* Kept as records come and go, so stats cost nothing per event and a
     * large backlog replays at the normal rate. */
    uint64_t pending[SPOOL_MAX_CONSUMERS]; /* records consumer c has not acknowledged */
    uint64_t unacked;                      /* records some consumer has not acknowledged */
    size_t cursor[SPOOL_MAX_CONSUMERS];    /* index below which c has nothing to take */
};

static void put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static void put64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}
static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
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

static uint8_t all_bits(const spool *s)
{
    return (uint8_t)((1u << s->o.nconsumers) - 1);
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

/* Reads one segment's records into the index; cuts it at the first bad one. */
static void scan_segment(spool *s, int id)
{
    segment *g = seg_by_id(s, id);
    int fd = open(g->path, O_RDWR | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    fstat(fd, &st);
    int64_t off = 0;
    unsigned char hdr[HDR];
    void *buf = NULL;
    while (off + HDR <= st.st_size) {
        if (pread(fd, hdr, HDR, off) != HDR) break;
        uint32_t len = get32(hdr + 4);
        if (get32(hdr) != REC_MAGIC || len > MAX_RECORD || off + HDR + len > st.st_size) break;
        void *nb = realloc(buf, len ? len : 1);
        if (!nb) break;
        buf = nb;
        if (pread(fd, buf, len, off + HDR) != (ssize_t)len) break;
        if (record_crc(hdr, buf, len) != get32(hdr + 24)) break;
        uint64_t seq = get64(hdr + 8);
        record r = {seq, id, off, len, (int64_t)get64(hdr + 16), 0, 0};
        for (int c = 0; c < s->o.nconsumers; c++)
            if (seq <= s->watermark[c]) r.acked |= (uint8_t)(1u << c);
        if (!push_record(s, r)) break;
        if (seq >= s->next_seq) s->next_seq = seq + 1;
        g->last_seq = seq;
        off += HDR + len;
    }
    free(buf);
    if (off < st.st_size) {
        s->corrupt_bytes += (uint64_t)(st.st_size - off);
        log_kv(LOG_WARN, LOG_CTX("component", "spool"),
               "%s: %lld byte(s) of torn or corrupt records after offset %lld cut off; the %s "
               "before them are kept",
               g->path, (long long)(st.st_size - off), (long long)off, "records");
        if (ftruncate(fd, off) != 0)
            log_kv(LOG_ERROR, LOG_CTX("component", "spool"), "%s: cannot cut: %s", g->path,
                   strerror(errno));
    }
    g->bytes = off;
    s->bytes += off;
    close(fd);
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

static void drop_first_segment(spool *s)
{
    unlink(s->segs[0].path);
    if (s->segs[0].rfd >= 0) close(s->segs[0].rfd);
    s->bytes -= s->segs[0].bytes;
    memmove(s->segs, s->segs + 1, (size_t)(s->nsegs - 1) * sizeof *s->segs);
    s->nsegs--;
    s->seg_base++;
}

/* Drops records every consumer acknowledged and deletes their segments. */
static void reclaim(spool *s)
{
    uint64_t min = UINT64_MAX;
    for (int c = 0; c < s->o.nconsumers; c++)
        if (s->watermark[c] < min) min = s->watermark[c];
    while (s->n > 0 && s->recs[s->head].seq <= min)
        s->head++, s->n--;
    while (s->nsegs > 1 && s->segs[0].last_seq <= min &&
           s->segs[0].last_seq >= s->segs[0].first_seq)
        drop_first_segment(s);
    /* Empty old segments (all records cut as corrupt, or none written). */
    while (s->nsegs > 1 && s->segs[0].last_seq < s->segs[0].first_seq)
        drop_first_segment(s);
    pthread_cond_broadcast(&s->space);
}

/* A delivered segment is deleted only once a newer one exists, so when
 * everything is delivered a large active segment is rotated: a small disk
 * does not stay full of delivered events until the 16 MiB rotation. */
static void rotate_if_delivered(spool *s)
{
    if (s->n == 0 && s->nsegs && s->segs[s->nsegs - 1].bytes >= ROTATE_DELIVERED_BYTES &&
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
    return new_segment(s, err);
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
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->data, NULL);
    pthread_cond_init(&s->space, NULL);
    read_acks(s);
    for (int c = 0; c < o->nconsumers; c++)
        if (s->watermark[c] >= s->next_seq) s->next_seq = s->watermark[c] + 1;
    if (load_segments(s, err) != KERR_OK || new_segment(s, err) != KERR_OK) {
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
    write_acks(s);
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
    free(s);
}

static void deadline_in(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

kerr_code spool_append(spool *s, const void *data, size_t len, uint64_t *seq, int timeout_ms,
                       kerr *err)
{
    if (len > MAX_RECORD) return kerr_set(err, KERR_INVALID, "spool record of %zu bytes", len);
    int64_t need = HDR + (int64_t)len;
    if (need > s->o.max_bytes) /* waiting could never make room */
        return kerr_set(err, KERR_UNSUPPORTED,
                        "a record of %zu bytes can never fit in spool.max_bytes (%lld)", len,
                        (long long)s->o.max_bytes);
    struct timespec dl;
    deadline_in(&dl, timeout_ms);
    pthread_mutex_lock(&s->mu);
    if (check_active(s, err) != KERR_OK) {
        pthread_mutex_unlock(&s->mu);
        return KERR_IO;
    }
    if (s->bytes + need > s->o.max_bytes) rotate_if_delivered(s);
    while (s->bytes + need > s->o.max_bytes && !s->closing) {
        if (pthread_cond_timedwait(&s->space, &s->mu, &dl) == ETIMEDOUT) {
            pthread_mutex_unlock(&s->mu);
            return kerr_set(err, KERR_AGAIN, "spool full (%lld of %lld bytes)", (long long)s->bytes,
                            (long long)s->o.max_bytes);
        }
    }
    segment *g = &s->segs[s->nsegs - 1];
    if (g->bytes > 0 && g->bytes + need > s->o.segment_bytes && new_segment(s, err) != KERR_OK) {
        pthread_mutex_unlock(&s->mu);
        return KERR_IO;
    }
    g = &s->segs[s->nsegs - 1];
    /* Header and payload in one writev: one system call, no copy of the payload. */
    unsigned char hdr[HDR];
    uint64_t q = s->next_seq;
    int64_t now = clock_wall_ms();
    put32(hdr, REC_MAGIC);
    put32(hdr + 4, (uint32_t)len);
    put64(hdr + 8, q);
    put64(hdr + 16, (uint64_t)now);
    put32(hdr + 24, record_crc(hdr, data, len));
    struct iovec iov[2] = {{hdr, HDR}, {(void *)data, len}};
    ssize_t w = writev(s->active_fd, iov, 2);
    if (w != need) {
        int e = w < 0 ? errno : ENOSPC;
        if (w > 0 && ftruncate(s->active_fd, g->bytes) != 0) e = errno;
        pthread_mutex_unlock(&s->mu);
        return kerr_set(err, KERR_IO, "spool write: %s", strerror(e));
    }
    if (s->o.fsync == SPOOL_FSYNC_ALWAYS ||
        (s->o.fsync == SPOOL_FSYNC_BATCH && now - s->last_sync_ms >= 100)) {
        fdatasync(s->active_fd);
        s->last_sync_ms = now;
    }
    record r = {q, s->seg_base + s->nsegs - 1, g->bytes, (uint32_t)len, now, 0, 0};
    if (!push_record(s, r)) {
        pthread_mutex_unlock(&s->mu);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    g->bytes += need;
    g->last_seq = q;
    s->bytes += need;
    s->next_seq++;
    *seq = q;
    pthread_cond_broadcast(&s->data);
    pthread_mutex_unlock(&s->mu);
    return KERR_OK;
}

static record *next_for(spool *s, int c)
{
    uint8_t bit = (uint8_t)(1u << c);
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
    r->handed |= (uint8_t)(1u << consumer);
    *seq = r->seq;
    *data = buf;
    *len = r->len;
    pthread_mutex_unlock(&s->mu);
    return KERR_OK;
}

kerr_code spool_ack(spool *s, int consumer, uint64_t seq, kerr *err)
{
    uint8_t bit = (uint8_t)(1u << consumer);
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
    uint64_t w = s->watermark[consumer];
    for (size_t i = find_seq(s, w + 1); i < s->head + s->n; i++) {
        if (!(s->recs[i].acked & bit)) break;
        w = s->recs[i].seq;
    }
    if (w != s->watermark[consumer]) {
        s->watermark[consumer] = w;
        if (clock_wall_ms() - s->last_ack_write_ms >= 100) write_acks(s);
        reclaim(s);
        rotate_if_delivered(s);
    }
    pthread_mutex_unlock(&s->mu);
    return KERR_OK;
}

void spool_rewind(spool *s, int consumer)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++)
        s->recs[s->head + i].handed &= (uint8_t) ~(1u << consumer);
    s->cursor[consumer] = s->head;
    pthread_cond_broadcast(&s->data);
    pthread_mutex_unlock(&s->mu);
}

void spool_get_stats(spool *s, spool_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    uint8_t all = all_bits(s);
    out->records = s->unacked;
    /* After reclaim the head is the oldest record still pending somewhere. */
    for (size_t i = s->head; i < s->head + s->n && !out->oldest_unacked_ms; i++)
        if ((s->recs[i].acked & all) != all) out->oldest_unacked_ms = s->recs[i].appended_ms;
    for (int c = 0; c < s->o.nconsumers; c++)
        out->pending[c] = s->pending[c];
    out->bytes = s->bytes;
    out->corrupt_bytes = s->corrupt_bytes;
    pthread_mutex_unlock(&s->mu);
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
