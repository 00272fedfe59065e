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
    bool quads;         /* the text's quadrilateral instead of its rectangle (false) */
} db_params;

void db_params_default(db_params *p);
/* DB post-processing of a [h, w] probability map. Writes up to max boxes,
 * largest first; returns how many. */
int db_boxes(const float *prob, int w, int h, const db_params *p, ocr_quad *out, int max);
/* DB's input tensor [3, th, tw] from the region (rx, ry, rw, rh) of a packed
 * RGB image, resampled bilinearly; scratch holds tw * th * 3 bytes. */
void db_input(const uint8_t *rgb, int stride, int iw, int ih, int rx, int ry, int rw, int rh,
              uint8_t *scratch, float *out, int tw, int th);
/* Width and height of a rotated box (its sides). */
void quad_size(const ocr_quad *q, float *w, float *h);
/* The axis-aligned bounds of a quad: x1 y1 x2 y2. */
void quad_bounds(const ocr_quad *q, float box[4]);

/* Samples the quad out of a packed RGB image into a dw x dh RGB buffer
 * (bilinear), top-left corner first: a perspective warp, so any convex quad
 * (a plate seen at an angle) comes out as an upright rectangle. */
void quad_crop(const uint8_t *rgb, int stride, int iw, int ih, const ocr_quad *q, uint8_t *dst,
               int dw, int dh);

/* ---- recognition ---- */
typedef struct {
    char **sym;             /* index 1..n of the model's classes; 0 is the CTC blank */
    signed char *plate_sym; /* per symbol: its plate symbol (ocr_sym), -1 for others */
    int n;
    bool space; /* the class after the last symbol is a space */
} ocr_dict;

/* Plate symbols: A-Z as 0..25, 0-9 as 26..35; -1 for anything else. */
enum { PLATE_SYMBOLS = 36 };
int ocr_sym(char c);
char ocr_sym_char(int k);

/* One symbol per line (PaddleOCR's keys files); space appended as a class. */
kerr_code ocr_dict_load(const char *path, ocr_dict *d, kerr *err);
void ocr_dict_free(ocr_dict *d);

#define OCR_MAX_TEXT 32
typedef struct {
    char text[OCR_MAX_TEXT + 1]; /* upper-case A-Z 0-9 only */
    float conf[OCR_MAX_TEXT];    /* per character */
    char alt[OCR_MAX_TEXT];      /* the runner-up symbol at each character, 0: none */
    float alt_conf[OCR_MAX_TEXT];
    float pos[OCR_MAX_TEXT]; /* where each character is: its middle CTC step */
    int n;
    float mean;    /* mean character confidence, 0 when empty */
    float quality; /* how good the picture was (0..1): plate size and sharpness */
} ocr_text;

/* CTC greedy decoding of a [T, C] probability matrix: best class per step,
 * repeats collapsed, blanks dropped. Keeps letters and digits (upper-cased,
 * the two cases of a letter counted as one symbol); other symbols (dashes,
 * spaces, CJK) are not part of a plate number and only separate characters.
 * A character's confidence is its best step; its runner-up is the other
 * letter or digit most likely over the same steps (what format repair tries
 * first). */
void ctc_greedy(const float *probs, int T, int C, const ocr_dict *d, ocr_text *out);

/* Bolts, screws and the plate frame's sides read as a narrow stroke (I or 1)
 * at an end of the number, set apart from it: a first or last I or 1 whose
 * gap to its neighbour is over twice the number's own character pitch (the
 * median gap between the other characters) is dropped. Needs 5 characters or
 * more (a pitch to compare with). Returns how many were dropped. */
int ocr_trim_edge_strokes(ocr_text *t);

/* Two-line (stacked) plates: when quad `b` lies under quad `a` and they
 * share most of their width, the plate reads a's text then b's. Writes the
 * joined read (confidences kept per character) and returns true; false when
 * the lines are not stacked that way or the text would be too long. */
bool ocr_stack_lines(const ocr_quad *a, const ocr_text *ta, const ocr_quad *b, const ocr_text *tb,
                     ocr_text *out);
/* Whether quad b lies under quad a that way (before reading either): their
 * heights within 0.6 of each other, so small print (a state name, a slogan)
 * is never joined to the number. */
bool ocr_lines_stacked(const ocr_quad *a, const ocr_quad *b);

