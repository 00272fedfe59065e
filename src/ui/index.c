/* The event index: {dir}/events.db (SQLite, WAL) beside the local sink's
 * events.jsonl, which stays the record of truth. A thread follows the file
 * by offset and adds each whole line's searchable fields (id, camera, label,
 * time, plate) and its place in the file, in batched transactions, with the
 * offset covered in the same transaction; queries return places, and the
 * lines are read from events.jsonl itself. The sink never waits for it: the
 * index only reads the file. A file replaced (logrotate: another inode) or
 * shorter than the offset covered, or an index of another schema, is
 * rebuilt from the start. */
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ui.h"

enum {
    BATCH_LINES = 5000,
    READ_CHUNK = 1 << 20, /* a line longer than this is skipped, as the page's reader does */
    POLL_MS = 200,
    SCHEMA = 2,
};

struct ui_index {
    char *dir, *jsonl;
    sqlite3 *wdb, *rdb; /* the thread's, the queries' (under rmu) */
    pthread_mutex_t mu, rmu;
    pthread_cond_t cv;
    pthread_t thread;
    bool stop;
    int64_t covered; /* bytes of events.jsonl indexed (a line boundary) */
    int64_t rows;
    long started, done; /* passes over the file (ui_index_sync waits for a fresh one) */
};

/* ---- the fields an event is found by ---- */

void ui_plate_norm(const char *in, char *out, size_t len)
{
    size_t n = 0;
    for (; in && *in && n + 1 < len; in++) {
        char c = *in;
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) out[n++] = c;
    }
    out[n] = '\0';
}

bool ui_plate_near(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > lb + 1 || lb > la + 1) return false;
    size_t i = 0;
    while (i < la && i < lb && a[i] == b[i])
        i++;
    if (i == la && i == lb) return true;
    /* one substitution, insertion or deletion, then the rest equal */
    if (la == lb) return strcmp(a + i + 1, b + i + 1) == 0;
    return la > lb ? strcmp(a + i + 1, b + i) == 0 : strcmp(a + i, b + i + 1) == 0;
}

void ui_event_fields(json_t *e, ui_event_key *k)
{
    memset(k, 0, sizeof *k);
    k->id = json_string_value(json_object_get(e, "event_id"));
    if (k->id && !ui_event_id_ok(k->id)) k->id = NULL;
    /* A clip_ready record follows its event (same id): not one of the page's
     * events, and never the one an id finds. */
    const char *type = json_string_value(json_object_get(e, "event_type"));
    if (type && strcmp(type, "clip_ready") == 0) k->id = NULL;
    k->camera = json_string_value(json_object_get(e, "camera_name"));
    k->label = json_string_value(json_object_get(e, "label"));
    const char *at = json_string_value(json_object_get(e, "detected_at"));
    k->ts_ms = at ? clock_parse_iso(at) : -1;
    ui_plate_norm(json_string_value(json_object_get(json_object_get(e, "plate"), "text")), k->plate,
                  sizeof k->plate);
}

bool ui_filter_match(const ui_filter *f, const ui_event_key *k)
{
    if (!k->id) return false;
    if (f->before && strcmp(k->id, f->before) >= 0) return false;
    if (f->camera && (!k->camera || strcmp(k->camera, f->camera) != 0)) return false;
    if (f->label && (!k->label || strcmp(k->label, f->label) != 0)) return false;
    if ((f->since_ms > 0 || f->until_ms > 0) && k->ts_ms < 0) return false;
    if (f->since_ms > 0 && k->ts_ms < f->since_ms) return false;
    if (f->until_ms > 0 && k->ts_ms > f->until_ms) return false;
    if (f->plate[0]) {
        bool prefix = strncmp(k->plate, f->plate, strlen(f->plate)) == 0;
        if (!prefix && !(f->fuzzy && *k->plate && ui_plate_near(k->plate, f->plate))) return false;
    }
    return true;
}

/* ---- the database ---- */

static bool exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
}

static void near_fn(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    const char *a = (const char *)sqlite3_value_text(argv[0]),
               *b = (const char *)sqlite3_value_text(argv[1]);
    sqlite3_result_int(ctx, a && b && *a && ui_plate_near(a, b));
}

static sqlite3 *open_db(const char *path, kerr *err)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        kerr_set(err, KERR_IO, "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return NULL;
    }
    sqlite3_busy_timeout(db, 5000);
    exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
    sqlite3_create_function(db, "plate_near", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, near_fn,
                            NULL, NULL);
    return db;
}

