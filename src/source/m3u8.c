#include "m3u8.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_LINE = 16384, MAX_SEGMENTS = 100000 };

void m3u8_free(m3u8_playlist *p)
{
    for (int i = 0; i < p->nsegs; i++)
        free(p->segs[i].uri), free(p->segs[i].fragment_number), free(p->segs[i].map_uri);
    free(p->segs);
    for (int i = 0; i < p->nvariants; i++)
        free(p->variants[i]);
    free(p->variants);
    free(p->map_uri);
    memset(p, 0, sizeof *p);
}

static bool starts(const char *line, const char *tag)
{
    return strncmp(line, tag, strlen(tag)) == 0;
}

static bool parse_double(const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno || !isfinite(v) || v < lo || v > hi) return false;
    *out = v;
    return true;
}

static bool parse_i64(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || errno || v < 0) return false;
    *out = v;
    return true;
}

/* 2022-01-28T07:00:35.931Z (offsets other than Z are accepted as +hh:mm). */
/* The value of key=... in a query string, or NULL. */
static char *query_param(const char *uri, const char *key)
{
    const char *q = strchr(uri, '?');
    size_t kl = strlen(key);
    for (const char *p = q ? q + 1 : NULL; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
            char *v = malloc(len - kl);
            if (v) memcpy(v, p + kl + 1, len - kl - 1), v[len - kl - 1] = '\0';
            return v;
        }
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

/* A quoted attribute value: URI="..." */
static char *attr(const char *line, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "%s=\"", name);
    const char *a = strstr(line, key);
    if (!a) return NULL;
    a += strlen(key);
    const char *b = strchr(a, '"');
    if (!b) return NULL;
    char *v = malloc((size_t)(b - a) + 1);
    if (v) memcpy(v, a, (size_t)(b - a)), v[b - a] = '\0';
    return v;
}

static kerr_code bad(kerr *err, int line, const char *why)
{
    return kerr_set(err, KERR_INVALID, "playlist line %d: %s", line, why);
}

