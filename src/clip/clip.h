/* clip: the video around an event, from the compressed packets a camera
 * reads (docs/publishing.md "Clips"). Each camera with `clip:` keeps a
 * bounded ring of packet references, never decoded: the decoder and its
 * key-frame-only mode do not see it. An event confirmed on a worker names its
 * clip at once (clip_attach: a deterministic path or key, the time range,
 * status pending) and goes out without waiting. From then on the clip's
 * packets, from the key frame at or before the pre-roll, go to the camera's
 * clip thread as they are read, which muxes them into the clip's temporary
 * MP4 (no re-encoding: H.264, H.265 and any codec MP4 takes): the ring keeps
 * no post-roll. When the post-roll has been read the file gets its index in
 * front (fast start) and follows through the spool as a `clip_ready` record
 * of the same event_id. Events of one camera whose clips
 * overlap share one clip (one copy of the video). A clip that cannot be kept
 * whole (the ring's cap, a disconnect, the end of a file) is cut: shorter,
 * status "cut". Nothing here blocks the reader or the analysis: the MP4 is
 * spooled without waiting and only within PUBLISH_CLIP_SPOOL_SHARE of
 * spool.max_bytes (a publisher that stops acknowledging cannot fill the spool
 * with clips), else the clip is "lost" (counted, logged). Only the small
 * clip_ready records wait for room, on the clip thread, whose queue counts
 * against the caps; once the ring closes, for at most CLIP_CLOSE_MAX_MS. */
#ifndef KVS_CLIP_H
#define KVS_CLIP_H

#include <libavcodec/avcodec.h>

#include "../config/config.h"
#include "../core/core.h"
#include "../event/event.h"
#include "../publish/publish.h"

/* Every camera's ring and waiting clips together stay under this; a camera's
 * own cap is its clip.max_bytes. */
#define CLIP_TOTAL_MAX_BYTES (1024LL << 20)
/* Overlapping events share a clip only while it stays at most this many
 * times pre_seconds + post_seconds long: longer clips would keep their
 * packets in memory until the last post-roll. */
#define CLIP_SHARE_MAX_FACTOR 2
/* Packets kept beyond the pre-roll of the frame in analysis: the pre-roll of
 * the oldest frame a track not yet reported holds (clip_ring_hold: an
 * event's frame is its object's best sighting, older than the frame
 * confirming it), but never more than this plus two sampling intervals
 * (fps_limit) before the frame in analysis (a plate's voted frame can be
 * older: its clip then starts later, cut, as before). */
#define CLIP_SLACK_MS 2000
/* After clip_ring_close, the clip thread waits for spool room this long at
 * most (a camera_join in cluster mode renews no lease while it waits); a
 * record still waiting then goes to the dead-letter folder. Past the drain
 * deadline no clip is remuxed any more: they go out "lost". */
#define CLIP_CLOSE_MAX_MS 2000
/* A packet decoded this long after the previous one, or before it (past
 * CLIP_BACK_MS), starts a new generation of the ring as a new connection
 * does: the source reconnected on its own (its clock started again) or lost
 * that much video. */
#define CLIP_GAP_MS 10000
/* Going back counts past this much only: a packet without a decode time is
 * placed by its presentation time, which B-frames take back a few frames. */
#define CLIP_BACK_MS 1000

typedef struct clip_ring clip_ring;

/* The camera's ring, NULL when its config has no clip (`clip:` absent).
 * Starts the camera's clip thread, which submits to hub. */
clip_ring *clip_ring_new(const cfg_camera *cam, publish_hub *hub, kerr *err);
/* Reader thread, every packet read (before the decode policy): keeps a
 * reference. par/tb describe the stream; new_stream: they changed (the
 * clips of the old stream are cut). offset_ms: added to the packet's time
 * (a file played in a loop). NULL ring: nothing. */
void clip_ring_push(clip_ring *r, const AVPacket *pkt, const AVCodecParameters *par, AVRational tb,
                    bool new_stream, int64_t offset_ms);
/* Reader thread: the ring's generation, one per connection (a new stream,
 * a reconnect, a jump of the clock: CLIP_GAP_MS). Packets of two generations
 * are never in one clip: a clip crossing the change is cut there. The frames
 * read carry it (kframe.clip_gen). NULL ring: 0. */
unsigned clip_ring_generation(clip_ring *r);
/* Reader thread, the connection ended (disconnect, end of file, stop): the
 * clips waiting for their post-roll go out cut. */
void clip_ring_cut(clip_ring *r);
/* Worker thread, each frame as its analysis starts: the ring keeps the
 * pre-roll of the frames being analysed, however far the reader is ahead
 * (a batch input's queue, key frames only). NULL ring: nothing. */
void clip_ring_analysing(clip_ring *r, int64_t pts_ms, unsigned gen);
/* Worker thread, after each frame's analysis: the oldest frame an event
 * raised later may name (track_book_oldest_pending over the camera's
 * detectors; INT64_MAX: none). The ring keeps its pre-roll, within the
 * slack. NULL ring: nothing. */
void clip_ring_hold(clip_ring *r, int64_t pts_ms, unsigned gen);
/* Worker thread, before the event is submitted: names its clip (e->clip) and
 * books it. Only `object` events with a media time get one, and only while
 * the frame in analysis is of the ring's generation (an older connection's
 * packets are gone); true when e got
 * one, and then clip_submitted follows once e is submitted (its clip_ready
 * record waits for that). */
bool clip_attach(clip_ring *r, event *e);
void clip_submitted(clip_ring *r);
/* kvs_ref.c, worker thread: clip.from kvs names the event's clip in the
 * camera's stream (status "archived", e->clip.kvs_*) and keeps nothing.
 * region: the config's aws_region, for a camera without its own. True when e
 * got one (object events with a producer timestamp). */
bool clip_attach_kvs(const cfg_camera *cam, const char *region, event *e);
/* After the reader and the analysis stopped: cuts what waits, delivers the
 * queued clips (to the spool) and stops the clip thread. */
void clip_ring_close(clip_ring *r);
void clip_ring_free(clip_ring *r);

/* remux.c: an MP4 written to a temporary file in tmp_dir as the packets
 * come (decode order, the first a key frame), without re-encoding; their
 * times shifted by offset_tb (stream time base) and then so the first key
 * frame is shown at 0. clip_mux_finish writes the index in front (movflags
 * +faststart: the file is read back) and hands the file over (its path, of
 * *len bytes: the caller removes it); clip_mux_abort removes it. Both free m. */
typedef struct clip_mux clip_mux;
kerr_code clip_mux_open(clip_mux **m, const AVCodecParameters *par, AVRational tb,
                        const char *tmp_dir, kerr *err);
kerr_code clip_mux_write(clip_mux *m, const AVPacket *pkt, int64_t offset_tb, kerr *err);
kerr_code clip_mux_finish(clip_mux *m, char *path, size_t path_cap, size_t *len, kerr *err);
void clip_mux_abort(clip_mux *m);

#endif