static int64_t meta_get(sqlite3 *db, const char *key)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, "SELECT v FROM meta WHERE k = ?", -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void meta_set(sqlite3 *db, const char *key, int64_t v)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(k, v) VALUES(?, ?)", -1, &st, NULL) !=
        SQLITE_OK)
        return;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, v);
    sqlite3_step(st);
    sqlite3_finalize(st);
}

static const char k_schema[] =
    "CREATE TABLE IF NOT EXISTS events(id TEXT PRIMARY KEY, camera TEXT, label TEXT, ts INTEGER,"
    " plate TEXT, off INTEGER NOT NULL, len INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS events_camera ON events(camera, id);"
    "CREATE INDEX IF NOT EXISTS events_camera_label ON events(camera, label, id);"
    "CREATE INDEX IF NOT EXISTS events_label ON events(label, id);"
    /* covering (the place in the file is in them): a range of times or
     * plates is sorted by id without a lookup per row */
    "CREATE INDEX IF NOT EXISTS events_ts ON events(ts, off, len);"
    "CREATE INDEX IF NOT EXISTS events_plate ON events(plate, off, len) WHERE plate IS NOT NULL;";

/* The tables, dropped first when they are of another schema version. */
static bool prepare_schema(sqlite3 *db)
{
    if (!exec(db, "CREATE TABLE IF NOT EXISTS meta(k TEXT PRIMARY KEY, v INTEGER);")) return false;
    if (meta_get(db, "schema") != SCHEMA &&
        !exec(db, "DROP TABLE IF EXISTS events; DELETE FROM meta;"))
        return false;
    return exec(db, k_schema);
}

/* Empties the index for a file that starts again (new inode, shorter). */
static bool reset(ui_index *ix, int64_t ino)
{
    bool ok = exec(ix->wdb, "BEGIN; DELETE FROM events; DELETE FROM meta;");
    meta_set(ix->wdb, "schema", SCHEMA);
    meta_set(ix->wdb, "inode", ino);
    meta_set(ix->wdb, "covered", 0);
    ok = exec(ix->wdb, "COMMIT;") && ok;
    pthread_mutex_lock(&ix->mu);
    ix->covered = 0;
    ix->rows = 0;
    pthread_mutex_unlock(&ix->mu);
    return ok;
}

/* ---- following events.jsonl ---- */

typedef struct {
    sqlite3_stmt *ins;
    int64_t added;
} batch;

static void index_line(batch *b, const char *line, size_t len, int64_t off)
{
    json_t *e = json_loadb(line, len, 0, NULL);
    ui_event_key k;
    if (json_is_object(e)) {
        ui_event_fields(e, &k);
        if (k.id) {
            sqlite3_stmt *st = b->ins;
            sqlite3_reset(st);
            sqlite3_bind_text(st, 1, k.id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, k.camera, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 3, k.label, -1, SQLITE_TRANSIENT);
            if (k.ts_ms >= 0)
                sqlite3_bind_int64(st, 4, k.ts_ms);
            else
                sqlite3_bind_null(st, 4);
            if (*k.plate)
                sqlite3_bind_text(st, 5, k.plate, -1, SQLITE_TRANSIENT);
            else
                sqlite3_bind_null(st, 5);
            sqlite3_bind_int64(st, 6, off);
            sqlite3_bind_int64(st, 7, (int64_t)len);
            if (sqlite3_step(st) == SQLITE_DONE) b->added++;
        }
    }
    json_decref(e);
}

/* Indexes whole lines from ix->covered on, one transaction per BATCH_LINES;
 * returns false when the file is gone or cannot be read. */
static bool catch_up(ui_index *ix, int fd, int64_t size)
{
    char *buf = malloc(READ_CHUNK);
    batch b = {0};
    if (!buf || sqlite3_prepare_v2(ix->wdb,
                                   "INSERT OR REPLACE INTO events(id, camera, label, ts, plate, "
                                   "off, len) VALUES(?, ?, ?, ?, ?, ?, ?)",
                                   -1, &b.ins, NULL) != SQLITE_OK) {
        free(buf);
        return false;
    }
    int64_t pos = ix->covered;
    bool ok = true, skipping = false, done = false;
    while (ok && !done && pos < size && !ix->stop) {
        exec(ix->wdb, "BEGIN;");
        int lines = 0;
        while (pos < size && lines < BATCH_LINES) {
            size_t want = size - pos > READ_CHUNK ? READ_CHUNK : (size_t)(size - pos);
            ssize_t got = pread(fd, buf, want, pos);
            if (got <= 0) {
                ok = false;
                break;
            }
            const char *p = buf, *end = buf + got, *nl = memchr(p, '\n', (size_t)got);
            if (!nl) {
                if ((size_t)got < READ_CHUNK) { /* the last line, unfinished */
                    done = true;
                    break;
                }
                skipping = true; /* a line longer than LINE_CAP */
                pos += got;
                continue;
            }
            while (nl && lines < BATCH_LINES) {
                size_t len = (size_t)(nl - p);
                if (!skipping && len > 0) index_line(&b, p, len, pos);
                skipping = false;
                pos += (int64_t)len + 1;
                lines++;
                p = nl + 1;
                nl = memchr(p, '\n', (size_t)(end - p));
            }
        }
        meta_set(ix->wdb, "covered", pos);
        if (!exec(ix->wdb, "COMMIT;")) {
            exec(ix->wdb, "ROLLBACK;");
            ok = false;
            break;
        }
        pthread_mutex_lock(&ix->mu);
        ix->covered = pos;
        ix->rows += b.added;
        b.added = 0;
        pthread_cond_broadcast(&ix->cv);
        pthread_mutex_unlock(&ix->mu);
    }
    sqlite3_finalize(b.ins);
    free(buf);
    return ok;
}

