/* Events a publisher can never take (refused for good: too large for the
 * service, a name it cannot store) are not dropped silently: each goes as one
 * JSON line to {spool.dir}/dead-letter/{publisher}.jsonl with the reason, for
 * an operator to read, fix and replay; a clip's MP4 is kept beside it
 * (clip_file in the line). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "publish.h"

/* A clip_ready event's MP4 goes with it, to {dir}/{publisher}-clips/{event
 * id}.mp4: the spool deletes its own copy once every publisher is done with
 * the record, and an operator replaying the event needs the clip. A hard link
 * of the spool's file (no byte copied), else a copy; false when not kept. */
static bool keep_clip(const char *dir, const char *publisher, const event *e, char *path,
                      size_t cap)
{
    char sub[4400];
    snprintf(sub, sizeof sub, "%s/%s-clips", dir, publisher);
    snprintf(path, cap, "%s/%s.mp4", sub, e->event_id);
    kerr err = {0};
    if (mkdir_p(sub, &err) != KERR_OK) return false;
    if (e->clip_mp4.data) {
        FILE *f = fopen(path, "wb");
        bool ok = f && fwrite(e->clip_mp4.data, 1, e->clip_mp4.len, f) == e->clip_mp4.len;
        if (f) ok = fclose(f) == 0 && ok;
        if (!ok) unlink(path);
        return ok;
    }
    unlink(path); /* refused again after a restart: link() does not replace */
    return link(e->clip_mp4_file, path) == 0 || copy_file(e->clip_mp4_file, path, &err) == KERR_OK;
}

kerr_code dead_letter_write(const char *spool_dir, const char *publisher, const event *e,
                            bool with_clip, const char *why, kerr *err)
{
    char dir[4200], path[4400], when[32], clip[4800];
    snprintf(dir, sizeof dir, "%s/dead-letter", spool_dir);
    if (mkdir_p(dir, err) != KERR_OK) return KERR_IO;
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, publisher);
    bool has_clip = with_clip && e->clip_mp4.len && (e->clip_mp4.data || e->clip_mp4_file);
    clip[0] = '\0';
    if (has_clip && !keep_clip(dir, publisher, e, clip, sizeof clip)) {
        log_kv(LOG_ERROR, LOG_CTX("event_id", e->event_id, "publisher", publisher),
               "dead letter: the clip could not be kept at %s: %s", clip, strerror(errno));
        clip[0] = '\0';
    }
    char *ev = event_to_json(e);
    json_t *event = ev ? json_loads(ev, 0, NULL) : NULL;
    free(ev);
    clock_format_iso(clock_wall_ms(), when, sizeof when);
    json_t *line = json_pack("{s:s, s:s, s:s, s:o*, s:s*}", "at", when, "publisher", publisher,
                             "error", why, "event", event, "clip_file", clip[0] ? clip : NULL);
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;
    json_decref(line);
    if (!text) return kerr_set(err, KERR_NOMEM, "cannot serialise a dead letter");
    size_t n = strlen(text);
    char *nl = realloc(text, n + 2);
    if (!nl) {
        free(text);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    nl[n] = '\n', nl[n + 1] = '\0';
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    kerr_code rc = fd < 0 ? kerr_set(err, KERR_IO, "%s: %s", path, strerror(errno))
                          : append_line(fd, nl, n + 1, err);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
    free(nl);
    return rc;
}
