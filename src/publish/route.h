/* Routing and storm control, the same for every publisher: `when` (which
 * events it takes) and `cooldown_seconds` (at most one event per camera and
 * label in that time), written in the publisher's own section:
 *
 *   publishers:
 *     webhook: {url: ..., when: {labels: [fire, smoke], min_confidence: 0.5},
 *               cooldown_seconds: 60}
 *
 * settings.c reads them into the publisher's settings under reserved keys
 * (starting with '@'); the hub applies them before spooling, so an event a
 * publisher does not take is counted and never spooled for it. No publisher
 * has code for this. */
#ifndef KVS_PUBLISH_ROUTE_H
#define KVS_PUBLISH_ROUTE_H

#include "publish.h"

/* Whether key (in a publisher's section) is a routing key. */
bool route_is_key(const char *key);
/* Reads `when` and `cooldown_seconds` of a publisher's section into s,
 * reporting bad values with their position. Returns whether any was there. */
bool route_read(cfg_diags *d, const ynode *section, const char *path, cfg_pub *s);
/* NULL when the publisher takes e, else the reason it does not ("label",
 * "detector", "event_type", "camera", "confidence"). */
const char *route_reject(const cfg_pub *s, const event *e);
/* cooldown_seconds in ms, 0 when unset. */
int64_t route_cooldown_ms(const cfg_pub *s);

/* When each (publisher instance, camera, label) last let an event through.
 * In memory only: a restart starts every cool-down afresh. Thread-safe. */
typedef struct route_cooldowns route_cooldowns;
route_cooldowns *route_cooldowns_new(void);
void route_cooldowns_free(route_cooldowns *c);
/* True when an event for (instance, camera, label) went through less than
 * cooldown_ms before now_ms (suppress this one); else records now_ms and
 * returns false. */
bool route_cooldown_hit(route_cooldowns *c, const char *instance, const char *camera,
                        const char *label, int64_t now_ms, int64_t cooldown_ms);

/* Removes ps->items[i] (the event does not go to that publisher). */
void route_drop(cfg_publishers *ps, int i);

#endif