static void follow_once(ui_index *ix)
{
    int fd = open(ix->jsonl, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0) close(fd);
        return;
    }
    if ((int64_t)st.st_ino != meta_get(ix->wdb, "inode") || st.st_size < ix->covered)
        reset(ix, (int64_t)st.st_ino);
    if (st.st_size > ix->covered) catch_up(ix, fd, st.st_size);
    close(fd);
}

static void *follow(void *arg)
{
    ui_index *ix = arg;
    pthread_mutex_lock(&ix->mu);
    while (!ix->stop) {
        ix->started++;
        pthread_mutex_unlock(&ix->mu);
        follow_once(ix);
        pthread_mutex_lock(&ix->mu);
        ix->done = ix->started;
        pthread_cond_broadcast(&ix->cv);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += POLL_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        if (!ix->stop) pthread_cond_timedwait(&ix->cv, &ix->mu, &ts);
    }
    pthread_mutex_unlock(&ix->mu);
    return NULL;
}

/* What open made, its thread already joined or never started. */
static void index_free(ui_index *ix)
{
    sqlite3_close(ix->rdb);
    sqlite3_close(ix->wdb);
    pthread_cond_destroy(&ix->cv);
    pthread_mutex_destroy(&ix->rmu);
    pthread_mutex_destroy(&ix->mu);
    free(ix->jsonl);
    free(ix->dir);
    free(ix);
}

ui_index *ui_index_open(const char *dir, kerr *err)
{
    ui_index *ix = calloc(1, sizeof *ix);
    char db[PATH_MAX], jsonl[PATH_MAX];
    snprintf(db, sizeof db, "%s/events.db", dir);
    snprintf(jsonl, sizeof jsonl, "%s/events.jsonl", dir);
    if (!ix) {
        kerr_set(err, KERR_NOMEM, "out of memory");
        return NULL;
    }
    ix->dir = kstrdup(dir);
    ix->jsonl = kstrdup(jsonl);
    pthread_mutex_init(&ix->mu, NULL);
    pthread_mutex_init(&ix->rmu, NULL);
    pthread_cond_init(&ix->cv, NULL);
    bool ok = false;
    for (int attempt = 0; attempt < 2 && !ok; attempt++) {
        ix->wdb = open_db(db, err);
        ix->rdb = ix->wdb ? open_db(db, err) : NULL;
        ok = ix->rdb && prepare_schema(ix->wdb);
        int code = ix->wdb ? sqlite3_errcode(ix->wdb) : SQLITE_OK;
        if (ok || (code != SQLITE_NOTADB && code != SQLITE_CORRUPT)) break;
        /* not a database, or a damaged one: it is only an index, made anew */
        sqlite3_close(ix->rdb);
        sqlite3_close(ix->wdb);
        ix->rdb = ix->wdb = NULL;
        for (const char *const *x = (const char *const[]){"", "-wal", "-shm", NULL}; *x; x++) {
            char f[PATH_MAX + 8];
            snprintf(f, sizeof f, "%s%s", db, *x);
            unlink(f);
        }
    }
    if (ok) {
        ix->covered = meta_get(ix->wdb, "covered");
        if (ix->covered < 0) ix->covered = 0;
        sqlite3_stmt *st;
        if (sqlite3_prepare_v2(ix->wdb, "SELECT count(*) FROM events", -1, &st, NULL) ==
            SQLITE_OK) {
            if (sqlite3_step(st) == SQLITE_ROW) ix->rows = sqlite3_column_int64(st, 0);
            sqlite3_finalize(st);
        }
        ok = pthread_create(&ix->thread, NULL, follow, ix) == 0;
    }
    if (!ok) {
        if (ix->wdb && err && !err->msg[0])
            kerr_set(err, KERR_IO, "cannot build %s: %s", db, sqlite3_errmsg(ix->wdb));
        index_free(ix);
        return NULL;
    }
    return ix;
}

