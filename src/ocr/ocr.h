/* ocr: reading licence plates. PaddleOCR's DB text detector post-processing
 * (binarise, connected regions, minimum-area rotated box, box score, unclip),
 * the rotated crop, CTC greedy decoding with per-character confidences,
 * plate formats with OCR-confusion repair, and per-track voting. Written by
 * hand: no Debian package offers these (OpenCV's C API is gone; PaddleOCR's
 * post-processing is Python). Pure functions on buffers, tested on known
 * inputs; the ONNX Runtime calls stay in the detector (detect/alpr.c). */
#ifndef KVS_OCR_H
#define KVS_OCR_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/core.h"

typedef struct {
    float x, y;
} ocr_pt;

/* A rotated box: corners clockwise from top-left, in the coordinates of the
 * map or image it came from. */
typedef struct {
    ocr_pt p[4];
    float score;
} ocr_quad;

typedef struct {
    float bin_thresh;   /* pixel probability to count as text (0.3) */
    float box_thresh;   /* mean probability inside a box to keep it (0.6) */
    float unclip_ratio; /* box growth: area * ratio / perimeter on every side (1.5) */
    int min_size;       /* shortest side in map pixels (3) */
} db_params;

void db_params_default(db_params *p);
/* DB post-processing of a [h, w] probability map. Writes up to max boxes,
 * largest first; returns how many. */
int db_boxes(const float *prob, int w, int h, const db_params *p, ocr_quad *out, int max);
/* Width and height of a rotated box (its sides). */
void quad_size(const ocr_quad *q, float *w, float *h);

/* Samples the quad out of a packed RGB image into a dw x dh RGB buffer
 * (bilinear), top-left corner first. */
void quad_crop(const uint8_t *rgb, int stride, int iw, int ih, const ocr_quad *q, uint8_t *dst,
               int dw, int dh);

/* ---- recognition ---- */
typedef struct {
    char **sym; /* index 1..n of the model's classes; 0 is the CTC blank */
    int n;
    bool space; /* the class after the last symbol is a space */
} ocr_dict;

/* One symbol per line (PaddleOCR's keys files); space appended as a class. */
kerr_code ocr_dict_load(const char *path, ocr_dict *d, kerr *err);
void ocr_dict_free(ocr_dict *d);

#define OCR_MAX_TEXT 32
typedef struct {
    char text[OCR_MAX_TEXT + 1]; /* upper-case A-Z 0-9 only */
    float conf[OCR_MAX_TEXT];    /* per character */
    int n;
    float mean; /* mean character confidence, 0 when empty */
} ocr_text;

/* CTC greedy decoding of a [T, C] probability matrix: best class per step,
 * repeats collapsed, blanks dropped. Keeps letters and digits (upper-cased);
 * other symbols (dashes, spaces, CJK) are not part of a plate number. */
void ctc_greedy(const float *probs, int T, int C, const ocr_dict *d, ocr_text *out);

/* ---- plate formats ---- */
typedef struct plate_formats plate_formats;

/* POSIX extended regular expressions, anchored by the caller (^...$). */
plate_formats *plate_formats_new(char *const *patterns, int n, kerr *err);
void plate_formats_free(plate_formats *f);
int plate_formats_count(const plate_formats *f);
/* Finds the reading that matches a format with the fewest confusion swaps
 * (O/0, I/1, B/8, S/5, Z/2, G/6, D/0, Q/0, T/7, A/4), swapping only where the
 * format needs it. Returns the index of the format (text updated in place), or
 * -1 when no format matches (text unchanged). */
int plate_formats_match(const plate_formats *f, ocr_text *t);

/* ---- voting across the frames of one tracked vehicle ---- */
#define VOTE_MAX_LEN 12
typedef struct {
    /* per length, per position, per symbol (A-Z 0-9): summed confidence */
    float w[VOTE_MAX_LEN + 1][VOTE_MAX_LEN][36];
    int reads[VOTE_MAX_LEN + 1];
    int total;
} plate_votes;

void plate_votes_add(plate_votes *v, const ocr_text *t);
/* The best combination: the most read length, then at each position the
 * symbol with the most summed confidence. A character's confidence is that sum
 * over the reads of this length (so disagreement lowers it). Returns the
 * number of reads of the chosen length, 0 when there is none. */
int plate_votes_best(const plate_votes *v, ocr_text *out);

#endif
