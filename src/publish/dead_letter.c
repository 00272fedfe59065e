/* Events a publisher can never take (refused for good: too large for the
 * service, a name it cannot store) are not dropped silently: each goes as one
 * JSON line to {spool.dir}/dead-letter/{publisher}.jsonl with the reason, for
 * an operator to read, fix and replay. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "publish.h"

kerr_code dead_letter_write(const char *spool_dir, const char *publisher, const event *e,
                            const char *why, kerr *err)
{
    char dir[4200], path[4400], when[32];
    snprintf(dir, sizeof dir, "%s/dead-letter", spool_dir);
    if (mkdir_p(dir, err) != KERR_OK) return KERR_IO;
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, publisher);
    char *ev = event_to_json(e);
    json_t *event = ev ? json_loads(ev, 0, NULL) : NULL;
    free(ev);
    clock_format_iso(clock_wall_ms(), when, sizeof when);
    json_t *line = json_pack("{s:s, s:s, s:s, s:o*}", "at", when, "publisher", publisher, "error",
                             why, "event", event);
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
