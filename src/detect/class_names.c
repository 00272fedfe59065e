#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "detect.h"

static const char *const k_coco[80] = {"person",        "bicycle",      "car",
                                       "motorcycle",    "airplane",     "bus",
                                       "train",         "truck",        "boat",
                                       "traffic light", "fire hydrant", "stop sign",
                                       "parking meter", "bench",        "bird",
                                       "cat",           "dog",          "horse",
                                       "sheep",         "cow",          "elephant",
                                       "bear",          "zebra",        "giraffe",
                                       "backpack",      "umbrella",     "handbag",
                                       "tie",           "suitcase",     "frisbee",
                                       "skis",          "snowboard",    "sports ball",
                                       "kite",          "baseball bat", "baseball glove",
                                       "skateboard",    "surfboard",    "tennis racket",
                                       "bottle",        "wine glass",   "cup",
                                       "fork",          "knife",        "spoon",
                                       "bowl",          "banana",       "apple",
                                       "sandwich",      "orange",       "broccoli",
                                       "carrot",        "hot dog",      "pizza",
                                       "donut",         "cake",         "chair",
                                       "couch",         "potted plant", "bed",
                                       "dining table",  "toilet",       "tv",
                                       "laptop",        "mouse",        "remote",
                                       "keyboard",      "cell phone",   "microwave",
                                       "oven",          "toaster",      "sink",
                                       "refrigerator",  "book",         "clock",
                                       "vase",          "scissors",     "teddy bear",
                                       "hair drier",    "toothbrush"};

static void add(class_names *c, const char *s, size_t n)
{
    char **nn = realloc(c->names, (size_t)(c->n + 1) * sizeof *nn);
    if (!nn) return;
    c->names = nn;
    char *d = malloc(n + 1);
    if (!d) return;
    memcpy(d, s, n);
    d[n] = '\0';
    c->names[c->n++] = d;
}

void class_names_coco(class_names *out)
{
    memset(out, 0, sizeof *out);
    for (int i = 0; i < 80; i++)
        add(out, k_coco[i], strlen(k_coco[i]));
}

kerr_code class_names_from_meta(const char *meta, class_names *out, kerr *err)
{
    memset(out, 0, sizeof *out);
    const char *p = meta;
    while (*p && *p != '{')
        p++;
    if (*p != '{')
        return kerr_set(err, KERR_INVALID, "class names metadata is not a {id: name} map");
    p++;
    for (int expect = 0;; expect++) {
        while (isspace((unsigned char)*p) || *p == ',')
            p++;
        if (*p == '}') break;
        char *end;
        long id = strtol(p, &end, 10);
        if (end == p || id != expect) {
            class_names_free(out);
            return kerr_set(err, KERR_INVALID, "class names metadata: expected id %d at \"%.20s\"",
                            expect, p);
        }
        p = end;
        while (isspace((unsigned char)*p) || *p == ':')
            p++;
        char q = *p;
        if (q != '\'' && q != '"') {
            class_names_free(out);
            return kerr_set(err, KERR_INVALID, "class names metadata: expected a quoted name");
        }
        const char *s = ++p;
        while (*p && *p != q)
            p++;
        if (!*p) {
            class_names_free(out);
            return kerr_set(err, KERR_INVALID, "class names metadata: unterminated name");
        }
        add(out, s, (size_t)(p - s));
        p++;
    }
    if (out->n == 0) return kerr_set(err, KERR_INVALID, "class names metadata is empty");
    return KERR_OK;
}

kerr_code class_names_from_file(const char *path, class_names *out, kerr *err)
{
    memset(out, 0, sizeof *out);
    char *text = read_file(path, NULL, err);
    if (!text) return KERR_IO;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        while (n && isspace((unsigned char)line[n - 1]))
            n--;
        while (n && isspace((unsigned char)*line))
            line++, n--;
        if (n && line[0] != '#') add(out, line, n);
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    if (out->n == 0) return kerr_set(err, KERR_INVALID, "%s: no class names", path);
    return KERR_OK;
}

int class_names_find(const class_names *c, const char *name)
{
    for (int i = 0; i < c->n; i++)
        if (strcmp(c->names[i], name) == 0) return i;
    return -1;
}

void class_names_free(class_names *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->names[i]);
    free(c->names);
    c->names = NULL;
    c->n = 0;
}
