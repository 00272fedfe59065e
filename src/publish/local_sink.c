/* The local sink: {dir}/events.jsonl (one event per line, appended) and the
 * images at {dir}/{camera}/{yyyy}/{mm}/{dd}/{event_id}/frame.jpg, crop-N.jpg,
 * and the event's clip.mp4 there (from its clip_ready record).
 * Images are written before the line that names them, each through a
 * temporary file and rename, so a reader never sees a line whose images are
 * missing or half-written. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../metrics/metrics.h"
#include "publish.h"

typedef struct {
    char *dir;
    int fd;
} local_state;

static const char *const k_keys[] = {"local_dir", NULL};

/* The default publisher: a camera that names none writes to ./out. */
static bool local_read(cfg_diags *d, const ynode *pubs, const char *path, bool as_default,
                       cfg_pub *s)
{
    if (pub_read_keys(d, pubs, path, k_keys, s)) return true;
    if (as_default && !cfg_pub_set(s, "local_dir", "./out"))
        cfg_diag_add(d, pubs, path, "out of memory");
    return as_default;
}

static void local_key(const cfg_pub *s, char *out, size_t len)
{
    snprintf(out, len, "local:%s", cfg_pub_get(s, "local_dir"));
}

static int open_events_file(const char *dir, kerr *err)
{
    if (mkdir_p(dir, err) != KERR_OK) return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/events.jsonl", dir);
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) kerr_set(err, KERR_IO, "cannot open %s: %s", path, strerror(errno));
    return fd;
}

static kerr_code local_open(const cfg_pub *p, const config *cfg, void **state, kerr *err)
{
    (void)cfg;
    const char *dir = cfg_pub_get(p, "local_dir");
    if (!dir) return kerr_set(err, KERR_INVALID, "the local publisher needs local_dir");
    int fd = open_events_file(dir, err);
    if (fd < 0) return KERR_IO;
    local_state *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    s->dir = kstrdup(dir);
    s->fd = fd;
    *state = s;
    return KERR_OK;
}

/* A line written to a file that was moved away (logrotate) or removed (rm -rf
 * of the output folder) would be acknowledged and never seen: before each
 * line, the path must still name the open file, else it is opened anew. */
static kerr_code ensure_current(local_state *s, kerr *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/events.jsonl", s->dir);
    struct stat at_path, open_file;
    if (stat(path, &at_path) == 0 && fstat(s->fd, &open_file) == 0 &&
        at_path.st_ino == open_file.st_ino && at_path.st_dev == open_file.st_dev)
        return KERR_OK;
    int fd = open_events_file(s->dir, err);
    if (fd < 0) return KERR_IO;
    fsync(s->fd);
    close(s->fd);
    s->fd = fd;
    log_kv(LOG_WARN, LOG_CTX("publisher", "local"), "%s was moved or removed: opened anew", path);
    metric_add(M_LOCAL_REOPENS, "", 1);
    return KERR_OK;
}

static void local_image_ref(const cfg_pub *p, const event *e, const char *name, char *out,
                            size_t len)
{
    char key[1024];
    event_object_key(e, "", name, key, sizeof key);
    snprintf(out, len, "%s/%s", cfg_pub_get(p, "local_dir"), key);
}

kerr_code append_line(int fd, const char *line, size_t len, kerr *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0) return kerr_set(err, KERR_IO, "fstat: %s", strerror(errno));
    ssize_t w = write(fd, line, len);
    if (w == (ssize_t)len) return KERR_OK;
    int e = w < 0 ? errno : ENOSPC;
    if (w > 0 && ftruncate(fd, st.st_size) != 0)
        return kerr_set(err, KERR_IO, "short write and cannot cut back: %s", strerror(errno));
    return kerr_set(err, KERR_IO, "append: %s", strerror(e));
}

static kerr_code write_file(const char *path, const event_image *img, kerr *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return kerr_set(err, KERR_IO, "%s: %s", tmp, strerror(errno));
    size_t off = 0;
    while (off < img->len) {
        ssize_t w = write(fd, img->data + off, img->len - off);
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            close(fd);
            unlink(tmp);
            return kerr_set(err, KERR_IO, "%s: %s", tmp, strerror(e));
        }
        off += (size_t)w;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return kerr_set(err, KERR_IO, "%s: %s", path, strerror(e));
    }
    return KERR_OK;
}

/* path's folder, created if missing. */
static kerr_code make_parent(const char *path, kerr *err)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    return mkdir_p(dir, err) == KERR_OK ? KERR_OK : KERR_IO;
}

/* from linked as tmp, with the mode write_file gives a new file (0644 less
 * the umask, read off a file made for it: umask() cannot be read without
 * being set). The clip thread's file is mkstemp's 0600, which a hard link
 * keeps: clip.mp4 would be unreadable to whoever reads frame.jpg. The
 * spool's own name for the file shares the mode; it only reads it. */
