/* The pending-clip journal: a file per spooled event whose clip is still
 * pending ({spool.dir}/clips-pending/{event_id}.json, the event's JSON),
 * written just before the event is spooled and removed once its clip_ready
 * record is. A kill -9 during a post-roll loses the clip's packets (they are
 * only in memory) but not the entry: the next start sends the clip_ready
 * record the consumer is waiting for, saying why there is no file. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clip_journal.h"

kerr_code clip_journal_open(const char *spool_dir, char *out, size_t len, kerr *err)
{
    if ((size_t)snprintf(out, len, "%s/clips-pending", spool_dir) >= len)
        return kerr_set(err, KERR_INVALID, "spool.dir is too long");
    return mkdir_p(out, err) == 0 ? KERR_OK : KERR_IO;
}

static void entry_path(const char *dir, const char *event_id, const char *suffix, char *out,
                       size_t len)
{
    snprintf(out, len, "%s/%s%s", dir, event_id, suffix);
}

void clip_journal_note(const char *dir, const event *e)
{
    char tmp[4400], path[4400];
    entry_path(dir, e->event_id, ".tmp", tmp, sizeof tmp);
    entry_path(dir, e->event_id, ".json", path, sizeof path);
    char *json = event_to_json(e);
    FILE *f = json ? fopen(tmp, "w") : NULL;
    bool ok = f && fputs(json, f) >= 0;
    ok = f && fclose(f) == 0 && ok;
    /* renamed whole: a half-written entry is never read as one */
    if (!ok || rename(tmp, path) != 0) {
        log_kv(LOG_ERROR, LOG_CTX("camera_name", e->camera_name, "event_id", e->event_id),
               "cannot note the pending clip in %s (%s): a kill before its post-roll ends "
               "would leave its clip_ready record unsent",
               dir, json ? strerror(errno) : "out of memory");
        unlink(tmp);
    }
    free(json);
}

void clip_journal_done(const char *dir, const char *event_id)
{
    char path[4400];
    entry_path(dir, event_id, ".json", path, sizeof path);
    if (unlink(path) != 0 && errno != ENOENT)
        log_kv(LOG_WARN, LOG_CTX("event_id", event_id), "cannot remove %s: %s", path,
               strerror(errno));
}

static const cfg_camera *find_camera(const config *cfg, const char *name)
{
    for (int i = 0; name && i < cfg->ncam; i++)
        if (strcmp(cfg->cams[i].name, name) == 0) return &cfg->cams[i];
    return NULL;
}

/* A camera reading a KVS stream has the clip's range in the archive: the
 * record names it as clip.from kvs would (src/clip/kvs_ref.c): producer time
 * (the media time of a KVS source), pre_seconds before the event's frame, to
 * the end the clip had. */
static bool name_archive(const config *cfg, event *e)
{
    const cfg_camera *cam = find_camera(cfg, e->camera_name);
    if (!cam || !cam->kvs_archive || !cam->stream_name || e->producer_ts_ms < 0) return false;
    event_clip *c = &e->clip;
    int64_t at = e->pts_ms >= 0 ? e->pts_ms : c->start_ms;
    /* the whole pre-roll: the archive has what this process never read */
    c->kvs_start_ms = e->producer_ts_ms - (int64_t)(cam->clip.pre_seconds * 1000);
    c->kvs_end_ms = e->producer_ts_ms + (c->end_ms - at);
    snprintf(c->kvs_stream, sizeof c->kvs_stream, "%s", cam->stream_name);
    const char *region = cam->region ? cam->region : cfg->aws_region ? cfg->aws_region : "";
    snprintf(c->kvs_region, sizeof c->kvs_region, "%s", region);
    free(c->ref); /* no file: the archive instead */
    c->ref = NULL;
    return true;
}

/* The clip_ready record of a left-over entry, NULL when it cannot be read.
 * name: the entry's file name; its event must be the one it names, as
 * clip_journal_note wrote it (the record resolves the entry by its event's
 * id: any other would be sent again at every start). */
static event *resolution(const char *path, const char *name, const config *cfg)
{
    kerr err = {0};
    char *json = read_file(path, NULL, &err);
    event *e = json ? event_from_json(json, &err) : NULL;
    free(json);
    size_t idlen = e ? strlen(e->event_id) : 0;
    bool named =
        e && idlen && strncmp(name, e->event_id, idlen) == 0 && strcmp(name + idlen, ".json") == 0;
    if (!e || !e->clip.on || !named) {
        log_kv(LOG_ERROR, NULL, "%s: not a pending clip (%s): removed", path,
               err.msg[0] ? err.msg
               : !e       ? "unreadable"
               : !named   ? "its event is not the one its name says"
                          : "no clip");
        if (e) event_free(e);
        return NULL;
    }
    snprintf(e->kind, sizeof e->kind, "clip_ready");
    bool archived = name_archive(cfg, e);
    snprintf(e->clip.status, sizeof e->clip.status, "%s", archived ? "archived" : "lost");
    snprintf(e->clip.reason, sizeof e->clip.reason, "%s", CLIP_JOURNAL_REASON);
    return e;
}

int clip_journal_resolve(const char *dir, const config *cfg, void (*submit)(void *arg, event *e),
                         void *arg)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    for (struct dirent *de; (de = readdir(d));) {
        size_t len = strlen(de->d_name);
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        if (len > 4 && strcmp(de->d_name + len - 4, ".tmp") == 0) unlink(path); /* half written */
        if (len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0) continue;
        event *e = resolution(path, de->d_name, cfg);
        if (!e) {
            unlink(path);
            continue;
        }
        log_kv(LOG_WARN, LOG_CTX("camera_name", e->camera_name, "event_id", e->event_id),
               "clip %s: %s", e->clip.status, CLIP_JOURNAL_REASON);
        n++;
        submit(arg, e); /* spooled: its entry goes */
    }
    closedir(d);
    return n;
}