/* ---- plate formats ---- */
typedef struct plate_formats plate_formats;

/* POSIX extended regular expressions, anchored by the caller (^...$). Simple
 * ones (character classes, literals and {n}, {n,m}, ? counts) are also
 * expanded into fixed-length templates, which repair can search cheaply.
 * priors (NULL: all 0) make some formats cost more up front: a read that
 * fits a foreign format as it is still goes to a home one that needs less
 * repair than the difference. */
plate_formats *plate_formats_new(char *const *patterns, const float *priors, int n, kerr *err);
void plate_formats_free(plate_formats *f);
int plate_formats_count(const plate_formats *f);
/* Finds the cheapest reading that matches a format: characters replaced by
 * their runner-up from the recogniser or a known confusion (O/0, I/1, B/8,
 * S/5, Z/2, G/6, D/0, Q/0, T/7, A/4) only where the format needs it, and at
 * most one unsure extra character dropped (a doubled character, a sticker
 * read as a digit). A change costs about what the recogniser's confidence in
 * the character says (a confident character swapped for a known confusion
 * the recogniser did not consider: 0.55); a read that needs more than
 * max_cost fits no format. PLATE_REPAIR_MAX allows two such swaps,
 * PLATE_REPAIR_SOME one, or an extra character at an edge and a likely
 * swap. Returns the index of the format (text updated in place), or -1 when
 * no format matches (text unchanged). */
#define PLATE_REPAIR_MAX 1.2f
#define PLATE_REPAIR_SOME 0.9f
/* Only characters the recogniser doubted: a runner-up close to the read, or
 * a known confusion of a character under about 0.5. */
#define PLATE_REPAIR_UNSURE 0.35f
int plate_formats_match(const plate_formats *f, ocr_text *t, float max_cost);
/* Where a font draws O like 0 and I like 1 (California's serials: 4COV126),
 * the recogniser is often sure of the digit: a 0 read as O and a 1 as I
 * (never the other way), at any confidence, fewest first, where those swaps
 * alone make a read fit a format.
 * Only for a read that fits no format as it is; returns the format (text
 * updated) or -1 (text unchanged: a personalised plate stays as read). */
int plate_formats_match_lookalikes(const plate_formats *f, ocr_text *t);

/* ---- region presets: named plate formats users pick instead of writing
 * regular expressions (ocr/regions.c) ---- */
typedef struct {
    const char *name, *pattern;
} plate_preset;

/* The formats of a region ("us", "eu", "br", or a country code such as "de"):
 * up to max of them into out; returns how many the region has, or -1 when the
 * region is unknown. */
int plate_region(const char *region, plate_preset *out, int max);
/* Whether a region's formats are the common shapes rather than all of them
 * ("us": many formats per state, personalised plates): a read that fits none
 * is kept there unless require_format says otherwise. */
bool plate_region_open(const char *region);
/* The i-th known region's name, NULL past the end. */
const char *plate_region_at(int i);
/* The known region names, comma-separated, for error messages. */
const char *plate_region_names(void);

/* ---- voting across the frames of one tracked vehicle ---- */
typedef struct {
    /* per length, per position, per symbol (A-Z 0-9): summed confidence
     * times the read's quality */
    float w[PLATE_MAX_LEN + 1][PLATE_MAX_LEN][PLATE_SYMBOLS];
    float q[PLATE_MAX_LEN + 1]; /* summed quality of the reads of each length */
    int reads[PLATE_MAX_LEN + 1];
    int total;
} plate_votes;

/* Adds a read, weighted by its quality (0 counts as 1: unknown). A sharp,
 * large sighting of the plate outweighs many small or blurred ones. */
void plate_votes_add(plate_votes *v, const ocr_text *t);
/* The best combination: the length with the most quality-weighted reads,
 * then at each position the symbol with the most weighted confidence. A
 * character's confidence is that sum over the weight of this length's reads
 * (so disagreement lowers it). The plate's confidence (mean) is its least
 * sure character's, times the share of the reads' weight that had this
 * length: what a user can threshold on. Returns the number of reads of the
 * chosen length, 0 when there is none. */
int plate_votes_best(const plate_votes *v, ocr_text *out);

/* Sharpness of a packed RGB crop as 0..1: the variance of its grey
 * Laplacian, squashed (text in focus has strong second derivatives). */
float ocr_sharpness(const uint8_t *rgb, int w, int h);

#endif
