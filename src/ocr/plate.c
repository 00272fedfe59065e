/* Plate formats with OCR-confusion repair, and voting across frames. */
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "ocr.h"

struct plate_formats {
    regex_t *re;
    char **pattern;
    int n;
};

plate_formats *plate_formats_new(char *const *patterns, int n, kerr *err)
{
    plate_formats *f = calloc(1, sizeof *f);
    if (!f || !(f->re = calloc((size_t)n + 1, sizeof *f->re)) ||
        !(f->pattern = calloc((size_t)n + 1, sizeof *f->pattern))) {
        plate_formats_free(f);
        kerr_set(err, KERR_NOMEM, "out of memory");
        return NULL;
    }
    for (int i = 0; i < n; i++) {
        int rc = regcomp(&f->re[i], patterns[i], REG_EXTENDED | REG_NOSUB);
        if (rc) {
            char msg[200];
            regerror(rc, &f->re[i], msg, sizeof msg);
            plate_formats_free(f);
            kerr_set(err, KERR_INVALID, "plate format %d \"%s\": %s", i, patterns[i], msg);
            return NULL;
        }
        f->pattern[i] = kstrdup(patterns[i]);
        f->n++;
    }
    return f;
}

void plate_formats_free(plate_formats *f)
{
    if (!f) return;
    for (int i = 0; i < f->n; i++)
        regfree(&f->re[i]), free(f->pattern[i]);
    free(f->re);
    free(f->pattern);
    free(f);
}

int plate_formats_count(const plate_formats *f)
{
    return f ? f->n : 0;
}

/* What a character is often misread as (and back). */
static const char *swaps(char c)
{
    switch (c) {
    case 'O': return "0";
    case 'D': return "0";
    case 'Q': return "0";
    case '0': return "OD";
    case 'I': return "1";
    case 'L': return "1";
    case '1': return "I";
    case 'B': return "8";
    case '8': return "B";
    case 'S': return "5";
    case '5': return "S";
    case 'Z': return "2";
    case '2': return "Z";
    case 'G': return "6";
    case '6': return "G";
    case 'T': return "7";
    case '7': return "T";
    case 'A': return "4";
    case '4': return "A";
    default: return NULL;
    }
}

static int matches(const plate_formats *f, const char *s)
{
    for (int i = 0; i < f->n; i++)
        if (regexec(&f->re[i], s, 0, NULL, 0) == 0) return i;
    return -1;
}

/* Tries every way to swap exactly k of the ambiguous positions (from `from`). */
static int try_swaps(const plate_formats *f, char *s, const int *pos, int npos, int from, int k)
{
    if (k == 0) return matches(f, s);
    for (int i = from; i <= npos - k; i++) {
        char orig = s[pos[i]];
        for (const char *alt = swaps(orig); alt && *alt; alt++) {
            s[pos[i]] = *alt;
            int m = try_swaps(f, s, pos, npos, i + 1, k - 1);
            if (m >= 0) return m;
        }
        s[pos[i]] = orig;
    }
    return -1;
}

int plate_formats_match(const plate_formats *f, ocr_text *t)
{
    if (!f || !f->n || !t->n) return -1;
    int m = matches(f, t->text);
    if (m >= 0) return m;
    int pos[OCR_MAX_TEXT], npos = 0;
    for (int i = 0; i < t->n; i++)
        if (swaps(t->text[i])) pos[npos++] = i;
    char s[OCR_MAX_TEXT + 1];
    memcpy(s, t->text, sizeof s);
    for (int k = 1; k <= npos && k <= 4; k++) { /* fewest swaps first */
        m = try_swaps(f, s, pos, npos, 0, k);
        if (m >= 0) {
            for (int i = 0; i < t->n; i++)
                if (s[i] != t->text[i]) t->conf[i] *= 0.9f; /* a repaired character is less sure */
            memcpy(t->text, s, sizeof s);
            return m;
        }
    }
    return -1;
}

static int sym_index(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= '0' && c <= '9') return 26 + c - '0';
    return -1;
}

void plate_votes_add(plate_votes *v, const ocr_text *t)
{
    if (t->n < 1 || t->n > VOTE_MAX_LEN) return;
    for (int i = 0; i < t->n; i++)
        if (sym_index(t->text[i]) < 0) return;
    for (int i = 0; i < t->n; i++)
        v->w[t->n][i][sym_index(t->text[i])] += t->conf[i];
    v->reads[t->n]++;
    v->total++;
}

int plate_votes_best(const plate_votes *v, ocr_text *out)
{
    memset(out, 0, sizeof *out);
    int len = 0;
    float len_weight = 0;
    for (int l = 1; l <= VOTE_MAX_LEN; l++) {
        float w = 0;
        for (int s = 0; s < 36; s++)
            w += v->w[l][0][s];
        if (v->reads[l] > v->reads[len] || (v->reads[l] == v->reads[len] && w > len_weight))
            len = l, len_weight = w;
    }
    if (!len || !v->reads[len]) return 0;
    float sum = 0;
    for (int i = 0; i < len; i++) {
        int best = 0;
        for (int s = 1; s < 36; s++)
            if (v->w[len][i][s] > v->w[len][i][best]) best = s;
        out->text[i] = best < 26 ? (char)('A' + best) : (char)('0' + best - 26);
        out->conf[i] = v->w[len][i][best] / (float)v->reads[len];
        sum += out->conf[i];
    }
    out->n = len;
    out->text[len] = '\0';
    out->mean = sum / (float)len;
    return v->reads[len];
}