kerr_code m3u8_parse(const char *text, size_t len, m3u8_playlist *out, kerr *err)
{
    memset(out, 0, sizeof *out);
    double pending_dur = -1;
    bool pending_disc = false, expect_variant = false;
    int64_t pending_pdt = -1, next_pdt = -1, seq = 0;
    int lineno = 0;
    int cap = 0;
    kerr_code rc = KERR_OK;
    for (size_t pos = 0; pos < len && rc == KERR_OK;) {
        size_t end = pos;
        while (end < len && text[end] != '\n')
            end++;
        size_t n = end - pos;
        lineno++;
        if (n >= MAX_LINE) {
            rc = bad(err, lineno, "line too long");
            break;
        }
        char line[MAX_LINE];
        memcpy(line, text + pos, n);
        while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
            n--;
        line[n] = '\0';
        pos = end + 1;
        if (memchr(line, '\0', n)) {
            rc = bad(err, lineno, "NUL byte");
            break;
        }
        if (lineno == 1) {
            if (strcmp(line, "#EXTM3U") != 0 && strcmp(line, "\xef\xbb\xbf#EXTM3U") != 0)
                rc = bad(err, 1, "not an HLS playlist (no #EXTM3U)");
            continue;
        }
        if (!*line) continue;
        if (line[0] == '#') {
            if (starts(line, "#EXT-X-VERSION:")) {
                int64_t v;
                if (!parse_i64(line + 15, &v) || v > 100)
                    rc = bad(err, lineno, "bad version");
                else
                    out->version = (int)v;
            } else if (starts(line, "#EXT-X-TARGETDURATION:")) {
                if (!parse_double(line + 22, 0, 86400, &out->target_duration))
                    rc = bad(err, lineno, "bad target duration");
            } else if (starts(line, "#EXT-X-MEDIA-SEQUENCE:")) {
                if (!parse_i64(line + 22, &out->media_sequence))
                    rc = bad(err, lineno, "bad media sequence");
                seq = out->media_sequence;
            } else if (starts(line, "#EXTINF:")) {
                if (!parse_double(line + 8, 0, 86400, &pending_dur))
                    rc = bad(err, lineno, "bad EXTINF duration");
            } else if (starts(line, "#EXT-X-PROGRAM-DATE-TIME:")) {
                pending_pdt = clock_parse_iso(line + 25);
                if (pending_pdt < 0) rc = bad(err, lineno, "bad program date time");
            } else if (strcmp(line, "#EXT-X-DISCONTINUITY") == 0) {
                pending_disc = true;
            } else if (strcmp(line, "#EXT-X-ENDLIST") == 0) {
                out->endlist = true;
            } else if (starts(line, "#EXT-X-MAP:")) {
                free(out->map_uri);
                out->map_uri = attr(line, "URI");
                if (!out->map_uri) rc = bad(err, lineno, "EXT-X-MAP without URI");
            } else if (starts(line, "#EXT-X-STREAM-INF:")) {
                out->is_master = true;
                expect_variant = true;
            }
            continue; /* other tags and comments are not ours to judge */
        }
        if (expect_variant) {
            char **nv = realloc(out->variants, (size_t)(out->nvariants + 1) * sizeof *nv);
            if (!nv) {
                rc = kerr_set(err, KERR_NOMEM, "out of memory");
                break;
            }
            out->variants = nv;
            out->variants[out->nvariants++] = kstrdup(line);
            expect_variant = false;
            continue;
        }
        if (pending_dur < 0) {
            rc = bad(err, lineno, "segment URI without #EXTINF");
            break;
        }
        if (out->nsegs == MAX_SEGMENTS) {
            rc = bad(err, lineno, "too many segments");
            break;
        }
        if (out->nsegs == cap) {
            cap = cap ? cap * 2 : 16;
            m3u8_segment *ns = realloc(out->segs, (size_t)cap * sizeof *ns);
            if (!ns) {
                rc = kerr_set(err, KERR_NOMEM, "out of memory");
                break;
            }
            out->segs = ns;
        }
        m3u8_segment *s = &out->segs[out->nsegs++];
        s->uri = kstrdup(line);
        s->duration = pending_dur;
        s->sequence = seq++;
        /* Without a tag of its own, a segment's date follows the previous one's. */
        s->program_date_time_ms = pending_pdt >= 0 ? pending_pdt : next_pdt;
        next_pdt = s->program_date_time_ms >= 0
                       ? s->program_date_time_ms + (int64_t)llround(pending_dur * 1000)
                       : -1;
        s->discontinuity = pending_disc;
        s->fragment_number = query_param(line, "FragmentNumber");
        s->map_uri = out->map_uri ? kstrdup(out->map_uri) : NULL;
        pending_dur = -1;
        pending_pdt = -1;
        pending_disc = false;
    }
    if (rc == KERR_OK && lineno == 0) rc = bad(err, 1, "empty playlist");
    if (rc != KERR_OK) m3u8_free(out);
    return rc;
}

char *m3u8_resolve(const char *base_url, const char *ref)
{
    if (strstr(ref, "://")) return kstrdup(ref);
    const char *scheme = strstr(base_url, "://");
    const char *path_start = scheme ? strchr(scheme + 3, '/') : NULL;
    size_t host_len = path_start ? (size_t)(path_start - base_url) : strlen(base_url);
    char *out;
    if (ref[0] == '/') {
        out = malloc(host_len + strlen(ref) + 1);
        if (out) memcpy(out, base_url, host_len), strcpy(out + host_len, ref);
        return out;
    }
    /* Relative: replace everything after the last '/' of the base path (before any query). */
    const char *q = strchr(base_url, '?');
    size_t upto = q ? (size_t)(q - base_url) : strlen(base_url);
    size_t dir = upto;
    while (dir > host_len && base_url[dir - 1] != '/')
        dir--;
    if (dir <= host_len) { /* no path: add one */
        out = malloc(host_len + strlen(ref) + 2);
        if (out)
            memcpy(out, base_url, host_len), out[host_len] = '/', strcpy(out + host_len + 1, ref);
        return out;
    }
    out = malloc(dir + strlen(ref) + 1);
    if (out) memcpy(out, base_url, dir), strcpy(out + dir, ref);
    return out;
}
