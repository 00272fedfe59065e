/* PaddleOCR dictionaries and CTC greedy decoding. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocr.h"

void ocr_dict_free(ocr_dict *d)
{
    for (int i = 0; i < d->n; i++)
        free(d->sym[i]);
    free(d->sym);
    free(d->plate_sym);
    memset(d, 0, sizeof *d);
}

kerr_code ocr_dict_load(const char *path, ocr_dict *d, kerr *err)
{
    memset(d, 0, sizeof *d);
    FILE *f = fopen(path, "r");
    if (!f) return kerr_set(err, KERR_IO, "OCR dictionary %s: cannot open", path);
    char line[256];
    int cap = 0;
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        line[n] = '\0';
        if (d->n == cap) {
            cap = cap ? cap * 2 : 256;
            char **ns = realloc(d->sym, (size_t)cap * sizeof *ns);
            if (!ns) {
                fclose(f);
                ocr_dict_free(d);
                return kerr_set(err, KERR_NOMEM, "out of memory");
            }
            d->sym = ns;
        }
        d->sym[d->n++] = kstrdup(line);
    }
    fclose(f);
    if (!d->n) return kerr_set(err, KERR_INVALID, "OCR dictionary %s is empty", path);
    /* Once here, not per read: a Chinese dictionary has 6,623 symbols. */
    if (!(d->plate_sym = malloc((size_t)d->n))) {
        ocr_dict_free(d);
        return kerr_set(err, KERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < d->n; i++) /* upper and lower case are one plate symbol */
        d->plate_sym[i] = strlen(d->sym[i]) == 1
                              ? (signed char)ocr_sym((char)toupper((unsigned char)d->sym[i][0]))
                              : -1;
    d->space = true;
    return KERR_OK;
}

int ocr_sym(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= '0' && c <= '9') return 26 + c - '0';
    return -1;
}

char ocr_sym_char(int k)
{
    return k < 26 ? (char)('A' + k) : (char)('0' + k - 26);
}

enum { LBL_BLANK = -1, LBL_OTHER = PLATE_SYMBOLS };

/* The character of the run that just ended: its best symbol and runner-up. */
static void emit(ocr_text *out, int label, const float run[PLATE_SYMBOLS], float pos, double *sum)
{
    if (out->n == OCR_MAX_TEXT) return;
    int alt = -1;
    for (int k = 0; k < PLATE_SYMBOLS; k++)
        if (k != label && (alt < 0 || run[k] > run[alt])) alt = k;
    out->text[out->n] = ocr_sym_char(label);
    out->conf[out->n] = run[label];
    out->alt[out->n] = run[alt] > 0.001f ? ocr_sym_char(alt) : 0;
    out->alt_conf[out->n] = run[alt];
    out->pos[out->n] = pos;
    *sum += run[label];
    out->n++;
}

void ctc_greedy(const float *probs, int T, int C, const ocr_dict *d, ocr_text *out)
{
    memset(out, 0, sizeof *out);
    int prev = LBL_BLANK, start = 0;
    float run[PLATE_SYMBOLS] = {0};
    double sum = 0;
    for (int t = 0; t < T; t++) {
        const float *row = probs + (size_t)t * (size_t)C;
        float s[PLATE_SYMBOLS] = {0}, other = 0;
        for (int c = 1; c < C; c++) { /* 0 blank, 1..n symbols, n+1 space */
            int k = c <= d->n ? d->plate_sym[c - 1] : -1;
            if (k >= 0)
                s[k] += row[c];
            else if (row[c] > other)
                other = row[c];
        }
        int label = LBL_BLANK;
        float best = row[0];
        for (int k = 0; k < PLATE_SYMBOLS; k++)
            if (s[k] > best) best = s[k], label = k;
        if (other > best) label = LBL_OTHER;
        if (label != prev && prev >= 0 && prev < PLATE_SYMBOLS)
            emit(out, prev, run, 0.5f * (float)(start + t - 1), &sum);
        if (label >= 0 && label < PLATE_SYMBOLS) {
            if (label != prev) memset(run, 0, sizeof run), start = t;
            for (int k = 0; k < PLATE_SYMBOLS; k++)
                run[k] = fmaxf(run[k], s[k]);
        }
        prev = label;
    }
    if (prev >= 0 && prev < PLATE_SYMBOLS)
        emit(out, prev, run, 0.5f * (float)(start + T - 1), &sum);
    out->text[out->n] = '\0';
    out->mean = out->n ? (float)(sum / out->n) : 0;
}
