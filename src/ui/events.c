/* Events for the page, read back from the local sink's events.jsonl: from
 * the end of each file, newest first, a chunk at a time, so the first page
 * costs the same on a file of ten events as on one of ten million. Event ids
 * are UUIDv7 (time ordered), which gives pages (`before`) and the merge of
 * several folders. */
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ui.h"

enum { CHUNK = 64 * 1024, LINE_MAX_BYTES = 1 << 20 };

bool ui_event_id_ok(const char *id)
{
    if (!id || strlen(id) != UUID_TEXT_LEN) return false;
    for (int i = 0; i < UUID_TEXT_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        char c = id[i];
        if (dash ? c != '-' : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

/* Calls fn on each line of path from the last to the first until it returns
 * false or max_bytes have been read. Lines longer than LINE_MAX_BYTES are
 * skipped (a torn or foreign file must not take the memory). */
typedef bool (*line_fn)(void *user, const char *line, size_t len);

static void each_line_backwards(const char *path, int64_t floor, size_t max_bytes, line_fn fn,
                                void *user)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return;
    }
    off_t pos = st.st_size;
    if (floor > pos) floor = 0;                      /* the file was replaced: all of it */
    size_t read_total = 0, cap = 2 * CHUNK, len = 0; /* buf[0, len): the unfinished start */
    char *buf = malloc(cap);
    bool more = buf != NULL, skipping = false;
    while (more && pos > floor && read_total < max_bytes) {
        size_t n = pos - floor > CHUNK ? CHUNK : (size_t)(pos - floor);
        if (len + n > cap) {
            if (len + n > LINE_MAX_BYTES) { /* one huge line: drop what we have of it */
                len = 0;
                skipping = true;
            } else {
                char *nb = realloc(buf, cap = len + n);
                if (!nb) break;
                buf = nb;
            }
        }
        memmove(buf + n, buf, len);
        pos -= (off_t)n;
        if (pread(fd, buf, n, pos) != (ssize_t)n) break;
        len += n;
        read_total += n;
        /* Whole lines are those after a newline (or at the file's start). */
        size_t end = len;
        for (size_t i = len; i-- > 0;) {
            if (buf[i] != '\n') continue;
            if (end > i + 1 && !skipping) more = fn(user, buf + i + 1, end - i - 1);
            skipping = false;
            end = i;
            if (!more) break;
        }
        len = end;
    }
    if (more && pos == floor && len > 0 && !skipping) fn(user, buf, len);
    free(buf);
    close(fd);
}

typedef struct {
    const ui_filter *f;
    const char *want_id;
    int limit, dir;
    json_t *hits; /* array of {"e": event, "dir": n} */
    int found;
} scan;

static void drop_unless(json_t *e, const char *key, int (*ok)(const json_t *))
{
    json_t *v = json_object_get(e, key);
    if (v && !ok(v)) json_object_del(e, key);
}

static int is_string(const json_t *v)
{
    return json_is_string(v);
}
static int is_string_or_null(const json_t *v)
{
    return json_is_string(v) || json_is_null(v);
}
static int is_number(const json_t *v)
{
    return json_is_number(v);
}
static int is_object(const json_t *v)
{
    return json_is_object(v);
}

void ui_event_sanitize(json_t *e)
{
    static const char *const strings[] = {"camera_name", "label",     "detector",   "detected_at",
                                          "stream_name", "worker_id", "event_type", NULL};
    for (int i = 0; strings[i]; i++)
        drop_unless(e, strings[i], is_string);
    drop_unless(e, "snapshot", is_string_or_null);
    drop_unless(e, "confidence", is_number);
    drop_unless(e, "track_id", is_number);
    drop_unless(e, "plate", is_object);
    drop_unless(e, "clip", is_object);
    json_t *clip = json_object_get(e, "clip");
    if (clip) drop_unless(clip, "path", is_string), drop_unless(clip, "status", is_string);
    json_t *plate = json_object_get(e, "plate");
    if (plate) drop_unless(plate, "text", is_string);
    json_t *crops = json_object_get(e, "crops");
    if (crops && !json_is_array(crops))
        json_object_del(e, "crops");
    else if (crops)
        for (size_t i = json_array_size(crops); i-- > 0;)
            if (!json_is_string(json_array_get(crops, i))) json_array_remove(crops, i);
}

/* The event on a line when it is one that is asked for (a new reference), else NULL. */
static json_t *wanted(const scan *s, const char *line, size_t len)
{
    json_t *e = json_loadb(line, len, 0, NULL);
    ui_event_key k;
    if (json_is_object(e)) {
        ui_event_sanitize(e);
        ui_event_fields(e, &k);
        bool keep =
            k.id && (s->want_id ? strcmp(k.id, s->want_id) == 0 : ui_filter_match(s->f, &k));
        if (keep) return e;
    }
    json_decref(e);
    return NULL;
}

static void add_hit(scan *s, json_t *e)
{
    json_t *h = json_object();
    json_object_set_new(h, "e", e);
    json_object_set_new(h, "dir", json_integer(s->dir));
    json_array_append_new(s->hits, h);
}

static bool take_line(void *user, const char *line, size_t len)
{
    scan *s = user;
    json_t *e = wanted(s, line, len);
    if (!e) return true;
    add_hit(s, e);
    return ++s->found < s->limit;
}

static int newest_first(const void *a, const void *b)
{
    json_t *x = json_object_get(*(json_t *const *)a, "e"),
           *y = json_object_get(*(json_t *const *)b, "e");
    return -strcmp(json_string_value(json_object_get(x, "event_id")),
                   json_string_value(json_object_get(y, "event_id")));
}

/* The index's answer for dir: its lines read back from events.jsonl (a line
 * that no longer says what was indexed, in a file replaced meanwhile, is
 * left out). Returns the offset the index covered, from which the file
 * must still be read, or -1 when the database failed. */
static int64_t from_index(ui_index *ix, const char *path, scan *s)
{
    int64_t covered = ui_index_covered(ix, NULL);
    ui_place *pl = malloc(sizeof *pl * (size_t)s->limit);
    int n = pl ? ui_index_find(ix, s->f, s->want_id, pl, s->limit) : -1;
    int fd = n > 0 ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (n < 0) covered = -1; /* the database failed: read the file */
    for (int i = 0; fd >= 0 && i < n; i++) {
        if (pl[i].len <= 0 || pl[i].len > LINE_MAX_BYTES) continue;
        char *line = malloc((size_t)pl[i].len);
        if (line && pread(fd, line, (size_t)pl[i].len, pl[i].off) == pl[i].len) {
            json_t *e = wanted(s, line, (size_t)pl[i].len);
            if (e) {
                add_hit(s, e);
                s->found++;
            }
        }
        free(line);
    }
    if (fd >= 0) close(fd);
    free(pl);
    return covered;
}

static const char *hit_id(json_t *h)
{
    return json_string_value(json_object_get(json_object_get(h, "e"), "event_id"));
}

static json_t *collect(ui_index *const *ix, const char *const *dirs, int ndirs, scan *s)
{
    s->hits = json_array();
    for (int i = 0; i < ndirs; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/events.jsonl", dirs[i]);
        s->dir = i;
        s->found = 0;
        int64_t floor = ix && ix[i] ? from_index(ix[i], path, s) : -1;
        s->found = 0; /* the unindexed end may hold newer ones: up to limit more */
        /* With an index, only a bounded end is read: queries stay fast
         * while it is (re)built. */
        each_line_backwards(path, floor < 0 ? 0 : floor,
                            floor < 0 ? UI_EVENT_SCAN_BYTES : UI_INDEXED_TAIL_BYTES, take_line, s);
    }
    size_t n = json_array_size(s->hits);
    json_t **v = malloc(sizeof *v * (n ? n : 1));
    if (!v) return s->hits;
    for (size_t i = 0; i < n; i++)
        v[i] = json_incref(json_array_get(s->hits, i));
    qsort(v, n, sizeof *v, newest_first);
    json_t *sorted = json_array();
    for (size_t i = 0; i < n; i++) {
        /* the same event from the index and the end of the file (indexed meanwhile) */
        if (i > 0 && strcmp(hit_id(v[i]), hit_id(v[i - 1])) == 0 &&
            json_equal(json_object_get(v[i], "dir"), json_object_get(v[i - 1], "dir")))
            json_decref(v[i]);
        else
            json_array_append_new(sorted, v[i]);
    }
    free(v);
    json_decref(s->hits);
    return sorted;
}

char *ui_events_query(ui_index *const *ix, const char *const *dirs, int ndirs, const ui_filter *f,
                      kerr *err)
{
    int limit = f->limit;
    if (limit <= 0 || limit > UI_EVENTS_MAX) limit = limit <= 0 ? 50 : UI_EVENTS_MAX;
    scan s = {.f = f, .limit = limit};
    json_t *hits = collect(ix, dirs, ndirs, &s);
    json_t *events = json_array();
    size_t n = json_array_size(hits);
    for (size_t i = 0; i < n && i < (size_t)limit; i++)
        json_array_append(events, json_object_get(json_array_get(hits, i), "e"));
    json_t *last = json_array_size(events) == (size_t)limit
                       ? json_object_get(json_array_get(events, (size_t)limit - 1), "event_id")
                       : NULL;
    json_t *out = json_object();
    json_object_set_new(out, "events", events);
    json_object_set(out, "next_before", last ? last : json_null());
    char *text = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    json_decref(hits);
    if (!text) kerr_set(err, KERR_NOMEM, "out of memory");
    return text;
}

char *ui_events_page(const char *const *dirs, int ndirs, const char *camera, const char *label,
                     const char *before, int limit, kerr *err)
{
    ui_filter f = {.camera = camera, .label = label, .before = before, .limit = limit};
    return ui_events_query(NULL, dirs, ndirs, &f, err);
}

/* The event's object and folder index, or NULL. */
static json_t *find(ui_index *const *ix, const char *const *dirs, int ndirs, const char *id,
                    int *dir)
{
    ui_filter none = {0};
    scan s = {.f = &none, .want_id = id, .limit = 1};
    json_t *hits = collect(ix, dirs, ndirs, &s);
    json_t *h = json_array_get(hits, 0);
    json_t *e = h ? json_incref(json_object_get(h, "e")) : NULL;
    if (h && dir) *dir = (int)json_integer_value(json_object_get(h, "dir"));
    json_decref(hits);
    return e;
}

char *ui_event_find(ui_index *const *ix, const char *const *dirs, int ndirs, const char *id,
                    int *dir)
{
    json_t *e = find(ix, dirs, ndirs, id, dir);
    char *text = e ? json_dumps(e, JSON_COMPACT) : NULL;
    json_decref(e);
    return text;
}

/* path resolved must be inside dir resolved (no "..", no symlink out). */
static int open_inside(const char *dir, const char *path, size_t *len, kerr *err)
{
    char rdir[PATH_MAX], rpath[PATH_MAX];
    if (!realpath(dir, rdir) || !realpath(path, rpath)) {
        kerr_set(err, KERR_NOT_FOUND, "the image is gone");
        return -1;
    }
    size_t n = strlen(rdir);
    if (strncmp(rpath, rdir, n) != 0 || rpath[n] != '/') {
        kerr_set(err, KERR_INVALID, "the image is outside the output folder");
        return -1;
    }
    int fd = open(rpath, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0) close(fd);
        kerr_set(err, KERR_NOT_FOUND, "the image is gone");
        return -1;
    }
    *len = (size_t)st.st_size;
    return fd;
}

