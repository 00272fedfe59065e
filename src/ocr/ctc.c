/* PaddleOCR dictionaries and CTC greedy decoding. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ocr.h"

void ocr_dict_free(ocr_dict *d)
{
    for (int i = 0; i < d->n; i++)
        free(d->sym[i]);
    free(d->sym);
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
    d->space = true;
    return KERR_OK;
}

void ctc_greedy(const float *probs, int T, int C, const ocr_dict *d, ocr_text *out)
{
    memset(out, 0, sizeof *out);
    int prev = -1;
    double sum = 0;
    for (int t = 0; t < T; t++) {
        const float *row = probs + (size_t)t * (size_t)C;
        int best = 0;
        for (int c = 1; c < C; c++)
            if (row[c] > row[best]) best = c;
        bool repeat = best == prev;
        prev = best;
        if (best == 0 || repeat || best > d->n) continue; /* blank, repeat or space */
        const char *sym = d->sym[best - 1];
        if (strlen(sym) != 1 || !isalnum((unsigned char)sym[0])) continue;
        if (out->n == OCR_MAX_TEXT) break;
        out->conf[out->n] = row[best];
        out->text[out->n++] = (char)toupper((unsigned char)sym[0]);
        sum += row[best];
    }
    out->text[out->n] = '\0';
    out->mean = out->n ? (float)(sum / out->n) : 0;
}
