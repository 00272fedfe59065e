/* verify: temporal verification of a detector's boxes, between the detector
 * and the tracker. A single-frame fire/smoke model fires on brake lights,
 * neon, hard hats and red clothing; what tells real fire apart is how the
 * box's pixels behave over the last analysed frames: fire-coloured, changing
 * in brightness (flicker) and in shape (motion that no shift of the last crop
 * explains), growing; smoke greyish, drifting and spreading. A lamp is steady,
 * a helmet moves rigidly. Each candidate box keeps a small downscaled crop of
 * its last sighting and the scores of its last `window` sightings; a box
 * becomes an alarm only when the evidence holds (docs/detectors.md,
 * "Verification"). Memory is bounded: VERIFY_MAX_BOXES slots of one
 * VERIFY_CROP x VERIFY_CROP luma crop each per camera and detector. */
#ifndef KVS_VERIFY_H
#define KVS_VERIFY_H

#include <stdbool.h>
#include <stdint.h>

#include "../config/config.h"
#include "../detect/detect.h"

enum { VERIFY_CROP = 32, VERIFY_MAX_WINDOW = 16, VERIFY_MAX_BOXES = 16 };

typedef struct {
    bool enabled;
    int window;          /* analysed frames of history per box */
    int min_frames;      /* sightings in the window before a box may alarm */
    double min_colour;   /* share of fire-coloured pixels in a fire box */
    double min_grey;     /* share of greyish pixels in a smoke box */
    double rejudge_grey; /* a fire box this greyish (and next to no fire colour)
                          * is smoke without the model's smoke near it */
    double min_score;    /* weighted mean of the temporal parts */
    double w_flicker, w_motion, w_growth;
} verify_conf;

/* The defaults (enabled as given: the detector type decides). */
void verify_conf_default(verify_conf *c, bool enabled);
/* Reads params.verify of a detector (absent: the defaults); false with the
 * problems added to d. path: the params' key path, for messages. */
bool verify_conf_read(const ynode *params, const char *path, cfg_diags *d, verify_conf *c);

typedef enum { VERIFY_KIND_FIRE = 0, VERIFY_KIND_SMOKE } verify_kind;

/* Why boxes of one frame were not passed on (the rejection metric). */
typedef enum {
    VERIFY_REJ_HISTORY = 0, /* not seen in min_frames of the window yet */
    VERIFY_REJ_COLOUR,      /* too few fire/smoke-coloured pixels */
    VERIFY_REJ_SCORE,       /* steady or rigid: the temporal score is too low */
    VERIFY_REJ_N
} verify_reject;

const char *verify_reject_name(verify_reject r);

typedef struct verify_state verify_state;

verify_state *verify_new(const verify_conf *c);
void verify_free(verify_state *s);
/* Bytes one state holds (bounded: tests check it). */
size_t verify_state_bytes(void);

/* One analysed frame: packed RGB24 (stride bytes a row, w x h) and the
 * detector's boxes. Boxes that hold are kept in place with their evidence
 * (det.ev) set; the others are removed and counted by reason in rejected.
 * kind_of: whether a class is fire or smoke. */
/* Called for each box that does not hold, with its evidence and the reason,
 * and for each box when it becomes an alarm, with VERIFY_VERIFIED (the debug
 * log that tells an operator why a camera's fire was or was not raised);
 * NULL (the default) calls nothing. */
enum { VERIFY_VERIFIED = -1 };
typedef void (*verify_trace_fn)(void *ctx, const detection *d, int why);
void verify_set_trace(verify_state *s, verify_trace_fn fn, void *ctx);

void verify_frame(verify_state *s, const uint8_t *rgb, int stride, int w, int h, det_list *dets,
                  verify_kind (*kind_of)(void *ctx, int cls), void *ctx,
                  int rejected[VERIFY_REJ_N]);

#endif
