/* `when` and `cooldown_seconds` for every publisher (route.h). Lists are kept
 * as one setting each, their items separated by '\n' (a YAML scalar read by
 * the config never needs one in a label or camera name). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route.h"

static const char *const k_lists[] = {"labels", "detectors", "event_types", "cameras", NULL};
static const char *const k_when_keys[] = {"labels",  "detectors",      "event_types",
                                          "cameras", "min_confidence", NULL};
static const char *const k_event_types[] = {"object", "update", "track_end", "clip_ready", NULL};

bool route_is_key(const char *key)
{
    return strcmp(key, "when") == 0 || strcmp(key, "cooldown_seconds") == 0;
}

static bool one_of(const char *v, const char *const *set)
{
    for (int i = 0; set[i]; i++)
        if (strcmp(v, set[i]) == 0) return true;
    return false;
}

/* A list of names (a single name is a list of one) into "@when.<key>". */
static void read_list(cfg_diags *d, const ynode *when, const char *key, const char *path,
                      cfg_pub *s)
{
    const ynode *v = ynode_get(when, key);
    if (!v) return;
    char p[512], joined[8192] = "";
    snprintf(p, sizeof p, "%s.%s", path, key);
    size_t n = v->kind == YNODE_SEQ ? v->n : 1, used = 0;
    if (v->kind == YNODE_MAP || n == 0) {
        cfg_diag_add(d, v, p, "expected a name or a non-empty list of names");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const ynode *it = v->kind == YNODE_SEQ ? v->items[i] : v;
        if (it->kind != YNODE_SCALAR || !it->value[0] || strchr(it->value, '\n')) {
            cfg_diag_add(d, it, p, "expected a name");
            return;
        }
        if (strcmp(key, "event_types") == 0 && !one_of(it->value, k_event_types)) {
            cfg_diag_add(d, it, p,
                         "unknown event type \"%s\" (object, update, track_end, clip_ready)",
                         it->value);
            return;
        }
        int w = snprintf(joined + used, sizeof joined - used, "%s%s", i ? "\n" : "", it->value);
        if (w < 0 || (size_t)w >= sizeof joined - used) {
            cfg_diag_add(d, v, p, "the list is too long");
            return;
        }
        used += (size_t)w;
    }
    char k[64];
    snprintf(k, sizeof k, "@when.%s", key);
    if (!cfg_pub_set(s, k, joined)) cfg_diag_add(d, v, p, "out of memory");
}

static void set_number(cfg_diags *d, const ynode *at, const char *path, cfg_pub *s, const char *key,
                       double x)
{
    char num[64];
    snprintf(num, sizeof num, "%.17g", x);
    if (!cfg_pub_set(s, key, num)) cfg_diag_add(d, at, path, "out of memory");
}

bool route_read(cfg_diags *d, const ynode *section, const char *path, cfg_pub *s)
{
    const ynode *when = ynode_get(section, "when");
    const ynode *cool = ynode_get(section, "cooldown_seconds");
    char p[512];
    snprintf(p, sizeof p, "%s.when", path);
    if (when && cfg_expect_map(d, when, p)) {
        cfg_check_keys(d, when, p, k_when_keys);
        for (int i = 0; k_lists[i]; i++)
            read_list(d, when, k_lists[i], p, s);
        double c;
        if (cfg_read_double(d, when, "min_confidence", p, 0, 1, &c))
            set_number(d, when, p, s, "@when.min_confidence", c);
    }
    double secs;
    if (cfg_read_double(d, section, "cooldown_seconds", path, 0, 86400, &secs))
        set_number(d, cool, path, s, "@cooldown_seconds", secs);
    return when || cool;
}

