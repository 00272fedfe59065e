/* /api/v1/publishers: each publisher's health for the operator page: when it
 * last delivered, how many events wait for it in the spool, how many it
 * refused for good (the dead-letter file) and, while failing, since when and
 * why. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

static json_t *ms_or_null(int64_t wall_ms)
{
    if (wall_ms <= 0) return json_null();
    char iso[32];
    clock_format_iso(wall_ms, iso, sizeof iso);
    return json_string(iso);
}

bool api_publishers(publish_hub *h, http_response *rs)
{
    publisher_health hs[16];
    int n = h ? publish_hub_health(h, hs, 16) : 0;
    json_t *list = json_array();
    for (int i = 0; i < n; i++)
        json_array_append_new(list, json_pack("{sssosIsIsosb}", "name", hs[i].name, "last_success",
                                              ms_or_null(hs[i].last_success_ms), "backlog",
                                              (json_int_t)hs[i].backlog, "dead_letters",
                                              (json_int_t)hs[i].dead_letters, "failing_since",
                                              ms_or_null(hs[i].failing_since_ms), "healthy",
                                              hs[i].failing_since_ms == 0));
    for (int i = 0; i < n; i++)
        if (hs[i].failing_since_ms)
            json_object_set_new(json_array_get(list, (size_t)i), "last_error",
                                json_string(hs[i].last_error));
    json_t *body = json_pack("{so}", "publishers", list);
    rs->status = 200;
    rs->type = "application/json";
    rs->body = json_dumps(body, JSON_COMPACT);
    rs->len = rs->body ? strlen(rs->body) : 0;
    json_decref(body);
    return true;
}
