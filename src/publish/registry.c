#include <string.h>

#include "publish.h"

extern const publisher_ops publisher_local;
extern const publisher_ops publisher_kinesis;
extern const publisher_ops publisher_s3;
extern const publisher_ops publisher_dynamodb;
extern const publisher_ops publisher_sns;
extern const publisher_ops publisher_eventbridge;
extern const publisher_ops publisher_webhook;
extern const publisher_ops publisher_mqtt;

/* One line per publisher. */
static const void *const k_builtin[] = {
    &publisher_local,    &publisher_s3,   &publisher_kinesis,
    &publisher_dynamodb, &publisher_sns,  &publisher_eventbridge,
    &publisher_webhook,  &publisher_mqtt, NULL,
};

static const char *name_of(const void *e)
{
    return ((const publisher_ops *)e)->name;
}

static registry g_publishers = REGISTRY_INIT("publisher", k_builtin, name_of);

const publisher_ops *publisher_at(int i)
{
    return registry_at(&g_publishers, i);
}

const publisher_ops *publisher_find(const char *name)
{
    return registry_find(&g_publishers, name);
}

void publisher_deliver(const publisher_ops *ops, void *state, const cfg_pub *s,
                       const event *const *e, int n, kerr *res)
{
    if (ops->publish) {
        ops->publish(state, s, e, n, res);
        return;
    }
    for (int i = 0; i < n; i++)
        res[i].code = ops->publish_one(state, s, e[i], &res[i]);
}

kerr_code publisher_register(const publisher_ops *ops, kerr *err)
{
    return registry_add(&g_publishers, ops, err);
}

kerr_code publisher_registry_check(kerr *err)
{
    return registry_check(&g_publishers, err);
}