/* Where the local sink keeps an event's clip: its `path`, or, when the event
 * names the S3 copy, the same layout in this folder (docs/publishing.md
 * "Clips": the folder of the event holding the clip). */
static const char *clip_path(const char *dir, json_t *e, char *buf, size_t len)
{
    json_t *clip = json_object_get(e, "clip");
    if (!json_is_object(clip)) return NULL;
    const char *path = json_string_value(json_object_get(clip, "path"));
    if (path) return path;
    const char *owner = json_string_value(json_object_get(clip, "event_id")),
               *at = json_string_value(json_object_get(clip, "event_detected_at"));
    if (!owner) owner = json_string_value(json_object_get(e, "event_id"));
    if (!at) at = json_string_value(json_object_get(e, "detected_at"));
    const char *cam = json_string_value(json_object_get(e, "camera_name"));
    if (!owner || !at || !cam || strlen(at) < 10 || !ui_event_id_ok(owner)) return NULL;
    snprintf(buf, len, "%s/%s/%.4s/%.2s/%.2s/%s/clip.mp4", dir, cam, at, at + 5, at + 8, owner);
    return buf;
}

kerr_code ui_event_image(ui_index *const *ix, const char *const *dirs, int ndirs, const char *id,
                         const char *which, int *fd, size_t *len, kerr *err)
{
    char clip_buf[PATH_MAX];
    int dir = 0;
    json_t *e = find(ix, dirs, ndirs, id, &dir);
    if (!e) return kerr_set(err, KERR_NOT_FOUND, "no event %s", id);
    const char *path = NULL;
    char *end = NULL;
    if (strcmp(which, "snapshot") == 0)
        path = json_string_value(json_object_get(e, "snapshot"));
    else if (strcmp(which, "clip") == 0) /* there once its clip_ready record was written */
        path = clip_path(dirs[dir], e, clip_buf, sizeof clip_buf);
    else if (strncmp(which, "crop-", 5) == 0) {
        long k = strtol(which + 5, &end, 10);
        if (end != which + 5 && !*end && k >= 0 && k < 64)
            path = json_string_value(json_array_get(json_object_get(e, "crops"), (size_t)k));
    }
    kerr_code rc = KERR_OK;
    if (!path)
        rc = kerr_set(err, KERR_NOT_FOUND, "event %s has no %s image", id, which);
    else if (strstr(path, "://"))
        rc = kerr_set(err, KERR_NOT_FOUND, "event %s's %s is stored in S3 (%s)", id, which, path);
    else if ((*fd = open_inside(dirs[dir], path, len, err)) < 0)
        rc = err ? err->code : KERR_NOT_FOUND;
    json_decref(e);
    return rc;
}