static bool listed(const cfg_pub *s, const char *key, const char *value)
{
    const char *list = cfg_pub_get(s, key);
    if (!list) return true; /* no such condition */
    size_t n = strlen(value);
    for (const char *p = list; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (strncmp(p, value, n) == 0 && (p[n] == '\n' || p[n] == '\0')) return true;
    return false;
}

const char *route_reject(const cfg_pub *s, const event *e)
{
    if (!listed(s, "@when.labels", e->label ? e->label : "")) return "label";
    if (!listed(s, "@when.detectors", e->detector ? e->detector : "")) return "detector";
    const char *kind = e->kind[0] ? e->kind : "object";
    /* a clip_ready record goes where its object event goes (only those have
     * clips), or where it is asked for by name: an S3 publisher taking
     * objects only must still get the clip.mp4 */
    bool clip = strcmp(kind, "clip_ready") == 0;
    if (!listed(s, "@when.event_types", kind) &&
        !(clip && listed(s, "@when.event_types", "object")))
        return "event_type";
    if (!listed(s, "@when.cameras", e->camera_name ? e->camera_name : "")) return "camera";
    const char *min = cfg_pub_get(s, "@when.min_confidence");
    if (min && e->confidence < strtod(min, NULL)) return "confidence";
    return NULL;
}

int64_t route_cooldown_ms(const cfg_pub *s)
{
    const char *v = cfg_pub_get(s, "@cooldown_seconds");
    return v ? (int64_t)(strtod(v, NULL) * 1000.0 + 0.5) : 0;
}

void route_drop(cfg_publishers *ps, int i)
{
    cfg_pub *p = &ps->items[i];
    for (int k = 0; k < p->n; k++)
        free(p->kv[k].key), free(p->kv[k].value);
    free(p->kv);
    free(p->publisher);
    memmove(p, p + 1, (size_t)(ps->n - i - 1) * sizeof *p);
    ps->n--;
}

/* ---- cool-downs ---- */

typedef struct {
    char *key; /* instance '\n' camera '\n' label */
    int64_t last_ms, cooldown_ms;
} last_sent;

struct route_cooldowns {
    pthread_mutex_t mu;
    last_sent *items;
    size_t n, cap;
};

route_cooldowns *route_cooldowns_new(void)
{
    route_cooldowns *c = calloc(1, sizeof *c);
    if (c) pthread_mutex_init(&c->mu, NULL);
    return c;
}

void route_cooldowns_free(route_cooldowns *c)
{
    if (!c) return;
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i].key);
    free(c->items);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

/* Entries whose cool-down is over say nothing any more: dropped before the
 * table grows, so it stays as large as the storms in flight. */
static void prune(route_cooldowns *c, int64_t now_ms)
{
    size_t kept = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (now_ms - c->items[i].last_ms >= c->items[i].cooldown_ms) {
            free(c->items[i].key);
            continue;
        }
        c->items[kept++] = c->items[i];
    }
    c->n = kept;
}

static last_sent *find_or_add(route_cooldowns *c, const char *key, int64_t now_ms)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->items[i].key, key) == 0) return &c->items[i];
    if (c->n == c->cap) prune(c, now_ms);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        last_sent *items = realloc(c->items, cap * sizeof *items);
        if (!items) return NULL;
        c->items = items, c->cap = cap;
    }
    char *k = strdup(key);
    if (!k) return NULL;
    c->items[c->n] = (last_sent){.key = k, .last_ms = INT64_MIN / 2};
    return &c->items[c->n++];
}

bool route_cooldown_hit(route_cooldowns *c, const char *instance, const char *camera,
                        const char *label, int64_t now_ms, int64_t cooldown_ms)
{
    if (cooldown_ms <= 0) return false;
    size_t len = strlen(instance) + strlen(camera) + strlen(label) + 3;
    char *key = malloc(len);
    if (!key) return false; /* out of memory: send rather than lose it */
    snprintf(key, len, "%s\n%s\n%s", instance, camera, label);
    pthread_mutex_lock(&c->mu);
    last_sent *l = find_or_add(c, key, now_ms);
    bool hit = l && now_ms - l->last_ms < cooldown_ms;
    if (l && !hit) l->last_ms = now_ms, l->cooldown_ms = cooldown_ms;
    pthread_mutex_unlock(&c->mu);
    free(key);
    return hit;
}
