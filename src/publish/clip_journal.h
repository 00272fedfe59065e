/* The pending-clip journal (docs/publishing.md "Clips"): one small file per
 * event that was spooled naming a clip still waiting for its post-roll,
 * removed once that event's clip_ready record went through the spool. A
 * process killed in between leaves its entries behind, and the next start
 * resolves each one, so a consumer never waits for a clip_ready record that
 * will not come. */
#ifndef KVS_CLIP_JOURNAL_H
#define KVS_CLIP_JOURNAL_H

#include "../config/config.h"
#include "../event/event.h"

/* Why a journal entry left over at start-up resolves as it does: the clip_ready
 * record's clip.reason. */
#define CLIP_JOURNAL_REASON "the process stopped before the post-roll ended"

/* {spool_dir}/clips-pending, created; out holds it. */
kerr_code clip_journal_open(const char *spool_dir, char *out, size_t len, kerr *err);
/* e (an event naming a pending clip, its refs assigned) is about to be
 * spooled: its entry is written first, so a spooled event always has one. */
void clip_journal_note(const char *dir, const event *e);
/* The event's clip_ready record was spooled (or not wanted): nothing waits. */
void clip_journal_done(const char *dir, const char *event_id);
/* Each entry left by an earlier process, as its clip_ready record: status
 * "lost" with CLIP_JOURNAL_REASON, or, for a camera of cfg reading a KVS
 * stream (its range is in the archive), status "archived" naming that range.
 * submit takes each record (and resolves the entry through
 * clip_journal_done). The number of entries found. */
int clip_journal_resolve(const char *dir, const config *cfg, void (*submit)(void *arg, event *e),
                         void *arg);

#endif