void ui_index_close(ui_index *ix)
{
    if (!ix) return;
    pthread_mutex_lock(&ix->mu);
    ix->stop = true;
    pthread_cond_broadcast(&ix->cv);
    pthread_mutex_unlock(&ix->mu);
    pthread_join(ix->thread, NULL);
    index_free(ix);
}

int64_t ui_index_covered(ui_index *ix, int64_t *rows)
{
    pthread_mutex_lock(&ix->mu);
    int64_t c = ix->covered;
    if (rows) *rows = ix->rows;
    pthread_mutex_unlock(&ix->mu);
    return c;
}

bool ui_index_sync(ui_index *ix, int wait_ms)
{
    struct stat st;
    int64_t want = stat(ix->jsonl, &st) == 0 ? (int64_t)st.st_size : 0;
    struct timespec end;
    clock_gettime(CLOCK_REALTIME, &end);
    end.tv_sec += wait_ms / 1000;
    end.tv_nsec += (wait_ms % 1000) * 1000000L;
    end.tv_sec += end.tv_nsec / 1000000000L;
    end.tv_nsec %= 1000000000L;
    pthread_mutex_lock(&ix->mu);
    pthread_cond_broadcast(&ix->cv); /* look now */
    long pass = ix->started + 1;     /* one that sees the file as it is now */
    int rc = 0;
    while ((ix->done < pass || ix->covered < want) && rc == 0)
        rc = pthread_cond_timedwait(&ix->cv, &ix->mu, &end);
    bool ok = ix->done >= pass && ix->covered >= want;
    pthread_mutex_unlock(&ix->mu);
    return ok;
}

/* ---- queries ---- */

int ui_index_find(ui_index *ix, const ui_filter *f, const char *id, ui_place *out, int max)
{
    char sql[1024] = "SELECT off, len FROM events WHERE 1";
    if (id) strcat(sql, " AND id = ?1");
    if (f && f->before) strcat(sql, " AND id < ?2");
    if (f && f->camera) strcat(sql, " AND camera = ?3");
    if (f && f->label) strcat(sql, " AND label = ?4");
    if (f && f->since_ms > 0) strcat(sql, " AND ts >= ?5");
    if (f && f->until_ms > 0) strcat(sql, " AND ts <= ?6");
    char upper[UI_PLATE_MAX] = "";
    if (f && f->plate[0]) {
        snprintf(upper, sizeof upper, "%s", f->plate);
        upper[strlen(upper) - 1]++; /* [prefix, next prefix): the plate index serves it */
        /* fuzzy: the distinct plates near it, from the plate index alone, then their events */
        strcat(sql, f->fuzzy ? " AND plate IN (SELECT DISTINCT plate FROM events INDEXED BY "
                               "events_plate WHERE plate IS NOT NULL AND ((plate >= ?7 AND "
                               "plate < ?8) OR plate_near(plate, ?7)))"
                             : " AND plate >= ?7 AND plate < ?8");
    }
    strcat(sql, " ORDER BY id DESC LIMIT ?9");
    pthread_mutex_lock(&ix->rmu);
    sqlite3_stmt *st;
    int n = 0;
    if (sqlite3_prepare_v2(ix->rdb, sql, -1, &st, NULL) == SQLITE_OK) {
        if (id) sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
        if (f && f->before) sqlite3_bind_text(st, 2, f->before, -1, SQLITE_STATIC);
        if (f && f->camera) sqlite3_bind_text(st, 3, f->camera, -1, SQLITE_STATIC);
        if (f && f->label) sqlite3_bind_text(st, 4, f->label, -1, SQLITE_STATIC);
        if (f && f->since_ms > 0) sqlite3_bind_int64(st, 5, f->since_ms);
        if (f && f->until_ms > 0) sqlite3_bind_int64(st, 6, f->until_ms);
        if (*upper) {
            sqlite3_bind_text(st, 7, f->plate, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 8, upper, -1, SQLITE_STATIC);
        }
        sqlite3_bind_int(st, 9, max);
        while (n < max && sqlite3_step(st) == SQLITE_ROW) {
            out[n].off = sqlite3_column_int64(st, 0);
            out[n].len = sqlite3_column_int64(st, 1);
            n++;
        }
        sqlite3_finalize(st);
    } else
        n = -1;
    pthread_mutex_unlock(&ix->rmu);
    return n;
}
