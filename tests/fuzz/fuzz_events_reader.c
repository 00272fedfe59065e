/* libFuzzer target: the page's events.jsonl reader (issue 24). The input is
 * an events.jsonl; it is read back as the API does (filters, pages, an event
 * by id), and every event it answers must have the field types the page
 * relies on (issue 26.11): a violation aborts. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../src/ui/ui.h"

static char g_dir[64];

static void check_types(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);
    if (!j) abort();
    json_t *ev = json_object_get(j, "events"), *e;
    size_t i;
    json_array_foreach(ev, i, e)
    {
        static const char *const strings[] = {"camera_name", "label", "detector", "detected_at",
                                              NULL};
        for (int k = 0; strings[k]; k++) {
            json_t *v = json_object_get(e, strings[k]);
            if (v && !json_is_string(v)) abort();
        }
        json_t *c = json_object_get(e, "confidence"), *p = json_object_get(e, "plate");
        if (c && !json_is_number(c)) abort();
        if (p && (!json_is_object(p) ||
                  (json_object_get(p, "text") && !json_is_string(json_object_get(p, "text")))))
            abort();
        if (!ui_event_id_ok(json_string_value(json_object_get(e, "event_id")))) abort();
    }
    json_decref(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_dir[0]) {
        snprintf(g_dir, sizeof g_dir, "/tmp/kvs-fuzz-events-XXXXXX");
        if (!mkdtemp(g_dir)) abort();
    }
    char path[128];
    snprintf(path, sizeof path, "%s/events.jsonl", g_dir);
    FILE *f = fopen(path, "w");
    if (!f) abort();
    fwrite(data, 1, size, f);
    fclose(f);
    const char *dirs[] = {g_dir};
    ui_filter filters[] = {
        {.limit = 5},
        {.camera = "a", .label = "car", .limit = 200},
        {.plate = "AB1", .fuzzy = true, .limit = 3},
        {.since_ms = 1,
         .until_ms = 1767225600000LL,
         .before = "01a20000-0000-7000-8000-000000000009"},
    };
    for (size_t i = 0; i < sizeof filters / sizeof *filters; i++) {
        char *text = ui_events_query(NULL, dirs, 1, &filters[i], NULL);
        if (!text) abort();
        check_types(text);
        free(text);
    }
    int dir = -1;
    free(ui_event_find(NULL, dirs, 1, "01a20000-0000-7000-8000-000000000001", &dir));
    unlink(path);
    return 0;
}