static bool link_file(const char *from, const char *tmp)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    struct stat st;
    bool ok = fd >= 0 && fstat(fd, &st) == 0;
    if (fd >= 0) close(fd);
    unlink(tmp);
    if (!ok || link(from, tmp) != 0) return false;
    if (chmod(tmp, st.st_mode & 0777) == 0) return true;
    unlink(tmp);
    return false;
}

/* The MP4 in the spool's file (event.clip_mp4_file) at path: a hard link
 * when both are on one file system (no byte copied; the spool only drops its
 * own name later), else a copy. Through tmp and a rename either way, so a
 * reader never sees half a clip. */
static kerr_code place_file(const char *from, const char *path, kerr *err)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    /* gone (the spool folder removed under its records): a retry cannot
     * bring it back, and would hold back the camera's later events for ever */
    if (access(from, F_OK) != 0 && errno == ENOENT)
        return kerr_set(err, KERR_UNSUPPORTED, "%s: %s", from, strerror(errno));
    unlink(tmp); /* left by a crash: link() does not replace */
    if (!link_file(from, tmp) && copy_file(from, tmp, err) != KERR_OK) return KERR_IO;
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return kerr_set(err, KERR_IO, "%s: %s", path, strerror(e));
    }
    /* path already the spool's file (the record sent again after a restart):
     * a rename between two names of one file does nothing, tmp stays */
    unlink(tmp);
    return KERR_OK;
}

/* A clip_ready record of the clip's owner: clip.mp4 in that event's folder. */
static kerr_code write_clip(const cfg_pub *p, const event *e, kerr *err)
{
    char key[1024], path[4096];
    event_clip_key(e, "", key, sizeof key);
    snprintf(path, sizeof path, "%s/%s", cfg_pub_get(p, "local_dir"), key);
    if (make_parent(path, err) != KERR_OK) return KERR_IO;
    if (!e->clip_mp4.data) return place_file(e->clip_mp4_file, path, err);
    return write_file(path, &e->clip_mp4, err);
}

/* The images always land in this folder too (also when the event names their
 * S3 copies), at the same layout. */
static kerr_code write_images(const cfg_pub *p, const event *e, kerr *err)
{
    bool clip = e->clip_mp4.data || (e->clip_mp4.len && e->clip_mp4_file);
    kerr_code rc = clip ? write_clip(p, e, err) : KERR_OK;
    if (rc != KERR_OK) return rc; /* KERR_UNSUPPORTED: its file is gone */
    if (!e->snapshot.data) return KERR_OK;
    char path[4096];
    local_image_ref(p, e, "frame.jpg", path, sizeof path);
    if (make_parent(path, err) != KERR_OK) return KERR_IO;
    if (write_file(path, &e->snapshot, err) != KERR_OK) return KERR_IO;
    for (int i = 0; i < e->ncrops; i++) {
        char name[32];
        snprintf(name, sizeof name, "crop-%d.jpg", i);
        local_image_ref(p, e, name, path, sizeof path);
        if (write_file(path, &e->crops[i], err) != KERR_OK) return KERR_IO;
    }
    return KERR_OK;
}

static kerr_code publish_one(void *state, const cfg_pub *p, const event *e, kerr *err)
{
    local_state *s = state;
    const char *why = NULL;
    if (!cfg_camera_name_ok(e->camera_name, &why)) /* never a path outside local_dir */
        return kerr_set(err, KERR_UNSUPPORTED, "camera name %s: no file is written for it", why);
    if (ensure_current(s, err) != KERR_OK) return KERR_IO;
    kerr_code rc = write_images(p, e, err);
    if (rc != KERR_OK) return rc;
    char *json = event_to_json(e);
    if (!json) return kerr_set(err, KERR_NOMEM, "cannot serialise event %s", e->event_id);
    size_t n = strlen(json);
    char *line = realloc(json, n + 2);
    if (!line) {
        free(json);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    rc = append_line(s->fd, line, n + 1, err);
    free(line);
    return rc;
}

static void local_close(void *state)
{
    local_state *s = state;
    if (!s) return;
    fsync(s->fd);
    close(s->fd);
    free(s->dir);
    free(s);
}

const publisher_ops publisher_local = {
    .name = "local",
    .keys = k_keys,
    .caps = PUB_STORES_IMAGES | PUB_STORES_CLIPS | PUB_DEFAULT,
    .image_rank = 1,
    .read = local_read,
    .key = local_key,
    .open = local_open,
    .image_ref = local_image_ref,
    .publish_one = publish_one,
    .close = local_close,
};
