/* camera_gate: per-camera retry backoff inside one publisher's delivery loop
 * (camera_gate.c says why). Single-threaded: owned by that loop. */
#ifndef KVS_PUBLISH_CAMERA_GATE_H
#define KVS_PUBLISH_CAMERA_GATE_H

#include <stdbool.h>
#include <stdint.h>

enum { CAMERA_GATE_MAX_MS = 5000 };

typedef struct camera_gate camera_gate;

camera_gate *camera_gate_new(void);
void camera_gate_free(camera_gate *g);
/* Whether the camera's events are held back now (then this one is passed
 * over, and camera_gate_due will ask for a rewind once it is due). */
bool camera_gate_closed(camera_gate *g, const char *camera, int64_t now_ms);
/* A failed delivery: holds the camera back first_ms, doubling up to
 * CAMERA_GATE_MAX_MS while it keeps failing. Returns the wait. */
int64_t camera_gate_fail(camera_gate *g, const char *camera, int64_t now_ms, int64_t first_ms);
/* A delivery went through: the camera is no longer held. */
void camera_gate_ok(camera_gate *g, const char *camera);
/* ms until the next held camera is due (-1: none held). *rewind is set when a
 * camera with passed-over events is due now: hand the spool out again. */
int64_t camera_gate_due(camera_gate *g, int64_t now_ms, bool *rewind);

#endif
