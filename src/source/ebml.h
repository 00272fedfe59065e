/* ebml: a streaming (push) EBML/Matroska reader for the KVS GetMedia body:
 * MKV fragments back to back, each with its own EBML header and an
 * unknown-size Segment and Cluster, tags read as they arrive. Bytes go in as
 * the network delivers them, in any split; callbacks come out as soon as an
 * element is complete. Bounded: element sizes and nesting are capped, and
 * malformed input is an error naming the offset, never a crash. */
#ifndef KVS_EBML_H
#define KVS_EBML_H

#include <stddef.h>
#include <stdint.h>

#include "../core/core.h"

typedef struct {
    void *user;
    /* A new fragment (an EBML header at the top level). */
    void (*fragment)(void *user);
    /* A complete TrackEntry. */
    void (*track)(void *user, uint64_t number, const char *codec_id, const uint8_t *priv,
                  size_t priv_len, int width, int height);
    /* A SimpleTag, name and string value. */
    void (*tag)(void *user, const char *name, const char *value);
    void (*cluster_timecode)(void *user, uint64_t timecode);
    /* A SimpleBlock or Block: rel is relative to the cluster timecode. */
    void (*block)(void *user, uint64_t track, int16_t rel, bool key, const uint8_t *data,
                  size_t len);
} ebml_callbacks;

typedef struct ebml_reader ebml_reader;

ebml_reader *ebml_reader_new(const ebml_callbacks *cb);
void ebml_reader_free(ebml_reader *r);
/* Feeds bytes. KERR_INVALID (with the stream offset) on malformed data: the
 * reader is then unusable until ebml_reader_reset. */
kerr_code ebml_reader_feed(ebml_reader *r, const uint8_t *data, size_t len, kerr *err);
/* Forgets everything (a new connection). */
void ebml_reader_reset(ebml_reader *r);
/* Timecode scale of the current fragment in ns (Matroska default 1 ms). */
uint64_t ebml_reader_timecode_scale(const ebml_reader *r);

#endif
