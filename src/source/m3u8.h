/* m3u8: the HLS playlist parser for the KVS HLS source (issue 4). Parses
 * master and media playlists from untrusted network text into plain structs;
 * every line is bounded, numbers are range-checked, and an unknown tag is
 * skipped, never an error. Kept out of source.h because only the HLS source
 * and its tests use it. */
#ifndef KVS_M3U8_H
#define KVS_M3U8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"

typedef struct {
    char *uri;                    /* as written: resolve against the playlist URL */
    double duration;              /* EXTINF seconds */
    int64_t sequence;             /* media sequence number of this segment */
    int64_t program_date_time_ms; /* EXT-X-PROGRAM-DATE-TIME, -1 when absent */
    bool discontinuity;           /* EXT-X-DISCONTINUITY before it */
    char *fragment_number;        /* KVS FragmentNumber query parameter, NULL if none */
    char *map_uri;                /* the EXT-X-MAP in effect (fMP4 init), NULL for TS */
} m3u8_segment;

typedef struct {
    bool is_master;
    int version;
    double target_duration;
    int64_t media_sequence;
    bool endlist;
    char *map_uri; /* EXT-X-MAP (fMP4 init fragment), NULL for TS */
    m3u8_segment *segs;
    int nsegs;
    char **variants; /* master: media playlist URIs in order */
    int nvariants;
} m3u8_playlist;

/* KERR_INVALID with a message naming the line on malformed input. */
kerr_code m3u8_parse(const char *text, size_t len, m3u8_playlist *out, kerr *err);
void m3u8_free(m3u8_playlist *p);
/* Resolves ref against the playlist's URL (absolute, root-relative or
 * relative, query strings kept). Returns a malloc'd URL. */
char *m3u8_resolve(const char *base_url, const char *ref);

#endif
